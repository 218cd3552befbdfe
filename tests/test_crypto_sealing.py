"""ECIES sealing of K_data to the collector's secp256k1 key, and the key helpers."""

import coincurve
import eth_keys
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperx.impl.crypto import (
    K_DATA_BYTES,
    CryptoError,
    eth_address_from_public_key,
    open_k_data,
    public_key_from_private_key,
    seal_k_data,
)
from hyperx.impl.crypto.sealing import SEALED_K_DATA_BYTES
from hyperx.spec.config import MAX_SEALED_KEY_BYTES

GROUP_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

private_keys = st.integers(1, GROUP_ORDER - 1).map(lambda k: k.to_bytes(32, "big"))
k_datas = st.binary(min_size=K_DATA_BYTES, max_size=K_DATA_BYTES)
contexts = st.binary(max_size=128)


def test_known_ethereum_key_gives_known_address():
    # The address of private key 1 is a well-known constant of secp256k1/Ethereum.
    public_key = public_key_from_private_key("0x" + "00" * 31 + "01")
    assert public_key[0] == 4 and len(public_key) == 65
    assert eth_address_from_public_key(public_key) == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    assert (
        eth_address_from_public_key(public_key[1:]) == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    )
    compressed = coincurve.PublicKey(public_key).format(compressed=True)
    assert (
        eth_address_from_public_key(compressed.hex())
        == "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
    )


@given(private_keys, k_datas, contexts)
def test_seal_open_round_trip(private_key, k_data, context):
    public_key = public_key_from_private_key(private_key)
    sealed = seal_k_data(public_key, k_data, context)
    assert len(sealed) == SEALED_K_DATA_BYTES <= MAX_SEALED_KEY_BYTES
    assert open_k_data(private_key, sealed, context) == k_data
    assert open_k_data("0x" + private_key.hex(), sealed, context) == k_data


@given(private_keys, k_datas)
def test_public_key_forms_are_equivalent(private_key, k_data):
    public_key = public_key_from_private_key(private_key)
    for form in (public_key[1:], public_key.hex(), coincurve.PublicKey(public_key).format(True)):
        assert open_k_data(private_key, seal_k_data(form, k_data)) == k_data


@given(private_keys, private_keys, k_datas)
def test_rejects_wrong_private_key(private_key, other, k_data):
    if other == private_key:
        other = (int.from_bytes(other, "big") % (GROUP_ORDER - 1) + 1).to_bytes(32, "big")
    sealed = seal_k_data(public_key_from_private_key(private_key), k_data)
    with pytest.raises(
        CryptoError,
        match="^sealed K_data could not be opened: not sealed to this private key, or tampered$",
    ):
        open_k_data(other, sealed)


@given(private_keys, k_datas, st.data())
def test_rejects_tampered_sealed_key(private_key, k_data, data):
    sealed = bytearray(seal_k_data(public_key_from_private_key(private_key), k_data))
    position = data.draw(st.integers(0, len(sealed) - 1), label="position")
    sealed[position] ^= data.draw(st.integers(1, 255), label="flip")
    with pytest.raises(CryptoError, match="sealed K_data could not be opened"):
        open_k_data(private_key, bytes(sealed))


@given(private_keys, k_datas, contexts, contexts)
def test_rejects_key_sealed_for_another_context(private_key, k_data, context, other):
    if other == context:
        other = context + b"\x01"
    sealed = seal_k_data(public_key_from_private_key(private_key), k_data, context)
    with pytest.raises(
        CryptoError, match=r"sealed for another session or provider \(context differs\)"
    ):
        open_k_data(private_key, sealed, other)


def test_rejects_k_data_of_wrong_length():
    public_key = public_key_from_private_key(b"\x01" * 32)
    with pytest.raises(CryptoError, match="K_data must be 32 bytes, got 31"):
        seal_k_data(public_key, bytes(31))


@pytest.mark.parametrize(
    ("private_key", "message"),
    [
        (bytes(32), r"private key is out of range for secp256k1 \(zero or >= group order\)"),
        (GROUP_ORDER.to_bytes(32, "big"), r"private key is out of range for secp256k1"),
        (bytes(31), "a secp256k1 private key is 32 bytes, got 31"),
        ("0xnothex", r"private key is not hex \(0x-prefixed or bare\) nor bytes"),
    ],
)
def test_rejects_bad_private_key(private_key, message):
    with pytest.raises(CryptoError, match=message):
        public_key_from_private_key(private_key)


@pytest.mark.parametrize(
    ("public_key", "message"),
    [
        (b"\x04" + bytes(64), "public key is not a point on secp256k1"),
        (bytes(40), "a secp256k1 public key is 33, 64 or 65 bytes, got 40"),
    ],
)
def test_rejects_bad_public_key(public_key, message):
    with pytest.raises(CryptoError, match=message):
        seal_k_data(public_key, bytes(32))


@given(private_keys)
def test_key_helpers_agree_with_eth_keys(private_key):
    # eth_keys is the key library web3.py signs with: an independent implementation.
    reference = eth_keys.keys.PrivateKey(private_key).public_key
    public_key = public_key_from_private_key(private_key)
    assert public_key[1:] == reference.to_bytes()
    assert eth_address_from_public_key(public_key) == reference.to_checksum_address()


@pytest.mark.parametrize("prefix", [0x06, 0x07, 0x02, 0x03])
def test_rejects_sealed_key_with_other_point_encoding(prefix):
    # 0x06/0x07 ("hybrid") parse as the same point as 0x04 in libsecp256k1; a sealed
    # key so changed must still count as tampered (found by the thorough profile).
    private_key = b"\x01" * 32
    sealed = seal_k_data(public_key_from_private_key(private_key), bytes(32))
    with pytest.raises(CryptoError, match="sealed K_data could not be opened: malformed"):
        open_k_data(private_key, bytes([prefix]) + sealed[1:])


@pytest.mark.parametrize("cut", [-1, 1])
def test_rejects_sealed_key_of_wrong_length(cut):
    private_key = b"\x01" * 32
    sealed = seal_k_data(public_key_from_private_key(private_key), bytes(32))
    with pytest.raises(CryptoError, match=r"malformed \(expected 145 bytes starting with"):
        open_k_data(private_key, sealed[:cut] if cut < 0 else sealed + b"\x00")
