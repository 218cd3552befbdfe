"""Conformance: the chain's log of a finished session, replayed through the spec's
Prot_SC, is accepted call by call (and the reverted calls are rejected), emits the
same events, and ends in the same state and escrow as the Vyper contract."""

import copy

import pytest

from hyperx.spec.contract import INTERFACES, MarketState, Msg, get_escrow
from tests.clients_harness import make_assessor, make_embedded, new_session


@pytest.fixture(scope="module")
def embedded():
    return make_embedded()


@pytest.fixture(scope="module")
def assessor():
    return make_assessor()


def spec_args(market, name: str, args: dict) -> list:
    """The decoded calldata in the spec's argument order and vocabulary (Merkle proofs
    travel as their siblings, as the spec takes them)."""
    inputs = [i["name"] for i in market.contract.get_function_by_name(name).abi["inputs"]]
    values = [_plain(args[i]) for i in inputs]
    return values


def _as_chain(value):
    """A spec value as the chain's getter returns it: the review key (20 bytes in the
    spec, an address on chain) as an address."""
    return "0x" + value.hex() if isinstance(value, bytes) and len(value) == 20 else value


def _plain(value):
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return bytes(value) if isinstance(value, (bytes, bytearray)) else value


def replay(market) -> tuple[MarketState, dict]:
    w3 = market.chain.w3
    state, tally = MarketState(), {"accepted": 0, "rejected": 0}
    for number in range(w3.eth.block_number + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for listed in block.transactions:
            if listed["to"] is None or listed["to"].lower() != market.address.lower():
                continue
            tx = w3.eth.get_transaction(listed["hash"])
            function, args = market.contract.decode_function_input(tx["input"])
            name = function.fn_name
            receipt = w3.eth.get_transaction_receipt(tx["hash"])
            msg = Msg(sender=tx["from"].lower(), value=tx["value"], now=block.timestamp)
            before = copy.deepcopy(state)
            try:
                INTERFACES[name](state, msg, *spec_args(market, name, args))
                accepted = True
            except AssertionError:
                state, accepted = before, False
            assert accepted == (receipt["status"] == 1), (
                f"{name} in block {number}: spec {'accepted' if accepted else 'rejected'}"
            )
            if accepted:
                assert msg.events == list(market.decode_events(receipt)), name
            tally["accepted" if accepted else "rejected"] += 1
    return state, tally


def test_replayed_session_log_conforms_to_the_spec(embedded, assessor, tmp_path):
    harness = new_session(embedded, assessor, tmp_path)
    harness.run(300)
    assert harness.report().state == "closed"
    market = harness.ledger.market
    state, tally = replay(market)
    assert (
        tally["accepted"] >= 1 + 3 * 4 + 4
    )  # create; per provider 4 calls; candidate, review, optimal, claim
    sid = harness.collector.session()
    session = state.sessions[sid]
    on_chain = market.get_session(sid)
    for name, value in on_chain.items():
        assert _as_chain(getattr(session, name)) == _plain(value), name
    for pid, profile in session.profiles.items():
        for name, value in market.get_profile(sid, pid).items():
            assert getattr(profile, name) == value, (pid, name)
    assert sum(get_escrow(s) for s in state.sessions) == market.balance()
