"""The Z3 proofs of Prot_SC: every invariant is proved on the encoding, the encoding
agrees with the executable spec, and a mutated spec is caught."""

import importlib.util
import inspect
import os
import re
import sys
from dataclasses import replace

import pytest

z3 = pytest.importorskip("z3")
pytest.importorskip("hypothesis")

import hyperx.spec.contract as contract  # noqa: E402
from hyperx.proofs import (  # noqa: E402
    invariants,
    model,
    run_proofs,  # noqa: E402
)
from hyperx.proofs.conformance import check_conformance  # noqa: E402

THOROUGH = os.environ.get("HYPERX_PROFILE") == "thorough"
EXAMPLES = 1_000 if THOROUGH else 40

REQUIRED = {
    "solvency_balance_equals_escrow",
    "solvency_escrow_covers_obligations",
    "single_reward_payout",
    "atomic_payout_and_reveal",
    "reward_paid_only_with_last_chunk",
    "st_trade_monotone",
    "sample_bound",
    "sample_set_once",
    "deposit_once",
    "collector_only_sample_data",
    "collector_only_set_candidate",
    "collector_only_set_optimal",
    "collector_only_claim_refund",
    "candidate_only_submit_review",
    "optimal_only_claim_reward",
    "no_stuck_funds_after_final_deadline",
    "money_conservation",
    "decoding_exact_every_nonzero_delta",
    "decoding_exact_spec_layer",
    "eq1_as_written_not_decodable",
    "invariant_not_vacuous",
    "conformance_with_spec",
}


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
    conformance = next(r for r in results if r.name == "conformance_with_spec")
    assert conformance.detail.endswith("spec == encoding")
    closed, refunded = re.search(
        r"(\d+) sessions closed, (\d+) refunded", conformance.detail
    ).groups()
    assert int(closed) > 0 and int(refunded) > 0


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


def test_rejects_spec_paying_the_reward_to_the_collector():
    mutant = make_mutant(
        "msg.transfer(msg.sender, reward)", "msg.transfer(session.collector, reward)"
    )
    results = run_proofs(mutant, examples=200)
    conformance = next(r for r in results if r.name == "conformance_with_spec")
    assert conformance.status == "failed"
    assert conformance.detail.startswith("transfers: spec")


def test_rejects_spec_that_skips_the_promotion_to_reviewing():
    mutant = make_mutant(
        "    session.candidate = pid\n    session.st_trade = TradeState.REVIEWING\n",
        "    session.candidate = pid\n",
    )
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


def test_invalid_encoding_breaks_solvency(monkeypatch):
    """The proofs bite: an encoding whose refund can be pulled twice is not solvent."""
    function, arg_names = model.TRANSITIONS["claim_refund"]

    def refund_without_flag(s, m):
        step = function(s, m)
        return replace(step, post=replace(step.post, refund_claimed=s.refund_claimed))

    monkeypatch.setitem(model.TRANSITIONS, "claim_refund", (refund_without_flag, arg_names))
    result = invariants.prove_state_invariant("solvency_balance_equals_escrow", timeout_ms=2_000)
    # A counterexample against quantified invariants may time out: not proved either way.
    assert result.status in ("failed", "unknown")
    assert result.detail.startswith(f"{result.status} at claim_refund")


def test_invalid_encoding_breaks_access_control(monkeypatch):
    function, arg_names = model.TRANSITIONS["set_optimal"]

    def anyone_sets_optimal(s, m, pid):
        step = function(replace(s, collector=m.sender), m, pid)
        return replace(step, post=replace(step.post, collector=s.collector))

    monkeypatch.setitem(model.TRANSITIONS, "set_optimal", (anyone_sets_optimal, arg_names))
    result = invariants.prove_step_property("collector_only_set_optimal", timeout_ms=2_000)
    assert result.status in ("failed", "unknown")
    assert result.detail.startswith(f"{result.status} at set_optimal")


def test_rejects_missing_z3_with_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "z3", None)
    with pytest.raises(ImportError, match=r"needs z3-solver and hypothesis .*hyperx\[core\]"):
        run_proofs()
