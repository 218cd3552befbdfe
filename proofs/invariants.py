"""Named safety invariants of Prot_SC, proved inductively over `hyperx.proofs.model`.

A state invariant I is proved by two kinds of query: Init => I, and, for every
transition T (the twelve interfaces and the passing of time),
Inv(s) /\\ T(s, s') => I(s'), where Inv is the conjunction of all state invariants. Each query is one Z3 call with
its own timeout; an invariant is "proved" when every query is unsat. Because every
query assumes the same conjunction, the conjunction is inductive exactly when all of
them are proved, so each member is sound only together with the others: the report
marks an invariant proved only if its own queries are unsat, and `run_proofs`
fails the run if any member fails.

A step property P(s, s', call) (monotonicity, access control, conservation, the
disputes) is proved by Inv(s) /\\ T(s, s') => P for every transition it names. The
access-control properties are stated over the whole transition relation (whoever
calls, whichever interface, these fields do not move unless the caller is ...), not
as the guards they follow from, so a guard that is missing anywhere shows up as a
counterexample. The money is exact (unbounded integers, the contract balance of the
session, F_BC's wallets), providers are unbounded (arrays), hash and curve facts are
free (see `model`).

A property is a Z3 formula or a dict of named facts (all must hold); a counterexample
names the facts it violates (for a state invariant, its conjuncts, as Z3 prints them)
and the values of the main words of the state.
"""

import time
from collections.abc import Callable, Iterable

import z3

from hyperx.spec.config import BPS, MAX_SAMPLE, MAX_SHARDS

from .model import (
    ANY_STATE,
    CLOSED,
    CONFIG_FIELDS,
    DISPUTES,
    PENDING,
    REVIEWED,
    REVIEWING,
    STEP_NAMES,
    TRANSITIONS,
    Call,
    ConcreteModel,
    State,
    Step,
    get_compensation,
    get_escrow,
    get_final_deadline,
    get_forfeiter,
    get_forfeiter_of_state,
    get_obligations,
    get_sample_bound,
    initial_state,
    is_deal,
    is_forfeit_state,
    is_settled,
    is_valid_period,
    symbolic_step,
)
from .prover import Query, decide
from .result import ProofResult

TIMEOUT_MS = 20_000

_p = z3.Int("p")  # a provider, bound by the quantifiers below
_i = z3.Int("i")  # a position in the enumeration of held deposits


def _when_created(s: State, *facts) -> z3.BoolRef:
    return z3.Implies(s.created, z3.And(*facts))


def inv_not_created_is_empty(s: State):
    """Before create_session nothing is held, nobody is registered or named."""
    return z3.Implies(
        z3.Not(s.created),
        z3.And(
            s.balance == 0,
            s.collector == 0,
            s.provider_count == 0,
            s.unclaimed == 0,
            s.reward_payouts == 0,
            s.master_from == 0,
            s.st_trade == PENDING,
            s.candidate == 0,
            s.optimal == 0,
            s.review_key == 0,
            s.delivery_digest == 0,
            z3.Not(s.review_submitted),
            z3.Not(s.review_rejected),
            z3.Not(s.claim_rejected),
            z3.Not(s.refund_claimed),
            z3.ForAll(
                [_p],
                z3.And(
                    z3.Not(s.registered[_p]),
                    z3.Not(s.deposit_claimed[_p]),
                    s.deposit_payouts[_p] == 0,
                    s.sample_count[_p] == 0,
                    s.sample_digest[_p] == 0,
                    s.adr_feature[_p] == 0,
                ),
            ),
        ),
    )


def inv_config_well_formed(s: State):
    """SC_config satisfies create_session's guards and its derived bounds."""
    return _when_created(
        s,
        s.collector != 0,
        s.cf_reward > 0,
        s.cf_deposit >= 0,
        0 < s.cf_pct_bps,
        s.cf_pct_bps <= BPS,
        0 < s.cf_shards,
        s.cf_shards <= MAX_SHARDS,
        is_valid_period(s.cf_review_s),
        is_valid_period(s.cf_claim_s),
        s.sample_bound == get_sample_bound(s.cf_shards, s.cf_pct_bps),
        1 <= s.sample_bound,
        s.sample_bound <= MAX_SAMPLE,
        s.compensation == get_compensation(s.cf_reward, s.cf_pct_bps),
        0 <= s.compensation,
        s.compensation <= s.cf_reward,
    )


def inv_state_machine(s: State):
    """st_trade in range; a candidate exists from reviewing on, the optimal provider
    (= the candidate, whose review stood) from reviewed on; a rejected review leaves
    the session reviewing, a rejected claim closed."""
    return _when_created(
        s,
        PENDING <= s.st_trade,
        s.st_trade <= CLOSED,
        (s.st_trade >= REVIEWING) == (s.candidate != 0),
        (s.st_trade >= REVIEWED) == (s.optimal != 0),
        z3.Implies(
            s.st_trade >= REVIEWING,
            z3.And(s.registered[s.candidate], s.adr_feature[s.candidate] != 0),
        ),
        z3.Implies(
            s.st_trade >= REVIEWED,
            z3.And(s.optimal == s.candidate, s.review_submitted, z3.Not(s.review_rejected)),
        ),
        z3.Implies(s.st_trade == PENDING, z3.Not(s.review_submitted)),
        z3.Implies(s.review_rejected, z3.And(s.st_trade == REVIEWING, s.review_submitted)),
        z3.Implies(s.claim_rejected, s.st_trade == CLOSED),
    )


def inv_deadline_bound(s: State):
    """The deadline of each state; the complaint window runs cf_review_s from the
    ClaimReward; none lies past get_final_deadline."""
    review = s.cf_review_s
    base = s.cf_evaluation_deadline
    closed = s.st_trade == CLOSED
    return _when_created(
        s,
        z3.Implies(s.st_trade == PENDING, s.deadline == base + review),
        z3.Implies(
            z3.And(s.st_trade == REVIEWING, z3.Not(s.review_submitted)),
            s.deadline <= base + 2 * review,
        ),
        z3.Implies(
            z3.And(s.st_trade == REVIEWING, s.review_submitted), s.deadline <= base + 3 * review
        ),
        z3.Implies(s.st_trade == REVIEWED, s.deadline <= base + 3 * review + s.cf_claim_s),
        z3.Implies(
            closed, z3.And(s.claim_time < base + 3 * review + s.cf_claim_s, s.claim_time <= s.now)
        ),
        z3.Implies(z3.And(closed, z3.Not(s.claim_rejected)), s.deadline == s.claim_time + review),
        z3.Implies(
            s.claim_rejected,
            z3.And(s.claim_time <= s.deadline, s.deadline < s.claim_time + review),
        ),
        s.deadline <= get_final_deadline(s),
    )


def inv_dispute_ends_session(s: State):
    """A successful dispute leaves the session settled from then on."""
    return _when_created(
        s,
        z3.Implies(z3.Or(s.review_rejected, s.claim_rejected), is_settled(s, s.now)),
    )


def inv_profiles_well_formed(s: State):
    """Unregistered addresses hold nothing; features only after a sample."""
    return _when_created(
        s,
        z3.ForAll(
            [_p],
            z3.And(
                z3.Implies(
                    z3.Not(s.registered[_p]),
                    z3.And(
                        s.sample_count[_p] == 0,
                        s.sample_digest[_p] == 0,
                        s.adr_feature[_p] == 0,
                        z3.Not(s.deposit_claimed[_p]),
                    ),
                ),
                z3.Implies(s.registered[_p], s.adr_data_root[_p] != 0),
                z3.Implies(s.adr_feature[_p] != 0, s.sample_count[_p] > 0),
            ),
        ),
        z3.Not(s.registered[0]),
    )


def inv_sample_bound(s: State):
    """Every sample holds between 0 and cf_shards * CF_% / BPS (and MAX_SAMPLE) shards."""
    return _when_created(
        s,
        z3.ForAll(
            [_p],
            z3.And(
                0 <= s.sample_count[_p],
                s.sample_count[_p] <= s.sample_bound,
                s.sample_count[_p] * BPS <= s.cf_shards * s.cf_pct_bps,
            ),
        ),
    )


def inv_deposit_once(s: State):
    """Each provider got at most one deposit payout: one iff its flag is set."""
    return z3.ForAll(
        [_p],
        z3.And(
            s.deposit_payouts[_p] == z3.If(s.deposit_claimed[_p], 1, 0),
            z3.Implies(s.deposit_claimed[_p], s.registered[_p]),
        ),
    )


def inv_held_deposits_enumerated(s: State):
    """The ghost enumeration lists exactly the registered providers whose deposit
    is held, each once (gives the proofs the count of held deposits)."""
    held = z3.And(s.registered[_p], z3.Not(s.deposit_claimed[_p]))
    listed = s.unclaimed_at[_i]
    return z3.And(
        0 <= s.unclaimed,
        s.unclaimed <= s.provider_count,
        z3.ForAll(
            [_p],
            z3.Implies(
                held,
                z3.And(
                    0 <= s.unclaimed_pos[_p],
                    s.unclaimed_pos[_p] < s.unclaimed,
                    s.unclaimed_at[s.unclaimed_pos[_p]] == _p,
                ),
            ),
        ),
        z3.ForAll(
            [_i],
            z3.Implies(
                z3.And(0 <= _i, _i < s.unclaimed),
                z3.And(
                    s.registered[listed],
                    z3.Not(s.deposit_claimed[listed]),
                    s.unclaimed_pos[listed] == _i,
                ),
            ),
        ),
    )


def inv_settled_is_frozen(s: State):
    """Pulls happen only once the session is settled, the refund only without a
    deal, and the forfeiter never pulls."""
    return _when_created(
        s,
        z3.ForAll([_p], z3.Implies(s.deposit_claimed[_p], is_settled(s, s.now))),
        z3.Implies(s.refund_claimed, z3.And(is_settled(s, s.now), z3.Not(is_deal(s)))),
        z3.Implies(is_forfeit_state(s), z3.Not(s.deposit_claimed[get_forfeiter_of_state(s)])),
    )


def inv_single_reward_payout(s: State):
    """The reward left the contract at most once: to P_opt of a deal that pulled, and
    then never back to the collector."""
    paid = s.reward_payouts == 1
    return z3.And(
        0 <= s.reward_payouts,
        s.reward_payouts <= 1,
        paid == z3.And(s.created, is_deal(s), s.deposit_claimed[s.optimal]),
        z3.Implies(
            paid,
            z3.And(s.reward_paid_to == s.optimal, s.optimal != 0, z3.Not(s.refund_claimed)),
        ),
    )


def inv_reward_only_for_delivered_key(s: State):
    """The master key was delivered (by P_opt, in claim_reward) iff the session is
    closed; the reward was paid only for a delivered key, after its complaint window,
    and not after a successful dispute_claim."""
    delivered = s.master_from != 0
    return z3.And(
        delivered == z3.And(s.created, s.st_trade == CLOSED),
        z3.Implies(delivered, s.master_from == s.optimal),
        z3.Implies(
            s.reward_payouts == 1,
            z3.And(
                s.master_from == s.reward_paid_to,
                s.now >= s.claim_time + s.cf_review_s,
                z3.Not(s.claim_rejected),
            ),
        ),
    )


def inv_balance_equals_escrow(s: State):
    """Solvency, 1: the contract holds exactly get_escrow (what came in less what
    went out, as the spec computes it)."""
    return _when_created(s, s.balance == get_escrow(s))


def inv_escrow_covers_obligations(s: State):
    """Solvency, 2: the escrow is the sum of what each party may still pull, and each
    of those terms is non-negative."""
    terms = get_obligations(s).values()
    return _when_created(
        s, *(term >= 0 for term in terms), s.balance == z3.Sum(*terms), s.balance >= 0
    )


STATE_INVARIANTS: dict[str, Callable[[State], z3.BoolRef]] = {
    "not_created_is_empty": inv_not_created_is_empty,
    "config_well_formed": inv_config_well_formed,
    "state_machine_shape": inv_state_machine,
    "deadline_bound": inv_deadline_bound,
    "dispute_ends_session": inv_dispute_ends_session,
    "profiles_well_formed": inv_profiles_well_formed,
    "sample_bound": inv_sample_bound,
    "deposit_once": inv_deposit_once,
    "held_deposits_enumerated": inv_held_deposits_enumerated,
    "settled_is_frozen": inv_settled_is_frozen,
    "single_reward_payout": inv_single_reward_payout,
    "reward_only_for_delivered_key": inv_reward_only_for_delivered_key,
    "solvency_balance_equals_escrow": inv_balance_equals_escrow,
    "solvency_escrow_covers_obligations": inv_escrow_covers_obligations,
}


def get_inductive_invariant(s: State) -> z3.BoolRef:
    return z3.And(*(inv(s) for inv in STATE_INVARIANTS.values()))


# Step properties: P(pre, step, call, name) -> BoolRef or {fact name: BoolRef}


def _unchanged(s: State, step: Step, names: Iterable[str]) -> dict:
    return {f: getattr(step.post, f) == getattr(s, f) for f in names}


def step_st_trade_monotone(s: State, step: Step, m: Call, name: str):
    """st_trade moves only forward, one state at a time."""
    t = step.post.st_trade
    return z3.Implies(s.created, z3.Or(t == s.st_trade, t == s.st_trade + 1))


def step_config_immutable(s: State, step: Step, m: Call, name: str):
    """Once the session exists, its collector and SC_config never change."""
    return {
        f: z3.Implies(s.created, fact)
        for f, fact in _unchanged(s, step, ("created", *CONFIG_FIELDS)).items()
    }


def step_sample_set_once(s: State, step: Step, m: Call, name: str):
    """Once a provider is sampled, its sample never changes."""
    post = step.post
    return z3.ForAll(
        [_p],
        z3.Implies(
            z3.And(s.created, s.sample_count[_p] != 0),
            z3.And(
                post.sample_count[_p] == s.sample_count[_p],
                post.sample_digest[_p] == s.sample_digest[_p],
            ),
        ),
    )


def step_no_overdraft(s: State, step: Step, m: Call, name: str):
    """Every payout is non-negative and at most what the contract holds."""
    return z3.And(step.pay_amount >= 0, step.pay_amount <= s.balance + m.value)


def step_money_conservation(s: State, step: Step, m: Call, name: str):
    """Value only moves between the caller, the payee and the contract: the sum of the
    three is unchanged and every other account is untouched."""
    post = step.post
    a = z3.Int("other")
    if name == "tick":
        return z3.And(post.balance == s.balance, post.wallet == s.wallet)
    parties = z3.If(
        m.sender == step.pay_to,
        s.wallet[m.sender],
        s.wallet[m.sender] + s.wallet[step.pay_to],
    )
    parties_post = z3.If(
        m.sender == step.pay_to,
        post.wallet[m.sender],
        post.wallet[m.sender] + post.wallet[step.pay_to],
    )
    return z3.And(
        post.balance + parties_post == s.balance + parties,
        z3.ForAll(
            [a],
            z3.Implies(z3.And(a != m.sender, a != step.pay_to), post.wallet[a] == s.wallet[a]),
        ),
    )


# What a settled session keeps: every field but the pull flags and the ghosts of pulls.
COURSE_FIELDS = (
    "st_trade",
    "deadline",
    "candidate",
    "optimal",
    "review_key",
    "delivery_digest",
    "review_submitted",
    "review_rejected",
    "claim_rejected",
    "provider_count",
    "registered",
    "adr_data_root",
    "sample_digest",
    "sample_count",
    "adr_feature",
    "master_from",
    "claim_time",
)


def step_settled_is_frozen(s: State, step: Step, m: Call, name: str):
    """Once settled (its deadline passed), no call changes a session's course: only
    pulls move."""
    settled = z3.And(s.created, is_settled(s, m.now))
    return {f: z3.Implies(settled, fact) for f, fact in _unchanged(s, step, COURSE_FIELDS).items()}


def step_reward_after_complaint_window(s: State, step: Step, m: Call, name: str):
    """The reward leaves only to P_opt, in full, once, for a master key P_opt
    delivered, after its complaint window, and not after a successful dispute_claim;
    a pull other than the refund that pays more than a deposit and the compensation
    is such a payout."""
    post = step.post
    paid = post.reward_payouts != s.reward_payouts
    large = z3.And(s.created, step.pay_amount > s.cf_deposit + s.compensation)
    facts = {
        "to_optimal": z3.And(step.pay_to == s.optimal, s.optimal != 0),
        "in_full": step.pay_amount >= s.cf_reward,
        "once": z3.And(s.reward_payouts == 0, post.reward_payouts == 1),
        "key_delivered_by_payee": s.master_from == step.pay_to,
        "after_window": m.now >= s.claim_time + s.cf_review_s,
        "not_disputed": z3.And(z3.Not(s.claim_rejected), z3.Not(post.claim_rejected)),
    }
    facts = {f: z3.Implies(paid, fact) for f, fact in facts.items()}
    if name != "claim_refund":
        facts["large_payout_is_the_reward"] = z3.Implies(large, paid)
    return facts


def _pull(name: str, s: State, m: Call) -> Step:
    """A pull (claim_deposit, claim_refund) of the encoding, as TRANSITIONS has it."""
    function, _ = TRANSITIONS[name]
    return function(s, m)


def _accused(s: State, name: str):
    return s.candidate if name == "dispute_review" else s.optimal


def step_dispute_settles_and_forfeits(s: State, step: Step, m: Call, name: str):
    """A successful dispute settles the session at once; from then on the accused
    provider forfeits and cannot pull, and the collector's refund is open and takes
    the whole reward back plus the forfeited deposit."""
    accused = _accused(s, name)
    later = z3.Int("later")
    post = step.post
    pull = _pull("claim_deposit", post, Call(accused, z3.IntVal(0), later))
    refund = _pull("claim_refund", post, Call(s.collector, z3.IntVal(0), later))
    facts = {
        "settled_at_once": is_settled(post, m.now),
        "accused_forfeits": get_forfeiter(post, later) == accused,
        "accused_cannot_pull": z3.Not(pull.ok),
        "refund_open": refund.ok,
        "refund_takes_deposit": refund.pay_amount == s.cf_reward + s.cf_deposit,
    }
    return {f: z3.Implies(later >= m.now, fact) for f, fact in facts.items()}


def step_no_dispute_after_deadline(s: State, step: Step, m: Call, name: str):
    """A dispute succeeds only before the session's deadline, hence before the final
    deadline and before anyone pulled."""
    return {
        "before_deadline": m.now < s.deadline,
        "before_final_deadline": m.now < get_final_deadline(s),
        "before_refund": z3.Not(s.refund_claimed),
        "before_deposits": z3.ForAll([_p], z3.Not(s.deposit_claimed[_p])),
    }


def step_dispute_at_most_once(s: State, step: Step, m: Call, name: str):
    """A review, or a master key, is disputed successfully at most once."""
    return z3.Not(s.review_rejected if name == "dispute_review" else s.claim_rejected)


# Access control over the whole transition relation

COLLECTOR_FIELDS = (
    "candidate",
    "optimal",
    "review_key",
    "sample_digest",
    "sample_count",
    "review_rejected",
    "claim_rejected",
    "refund_claimed",
)
PROVIDER_FIELDS = ("registered", "adr_data_root", "adr_feature", "deposit_claimed")


def step_collector_fields(s: State, step: Step, m: Call, name: str):
    """A caller other than the collector changes none of the collector's fields."""
    others = m.sender != s.collector
    return {
        f: z3.Implies(others, fact) for f, fact in _unchanged(s, step, COLLECTOR_FIELDS).items()
    }


def step_review_by_candidate(s: State, step: Step, m: Call, name: str):
    """A caller other than the candidate submits no review: review_submitted and the
    delivery digest do not move."""
    others = m.sender != s.candidate
    unchanged = _unchanged(s, step, ("review_submitted", "delivery_digest"))
    return {f: z3.Implies(others, fact) for f, fact in unchanged.items()}


def step_delivery_by_optimal(s: State, step: Step, m: Call, name: str):
    """A caller other than P_opt neither closes the session nor changes what P_opt
    delivers (the delivery digest from reviewed on)."""
    post = step.post
    others = m.sender != s.optimal
    return {
        "st_trade_closed": z3.Implies(others, (post.st_trade == CLOSED) == (s.st_trade == CLOSED)),
        "delivery_digest": z3.Implies(
            z3.And(others, s.st_trade >= REVIEWED), post.delivery_digest == s.delivery_digest
        ),
    }


def step_profile_by_provider(s: State, step: Step, m: Call, name: str):
    """A provider's profile (registration, root, features, deposit flag) is changed by
    that provider only."""
    post = step.post
    return {
        f: z3.ForAll([_p], z3.Implies(_p != m.sender, getattr(post, f)[_p] == getattr(s, f)[_p]))
        for f in PROVIDER_FIELDS
    }


def step_no_call_from_zero_address(s: State, step: Step, m: Call, name: str):
    """No transaction comes from address 0 (F_BC's envelope, on every interface)."""
    return m.sender != 0


INTERFACE_NAMES = tuple(TRANSITIONS)

STEP_PROPERTIES = {
    "st_trade_monotone": (step_st_trade_monotone, STEP_NAMES),
    "config_immutable": (step_config_immutable, STEP_NAMES),
    "sample_set_once": (step_sample_set_once, STEP_NAMES),
    "no_overdraft": (step_no_overdraft, STEP_NAMES),
    "money_conservation": (step_money_conservation, STEP_NAMES),
    "settled_session_frozen": (step_settled_is_frozen, STEP_NAMES),
    "reward_paid_after_complaint_window": (step_reward_after_complaint_window, STEP_NAMES),
    "dispute_settles_and_forfeits": (step_dispute_settles_and_forfeits, DISPUTES),
    "no_dispute_after_deadline": (step_no_dispute_after_deadline, DISPUTES),
    "dispute_at_most_once": (step_dispute_at_most_once, DISPUTES),
    "collector_fields_only_by_collector": (step_collector_fields, STEP_NAMES),
    "review_only_by_candidate": (step_review_by_candidate, STEP_NAMES),
    "delivery_only_by_optimal": (step_delivery_by_optimal, STEP_NAMES),
    "profile_only_by_provider": (step_profile_by_provider, STEP_NAMES),
    "no_call_from_zero_address": (step_no_call_from_zero_address, INTERFACE_NAMES),
}


# The provers


def _facts(claim) -> dict:
    return claim if isinstance(claim, dict) else {"": claim}


def _split(formula: z3.BoolRef) -> tuple:
    """(premise or None, conjuncts) of a state invariant (`_when_created` or And)."""
    premise = None
    if z3.is_implies(formula):
        premise, formula = formula.children()
    return premise, (formula.children() if z3.is_and(formula) else [formula])


def _conjuncts(inv: Callable[[State], z3.BoolRef], s: State) -> dict:
    """inv(s) as named facts: its conjuncts, under its premise, each named by its text
    over any state (`ANY_STATE`)."""
    _, names = _split(inv(ANY_STATE))
    premise, parts = _split(inv(s))
    return {
        " ".join(str(name).split())[:100]: part if premise is None else z3.Implies(premise, part)
        for name, part in zip(names, parts, strict=True)
    }


def _words(s: State, m: Call, step: Step | None = None) -> dict:
    words = {
        "sender": m.sender,
        "now": m.now,
        "collector": s.collector,
        "candidate": s.candidate,
        "optimal": s.optimal,
        "st_trade": s.st_trade,
        "deadline": s.deadline,
    }
    if step is not None:
        words |= {"pay_to": step.pay_to, "pay_amount": step.pay_amount}
    return words


def _merge(
    name: str, outcomes: list[tuple[str, str, str]], seconds: float, note: str
) -> ProofResult:
    for status in ("failed", "unknown"):
        bad = [(where, detail) for where, st, detail in outcomes if st == status]
        if bad:
            where, detail = bad[0]
            return ProofResult(name, status, seconds, f"{status} at {where}: {detail}")
    return ProofResult(name, "proved", seconds, note)


def _prove_over_steps(
    name: str,
    claim: Callable[[State, Step, Call, str], object],
    step_names: tuple[str, ...],
    timeout_ms: int,
) -> list[tuple[str, str, str]]:
    """Inv(s) /\\ T(s, s') => claim, for each transition T named."""
    invariants: dict[int, tuple[State, z3.BoolRef]] = {}  # Inv is built once per state

    def assumed(s: State) -> z3.BoolRef:
        if id(s) not in invariants:
            invariants[id(s)] = (s, get_inductive_invariant(s))
        return invariants[id(s)][1]

    def query(step_name):
        def build(s: State, m: Call) -> Query:
            step = symbolic_step(step_name, s, m)
            hypotheses = [assumed(s), step.ok]
            return Query(hypotheses, _facts(claim(s, step, m, step_name)), _words(s, m, step))

        return build

    return [(step_name, *decide(query(step_name), timeout_ms)) for step_name in step_names]


def prove_state_invariant(
    name: str, timeout_ms: int = TIMEOUT_MS, only: Iterable[str] | None = None
) -> ProofResult:
    """Init => I and Inv /\\ T => I' for every transition (or those in `only`)."""
    inv = STATE_INVARIANTS[name]
    step_names = STEP_NAMES if only is None else tuple(only)
    start = time.perf_counter()
    outcomes = []
    if only is None:
        init = Query([], _conjuncts(inv, initial_state()), {})
        outcomes.append(("init", *decide(lambda s, m: init, timeout_ms)))
    outcomes += _prove_over_steps(
        name, lambda s, step, m, step_name: _conjuncts(inv, step.post), step_names, timeout_ms
    )
    return _merge(
        name,
        outcomes,
        time.perf_counter() - start,
        f"Init => I and Inv /\\ T => I' for {len(step_names)} transitions",
    )


def prove_step_property(
    name: str, timeout_ms: int = TIMEOUT_MS, only: Iterable[str] | None = None
) -> ProofResult:
    """Inv /\\ T => P for every transition the property names (or those in `only`)."""
    prop, step_names = STEP_PROPERTIES[name]
    step_names = step_names if only is None else tuple(only)
    start = time.perf_counter()
    outcomes = _prove_over_steps(name, prop, step_names, timeout_ms)
    scope = ", ".join(step_names) if len(step_names) < 3 else f"{len(step_names)} transitions"
    return _merge(name, outcomes, time.perf_counter() - start, f"Inv /\\ T => P for {scope}")


def _no_stuck_funds_query(s: State, m: Call) -> Query:
    p = z3.Int("claimant")
    late = z3.And(s.created, m.now >= get_final_deadline(s), m.now >= s.now)

    def may_claim(q):
        return z3.And(s.registered[q], z3.Not(s.deposit_claimed[q]), q != get_forfeiter(s, m.now))

    deposit_step = _pull("claim_deposit", s, Call(p, z3.IntVal(0), m.now))
    refund_step = _pull("claim_refund", s, Call(s.collector, z3.IntVal(0), m.now))
    refund_pending = z3.And(z3.Not(is_deal(s)), z3.Not(s.refund_claimed))
    q = z3.Int("q")
    nothing_pending = z3.And(z3.Not(refund_pending), z3.ForAll([q], z3.Not(may_claim(q))))
    facts = {
        "settled": is_settled(s, m.now),
        "claim_deposit_enabled": z3.Implies(may_claim(p), deposit_step.ok),
        "claim_deposit_progress": z3.Implies(
            may_claim(p), deposit_step.post.unclaimed == s.unclaimed - 1
        ),
        "claim_refund_enabled": z3.Implies(refund_pending, refund_step.ok),
        "nothing_left_when_done": z3.Implies(
            nothing_pending, z3.And(s.balance == 0, get_escrow(s) == 0)
        ),
    }
    return Query([get_inductive_invariant(s), late], facts, _words(s, m) | {"claimant": p})


def prove_no_stuck_funds(timeout_ms: int = TIMEOUT_MS) -> ProofResult:
    """After get_final_deadline, in every reachable state (any number of providers):
    (1) the session is settled; (2) every registered provider whose deposit is held and
    who did not forfeit can claim_deposit, and the collector can claim_refund unless
    the session is a deal or refunded; each pull removes one pending pull; (3) when no
    pull is left, the escrow and the balance are 0."""
    start = time.perf_counter()
    status, detail = decide(_no_stuck_funds_query, timeout_ms)
    return _merge(
        "no_stuck_funds_after_final_deadline",
        [("final deadline", status, detail)],
        time.perf_counter() - start,
        "unbounded providers: settled, every pull enabled and progressing, escrow 0 when done",
    )


# Concrete runs of the encoding from Init: (interface, sender, value, now, arguments).
# Collector 1, providers 2 and 3; periods of 300 s; P_tc = 2 reviews at 108 (digest 77).
_CREATE = ("create_session", 1, 1000, 100, 1000, 10, 5000, 4, 400, 300, 300, 7, 32)
_UP_TO_REVIEW = (
    _CREATE,
    ("registration", 2, 10, 101, 11, 32, 4, 31, 32),
    ("registration", 3, 10, 102, 12, 32, 4, 32, 32),
    ("sample_data", 1, 0, 103, 2, 2, True, 99),
    ("sample_data", 1, 0, 104, 3, 1, True, 98),
    ("submit_features", 2, 0, 105, 21, 32),
    ("submit_features", 3, 0, 106, 22, 32),
    ("set_candidate", 1, 0, 107, 2, 64, 55),
    ("submit_review", 2, 0, 108, 99, True, True, 64, 77),
)
_UP_TO_CLAIM = _UP_TO_REVIEW + (
    ("set_optimal", 1, 0, 109, 2),
    ("claim_reward", 2, 0, 110, 64, 88),
)
WITNESS_RUNS = (
    # a deal: the reward and the deposits after the complaint window
    _UP_TO_CLAIM
    + (("tick", 0, 0, 111), ("claim_deposit", 3, 0, 410), ("claim_deposit", 2, 0, 411)),
    # the collector walks away after the review: compensation
    _UP_TO_REVIEW + (("claim_refund", 1, 0, 408), ("claim_deposit", 2, 0, 409)),
    # a junk review, disputed
    _UP_TO_REVIEW
    + (
        ("dispute_review", 1, 0, 109, 77, 0, 3, True, True),
        ("claim_refund", 1, 0, 109),
        ("claim_deposit", 3, 0, 110),
    ),
    # a junk master key, disputed
    _UP_TO_CLAIM
    + (
        ("dispute_claim", 1, 0, 111, 88, True, True, True),
        ("claim_refund", 1, 0, 111),
        ("claim_deposit", 3, 0, 112),
    ),
)


def _holds_on(state: State, timeout_ms: int) -> tuple[str, str]:
    query = Query([], {"": get_inductive_invariant(state)}, {})
    return decide(lambda s, m: query, timeout_ms)


def check_not_vacuous(timeout_ms: int = TIMEOUT_MS) -> ProofResult:
    """Inv is no contradiction: along concrete runs of the encoding from Init, every
    transition fires (its guard evaluates to true) from a state where Inv holds, so
    no inductive step above is proved from an inconsistent hypothesis."""
    start = time.perf_counter()
    outcomes = []
    fired = set()
    for run in WITNESS_RUNS:
        concrete = ConcreteModel((1, 2, 3))
        for name, sender, value, now, *args in run:
            outcomes.append((f"before {name}", *_holds_on(concrete.state, timeout_ms)))
            accepted, _ = concrete.apply(name, sender, value, now, *args)
            if not accepted:
                outcomes.append((name, "failed", "the witness call was rejected"))
            fired.add(name)
        outcomes.append(("end of run", *_holds_on(concrete.state, timeout_ms)))
    missing = set(STEP_NAMES) - fired
    if missing:
        outcomes.append(("witnesses", "failed", f"no witness for {sorted(missing)}"))
    return _merge(
        "invariant_not_vacuous",
        outcomes,
        time.perf_counter() - start,
        f"Inv holds and each of {len(STEP_NAMES)} transitions fires along "
        f"{len(WITNESS_RUNS)} concrete runs",
    )


def prove_redundant_review_state_guard(timeout_ms: int = TIMEOUT_MS) -> ProofResult:
    """submit_review's `st_trade == REVIEWING` guard is implied by the ones around it
    (caller is the candidate, review not yet submitted): a mutant that drops it is
    equivalent, in every reachable state."""
    start = time.perf_counter()

    def query(s: State, m: Call) -> Query:
        others = z3.And(
            s.created, m.sender != 0, m.sender == s.candidate, z3.Not(s.review_submitted)
        )
        claim = z3.Implies(others, s.st_trade == REVIEWING)
        return Query([get_inductive_invariant(s)], {"": claim}, _words(s, m))

    status, detail = decide(query, timeout_ms)
    return ProofResult(
        "redundant_guard_submit_review_is_reviewing",
        status,
        time.perf_counter() - start,
        detail or "Inv => (caller is candidate /\\ no review yet => st_trade == reviewing)",
    )


def prove_all(timeout_ms: int = TIMEOUT_MS) -> list[ProofResult]:
    results = [check_not_vacuous(timeout_ms)]
    results += [prove_state_invariant(name, timeout_ms) for name in STATE_INVARIANTS]
    results += [prove_step_property(name, timeout_ms) for name in STEP_PROPERTIES]
    results.append(prove_no_stuck_funds(timeout_ms))
    results.append(prove_redundant_review_state_guard(timeout_ms))
    return results
