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
    and adr_theta (the extractor's datastore address). st_trade = pending.
 2. `registration`: a provider deposits exactly cf_deposit and commits the Merkle
    root of its hashed shard keys (`hyperx.spec.merkle`).
 3. `sample_data`: P_col names, once per provider, at most cf_shards * cf_pct of the
    shard positions.
 4. `submit_features`: the provider commits the datastore address of the obfuscated
    features of exactly those shards.
    Steps 2-4 end at cf_evaluation_deadline.
 5. `set_candidate`: P_col picks one candidate P_tc (once per session). -> reviewing
 6. `submit_review`: P_tc opens the sampled keys with Merkle proofs and K_data
    sealed to P_col's public key.
 7. `set_optimal`: P_col promotes P_tc to P_opt. -> reviewed
 8. `claim_reward`: P_opt reveals every key (in chunks); the last chunk pays
    cf_reward in the same transaction. -> closed
 9. `claim_deposit`: after close or expiry, each provider takes its deposit back,
    once, unless forfeited; a compensated candidate also takes its compensation.
10. `claim_refund`: after expiry, P_col takes back what the escrow still owes it.

What the paper leaves open, decided here:
- Escrow: `create_session` requires value == cf_reward, so the reward exists before
  anyone commits data; `registration` requires value == cf_deposit exactly (the
  paper takes >= and stores V_deposit; exact values keep one word per provider).
- Deadlines: one `deadline` per session, the end of the current state. It is
  cf_evaluation_deadline + cf_review_s while pending (registration, sampling and
  features end at cf_evaluation_deadline; the collector has cf_review_s more to
  pick a candidate); `set_candidate` and `submit_review` each restart it at
  now + cf_review_s; `set_optimal` at now + cf_claim_s. Every party therefore has a
  full period to answer the other's last move, so no one can be griefed by a move
  made a second before a deadline, and every session ends by
  cf_evaluation_deadline + 3 * cf_review_s + cf_claim_s. A session whose deadline
  has passed without `closed` is expired: nothing moves it any more, and the escrow
  is settled by pulls (`claim_deposit`, `claim_refund`), so no funds stay stuck.
- Post-review abortion (paper 3.3): if P_tc submitted its review and P_col did not
  call set_optimal before the deadline, P_tc receives cf_pct * cf_reward.
- Penalties (paper 3.3, "Enforcing Accountability"): a candidate that does not
  submit its review before the deadline, or an optimal provider that does not finish
  claim_reward before the deadline, forfeits its deposit to the collector.
- Sampling by position: the collector names leaf indices, not hashes; the contract
  stores one digest of the sorted index list (`compute_sample_digest`).
"""

from dataclasses import dataclass, field
from enum import IntEnum

from .config import (
    BPS,
    MAX_PERIOD_S,
    MAX_SAMPLE,
    MAX_SEALED_KEY_BYTES,
    MAX_SHARDS,
    ZERO_ADDRESS,
    ZERO_HASH,
)
from .merkle import (
    compute_sample_digest,
    get_chunk_count,
    is_valid_chunk,
    is_valid_merkle_proof,
)

Address = str  # "0x" + 40 lowercase hex digits


class TradeState(IntEnum):
    """st_trade; it only moves forward (Figure 3, line 80)."""

    PENDING = 0
    REVIEWING = 1
    REVIEWED = 2
    CLOSED = 3


@dataclass(frozen=True)
class SessionConfig:
    """SC_config (Figure 3, line 75), immutable once the session exists."""

    cf_reward: int  # wei, escrowed at creation
    cf_deposit: int  # wei, exact deposit of each provider
    cf_pct_bps: int  # CF_%, the sample bound, in basis points (0, BPS]
    cf_shards: int  # shard count every provider commits
    cf_evaluation_deadline: int  # unix seconds: end of registration/sampling/features
    cf_review_s: int  # seconds each side has to answer in selection and review
    cf_claim_s: int  # seconds P_opt has to finish claim_reward
    adr_theta: bytes  # bytes32 digest of the obfuscated extractor's datastore address


@dataclass
class Profile:
    """P_profile[pid] (Figure 3, lines 77-78), O(1) words per provider."""

    adr_data_root: bytes  # Merkle root over adr_data^h
    sample_digest: bytes = ZERO_HASH  # adr_sample^h, as a digest of the sorted indices
    sample_count: int = 0
    adr_feature: bytes = ZERO_HASH  # adr_feature^h: digest of the features' datastore address
    deposit_claimed: bool = False


@dataclass
class Session:
    collector: Address  # P_col
    config: SessionConfig
    st_trade: TradeState = TradeState.PENDING
    deadline: int = 0  # unix seconds: end of the current state
    candidate: Address = ZERO_ADDRESS  # P_tc
    optimal: Address = ZERO_ADDRESS  # P_opt
    review_submitted: bool = False
    chunks_revealed: int = 0
    refund_claimed: bool = False
    provider_count: int = 0
    profiles: dict[Address, Profile] = field(default_factory=dict)


@dataclass
class MarketState:
    sessions: list[Session] = field(default_factory=list)


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
    """No session outlives this instant (see the module docstring)."""
    return config.cf_evaluation_deadline + 3 * config.cf_review_s + config.cf_claim_s


def is_expired(session: Session, now: int) -> bool:
    return session.st_trade != TradeState.CLOSED and now >= session.deadline


def is_settled(session: Session, now: int) -> bool:
    """Closed or expired: deposits (and, if expired, the refund) can be pulled."""
    return session.st_trade == TradeState.CLOSED or now >= session.deadline


def is_compensated(session: Session, now: int) -> bool:
    """P_tc revealed its sample and P_col let the review deadline pass."""
    return (
        is_expired(session, now)
        and session.st_trade == TradeState.REVIEWING
        and session.review_submitted
    )


def get_forfeiter(session: Session, now: int) -> Address:
    """The provider whose deposit goes to the collector, or ZERO_ADDRESS."""
    if not is_expired(session, now):
        return ZERO_ADDRESS
    if session.st_trade == TradeState.REVIEWING and not session.review_submitted:
        return session.candidate
    if session.st_trade == TradeState.REVIEWED:
        return session.optimal
    return ZERO_ADDRESS


def get_deposit_payout(session: Session, pid: Address, now: int) -> int:
    """What claim_deposit pays `pid` now (it must not be the forfeiter)."""
    payout = session.config.cf_deposit
    if pid == session.candidate and is_compensated(session, now):
        payout += get_compensation(session.config)
    return payout


def get_refund(session: Session, now: int) -> int:
    """What claim_refund pays the collector of an expired session."""
    refund = session.config.cf_reward
    if is_compensated(session, now):
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
    compensated = session.st_trade == TradeState.REVIEWING and session.review_submitted
    forfeited = (
        session.st_trade == TradeState.REVIEWING and not session.review_submitted
    ) or session.st_trade == TradeState.REVIEWED
    paid = config.cf_reward if session.st_trade == TradeState.CLOSED else 0
    for pid, profile in session.profiles.items():
        if profile.deposit_claimed:
            paid += config.cf_deposit
            if compensated and pid == session.candidate:
                paid += get_compensation(config)
    if session.refund_claimed:
        paid += config.cf_reward - (get_compensation(config) if compensated else 0)
        paid += config.cf_deposit if forfeited else 0
    return config.cf_reward + session.provider_count * config.cf_deposit - paid


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
    # Verify the deadlines lie ahead, in order, within MAX_PERIOD_S
    assert msg.now < cf_evaluation_deadline <= msg.now + MAX_PERIOD_S, (
        "hyperx: evaluation deadline out of range"
    )
    assert 0 < cf_review_s <= MAX_PERIOD_S, "hyperx: review period out of range"
    assert 0 < cf_claim_s <= MAX_PERIOD_S, "hyperx: claim period out of range"
    # Verify the extractor has an address
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
    state: MarketState, msg: Msg, sid: int, adr_data_root: bytes, n_shards: int
) -> None:
    """Registration(adr_data^h), lines 81-85, with a Merkle root for adr_data^h."""
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

    session.profiles[msg.sender] = Profile(adr_data_root=adr_data_root)
    session.provider_count += 1
    msg.emit(
        "Registration", sid=sid, pid=msg.sender, adr_data_root=adr_data_root, n_shards=n_shards
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
    """SubmitFeatures(adr_feature^h), lines 93-96."""
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


def process_set_candidate(state: MarketState, msg: Msg, sid: int, pid: Address) -> None:
    """SetCandidate(pid), lines 97-100: one candidate per session."""
    session = get_session(state, sid)
    # Verify the caller is the collector
    assert msg.sender == session.collector, "hyperx: caller is not the collector"
    # Verify no candidate was set and the session has not expired
    assert session.st_trade == TradeState.PENDING, "hyperx: session is not pending"
    assert msg.now < session.deadline, "hyperx: session expired"
    # Verify the candidate submitted features
    assert pid in session.profiles, "hyperx: unknown provider"
    assert session.profiles[pid].adr_feature != ZERO_HASH, "hyperx: provider has no features"

    session.candidate = pid
    session.st_trade = TradeState.REVIEWING
    session.deadline = msg.now + session.config.cf_review_s
    msg.emit("SetCandidate", sid=sid, pid=pid, deadline=session.deadline)


def process_submit_review(
    state: MarketState,
    msg: Msg,
    sid: int,
    indices: list[int],
    keys: list[bytes],
    proofs: list[list[bytes]],
    k_data_sealed: bytes,
) -> None:
    """SubmitReview(adr_sample^p, K_data), lines 101-105.

    Departure: K_data is sealed to the collector's public key (the paper reveals it
    in the clear, handing the sampled plaintext to anyone watching the chain), and
    the sampled keys are opened against the Merkle root instead of a hash list.
    """
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
    assert len(keys) == len(indices) and len(proofs) == len(indices), (
        "hyperx: one key and proof per index"
    )
    # Verify each key opens its leaf of the commitment
    assert all(
        is_valid_merkle_proof(key, index, proof, profile.adr_data_root, session.config.cf_shards)
        for key, index, proof in zip(keys, indices, proofs, strict=True)
    ), "hyperx: invalid Merkle proof"
    # Verify the sealed key is present
    assert 0 < len(k_data_sealed) <= MAX_SEALED_KEY_BYTES, "hyperx: sealed key length out of range"

    session.review_submitted = True
    session.deadline = msg.now + session.config.cf_review_s
    msg.emit(
        "SubmitReview",
        sid=sid,
        pid=msg.sender,
        indices=list(indices),
        keys=list(keys),
        k_data_sealed=k_data_sealed,
    )


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
    state: MarketState, msg: Msg, sid: int, chunk_index: int, keys: list[bytes], proof: list[bytes]
) -> None:
    """ClaimReward(adr_data^p), lines 110-115: the payment and the last keys move in
    one transaction.

    Departure: the keys are revealed in aligned chunks of CHUNK_SIZE (one call when
    cf_shards <= CHUNK_SIZE), each opened against the Merkle root; the reward is paid
    with the last chunk. An honest P_opt risks nothing by splitting: after
    set_optimal the collector can no longer stop the claim.
    """
    session = get_session(state, sid)
    # Verify the caller is the optimal provider
    assert msg.sender == session.optimal, "hyperx: caller is not the optimal provider"
    # Verify the deal is open and the claim period has not ended
    assert session.st_trade == TradeState.REVIEWED, "hyperx: session is not reviewed"
    assert msg.now < session.deadline, "hyperx: session expired"
    # Verify the chunks arrive in order and open the commitment
    assert chunk_index == session.chunks_revealed, "hyperx: chunk out of order"
    profile = session.profiles[msg.sender]
    assert is_valid_chunk(
        keys, chunk_index, proof, profile.adr_data_root, session.config.cf_shards
    ), "hyperx: keys do not match the commitment"

    session.chunks_revealed += 1
    is_last = session.chunks_revealed == get_chunk_count(session.config.cf_shards)
    reward = session.config.cf_reward if is_last else 0
    if is_last:
        session.st_trade = TradeState.CLOSED
    msg.emit(
        "ClaimReward",
        sid=sid,
        pid=msg.sender,
        chunk_index=chunk_index,
        keys=list(keys),
        reward=reward,
    )
    if is_last:
        msg.transfer(msg.sender, reward)


def process_claim_deposit(state: MarketState, msg: Msg, sid: int) -> None:
    """ClaimDeposit(), lines 116-120, with the paper's penalties and compensation."""
    session = get_session(state, sid)
    # Verify the caller is a registered provider
    assert msg.sender in session.profiles, "hyperx: caller is not a provider"
    # Verify the session is closed or expired
    assert is_settled(session, msg.now), "hyperx: session is still open"
    profile = session.profiles[msg.sender]
    # Verify the deposit is claimed once, and not forfeited
    assert not profile.deposit_claimed, "hyperx: deposit already claimed"
    assert msg.sender != get_forfeiter(session, msg.now), "hyperx: deposit forfeited"

    amount = get_deposit_payout(session, msg.sender, msg.now)
    profile.deposit_claimed = True
    msg.emit("ClaimDeposit", sid=sid, pid=msg.sender, amount=amount)
    msg.transfer(msg.sender, amount)


def process_claim_refund(state: MarketState, msg: Msg, sid: int) -> None:
    """The collector's side of expiry (not in Figure 3): the reward comes back, less
    any compensation, plus any forfeited deposit."""
    session = get_session(state, sid)
    # Verify the caller is the collector
    assert msg.sender == session.collector, "hyperx: caller is not the collector"
    # Verify the session expired without a deal, and is refunded once
    assert session.st_trade != TradeState.CLOSED, "hyperx: session is closed"
    assert msg.now >= session.deadline, "hyperx: session has not expired"
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
    "set_optimal": process_set_optimal,
    "claim_reward": process_claim_reward,
    "claim_deposit": process_claim_deposit,
    "claim_refund": process_claim_refund,
}
PAYABLE = frozenset({"create_session", "registration"})
# Each interface emits one event named after it in CamelCase (the clients' triggers).
EVENT_NAMES = tuple(name.title().replace("_", "") for name in INTERFACES)
