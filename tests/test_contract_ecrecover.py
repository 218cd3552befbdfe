"""The ecrecover trick the disputes rest on (`hyperx.spec.secp256k1`), on py-evm
(titanoboa): ecrecover(0, 27 + parity(E.y), E.x, d * E.x mod N) is address(d * E),
and every input the spec's `ecrecover` refuses (r or s outside [1, N), r not on the
curve, v not 27 or 28) gives no output from the precompile, which Vyper's builtin
reads as the zero address. `test_contract_anvil.py` asks anvil the same."""

import boa
import pytest
from contract_twin import ecrecover_cases, review_key, review_secret
from eth_account import Account

from hyperx.spec import secp256k1

PRECOMPILE = "0x0000000000000000000000000000000000000001"
HARNESS = """
# pragma version 0.4.3
@external
@view
def recover(v: uint256, r: uint256, s: uint256) -> address:
    return ecrecover(empty(bytes32), v, r, s)
"""
CASES = ecrecover_cases()


def _input(v: int, r: int, s: int) -> bytes:
    return b"\x00" * 32 + b"".join(word.to_bytes(32, "big") for word in (v, r, s))


@pytest.fixture(scope="module")
def harness():
    return boa.loads(HARNESS)


@pytest.mark.parametrize("case", sorted(CASES))
def test_precompile_agrees_with_the_spec(harness, case):
    v, r, s = CASES[case]
    expected = secp256k1.ecrecover(0, v, r, s)
    output = boa.env.raw_call(to_address=PRECOMPILE, data=_input(v, r, s)).output
    assert (output[12:] if output else secp256k1.ZERO_ADDRESS_BYTES) == expected
    assert len(output) == (0 if expected == secp256k1.ZERO_ADDRESS_BYTES else 32)
    assert bytes.fromhex(str(harness.recover(v, r, s))[2:]) == expected


def test_the_public_address_is_the_ethereum_address_of_the_secret():
    secret = review_secret(0)
    address = bytes.fromhex(Account.from_key(secret.to_bytes(32, "big")).address[2:])
    assert secp256k1.compute_public_address(secret) == address
    assert secp256k1.address_of_encoding(secp256k1.compute_public_key(secret)) == address


def test_the_shared_address_is_symmetric():
    """address(d * E) = address(e * D): what the sealer and the contract compute."""
    d, e = review_secret(0), review_secret(1)
    shared_by_d = secp256k1.compute_recovered_address(d, review_key(1))
    shared_by_e = secp256k1.compute_recovered_address(e, review_key(0))
    assert shared_by_d == shared_by_e != secp256k1.ZERO_ADDRESS_BYTES
