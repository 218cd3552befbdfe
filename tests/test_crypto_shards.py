"""Master keys and AES-GCM shard encryption under per-shard keys: round trips, and every
way a shard is rejected."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperx.impl.crypto import (
    KEY_BYTES,
    CryptoError,
    decrypt_shard,
    encrypt_shard,
    new_master_key,
    session_binding,
)
from hyperx.impl.crypto.shards import NONCE_BYTES, TAG_BYTES
from hyperx.spec.sealing import compute_shard_key

keys = st.binary(min_size=KEY_BYTES, max_size=KEY_BYTES)
sessions = st.builds(
    session_binding,
    st.integers(0, 2**64),
    st.binary(min_size=20, max_size=20),
    st.integers(0, 2**256 - 1),
)
indices = st.integers(0, 2**16)
plaintexts = st.binary(max_size=4096)

AUTH_FAILED = "failed AES-GCM authentication: wrong shard key, wrong session or shard index, or tampered ciphertext"


def test_new_master_key_is_fresh_32_bytes():
    drawn = {new_master_key() for _ in range(64)}
    assert len(drawn) == 64
    assert {len(k) for k in drawn} == {KEY_BYTES}


@given(keys, sessions, indices, plaintexts)
def test_a_shard_opens_under_its_own_key_only(master_key, session, index, plaintext):
    """Shard i under k_i = keccak256(K || i): the key of any other index fails."""
    ciphertext = encrypt_shard(compute_shard_key(master_key, index), session, index, plaintext)
    assert (
        decrypt_shard(compute_shard_key(master_key, index), session, index, ciphertext) == plaintext
    )
    with pytest.raises(CryptoError, match=AUTH_FAILED):
        decrypt_shard(compute_shard_key(master_key, index + 1), session, index, ciphertext)


@given(keys, sessions, indices, plaintexts)
def test_shard_round_trip(shard_key, session, index, plaintext):
    ciphertext = encrypt_shard(shard_key, session, index, plaintext)
    assert len(ciphertext) == NONCE_BYTES + len(plaintext) + TAG_BYTES
    assert decrypt_shard(shard_key, session, index, ciphertext) == plaintext


@given(keys, sessions, indices, st.binary(min_size=1, max_size=256))
def test_encrypting_twice_draws_a_new_nonce(shard_key, session, index, plaintext):
    first = encrypt_shard(shard_key, session, index, plaintext)
    second = encrypt_shard(shard_key, session, index, plaintext)
    assert first[:NONCE_BYTES] != second[:NONCE_BYTES]
    assert first[NONCE_BYTES:] != second[NONCE_BYTES:]


@given(keys, sessions, indices, plaintexts, st.data())
def test_rejects_tampered_ciphertext(shard_key, session, index, plaintext, data):
    ciphertext = bytearray(encrypt_shard(shard_key, session, index, plaintext))
    position = data.draw(st.integers(0, len(ciphertext) - 1), label="position")
    ciphertext[position] ^= data.draw(st.integers(1, 255), label="flip")
    with pytest.raises(CryptoError, match=f"^shard {index} {AUTH_FAILED}$"):
        decrypt_shard(shard_key, session, index, bytes(ciphertext))


@given(keys, keys, sessions, indices, plaintexts)
def test_rejects_wrong_shard_key(shard_key, other, session, index, plaintext):
    if other == shard_key:
        other = bytes(b ^ 1 for b in other)
    ciphertext = encrypt_shard(shard_key, session, index, plaintext)
    with pytest.raises(CryptoError, match=AUTH_FAILED):
        decrypt_shard(other, session, index, ciphertext)


@given(keys, sessions, indices, indices, plaintexts)
def test_rejects_shard_moved_to_another_index(shard_key, session, index, other_index, plaintext):
    if other_index == index:
        other_index += 1
    ciphertext = encrypt_shard(shard_key, session, index, plaintext)
    with pytest.raises(CryptoError, match=f"shard {other_index} {AUTH_FAILED}"):
        decrypt_shard(shard_key, session, other_index, ciphertext)


@given(keys, sessions, sessions, indices, plaintexts)
def test_rejects_shard_moved_to_another_session(
    shard_key, session, other_session, index, plaintext
):
    if other_session == session:
        other_session = session + b"\x00"
    ciphertext = encrypt_shard(shard_key, session, index, plaintext)
    with pytest.raises(CryptoError, match=AUTH_FAILED):
        decrypt_shard(shard_key, other_session, index, ciphertext)


def test_rejects_truncated_ciphertext():
    with pytest.raises(
        CryptoError, match="shard 3 ciphertext is 27 bytes, shorter than the 28-byte nonce and tag"
    ):
        decrypt_shard(new_master_key(), b"s", 3, bytes(27))


@pytest.mark.parametrize("length", [0, 16, 31, 33])
def test_rejects_shard_key_of_wrong_length(length):
    with pytest.raises(CryptoError, match=f"a shard key must be 32 bytes, got {length}"):
        encrypt_shard(bytes(length), b"s", 0, b"shard")


def test_rejects_negative_shard_index():
    with pytest.raises(CryptoError, match=r"shard index -1 must be in \[0, 2\*\*64\)"):
        encrypt_shard(new_master_key(), b"s", -1, b"shard")


def test_session_binding_layout():
    address = "0x" + "ab" * 20
    binding = session_binding(31337, address, 7)
    assert binding == (31337).to_bytes(32, "big") + bytes.fromhex("ab" * 20) + (7).to_bytes(
        32, "big"
    )
    assert session_binding(31337, bytes.fromhex("ab" * 20), 7) == binding
    assert session_binding(31337, address, 8) != binding


def test_rejects_malformed_contract_address():
    with pytest.raises(CryptoError, match="contract address must be 20 bytes, got 19"):
        session_binding(1, "0x" + "ab" * 19, 0)
    with pytest.raises(CryptoError, match="contract address '0xzz' is not hex"):
        session_binding(1, "0xzz", 0)
