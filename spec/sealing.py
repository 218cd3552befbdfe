"""Spec-level models of the shard cipher and of sealing K_data to the collector.

The real clients use AES-GCM for shards and ECIES on secp256k1 for K_data
(`hyperx.impl.crypto`). The spec needs only their properties, so it models them
with what pycryptodome offers and keeps every byte deterministic (runs replay):

- Shard cipher: ciphertext = plaintext XOR SHAKE256(K_data || index) || tag, with
  tag = keccak256(K_data || index || body)[:16]. One K_data per provider and
  session; the shard index is the nonce, so equal shards encrypt differently. A
  wrong key fails the tag, which is how a reader learns it holds the right key.
- Sealing: X25519 ECIES. The provider draws an ephemeral key from its own seeded
  stream, agrees a secret with the collector's public key, and XORs K_data with a
  SHAKE256 keystream of it; a keccak tag binds the result. Only the holder of the
  collector's private key opens it, so publishing the sealed key on chain tells
  nobody else anything (the departure of `process_submit_review`).
"""

from Crypto.Hash import SHAKE256
from Crypto.Protocol.DH import key_agreement
from Crypto.PublicKey import ECC

from .merkle import keccak256

K_DATA_BYTES = 32
TAG_BYTES = 16
PUBLIC_KEY_BYTES = 32
SEALED_BYTES = PUBLIC_KEY_BYTES + K_DATA_BYTES + TAG_BYTES


def _keystream(secret: bytes, label: bytes, length: int) -> bytes:
    return SHAKE256.new(label + secret).read(length)


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


# Shards


def encrypt_shard(k_data: bytes, index: int, plaintext: bytes) -> bytes:
    nonce = k_data + index.to_bytes(4, "big")
    body = _xor(plaintext, _keystream(nonce, b"hyperx-shard", len(plaintext)))
    return body + keccak256(nonce + body)[:TAG_BYTES]


def decrypt_shard(k_data: bytes, index: int, ciphertext: bytes) -> bytes | None:
    """The plaintext, or None when `k_data` is not the key (the tag fails)."""
    if len(ciphertext) < TAG_BYTES:
        return None
    nonce = k_data + index.to_bytes(4, "big")
    body, tag = ciphertext[:-TAG_BYTES], ciphertext[-TAG_BYTES:]
    if keccak256(nonce + body)[:TAG_BYTES] != tag:
        return None
    return _xor(body, _keystream(nonce, b"hyperx-shard", len(body)))


# Sealing K_data to the collector


def derive_keypair(seed: bytes) -> tuple[bytes, bytes]:
    """(private key, public key) of X25519, both 32 bytes, from a 32-byte seed."""
    private = ECC.construct(curve="curve25519", seed=keccak256(b"hyperx-key" + seed))
    return private.seed, private.public_key().export_key(format="raw")


def _shared_secret(private_seed: bytes, public_key: bytes) -> bytes:
    private = ECC.construct(curve="curve25519", seed=private_seed)
    public = ECC.construct(curve="curve25519", point_x=int.from_bytes(public_key, "little"))
    return key_agreement(static_priv=private, static_pub=public, kdf=keccak256)


def seal_k_data(public_key: bytes, k_data: bytes, ephemeral_seed: bytes) -> bytes:
    """ECIES: ephemeral public key || K_data XOR keystream || tag."""
    # Verify the key to seal has the right length
    assert len(k_data) == K_DATA_BYTES, "hyperx: K_data must be 32 bytes"
    ephemeral_private, ephemeral_public = derive_keypair(ephemeral_seed)
    secret = _shared_secret(ephemeral_private, public_key)
    body = _xor(k_data, _keystream(secret, b"hyperx-seal", K_DATA_BYTES))
    return ephemeral_public + body + keccak256(secret + body)[:TAG_BYTES]


def open_k_data(private_key: bytes, sealed: bytes) -> bytes | None:
    """K_data, or None when `sealed` was not sealed to this key (or is malformed)."""
    if len(sealed) != SEALED_BYTES:
        return None
    ephemeral_public = sealed[:PUBLIC_KEY_BYTES]
    body, tag = sealed[PUBLIC_KEY_BYTES:-TAG_BYTES], sealed[-TAG_BYTES:]
    try:
        secret = _shared_secret(private_key, ephemeral_public)
    except ValueError:
        return None
    if keccak256(secret + body)[:TAG_BYTES] != tag:
        return None
    return _xor(body, _keystream(secret, b"hyperx-seal", K_DATA_BYTES))
