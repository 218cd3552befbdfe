"""Prot_SC: the trading smart contract of Figure 3 (lines 73-120), as an executable spec.

One market holds many sessions, indexed by `sid` (F_HyperX's `Data[sid]`). Each
interface is a `process_*` function that takes the market state and the message
(`Msg`: sender, value, block time) and mutates the state; an invalid call fails an
`assert` whose message is the contract's revert reason, word for word. Checks come
first, so a failing call leaves the state untouched. Value leaves through
`msg.transfer`, always last. The Vyper contract (`vyper_contracts/hyperx_market.vy`)
is checked against these functions call by call.

A session, numbered as the contract's rundown:
 1. `create_session`: the collector P_col escrows cf_reward and publishes SC_config
    and adr_theta (the datastore address of its offer: the extractor and its keys).
    st_trade = pending.
 2. `registration`: a provider deposits exactly cf_deposit and commits the Merkle
    root over its shards' content addresses and key hashes (`hyperx.spec.merkle`);
    the event names its manifest, the list of both, on the datastore.
 3. `sample_data`: P_col names, once per provider, at most cf_shards * CF_% of the
    shard positions.
 4. `submit_features`: the provider commits the datastore address of the features
    of exactly those shards, sealed to P_col and bound to the session and itself.
    Steps 2-4 end at cf_evaluation_deadline.
 5. `set_candidate`: P_col picks one candidate P_tc, once, naming a fresh review key.
    -> reviewing
 6. `submit_review`: P_tc opens the sampled leaves and seals their shard keys to the
    review key.
 7. `set_optimal`: P_col promotes P_tc to P_opt. -> reviewed
    or `dispute_review`: P_col shows that a sealed key does not open to its committed
    hash; P_tc forfeits its deposit and the session ends.
 8. `claim_reward`: P_opt seals its 32-byte master key to the review key. -> closed;
    the complaint window of cf_review_s opens.
    `dispute_claim`: within the window, P_col shows a shard whose committed key hash
    the master key does not give; P_opt forfeits its deposit, the reward goes back.
 9. `claim_deposit`: once the session is settled (its deadline passed), each
    provider takes, once, what the policy gives it: its deposit unless forfeited,
    plus the reward for P_opt of a closed deal, plus CF_% * reward for a candidate
    whose review was not answered.
10. `claim_refund`: once settled without a deal, P_col takes back the rest.

The fair exchange (issue 9; FairSwap, Dziembowski et al., CCS 2018; OptiSwap,
Eckey et al., 2020), and what each rule is for:
- The collector pays only for a dataset it could fetch in full before promoting:
  content addresses are public from registration, so an honest collector fetches
  every encrypted shard of a provider and checks it against the root before
  `set_candidate` (a provider that stored only its sample is never a candidate).
- Keys open without revealing the rest: per-shard keys from one master key
  (`hyperx.spec.sealing`); the review opens the sample's keys, ClaimReward the
  master key, both sealed to a review key the collector names in `set_candidate`,
  so nobody else reads the sample or the dataset.
- A sealed key is checked optimistically: it is taken as delivered, and a
  collector who finds one that does not open to its committed hash proves it on
  chain by showing the review key's secret (one ecrecover computes the seal's pad,
  `hyperx.spec.secp256k1`). A junk review then costs the candidate its deposit and
  earns it nothing; a junk master key costs P_opt its deposit and the reward.
  Showing the secret of a good seal proves nothing (the call reverts) and only
  publishes what the collector already holds.
- The reward of a closed deal is paid after the complaint window, not in the
  ClaimReward transaction (a departure from the paper's atomic payment, line 114):
  an atomic payment against a key nobody but the collector can check would pay
  for junk. The master key is in by the claim deadline, and nothing the collector
  does after that stops the payment except a valid proof.
- Features are sealed to the collector and bound to the session and the provider
  (off chain, `hyperx.spec.sealing.seal_features`): a copier's features do not open,
  so it is never ranked and never costs the honest provider the deal.
- Minimum periods (MIN_PERIOD_S, shared with the contract): no session gives a
  party less than one period to answer, so a collector cannot make the optimal
  provider miss its claim; the claim is one transaction whatever the shard count.
- Deadlines: one `deadline` per session, the end of the current state. It is
  cf_evaluation_deadline + cf_review_s while pending (registration, sampling and
  features end at cf_evaluation_deadline; the collector has cf_review_s more to
  pick a candidate); `set_candidate`, `submit_review` and `claim_reward` each restart
  it at now + cf_review_s; `set_optimal` at now + cf_claim_s; a successful dispute
  ends the session at once (deadline = now). Every party has a full period to answer
  the other's last move, and every session is settled by
  cf_evaluation_deadline + 4 * cf_review_s + cf_claim_s. A settled session no longer
  moves; the escrow is paid out by pulls, so no funds stay stuck.
- Escrow: `create_session` requires value == cf_reward, so the reward exists before
  anyone commits data; `registration` requires value == cf_deposit exactly.
- Post-review abortion (paper 3.3): a candidate whose review stood and was not
  promoted receives CF_% * cf_reward. Penalties (paper 3.3, "Enforcing
  Accountability"): a candidate that does not review, or whose review is proven
  wrong, and an optimal provider that does not deliver its master key, or whose key
  is proven wrong, forfeits its deposit to the collector.
- Sampling by position: the collector names leaf indices; the contract stores one
  digest of the sorted list (`compute_sample_digest`).

Assumptions, and what the design still cannot prevent:
- F_DS keeps what it accepted (paper 2.1); the collector keeps the encrypted shards
  it fetched before promoting, so later unavailability does not hurt it.
- Honest parties are live within a period (the liveness of `hyperx.spec.schedule`).
- A provider whose features were computed from other data than it committed (its
  sample's plaintext decrypts under the committed keys but does not reproduce the
  features) is found out by the collector's review but cannot be proven wrong on
  chain: that needs the extractor run on chain or a zero-knowledge proof of it.
  Such a provider must hold data good enough to rank first; it collects the
  compensation CF_% * cf_reward instead of the reward and keeps its data. The
  damage is bounded by that compensation per session (`hyperx verify --economics`
  names it as a residual, with its payoffs).
- Likewise for shards that are well-formed ciphertext of junk (the committed key
  hash is honest, the ciphertext does not open under that key): only the random
  sample (drawn after the commitment) stands for the rest, as in the paper. In the
  sample, the collector finds it but cannot prove it: the review stands unanswered
  and costs the compensation; outside it, the reward buys one shard less. Each junk
  shard is worth its price to the cheat (`hyperx verify --economics`,
  `best_junk_shard_*`); a proof of a wrong decryption on chain (FairSwap) would close
  it, which AES-GCM shards put out of the EVM's reach.
"""

from dataclasses import dataclass, field, replace
from enum import IntEnum

from . import secp256k1
from .config import (
    BPS,
    MASTER_KEY_SLOT,
    MAX_PERIOD_S,
    MAX_SAMPLE,
    MAX_SHARDS,
    MIN_PERIOD_S,
    POINT_BYTES,
    ZERO_ADDRESS,
    ZERO_HASH,
)
from .merkle import (
    compute_claim_digest,
    compute_leaf,
    compute_review_digest,
    compute_sample_digest,
    is_valid_merkle_proof,
)
from .sealing import compute_key_hash, compute_shard_key, open_sealed_key

Address = str  # "0x" + 40 lowercase hex digits


class TradeState(IntEnum):
    """st_trade; it only moves forward (Figure 3, line 80)."""

    PENDING = 0
    REVIEWING = 1
    REVIEWED = 2
    CLOSED = 3  # the master key is in; the deal stands unless disputed in time


@dataclass(frozen=True)
class SessionConfig:
    """SC_config (Figure 3, line 75), immutable once the session exists."""

    cf_reward: int  # wei, escrowed at creation
    cf_deposit: int  # wei, exact deposit of each provider
    cf_pct_bps: int  # CF_%, the sample bound, in basis points (0, BPS]
    cf_shards: int  # shard count every provider commits
    cf_evaluation_deadline: int  # unix seconds: end of registration/sampling/features
    cf_review_s: int  # seconds each side has to answer in selection, review, complaint
    cf_claim_s: int  # seconds P_opt has to deliver its master key
    adr_theta: bytes  # bytes32 digest of the collector's offer on the datastore


@dataclass
class Profile:
    """P_profile[pid] (Figure 3, lines 77-78), O(1) words per provider."""

    adr_data_root: bytes  # Merkle root over (cid_i, h_i)
    sample_digest: bytes = ZERO_HASH  # adr_sample^h, as a digest of the sorted indices
    sample_count: int = 0
    adr_feature: bytes = ZERO_HASH  # adr_feature^h: digest of the sealed features' address
    deposit_claimed: bool = False


@dataclass
class Session:
    collector: Address  # P_col
    config: SessionConfig
    st_trade: TradeState = TradeState.PENDING
    deadline: int = 0  # unix seconds: end of the current state
    candidate: Address = ZERO_ADDRESS  # P_tc
    optimal: Address = ZERO_ADDRESS  # P_opt
    review_key: bytes = b""  # address (20 bytes) of the review key named by set_candidate
    delivery_digest: bytes = ZERO_HASH  # what submit_review, then claim_reward, delivered
    review_submitted: bool = False
    review_rejected: bool = False  # dispute_review proved the review wrong
    claim_rejected: bool = False  # dispute_claim proved the master key wrong
    refund_claimed: bool = False
    provider_count: int = 0
    profiles: dict[Address, Profile] = field(default_factory=dict)


@dataclass
class MarketState:
    sessions: list[Session] = field(default_factory=list)

    def __deepcopy__(self, memo) -> "MarketState":
        """A copy F_BC keeps per block (a reorg restores it): every session and profile
        copied, their immutable parts (the config, bytes, ints) shared."""
        return MarketState(
            [
                replace(session, profiles={p: replace(f) for p, f in session.profiles.items()})
                for session in self.sessions
            ]
        )


@dataclass(frozen=True)
class Event:
    """A log entry; `name` is the interface that emitted it (the clients' triggers)."""

    name: str
    args: dict


@dataclass
class Msg:
    """The call context: who calls, with how much value, at which block time; and
    what the call emits and pays out (applied by F_BC only if the call succeeds)."""

    sender: Address
    value: int = 0
    now: int = 0
    events: list[Event] = field(default_factory=list)
    transfers: list[tuple[Address, int]] = field(default_factory=list)

    def emit(self, name: str, **args) -> None:
        self.events.append(Event(name, args))

    def transfer(self, to: Address, amount: int) -> None:
        self.transfers.append((to, amount))


# Predicates and derivations


def get_session(state: MarketState, sid: int) -> Session:
    # Verify the session exists
    assert 0 <= sid < len(state.sessions), "hyperx: unknown session"
    return state.sessions[sid]


def get_sample_bound(config: SessionConfig) -> int:
    """At most cf_shards * CF_% shards may be sampled (Figure 3, line 91)."""
    return min(MAX_SAMPLE, config.cf_shards * config.cf_pct_bps // BPS)


def get_compensation(config: SessionConfig) -> int:
    """The post-review abortion compensation, CF_% * CF_reward (paper 3.3)."""
    return config.cf_reward * config.cf_pct_bps // BPS


def get_final_deadline(config: SessionConfig) -> int:
    """Every session is settled by this instant (see the module docstring)."""
    return config.cf_evaluation_deadline + 4 * config.cf_review_s + config.cf_claim_s


def is_settled(session: Session, now: int) -> bool:
    """The session's deadline has passed: it no longer moves, and pulls are open."""
    return now >= session.deadline


def is_deal(session: Session) -> bool:
    """The master key is in and was not proven wrong (once settled: a closed deal)."""
    return session.st_trade == TradeState.CLOSED and not session.claim_rejected


def is_compensated(session: Session) -> bool:
    """P_tc's review stood and P_col did not answer it (once settled)."""
    return (
        session.st_trade == TradeState.REVIEWING
        and session.review_submitted
        and not session.review_rejected
    )


def get_forfeiter(session: Session, now: int) -> Address:
    """The provider whose deposit goes to the collector, or ZERO_ADDRESS."""
    if not is_settled(session, now):
        return ZERO_ADDRESS
    if session.st_trade == TradeState.REVIEWING and not is_compensated(session):
        return session.candidate
    if session.st_trade == TradeState.REVIEWED or (
        session.st_trade == TradeState.CLOSED and session.claim_rejected
    ):
        return session.optimal
    return ZERO_ADDRESS


def get_deposit_payout(session: Session, pid: Address) -> int:
    """What claim_deposit pays `pid` of a settled session (not the forfeiter)."""
    payout = session.config.cf_deposit
    if pid == session.candidate and is_compensated(session):
        payout += get_compensation(session.config)
    if pid == session.optimal and is_deal(session):
        payout += session.config.cf_reward
    return payout


def get_refund(session: Session, now: int) -> int:
    """What claim_refund pays the collector of a session settled without a deal."""
    refund = session.config.cf_reward
    if is_compensated(session):
        refund -= get_compensation(session.config)
    if get_forfeiter(session, now) != ZERO_ADDRESS:
        refund += session.config.cf_deposit
    return refund


def get_escrow(session: Session) -> int:
    """Wei the contract still holds for this session: what came in (the reward and
    every deposit) less what went out. Pulls happen only once the session is
    settled, when its state no longer moves, so each past payout is known from the
    flags. Solvency: the contract's balance equals the sum over sessions."""
    config = session.config
    forfeited = session.st_trade != TradeState.PENDING and not (
        is_compensated(session) or is_deal(session)
    )
    paid = 0
    for pid, profile in session.profiles.items():
        if profile.deposit_claimed:
            paid += get_deposit_payout(session, pid)
    if session.refund_claimed:
        paid += config.cf_reward - (get_compensation(config) if is_compensated(session) else 0)
        paid += config.cf_deposit if forfeited else 0
    return config.cf_reward + session.provider_count * config.cf_deposit - paid


def is_valid_period(seconds: int) -> bool:
    return MIN_PERIOD_S <= seconds <= MAX_PERIOD_S


# Interfaces (Figure 3, ProtSC)


def process_create_session(
    state: MarketState,
    msg: Msg,
    cf_reward: int,
    cf_deposit: int,
    cf_pct_bps: int,
    cf_shards: int,
    cf_evaluation_deadline: int,
    cf_review_s: int,
    cf_claim_s: int,
    adr_theta: bytes,
) -> int:
    """CreateContract(SC_config, adr_theta), lines 74-80, with the reward escrowed."""
    # Verify the reward is positive and escrowed in full
    assert cf_reward > 0, "hyperx: reward is zero"
    assert msg.value == cf_reward, "hyperx: value is not the reward"
    # Verify CF_% lies in (0, 100%]
    assert 0 < cf_pct_bps <= BPS, "hyperx: cf_pct out of range"
    # Verify the shard count, and that at least one shard can be sampled
    assert 0 < cf_shards <= MAX_SHARDS, "hyperx: shard count out of range"
    assert cf_shards * cf_pct_bps >= BPS, "hyperx: sample bound is zero"
    # Verify the evaluation lasts a period, and each period lies in range
    assert msg.now + MIN_PERIOD_S <= cf_evaluation_deadline <= msg.now + MAX_PERIOD_S, (
        "hyperx: evaluation deadline out of range"
    )
    assert is_valid_period(cf_review_s), "hyperx: review period out of range"
    assert is_valid_period(cf_claim_s), "hyperx: claim period out of range"
    # Verify the offer has an address
    assert len(adr_theta) == 32 and adr_theta != ZERO_HASH, "hyperx: extractor address is empty"

    config = SessionConfig(
        cf_reward,
        cf_deposit,
        cf_pct_bps,
        cf_shards,
        cf_evaluation_deadline,
        cf_review_s,
        cf_claim_s,
        adr_theta,
    )
    sid = len(state.sessions)
    state.sessions.append(
        Session(collector=msg.sender, config=config, deadline=cf_evaluation_deadline + cf_review_s)
    )
    msg.emit(
        "CreateSession",
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


def process_registration(
    state: MarketState,
    msg: Msg,
    sid: int,
    adr_data_root: bytes,
    n_shards: int,
    adr_manifest: bytes,
) -> None:
    """Registration(adr_data^h), lines 81-85, with a Merkle root for adr_data^h and the
    address of the manifest (every shard's content address and key hash), which the
    contract does not keep: it is for the collector, to fetch the shards."""
    session = get_session(state, sid)
    # Verify the session still takes providers
    assert session.st_trade == TradeState.PENDING, "hyperx: session is not pending"
    assert msg.now < session.config.cf_evaluation_deadline, "hyperx: evaluation has ended"
    # Verify the deposit
    assert msg.value == session.config.cf_deposit, "hyperx: value is not the deposit"
    # Verify the provider is new
    assert msg.sender not in session.profiles, "hyperx: provider already registered"
    # Verify the commitment
    assert n_shards == session.config.cf_shards, "hyperx: wrong shard count"
    assert len(adr_data_root) == 32 and adr_data_root != ZERO_HASH, "hyperx: commitment is empty"
    assert len(adr_manifest) == 32 and adr_manifest != ZERO_HASH, (
        "hyperx: manifest address is empty"
    )

    session.profiles[msg.sender] = Profile(adr_data_root=adr_data_root)
    session.provider_count += 1
    msg.emit(
        "Registration",
        sid=sid,
        pid=msg.sender,
        adr_data_root=adr_data_root,
        n_shards=n_shards,
        adr_manifest=adr_manifest,
    )


def process_sample_data(
    state: MarketState, msg: Msg, sid: int, pid: Address, indices: list[int]
) -> None:
    """SampleData(pid, adr_sample^h), lines 86-92: once per provider, within CF_%."""
    session = get_session(state, sid)
    # Verify the caller is the collector
    assert msg.sender == session.collector, "hyperx: caller is not the collector"
    # Verify the session is in evaluation
    assert session.st_trade == TradeState.PENDING, "hyperx: session is not pending"
    assert msg.now < session.config.cf_evaluation_deadline, "hyperx: evaluation has ended"
    # Verify the provider is registered and not yet sampled
    assert pid in session.profiles, "hyperx: unknown provider"
    profile = session.profiles[pid]
    assert profile.sample_count == 0, "hyperx: provider already sampled"
    # Verify the sample size lies in [1, cf_shards * CF_%]
    assert 0 < len(indices) <= get_sample_bound(session.config), "hyperx: sample size out of bounds"
    # Verify the indices are distinct shard positions, in ascending order
    assert all(
        0 <= index < session.config.cf_shards and (i == 0 or index > indices[i - 1])
        for i, index in enumerate(indices)
    ), "hyperx: sample indices not ascending or out of range"

    profile.sample_digest = compute_sample_digest(indices)
    profile.sample_count = len(indices)
    msg.emit("SampleData", sid=sid, pid=pid, indices=list(indices))


def process_submit_features(state: MarketState, msg: Msg, sid: int, adr_feature: bytes) -> None:
    """SubmitFeatures(adr_feature^h), lines 93-96. The features are sealed to the
    collector off chain (the paper's "may encrypt it with the collector's public
    key"), bound to this session and this provider."""
    session = get_session(state, sid)
    # Verify the caller is a registered provider
    assert msg.sender in session.profiles, "hyperx: caller is not a provider"
    # Verify the session is in evaluation
    assert session.st_trade == TradeState.PENDING, "hyperx: session is not pending"
    assert msg.now < session.config.cf_evaluation_deadline, "hyperx: evaluation has ended"
    profile = session.profiles[msg.sender]
    # Verify the provider was sampled and submits once
    assert profile.sample_count > 0, "hyperx: provider not sampled"
    assert profile.adr_feature == ZERO_HASH, "hyperx: features already submitted"
    # Verify the features have an address
    assert len(adr_feature) == 32 and adr_feature != ZERO_HASH, "hyperx: feature address is empty"

    profile.adr_feature = adr_feature
    msg.emit("SubmitFeatures", sid=sid, pid=msg.sender, adr_feature=adr_feature)


def process_set_candidate(
    state: MarketState, msg: Msg, sid: int, pid: Address, review_key: bytes
) -> None:
    """SetCandidate(pid), lines 97-100: one candidate per session, and the public key
    (64 bytes, secp256k1) the candidate seals its keys to; the contract keeps its
    address, to check a secret shown in a dispute."""
    session = get_session(state, sid)
    # Verify the caller is the collector
    assert msg.sender == session.collector, "hyperx: caller is not the collector"
    # Verify no candidate was set and the session has not expired
    assert session.st_trade == TradeState.PENDING, "hyperx: session is not pending"
    assert msg.now < session.deadline, "hyperx: session expired"
    # Verify the candidate submitted features
    assert pid in session.profiles, "hyperx: unknown provider"
    assert session.profiles[pid].adr_feature != ZERO_HASH, "hyperx: provider has no features"
    # Verify the review key is a public key
    assert len(review_key) == POINT_BYTES, "hyperx: review key must be 64 bytes"

    session.candidate = pid
    session.review_key = secp256k1.address_of_encoding(review_key)
    session.st_trade = TradeState.REVIEWING
    session.deadline = msg.now + session.config.cf_review_s
    msg.emit("SetCandidate", sid=sid, pid=pid, review_key=review_key, deadline=session.deadline)


def process_submit_review(
    state: MarketState,
    msg: Msg,
    sid: int,
    indices: list[int],
    cids: list[bytes],
    key_hashes: list[bytes],
    proofs: list[list[bytes]],
    ephemeral: bytes,
    sealed_keys: list[bytes],
) -> None:
    """SubmitReview(adr_sample^p, K_data), lines 101-105.

    Departure: the sampled leaves are opened against the Merkle root, and instead of
    K_data in the clear the candidate seals each sampled shard's own key to the
    review key (slot = its position in the sample). The contract cannot open the
    seals; it keeps their digest, so a dispute can show them again."""
    session = get_session(state, sid)
    # Verify the caller is the candidate
    assert msg.sender == session.candidate, "hyperx: caller is not the candidate"
    # Verify the session awaits this review
    assert session.st_trade == TradeState.REVIEWING, "hyperx: session is not reviewing"
    assert not session.review_submitted, "hyperx: review already submitted"
    assert msg.now < session.deadline, "hyperx: session expired"
    profile = session.profiles[msg.sender]
    # Verify the indices are the sample set by the collector
    assert compute_sample_digest(indices) == profile.sample_digest, (
        "hyperx: indices do not match the sample"
    )
    count = len(indices)
    assert len(cids) == len(key_hashes) == len(proofs) == len(sealed_keys) == count, (
        "hyperx: one leaf, proof and sealed key per index"
    )
    # Verify each leaf opens its position of the commitment
    assert all(
        is_valid_merkle_proof(
            compute_leaf(cid, key_hash),
            index,
            proof,
            profile.adr_data_root,
            session.config.cf_shards,
        )
        for cid, key_hash, index, proof in zip(cids, key_hashes, indices, proofs, strict=True)
    ), "hyperx: invalid Merkle proof"
    # Verify the ephemeral key has the size of a point
    assert len(ephemeral) == POINT_BYTES, "hyperx: ephemeral key must be 64 bytes"

    session.review_submitted = True
    session.delivery_digest = compute_review_digest(ephemeral, sealed_keys, key_hashes)
    session.deadline = msg.now + session.config.cf_review_s
    msg.emit(
        "SubmitReview",
        sid=sid,
        pid=msg.sender,
        indices=list(indices),
        cids=list(cids),
        key_hashes=list(key_hashes),
        ephemeral=ephemeral,
        sealed_keys=list(sealed_keys),
        deadline=session.deadline,
    )


def process_dispute_review(
    state: MarketState,
    msg: Msg,
    sid: int,
    review_secret: int,
    ephemeral: bytes,
    sealed_keys: list[bytes],
    key_hashes: list[bytes],
    position: int,
) -> None:
    """The collector's proof of misbehaviour against a review (not in Figure 3):
    the secret of the review key opens the sealed key at `position` to a key whose
    hash is not the committed one (or the ephemeral key is not a point). The
    candidate forfeits its deposit and the session is settled at once."""
    session = get_session(state, sid)
    # Verify the caller is the collector
    assert msg.sender == session.collector, "hyperx: caller is not the collector"
    # Verify a review awaits the collector's answer
    assert session.st_trade == TradeState.REVIEWING, "hyperx: session is not reviewing"
    assert session.review_submitted, "hyperx: review not submitted"
    assert msg.now < session.deadline, "hyperx: session expired"
    # Verify the disputed delivery is the review
    assert compute_review_digest(ephemeral, sealed_keys, key_hashes) == session.delivery_digest, (
        "hyperx: not the submitted review"
    )
    assert 0 <= position < len(sealed_keys), "hyperx: position out of range"
    # Verify the secret is the review key's
    assert secp256k1.compute_public_address(review_secret) == session.review_key, (
        "hyperx: secret is not the review key's"
    )
    # Verify the sealed key does not open to a key of the committed hash
    key = open_sealed_key(review_secret, ephemeral, sealed_keys[position], sid, position)
    assert key is None or compute_key_hash(key) != key_hashes[position], (
        "hyperx: sealed key is valid"
    )

    session.review_rejected = True
    session.deadline = msg.now
    msg.emit("DisputeReview", sid=sid, pid=session.candidate, position=position)


def process_set_optimal(state: MarketState, msg: Msg, sid: int, pid: Address) -> None:
    """SetOptimal(pid), lines 106-109."""
    session = get_session(state, sid)
    # Verify the caller is the collector
    assert msg.sender == session.collector, "hyperx: caller is not the collector"
    # Verify the review is in and the session has not expired
    assert session.st_trade == TradeState.REVIEWING, "hyperx: session is not reviewing"
    assert msg.now < session.deadline, "hyperx: session expired"
    assert session.review_submitted, "hyperx: review not submitted"
    # Verify the promoted provider is the candidate
    assert pid == session.candidate, "hyperx: provider is not the candidate"

    session.optimal = pid
    session.st_trade = TradeState.REVIEWED
    session.deadline = msg.now + session.config.cf_claim_s
    msg.emit("SetOptimal", sid=sid, pid=pid, deadline=session.deadline)


def process_claim_reward(
    state: MarketState, msg: Msg, sid: int, ephemeral: bytes, sealed_master: bytes
) -> None:
    """ClaimReward(adr_data^p), lines 110-115: P_opt delivers its master key, sealed
    to the review key, in one transaction whatever the shard count.

    Departure: the reward is not paid in this transaction but by claim_deposit once
    the complaint window (cf_review_s) has passed without a valid dispute_claim
    (OptiSwap's optimistic payment; see the module docstring)."""
    session = get_session(state, sid)
    # Verify the caller is the optimal provider
    assert msg.sender == session.optimal, "hyperx: caller is not the optimal provider"
    # Verify the deal is open and the claim period has not ended
    assert session.st_trade == TradeState.REVIEWED, "hyperx: session is not reviewed"
    assert msg.now < session.deadline, "hyperx: session expired"
    # Verify the ephemeral key has the size of a point
    assert len(ephemeral) == POINT_BYTES, "hyperx: ephemeral key must be 64 bytes"

    session.st_trade = TradeState.CLOSED
    session.delivery_digest = compute_claim_digest(ephemeral, sealed_master)
    session.deadline = msg.now + session.config.cf_review_s
    msg.emit(
        "ClaimReward",
        sid=sid,
        pid=msg.sender,
        ephemeral=ephemeral,
        sealed_master=sealed_master,
        deadline=session.deadline,
    )


def process_dispute_claim(
    state: MarketState,
    msg: Msg,
    sid: int,
    review_secret: int,
    ephemeral: bytes,
    sealed_master: bytes,
    index: int,
    cid: bytes,
    key_hash: bytes,
    proof: list[bytes],
) -> None:
    """The collector's proof of misbehaviour against the master key (not in Figure 3):
    the secret of the review key opens the master key, and the key it gives shard
    `index` does not hash to the one committed in that shard's leaf. P_opt forfeits
    its deposit, the reward goes back, and the session is settled at once."""
    session = get_session(state, sid)
    # Verify the caller is the collector
    assert msg.sender == session.collector, "hyperx: caller is not the collector"
    # Verify the complaint window is open
    assert session.st_trade == TradeState.CLOSED, "hyperx: session is not closed"
    assert msg.now < session.deadline, "hyperx: session expired"
    # Verify the disputed delivery is the master key
    assert compute_claim_digest(ephemeral, sealed_master) == session.delivery_digest, (
        "hyperx: not the delivered key"
    )
    # Verify the leaf is the optimal provider's
    root = session.profiles[session.optimal].adr_data_root
    assert is_valid_merkle_proof(
        compute_leaf(cid, key_hash), index, proof, root, session.config.cf_shards
    ), "hyperx: invalid Merkle proof"
    # Verify the secret is the review key's
    assert secp256k1.compute_public_address(review_secret) == session.review_key, (
        "hyperx: secret is not the review key's"
    )
    # Verify the master key does not give the committed shard key
    master = open_sealed_key(review_secret, ephemeral, sealed_master, sid, MASTER_KEY_SLOT)
    assert master is None or compute_key_hash(compute_shard_key(master, index)) != key_hash, (
        "hyperx: master key is valid"
    )

    session.claim_rejected = True
    session.deadline = msg.now
    msg.emit("DisputeClaim", sid=sid, pid=session.optimal, index=index)


def process_claim_deposit(state: MarketState, msg: Msg, sid: int) -> None:
    """ClaimDeposit(), lines 116-120, with the paper's penalties and compensation, and
    the reward of a closed deal for P_opt."""
    session = get_session(state, sid)
    # Verify the caller is a registered provider
    assert msg.sender in session.profiles, "hyperx: caller is not a provider"
    # Verify the session is settled
    assert is_settled(session, msg.now), "hyperx: session is still open"
    profile = session.profiles[msg.sender]
    # Verify the deposit is claimed once, and not forfeited
    assert not profile.deposit_claimed, "hyperx: deposit already claimed"
    assert msg.sender != get_forfeiter(session, msg.now), "hyperx: deposit forfeited"

    amount = get_deposit_payout(session, msg.sender)
    profile.deposit_claimed = True
    msg.emit("ClaimDeposit", sid=sid, pid=msg.sender, amount=amount)
    msg.transfer(msg.sender, amount)


def process_claim_refund(state: MarketState, msg: Msg, sid: int) -> None:
    """The collector's side of settlement (not in Figure 3): the reward comes back,
    less any compensation, plus any forfeited deposit."""
    session = get_session(state, sid)
    # Verify the caller is the collector
    assert msg.sender == session.collector, "hyperx: caller is not the collector"
    # Verify the session settled without a deal, and is refunded once
    assert is_settled(session, msg.now), "hyperx: session is still open"
    assert not is_deal(session), "hyperx: session is closed"
    assert not session.refund_claimed, "hyperx: refund already claimed"

    amount = get_refund(session, msg.now)
    session.refund_claimed = True
    msg.emit("ClaimRefund", sid=sid, collector=msg.sender, amount=amount)
    msg.transfer(msg.sender, amount)


# The dispatch table: interface name -> transition. F_BC calls through it, and the
# differential tests drive the contract with the same names and arguments.
INTERFACES = {
    "create_session": process_create_session,
    "registration": process_registration,
    "sample_data": process_sample_data,
    "submit_features": process_submit_features,
    "set_candidate": process_set_candidate,
    "submit_review": process_submit_review,
    "dispute_review": process_dispute_review,
    "set_optimal": process_set_optimal,
    "claim_reward": process_claim_reward,
    "dispute_claim": process_dispute_claim,
    "claim_deposit": process_claim_deposit,
    "claim_refund": process_claim_refund,
}
PAYABLE = frozenset({"create_session", "registration"})
# Each interface emits one event named after it in CamelCase (the clients' triggers).
EVENT_NAMES = tuple(name.title().replace("_", "") for name in INTERFACES)
