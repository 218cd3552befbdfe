"""Paper Figure 4 on a real node: a reorg (anvil's evm_snapshot / evm_revert) drops
SetOptimal, ClaimReward and the payouts after the fact; the clients notice, undo
what those blocks told them, and send their transactions again until the deal closes
and its complaint window passes. And on the spec's F_BC, a reorg that drops the
collector's choice of candidate, review key included."""

from eth_account import Account

from hyperx.impl.chain.connection import connect_rpc
from hyperx.impl.chain.market import Market
from hyperx.impl.clients.session import RunOptions, build_session, spec_venue, web3_venue
from tests.clients_harness import TINY, make_assessor, new_session

TIMEOUT_S = 300


def test_reorg_that_drops_claim_reward_is_healed_by_the_resend(anvil, tmp_path):
    funder = Account.create()
    anvil.fund(funder.address, 10**21)
    chain = connect_rpc(anvil.url, funder)
    market, _ = Market.deploy(chain, funder)
    options = RunOptions(
        **{**TINY.__dict__, "providers": 1, "rpc": anvil.url, "state_dir": tmp_path}
    )
    harness = build_session(
        options, venue=web3_venue(chain, market, funder), assessor=make_assessor()
    )
    (provider,) = harness.providers
    sid = lambda: provider.session()  # noqa: E731

    reviewed = lambda: sid() is not None and market.get_session(sid())["review_submitted"]  # noqa: E731
    harness.run(TIMEOUT_S, until=reviewed)
    snapshot = anvil.snapshot()  # the review is in; SetOptimal and ClaimReward are still to come
    harness.run(TIMEOUT_S, until=lambda: provider.intent_status(f"claim_reward:{sid()}") == "mined")
    dropped = provider.state.intent(f"claim_reward:{sid()}").tx_hash
    assert market.get_session(sid())["st_trade"] == 3  # closed

    anvil.revert(snapshot)
    assert harness.ledger.receipt(dropped) is None
    assert market.get_session(sid())["st_trade"] == 1  # reviewing again: the deal is undone

    harness.run(TIMEOUT_S)
    resent = provider.state.intent(f"claim_reward:{sid()}")
    assert resent.tx_hash != dropped and harness.ledger.receipt(resent.tx_hash).success
    report = harness.report()
    assert report.state == "closed"
    assert (
        report.collector["dataset"]
        == f"{options.shards} shards, {len(provider.x)} entries verified"
    )
    reward_net = report.providers["provider-1"]["balance_delta"] + provider.gas()[1]
    assert reward_net == options.reward_wei
    assert provider.facts()["payout"] == options.deposit_wei + options.reward_wei
    assert market.balance() == 0


def test_reorg_two_deep_that_orphans_claim_reward_the_collector_saw(anvil, tmp_path):
    """The collector acts on ClaimReward one confirmation deep, but stays until it is
    final (anvil: the `finalized` block, 64 deep): a two-block reorg that orphans it is
    noticed, what it told the collector is undone, and the re-sent claim is handled."""
    funder = Account.create()
    anvil.fund(funder.address, 10**21)
    chain = connect_rpc(anvil.url, funder)
    market, _ = Market.deploy(chain, funder)
    options = RunOptions(
        **{
            **TINY.__dict__,
            "providers": 1,
            "rpc": anvil.url,
            "state_dir": tmp_path,
            "confirmations": 1,
        }
    )
    harness = build_session(
        options, venue=web3_venue(chain, market, funder), assessor=make_assessor()
    )
    collector, (provider,) = harness.collector, harness.providers
    harness.run(TIMEOUT_S, until=lambda: "dataset" in collector.facts())
    claim = provider.state.intent(f"claim_reward:{collector.session()}")
    orphaned = f"{claim.tx_hash}:0"
    assert collector.state.is_handled(orphaned) and not collector.is_settled()

    depth = harness.ledger.head() - claim.block_number + 1
    assert depth >= 2
    anvil.reorg(depth)
    assert harness.ledger.receipt(claim.tx_hash) is None
    harness.run(TIMEOUT_S)

    resent = provider.state.intent(f"claim_reward:{collector.session()}")
    assert len(resent.hashes) == 2 and resent.tx_hash != claim.tx_hash
    assert not collector.state.is_handled(orphaned)
    assert collector.state.is_handled(f"{resent.tx_hash}:0")
    assert (
        collector.facts()["dataset"]
        == f"{options.shards} shards, {len(provider.x)} entries verified"
    )
    assert collector.is_settled() and provider.is_settled()
    assert market.get_session(collector.session())["st_trade"] == 3 and market.balance() == 0


def test_reorg_that_drops_the_choice_of_candidate_keeps_the_review_key(tmp_path):
    """The review key's secret is drawn once and lasts as the set_candidate intent that
    names its public key does: a reorg that drops the choice (and the block the
    collector decided in) sends the same key again, and the review then opens."""
    venue = spec_venue(finality_depth=8)
    harness = new_session(venue, make_assessor(), tmp_path, providers=1)
    collector, (provider,) = harness.collector, harness.providers
    harness.run(TIMEOUT_S, until=lambda: collector.intent_status("set_candidate") == "mined")
    secret, chosen = collector.review_secret(), collector.state.intent("set_candidate")
    blockchain = venue.ledger.blockchain
    decided_in = chosen.block_number - 1  # the block whose time passed the evaluation deadline
    blockchain.reorg(blockchain.height - decided_in + 1, requeue=False)
    harness.run(TIMEOUT_S)
    resent = collector.state.intent("set_candidate")
    assert len(resent.hashes) == 2 and resent.args == chosen.args
    assert collector.review_secret() == secret
    assert collector.providers()[provider.address]["review"] == "accepted"
    assert harness.report().state == "closed"
