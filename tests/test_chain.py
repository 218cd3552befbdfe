"""F_BC and F_DS of the spec: execution, reverts, mempool, finality, reorgs, storage."""

import pytest

from hyperx.spec.chain import CONTRACT_ADDRESS, Blockchain, Call
from hyperx.spec.datastore import Datastore, compute_datastore_key
from hyperx.spec.merkle import compute_merkle_root

COLLECTOR = "0x" + "aa" * 20
PROVIDER = "0x" + "01" * 20
THETA = b"\x11" * 32
ROOT = compute_merkle_root([bytes([i]) * 32 for i in range(10)])


def make_chain(depth: int = 2) -> Blockchain:
    chain = Blockchain(finality_depth=depth, genesis_time=1_000)
    chain.fund(COLLECTOR, 10**6)
    chain.fund(PROVIDER, 1_000)
    chain.submit(COLLECTOR, 500, "create_session", 500, 10, 1_000, 10, 5_000, 600, 600, THETA)
    chain.mine()
    return chain


def test_a_successful_call_moves_value_into_the_contract():
    chain = make_chain()
    assert chain.balance(CONTRACT_ADDRESS) == 500
    assert chain.balance(COLLECTOR) == 10**6 - 500
    assert chain.contract.sessions[0].collector == COLLECTOR


def test_a_reverted_call_keeps_value_and_state():
    chain = make_chain()
    chain.submit(PROVIDER, 11, "registration", 0, ROOT, 10, ROOT)
    (receipt,) = chain.mine().receipts
    assert not receipt.success
    assert receipt.reason == "hyperx: value is not the deposit"
    assert chain.balance(PROVIDER) == 1_000
    assert chain.contract.sessions[0].profiles == {}


def test_the_mempool_is_public_before_inclusion():
    chain = make_chain()
    tx = chain.submit(PROVIDER, 10, "registration", 0, ROOT, 10, ROOT)
    assert chain.pending() == [tx]
    chain.mine(include=[])
    assert chain.pending() == [tx]
    chain.mine(include=[tx.tx_id])
    assert chain.pending() == []


def test_events_become_visible_once_final():
    chain = make_chain(depth=2)
    chain.submit(PROVIDER, 10, "registration", 0, ROOT, 10, ROOT)
    chain.mine()
    names = [event.name for _, event in chain.events(final_only=True)]
    assert "Registration" not in names
    chain.mine()
    chain.mine()
    assert [event.name for _, event in chain.events(final_only=True)] == [
        "CreateSession",
        "Registration",
    ]


@pytest.mark.parametrize("requeue", [True, False])
def test_a_reorg_drops_non_final_blocks(requeue):
    chain = make_chain(depth=3)
    tx = chain.submit(PROVIDER, 10, "registration", 0, ROOT, 10, ROOT)
    chain.mine()
    dropped = chain.reorg(1, requeue=requeue)
    assert dropped == [tx]
    assert chain.balance(PROVIDER) == 1_000
    assert chain.contract.sessions[0].profiles == {}
    assert chain.pending() == ([tx] if requeue else [])


def test_rejects_a_reorg_of_final_blocks():
    chain = make_chain(depth=1)
    chain.mine()
    with pytest.raises(AssertionError, match="cannot drop final blocks"):
        chain.reorg(2)


def test_rejects_value_on_a_non_payable_interface_and_unknown_calls():
    chain = make_chain()
    with pytest.raises(AssertionError, match="claim_deposit is not payable"):
        chain.submit(PROVIDER, 1, "claim_deposit", 0)
    with pytest.raises(AssertionError, match="unknown interface 'steal'"):
        Call("steal", ())


def test_datastore_is_content_addressed_and_immutable():
    store = Datastore()
    key = store.store(b"shard")
    assert key == compute_datastore_key(b"shard")
    assert store.get(key) == b"shard"
    with pytest.raises(AssertionError, match="unknown datastore key"):
        store.get(b"\x00" * 32)


def test_rejects_a_transaction_from_address_zero():
    """No key signs for address 0: F_BC refuses it, so a guard that a pending
    session's P_opt (still address 0) must pass can never be met by anyone."""
    chain = Blockchain()
    with pytest.raises(AssertionError, match="no transaction comes from address 0"):
        chain.submit("0x" + "00" * 20, 0, "claim_deposit", 0)
