"""ECIES seals of a payload to one party's secp256k1 key, bound to a context (the
features to the collector, bound to the session and the provider), and the key helpers:
review keys as the contract and the spec's key seals take them."""

import coincurve
import eth_keys
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperx.impl.crypto import (
    CryptoError,
    eth_address_from_public_key,
    features_context,
    new_review_key,
    open_sealed,
    public_key_from_private_key,
    seal_to,
    session_binding,
)
from hyperx.impl.crypto.sealing import SEAL_OVERHEAD_BYTES
from hyperx.spec import secp256k1
from hyperx.spec.sealing import draw_ephemeral, open_sealed_key, seal_keys

GROUP_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

private_keys = st.integers(1, GROUP_ORDER - 1).map(lambda k: k.to_bytes(32, "big"))
payloads = st.binary(max_size=512)
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


@given(private_keys, payloads, contexts)
def test_seal_open_round_trip(private_key, payload, context):
    public_key = public_key_from_private_key(private_key)
    sealed = seal_to(public_key, payload, context)
    assert len(sealed) == SEAL_OVERHEAD_BYTES + len(payload)
    assert open_sealed(private_key, sealed, context) == payload
    assert open_sealed("0x" + private_key.hex(), sealed, context) == payload


@given(private_keys, payloads)
def test_public_key_forms_are_equivalent(private_key, payload):
    public_key = public_key_from_private_key(private_key)
    for form in (public_key[1:], public_key.hex(), coincurve.PublicKey(public_key).format(True)):
        assert open_sealed(private_key, seal_to(form, payload, b"c"), b"c") == payload


@given(private_keys, private_keys, payloads)
def test_rejects_wrong_private_key(private_key, other, payload):
    if other == private_key:
        other = (int.from_bytes(other, "big") % (GROUP_ORDER - 1) + 1).to_bytes(32, "big")
    sealed = seal_to(public_key_from_private_key(private_key), payload, b"c")
    with pytest.raises(
        CryptoError,
        match="^the sealed payload could not be opened: not sealed to this private key, or tampered$",
    ):
        open_sealed(other, sealed, b"c")


@given(private_keys, payloads, st.data())
def test_rejects_tampered_seal(private_key, payload, data):
    sealed = bytearray(seal_to(public_key_from_private_key(private_key), payload, b"c"))
    position = data.draw(st.integers(0, len(sealed) - 1), label="position")
    sealed[position] ^= data.draw(st.integers(1, 255), label="flip")
    with pytest.raises(CryptoError, match="the sealed payload could not be opened"):
        open_sealed(private_key, bytes(sealed), b"c")


@given(private_keys, payloads, contexts, contexts)
def test_rejects_a_payload_sealed_for_another_context(private_key, payload, context, other):
    if other == context:
        other = context + b"\x01"
    sealed = seal_to(public_key_from_private_key(private_key), payload, context)
    with pytest.raises(
        CryptoError, match=r"sealed for another session or provider \(context differs\)$"
    ):
        open_sealed(private_key, sealed, other)


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
        seal_to(public_key, bytes(32), b"c")


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
    sealed = seal_to(public_key_from_private_key(private_key), bytes(32), b"c")
    with pytest.raises(CryptoError, match="the sealed payload could not be opened: malformed"):
        open_sealed(private_key, bytes([prefix]) + sealed[1:], b"c")


def test_rejects_a_seal_shorter_than_its_overhead():
    private_key = b"\x01" * 32
    sealed = seal_to(public_key_from_private_key(private_key), b"", b"c")
    assert len(sealed) == SEAL_OVERHEAD_BYTES
    assert open_sealed(private_key, sealed, b"c") == b""
    with pytest.raises(CryptoError, match=r"malformed \(at least 113 bytes starting with"):
        open_sealed(private_key, sealed[:-1], b"c")


def test_features_bind_the_session_and_the_provider():
    """A copy of another provider's sealed features, or of this provider's from another
    session, does not open under the context the collector expects."""
    private_key = b"\x01" * 32
    public_key = public_key_from_private_key(private_key)
    market, honest, copier = "0x" + "c0" * 20, "0x" + "11" * 20, "0x" + "22" * 20
    binding = session_binding(31337, market, 3)
    sealed = seal_to(public_key, b"features", features_context(binding, honest))
    assert open_sealed(private_key, sealed, features_context(binding, honest)) == b"features"
    for other in (
        features_context(binding, copier),
        features_context(session_binding(31337, market, 4), honest),
        features_context(session_binding(1, market, 3), honest),
    ):
        with pytest.raises(CryptoError, match="context differs"):
            open_sealed(private_key, sealed, other)


def test_review_keys_are_fresh_points_that_seal_and_open_as_the_contract_computes():
    """A review key names a point (set_candidate's 64 bytes); keys sealed to it with the
    spec's pad open with its secret, and its address is the one the contract checks."""
    drawn = [new_review_key() for _ in range(8)]
    assert len({secret for secret, _ in drawn}) == 8
    for secret, public in drawn:
        assert 0 < secret < secp256k1.N and len(public) == 64
        assert public == secp256k1.compute_public_key(secret)
        assert secp256k1.compute_public_address(secret) == secp256k1.address_of_encoding(public)
    secret, public = drawn[0]
    keys = [bytes([i]) * 32 for i in range(3)]
    ephemeral, sealed = seal_keys(public, keys, 5, [0, 1, 2], draw_ephemeral(b"seed"))
    opened = [open_sealed_key(secret, ephemeral, s, 5, slot) for slot, s in enumerate(sealed)]
    assert opened == keys
    assert open_sealed_key(drawn[1][0], ephemeral, sealed[0], 5, 0) != keys[0]


@pytest.mark.parametrize("cut", [-1, 1])
def test_rejects_a_seal_cut_short_or_extended(cut):
    private_key = b"\x01" * 32
    sealed = seal_to(public_key_from_private_key(private_key), bytes(32), b"c")
    with pytest.raises(CryptoError, match="not sealed to this private key, or tampered"):
        open_sealed(private_key, sealed[:cut] if cut < 0 else sealed + b"\x00", b"c")
