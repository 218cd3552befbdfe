"""Paper Figure 4 on a real node: a reorg (anvil's evm_snapshot / evm_revert) drops
SetOptimal, ClaimReward and the deposits after the fact; the clients notice, undo
what those blocks told them, and send their transactions again until the deal closes."""

import pytest
from eth_account import Account

from hyperx.impl.chain.connection import connect_rpc
from hyperx.impl.chain.market import Market
from hyperx.impl.clients.anvil import AnvilNode
from hyperx.impl.clients.session import RunOptions, build_session
from hyperx.impl.datastore.node import find_node_bin
from tests.clients_harness import TINY, make_assessor

TIMEOUT_S = 300


@pytest.fixture(scope="module")
def anvil():
    if find_node_bin("anvil") is None:
        pytest.skip("anvil is not installed: run `npm ci --omit=optional --no-audit --no-fund`")
    with AnvilNode() as node:
        yield node


def test_reorg_that_drops_claim_reward_is_healed_by_the_resend(anvil, tmp_path):
    funder = Account.create()
    anvil.fund(funder.address, 10**21)
    chain = connect_rpc(anvil.url, funder)
    market, _ = Market.deploy(chain, funder)
    options = RunOptions(
        **{**TINY.__dict__, "providers": 1, "rpc": anvil.url, "state_dir": tmp_path}
    )
    harness = build_session(options, connection=(chain, market, funder), assessor=make_assessor())
    (provider,) = harness.providers
    sid = lambda: provider.session()  # noqa: E731

    reviewed = lambda: sid() is not None and market.get_session(sid())["review_submitted"]  # noqa: E731
    harness.run(TIMEOUT_S, until=reviewed)
    snapshot = anvil.snapshot()  # the review is in; SetOptimal and ClaimReward are still to come
    harness.run(
        TIMEOUT_S, until=lambda: provider.intent_status(f"claim_reward:{sid()}:0") == "mined"
    )
    dropped = provider.state.intent(f"claim_reward:{sid()}:0").tx_hash
    assert market.get_session(sid())["st_trade"] == 3  # closed

    anvil.revert(snapshot)
    assert harness.ledger.receipt(dropped) is None
    assert market.get_session(sid())["st_trade"] == 1  # reviewing again: the deal is undone

    harness.run(TIMEOUT_S)
    resent = provider.state.intent(f"claim_reward:{sid()}:0")
    assert resent.tx_hash != dropped and harness.ledger.receipt(resent.tx_hash).success
    report = harness.report()
    assert report.state == "closed"
    assert (
        report.collector["dataset"]
        == f"{options.shards} shards, {len(provider.x)} entries verified"
    )
    reward_net = report.providers["provider-1"]["balance_delta"] + provider.gas()[1]
    assert reward_net == options.reward_wei
    assert provider.facts()["deposit_returned"] == options.deposit_wei
    assert market.balance() == 0
