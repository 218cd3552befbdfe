# pragma version 0.4.3
"""
@title HyperX market: Prot_SC of Figure 3, one contract for many trading sessions
@license Apache-2.0
@notice
    Rundown of a trading session (the executable spec is `hyperx.spec.contract`;
    every guard below is one of its asserts, in the same order, word for word):
     1. `create_session`: the collector P_col escrows cf_reward and publishes
        SC_config and adr_theta (the datastore address of its offer).
     2. `registration`: a provider deposits exactly cf_deposit and commits the
        Merkle root over its shards' content addresses and key hashes
        (`hyperx.spec.merkle`); the event names its manifest on the datastore.
     3. `sample_data`: P_col names, once per provider, at most cf_shards * CF_%
        of the shard positions.
     4. `submit_features`: the provider commits the datastore address of the
        features of exactly those shards, sealed to P_col.
        Steps 2-4 end at cf_evaluation_deadline.
     5. `set_candidate`: P_col picks one candidate P_tc, once, naming a fresh
        review key. -> reviewing
     6. `submit_review`: P_tc opens the sampled leaves and seals their shard keys
        to the review key.
     7. `set_optimal`: P_col promotes P_tc to P_opt. -> reviewed
        or `dispute_review`: P_col shows that a sealed key does not open to its
        committed hash; P_tc forfeits its deposit and the session ends.
     8. `claim_reward`: P_opt seals its master key to the review key. -> closed;
        the complaint window of cf_review_s opens.
        `dispute_claim`: within the window, P_col shows a shard whose committed key
        hash the master key does not give; P_opt forfeits its deposit and the
        reward goes back.
     9. `claim_deposit`: once the session is settled (its deadline passed), each
        provider takes, once, what the policy gives it: its deposit unless
        forfeited, plus the reward for P_opt of a closed deal, plus CF_% * reward
        for a candidate whose review was not answered.
    10. `claim_refund`: once settled without a deal, P_col takes back the rest.
@dev
    One market holds every session, indexed by `sid` (F_HyperX's `Data[sid]`),
    rather than one contract per session: a session is then seven storage words
    and no code deployment (no blueprint, no proxy, no per-session address to
    trust), and the clients watch a single address.

    Storage is packed by hand (Vyper does not pack): a session is a head word
    (collector, CF_%, shard count), a timing word (the immutable periods and the
    provider count), a trade word (candidate, deadline, st_trade, four flags;
    zero while pending, when the deadline is derived from the config), the
    delivery digest (what submit_review, then claim_reward, delivered),
    cf_reward, cf_deposit and adr_theta. A provider is four words: the Merkle
    root, the sample digest, a status word (registered, deposit claimed, sample
    count, and for the candidate the address of the review key named with it)
    and the features digest. Registration writes the sample digest slot with
    SAMPLE_UNSET so that sample_data updates a live slot instead of paying for a
    fresh one; set_candidate likewise writes the review key's address into the
    candidate's live status word rather than a fresh session word (a session has
    one candidate). The manifest address, the review key itself, the sealed keys
    and the master key travel in calldata and events only.

    Disputes check a secret d with the ecrecover precompile, as
    `hyperx.spec.secp256k1` explains: ecrecover(0, 27 + parity(E.y), E.x,
    d * E.x mod N) is address(d * E). With E = G (whose y is even) that is the
    address of d's public key; with E the ephemeral key it is the address that
    keys the seal's pad. The precompile returns nothing for an invalid input
    (r or s outside [1, N), r not on the curve), which Vyper's builtin reads as
    the zero address, as the spec's `ecrecover` says.

    Where the ABI cannot follow the spec: an array or byte string longer than
    its declared bound (MAX_SAMPLE indices, leaves or sealed keys,
    MAX_MERKLE_DEPTH siblings, POINT_BYTES of a key), a digest that is not 32
    bytes, or an integer outside uint256 is rejected by the ABI decoder, with no
    reason, before any guard; the spec rejects the same calls, with a reason.
    Vyper 0.4 reserves memory for an array argument at its bound, and memory
    costs 3w + w**2/512 gas for w words: the bounds keep submit_review's
    arguments near 2,700 words.
    Times are packed in 64 bits, which holds until the year 584 billion.
"""


# Mirrors `hyperx.spec.config` (a test checks every value).
BPS: constant(uint256) = 10_000
MAX_SHARDS: constant(uint256) = 65_536
MAX_MERKLE_DEPTH: constant(uint256) = 16
MAX_SAMPLE: constant(uint256) = 128
MASTER_KEY_SLOT: constant(uint256) = 65_536
POINT_BYTES: constant(uint256) = 64
MIN_PERIOD_S: constant(uint256) = 300
MAX_PERIOD_S: constant(uint256) = 31_536_000

# secp256k1 (`hyperx.spec.secp256k1`): the group order N and the generator's
# x-coordinate Gx, in decimal (a 32-byte hex literal is a bytes32 in Vyper).
SECP256K1_N: constant(uint256) = 115792089237316195423570985008687907852837564279074904382605163141518161494337
SECP256K1_GX: constant(uint256) = 55066263022277343669578718895168534326250603453777594175500187360389116729240
# ecrecover's v for a point of even y (G's y is even).
V_EVEN: constant(uint256) = 27

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
# trade: candidate | deadline << 160 | st_trade << 224 | flags from bit 232 (236-255 free)
TRADE_DEADLINE_SHIFT: constant(uint256) = 160
TRADE_STATE_SHIFT: constant(uint256) = 224
TRADE_REVIEW_SUBMITTED: constant(uint256) = 2**232
TRADE_REFUND_CLAIMED: constant(uint256) = 2**233
TRADE_REVIEW_REJECTED: constant(uint256) = 2**234
TRADE_CLAIM_REJECTED: constant(uint256) = 2**235
# profile status: registered | deposit_claimed << 1 | sample_count << 16 | review_key << 96
STATUS_REGISTERED: constant(uint256) = 1
STATUS_DEPOSIT_CLAIMED: constant(uint256) = 2
STATUS_COUNT_SHIFT: constant(uint256) = 16
STATUS_REVIEW_KEY_SHIFT: constant(uint256) = 96
# The sample digest slot of a provider registered but not yet sampled (no keccak
# output is 1); the getters show it as empty(bytes32), like the spec's ZERO_HASH.
SID_BASE: constant(uint256) = 1
SAMPLE_UNSET: constant(bytes32) = 0x0000000000000000000000000000000000000000000000000000000000000001


struct Session:
    head: uint256
    timing: uint256
    trade: uint256
    delivery_digest: bytes32
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
    review_key: address
    delivery_digest: bytes32
    review_submitted: bool
    review_rejected: bool
    claim_rejected: bool
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
    adr_manifest: bytes32


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
    review_key: Bytes[POINT_BYTES]
    deadline: uint256


event SubmitReview:
    sid: indexed(uint256)
    pid: indexed(address)
    indices: DynArray[uint256, MAX_SAMPLE]
    cids: DynArray[bytes32, MAX_SAMPLE]
    key_hashes: DynArray[bytes32, MAX_SAMPLE]
    ephemeral: Bytes[POINT_BYTES]
    sealed_keys: DynArray[bytes32, MAX_SAMPLE]
    deadline: uint256


event DisputeReview:
    sid: indexed(uint256)
    pid: indexed(address)
    position: uint256


event SetOptimal:
    sid: indexed(uint256)
    pid: indexed(address)
    deadline: uint256


event ClaimReward:
    sid: indexed(uint256)
    pid: indexed(address)
    ephemeral: Bytes[POINT_BYTES]
    sealed_master: bytes32
    deadline: uint256


event DisputeClaim:
    sid: indexed(uint256)
    pid: indexed(address)
    index: uint256


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
        features; at least MIN_PERIOD_S and at most MAX_PERIOD_S after now.
    @param cf_review_s Seconds each side has to answer in selection, review and
        the complaint window, in [MIN_PERIOD_S, MAX_PERIOD_S].
    @param cf_claim_s Seconds the optimal provider has to deliver its master key,
        in [MIN_PERIOD_S, MAX_PERIOD_S].
    @param adr_theta Digest of the collector's offer on the datastore (non-zero).
    @return sid The new session's index.
    """
    # Checks
    assert cf_reward > 0, "hyperx: reward is zero"
    assert msg.value == cf_reward, "hyperx: value is not the reward"
    assert cf_pct_bps > 0 and cf_pct_bps <= BPS, "hyperx: cf_pct out of range"
    assert cf_shards > 0 and cf_shards <= MAX_SHARDS, "hyperx: shard count out of range"
    assert cf_shards * cf_pct_bps >= BPS, "hyperx: sample bound is zero"
    assert (
        block.timestamp + MIN_PERIOD_S <= cf_evaluation_deadline
        and cf_evaluation_deadline <= block.timestamp + MAX_PERIOD_S
    ), "hyperx: evaluation deadline out of range"
    assert self._is_valid_period(cf_review_s), "hyperx: review period out of range"
    assert self._is_valid_period(cf_claim_s), "hyperx: claim period out of range"
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
        delivery_digest=empty(bytes32),
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
def registration(sid: uint256, adr_data_root: bytes32, n_shards: uint256, adr_manifest: bytes32):
    """
    @notice Registration(adr_data^h) of Figure 3 (lines 81-85): join a pending
        session with the exact deposit, a Merkle root over the shards' content
        addresses and key hashes, and the address of the manifest that lists both.
    @dev The commitment is the root of `hyperx.spec.merkle` over leaves
        keccak256(cid_i || h_i), padded with zero hashes to a power of two; the
        provider is the caller. The manifest address is for the collector, to
        fetch every shard before it picks a candidate: it is logged, not stored.
    @param sid The session.
    @param adr_data_root The Merkle root of adr_data^h (non-zero).
    @param n_shards The number of committed shards; must equal cf_shards.
    @param adr_manifest Digest of the manifest's datastore address (non-zero).
    """
    # Checks
    head: uint256 = self._head(sid)
    timing: uint256 = self._check_evaluation(sid)
    assert msg.value == self.sessions[sid].cf_deposit, "hyperx: value is not the deposit"
    assert self.profiles[sid][msg.sender].status == 0, "hyperx: provider already registered"
    assert n_shards == self._cf_shards(head), "hyperx: wrong shard count"
    assert adr_data_root != empty(bytes32), "hyperx: commitment is empty"
    assert adr_manifest != empty(bytes32), "hyperx: manifest address is empty"

    # Effects
    # Checked add: the provider count sits in the top 128 bits and cannot reach 2**128.
    self.sessions[sid].timing = timing + ONE_PROVIDER
    self.profiles[sid][msg.sender] = Profile(
        adr_data_root=adr_data_root,
        sample_digest=SAMPLE_UNSET,
        status=STATUS_REGISTERED,
        adr_feature=empty(bytes32),
    )
    log Registration(
        sid=sid,
        pid=msg.sender,
        adr_data_root=adr_data_root,
        n_shards=n_shards,
        adr_manifest=adr_manifest,
    )


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
    assert self._sample_count(status) == 0, "hyperx: provider already sampled"
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
        provider commits the datastore address of its sample's features.
    @dev The features are sealed to the collector off chain, bound to this session
        and this provider (`hyperx.spec.sealing.seal_features`).
    @param sid The session.
    @param adr_feature Digest of the sealed features' datastore address (non-zero).
    """
    # Checks
    self._head(sid)
    status: uint256 = self.profiles[sid][msg.sender].status
    assert status != 0, "hyperx: caller is not a provider"
    self._check_evaluation(sid)
    assert self._sample_count(status) != 0, "hyperx: provider not sampled"
    assert self.profiles[sid][msg.sender].adr_feature == empty(bytes32), (
        "hyperx: features already submitted"
    )
    assert adr_feature != empty(bytes32), "hyperx: feature address is empty"

    # Effects
    self.profiles[sid][msg.sender].adr_feature = adr_feature
    log SubmitFeatures(sid=sid, pid=msg.sender, adr_feature=adr_feature)


@external
def set_candidate(sid: uint256, pid: address, review_key: Bytes[POINT_BYTES]):
    """
    @notice SetCandidate(pid) of Figure 3 (lines 97-100): the collector picks the
        one candidate of the session and names the key its review is sealed to.
        -> reviewing
    @dev The contract keeps the review key's address (in the candidate's status
        word), to check a secret shown in a dispute; the key itself is in the event. The candidate then has
        cf_review_s to submit its review.
    @param sid The session.
    @param pid A provider that submitted features.
    @param review_key A secp256k1 public key, x || y, 64 bytes.
    """
    # Checks
    self._check_collector(self._head(sid))
    trade: uint256 = self.sessions[sid].trade
    assert self._st_trade(trade) == PENDING, "hyperx: session is not pending"
    timing: uint256 = self.sessions[sid].timing
    self._check_live(timing, trade)
    status: uint256 = self.profiles[sid][pid].status
    assert status != 0, "hyperx: unknown provider"
    assert self.profiles[sid][pid].adr_feature != empty(bytes32), "hyperx: provider has no features"
    assert len(review_key) == POINT_BYTES, "hyperx: review key must be 64 bytes"

    # Effects
    deadline: uint256 = block.timestamp + self._cf_review_s(timing)
    self.sessions[sid].trade = (
        convert(pid, uint256)
        | (deadline << TRADE_DEADLINE_SHIFT)
        | (REVIEWING << TRADE_STATE_SHIFT)
    )
    # The key's address is the low 160 bits of its keccak256; the status word's
    # bits from STATUS_REVIEW_KEY_SHIFT up are zero until now.
    key_address: uint256 = convert(keccak256(review_key), uint256) & MASK_ADDRESS
    self.profiles[sid][pid].status = status | (key_address << STATUS_REVIEW_KEY_SHIFT)
    log SetCandidate(sid=sid, pid=pid, review_key=review_key, deadline=deadline)


@external
def submit_review(
    sid: uint256,
    indices: DynArray[uint256, MAX_SAMPLE],
    cids: DynArray[bytes32, MAX_SAMPLE],
    key_hashes: DynArray[bytes32, MAX_SAMPLE],
    proofs: DynArray[DynArray[bytes32, MAX_MERKLE_DEPTH], MAX_SAMPLE],
    ephemeral: Bytes[POINT_BYTES],
    sealed_keys: DynArray[bytes32, MAX_SAMPLE],
):
    """
    @notice SubmitReview(adr_sample^p, K_data) of Figure 3 (lines 101-105): the
        candidate opens its sampled leaves and seals their shard keys to the
        review key.
    @dev Departure: each leaf is opened against the Merkle root, and instead of
        K_data in the clear each sampled shard's own key is sealed to the review
        key (slot = its position in the sample). The contract cannot open the
        seals; it keeps the digest of (ephemeral, sealed_keys, key_hashes), so a
        dispute can show them again. The collector has cf_review_s to answer.
    @param sid The session.
    @param indices The sample, exactly as sample_data set it.
    @param cids The content address of each sampled shard, in the same order.
    @param key_hashes The committed hash of each sampled shard's key.
    @param proofs The Merkle proof of each leaf: its siblings, bottom up.
    @param ephemeral The seal's ephemeral public key, x || y, 64 bytes.
    @param sealed_keys Each sampled shard's key sealed to the review key.
    """
    # Checks
    head: uint256 = self._head(sid)
    trade: uint256 = self.sessions[sid].trade
    assert msg.sender == self._candidate(trade), "hyperx: caller is not the candidate"
    assert self._st_trade(trade) == REVIEWING, "hyperx: session is not reviewing"
    assert trade & TRADE_REVIEW_SUBMITTED == 0, "hyperx: review already submitted"
    self._check_live(empty(uint256), trade)
    assert keccak256(abi_encode(indices)) == self.profiles[sid][msg.sender].sample_digest, (
        "hyperx: indices do not match the sample"
    )
    n_indices: uint256 = len(indices)
    assert (
        len(cids) == n_indices
        and len(key_hashes) == n_indices
        and len(proofs) == n_indices
        and len(sealed_keys) == n_indices
    ), "hyperx: one leaf, proof and sealed key per index"
    root: bytes32 = self.profiles[sid][msg.sender].adr_data_root
    cf_shards: uint256 = self._cf_shards(head)
    depth: uint256 = self._merkle_depth(cf_shards)
    for i: uint256 in range(n_indices, bound=MAX_SAMPLE):
        assert self._is_valid_merkle_proof(
            keccak256(concat(cids[i], key_hashes[i])), indices[i], proofs[i], root, cf_shards, depth
        ), "hyperx: invalid Merkle proof"
    assert len(ephemeral) == POINT_BYTES, "hyperx: ephemeral key must be 64 bytes"

    # Effects
    deadline: uint256 = block.timestamp + self._cf_review_s(self.sessions[sid].timing)
    self.sessions[sid].trade = self._with_deadline(trade, deadline) | TRADE_REVIEW_SUBMITTED
    self.sessions[sid].delivery_digest = keccak256(abi_encode(ephemeral, sealed_keys, key_hashes))
    log SubmitReview(
        sid=sid,
        pid=msg.sender,
        indices=indices,
        cids=cids,
        key_hashes=key_hashes,
        ephemeral=ephemeral,
        sealed_keys=sealed_keys,
        deadline=deadline,
    )


@external
def dispute_review(
    sid: uint256,
    review_secret: uint256,
    ephemeral: Bytes[POINT_BYTES],
    sealed_keys: DynArray[bytes32, MAX_SAMPLE],
    key_hashes: DynArray[bytes32, MAX_SAMPLE],
    position: uint256,
):
    """
    @notice The collector's proof of misbehaviour against a review (not in
        Figure 3): the secret of the review key opens the sealed key at
        `position` to a key whose hash is not the committed one (or the
        ephemeral key is not a point). The candidate forfeits its deposit and the
        session is settled at once.
    @dev Showing the secret of a good seal proves nothing: the call reverts.
    @param sid The session.
    @param review_secret The review key's secret scalar.
    @param ephemeral The review's ephemeral key, as submitted.
    @param sealed_keys The review's sealed keys, as submitted.
    @param key_hashes The review's key hashes, as submitted.
    @param position The disputed key's position in the sample.
    """
    # Checks
    self._check_collector(self._head(sid))
    trade: uint256 = self.sessions[sid].trade
    assert self._st_trade(trade) == REVIEWING, "hyperx: session is not reviewing"
    assert trade & TRADE_REVIEW_SUBMITTED != 0, "hyperx: review not submitted"
    self._check_live(empty(uint256), trade)
    assert (
        keccak256(abi_encode(ephemeral, sealed_keys, key_hashes))
        == self.sessions[sid].delivery_digest
    ), "hyperx: not the submitted review"
    assert position < len(sealed_keys), "hyperx: position out of range"
    candidate: address = self._candidate(trade)
    assert self._public_address(review_secret) == self._review_key(sid, candidate), (
        "hyperx: secret is not the review key's"
    )
    shared: address = self._shared_address(review_secret, ephemeral)
    assert shared == empty(address) or keccak256(
        self._unseal(sealed_keys[position], shared, sid, position)
    ) != key_hashes[position], "hyperx: sealed key is valid"

    # Effects
    self.sessions[sid].trade = self._with_deadline(trade, block.timestamp) | TRADE_REVIEW_REJECTED
    log DisputeReview(sid=sid, pid=candidate, position=position)


@external
def set_optimal(sid: uint256, pid: address):
    """
    @notice SetOptimal(pid) of Figure 3 (lines 106-109): the collector promotes the
        reviewed candidate to optimal provider. -> reviewed
    @dev From here the collector cannot back out: P_opt has cf_claim_s to deliver
        its master key.
    @param sid The session.
    @param pid The candidate.
    """
    # Checks
    self._check_collector(self._head(sid))
    trade: uint256 = self.sessions[sid].trade
    assert self._st_trade(trade) == REVIEWING, "hyperx: session is not reviewing"
    self._check_live(empty(uint256), trade)
    assert trade & TRADE_REVIEW_SUBMITTED != 0, "hyperx: review not submitted"
    assert pid == self._candidate(trade), "hyperx: provider is not the candidate"

    # Effects
    deadline: uint256 = block.timestamp + self._cf_claim_s(self.sessions[sid].timing)
    self.sessions[sid].trade = self._with_state(self._with_deadline(trade, deadline), REVIEWED)
    log SetOptimal(sid=sid, pid=pid, deadline=deadline)


@external
def claim_reward(sid: uint256, ephemeral: Bytes[POINT_BYTES], sealed_master: bytes32):
    """
    @notice ClaimReward(adr_data^p) of Figure 3 (lines 110-115): the optimal
        provider delivers its 32-byte master key, sealed to the review key, in one
        transaction whatever the shard count. -> closed
    @dev Departure: the reward is not paid here but by claim_deposit once the
        complaint window (cf_review_s) has passed without a valid dispute_claim
        (OptiSwap's optimistic payment): an atomic payment against a key only the
        collector can check would pay for junk.
    @param sid The session.
    @param ephemeral The seal's ephemeral public key, x || y, 64 bytes.
    @param sealed_master The master key sealed to the review key (slot
        MASTER_KEY_SLOT).
    """
    # Checks
    self._head(sid)
    trade: uint256 = self.sessions[sid].trade
    assert msg.sender == self._optimal(trade), "hyperx: caller is not the optimal provider"
    assert self._st_trade(trade) == REVIEWED, "hyperx: session is not reviewed"
    self._check_live(empty(uint256), trade)
    assert len(ephemeral) == POINT_BYTES, "hyperx: ephemeral key must be 64 bytes"

    # Effects
    deadline: uint256 = block.timestamp + self._cf_review_s(self.sessions[sid].timing)
    self.sessions[sid].trade = self._with_state(self._with_deadline(trade, deadline), CLOSED)
    self.sessions[sid].delivery_digest = keccak256(abi_encode(ephemeral, sealed_master))
    log ClaimReward(
        sid=sid, pid=msg.sender, ephemeral=ephemeral, sealed_master=sealed_master, deadline=deadline
    )


@external
def dispute_claim(
    sid: uint256,
    review_secret: uint256,
    ephemeral: Bytes[POINT_BYTES],
    sealed_master: bytes32,
    index: uint256,
    cid: bytes32,
    key_hash: bytes32,
    proof: DynArray[bytes32, MAX_MERKLE_DEPTH],
):
    """
    @notice The collector's proof of misbehaviour against the master key (not in
        Figure 3): the secret of the review key opens the master key, and the key
        it gives shard `index` does not hash to the one committed in that shard's
        leaf. P_opt forfeits its deposit, the reward goes back, and the session is
        settled at once.
    @dev Only within the complaint window (cf_review_s after claim_reward).
    @param sid The session.
    @param review_secret The review key's secret scalar.
    @param ephemeral The claim's ephemeral key, as delivered.
    @param sealed_master The sealed master key, as delivered.
    @param index The disputed shard's position.
    @param cid The shard's content address, as committed.
    @param key_hash The hash of the shard's key, as committed.
    @param proof The Merkle proof of the shard's leaf: its siblings, bottom up.
    """
    # Checks
    head: uint256 = self._head(sid)
    self._check_collector(head)
    trade: uint256 = self.sessions[sid].trade
    assert self._st_trade(trade) == CLOSED, "hyperx: session is not closed"
    self._check_live(empty(uint256), trade)
    assert keccak256(abi_encode(ephemeral, sealed_master)) == self.sessions[sid].delivery_digest, (
        "hyperx: not the delivered key"
    )
    optimal: address = self._candidate(trade)
    cf_shards: uint256 = self._cf_shards(head)
    assert self._is_valid_merkle_proof(
        keccak256(concat(cid, key_hash)),
        index,
        proof,
        self.profiles[sid][optimal].adr_data_root,
        cf_shards,
        self._merkle_depth(cf_shards),
    ), "hyperx: invalid Merkle proof"
    assert self._public_address(review_secret) == self._review_key(sid, optimal), (
        "hyperx: secret is not the review key's"
    )
    shared: address = self._shared_address(review_secret, ephemeral)
    assert shared == empty(address) or keccak256(
        keccak256(
            concat(
                self._unseal(sealed_master, shared, sid, MASTER_KEY_SLOT), convert(index, bytes32)
            )
        )
    ) != key_hash, "hyperx: master key is valid"

    # Effects
    self.sessions[sid].trade = self._with_deadline(trade, block.timestamp) | TRADE_CLAIM_REJECTED
    log DisputeClaim(sid=sid, pid=optimal, index=index)


@external
@nonreentrant
def claim_deposit(sid: uint256):
    """
    @notice ClaimDeposit() of Figure 3 (lines 116-120): once the session is
        settled, a provider takes, once, what the policy gives it.
    @dev Its deposit, unless it forfeited it (paper 3.3): a candidate that did not
        review or whose review was proven wrong, and an optimal provider that did
        not deliver its master key or whose key was proven wrong, forfeit to the
        collector. Plus CF_% * cf_reward for a candidate whose review stood
        unanswered (post-review abortion), or cf_reward for the optimal provider of
        a closed deal (the optimistic payment).
    @param sid The session.
    """
    # Checks
    self._head(sid)
    status: uint256 = self.profiles[sid][msg.sender].status
    assert status != 0, "hyperx: caller is not a provider"
    trade: uint256 = self.sessions[sid].trade
    assert self._is_settled(sid, trade), "hyperx: session is still open"
    assert status & STATUS_DEPOSIT_CLAIMED == 0, "hyperx: deposit already claimed"
    is_candidate: bool = msg.sender == self._candidate(trade)
    assert not (is_candidate and self._has_forfeited(trade)), "hyperx: deposit forfeited"
    amount: uint256 = self.sessions[sid].cf_deposit
    if is_candidate:
        # Each addition is paid out of the contract's balance, so it cannot overflow.
        if self._is_compensated(trade):
            amount += self._compensation(sid)
        elif self._is_deal(trade):
            amount += self.sessions[sid].cf_reward

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
    @notice The collector's side of settlement (not in Figure 3): once the session
        is settled without a deal, the escrowed reward comes back, less any
        compensation, plus any forfeited deposit.
    @param sid The session.
    """
    # Checks
    self._check_collector(self._head(sid))
    trade: uint256 = self.sessions[sid].trade
    assert self._is_settled(sid, trade), "hyperx: session is still open"
    assert not self._is_deal(trade), "hyperx: session is closed"
    assert trade & TRADE_REFUND_CLAIMED == 0, "hyperx: refund already claimed"
    amount: uint256 = self.sessions[sid].cf_reward
    if self._is_compensated(trade):
        amount -= self._compensation(sid)
    if self._has_forfeited(trade):
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
        review_key (the review key's address), delivery_digest, review_submitted,
        review_rejected, claim_rejected, refund_claimed, provider_count.
    """
    self._head(sid)
    session: Session = self.sessions[sid]
    trade: uint256 = session.trade
    return SessionState(
        collector=self._collector(session.head),
        st_trade=self._st_trade(trade),
        deadline=self._deadline(session.timing, trade),
        candidate=self._candidate(trade),
        optimal=self._optimal(trade),
        review_key=self._review_key(sid, self._candidate(trade)),
        delivery_digest=session.delivery_digest,
        review_submitted=trade & TRADE_REVIEW_SUBMITTED != 0,
        review_rejected=trade & TRADE_REVIEW_REJECTED != 0,
        claim_rejected=trade & TRADE_CLAIM_REJECTED != 0,
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
        sample_count=self._sample_count(profile.status),
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
    """The session's deadline lies ahead (`timing` is read only while pending)."""
    assert block.timestamp < self._deadline(timing, trade), "hyperx: session expired"


@view
@internal
def _is_settled(sid: uint256, trade: uint256) -> bool:
    """The session's deadline has passed: it no longer moves, and pulls are open.
    The timing word is read only while the deadline is derived from it."""
    timing: uint256 = 0
    if self._st_trade(trade) == PENDING:
        timing = self.sessions[sid].timing
    return block.timestamp >= self._deadline(timing, trade)


@view
@internal
def _review_key(sid: uint256, candidate: address) -> address:
    """The address of the review key named with the candidate (zero before)."""
    return self._address_of(self.profiles[sid][candidate].status >> STATUS_REVIEW_KEY_SHIFT)


@view
@internal
def _compensation(sid: uint256) -> uint256:
    """CF_% * cf_reward, rounded down as the spec's integer division, for every
    uint256 reward: (q * BPS + r) * pct // BPS = q * pct + r * pct // BPS, and
    q * pct <= cf_reward as CF_% <= 100%."""
    cf_reward: uint256 = self.sessions[sid].cf_reward
    pct: uint256 = self._cf_pct_bps(self.sessions[sid].head)
    return cf_reward // BPS * pct + cf_reward % BPS * pct // BPS


@view
@internal
def _public_address(secret: uint256) -> address:
    """address(secret * G): whose key `secret` is (zero if secret * Gx = 0 mod N)."""
    return ecrecover(
        empty(bytes32), V_EVEN, SECP256K1_GX, uint256_mulmod(secret, SECP256K1_GX, SECP256K1_N)
    )


@view
@internal
def _shared_address(secret: uint256, ephemeral: Bytes[POINT_BYTES]) -> address:
    """address(secret * E) for the 64-byte point E: only E.x and the parity of E.y
    count; the zero address when E.x is not the x-coordinate of a point below N.
    `ephemeral` is 64 bytes: it matched a delivery digest, checked at delivery."""
    x: uint256 = extract32(ephemeral, 0, output_type=uint256)
    parity: uint256 = extract32(ephemeral, 32, output_type=uint256) & 1
    # parity <= 1: no overflow.
    return ecrecover(
        empty(bytes32), unsafe_add(V_EVEN, parity), x, uint256_mulmod(secret, x, SECP256K1_N)
    )


@pure
@internal
def _unseal(sealed: bytes32, shared: address, sid: uint256, slot: uint256) -> bytes32:
    """sealed XOR keccak256(abi_encode(shared, sid, slot)) (`compute_seal_pad`)."""
    pad: bytes32 = keccak256(abi_encode(shared, sid, slot))
    return convert(convert(sealed, uint256) ^ convert(pad, uint256), bytes32)


@pure
@internal
def _is_valid_period(seconds: uint256) -> bool:
    return seconds >= MIN_PERIOD_S and seconds <= MAX_PERIOD_S


@pure
@internal
def _collector(head: uint256) -> address:
    return self._address_of(head)


@pure
@internal
def _address_of(word: uint256) -> address:
    """The low 160 bits of a word: the address in a packed word, or the address of
    a public key from the keccak256 of its encoding."""
    return convert(convert(word & MASK_ADDRESS, uint160), address)


@pure
@internal
def _sample_count(status: uint256) -> uint256:
    return (status >> STATUS_COUNT_SHIFT) & MASK_8


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
    return self._address_of(trade)


@pure
@internal
def _optimal(trade: uint256) -> address:
    """P_opt: the candidate, once promoted."""
    if self._st_trade(trade) >= REVIEWED:
        return self._candidate(trade)
    return empty(address)


@pure
@internal
def _st_trade(trade: uint256) -> uint256:
    return (trade >> TRADE_STATE_SHIFT) & MASK_8


@pure
@internal
def _with_state(trade: uint256, st_trade: uint256) -> uint256:
    return (trade & ~(MASK_8 << TRADE_STATE_SHIFT)) | (st_trade << TRADE_STATE_SHIFT)


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
def _is_compensated(trade: uint256) -> bool:
    """P_tc's review stood and P_col did not answer it (once settled)."""
    return (
        self._st_trade(trade) == REVIEWING
        and trade & (TRADE_REVIEW_SUBMITTED | TRADE_REVIEW_REJECTED) == TRADE_REVIEW_SUBMITTED
    )


@pure
@internal
def _is_deal(trade: uint256) -> bool:
    """The master key is in and was not proven wrong (once settled: a closed deal)."""
    return self._st_trade(trade) == CLOSED and trade & TRADE_CLAIM_REJECTED == 0


@pure
@internal
def _has_forfeited(trade: uint256) -> bool:
    """Once settled, did the candidate (and optimal provider) forfeit its deposit?
    It did whenever it was picked and the session is neither compensated nor a deal:
    no review, a review proven wrong, no master key, or a master key proven wrong."""
    return (
        self._st_trade(trade) != PENDING
        and not self._is_compensated(trade)
        and not self._is_deal(trade)
    )


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
def _is_valid_merkle_proof(
    leaf: bytes32,
    index: uint256,
    proof: DynArray[bytes32, MAX_MERKLE_DEPTH],
    root: bytes32,
    n_leaves: uint256,
    depth: uint256,
) -> bool:
    """Does `leaf` sit at position `index` of the committed tree of `n_leaves`
    leaves and `depth` levels (`hyperx.spec.merkle.is_valid_merkle_proof`)?"""
    if index >= n_leaves or len(proof) != depth:
        return False
    node: bytes32 = leaf
    position: uint256 = index
    for sibling: bytes32 in proof:
        if position & 1 == 1:
            node = keccak256(concat(sibling, node))
        else:
            node = keccak256(concat(node, sibling))
        position >>= 1
    return node == root
