"""The refinement suite: real (Prot_COL, Prot_PRI, Prot_SC over F_BC, F_DS) ⊑ ideal
(F_HyperX), over random schedules; and that it fails on a contract that breaks
the policy. The default run is small (200 schedules); HYPERX_PROFILE=thorough runs
100x more. The full quick profile (1,000 schedules) runs through
`hyperx verify --profile quick`.
"""

import json
import re
from types import SimpleNamespace

import pytest
from conftest import profile_scale

from hyperx.spec import contract
from hyperx.verify.refinement import INVARIANTS, load_trace, replay, run_refinement

SCHEDULES = 200 * profile_scale()


def make_module(**replaced) -> SimpleNamespace:
    """A copy of Prot_SC with some interfaces replaced (a hand-made mutant)."""
    interfaces = dict(contract.INTERFACES, **replaced)
    return SimpleNamespace(INTERFACES=interfaces, get_escrow=contract.get_escrow)


def set_optimal_by_anyone(state, msg, sid, pid):
    """The collector-only guard of SetOptimal removed (issue 9: it passed the quick
    profile before the role sweep)."""
    caller, msg.sender = msg.sender, contract.get_session(state, sid).collector
    contract.process_set_optimal(state, msg, sid, pid)
    msg.sender = caller


def claim_deposit_paying_the_collector(state, msg, sid):
    """ClaimDeposit with the wrong recipient."""
    contract.process_claim_deposit(state, msg, sid)
    collector = contract.get_session(state, sid).collector
    msg.transfers[:] = [(collector, amount) for _, amount in msg.transfers]


def test_real_world_refines_the_ideal_functionality():
    report = run_refinement(schedules=SCHEDULES, min_steps=20, seed=0)
    assert report.failures == 0, report.message
    assert report.failing_trace is None
    assert report.schedules >= SCHEDULES
    assert report.steps >= 20 * report.schedules
    # The schedules reach every way a session can end
    for outcome in (
        "closed",
        "no_deal",
        "candidate_forfeited",
        "optimal_forfeited",
        "aborted_after_review",
        "review_rejected",
        "claim_rejected",
    ):
        assert report.outcomes.get(outcome, 0) > 0, report.outcomes


@pytest.mark.parametrize(
    ("replaced", "symptom"),
    [
        ({"set_optimal": set_optimal_by_anyone}, "policy refuses it"),
        ({"claim_deposit": claim_deposit_paying_the_collector}, "ClaimDeposit paid"),
    ],
)
def test_refinement_fails_on_a_contract_that_breaks_the_policy(replaced, symptom, tmp_path):
    mutant = make_module(**replaced)
    report = run_refinement(mutant, schedules=1_000, min_steps=20, seed=0, shrink=False)
    assert report.failures == 1
    assert re.search(symptom, report.message), report.message
    # The failing schedule is data: saved, loaded and replayed, it fails again,
    # and the same schedule passes on the real Prot_SC
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(report.failing_trace))
    trace = load_trace(path)
    again = replay(trace, mutant)
    assert again.failures == 1 and re.search(symptom, again.message), again.message
    assert replay(trace).failures == 0


def test_replay_runs_a_handwritten_schedule():
    trace = {
        "version": 1,
        "providers": 3,
        "steps": [
            {
                "op": "start_session",
                "reward": 1000,
                "deposit": 100,
                "pct_bps": 2500,
                "shards": 4,
                "evaluation_s": 600,
                "threshold": 0,
            },
            {"op": "advance", "seconds": 3},
            {"op": "join", "provider": 0, "sid": 0, "quality": 4},
            {"op": "join", "provider": 1, "sid": 0, "quality": 6},
            {"op": "corrupt", "party": "C", "at": "SetOptimal"},
            {"op": "reorg", "depth": 1, "requeue": False},
            {"op": "advance", "seconds": 600},
        ],
    }
    report = replay(trace)
    assert (report.schedules, report.steps, report.failures) == (1, 7, 0), report.message


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "is not JSON"),
        ('{"version": 2, "providers": 3, "steps": []}', '"version": 1'),
        ('{"version": 1, "providers": 1, "steps": []}', "providers"),
        ('{"version": 1, "providers": 3, "steps": [{"op": "fly"}]}', "step 0: not an instruction"),
        (
            '{"version": 1, "providers": 3, "steps": [{"op": "advance", "seconds": "x"}]}',
            "step 0: advance: field 'seconds' must be int",
        ),
        (
            '{"version": 1, "providers": 3, "steps": [{"op": "call", "party": "C", '
            '"interface": "steal", "sid": 0, "variant": "honest", "target": 0}]}',
            "unknown interface 'steal'",
        ),
    ],
)
def test_invalid_trace_file_gets_a_one_line_reason(content, reason, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=reason) as error:
        load_trace(path)
    assert "\n" not in str(error.value)


def test_invalid_trace_path_names_the_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read trace .*missing.json"):
        load_trace(tmp_path / "missing.json")


def test_refinement_fails_on_a_collector_that_picks_the_worst_provider(monkeypatch):
    """Issue 9: F_HyperX ranks by itself, so a real collector that picks anyone but
    the best available provider is caught (it once imported the real ranking)."""
    from hyperx.spec import parties

    ranking = parties.compute_ranking
    monkeypatch.setattr(parties, "compute_ranking", lambda s, t: ranking(s, t)[::-1])
    report = run_refinement(schedules=1_000, min_steps=20, seed=0, shrink=False)
    assert report.failures == 1
    assert re.search("candidate .*, best ", report.message), report.message


def test_invariants_are_named():
    assert len(INVARIANTS) >= 9


def test_a_run_reports_its_seed_and_the_seed_repeats_it():
    """A failure that CI finds on a fresh seed must be repeatable from the log alone."""
    first = run_refinement(schedules=30, min_steps=20)
    assert first.seed is not None
    again = run_refinement(schedules=30, min_steps=20, seed=first.seed)
    other = run_refinement(schedules=30, min_steps=20, seed=first.seed + 1)
    assert (again.schedules, again.steps, again.sweep_calls, again.outcomes) == (
        first.schedules,
        first.steps,
        first.sweep_calls,
        first.outcomes,
    )
    assert (other.steps, other.sweep_calls) != (first.steps, first.sweep_calls)
