"""The economic adversary on the contract (hyperx/impl/chain/engine.py): every
strategy replayed with the Vyper contract executing every transaction, on
titanoboa's EVM and, for the issue's four attacks, on anvil; the payoffs are the
spec's to the wei."""

import pytest

from hyperx.impl.chain.engine import EngineError, embedded_world, node_world_factory
from hyperx.verify.economics import STRATEGIES, run_economics, spec_world

ATTACKS = ("honest",) + tuple(s.name for s in STRATEGIES if s.attack)


def by_name(report, engine: str) -> dict:
    return {o.strategy.name: o for o in report.outcomes if o.engine == engine}


def test_every_strategy_pays_the_same_on_the_contract():
    report = run_economics({"spec": spec_world, "evm": embedded_world})
    assert report.disagreements == []
    assert report.ok, [
        (o.strategy.name, o.engine, o.problems) for o in report.outcomes if o.problems
    ]
    evm = by_name(report, "evm")
    assert len(evm) == len(STRATEGIES)
    assert evm["best_junk_review"].outcome == ((0, ("review_rejected", "P0", None)),)
    assert evm["best_junk_claim"].outcome == ((0, ("claim_rejected", "P0", "P0")),)


@pytest.mark.integration
def test_the_four_attacks_pay_nothing_on_anvil(anvil):
    chosen = tuple(s for s in STRATEGIES if s.name in ATTACKS)
    report = run_economics({"spec": spec_world, "rpc": node_world_factory(anvil.url)}, chosen)
    assert report.disagreements == [] and report.ok
    rpc = by_name(report, "rpc")
    for strategy in chosen:
        outcome = rpc[strategy.name]
        attacker = strategy.deviator
        if attacker:
            assert outcome.money[attacker] <= 0, (strategy.name, outcome.money)
        assert all(outcome.payoffs[p] >= 0 for p in outcome.payoffs if p != attacker)
        # gas was paid for real on anvil and is reported beside the payoffs
        assert any(cost > 0 for cost in outcome.gas.values()), strategy.name


def test_rejects_a_node_that_does_not_answer():
    with pytest.raises(EngineError, match="no node answers"):
        node_world_factory("http://127.0.0.1:1")
