"""Z3 encoding of one Prot_SC session (`hyperx.spec.contract`) for any number of providers.

The state of one session is a `State` of Z3 terms: the session's words as integers
and booleans, each Profile field as an array from provider address to value, the
contract's balance for this session, and the time of the last accepted call (block
time never goes back). Addresses are integers, ZERO_ADDRESS is 0; bytes32 words
(roots, digests, addresses in the datastore) are integers, ZERO_HASH is 0.

Each interface `process_*` of the spec has a `tx_*` twin here that returns a `Step`:
`ok`, the conjunction of the spec's asserts (plus the EVM envelope: a caller is never
the zero address, values are uint256, block time does not go back, non-payable
interfaces take no value), the post-state, and the one transfer it makes.

Abstracted, on purpose: keccak256 and the Merkle checks. A call's hash-dependent facts
enter as free arguments of the transition (`indices_ok`, `proofs_ok`, `chunk_opens`,
the sample `digest`): in a proof they range over every value, so an invariant proved
here holds whatever the hash function does; the differential check
(`hyperx.proofs.conformance`) gives them their concrete meaning through
`hyperx.spec.merkle`. Money, time and the state machine are encoded exactly.

Ghost fields (not in the spec, bookkeeping for the proofs): the wallets of F_BC, how
many times and to whom claim_reward paid, how many deposit payouts each provider got,
and an enumeration of the providers whose deposit is still held (`unclaimed`,
`unclaimed_at`, `unclaimed_pos`), which gives the proofs the cardinality that a
sum over an unbounded array does not.
"""

from dataclasses import dataclass, fields, replace

import z3

from hyperx.spec.config import (
    BPS,
    CHUNK_SIZE,
    MAX_PERIOD_S,
    MAX_SAMPLE,
    MAX_SEALED_KEY_BYTES,
    MAX_SHARDS,
)

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
    chunk_count: z3.ArithRef  # get_chunk_count(cf_shards)
    # Session
    st_trade: z3.ArithRef
    deadline: z3.ArithRef
    candidate: z3.ArithRef
    optimal: z3.ArithRef
    review_submitted: z3.BoolRef
    chunks_revealed: z3.ArithRef
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
    reward_payouts: z3.ArithRef  # transfers of the reward made by claim_reward
    reward_paid_to: z3.ArithRef
    deposit_payouts: z3.ArrayRef  # claim_deposit transfers per provider
    unclaimed: z3.ArithRef  # registered providers whose deposit is still held
    unclaimed_at: z3.ArrayRef  # position -> provider, positions [0, unclaimed)
    unclaimed_pos: z3.ArrayRef  # provider -> position


GHOSTS = frozenset(
    {
        "balance",
        "wallet",
        "reward_payouts",
        "reward_paid_to",
        "deposit_payouts",
        "unclaimed",
        "unclaimed_at",
        "unclaimed_pos",
    }
)
PROFILE_FIELDS = (
    "registered",
    "adr_data_root",
    "sample_digest",
    "sample_count",
    "adr_feature",
    "deposit_claimed",
)
_BOOL_FIELDS = frozenset({"created", "review_submitted", "refund_claimed"})
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


def get_chunk_count(n_leaves):
    return (n_leaves + CHUNK_SIZE - 1) / CHUNK_SIZE


def get_sample_bound(cf_shards, cf_pct_bps):
    by_pct = (cf_shards * cf_pct_bps) / BPS
    return z3.If(by_pct < MAX_SAMPLE, by_pct, MAX_SAMPLE)


def get_compensation(cf_reward, cf_pct_bps):
    return (cf_reward * cf_pct_bps) / BPS


def get_final_deadline(s: State):
    return s.cf_evaluation_deadline + 3 * s.cf_review_s + s.cf_claim_s


def is_expired(s: State, now):
    return z3.And(s.st_trade != CLOSED, now >= s.deadline)


def is_settled(s: State, now):
    return z3.Or(s.st_trade == CLOSED, now >= s.deadline)


def is_compensated(s: State, now):
    return z3.And(is_expired(s, now), s.st_trade == REVIEWING, s.review_submitted)


def get_forfeiter(s: State, now):
    return z3.If(
        z3.Not(is_expired(s, now)),
        0,
        z3.If(
            z3.And(s.st_trade == REVIEWING, z3.Not(s.review_submitted)),
            s.candidate,
            z3.If(s.st_trade == REVIEWED, s.optimal, 0),
        ),
    )


def get_deposit_payout(s: State, pid, now):
    return s.cf_deposit + z3.If(
        z3.And(pid == s.candidate, is_compensated(s, now)), s.compensation, 0
    )


def get_refund(s: State, now):
    return (
        s.cf_reward
        - z3.If(is_compensated(s, now), s.compensation, 0)
        + z3.If(get_forfeiter(s, now) != 0, s.cf_deposit, 0)
    )


def is_compensation_state(s: State):
    """The flags of a compensated session, without the clock (get_escrow's view)."""
    return z3.And(s.st_trade == REVIEWING, s.review_submitted)


def is_forfeit_state(s: State):
    return z3.Or(
        z3.And(s.st_trade == REVIEWING, z3.Not(s.review_submitted)), s.st_trade == REVIEWED
    )


def get_forfeiter_of_state(s: State):
    """Who forfeits once this state expires: P_tc before its review, P_opt after."""
    return z3.If(s.st_trade == REVIEWED, s.optimal, s.candidate)


def get_escrow(s: State):
    """The spec's get_escrow, with its sum over profiles replaced by the ghost count
    of claimed deposits (provider_count - unclaimed)."""
    compensated = is_compensation_state(s)
    paid = (
        z3.If(s.st_trade == CLOSED, s.cf_reward, 0)
        + (s.provider_count - s.unclaimed) * s.cf_deposit
        + z3.If(z3.And(compensated, s.deposit_claimed[s.candidate]), s.compensation, 0)
        + z3.If(
            s.refund_claimed,
            s.cf_reward
            - z3.If(compensated, s.compensation, 0)
            + z3.If(is_forfeit_state(s), s.cf_deposit, 0),
            0,
        )
    )
    return s.cf_reward + s.provider_count * s.cf_deposit - paid


def get_obligations(s: State):
    """What every party can still pull, term by term (each term is >= 0): the held
    deposits, the reward (or what is left of it), the unpaid compensation."""
    compensated = is_compensation_state(s)
    forfeited_held = z3.If(z3.And(s.refund_claimed, is_forfeit_state(s)), s.cf_deposit, 0)
    deposits = s.unclaimed * s.cf_deposit - forfeited_held
    reward = z3.If(
        z3.Or(s.st_trade == CLOSED, s.refund_claimed),
        0,
        s.cf_reward - z3.If(z3.And(compensated, s.deposit_claimed[s.candidate]), s.compensation, 0),
    )
    compensation = z3.If(
        z3.And(s.refund_claimed, compensated, z3.Not(s.deposit_claimed[s.candidate])),
        s.compensation,
        0,
    )
    return deposits, reward, compensation


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
        m.now < cf_evaluation_deadline,
        cf_evaluation_deadline <= m.now + MAX_PERIOD_S,
        0 < cf_review_s,
        cf_review_s <= MAX_PERIOD_S,
        0 < cf_claim_s,
        cf_claim_s <= MAX_PERIOD_S,
        adr_theta_len == 32,
        adr_theta != 0,
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
        chunk_count=get_chunk_count(cf_shards),
        st_trade=z3.IntVal(PENDING),
        deadline=cf_evaluation_deadline + cf_review_s,
        candidate=z3.IntVal(0),
        optimal=z3.IntVal(0),
        review_submitted=z3.BoolVal(False),
        chunks_revealed=z3.IntVal(0),
        refund_claimed=z3.BoolVal(False),
        provider_count=z3.IntVal(0),
    )
    return _no_pay(ok, post)


def tx_registration(s: State, m: Call, adr_data_root, adr_data_root_len, n_shards) -> Step:
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
        adr_data_root_len == 32,
        adr_data_root != 0,
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
        adr_feature_len == 32,
        adr_feature != 0,
    )
    post = replace(post, adr_feature=z3.Store(s.adr_feature, p, adr_feature))
    return _no_pay(ok, post)


def tx_set_candidate(s: State, m: Call, pid) -> Step:
    ok, post = _accept(s, m, payable=False)
    ok = z3.And(
        ok,
        s.created,
        m.sender == s.collector,
        s.st_trade == PENDING,
        m.now < s.deadline,
        s.registered[pid],
        s.adr_feature[pid] != 0,
    )
    post = replace(
        post, candidate=pid, st_trade=z3.IntVal(REVIEWING), deadline=m.now + s.cf_review_s
    )
    return _no_pay(ok, post)


def tx_submit_review(s: State, m: Call, digest, lengths_ok, proofs_ok, k_data_sealed_len) -> Step:
    """`digest`: sample digest of the given indices; `lengths_ok`: one key and one proof
    per index; `proofs_ok`: every key opens its leaf of the caller's root."""
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
        0 < k_data_sealed_len,
        k_data_sealed_len <= MAX_SEALED_KEY_BYTES,
    )
    post = replace(post, review_submitted=z3.BoolVal(True), deadline=m.now + s.cf_review_s)
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


def tx_claim_reward(s: State, m: Call, chunk_index, chunk_opens) -> Step:
    """`chunk_opens`: the keys open chunk `chunk_index` of the caller's root (the
    hash part of is_valid_chunk; its bound chunk_index < chunk_count is kept exact)."""
    ok, post = _accept(s, m, payable=False)
    p = m.sender
    ok = z3.And(
        ok,
        s.created,
        p == s.optimal,
        s.st_trade == REVIEWED,
        m.now < s.deadline,
        chunk_index == s.chunks_revealed,
        chunk_index < s.chunk_count,
        chunk_opens,
    )
    revealed = s.chunks_revealed + 1
    is_last = revealed == s.chunk_count
    reward = z3.If(is_last, s.cf_reward, 0)
    post = replace(
        post,
        chunks_revealed=revealed,
        st_trade=z3.If(is_last, CLOSED, s.st_trade),
        reward_payouts=s.reward_payouts + z3.If(is_last, 1, 0),
        reward_paid_to=z3.If(is_last, p, s.reward_paid_to),
    )
    return Step(ok, _pay(post, p, reward), p, reward)


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
    amount = get_deposit_payout(s, p, m.now)
    # Ghost: swap-remove p from the enumeration of held deposits.
    last = s.unclaimed - 1
    moved = s.unclaimed_at[last]
    here = s.unclaimed_pos[p]
    post = replace(
        post,
        deposit_claimed=z3.Store(s.deposit_claimed, p, True),
        deposit_payouts=z3.Store(s.deposit_payouts, p, s.deposit_payouts[p] + 1),
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
        s.st_trade != CLOSED,
        m.now >= s.deadline,
        z3.Not(s.refund_claimed),
    )
    amount = get_refund(s, m.now)
    post = replace(post, refund_claimed=z3.BoolVal(True))
    return Step(ok, _pay(post, m.sender, amount), m.sender, amount)


def tx_tick(s: State, now) -> Step:
    """Time passes without a call (blocks of other people's transactions)."""
    return _no_pay(now >= s.now, replace(s, now=now))


# Argument sorts of each interface, after `s` and `m` (the proofs make them fresh).
TRANSITIONS = {
    "create_session": (
        tx_create_session,
        ("cf_reward", "cf_deposit", "cf_pct_bps", "cf_shards", "cf_evaluation_deadline")
        + ("cf_review_s", "cf_claim_s", "adr_theta", "adr_theta_len"),
    ),
    "registration": (tx_registration, ("adr_data_root", "adr_data_root_len", "n_shards")),
    "sample_data": (tx_sample_data, ("pid", "count", "?indices_ok", "digest")),
    "submit_features": (tx_submit_features, ("adr_feature", "adr_feature_len")),
    "set_candidate": (tx_set_candidate, ("pid",)),
    "submit_review": (
        tx_submit_review,
        ("digest", "?lengths_ok", "?proofs_ok", "k_data_sealed_len"),
    ),
    "set_optimal": (tx_set_optimal, ("pid",)),
    "claim_reward": (tx_claim_reward, ("chunk_index", "?chunk_opens")),
    "claim_deposit": (tx_claim_deposit, ()),
    "claim_refund": (tx_claim_refund, ()),
}


def symbolic_step(name: str, s: State, m: Call) -> Step:
    """Interface `name` applied to `s` with fresh arguments (names starting with '?'
    are booleans): every call anyone could make."""
    if name == "tick":
        step = tx_tick(s, m.now)
        return replace(step, ok=z3.And(step.ok, m.value == 0))  # no call, no value
    function, arg_names = TRANSITIONS[name]
    args = [
        z3.Bool(f"{name}.{a[1:]}") if a.startswith("?") else z3.Int(f"{name}.{a}")
        for a in arg_names
    ]
    return function(s, m, *args)


STEP_NAMES = (*TRANSITIONS, "tick")


# Concrete execution of the encoding (differential check, witnesses of non-vacuity)


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


class ConcreteModel:
    """The encoding run on concrete values: every call is a `tx_*` on a state of
    literals, simplified back to literals. Arrays are read back at `addresses` (and
    ZERO_ADDRESS); calls must name no other address."""

    def __init__(self, addresses, now: int = 0):
        self.addresses = tuple(sorted({0, *addresses}))
        self.state = replace(initial_state(), now=z3.IntVal(now))
        self.values: dict = {}
        self.state = self._normalize(self.state, None)

    def get(self, name: str):
        return self.values[name]

    def profile(self, name: str, address: int):
        return self.values[name][address]

    def evaluate(self, term) -> object:
        return _as_python(term)

    def step(self, name: str, sender: int, value: int, now: int, *args) -> Step:
        call = Call(z3.IntVal(sender), z3.IntVal(value), z3.IntVal(now))
        if name == "tick":
            return tx_tick(self.state, call.now)
        function, _ = TRANSITIONS[name]
        return function(self.state, call, *(_as_z3(a) for a in args))

    def apply(self, name: str, sender: int, value: int, now: int, *args):
        """Run one call; return (accepted, (payee, amount) or None)."""
        step = self.step(name, sender, value, now, *args)
        if not _as_python(step.ok):
            return False, None
        amount = _as_python(step.pay_amount)
        payee = _as_python(step.pay_to)
        self.state = self._normalize(step.post, self.state)
        return True, ((payee, amount) if amount else None)

    def _normalize(self, s: State, before: State | None) -> State:
        """Literals again, and their Python values; fields the call left alone (the
        same term object) are kept as they are."""
        values = {}
        positions = range(len(self.addresses) + 1)
        for name in FIELD_NAMES:
            term = getattr(s, name)
            if before is not None and term is getattr(before, name):
                values[name] = term
                continue
            if not _is_array(name):
                values[name] = z3.simplify(term)
                self.values[name] = _as_python(values[name])
                continue
            domain = positions if name == "unclaimed_at" else self.addresses
            bools = name in _BOOL_ARRAYS
            array = z3.K(_INT, z3.BoolVal(False) if bools else z3.IntVal(0))
            read = {}
            for key in domain:
                cell = z3.simplify(term[key])
                read[key] = _as_python(cell)
                array = z3.Store(array, key, cell)
            values[name] = array
            self.values[name] = read
        return State(**values)
