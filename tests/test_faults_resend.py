"""Re-sends at the edges, on anvil: a transaction the node shows in a block before its
receipt, a create_session whose nonce is used though the node shows no attempt, and
a reorg that drops one transaction and leaves the next in the pool. In each, the
party sends nothing twice and wastes no transaction."""

import pytest
from eth_account import Account as EthAccount

from hyperx.impl.chain.connection import connect_rpc
from hyperx.impl.chain.market import Market
from hyperx.impl.clients.collector import CollectorClient, Terms
from hyperx.impl.clients.daemon import Party
from hyperx.impl.clients.finality import Finality
from hyperx.impl.clients.ledger import Account
from hyperx.impl.clients.state import MINED, StateStore
from hyperx.impl.clients.web3_ledger import Web3Ledger
from hyperx.impl.datastore import EmbeddedStore
from tests.clients_harness import make_assessor

REWARD = 10**18
AT_ONCE = Finality(0, None)  # act on the head block: each step sees what the last one sent


@pytest.fixture
def anvil(fresh_anvil):
    """A chain of the test's own: these tests stop its mining and reorganise it."""
    return fresh_anvil


@pytest.fixture
def market(anvil):
    funder = EthAccount.create()
    anvil.fund(funder.address, 10**21)
    return Market.deploy(connect_rpc(anvil.url, funder), funder)[0]


def funded_account(anvil) -> Account:
    account = Account.create()
    anvil.fund(account.address, 10 * REWARD)
    return account


class Opener(Party):
    """Decides to open sessions, each one intent: a call that must not land twice."""

    role = "opener"

    def open_session(self, name: str) -> None:
        now = self.chain.timestamp(self.chain.head())
        terms = [REWARD, REWARD // 100, 1_000, 10, now + 3_600, 600, 600, b"\x01" * 32]
        self.intend(name, "create_session", *terms, value=REWARD)


class RacyLedger(Web3Ledger):
    """A receipt asked for while its block is being mined: the node answers None, and
    the block lands right after (here, mined by the lookup itself)."""

    def __init__(self, market, anvil):
        super().__init__(market)
        self.anvil, self.racing = anvil, set()

    def receipt(self, tx_hash):
        if tx_hash in self.racing:
            self.racing.discard(tx_hash)
            self.anvil.mine()
            return None
        return super().receipt(tx_hash)


class ForgetfulLedger(Web3Ledger):
    """A node that no longer shows some transactions (a pruned transaction index, a
    restart): no receipt, not in the pool, though they were mined."""

    def __init__(self, market):
        super().__init__(market)
        self.forgotten = set()

    def receipt(self, tx_hash):
        return None if tx_hash in self.forgotten else super().receipt(tx_hash)

    def is_known(self, tx_hash):
        return tx_hash not in self.forgotten and super().is_known(tx_hash)


def test_a_transaction_seen_without_a_receipt_while_being_mined_is_not_sent_again(
    anvil, market, tmp_path
):
    ledger = RacyLedger(market, anvil)
    party = Opener(
        ledger, funded_account(anvil), StateStore(tmp_path / "p.sqlite"), finality=AT_ONCE
    )
    anvil.automine(False)
    party.open_session("create_session")
    party.step()  # signed and broadcast; it waits in the pool
    sent = party.state.intent("create_session")
    ledger.racing.add(sent.tx_hash)
    party.step()  # no receipt yet, but the node has the transaction: wait, do not re-send
    anvil.automine(True)
    for _ in range(3):
        party.step()
    intent = party.state.intent("create_session")
    assert (intent.status, intent.hashes) == (MINED, [sent.tx_hash])
    assert market.session_count() == 1


def test_create_session_whose_nonce_is_used_is_recognised_not_sent_again(anvil, market, tmp_path):
    ledger = ForgetfulLedger(market)
    collector = CollectorClient(
        ledger,
        funded_account(anvil),
        StateStore(tmp_path / "collector.sqlite"),
        EmbeddedStore(tmp_path / "store"),
        make_assessor(),
        finality=Finality(1, None),
    )
    collector.state.set_cursor(ledger.head())
    collector.start_session(Terms(REWARD, REWARD // 100, 2_500, 8, 3_600, 600, 600))
    collector.step()  # sent and mined, but one block short of being acted on
    original = collector.state.intent("create_session")
    assert collector.session() is None and ledger.receipt(original.tx_hash) is not None
    ledger.forgotten.add(original.tx_hash)
    collector.step()  # the node shows no attempt, the nonce is used: the chain has our session
    intent = collector.state.intent("create_session")
    assert intent.status == MINED and intent.hashes == [original.tx_hash]
    assert intent.detail.startswith("done: its nonce was used")
    anvil.mine()
    collector.step()
    assert collector.session() == 0 and market.session_count() == 1


def test_reorg_that_drops_one_transaction_resends_it_with_its_nonce_and_keeps_the_next(
    anvil, market, tmp_path
):
    party = Opener(
        Web3Ledger(market),
        funded_account(anvil),
        StateStore(tmp_path / "p.sqlite"),
        finality=AT_ONCE,
    )
    anvil.automine(False)
    party.open_session("first")
    party.open_session("second")
    party.step()
    anvil.mine()  # the first is mined, at nonce 0
    party.step()  # the first counts as mined; the second goes out, at nonce 1, and waits
    first, second = party.state.intent("first"), party.state.intent("second")
    assert (first.status, first.nonce, second.nonce) == (MINED, 0, 1)
    anvil.reorg(1)  # the first's block is replaced: it is gone; the second stays in the pool
    party.step()  # the first is sent again, at its own nonce 0, so the second can follow
    anvil.mine()
    for _ in range(3):
        party.step()
    first, second = party.state.intent("first"), party.state.intent("second")
    assert (first.status, first.nonce, len(first.hashes)) == (MINED, 0, 2)
    assert (second.status, second.hashes) == (MINED, [second.tx_hash])  # never re-sent
    assert market.session_count() == 2
    assert party.chain.nonce(party.address) == 2  # no transaction wasted
