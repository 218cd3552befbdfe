"""The economic adversary (hyperx/verify/economics.py): no deviation pays better than
honest play on the spec, the issue's four attacks among them, and the judgement
flags a contract that lets one pay."""

import pytest

from hyperx.verify.economics import (
    COMPENSATION,
    RESIDUALS,
    STRATEGIES,
    run_economics,
    spec_world,
)
from hyperx.verify.mutants import get_mutant


@pytest.fixture(scope="module")
def report():
    return run_economics()


def outcome_of(report, name):
    return next(o for o in report.outcomes if o.strategy.name == name)


def test_no_deviation_pays_on_the_spec(report):
    assert report.ok, [(o.strategy.name, o.problems) for o in report.outcomes if o.problems]
    assert len(report.outcomes) == len(STRATEGIES) >= 15
    honest = outcome_of(report, "honest")
    assert set(honest.payoffs.values()) == {0}
    assert honest.outcome == ((0, ("closed", "P0", "P0")),)


@pytest.mark.parametrize(
    ("strategy", "attacker"),
    [
        ("junk_provider_copies_features", "X"),
        ("collector_short_periods", "C"),
        ("best_withholds", "P0"),
        ("worst_copies_features", "P2"),
    ],
)
def test_each_attack_of_the_issue_leaves_the_attacker_no_better_off(report, strategy, attacker):
    outcome = outcome_of(report, strategy)
    assert outcome.strategy.attack, "the strategy names the attack it replays"
    assert outcome.money[attacker] <= 0 and outcome.payoffs[attacker] <= 0
    honest = {party for party in outcome.money if party != attacker}
    assert all(outcome.money[p] >= 0 or p == "C" for p in honest)
    assert all(outcome.payoffs[p] >= 0 for p in honest)


def test_copies_do_not_cost_the_honest_provider_the_deal(report):
    for strategy in ("worst_copies_features", "junk_provider_copies_features"):
        assert outcome_of(report, strategy).outcome == ((0, ("closed", "P0", "P0")),)


def test_a_junk_review_or_key_costs_the_deviator(report):
    for strategy in ("best_junk_review", "best_junk_claim"):
        outcome = outcome_of(report, strategy)
        assert outcome.payoffs["P0"] < 0 < outcome.payoffs["C"]


def test_the_residual_is_named_and_within_its_bound(report):
    outcome = outcome_of(report, "best_features_of_other_data")
    assert outcome.residual is RESIDUALS["best_features_of_other_data"]
    assert outcome.payoffs["P0"] == COMPENSATION == -outcome.payoffs["C"]
    assert outcome.residual.bound == COMPENSATION


@pytest.mark.parametrize(
    ("mutant_id", "strategy"),
    [
        ("guard-dispute_review-sealed-key-is-valid", "collector_disputes_a_good_review"),
        ("guard-dispute_claim-master-key-is-valid", "collector_disputes_a_good_key"),
    ],
)
def test_flags_a_contract_that_lets_a_deviation_pay(mutant_id, strategy):
    """Break the contract on purpose: the table must show the profitable deviation."""
    bundle = get_mutant(mutant_id).load()
    chosen = tuple(s for s in STRATEGIES if s.name in ("honest", strategy))
    report = run_economics({"spec-mutant": lambda: spec_world(bundle.contract)}, chosen)
    assert not report.ok
    problems = outcome_of(report, strategy).problems
    assert any("C earns" in p for p in problems) and any("honest P0 loses" in p for p in problems)


def test_engines_that_disagree_are_reported():
    """Two engines must give the same payoffs; one whose contract pays a deposit to
    the collector instead of the provider does not."""
    chosen = tuple(s for s in STRATEGIES if s.name == "honest")
    bundle = get_mutant("recipient-claim_deposit-to-collector").load()
    report = run_economics(
        {"spec": spec_world, "other": lambda: spec_world(bundle.contract)}, chosen
    )
    assert not report.ok
    assert report.disagreements and report.disagreements[0].startswith("honest: other gives")
