# pragma version 0.4.3
"""
@title HyperX market: Prot_SC of Figure 3, one contract for many trading sessions
@license Apache-2.0
@notice
    Rundown of a trading session (the executable spec is `hyperx.spec.contract`;
    every guard below is one of its asserts, in the same order, word for word):
     1. `create_session`: the collector P_col escrows cf_reward and publishes
        SC_config and adr_theta (the extractor's datastore address).
     2. `registration`: a provider deposits exactly cf_deposit and commits the
        Merkle root of its hashed shard keys (adr_data^h, `hyperx.spec.merkle`).
     3. `sample_data`: P_col names, once per provider, at most cf_shards * CF_%
        of the shard positions.
     4. `submit_features`: the provider commits the datastore address of the
        obfuscated features of exactly those shards.
        Steps 2-4 end at cf_evaluation_deadline.
     5. `set_candidate`: P_col picks one candidate P_tc. -> reviewing
     6. `submit_review`: P_tc opens the sampled keys with Merkle proofs and
        K_data sealed to P_col's public key.
     7. `set_optimal`: P_col promotes P_tc to P_opt. -> reviewed
     8. `claim_reward`: P_opt reveals every key, in aligned chunks of CHUNK_SIZE;
        the last chunk pays cf_reward in the same transaction. -> closed
     9. `claim_deposit`: after close or expiry, each provider takes its deposit
        back once, unless forfeited; a compensated candidate takes CF_% * reward.
    10. `claim_refund`: after expiry, P_col takes back what the escrow owes it.
@dev
    One market holds every session, indexed by `sid` (F_HyperX's `Data[sid]`),
    rather than one contract per session: a session is then six storage words
    and no code deployment (no blueprint, no proxy, no per-session address to
    trust), and the clients watch a single address.

    Storage is packed by hand (Vyper does not pack): a session is a head word
    (collector, CF_%, shard count), a timing word (the immutable periods and the
    provider count), a trade word (candidate, deadline, st_trade, flags, chunk
    count; zero while pending, when the deadline is derived from the config),
    cf_reward, cf_deposit and adr_theta. A provider is four words: the Merkle
    root, the sample digest, a status word (registered, deposit claimed, sample
    count) and the features digest. Registration writes the sample digest
    slot with SAMPLE_UNSET so that sample_data updates a live slot instead of
    paying for a fresh one. Revealed keys travel in calldata and events only.

    Where the ABI cannot follow the spec: an array or byte string longer than
    its declared bound (MAX_SAMPLE indices or keys, MAX_MERKLE_DEPTH siblings,
    CHUNK_SIZE keys, MAX_SEALED_KEY_BYTES) is rejected by the ABI decoder, with
    no reason, before any guard; the spec rejects the same calls, with a reason.
    Vyper 0.4 reserves memory for an array argument at its bound, and memory
    costs 3w + w**2/512 gas for w words: the bounds (MAX_SAMPLE = 128 in the
    spec) keep submit_review's arguments near 2,300 words, about 17k gas.
    Times are packed in 64 bits, which holds until the year 584 billion.
"""


# Mirrors `hyperx.spec.config` (a test checks every value).
BPS: constant(uint256) = 10_000
MAX_SHARDS: constant(uint256) = 65_536
MAX_MERKLE_DEPTH: constant(uint256) = 16
MAX_SAMPLE: constant(uint256) = 128
CHUNK_LOG2: constant(uint256) = 11
CHUNK_SIZE: constant(uint256) = 2_048
MAX_SEALED_KEY_BYTES: constant(uint256) = 256
MAX_PERIOD_S: constant(uint256) = 31_536_000

# st_trade
PENDING: constant(uint256) = 0
REVIEWING: constant(uint256) = 1
REVIEWED: constant(uint256) = 2
CLOSED: constant(uint256) = 3

# Bit layout of the packed words.
MASK_ADDRESS: constant(uint256) = 2**160 - 1
MASK_8: constant(uint256) = 2**8 - 1
MASK_16: constant(uint256) = 2**16 - 1
MASK_32: constant(uint256) = 2**32 - 1
MASK_64: constant(uint256) = 2**64 - 1
# head: collector | cf_pct_bps << 160 | cf_shards << 176
HEAD_PCT_SHIFT: constant(uint256) = 160
HEAD_SHARDS_SHIFT: constant(uint256) = 176
# timing: cf_evaluation_deadline | cf_review_s << 64 | cf_claim_s << 96 | provider_count << 128
TIMING_REVIEW_SHIFT: constant(uint256) = 64
TIMING_CLAIM_SHIFT: constant(uint256) = 96
TIMING_PROVIDERS_SHIFT: constant(uint256) = 128
ONE_PROVIDER: constant(uint256) = 2**128
# trade: candidate | deadline << 160 | st_trade << 224 | flags | chunks_revealed << 240
TRADE_DEADLINE_SHIFT: constant(uint256) = 160
TRADE_STATE_SHIFT: constant(uint256) = 224
TRADE_REVIEW_SUBMITTED: constant(uint256) = 2**232
TRADE_REFUND_CLAIMED: constant(uint256) = 2**233
TRADE_CHUNKS_SHIFT: constant(uint256) = 240
ONE_CHUNK: constant(uint256) = 2**240
# profile status: registered | deposit_claimed << 1 | sample_count << 16
STATUS_REGISTERED: constant(uint256) = 1
STATUS_DEPOSIT_CLAIMED: constant(uint256) = 2
STATUS_COUNT_SHIFT: constant(uint256) = 16
# The sample digest slot of a provider registered but not yet sampled (no keccak
# output is 1); the getters show it as empty(bytes32), like the spec's ZERO_HASH.
SID_BASE: constant(uint256) = 1
SAMPLE_UNSET: constant(bytes32) = 0x0000000000000000000000000000000000000000000000000000000000000001


struct Session:
    head: uint256
    timing: uint256
    trade: uint256
    cf_reward: uint256
    cf_deposit: uint256
    adr_theta: bytes32


struct Profile:
    adr_data_root: bytes32
    sample_digest: bytes32
    status: uint256
    adr_feature: bytes32


struct SessionConfig:
    cf_reward: uint256
    cf_deposit: uint256
    cf_pct_bps: uint256
    cf_shards: uint256
    cf_evaluation_deadline: uint256
    cf_review_s: uint256
    cf_claim_s: uint256
    adr_theta: bytes32


struct SessionState:
    collector: address
    st_trade: uint256
    deadline: uint256
    candidate: address
    optimal: address
    review_submitted: bool
    chunks_revealed: uint256
    refund_claimed: bool
    provider_count: uint256


struct ProfileState:
    adr_data_root: bytes32
    sample_digest: bytes32
    sample_count: uint256
    adr_feature: bytes32
    deposit_claimed: bool


# The next sid, offset by SID_BASE: the slot is written at deployment, so that no
# create_session pays for a fresh slot (20,000 gas) to count sessions.
next_sid: uint256
sessions: HashMap[uint256, Session]
profiles: HashMap[uint256, HashMap[address, Profile]]


event CreateSession:
    sid: indexed(uint256)
    collector: indexed(address)
    cf_reward: uint256
    cf_deposit: uint256
    cf_pct_bps: uint256
    cf_shards: uint256
    cf_evaluation_deadline: uint256
    cf_review_s: uint256
    cf_claim_s: uint256
    adr_theta: bytes32


event Registration:
    sid: indexed(uint256)
    pid: indexed(address)
    adr_data_root: bytes32
    n_shards: uint256


event SampleData:
    sid: indexed(uint256)
    pid: indexed(address)
    indices: DynArray[uint256, MAX_SAMPLE]


event SubmitFeatures:
    sid: indexed(uint256)
    pid: indexed(address)
    adr_feature: bytes32


event SetCandidate:
    sid: indexed(uint256)
    pid: indexed(address)
    deadline: uint256


event SubmitReview:
    sid: indexed(uint256)
    pid: indexed(address)
    indices: DynArray[uint256, MAX_SAMPLE]
    keys: DynArray[bytes32, MAX_SAMPLE]
    k_data_sealed: Bytes[MAX_SEALED_KEY_BYTES]


event SetOptimal:
    sid: indexed(uint256)
    pid: indexed(address)
    deadline: uint256


event ClaimReward:
    sid: indexed(uint256)
    pid: indexed(address)
    chunk_index: uint256
    keys: DynArray[bytes32, CHUNK_SIZE]
    reward: uint256


event ClaimDeposit:
    sid: indexed(uint256)
    pid: indexed(address)
    amount: uint256


event ClaimRefund:
    sid: indexed(uint256)
    collector: indexed(address)
    amount: uint256


@deploy
def __init__():
    self.next_sid = SID_BASE


@external
@payable
@nonreentrant
def create_session(
    cf_reward: uint256,
    cf_deposit: uint256,
    cf_pct_bps: uint256,
    cf_shards: uint256,
    cf_evaluation_deadline: uint256,
    cf_review_s: uint256,
    cf_claim_s: uint256,
    adr_theta: bytes32,
) -> uint256:
    """
    @notice CreateContract(SC_config, adr_theta) of Figure 3 (lines 74-80): open a
        trading session, escrowing the reward sent with the call.
    @dev The collector is the caller. The session is pending until
        cf_evaluation_deadline + cf_review_s.
    @param cf_reward The reward in wei; msg.value must equal it.
    @param cf_deposit The exact deposit in wei each provider sends to register.
    @param cf_pct_bps CF_%, the sample bound, in basis points, in (0, 10,000].
    @param cf_shards The shard count every provider commits, in (0, MAX_SHARDS].
    @param cf_evaluation_deadline Unix seconds: end of registration, sampling and
        features; after now, at most MAX_PERIOD_S ahead.
    @param cf_review_s Seconds each side has to answer in selection and review.
    @param cf_claim_s Seconds the optimal provider has to finish claim_reward.
    @param adr_theta Digest of the obfuscated extractor's datastore address.
    @return sid The new session's index.
    """
    # Checks
    assert cf_reward > 0, "hyperx: reward is zero"
    assert msg.value == cf_reward, "hyperx: value is not the reward"
    assert cf_pct_bps > 0 and cf_pct_bps <= BPS, "hyperx: cf_pct out of range"
    assert cf_shards > 0 and cf_shards <= MAX_SHARDS, "hyperx: shard count out of range"
    assert cf_shards * cf_pct_bps >= BPS, "hyperx: sample bound is zero"
    assert (
        block.timestamp < cf_evaluation_deadline
        and cf_evaluation_deadline <= block.timestamp + MAX_PERIOD_S
    ), "hyperx: evaluation deadline out of range"
    assert cf_review_s > 0 and cf_review_s <= MAX_PERIOD_S, "hyperx: review period out of range"
    assert cf_claim_s > 0 and cf_claim_s <= MAX_PERIOD_S, "hyperx: claim period out of range"
    assert adr_theta != empty(bytes32), "hyperx: extractor address is empty"

    # Effects
    # next_sid >= SID_BASE, and cannot reach 2**256 one session at a time.
    sid: uint256 = unsafe_sub(self.next_sid, SID_BASE)
    self.next_sid = unsafe_add(sid, SID_BASE + 1)
    self.sessions[sid] = Session(
        head=convert(msg.sender, uint256)
        | (cf_pct_bps << HEAD_PCT_SHIFT)
        | (cf_shards << HEAD_SHARDS_SHIFT),
        timing=cf_evaluation_deadline
        | (cf_review_s << TIMING_REVIEW_SHIFT)
        | (cf_claim_s << TIMING_CLAIM_SHIFT),
        trade=0,
        cf_reward=cf_reward,
        cf_deposit=cf_deposit,
        adr_theta=adr_theta,
    )
    log CreateSession(
        sid=sid,
        collector=msg.sender,
        cf_reward=cf_reward,
        cf_deposit=cf_deposit,
        cf_pct_bps=cf_pct_bps,
        cf_shards=cf_shards,
        cf_evaluation_deadline=cf_evaluation_deadline,
        cf_review_s=cf_review_s,
        cf_claim_s=cf_claim_s,
        adr_theta=adr_theta,
    )
    return sid


@external
@payable
@nonreentrant
def registration(sid: uint256, adr_data_root: bytes32, n_shards: uint256):
    """
    @notice Registration(adr_data^h) of Figure 3 (lines 81-85): join a pending
        session with the exact deposit and a Merkle root over the hashed shard keys.
    @dev The commitment is the root of `hyperx.spec.merkle` over keccak256(key_i),
        padded with zero hashes to a power of two; the provider is the caller.
    @param sid The session.
    @param adr_data_root The Merkle root of adr_data^h (non-zero).
    @param n_shards The number of committed keys; must equal cf_shards.
    """
    # Checks
    head: uint256 = self._head(sid)
    timing: uint256 = self._check_evaluation(sid)
    assert msg.value == self.sessions[sid].cf_deposit, "hyperx: value is not the deposit"
    assert self.profiles[sid][msg.sender].status == 0, "hyperx: provider already registered"
    assert n_shards == self._cf_shards(head), "hyperx: wrong shard count"
    assert adr_data_root != empty(bytes32), "hyperx: commitment is empty"

    # Effects
    # Checked add: the provider count sits in the top 128 bits and cannot reach 2**128.
    self.sessions[sid].timing = timing + ONE_PROVIDER
    self.profiles[sid][msg.sender] = Profile(
        adr_data_root=adr_data_root,
        sample_digest=SAMPLE_UNSET,
        status=STATUS_REGISTERED,
        adr_feature=empty(bytes32),
    )
    log Registration(sid=sid, pid=msg.sender, adr_data_root=adr_data_root, n_shards=n_shards)


@external
def sample_data(sid: uint256, pid: address, indices: DynArray[uint256, MAX_SAMPLE]):
    """
    @notice SampleData(pid, adr_sample^h) of Figure 3 (lines 86-92): the collector
        names, once per provider, the shard positions to be evaluated.
    @dev Departure: positions, not hashes; the contract keeps one digest of the
        sorted list (`compute_sample_digest`) and the event carries the list.
    @param sid The session.
    @param pid The sampled provider.
    @param indices Distinct shard positions in ascending order, at least one and at
        most cf_shards * CF_% (and MAX_SAMPLE).
    """
    # Checks
    head: uint256 = self._head(sid)
    self._check_collector(head)
    self._check_evaluation(sid)
    status: uint256 = self.profiles[sid][pid].status
    assert status != 0, "hyperx: unknown provider"
    assert status >> STATUS_COUNT_SHIFT == 0, "hyperx: provider already sampled"
    n_indices: uint256 = len(indices)
    cf_shards: uint256 = self._cf_shards(head)
    bound: uint256 = min(MAX_SAMPLE, cf_shards * self._cf_pct_bps(head) // BPS)
    assert n_indices > 0 and n_indices <= bound, "hyperx: sample size out of bounds"
    previous: uint256 = 0
    for i: uint256 in range(n_indices, bound=MAX_SAMPLE):
        index: uint256 = indices[i]
        assert index < cf_shards and (i == 0 or index > previous), (
            "hyperx: sample indices not ascending or out of range"
        )
        previous = index

    # Effects
    self.profiles[sid][pid].sample_digest = keccak256(abi_encode(indices))
    self.profiles[sid][pid].status = status | (n_indices << STATUS_COUNT_SHIFT)
    log SampleData(sid=sid, pid=pid, indices=indices)


@external
def submit_features(sid: uint256, adr_feature: bytes32):
    """
    @notice SubmitFeatures(adr_feature^h) of Figure 3 (lines 93-96): a sampled
        provider commits the datastore address of its sample's obfuscated features.
    @param sid The session.
    @param adr_feature Digest of the features' datastore address (non-zero).
    """
    # Checks
    self._head(sid)
    status: uint256 = self.profiles[sid][msg.sender].status
    assert status != 0, "hyperx: caller is not a provider"
    self._check_evaluation(sid)
    assert status >> STATUS_COUNT_SHIFT != 0, "hyperx: provider not sampled"
    assert self.profiles[sid][msg.sender].adr_feature == empty(bytes32), (
        "hyperx: features already submitted"
    )
    assert adr_feature != empty(bytes32), "hyperx: feature address is empty"

    # Effects
    self.profiles[sid][msg.sender].adr_feature = adr_feature
    log SubmitFeatures(sid=sid, pid=msg.sender, adr_feature=adr_feature)


@external
def set_candidate(sid: uint256, pid: address):
    """
    @notice SetCandidate(pid) of Figure 3 (lines 97-100): the collector picks the
        one candidate of the session. -> reviewing
    @dev The candidate then has cf_review_s to submit its review.
    @param sid The session.
    @param pid A provider that submitted features.
    """
    # Checks
    self._check_collector(self._head(sid))
    trade: uint256 = self.sessions[sid].trade
    assert self._st_trade(trade) == PENDING, "hyperx: session is not pending"
    timing: uint256 = self.sessions[sid].timing
    self._check_live(timing, trade)
    assert self.profiles[sid][pid].status != 0, "hyperx: unknown provider"
    assert self.profiles[sid][pid].adr_feature != empty(bytes32), "hyperx: provider has no features"

    # Effects
    deadline: uint256 = block.timestamp + self._cf_review_s(timing)
    self.sessions[sid].trade = (
        convert(pid, uint256)
        | (deadline << TRADE_DEADLINE_SHIFT)
        | (REVIEWING << TRADE_STATE_SHIFT)
    )
    log SetCandidate(sid=sid, pid=pid, deadline=deadline)


@external
def submit_review(
    sid: uint256,
    indices: DynArray[uint256, MAX_SAMPLE],
    keys: DynArray[bytes32, MAX_SAMPLE],
    proofs: DynArray[DynArray[bytes32, MAX_MERKLE_DEPTH], MAX_SAMPLE],
    k_data_sealed: Bytes[MAX_SEALED_KEY_BYTES],
):
    """
    @notice SubmitReview(adr_sample^p, K_data) of Figure 3 (lines 101-105): the
        candidate opens its sampled shard keys and hands over K_data.
    @dev Departure: K_data is sealed to the collector's public key (the paper
        reveals it in the clear), and each key is opened against the Merkle root.
    @param sid The session.
    @param indices The sample, exactly as sample_data set it.
    @param keys The retrieval key of each sampled shard, in the same order.
    @param proofs The Merkle proof of each key: its siblings, bottom up.
    @param k_data_sealed K_data sealed to P_col's key, 1 to 256 bytes.
    """
    # Checks
    head: uint256 = self._head(sid)
    trade: uint256 = self.sessions[sid].trade
    assert msg.sender == self._candidate(trade), "hyperx: caller is not the candidate"
    assert self._st_trade(trade) == REVIEWING, "hyperx: session is not reviewing"
    assert trade & TRADE_REVIEW_SUBMITTED == 0, "hyperx: review already submitted"
    timing: uint256 = self.sessions[sid].timing
    self._check_live(timing, trade)
    assert keccak256(abi_encode(indices)) == self.profiles[sid][msg.sender].sample_digest, (
        "hyperx: indices do not match the sample"
    )
    n_indices: uint256 = len(indices)
    assert len(keys) == n_indices and len(proofs) == n_indices, "hyperx: one key and proof per index"
    root: bytes32 = self.profiles[sid][msg.sender].adr_data_root
    cf_shards: uint256 = self._cf_shards(head)
    depth: uint256 = self._merkle_depth(cf_shards)
    for i: uint256 in range(n_indices, bound=MAX_SAMPLE):
        position: uint256 = indices[i]
        proof: DynArray[bytes32, MAX_MERKLE_DEPTH] = proofs[i]
        valid: bool = position < cf_shards and len(proof) == depth
        node: bytes32 = keccak256(keys[i])
        for sibling: bytes32 in proof:
            if position & 1 == 1:
                node = keccak256(concat(sibling, node))
            else:
                node = keccak256(concat(node, sibling))
            position >>= 1
        assert valid and node == root, "hyperx: invalid Merkle proof"
    assert len(k_data_sealed) > 0, "hyperx: sealed key length out of range"

    # Effects
    deadline: uint256 = block.timestamp + self._cf_review_s(timing)
    self.sessions[sid].trade = self._with_deadline(trade, deadline) | TRADE_REVIEW_SUBMITTED
    log SubmitReview(
        sid=sid, pid=msg.sender, indices=indices, keys=keys, k_data_sealed=k_data_sealed
    )


@external
def set_optimal(sid: uint256, pid: address):
    """
    @notice SetOptimal(pid) of Figure 3 (lines 106-109): the collector promotes the
        reviewed candidate to optimal provider. -> reviewed
    @dev From here the collector cannot back out: P_opt has cf_claim_s to claim.
    @param sid The session.
    @param pid The candidate.
    """
    # Checks
    self._check_collector(self._head(sid))
    trade: uint256 = self.sessions[sid].trade
    assert self._st_trade(trade) == REVIEWING, "hyperx: session is not reviewing"
    timing: uint256 = self.sessions[sid].timing
    self._check_live(timing, trade)
    assert trade & TRADE_REVIEW_SUBMITTED != 0, "hyperx: review not submitted"
    assert pid == self._candidate(trade), "hyperx: provider is not the candidate"

    # Effects
    deadline: uint256 = block.timestamp + self._cf_claim_s(timing)
    self.sessions[sid].trade = (
        self._with_deadline(trade, deadline) & ~(MASK_8 << TRADE_STATE_SHIFT)
    ) | (REVIEWED << TRADE_STATE_SHIFT)
    log SetOptimal(sid=sid, pid=pid, deadline=deadline)


@external
@nonreentrant
def claim_reward(
    sid: uint256,
    chunk_index: uint256,
    keys: DynArray[bytes32, CHUNK_SIZE],
    proof: DynArray[bytes32, MAX_MERKLE_DEPTH],
):
    """
    @notice ClaimReward(adr_data^p) of Figure 3 (lines 110-115): the optimal
        provider reveals every shard key; the reward leaves with the last chunk.
    @dev Departure: keys come in aligned chunks of CHUNK_SIZE (one call when
        cf_shards <= CHUNK_SIZE), each opened against the Merkle root by the proof
        of its subtree, so no transaction exceeds 2**24 gas or 128 KiB.
    @param sid The session.
    @param chunk_index The next chunk, counting from 0.
    @param keys The chunk's keys, CHUNK_SIZE of them but in the last chunk.
    @param proof The siblings of the chunk's subtree root, bottom up.
    """
    # Checks
    head: uint256 = self._head(sid)
    trade: uint256 = self.sessions[sid].trade
    st_trade: uint256 = self._st_trade(trade)
    optimal: address = empty(address)
    if st_trade >= REVIEWED:
        optimal = self._candidate(trade)
    assert msg.sender == optimal, "hyperx: caller is not the optimal provider"
    assert st_trade == REVIEWED, "hyperx: session is not reviewed"
    self._check_live(empty(uint256), trade)
    chunks_revealed: uint256 = trade >> TRADE_CHUNKS_SHIFT
    assert chunk_index == chunks_revealed, "hyperx: chunk out of order"
    cf_shards: uint256 = self._cf_shards(head)
    depth: uint256 = self._merkle_depth(cf_shards)
    chunk_depth: uint256 = min(CHUNK_LOG2, depth)
    # cf_shards >= 1, so the chunk count is at least one and chunk_index * CHUNK_SIZE
    # of a valid chunk stays below cf_shards.
    n_chunks: uint256 = unsafe_div(unsafe_add(cf_shards, CHUNK_SIZE - 1), CHUNK_SIZE)
    valid: bool = (
        chunk_index < n_chunks
        and len(keys) == min(CHUNK_SIZE, cf_shards - chunk_index * CHUNK_SIZE)
        and len(proof) == depth - chunk_depth
    )
    node: bytes32 = empty(bytes32)
    if valid:
        # The chunk's subtree root, keys read straight from calldata (handing `keys`
        # to an internal function would copy CHUNK_SIZE words), in O(depth) memory:
        # `pending[h]` holds the last complete left subtree of height h, the way an
        # incremental Merkle tree is built; then the zero padding is folded in.
        pending: bytes32[CHUNK_LOG2 + 1] = empty(bytes32[CHUNK_LOG2 + 1])
        n_keys: uint256 = len(keys)
        for i: uint256 in range(n_keys, bound=CHUNK_SIZE):
            node = keccak256(keys[i])
            height: uint256 = 0
            cursor: uint256 = i
            for _: uint256 in range(CHUNK_LOG2):
                if cursor & 1 == 0:
                    break
                node = keccak256(concat(pending[height], node))
                height += 1
                cursor >>= 1
            pending[height] = node
        if n_keys == 1 << chunk_depth:
            node = pending[chunk_depth]
        else:
            # `node` is the subtree over the first padded position, `zero` the
            # all-padding subtree of the same height.
            node = empty(bytes32)
            zero: bytes32 = empty(bytes32)
            for height: uint256 in range(chunk_depth, bound=CHUNK_LOG2):
                if (n_keys >> height) & 1 == 1:
                    node = keccak256(concat(pending[height], node))
                else:
                    node = keccak256(concat(node, zero))
                zero = keccak256(concat(zero, zero))
        position: uint256 = chunk_index
        for level: uint256 in range(depth - chunk_depth, bound=MAX_MERKLE_DEPTH):
            node = self._hash_pair(node, proof[level], position)
            position >>= 1
    assert valid and node == self.profiles[sid][msg.sender].adr_data_root, (
        "hyperx: keys do not match the commitment"
    )

    # Effects
    reward: uint256 = 0
    # chunks_revealed < n_chunks <= 32, so the 16-bit counter cannot carry out.
    trade = unsafe_add(trade, ONE_CHUNK)
    if chunk_index + 1 == n_chunks:
        reward = self.sessions[sid].cf_reward
        trade = (trade & ~(MASK_8 << TRADE_STATE_SHIFT)) | (CLOSED << TRADE_STATE_SHIFT)
    self.sessions[sid].trade = trade
    log ClaimReward(sid=sid, pid=msg.sender, chunk_index=chunk_index, keys=keys, reward=reward)

    # Interactions
    if reward > 0:
        raw_call(msg.sender, b"", value=reward)


@external
@nonreentrant
def claim_deposit(sid: uint256):
    """
    @notice ClaimDeposit() of Figure 3 (lines 116-120): once the session is closed
        or expired, a provider takes its deposit back, once.
    @dev Penalties (paper 3.3): a candidate that let the review deadline pass, or
        an optimal provider that let the claim deadline pass, forfeits its deposit
        to the collector. Compensation: a candidate whose review the collector let
        expire also receives CF_% * cf_reward.
    @param sid The session.
    """
    # Checks
    self._head(sid)
    status: uint256 = self.profiles[sid][msg.sender].status
    assert status != 0, "hyperx: caller is not a provider"
    trade: uint256 = self.sessions[sid].trade
    st_trade: uint256 = self._st_trade(trade)
    expired: bool = st_trade != CLOSED and block.timestamp >= self._session_deadline(sid, trade)
    assert st_trade == CLOSED or expired, "hyperx: session is still open"
    assert status & STATUS_DEPOSIT_CLAIMED == 0, "hyperx: deposit already claimed"
    is_candidate: bool = msg.sender == self._candidate(trade)
    assert not (is_candidate and self._has_forfeited(trade, expired)), "hyperx: deposit forfeited"
    amount: uint256 = self.sessions[sid].cf_deposit
    if is_candidate and self._is_compensated(trade, expired):
        amount += self._compensation(sid)

    # Effects
    self.profiles[sid][msg.sender].status = status | STATUS_DEPOSIT_CLAIMED
    log ClaimDeposit(sid=sid, pid=msg.sender, amount=amount)

    # Interactions
    if amount > 0:
        raw_call(msg.sender, b"", value=amount)


@external
@nonreentrant
def claim_refund(sid: uint256):
    """
    @notice The collector's side of expiry (not in Figure 3): the escrowed reward
        comes back, less any compensation, plus any forfeited deposit.
    @param sid The session.
    """
    # Checks
    self._check_collector(self._head(sid))
    trade: uint256 = self.sessions[sid].trade
    assert self._st_trade(trade) != CLOSED, "hyperx: session is closed"
    assert block.timestamp >= self._session_deadline(sid, trade), "hyperx: session has not expired"
    assert trade & TRADE_REFUND_CLAIMED == 0, "hyperx: refund already claimed"
    amount: uint256 = self.sessions[sid].cf_reward
    if self._is_compensated(trade, True):
        amount -= self._compensation(sid)
    if self._has_forfeited(trade, True):
        amount += self.sessions[sid].cf_deposit

    # Effects
    self.sessions[sid].trade = trade | TRADE_REFUND_CLAIMED
    log ClaimRefund(sid=sid, collector=msg.sender, amount=amount)

    # Interactions
    if amount > 0:
        raw_call(msg.sender, b"", value=amount)


@view
@external
def session_count() -> uint256:
    """
    @notice How many sessions the market holds; their sids are 0 .. count - 1.
    @return The session count.
    """
    return unsafe_sub(self.next_sid, SID_BASE)


@view
@external
def get_config(sid: uint256) -> SessionConfig:
    """
    @notice SC_config of a session, as create_session received it.
    @param sid The session.
    @return The configuration.
    """
    self._head(sid)
    session: Session = self.sessions[sid]
    return SessionConfig(
        cf_reward=session.cf_reward,
        cf_deposit=session.cf_deposit,
        cf_pct_bps=self._cf_pct_bps(session.head),
        cf_shards=self._cf_shards(session.head),
        cf_evaluation_deadline=session.timing & MASK_64,
        cf_review_s=self._cf_review_s(session.timing),
        cf_claim_s=self._cf_claim_s(session.timing),
        adr_theta=session.adr_theta,
    )


@view
@external
def get_session(sid: uint256) -> SessionState:
    """
    @notice The moving parts of a session, as the spec's `Session` holds them.
    @param sid The session.
    @return collector, st_trade, deadline (unix seconds), candidate, optimal,
        review_submitted, chunks_revealed, refund_claimed, provider_count.
    """
    self._head(sid)
    session: Session = self.sessions[sid]
    trade: uint256 = session.trade
    st_trade: uint256 = self._st_trade(trade)
    optimal: address = empty(address)
    if st_trade >= REVIEWED:
        optimal = self._candidate(trade)
    return SessionState(
        collector=self._collector(session.head),
        st_trade=st_trade,
        deadline=self._deadline(session.timing, trade),
        candidate=self._candidate(trade),
        optimal=optimal,
        review_submitted=trade & TRADE_REVIEW_SUBMITTED != 0,
        chunks_revealed=trade >> TRADE_CHUNKS_SHIFT,
        refund_claimed=trade & TRADE_REFUND_CLAIMED != 0,
        provider_count=session.timing >> TIMING_PROVIDERS_SHIFT,
    )


@view
@external
def get_profile(sid: uint256, pid: address) -> ProfileState:
    """
    @notice A provider's commitments in a session (all zero if not registered).
    @param sid The session.
    @param pid The provider.
    @return adr_data_root, sample_digest, sample_count, adr_feature, deposit_claimed.
    """
    self._head(sid)
    profile: Profile = self.profiles[sid][pid]
    sample_digest: bytes32 = profile.sample_digest
    if sample_digest == SAMPLE_UNSET:
        sample_digest = empty(bytes32)
    return ProfileState(
        adr_data_root=profile.adr_data_root,
        sample_digest=sample_digest,
        sample_count=profile.status >> STATUS_COUNT_SHIFT,
        adr_feature=profile.adr_feature,
        deposit_claimed=profile.status & STATUS_DEPOSIT_CLAIMED != 0,
    )


@view
@internal
def _head(sid: uint256) -> uint256:
    """The head word of an existing session: never zero, as cf_shards > 0."""
    head: uint256 = self.sessions[sid].head
    assert head != 0, "hyperx: unknown session"
    return head


@view
@internal
def _check_collector(head: uint256):
    assert msg.sender == self._collector(head), "hyperx: caller is not the collector"


@view
@internal
def _check_evaluation(sid: uint256) -> uint256:
    """Registration, sampling and features: pending and before the evaluation
    deadline. Returns the timing word."""
    assert self._st_trade(self.sessions[sid].trade) == PENDING, "hyperx: session is not pending"
    timing: uint256 = self.sessions[sid].timing
    assert block.timestamp < timing & MASK_64, "hyperx: evaluation has ended"
    return timing


@view
@internal
def _check_live(timing: uint256, trade: uint256):
    assert block.timestamp < self._deadline(timing, trade), "hyperx: session expired"


@view
@internal
def _session_deadline(sid: uint256, trade: uint256) -> uint256:
    """The deadline, reading the timing word only while it is derived from it."""
    if self._st_trade(trade) == PENDING:
        return self._deadline(self.sessions[sid].timing, trade)
    return self._deadline(empty(uint256), trade)


@pure
@internal
def _collector(head: uint256) -> address:
    return convert(convert(head & MASK_ADDRESS, uint160), address)


@pure
@internal
def _cf_pct_bps(head: uint256) -> uint256:
    return (head >> HEAD_PCT_SHIFT) & MASK_16


@pure
@internal
def _cf_shards(head: uint256) -> uint256:
    return (head >> HEAD_SHARDS_SHIFT) & MASK_32


@pure
@internal
def _cf_review_s(timing: uint256) -> uint256:
    return (timing >> TIMING_REVIEW_SHIFT) & MASK_32


@pure
@internal
def _cf_claim_s(timing: uint256) -> uint256:
    return (timing >> TIMING_CLAIM_SHIFT) & MASK_32


@pure
@internal
def _candidate(trade: uint256) -> address:
    return convert(convert(trade & MASK_ADDRESS, uint160), address)


@pure
@internal
def _st_trade(trade: uint256) -> uint256:
    return (trade >> TRADE_STATE_SHIFT) & MASK_8


@pure
@internal
def _with_deadline(trade: uint256, deadline: uint256) -> uint256:
    return (trade & ~(MASK_64 << TRADE_DEADLINE_SHIFT)) | (deadline << TRADE_DEADLINE_SHIFT)


@pure
@internal
def _deadline(timing: uint256, trade: uint256) -> uint256:
    """The end of the current state: cf_evaluation_deadline + cf_review_s while
    pending (`timing` is then needed), the stored deadline afterwards."""
    if self._st_trade(trade) == PENDING:
        return (timing & MASK_64) + self._cf_review_s(timing)
    return (trade >> TRADE_DEADLINE_SHIFT) & MASK_64


@pure
@internal
def _has_forfeited(trade: uint256, expired: bool) -> bool:
    """Did the candidate of an expired session break its commitment?"""
    st_trade: uint256 = self._st_trade(trade)
    return expired and (
        (st_trade == REVIEWING and trade & TRADE_REVIEW_SUBMITTED == 0) or st_trade == REVIEWED
    )


@pure
@internal
def _is_compensated(trade: uint256, expired: bool) -> bool:
    """Did the collector let a submitted review expire (post-review abortion)?"""
    return expired and self._st_trade(trade) == REVIEWING and trade & TRADE_REVIEW_SUBMITTED != 0


@view
@internal
def _compensation(sid: uint256) -> uint256:
    """CF_% * cf_reward: at most the reward, as CF_% <= 100%."""
    return self.sessions[sid].cf_reward * self._cf_pct_bps(self.sessions[sid].head) // BPS


@pure
@internal
def _merkle_depth(n_leaves: uint256) -> uint256:
    depth: uint256 = 0
    for _: uint256 in range(MAX_MERKLE_DEPTH):
        if 1 << depth >= n_leaves:
            break
        depth += 1
    return depth


@pure
@internal
def _hash_pair(node: bytes32, sibling: bytes32, position: uint256) -> bytes32:
    """The parent of `node`, which sits at `position` on its level, and its sibling."""
    if position & 1 == 1:
        return keccak256(concat(sibling, node))
    return keccak256(concat(node, sibling))
