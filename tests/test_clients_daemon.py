"""The clients' machinery on the spec's F_BC: handled-once events, confirmation depth,
restarts from SQLite, and the re-send of a transaction a reorg dropped (Figure 4)."""

import pytest

from hyperx.impl.clients.daemon import Party
from hyperx.impl.clients.ledger import Account, SpecLedger
from hyperx.impl.clients.state import FAILED, MINED, StateStore
from hyperx.spec.chain import Blockchain
from hyperx.spec.config import MIN_PERIOD_S

REWARD = 10**18
DEPOSIT = 10**17
GENESIS = 1_700_000_000


class Opener(Party):
    """Opens one session and counts the CreateSession events it handles."""

    role = "opener"

    def on_CreateSession(self, event):
        self.state.put("seen", event.event_id, self.state.get("seen", event.event_id, 0) + 1)

    def open_session(self, name="create_session"):
        now = self.chain.timestamp(self.chain.head())
        self.intend(
            name,
            "create_session",
            REWARD,
            DEPOSIT,
            1_000,
            10,
            now + 3_600,
            MIN_PERIOD_S,
            MIN_PERIOD_S,
            b"\x01" * 32,
            value=REWARD,
        )

    def handled_counts(self):
        return list(self.state.scope("seen").values())


@pytest.fixture
def chain():
    blockchain = Blockchain(finality_depth=10, genesis_time=GENESIS)
    account = Account.create()
    blockchain.fund(account.address, 10 * REWARD)
    return SpecLedger(blockchain), account


def test_state_store_keeps_bytes_and_rolls_back(tmp_path):
    state = StateStore(tmp_path / "s.sqlite")
    state.put("a", "key", {"k": b"\x00\xff", "list": [b"x", 1]})
    with pytest.raises(RuntimeError, match="boom"), state.transaction():
        state.put("a", "key", "overwritten")
        raise RuntimeError("boom")
    assert StateStore(tmp_path / "s.sqlite").get("a", "key") == {
        "k": b"\x00\xff",
        "list": [b"x", 1],
    }


def test_event_is_handled_once_across_turns_and_restarts(chain, tmp_path):
    ledger, account = chain
    party = Opener(ledger, account, StateStore(tmp_path / "p.sqlite"))
    party.open_session()
    for _ in range(3):
        party.step()
    restarted = Opener(ledger, account, StateStore(tmp_path / "p.sqlite"))
    for _ in range(3):
        restarted.step()
    assert restarted.handled_counts() == [1]
    assert restarted.intent_status("create_session") == MINED
    assert len(ledger.blockchain.contract.sessions) == 1


def test_events_wait_for_the_confirmation_depth(chain, tmp_path):
    ledger, account = chain
    party = Opener(ledger, account, StateStore(tmp_path / "p.sqlite"), confirmations=2)
    party.open_session()
    party.step()  # sends; the block with the event is at depth 0
    party.step()
    assert party.handled_counts() == []
    assert party.intent_status("create_session") == "sent"
    ledger.advance_time(1)
    ledger.advance_time(1)
    party.step()
    assert party.handled_counts() == [1]
    assert party.intent_status("create_session") == MINED


def test_reorg_that_drops_a_transaction_is_healed_by_the_resend(chain, tmp_path):
    ledger, account = chain
    party = Opener(ledger, account, StateStore(tmp_path / "p.sqlite"))
    party.open_session()
    party.step()
    party.step()
    first = party.state.intent("create_session").tx_hash
    assert list(party.state.scope("seen")) == [f"{first}:0"]
    ledger.blockchain.reorg(
        1, requeue=False
    )  # the block with create_session is gone, and so is the tx
    assert ledger.blockchain.contract.sessions == []
    ledger.advance_time(5)  # the new branch is longer than the old one
    for _ in range(3):
        party.step()
    intent = party.state.intent("create_session")
    assert intent.status == MINED and intent.tx_hash != first
    assert len(ledger.blockchain.contract.sessions) == 1
    # what handling the dropped event changed was undone; the re-sent one was handled once
    assert party.state.scope("seen") == {f"{intent.tx_hash}:0": 1}


def test_rejects_a_call_the_contract_refuses_with_its_reason(chain, tmp_path):
    ledger, account = chain
    party = Opener(ledger, account, StateStore(tmp_path / "p.sqlite"))
    party.intend("bad", "claim_refund", 7)
    party.step()
    intent = party.state.intent("bad")
    assert (intent.status, intent.detail) == (FAILED, "hyperx: unknown session")
    assert intent.hashes == []
