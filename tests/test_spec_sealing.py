"""Keys and seals of spec/sealing.py and the ecrecover arithmetic of spec/secp256k1.py:
what the contract computes in a dispute must be what the collector computes off chain."""

from eth_keys import keys
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperx.spec import sealing, secp256k1
from hyperx.spec.config import MASTER_KEY_SLOT

secrets = st.integers(1, secp256k1.N - 1)
words = st.binary(min_size=32, max_size=32)


@settings(max_examples=25)
@given(secrets, words)
def test_ecrecover_agrees_with_eth_keys(secret, message):
    signature = keys.PrivateKey(secret.to_bytes(32, "big")).sign_msg_hash(message)
    recovered = secp256k1.ecrecover(
        int.from_bytes(message, "big"), signature.v + 27, signature.r, signature.s
    )
    assert (
        recovered == keys.PrivateKey(secret.to_bytes(32, "big")).public_key.to_canonical_address()
    )


@settings(max_examples=25)
@given(secrets)
def test_the_public_address_of_a_secret_is_its_account(secret):
    account = keys.PrivateKey(secret.to_bytes(32, "big")).public_key.to_canonical_address()
    assert secp256k1.compute_public_address(secret) == account
    assert secp256k1.address_of_encoding(secp256k1.compute_public_key(secret)) == account


def test_rejects_what_the_precompile_rejects():
    x = secp256k1.GX
    for v, r, s in [(26, x, 1), (27, 0, 1), (27, secp256k1.N, 1), (27, x, 0), (27, x, secp256k1.N)]:
        assert secp256k1.ecrecover(0, v, r, s) == secp256k1.ZERO_ADDRESS_BYTES
    # an x-coordinate with no point on the curve (x = 5: 5**3 + 7 is not a square mod P)
    assert secp256k1.lift_x(5, False) is None
    assert secp256k1.ecrecover(0, 27, 5, 1) == secp256k1.ZERO_ADDRESS_BYTES


@settings(max_examples=10, deadline=None)
@given(secrets, st.lists(words, min_size=1, max_size=4), st.integers(0, 2**32), words)
def test_sealed_keys_open_with_the_review_secret_only(review_secret, keys_, sid, seed):
    review_key = secp256k1.compute_public_key(review_secret)
    slots = list(range(len(keys_)))
    ephemeral, sealed = sealing.seal_keys(
        review_key, keys_, sid, slots, sealing.draw_ephemeral(seed)
    )
    opened = [
        sealing.open_sealed_key(review_secret, ephemeral, s, sid, i) for i, s in enumerate(sealed)
    ]
    assert opened == keys_
    # another secret, another session or another slot opens something else
    other = review_secret % (secp256k1.N - 1) + 1
    assert sealing.open_sealed_key(other, ephemeral, sealed[0], sid, 0) != keys_[0]
    assert sealing.open_sealed_key(review_secret, ephemeral, sealed[0], sid + 1, 0) != keys_[0]
    assert (
        sealing.open_sealed_key(review_secret, ephemeral, sealed[0], sid, MASTER_KEY_SLOT)
        != keys_[0]
    )


def test_an_ephemeral_key_off_the_curve_opens_nothing():
    secret = secp256k1.derive_secret(b"review")
    off_curve = (5).to_bytes(32, "big") + (1).to_bytes(32, "big")
    assert sealing.open_sealed_key(secret, off_curve, b"\x00" * 32, 0, 0) is None
    assert sealing.open_sealed_key(secret, b"\x01" * 63, b"\x00" * 32, 0, 0) is None


@given(words, st.integers(0, 2**16 - 1))
def test_shard_keys_derive_from_the_master_key_one_by_one(master, index):
    key = sealing.compute_shard_key(master, index)
    assert key == secp256k1.keccak256(master + index.to_bytes(32, "big"))
    assert key != sealing.compute_shard_key(master, index + 1)


@given(words, st.binary(max_size=64), st.integers(0, 2**16))
def test_a_shard_decrypts_under_its_own_key_only(key, plaintext, index):
    ciphertext = sealing.encrypt_shard(key, index, plaintext)
    assert sealing.decrypt_shard(key, index, ciphertext) == plaintext
    other = bytes(b ^ 1 for b in key)
    assert sealing.decrypt_shard(other, index, ciphertext) is None
    assert sealing.decrypt_shard(key, index + 1, ciphertext) is None


def test_sealed_features_do_not_open_under_another_providers_name():
    private, public = sealing.derive_offer_keypair(b"collector")
    mine = sealing.get_features_context(0, "0x" + "11" * 20)
    copier = sealing.get_features_context(0, "0x" + "22" * 20)
    later = sealing.get_features_context(1, "0x" + "11" * 20)
    sealed = sealing.seal_features(public, b"features", mine, b"seed")
    assert sealing.open_features(private, sealed, mine) == b"features"
    assert sealing.open_features(private, sealed, copier) is None
    assert sealing.open_features(private, sealed, later) is None
    assert sealing.open_features(private, sealed[:-1], mine) is None
