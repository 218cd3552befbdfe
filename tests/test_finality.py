"""The finality rule (`hyperx.impl.clients.finality`), the settling of a party under it,
and the development-chain guard of `--dev`, on the spec's F_BC and small fakes."""

import pytest

from hyperx.impl.clients.devchain import require_dev_chain
from hyperx.impl.clients.finality import Finality
from hyperx.impl.clients.ledger import Account, SpecLedger
from hyperx.impl.clients.state import StateStore
from hyperx.impl.errors import BadInput
from hyperx.spec.chain import Blockchain
from tests.test_clients_daemon import Opener as Counting

REWARD = 10**18


class Tagged:
    """A node that answers the finality tags with these blocks (None: it does not)."""

    def __init__(self, finalized=None, safe=None):
        self.tags = {"finalized": finalized, "safe": safe}

    def tagged_block(self, tag):
        return self.tags[tag]


@pytest.mark.parametrize(
    ("finality", "node", "final"),
    [
        (Finality(1, "finalized"), Tagged(finalized=36, safe=68), 36),
        (Finality(1, "safe"), Tagged(finalized=36, safe=68), 68),
        (Finality(1, "finalized"), Tagged(), 99),  # the node has no tag: the acting block
        (Finality(1, None), Tagged(finalized=36), 99),
        (Finality(3, "finalized"), Tagged(finalized=100), 97),  # never above the acting block
    ],
)
def test_final_block_follows_the_tag_the_node_answers(finality, node, final):
    assert finality.final_block(node, head=100) == final
    assert finality.acting_block(100) == 100 - finality.confirmations


def test_rejects_a_negative_depth_and_an_unknown_tag():
    with pytest.raises(ValueError, match="at least 0"):
        Finality(-1)
    with pytest.raises(ValueError, match="finality tag"):
        Finality(1, "latest")


class Opener(Counting):
    """Opens one session; done once it saw it."""

    def is_done(self):
        return bool(self.handled_counts())


def test_a_party_settles_only_once_what_it_acted_on_is_final(tmp_path):
    blockchain = Blockchain(finality_depth=3, genesis_time=1_700_000_000)
    account = Account.create()
    blockchain.fund(account.address, 10 * REWARD)
    ledger = SpecLedger(blockchain)
    party = Opener(ledger, account, StateStore(tmp_path / "p.sqlite"), finality=Finality(0))
    party.open_session("open")
    party.step()
    party.step()
    assert party.is_done() and not party.is_settled()
    mined_in = party.state.intent("open").block_number
    assert party.waiting_for_finality() == mined_in
    for _ in range(3):
        ledger.mine()
        party.step()
    assert party.final_block >= mined_in and party.is_settled()


class FakeNode:
    def __init__(self, version, chain_id):
        self.version, self.chain_id = version, chain_id

    def client_version(self):
        return self.version


@pytest.mark.parametrize(
    ("version", "chain_id", "dev"),
    [
        ("anvil/v1.7.1", 31337, True),
        ("HardhatNetwork/2.22.0/@ethereumjs/vm/7.0.0", 31337, True),
        ("EthereumTester/0.14.0b1/linux/python3.11.7", 131277322940537, True),
        ("Geth/v1.14.0-stable/linux-amd64/go1.22.1", 1, False),
        ("anvil/v1.7.1", 1, False),  # a fork of mainnet under anvil's name: not ours to mine
    ],
)
def test_dev_mode_only_on_a_development_chain(version, chain_id, dev):
    node = FakeNode(version, chain_id)
    if dev:
        require_dev_chain(node)
    else:
        with pytest.raises(BadInput, match="only a development chain"):
            require_dev_chain(node)
