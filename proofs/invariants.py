"""Named safety invariants of Prot_SC, proved inductively over `hyperx.proofs.model`.

A state invariant I is proved by two kinds of query: Init => I, and, for every
transition T (the ten interfaces and the passing of time), Inv(s) /\\ T(s, s') => I(s'),
where Inv is the conjunction of all state invariants. Each query is one Z3 call with
its own timeout; an invariant is "proved" when every query is unsat. Because every
query assumes the same conjunction, the conjunction is inductive exactly when all of
them are proved, so each member is sound only together with the others: the report
marks an invariant proved only if its own queries are unsat, and `run_proofs`
fails the run if any member fails.

A step property P(s, s', call) (monotonicity, access control, conservation) is proved
by Inv(s) /\\ T(s, s') => P for every transition. The money is exact (unbounded
integers, the contract balance of the session, F_BC's wallets), providers are
unbounded (arrays), Merkle/keccak checks are free booleans (see `model`).
"""

import time
from collections.abc import Callable

import z3

from hyperx.spec.config import BPS, MAX_SAMPLE, MAX_SHARDS

from .model import (
    CLOSED,
    PENDING,
    REVIEWED,
    REVIEWING,
    STEP_NAMES,
    Call,
    ConcreteModel,
    State,
    Step,
    fresh_call,
    fresh_state,
    get_chunk_count,
    get_compensation,
    get_escrow,
    get_final_deadline,
    get_forfeiter,
    get_forfeiter_of_state,
    get_obligations,
    get_sample_bound,
    initial_state,
    is_expired,
    is_forfeit_state,
    is_settled,
    symbolic_step,
    tx_claim_deposit,
    tx_claim_refund,
)
from .result import ProofResult

TIMEOUT_MS = 20_000

_p = z3.Int("p")  # a provider, bound by the quantifiers below
_i = z3.Int("i")  # a position in the enumeration of held deposits


def _when_created(s: State, *facts) -> z3.BoolRef:
    return z3.Implies(s.created, z3.And(*facts))


def inv_not_created_is_empty(s: State):
    """Before create_session nothing is held and nobody is registered."""
    return z3.Implies(
        z3.Not(s.created),
        z3.And(
            s.balance == 0,
            s.provider_count == 0,
            s.unclaimed == 0,
            s.reward_payouts == 0,
            s.st_trade == PENDING,
            z3.Not(s.refund_claimed),
            z3.ForAll(
                [_p],
                z3.And(
                    z3.Not(s.registered[_p]),
                    z3.Not(s.deposit_claimed[_p]),
                    s.deposit_payouts[_p] == 0,
                    s.sample_count[_p] == 0,
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
        s.cf_review_s > 0,
        s.cf_claim_s > 0,
        s.sample_bound == get_sample_bound(s.cf_shards, s.cf_pct_bps),
        1 <= s.sample_bound,
        s.sample_bound <= MAX_SAMPLE,
        s.compensation == get_compensation(s.cf_reward, s.cf_pct_bps),
        0 <= s.compensation,
        s.compensation <= s.cf_reward,
        s.chunk_count == get_chunk_count(s.cf_shards),
        s.chunk_count >= 1,
    )


def inv_state_machine(s: State):
    """st_trade in range; a candidate exists from reviewing on, the optimal provider
    (= the candidate, who reviewed) from reviewed on."""
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
        z3.Implies(s.st_trade >= REVIEWED, z3.And(s.optimal == s.candidate, s.review_submitted)),
        z3.Implies(s.st_trade == PENDING, z3.Not(s.review_submitted)),
    )


def inv_deadline_bound(s: State):
    """The deadline of each state; none lies past get_final_deadline."""
    review = s.cf_review_s
    base = s.cf_evaluation_deadline
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
        z3.Implies(s.st_trade >= REVIEWED, s.deadline <= get_final_deadline(s)),
        s.deadline <= get_final_deadline(s),
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
    """Pulls happen only once the session is settled, and the forfeiter never pulls."""
    return _when_created(
        s,
        z3.ForAll([_p], z3.Implies(s.deposit_claimed[_p], is_settled(s, s.now))),
        z3.Implies(s.refund_claimed, z3.And(s.st_trade != CLOSED, s.now >= s.deadline)),
        z3.Implies(is_forfeit_state(s), z3.Not(s.deposit_claimed[get_forfeiter_of_state(s)])),
    )


def inv_single_reward_payout(s: State):
    """claim_reward paid the reward at most once, to P_opt, exactly when closed."""
    return z3.And(
        0 <= s.reward_payouts,
        s.reward_payouts <= 1,
        (s.reward_payouts == 1) == z3.And(s.created, s.st_trade == CLOSED),
        z3.Implies(s.reward_payouts == 1, z3.And(s.reward_paid_to == s.optimal, s.optimal != 0)),
    )


def inv_atomic_payout_and_reveal(s: State):
    """chunks_revealed == chunk_count <=> closed <=> reward paid; keys are revealed only
    by P_opt after set_optimal."""
    return _when_created(
        s,
        0 <= s.chunks_revealed,
        s.chunks_revealed <= s.chunk_count,
        (s.chunks_revealed == s.chunk_count) == (s.st_trade == CLOSED),
        (s.st_trade == CLOSED) == (s.reward_payouts == 1),
        z3.Implies(s.chunks_revealed > 0, s.st_trade >= REVIEWED),
    )


def inv_balance_equals_escrow(s: State):
    """Solvency, 1: the contract holds exactly get_escrow (what came in less what
    went out, as the spec computes it)."""
    return _when_created(s, s.balance == get_escrow(s))


def inv_escrow_covers_obligations(s: State):
    """Solvency, 2: the escrow is the sum of what each party may still pull, and each
    of those terms is non-negative."""
    deposits, reward, compensation = get_obligations(s)
    return _when_created(
        s,
        deposits >= 0,
        reward >= 0,
        compensation >= 0,
        s.balance == deposits + reward + compensation,
        s.balance >= 0,
    )


STATE_INVARIANTS: dict[str, Callable[[State], z3.BoolRef]] = {
    "not_created_is_empty": inv_not_created_is_empty,
    "config_well_formed": inv_config_well_formed,
    "state_machine_shape": inv_state_machine,
    "deadline_bound": inv_deadline_bound,
    "profiles_well_formed": inv_profiles_well_formed,
    "sample_bound": inv_sample_bound,
    "deposit_once": inv_deposit_once,
    "held_deposits_enumerated": inv_held_deposits_enumerated,
    "settled_is_frozen": inv_settled_is_frozen,
    "single_reward_payout": inv_single_reward_payout,
    "atomic_payout_and_reveal": inv_atomic_payout_and_reveal,
    "solvency_balance_equals_escrow": inv_balance_equals_escrow,
    "solvency_escrow_covers_obligations": inv_escrow_covers_obligations,
}


def get_inductive_invariant(s: State) -> z3.BoolRef:
    return z3.And(*(inv(s) for inv in STATE_INVARIANTS.values()))


# Step properties: P(pre, step, call, name) -> BoolRef


def step_st_trade_monotone(s: State, step: Step, m: Call, name: str):
    """st_trade moves only forward, one state at a time."""
    t = step.post.st_trade
    return z3.Implies(s.created, z3.Or(t == s.st_trade, t == s.st_trade + 1))


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


def step_reward_only_with_last_chunk(s: State, step: Step, m: Call, name: str):
    """The reward leaves in the transaction that reveals the last chunk, to P_opt,
    and in no other; no other transition reveals chunks."""
    post = step.post
    reveals_last = z3.And(s.chunks_revealed != s.chunk_count, post.chunks_revealed == s.chunk_count)
    facts = [
        z3.Implies(
            post.reward_payouts != s.reward_payouts,
            z3.And(reveals_last, step.pay_to == s.optimal, step.pay_amount == s.cf_reward),
        ),
        z3.Implies(z3.And(s.created, reveals_last), post.reward_payouts == s.reward_payouts + 1),
    ]
    if name != "claim_reward":
        facts.append(z3.Implies(s.created, post.chunks_revealed == s.chunks_revealed))
    return z3.And(*facts)


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


def step_expired_session_frozen(s: State, step: Step, m: Call, name: str):
    """Once a session expired, no call changes its course: only pulls move."""
    post = step.post
    frozen = ("st_trade", "deadline", "candidate", "optimal", "review_submitted", "chunks_revealed")
    return z3.Implies(
        z3.And(s.created, is_expired(s, m.now)),
        z3.And(
            *(getattr(post, f) == getattr(s, f) for f in frozen),
            post.provider_count == s.provider_count,
            post.sample_count == s.sample_count,
            post.adr_feature == s.adr_feature,
        ),
    )


def _caller_is(who: Callable[[State], z3.ArithRef]):
    def prop(s: State, step: Step, m: Call, name: str):
        return m.sender == who(s)

    return prop


STEP_PROPERTIES = {
    "st_trade_monotone": (step_st_trade_monotone, STEP_NAMES),
    "sample_set_once": (step_sample_set_once, STEP_NAMES),
    "reward_paid_only_with_last_chunk": (step_reward_only_with_last_chunk, STEP_NAMES),
    "no_overdraft": (step_no_overdraft, STEP_NAMES),
    "money_conservation": (step_money_conservation, STEP_NAMES),
    "expired_session_frozen": (step_expired_session_frozen, STEP_NAMES),
    "collector_only_sample_data": (_caller_is(lambda s: s.collector), ("sample_data",)),
    "collector_only_set_candidate": (_caller_is(lambda s: s.collector), ("set_candidate",)),
    "collector_only_set_optimal": (_caller_is(lambda s: s.collector), ("set_optimal",)),
    "collector_only_claim_refund": (_caller_is(lambda s: s.collector), ("claim_refund",)),
    "candidate_only_submit_review": (_caller_is(lambda s: s.candidate), ("submit_review",)),
    "optimal_only_claim_reward": (_caller_is(lambda s: s.optimal), ("claim_reward",)),
    "provider_only_submit_features_claim_deposit": (
        lambda s, step, m, name: s.registered[m.sender],
        ("submit_features", "claim_deposit"),
    ),
}


# The prover


def _check_valid(claim: z3.BoolRef, hypotheses: list, timeout_ms: int):
    """'proved' if hypotheses => claim is valid, else the status and a model."""
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    solver.add(*hypotheses)
    solver.add(z3.Not(claim))
    verdict = solver.check()
    if verdict == z3.unsat:
        return "proved", ""
    if verdict == z3.sat:
        return "failed", str(solver.model())[:2000]
    return "unknown", solver.reason_unknown()


def _merge(
    name: str, outcomes: list[tuple[str, str, str]], seconds: float, note: str
) -> ProofResult:
    for status in ("failed", "unknown"):
        bad = [(where, detail) for where, st, detail in outcomes if st == status]
        if bad:
            where, detail = bad[0]
            return ProofResult(name, status, seconds, f"{status} at {where}: {detail}")
    return ProofResult(name, "proved", seconds, note)


def prove_state_invariant(name: str, timeout_ms: int = TIMEOUT_MS) -> ProofResult:
    inv = STATE_INVARIANTS[name]
    start = time.perf_counter()
    outcomes = [("init", *_check_valid(inv(initial_state()), [], timeout_ms))]
    s = fresh_state("s")
    m = fresh_call("m")
    assumed = get_inductive_invariant(s)
    for step_name in STEP_NAMES:
        step = symbolic_step(step_name, s, m)
        outcomes.append((step_name, *_check_valid(inv(step.post), [assumed, step.ok], timeout_ms)))
    return _merge(
        name,
        outcomes,
        time.perf_counter() - start,
        f"Init => I and Inv /\\ T => I' for {len(STEP_NAMES)} transitions",
    )


def prove_step_property(name: str, timeout_ms: int = TIMEOUT_MS) -> ProofResult:
    prop, step_names = STEP_PROPERTIES[name]
    start = time.perf_counter()
    s = fresh_state("s")
    m = fresh_call("m")
    assumed = get_inductive_invariant(s)
    outcomes = []
    for step_name in step_names:
        step = symbolic_step(step_name, s, m)
        outcomes.append(
            (step_name, *_check_valid(prop(s, step, m, step_name), [assumed, step.ok], timeout_ms))
        )
    return _merge(
        name,
        outcomes,
        time.perf_counter() - start,
        f"Inv /\\ T => P for {', '.join(step_names) if len(step_names) < 3 else 'every transition'}",
    )


def prove_no_stuck_funds(timeout_ms: int = TIMEOUT_MS) -> ProofResult:
    """After get_final_deadline, in every reachable state (any number of providers):
    (1) the session is settled; (2) every registered provider whose deposit is held and
    who did not forfeit can claim_deposit, and the collector can claim_refund unless
    closed or refunded; each pull removes one pending pull; (3) when no pull is left,
    the escrow and the balance are 0."""
    start = time.perf_counter()
    s = fresh_state("s")
    m = fresh_call("m")
    p = z3.Int("claimant")
    late = z3.And(s.created, m.now >= get_final_deadline(s), m.now >= s.now)
    assumed = [get_inductive_invariant(s), late]
    may_claim = z3.And(s.registered[p], z3.Not(s.deposit_claimed[p]), p != get_forfeiter(s, m.now))
    deposit_call = Call(p, z3.IntVal(0), m.now)
    refund_call = Call(s.collector, z3.IntVal(0), m.now)
    refund_pending = z3.And(s.st_trade != CLOSED, z3.Not(s.refund_claimed))
    deposit_step = tx_claim_deposit(s, deposit_call)
    refund_step = tx_claim_refund(s, refund_call)
    q = z3.Int("q")
    nothing_pending = z3.And(
        z3.Not(refund_pending),
        z3.ForAll(
            [q],
            z3.Not(
                z3.And(s.registered[q], z3.Not(s.deposit_claimed[q]), q != get_forfeiter(s, m.now))
            ),
        ),
    )
    checks = {
        "settled": is_settled(s, m.now),
        "claim_deposit_enabled": z3.Implies(may_claim, deposit_step.ok),
        "claim_deposit_progress": z3.Implies(
            may_claim, deposit_step.post.unclaimed == s.unclaimed - 1
        ),
        "claim_refund_enabled": z3.Implies(refund_pending, refund_step.ok),
        "nothing_left_when_done": z3.Implies(
            nothing_pending, z3.And(s.balance == 0, get_escrow(s) == 0)
        ),
    }
    outcomes = [
        (where, *_check_valid(claim, assumed, timeout_ms)) for where, claim in checks.items()
    ]
    return _merge(
        "no_stuck_funds_after_final_deadline",
        outcomes,
        time.perf_counter() - start,
        "unbounded providers: settled, every pull enabled and progressing, escrow 0 when done",
    )


# Two runs of the encoding from Init (an honest deal, and a deal the collector
# abandons after the review): (interface, sender, value, now, arguments).
_CREATE = ("create_session", 1, 1000, 100, 1000, 10, 5000, 4, 200, 50, 60, 7, 32)
_UP_TO_REVIEW = (
    _CREATE,
    ("registration", 2, 10, 101, 11, 32, 4),
    ("registration", 3, 10, 102, 12, 32, 4),
    ("sample_data", 1, 0, 103, 2, 2, True, 99),
    ("sample_data", 1, 0, 104, 3, 1, True, 98),
    ("submit_features", 2, 0, 105, 21, 32),
    ("submit_features", 3, 0, 106, 22, 32),
    ("set_candidate", 1, 0, 107, 2),
    ("submit_review", 2, 0, 108, 99, True, True, 129),
)
WITNESS_RUNS = (
    _UP_TO_REVIEW
    + (
        ("set_optimal", 1, 0, 109, 2),
        ("claim_reward", 2, 0, 110, 0, True),
        ("claim_deposit", 3, 0, 111),
        ("claim_deposit", 2, 0, 112),
        ("tick", 0, 0, 113),
    ),
    _UP_TO_REVIEW + (("claim_refund", 1, 0, 158), ("claim_deposit", 2, 0, 159)),
)


def check_not_vacuous(timeout_ms: int = TIMEOUT_MS) -> ProofResult:
    """Inv is no contradiction: along two concrete runs of the encoding from Init, every
    transition fires (its guard evaluates to true) from a state where Inv holds, so
    no inductive step above is proved from an inconsistent hypothesis."""
    start = time.perf_counter()
    outcomes = []
    fired = set()
    for run in WITNESS_RUNS:
        concrete = ConcreteModel((1, 2, 3))
        for name, sender, value, now, *args in run:
            status, detail = _check_valid(get_inductive_invariant(concrete.state), [], timeout_ms)
            outcomes.append((f"before {name}", status, detail))
            accepted, _ = concrete.apply(name, sender, value, now, *args)
            if not accepted:
                outcomes.append((name, "failed", "the witness call was rejected"))
            fired.add(name)
    missing = set(STEP_NAMES) - fired
    if missing:
        outcomes.append(("witnesses", "failed", f"no witness for {sorted(missing)}"))
    return _merge(
        "invariant_not_vacuous",
        outcomes,
        time.perf_counter() - start,
        f"Inv holds and each of {len(STEP_NAMES)} transitions fires along 2 concrete runs",
    )


def prove_redundant_review_state_guard(timeout_ms: int = TIMEOUT_MS) -> ProofResult:
    """submit_review's `st_trade == REVIEWING` guard is implied by the ones around it
    (caller is the candidate, review not yet submitted): a mutant that drops it is
    equivalent, in every reachable state."""
    start = time.perf_counter()
    s = fresh_state("s")
    m = fresh_call("m")
    others = z3.And(s.created, m.sender != 0, m.sender == s.candidate, z3.Not(s.review_submitted))
    status, detail = _check_valid(
        z3.Implies(others, s.st_trade == REVIEWING), [get_inductive_invariant(s)], timeout_ms
    )
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
