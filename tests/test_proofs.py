"""The Z3 proofs of Prot_SC: every invariant is proved on the encoding, every proof
can fail (a deliberately broken encoding gives a counterexample), the encoding agrees
with the executable spec, and a mutated spec is caught."""

import importlib.util
import inspect
import os
import re
import sys
from dataclasses import replace

import pytest

z3 = pytest.importorskip("z3")

import hyperx.spec.contract as contract  # noqa: E402
from hyperx.proofs import invariants, model, run_proofs  # noqa: E402
from hyperx.proofs.conformance import check_conformance  # noqa: E402

THOROUGH = os.environ.get("HYPERX_PROFILE") == "thorough"
EXAMPLES = 1_000 if THOROUGH else 60

REQUIRED = {
    "invariant_not_vacuous",
    "deadline_bound",
    "dispute_ends_session",
    "deposit_once",
    "sample_bound",
    "settled_is_frozen",
    "single_reward_payout",
    "reward_only_for_delivered_key",
    "solvency_balance_equals_escrow",
    "solvency_escrow_covers_obligations",
    "st_trade_monotone",
    "config_immutable",
    "sample_set_once",
    "no_overdraft",
    "money_conservation",
    "settled_session_frozen",
    "reward_paid_after_complaint_window",
    "dispute_settles_and_forfeits",
    "no_dispute_after_deadline",
    "dispute_at_most_once",
    "collector_fields_only_by_collector",
    "review_only_by_candidate",
    "delivery_only_by_optimal",
    "profile_only_by_provider",
    "no_call_from_zero_address",
    "no_stuck_funds_after_final_deadline",
    "decoding_exact_every_nonzero_delta",
    "decoding_exact_spec_layer",
    "eq1_as_written_not_decodable",
    "conformance_with_spec",
}


@pytest.fixture(scope="module")
def results():
    return run_proofs(examples=EXAMPLES)


def test_every_proof_is_proved_on_the_spec(results):
    by_name = {r.name: r for r in results}
    assert REQUIRED <= by_name.keys()
    not_proved = {r.name: (r.status, r.detail) for r in results if r.status != "proved"}
    assert not_proved == {}
    assert all(r.seconds >= 0 for r in results)


def test_eq1_as_written_has_a_counterexample(results):
    eq1 = next(r for r in results if r.name == "eq1_as_written_not_decodable")
    assert "sigma*sum(x)/delta" in eq1.detail
    assert "counterexample" in eq1.detail


def test_conformance_exercises_deep_states(results):
    """Deals paid after the window, refunds, and both disputes, won and lost."""
    conformance = next(r for r in results if r.name == "conformance_with_spec")
    assert conformance.detail.endswith("spec == encoding")
    counts = re.search(
        r"(\d+) rewards paid, (\d+) refunded; disputes: (\d+) reviews and (\d+) master keys "
        r"proven wrong, (\d+) and (\d+) refused as valid",
        conformance.detail,
    ).groups()
    assert all(int(count) > 0 for count in counts)


# Every result can fail: the encoding broken on purpose, one transition at a time.


def _wrap(name: str, *, around):
    """Transition `name` replaced by around(transition, s, m, args) -> Step."""
    function, arg_names = model.TRANSITIONS[name]
    return (lambda s, m, *args: around(function, s, m, args)), arg_names


def _as_if(name: str, **fake):
    """Transition `name` run on a pre-state whose `fake` fields read otherwise (the
    guards that read them are bypassed); fields it does not write keep their value."""

    def around(function, s, m, args):
        pre = replace(s, **{f: value(s, m) for f, value in fake.items()})
        step = function(pre, m, *args)
        kept = {f: getattr(s, f) for f in fake if getattr(step.post, f) is getattr(pre, f)}
        return replace(step, post=replace(step.post, **kept))

    return _wrap(name, around=around)


def _then(name: str, **writes):
    """Transition `name` with `writes` applied to its post-state."""

    def around(function, s, m, args):
        step = function(s, m, *args)
        post = replace(step.post, **{f: value(s, m, step.post) for f, value in writes.items()})
        return replace(step, post=post)

    return _wrap(name, around=around)


def _also_requires(name: str, *, guard):
    def around(function, s, m, args):
        step = function(s, m, *args)
        return replace(step, ok=z3.And(step.ok, guard(s, m)))

    return _wrap(name, around=around)


def _pays_caller(name: str, *, extra):
    """Transition `name` paying its caller `extra` more."""

    def around(function, s, m, args):
        step = function(s, m, *args)
        post = model._pay(step.post, m.sender, extra(s, m))
        return model.Step(step.ok, post, m.sender, step.pay_amount + extra(s, m))

    return _wrap(name, around=around)


def _sender(s, m):
    return m.sender


def _open(s, m):
    return m.now + 1


def _closed_now(s, m):
    return z3.If(s.st_trade == model.CLOSED, m.now, s.deadline)


def _extra_compensation(s, m):
    return z3.If(z3.And(model.is_compensated(s), m.sender != s.candidate), s.compensation, 0)


def _resample(function, s, m, args):
    """sample_data run as if its provider (args[0]) had not been sampled yet."""
    pre = replace(s, sample_count=z3.Store(s.sample_count, args[0], 0))
    return function(pre, m, *args)


# id: (result, transition, how the transition is broken, with what)
BREAKAGES = {
    "set_optimal_without_collector_guard": (
        "collector_fields_only_by_collector", "set_optimal", _as_if, {"collector": _sender}
    ),
    "sample_data_by_anyone": (
        "collector_fields_only_by_collector", "sample_data", _as_if, {"collector": _sender}
    ),
    "dispute_review_by_anyone": (
        "collector_fields_only_by_collector", "dispute_review", _as_if, {"collector": _sender}
    ),
    "claim_refund_by_anyone": (
        "collector_fields_only_by_collector", "claim_refund", _as_if, {"collector": _sender}
    ),
    "submit_review_by_anyone": (
        "review_only_by_candidate", "submit_review", _as_if, {"candidate": _sender}
    ),
    "claim_reward_by_anyone": (
        "delivery_only_by_optimal", "claim_reward", _as_if, {"optimal": _sender}
    ),
    "set_candidate_clears_the_features": (
        "profile_only_by_provider", "set_candidate", _then,
        {"adr_feature": lambda s, m, post: z3.Store(post.adr_feature, post.candidate, 0)},
    ),
    "reward_pulled_within_the_window": (
        "reward_paid_after_complaint_window", "claim_deposit", _as_if, {"deadline": _closed_now}
    ),
    "reward_paid_with_the_claim": (
        "reward_paid_after_complaint_window", "claim_reward", _pays_caller,
        {"extra": lambda s, m: s.cf_reward},
    ),
    "claim_deposit_keeps_its_flag": (
        "single_reward_payout", "claim_deposit", _then,
        {"deposit_claimed": lambda s, m, post: s.deposit_claimed},
    ),
    "set_optimal_closes_without_the_key": (
        "reward_only_for_delivered_key", "set_optimal", _then,
        {"st_trade": lambda s, m, post: z3.IntVal(model.CLOSED)},
    ),
    "dispute_review_leaves_the_session_open": (
        "dispute_settles_and_forfeits", "dispute_review", _then,
        {"deadline": lambda s, m, post: s.deadline},
    ),
    "dispute_claim_after_the_window": (
        "no_dispute_after_deadline", "dispute_claim", _as_if, {"deadline": _open}
    ),
    "dispute_review_after_the_deadline": (
        "dispute_at_most_once", "dispute_review", _as_if, {"deadline": _open}
    ),
    "dispute_claim_leaves_the_window_open": (
        "dispute_ends_session", "dispute_claim", _then,
        {"deadline": lambda s, m, post: s.deadline},
    ),
    "set_optimal_after_the_deadline": (
        "settled_session_frozen", "set_optimal", _as_if, {"deadline": _open}
    ),
    "claim_deposit_before_the_deadline": (
        "settled_is_frozen", "claim_deposit", _as_if, {"deadline": lambda s, m: m.now}
    ),
    "create_session_twice": (
        "config_immutable", "create_session", _as_if,
        {"created": lambda s, m: z3.BoolVal(False)},
    ),
    "review_restarts_two_periods": (
        "deadline_bound", "submit_review", _then,
        {"deadline": lambda s, m, post: m.now + 2 * s.cf_review_s},
    ),
    "refund_only_while_pending": (
        "no_stuck_funds_after_final_deadline", "claim_refund", _also_requires,
        {"guard": lambda s, m: s.st_trade == model.PENDING},
    ),
    "refund_keeps_its_flag": (
        "solvency_balance_equals_escrow", "claim_refund", _then,
        {"refund_claimed": lambda s, m, post: s.refund_claimed},
    ),
    "compensation_for_every_provider": (
        "solvency_escrow_covers_obligations", "claim_deposit", _pays_caller,
        {"extra": _extra_compensation},
    ),
    # Results carried over from before issue 9 can fail too.
    "registration_before_create_session": (
        "not_created_is_empty", "registration", _as_if, {"created": lambda s, m: z3.BoolVal(True)}
    ),
    "claim_period_of_zero": (
        "config_well_formed", "create_session", _then,
        {"cf_claim_s": lambda s, m, post: z3.IntVal(0)},
    ),
    "set_optimal_without_a_review": (
        "state_machine_shape", "set_optimal", _as_if,
        {"review_submitted": lambda s, m: z3.BoolVal(True)},
    ),
    "features_before_the_sample": (
        "profiles_well_formed", "submit_features", _as_if,
        {"sample_count": lambda s, m: z3.Store(s.sample_count, m.sender, 1)},
    ),
    "sample_one_over_the_bound": (
        "sample_bound", "sample_data", _as_if,
        {"sample_bound": lambda s, m: s.sample_bound + 1},
    ),
    "deposit_pulled_twice": (
        "deposit_once", "claim_deposit", _then,
        {"deposit_claimed": lambda s, m, post: s.deposit_claimed},
    ),
    "registration_twice": (
        "held_deposits_enumerated", "registration", _as_if,
        {"registered": lambda s, m: z3.Store(s.registered, m.sender, False)},
    ),
    "set_candidate_skips_the_review": (
        "st_trade_monotone", "set_candidate", _then,
        {"st_trade": lambda s, m, post: z3.IntVal(model.REVIEWED)},
    ),
    "sample_data_twice": (
        "sample_set_once", "sample_data", _wrap, {"around": _resample},
    ),
    "refund_one_wei_more": (
        "no_overdraft", "claim_refund", _pays_caller, {"extra": lambda s, m: z3.IntVal(1)}
    ),
    "deposit_paid_from_nowhere": (
        "money_conservation", "claim_deposit", _then, {"balance": lambda s, m, post: s.balance}
    ),
}  # fmt: skip
QUICK = (
    "set_optimal_without_collector_guard",
    "reward_pulled_within_the_window",
    "dispute_review_leaves_the_session_open",
    "refund_keeps_its_flag",
)


def prove_broken(result: str, transition: str, timeout_ms: int = 1_000):
    if result in invariants.STATE_INVARIANTS:
        return invariants.prove_state_invariant(result, timeout_ms, only=(transition,))
    if result in invariants.STEP_PROPERTIES:
        return invariants.prove_step_property(result, timeout_ms, only=(transition,))
    assert result == "no_stuck_funds_after_final_deadline"
    return invariants.prove_no_stuck_funds(timeout_ms)


@pytest.mark.parametrize("breakage", sorted(BREAKAGES) if THOROUGH else QUICK)
def test_invalid_encoding_gives_a_counterexample(breakage, monkeypatch):
    result, transition, broken, changes = BREAKAGES[breakage]
    monkeypatch.setitem(model.TRANSITIONS, transition, broken(transition, **changes))
    outcome = prove_broken(result, transition)
    assert outcome.status == "failed", outcome.detail
    where = "final deadline" if result == "no_stuck_funds_after_final_deadline" else transition
    assert outcome.detail.startswith(f"failed at {where}: violates ")


def test_invalid_envelope_accepts_address_zero(monkeypatch):
    accept = model._accept

    def accept_from_anyone(s, m, *, payable):
        """F_BC's envelope without its sender check."""
        ok, post = accept(s, m, payable=payable)
        as_other, _ = accept(s, replace(m, sender=z3.IntVal(1)), payable=payable)
        return z3.Or(ok, z3.And(m.sender == 0, as_other)), post

    monkeypatch.setattr(model, "_accept", accept_from_anyone)
    outcome = invariants.prove_step_property("no_call_from_zero_address", 1_000)
    assert outcome.status == "failed"
    assert outcome.detail.startswith("failed at create_session: violates claim; sender=0")


def test_every_result_can_fail():
    """Each result but the vacuity check, the decoding proofs and the conformance
    check has a breakage above (or the envelope test) that it must catch."""
    broken = {result for result, *_ in BREAKAGES.values()} | {"no_call_from_zero_address"}
    every = set(invariants.STATE_INVARIANTS) | set(invariants.STEP_PROPERTIES)
    every.add("no_stuck_funds_after_final_deadline")
    assert every - broken == set()


# The conformance check catches a mutated spec


def make_mutant(old: str, new: str):
    """A copy of hyperx.spec.contract with `old` replaced by `new` (exactly once)."""
    source = inspect.getsource(contract)
    assert source.count(old) == 1, f"mutation site not unique: {old!r}"
    name = "hyperx.spec._test_mutant"
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader=None))
    module.__package__ = "hyperx.spec"
    sys.modules[name] = module
    exec(
        compile(source.replace(old, new), f"<mutant of {contract.__file__}>", "exec"),
        module.__dict__,
    )
    return module


def test_rejects_spec_without_collector_check_in_sample_data():
    mutant = make_mutant(
        """    # Verify the caller is the collector
    assert msg.sender == session.collector, "hyperx: caller is not the collector"
    # Verify the session is in evaluation""",
        "    # Verify the session is in evaluation",
    )
    ok, detail, _ = check_conformance(mutant, examples=200)
    assert not ok
    assert "spec accepted" in detail and "sample_data" in detail


def test_rejects_spec_paying_the_reward_within_the_window():
    mutant = make_mutant(
        "    return now >= session.deadline",
        "    return session.st_trade == TradeState.CLOSED or now >= session.deadline",
    )
    ok, detail, _ = check_conformance(mutant, examples=200)
    assert not ok
    assert "'is_settled': (True, False)" in detail


def test_rejects_spec_upholding_a_dispute_of_a_valid_seal():
    mutant = make_mutant(
        "    assert key is None or compute_key_hash(key) != key_hashes[position], (",
        "    assert True or compute_key_hash(key) != key_hashes[position], (",
    )
    ok, detail, _ = check_conformance(mutant, examples=200)
    assert not ok
    assert detail.startswith("spec accepted, encoding rejected") and "dispute_review" in detail


def test_rejects_spec_that_skips_the_promotion_to_reviewing():
    mutant = make_mutant("    session.st_trade = TradeState.REVIEWING\n", "")
    ok, detail, _ = check_conformance(mutant, examples=200)
    assert not ok
    assert "'st_trade': (0, 1)" in detail


def test_rejects_spec_with_sample_bound_off_by_one():
    mutant = make_mutant(
        "return min(MAX_SAMPLE, config.cf_shards * config.cf_pct_bps // BPS)",
        "return min(MAX_SAMPLE, config.cf_shards * config.cf_pct_bps // BPS + 1)",
    )
    ok, detail, _ = check_conformance(mutant, examples=200)
    assert not ok
    assert "get_sample_bound" in detail


def test_rejects_missing_z3_with_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "z3", None)
    with pytest.raises(ImportError, match=r"needs z3-solver .*hyperx\[core\]"):
        run_proofs()
