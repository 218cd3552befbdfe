"""Z3 encoding of one Prot_SC session (`hyperx.spec.contract`) for any number of providers.

The state of one session is a `State` of Z3 terms: the session's words as integers
and booleans, each Profile field as an array from provider address to value, the
contract's balance for this session, and the time of the last accepted call (block
time never goes back). Addresses are integers, ZERO_ADDRESS is 0; bytes32 words
(roots, digests, addresses in the datastore) are integers, ZERO_HASH is 0; the review
key is the integer of its 20-byte address, 0 before set_candidate names one.

Each interface `process_*` of the spec has a `tx_*` twin here that returns a `Step`:
`ok`, the conjunction of the spec's asserts (plus the EVM envelope: a caller is never
the zero address, values are uint256, block time does not go back, non-payable
interfaces take no value), the post-state, and the one transfer it makes.

Abstracted, on purpose: keccak256, the Merkle checks and the secp256k1 seals. A
call's hash- and curve-dependent facts enter as free arguments of the transition
(`indices_ok`, `proofs_ok`, `leaf_opens`, `secret_ok` "the secret is the review
key's", `key_invalid` "the sealed key does not open to its committed hash", and the
digests and the review key's address as integers): in a proof they range over every
value, so an invariant proved here holds whatever the hash function and the curve
do; the differential check (`hyperx.proofs.conformance`) gives them their concrete
meaning through `hyperx.spec.merkle`, `hyperx.spec.sealing` and
`hyperx.spec.secp256k1`. Money, time and the state machine are encoded exactly.

Ghost fields (not in the spec, bookkeeping for the proofs): the wallets of F_BC, who
delivered the master key and when (`master_from`, `claim_time`, set by claim_reward
only), how many times and to whom the reward was paid, how many deposit payouts each
provider got, and an enumeration of the providers whose deposit is still held
(`unclaimed`, `unclaimed_at`, `unclaimed_pos`), which gives the proofs the
cardinality that a sum over an unbounded array does not.
"""

import re
from dataclasses import dataclass, fields, replace

import z3

from hyperx.spec.config import BPS, MAX_PERIOD_S, MAX_SAMPLE, MAX_SHARDS, MIN_PERIOD_S, POINT_BYTES

PENDING, REVIEWING, REVIEWED, CLOSED = 0, 1, 2, 3

_INT = z3.IntSort()
_BOOL = z3.BoolSort()
_INT_ARRAY = z3.ArraySort(_INT, _INT)
_BOOL_ARRAY = z3.ArraySort(_INT, _BOOL)


@dataclass(frozen=True)
class State:
    """One session of Prot_SC, plus F_BC's view of it and the proofs' ghosts."""

    created: z3.BoolRef
    now: z3.ArithRef  # unix seconds of the last accepted call
    # SessionConfig and the collector, fixed by create_session
    collector: z3.ArithRef
    cf_reward: z3.ArithRef
    cf_deposit: z3.ArithRef
    cf_pct_bps: z3.ArithRef
    cf_shards: z3.ArithRef
    cf_evaluation_deadline: z3.ArithRef
    cf_review_s: z3.ArithRef
    cf_claim_s: z3.ArithRef
    adr_theta: z3.ArithRef
    # derived from the config once, at creation (the spec derives them on each use)
    sample_bound: z3.ArithRef  # get_sample_bound
    compensation: z3.ArithRef  # get_compensation
    # Session
    st_trade: z3.ArithRef
    deadline: z3.ArithRef
    candidate: z3.ArithRef
    optimal: z3.ArithRef
    review_key: z3.ArithRef
    delivery_digest: z3.ArithRef
    review_submitted: z3.BoolRef
    review_rejected: z3.BoolRef
    claim_rejected: z3.BoolRef
    refund_claimed: z3.BoolRef
    provider_count: z3.ArithRef
    # Profile, one array per field, indexed by provider address
    registered: z3.ArrayRef
    adr_data_root: z3.ArrayRef
    sample_digest: z3.ArrayRef
    sample_count: z3.ArrayRef
    adr_feature: z3.ArrayRef
    deposit_claimed: z3.ArrayRef
    # F_BC and ghosts
    balance: z3.ArithRef  # wei the contract holds for this session
    wallet: z3.ArrayRef  # wei of every account, relative to its start
    master_from: z3.ArithRef  # who delivered the master key (claim_reward), 0 if nobody
    claim_time: z3.ArithRef  # block time of that claim_reward
    reward_payouts: z3.ArithRef  # transfers that included the reward
    reward_paid_to: z3.ArithRef
    deposit_payouts: z3.ArrayRef  # claim_deposit transfers per provider
    unclaimed: z3.ArithRef  # registered providers whose deposit is still held
    unclaimed_at: z3.ArrayRef  # position -> provider, positions [0, unclaimed)
    unclaimed_pos: z3.ArrayRef  # provider -> position


# SessionConfig's integers; with the collector and the derived bounds, what
# create_session fixes for good.
CONFIG_INTS = (
    "cf_reward",
    "cf_deposit",
    "cf_pct_bps",
    "cf_shards",
    "cf_evaluation_deadline",
    "cf_review_s",
    "cf_claim_s",
)
CONFIG_FIELDS = ("collector", *CONFIG_INTS, "adr_theta", "sample_bound", "compensation")
_BOOL_FIELDS = frozenset(
    {"created", "review_submitted", "review_rejected", "claim_rejected", "refund_claimed"}
)
_BOOL_ARRAYS = frozenset({"registered", "deposit_claimed"})
_INT_ARRAYS = frozenset(
    {
        "adr_data_root",
        "sample_digest",
        "sample_count",
        "adr_feature",
        "wallet",
        "deposit_payouts",
        "unclaimed_at",
        "unclaimed_pos",
    }
)


def field_sort(name: str) -> z3.SortRef:
    if name in _BOOL_FIELDS:
        return _BOOL
    if name in _BOOL_ARRAYS:
        return _BOOL_ARRAY
    if name in _INT_ARRAYS:
        return _INT_ARRAY
    return _INT


FIELD_NAMES = tuple(f.name for f in fields(State))


def fresh_state(prefix: str) -> State:
    """A state whose every field is a fresh constant: 'any state'."""
    return State(**{n: z3.Const(f"{prefix}.{n}", field_sort(n)) for n in FIELD_NAMES})


def initial_state() -> State:
    """Before create_session: no session, nothing escrowed, no provider."""
    values = {}
    for n in FIELD_NAMES:
        sort = field_sort(n)
        if sort == _BOOL:
            values[n] = z3.BoolVal(False)
        elif sort == _BOOL_ARRAY:
            values[n] = z3.K(_INT, z3.BoolVal(False))
        elif sort == _INT_ARRAY:
            values[n] = z3.K(_INT, z3.IntVal(0))
        else:
            values[n] = z3.IntVal(0)
    values["now"] = z3.Int("init.now")
    return State(**values)


@dataclass(frozen=True)
class Call:
    """The message: who calls, with how much value, at which block time."""

    sender: z3.ArithRef
    value: z3.ArithRef
    now: z3.ArithRef


def fresh_call(prefix: str) -> Call:
    return Call(z3.Int(f"{prefix}.sender"), z3.Int(f"{prefix}.value"), z3.Int(f"{prefix}.now"))


@dataclass(frozen=True)
class Step:
    """One transition: accepted iff `ok`; then `post`, paying `pay_amount` to `pay_to`
    (amount 0: no transfer)."""

    ok: z3.BoolRef
    post: State
    pay_to: z3.ArithRef
    pay_amount: z3.ArithRef


# Derivations, one per spec predicate or getter


def get_sample_bound(cf_shards, cf_pct_bps):
    by_pct = (cf_shards * cf_pct_bps) / BPS
    return z3.If(by_pct < MAX_SAMPLE, by_pct, MAX_SAMPLE)


def get_compensation(cf_reward, cf_pct_bps):
    return (cf_reward * cf_pct_bps) / BPS


def get_final_deadline(s: State):
    return s.cf_evaluation_deadline + 4 * s.cf_review_s + s.cf_claim_s


def is_valid_period(seconds):
    return z3.And(MIN_PERIOD_S <= seconds, seconds <= MAX_PERIOD_S)


def is_settled(s: State, now):
    return now >= s.deadline


def is_deal(s: State):
    return z3.And(s.st_trade == CLOSED, z3.Not(s.claim_rejected))


def is_compensated(s: State):
    return z3.And(s.st_trade == REVIEWING, s.review_submitted, z3.Not(s.review_rejected))


def is_forfeit_state(s: State):
    """The flags of a session whose accused provider forfeits once settled (without
    the clock, get_escrow's view): past pending, and neither compensated nor a deal."""
    return z3.And(s.st_trade != PENDING, z3.Not(is_compensated(s)), z3.Not(is_deal(s)))


def get_forfeiter_of_state(s: State):
    """Who forfeits in a forfeit state: P_tc while reviewing, P_opt after."""
    return z3.If(s.st_trade == REVIEWING, s.candidate, s.optimal)


def get_forfeiter(s: State, now):
    return z3.If(
        z3.Not(is_settled(s, now)),
        0,
        z3.If(
            z3.And(s.st_trade == REVIEWING, z3.Not(is_compensated(s))),
            s.candidate,
            z3.If(
                z3.Or(s.st_trade == REVIEWED, z3.And(s.st_trade == CLOSED, s.claim_rejected)),
                s.optimal,
                0,
            ),
        ),
    )


def get_reward_share(s: State, pid):
    """The reward part of pid's deposit payout (the bookkeeping of the reward ghosts)."""
    return z3.If(z3.And(pid == s.optimal, is_deal(s)), s.cf_reward, 0)


def get_deposit_payout(s: State, pid):
    return (
        s.cf_deposit
        + z3.If(z3.And(pid == s.candidate, is_compensated(s)), s.compensation, 0)
        + get_reward_share(s, pid)
    )


def get_refund(s: State, now):
    return (
        s.cf_reward
        - z3.If(is_compensated(s), s.compensation, 0)
        + z3.If(get_forfeiter(s, now) != 0, s.cf_deposit, 0)
    )


def get_escrow(s: State):
    """The spec's get_escrow, with its sum over profiles replaced by the ghost count
    of claimed deposits (provider_count - unclaimed)."""
    compensated = is_compensated(s)
    paid = (
        (s.provider_count - s.unclaimed) * s.cf_deposit
        + z3.If(z3.And(compensated, s.deposit_claimed[s.candidate]), s.compensation, 0)
        + z3.If(z3.And(is_deal(s), s.deposit_claimed[s.optimal]), s.cf_reward, 0)
        + z3.If(
            s.refund_claimed,
            s.cf_reward
            - z3.If(compensated, s.compensation, 0)
            + z3.If(is_forfeit_state(s), s.cf_deposit, 0),
            0,
        )
    )
    return s.cf_reward + s.provider_count * s.cf_deposit - paid


def get_obligations(s: State) -> dict:
    """What each party can still pull, term by term (each term is >= 0): the held
    deposits (less a forfeited one the collector took), the reward owed to P_opt of
    a deal, the compensation owed to P_tc, and the rest of the reward, owed back to
    the collector unless a deal takes it."""
    compensated = is_compensated(s)
    forfeited_taken = z3.If(z3.And(s.refund_claimed, is_forfeit_state(s)), s.cf_deposit, 0)
    return {
        "deposits": s.unclaimed * s.cf_deposit - forfeited_taken,
        "reward_to_optimal": z3.If(
            z3.And(is_deal(s), z3.Not(s.deposit_claimed[s.optimal])), s.cf_reward, 0
        ),
        "compensation_to_candidate": z3.If(
            z3.And(compensated, z3.Not(s.deposit_claimed[s.candidate])), s.compensation, 0
        ),
        "reward_to_collector": z3.If(
            z3.Or(is_deal(s), s.refund_claimed),
            0,
            s.cf_reward - z3.If(compensated, s.compensation, 0),
        ),
    }


# Transitions


def _accept(s: State, m: Call, *, payable: bool):
    """F_BC's envelope around every call, and the value moving into the contract."""
    ok = z3.And(m.now >= s.now, m.sender != 0, m.value >= 0)
    if not payable:
        ok = z3.And(ok, m.value == 0)
    post = replace(
        s,
        now=m.now,
        balance=s.balance + m.value,
        wallet=z3.Store(s.wallet, m.sender, s.wallet[m.sender] - m.value),
    )
    return ok, post


def _pay(s: State, to, amount) -> State:
    return replace(
        s, balance=s.balance - amount, wallet=z3.Store(s.wallet, to, s.wallet[to] + amount)
    )


def _no_pay(ok, post) -> Step:
    return Step(ok, post, z3.IntVal(0), z3.IntVal(0))


def _is_word(word, length):
    """A bytes32 argument that is 32 bytes long and not ZERO_HASH."""
    return z3.And(length == 32, word != 0)


def tx_create_session(
    s: State,
    m: Call,
    cf_reward,
    cf_deposit,
    cf_pct_bps,
    cf_shards,
    cf_evaluation_deadline,
    cf_review_s,
    cf_claim_s,
    adr_theta,
    adr_theta_len,
) -> Step:
    ok, post = _accept(s, m, payable=True)
    uints = (
        cf_reward,
        cf_deposit,
        cf_pct_bps,
        cf_shards,
        cf_evaluation_deadline,
        cf_review_s,
        cf_claim_s,
    )
    ok = z3.And(
        ok,
        z3.Not(s.created),
        *(a >= 0 for a in uints),
        cf_reward > 0,
        m.value == cf_reward,
        0 < cf_pct_bps,
        cf_pct_bps <= BPS,
        0 < cf_shards,
        cf_shards <= MAX_SHARDS,
        cf_shards * cf_pct_bps >= BPS,
        m.now + MIN_PERIOD_S <= cf_evaluation_deadline,
        cf_evaluation_deadline <= m.now + MAX_PERIOD_S,
        is_valid_period(cf_review_s),
        is_valid_period(cf_claim_s),
        _is_word(adr_theta, adr_theta_len),
    )
    post = replace(
        post,
        created=z3.BoolVal(True),
        collector=m.sender,
        cf_reward=cf_reward,
        cf_deposit=cf_deposit,
        cf_pct_bps=cf_pct_bps,
        cf_shards=cf_shards,
        cf_evaluation_deadline=cf_evaluation_deadline,
        cf_review_s=cf_review_s,
        cf_claim_s=cf_claim_s,
        adr_theta=adr_theta,
        sample_bound=get_sample_bound(cf_shards, cf_pct_bps),
        compensation=get_compensation(cf_reward, cf_pct_bps),
        st_trade=z3.IntVal(PENDING),
        deadline=cf_evaluation_deadline + cf_review_s,
        candidate=z3.IntVal(0),
        optimal=z3.IntVal(0),
        review_key=z3.IntVal(0),
        delivery_digest=z3.IntVal(0),
        review_submitted=z3.BoolVal(False),
        review_rejected=z3.BoolVal(False),
        claim_rejected=z3.BoolVal(False),
        refund_claimed=z3.BoolVal(False),
        provider_count=z3.IntVal(0),
    )
    return _no_pay(ok, post)


def tx_registration(
    s: State, m: Call, adr_data_root, adr_data_root_len, n_shards, adr_manifest, adr_manifest_len
) -> Step:
    ok, post = _accept(s, m, payable=True)
    p = m.sender
    ok = z3.And(
        ok,
        s.created,
        s.st_trade == PENDING,
        m.now < s.cf_evaluation_deadline,
        m.value == s.cf_deposit,
        z3.Not(s.registered[p]),
        n_shards == s.cf_shards,
        _is_word(adr_data_root, adr_data_root_len),
        _is_word(adr_manifest, adr_manifest_len),
    )
    post = replace(
        post,
        registered=z3.Store(s.registered, p, True),
        adr_data_root=z3.Store(s.adr_data_root, p, adr_data_root),
        sample_digest=z3.Store(s.sample_digest, p, 0),
        sample_count=z3.Store(s.sample_count, p, 0),
        adr_feature=z3.Store(s.adr_feature, p, 0),
        deposit_claimed=z3.Store(s.deposit_claimed, p, False),
        provider_count=s.provider_count + 1,
        unclaimed=s.unclaimed + 1,
        unclaimed_at=z3.Store(s.unclaimed_at, s.unclaimed, p),
        unclaimed_pos=z3.Store(s.unclaimed_pos, p, s.unclaimed),
    )
    return _no_pay(ok, post)


def tx_sample_data(s: State, m: Call, pid, count, indices_ok, digest) -> Step:
    """`indices_ok`: the indices are ascending shard positions below cf_shards
    (`indices_ascending_in_range` for a concrete list); `digest`: their sample digest."""
    ok, post = _accept(s, m, payable=False)
    ok = z3.And(
        ok,
        s.created,
        m.sender == s.collector,
        s.st_trade == PENDING,
        m.now < s.cf_evaluation_deadline,
        s.registered[pid],
        s.sample_count[pid] == 0,
        0 < count,
        count <= s.sample_bound,
        indices_ok,
    )
    post = replace(
        post,
        sample_digest=z3.Store(s.sample_digest, pid, digest),
        sample_count=z3.Store(s.sample_count, pid, count),
    )
    return _no_pay(ok, post)


def indices_ascending_in_range(indices, cf_shards) -> z3.BoolRef:
    """The spec's index check, for a concrete list against a (symbolic) shard count:
    strictly ascending, the first >= 0 and the last < cf_shards."""
    if not indices:
        return z3.BoolVal(True)
    ascending = all(b > a for a, b in zip(indices, indices[1:], strict=False))
    return z3.And(z3.BoolVal(ascending and indices[0] >= 0), indices[-1] < cf_shards)


def tx_submit_features(s: State, m: Call, adr_feature, adr_feature_len) -> Step:
    ok, post = _accept(s, m, payable=False)
    p = m.sender
    ok = z3.And(
        ok,
        s.created,
        s.registered[p],
        s.st_trade == PENDING,
        m.now < s.cf_evaluation_deadline,
        s.sample_count[p] > 0,
        s.adr_feature[p] == 0,
        _is_word(adr_feature, adr_feature_len),
    )
    post = replace(post, adr_feature=z3.Store(s.adr_feature, p, adr_feature))
    return _no_pay(ok, post)


def tx_set_candidate(s: State, m: Call, pid, review_key_len, review_key) -> Step:
    """`review_key`: the address of the named key (keccak256 of its encoding)."""
    ok, post = _accept(s, m, payable=False)
    ok = z3.And(
        ok,
        s.created,
        m.sender == s.collector,
        s.st_trade == PENDING,
        m.now < s.deadline,
        s.registered[pid],
        s.adr_feature[pid] != 0,
        review_key_len == POINT_BYTES,
    )
    post = replace(
        post,
        candidate=pid,
        review_key=review_key,
        st_trade=z3.IntVal(REVIEWING),
        deadline=m.now + s.cf_review_s,
    )
    return _no_pay(ok, post)


def tx_submit_review(
    s: State, m: Call, digest, lengths_ok, proofs_ok, ephemeral_len, delivery
) -> Step:
    """`digest`: sample digest of the given indices; `lengths_ok`: one leaf, proof and
    sealed key per index; `proofs_ok`: every leaf opens its position of the caller's
    root; `delivery`: the review digest of what is delivered."""
    ok, post = _accept(s, m, payable=False)
    p = m.sender
    ok = z3.And(
        ok,
        s.created,
        p == s.candidate,
        s.st_trade == REVIEWING,
        z3.Not(s.review_submitted),
        m.now < s.deadline,
        digest == s.sample_digest[p],
        lengths_ok,
        proofs_ok,
        ephemeral_len == POINT_BYTES,
    )
    post = replace(
        post,
        review_submitted=z3.BoolVal(True),
        delivery_digest=delivery,
        deadline=m.now + s.cf_review_s,
    )
    return _no_pay(ok, post)


def tx_dispute_review(
    s: State, m: Call, delivery, position, n_sealed, secret_ok, key_invalid
) -> Step:
    """`delivery`: the review digest of what is shown; `n_sealed`: how many sealed keys
    it holds; `secret_ok`: the secret is the review key's; `key_invalid`: the sealed
    key at `position` does not open to its committed hash."""
    ok, post = _accept(s, m, payable=False)
    ok = z3.And(
        ok,
        s.created,
        m.sender == s.collector,
        s.st_trade == REVIEWING,
        s.review_submitted,
        m.now < s.deadline,
        delivery == s.delivery_digest,
        0 <= position,
        position < n_sealed,
        secret_ok,
        key_invalid,
    )
    post = replace(post, review_rejected=z3.BoolVal(True), deadline=m.now)
    return _no_pay(ok, post)


def tx_set_optimal(s: State, m: Call, pid) -> Step:
    ok, post = _accept(s, m, payable=False)
    ok = z3.And(
        ok,
        s.created,
        m.sender == s.collector,
        s.st_trade == REVIEWING,
        m.now < s.deadline,
        s.review_submitted,
        pid == s.candidate,
    )
    post = replace(post, optimal=pid, st_trade=z3.IntVal(REVIEWED), deadline=m.now + s.cf_claim_s)
    return _no_pay(ok, post)


def tx_claim_reward(s: State, m: Call, ephemeral_len, delivery) -> Step:
    """`delivery`: the claim digest of the sealed master key."""
    ok, post = _accept(s, m, payable=False)
    p = m.sender
    ok = z3.And(
        ok,
        s.created,
        p == s.optimal,
        s.st_trade == REVIEWED,
        m.now < s.deadline,
        ephemeral_len == POINT_BYTES,
    )
    post = replace(
        post,
        st_trade=z3.IntVal(CLOSED),
        delivery_digest=delivery,
        deadline=m.now + s.cf_review_s,
        master_from=p,
        claim_time=m.now,
    )
    return _no_pay(ok, post)


def tx_dispute_claim(s: State, m: Call, delivery, leaf_opens, secret_ok, key_invalid) -> Step:
    """`delivery`: the claim digest of what is shown; `leaf_opens`: the leaf opens its
    position of P_opt's root; `secret_ok`: the secret is the review key's;
    `key_invalid`: the master key does not give the leaf's committed key hash."""
    ok, post = _accept(s, m, payable=False)
    ok = z3.And(
        ok,
        s.created,
        m.sender == s.collector,
        s.st_trade == CLOSED,
        m.now < s.deadline,
        delivery == s.delivery_digest,
        leaf_opens,
        secret_ok,
        key_invalid,
    )
    post = replace(post, claim_rejected=z3.BoolVal(True), deadline=m.now)
    return _no_pay(ok, post)


def tx_claim_deposit(s: State, m: Call) -> Step:
    ok, post = _accept(s, m, payable=False)
    p = m.sender
    ok = z3.And(
        ok,
        s.created,
        s.registered[p],
        is_settled(s, m.now),
        z3.Not(s.deposit_claimed[p]),
        p != get_forfeiter(s, m.now),
    )
    amount = get_deposit_payout(s, p)
    with_reward = get_reward_share(s, p) != 0
    # Ghost: swap-remove p from the enumeration of held deposits.
    last = s.unclaimed - 1
    moved = s.unclaimed_at[last]
    here = s.unclaimed_pos[p]
    post = replace(
        post,
        deposit_claimed=z3.Store(s.deposit_claimed, p, True),
        deposit_payouts=z3.Store(s.deposit_payouts, p, s.deposit_payouts[p] + 1),
        reward_payouts=s.reward_payouts + z3.If(with_reward, 1, 0),
        reward_paid_to=z3.If(with_reward, p, s.reward_paid_to),
        unclaimed=last,
        unclaimed_at=z3.Store(s.unclaimed_at, here, moved),
        unclaimed_pos=z3.Store(s.unclaimed_pos, moved, here),
    )
    return Step(ok, _pay(post, p, amount), p, amount)


def tx_claim_refund(s: State, m: Call) -> Step:
    ok, post = _accept(s, m, payable=False)
    ok = z3.And(
        ok,
        s.created,
        m.sender == s.collector,
        is_settled(s, m.now),
        z3.Not(is_deal(s)),
        z3.Not(s.refund_claimed),
    )
    amount = get_refund(s, m.now)
    post = replace(post, refund_claimed=z3.BoolVal(True))
    return Step(ok, _pay(post, m.sender, amount), m.sender, amount)


def tx_tick(s: State, now) -> Step:
    """Time passes without a call (blocks of other people's transactions)."""
    return _no_pay(now >= s.now, replace(s, now=now))


# Argument names of each interface, after `s` and `m` (the proofs make them fresh;
# names starting with '?' are booleans).
TRANSITIONS = {
    "create_session": (
        tx_create_session,
        ("cf_reward", "cf_deposit", "cf_pct_bps", "cf_shards", "cf_evaluation_deadline")
        + ("cf_review_s", "cf_claim_s", "adr_theta", "adr_theta_len"),
    ),
    "registration": (
        tx_registration,
        ("adr_data_root", "adr_data_root_len", "n_shards", "adr_manifest", "adr_manifest_len"),
    ),
    "sample_data": (tx_sample_data, ("pid", "count", "?indices_ok", "digest")),
    "submit_features": (tx_submit_features, ("adr_feature", "adr_feature_len")),
    "set_candidate": (tx_set_candidate, ("pid", "review_key_len", "review_key")),
    "submit_review": (
        tx_submit_review,
        ("digest", "?lengths_ok", "?proofs_ok", "ephemeral_len", "delivery"),
    ),
    "dispute_review": (
        tx_dispute_review,
        ("delivery", "position", "n_sealed", "?secret_ok", "?key_invalid"),
    ),
    "set_optimal": (tx_set_optimal, ("pid",)),
    "claim_reward": (tx_claim_reward, ("ephemeral_len", "delivery")),
    "dispute_claim": (tx_dispute_claim, ("delivery", "?leaf_opens", "?secret_ok", "?key_invalid")),
    "claim_deposit": (tx_claim_deposit, ()),
    "claim_refund": (tx_claim_refund, ()),
}
DISPUTES = ("dispute_review", "dispute_claim")


def symbolic_args(name: str) -> list:
    """Interface `name`'s arguments as constants (booleans for names starting with '?')."""
    _, arg_names = TRANSITIONS[name] if name != "tick" else (None, ())
    return [
        z3.Bool(f"{name}.{a[1:]}") if a.startswith("?") else z3.Int(f"{name}.{a}")
        for a in arg_names
    ]


def symbolic_step(name: str, s: State, m: Call) -> Step:
    """Interface `name` applied to `s` with fresh arguments: every call anyone could
    make. "tick" is time passing, no call."""
    if name == "tick":
        step = tx_tick(s, m.now)
        return replace(step, ok=z3.And(step.ok, m.value == 0))  # no call, no value
    function, _ = TRANSITIONS[name]
    return function(s, m, *symbolic_args(name))


STEP_NAMES = (*TRANSITIONS, "tick")


# Concrete execution of the encoding (differential check, witnesses of non-vacuity)

# Any state and any call: the constants the proofs quantify over, and the ones a
# concrete run substitutes its values for.
ANY_STATE = fresh_state("s")
ANY_CALL = fresh_call("m")


def _make_packed():
    packed = z3.Datatype("hyperx_packed")
    packed.declare(
        "pack",
        ("ints", _INT_ARRAY),
        ("int_arrays", z3.ArraySort(_INT, _INT_ARRAY)),
        ("bool_arrays", z3.ArraySort(_INT, _BOOL_ARRAY)),
    )
    return packed.create()


_PACKED = _make_packed()


class Evaluation:
    """Named terms over ANY_STATE, ANY_CALL and argument constants, packed into one
    term, so that evaluating them all at a concrete point is one substitution, one
    simplification and one printout, read back in Python (building the terms over
    literals, or walking the result through the API, cost most of the differential
    check)."""

    def __init__(self, terms: dict):
        self.kinds: dict[str, z3.SortRef] = {}
        ints = z3.K(_INT, z3.IntVal(0))
        int_arrays = z3.K(_INT, z3.K(_INT, z3.IntVal(0)))
        bool_arrays = z3.K(_INT, z3.K(_INT, z3.BoolVal(False)))
        for position, (name, term) in enumerate(terms.items()):
            sort = term.sort()
            self.kinds[name] = sort
            if sort == _BOOL:
                ints = z3.Store(ints, position, z3.If(term, 1, 0))
            elif sort == _INT:
                ints = z3.Store(ints, position, term)
            elif sort == _INT_ARRAY:
                int_arrays = z3.Store(int_arrays, position, term)
            else:
                bool_arrays = z3.Store(bool_arrays, position, term)
        self.term = _PACKED.pack(ints, int_arrays, bool_arrays)

    def at(self, bindings: list) -> dict:
        """name -> Python value (an int, a bool, or an ArrayValue), with the constants
        of `bindings` (pairs) replaced by their values."""
        packed = z3.simplify(_substitute(self.term, bindings))
        value = _read_sexpr(packed.sexpr())
        if not (isinstance(value, list) and value[0] == "pack"):
            raise ValueError(f"hyperx: encoding left a symbolic value {packed}")
        _, ints, int_arrays, bool_arrays = value
        values = {}
        for position, (name, sort) in enumerate(self.kinds.items()):
            if sort == _BOOL:
                values[name] = ints[position] == 1
            elif sort == _INT:
                values[name] = ints[position]
            else:
                values[name] = (int_arrays if sort == _INT_ARRAY else bool_arrays)[position]
        return values


def _substitute(term: z3.ExprRef, pairs: list) -> z3.ExprRef:
    """z3.substitute through the C API: the Python wrapper checks the sorts of every
    pair, which cost more than all the rest of a step here, where each pair is a
    constant and a literal of its sort."""
    count = len(pairs)
    sources = (z3.Ast * count)(*(source.as_ast() for source, _ in pairs))
    targets = (z3.Ast * count)(*(target.as_ast() for _, target in pairs))
    result = z3.Z3_substitute(term.ctx_ref(), term.as_ast(), count, sources, targets)
    return z3.ExprRef(result, term.ctx)


@dataclass(frozen=True)
class ArrayValue:
    """A concrete array: `default` everywhere but at the keys of `cells`."""

    default: object
    cells: dict

    def __getitem__(self, key):
        return self.cells.get(key, self.default)

    def as_z3(self, sort: z3.ArraySortRef) -> z3.ArrayRef:
        array = z3.K(sort.domain(), _as_z3(self.default))
        for key, value in self.cells.items():
            if value != self.default:
                array = z3.Store(array, key, _as_z3(value))
        return array


_TOKENS = re.compile(r"[()]|[^\s()]+")


def _read_sexpr(text: str):
    """The value a printed literal stands for: an int, a bool, an ArrayValue, or a
    list for a constructor application (its name first)."""
    stack: list = [[]]
    for token in _TOKENS.findall(text):
        if token == "(":
            stack.append([])
        elif token == ")":
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(token)
    return _literal(stack[0][0], {})


def _literal(node, names: dict):
    if isinstance(node, str):
        if node in names:
            return names[node]
        if node in ("true", "false"):
            return node == "true"
        return int(node)
    head = node[0]
    if head == "-" and len(node) == 2:
        return -_literal(node[1], names)
    if head == "let":
        inner = names | {name: _literal(value, names) for name, value in node[1]}
        return _literal(node[2], inner)
    if head == "store":
        base, key, value = (_literal(part, names) for part in node[1:])
        return ArrayValue(base.default, {key: value} | base.cells)
    if isinstance(head, list) and head[:2] == ["as", "const"]:
        return ArrayValue(_literal(node[1], names), {})
    if head == "pack":
        return [head, *(_literal(part, names) for part in node[1:])]
    raise ValueError(f"hyperx: encoding left a symbolic value {node}")


def _as_python(value: z3.ExprRef):
    if not (z3.is_int_value(value) or z3.is_true(value) or z3.is_false(value)):
        value = z3.simplify(value)
    if z3.is_true(value):
        return True
    if z3.is_false(value):
        return False
    if z3.is_int_value(value):
        return value.as_long()
    raise ValueError(f"hyperx: encoding left a symbolic value {value}")


def _as_z3(value):
    if isinstance(value, z3.ExprRef):
        return value
    if isinstance(value, bool):
        return z3.BoolVal(value)
    return z3.IntVal(value)


def _is_array(name: str) -> bool:
    return name in _BOOL_ARRAYS or name in _INT_ARRAYS


_COMPILED: dict = {}


def _compile(name: str) -> tuple[Evaluation, list]:
    """Interface `name` over any state, as an Evaluation of its guard, its transfer
    and the fields it writes; and its argument constants. Cached per transition
    function (the tests swap in broken ones)."""
    key = (name, TRANSITIONS[name][0] if name != "tick" else None)
    if key not in _COMPILED:
        step = symbolic_step(name, ANY_STATE, ANY_CALL)
        written = {
            f: getattr(step.post, f)
            for f in FIELD_NAMES
            if getattr(step.post, f) is not getattr(ANY_STATE, f)
        }
        terms = {"?ok": step.ok, "?pay_to": step.pay_to, "?pay_amount": step.pay_amount}
        _COMPILED[key] = (Evaluation(terms | written), symbolic_args(name))
    return _COMPILED[key]


class ConcreteModel:
    """The encoding run on concrete values: each call evaluates the terms of
    `symbolic_step` (the ones the proofs reason about) with the current state, the
    call and its arguments substituted by literals. Arrays are read back at
    `addresses` (and ZERO_ADDRESS); calls must name no other address."""

    def __init__(self, addresses, now: int = 0):
        self.addresses = tuple(sorted({0, *addresses}))
        self.literals: dict = {}
        self.values: dict = {}
        initial = replace(initial_state(), now=z3.IntVal(now))
        for name in FIELD_NAMES:
            literal = getattr(initial, name)
            if _is_array(name):
                self._set(name, ArrayValue(_as_python(literal.arg(0)), {}))
            else:
                self._set(name, _as_python(literal))

    @property
    def state(self) -> State:
        return State(**self.literals)

    def get(self, name: str):
        return self.values[name]

    def profile(self, name: str, address: int):
        return self.values[name][address]

    def evaluate_all(self, evaluation: Evaluation, now: int) -> dict:
        """The values of an Evaluation over ANY_STATE at this state, and time `now`."""
        return evaluation.at(self._bindings() + [(ANY_CALL.now, z3.IntVal(now))])

    def apply(self, name: str, sender: int, value: int, now: int, *args):
        """Run one call; return (accepted, (payee, amount) or None)."""
        evaluation, constants = _compile(name)
        call = zip(
            (ANY_CALL.sender, ANY_CALL.value, ANY_CALL.now),
            (z3.IntVal(sender), z3.IntVal(value), z3.IntVal(now)),
            strict=True,
        )
        arguments = zip(constants, (_as_z3(a) for a in args), strict=True)
        values = evaluation.at(self._bindings() + list(call) + list(arguments))
        if not values.pop("?ok"):
            return False, None
        payee, amount = values.pop("?pay_to"), values.pop("?pay_amount")
        for name, new in values.items():
            self._set(name, new)
        return True, ((payee, amount) if amount else None)

    def _bindings(self) -> list:
        return [(getattr(ANY_STATE, name), self.literals[name]) for name in FIELD_NAMES]

    def _set(self, name: str, value) -> None:
        if not _is_array(name):
            self.values[name] = value
            self.literals[name] = _as_z3(value)
            return
        domain = range(len(self.addresses) + 1) if name == "unclaimed_at" else self.addresses
        self.values[name] = {key: value[key] for key in domain}
        self.literals[name] = value.as_z3(field_sort(name))
