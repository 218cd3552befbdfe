"""Keys and ciphers of a provider's dataset, and how secrets reach the collector alone.

Three primitives, each modelled with what pycryptodome offers and deterministic
(runs replay); the real clients use the same definitions for everything the
contract checks (`hyperx.impl.crypto`):

- Shard keys (the issue's "per-shard keys derived from one master key"): a provider
  draws one 32-byte master key K per session; shard i is encrypted under
  k_i = keccak256(K || i), and the leaf of shard i commits h_i = keccak256(k_i)
  (`hyperx.spec.merkle.compute_leaf`). Opening the sample reveals k_i of the sampled
  shards and nothing about the others (keccak256 is one-way); ClaimReward reveals K,
  32 bytes, from which the collector derives every k_i. Shard cipher: ciphertext =
  plaintext XOR SHAKE256(k_i || i) || tag, tag = keccak256(k_i || i || body)[:16];
  a wrong key fails the tag.
- Key seals, checkable on chain (FairSwap/OptiSwap's proof of misbehaviour, with
  the key sealed instead of published): a 32-byte key is sealed to the collector's
  review key D = d*G (secp256k1) as key XOR pad, pad = keccak256(abi_encode(address
  S, sid, slot)), where S = e*D for a fresh ephemeral e, E = e*G travels beside the
  seal and `slot` is the key's position (the sampled shard's position in the sample,
  or MASTER_KEY_SLOT). The collector computes address(S) = address(d*E). So does
  the contract when the collector shows it d in a dispute (`hyperx.spec.secp256k1`:
  one ecrecover), which is how a sealed key that does not open to its committed
  hash becomes a proof of misbehaviour. A seal reveals nothing to anyone without d.
- Feature seals: the features of a provider's sample are sealed to the collector's
  offer key (X25519 ECIES, SHAKE256 keystream, keccak tag) under a context that names
  the session and the provider. A copy of another provider's sealed features does not
  open under the copier's context, and the copier cannot reseal what it cannot open:
  a copier has no features (the issue's "features bound to the provider and session").
"""

from Crypto.Hash import SHAKE256
from Crypto.Protocol.DH import key_agreement
from Crypto.PublicKey import ECC

from . import secp256k1
from .config import MASTER_KEY_SLOT
from .merkle import keccak256

KEY_BYTES = 32
TAG_BYTES = 16
OFFER_KEY_BYTES = 32  # an X25519 public key
EPHEMERAL_BYTES = 64  # a secp256k1 point, x || y


def _keystream(secret: bytes, label: bytes, length: int) -> bytes:
    return SHAKE256.new(label + secret).read(length)


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


# Shard keys and the shard cipher


def compute_shard_key(master_key: bytes, index: int) -> bytes:
    """k_i = keccak256(abi_encode(bytes32 K, uint256 i))."""
    return keccak256(master_key + _word(index))


def compute_key_hash(key: bytes) -> bytes:
    """h_i = keccak256(k_i), the half of a leaf that commits a shard's key."""
    return keccak256(key)


def encrypt_shard(shard_key: bytes, index: int, plaintext: bytes) -> bytes:
    nonce = shard_key + index.to_bytes(4, "big")
    body = _xor(plaintext, _keystream(nonce, b"hyperx-shard", len(plaintext)))
    return body + keccak256(nonce + body)[:TAG_BYTES]


def decrypt_shard(shard_key: bytes, index: int, ciphertext: bytes) -> bytes | None:
    """The plaintext, or None when `shard_key` is not the key (the tag fails)."""
    if len(ciphertext) < TAG_BYTES:
        return None
    nonce = shard_key + index.to_bytes(4, "big")
    body, tag = ciphertext[:-TAG_BYTES], ciphertext[-TAG_BYTES:]
    if keccak256(nonce + body)[:TAG_BYTES] != tag:
        return None
    return _xor(body, _keystream(nonce, b"hyperx-shard", len(body)))


# Key seals, checkable on chain


def compute_seal_pad(shared_address: bytes, sid: int, slot: int) -> bytes:
    """keccak256(abi_encode(address S, uint256 sid, uint256 slot))."""
    return keccak256(shared_address.rjust(32, b"\x00") + _word(sid) + _word(slot))


def draw_ephemeral(seed: bytes) -> int:
    """An ephemeral secret whose public point's x lies below the group order, as
    ecrecover needs (the precompile refuses r >= N; a 2**-128 event, handled)."""
    counter = 0
    while True:
        secret = secp256k1.derive_secret(seed + counter.to_bytes(4, "big"))
        if secp256k1.multiply(secret, secp256k1.G)[0] < secp256k1.N:
            return secret
        counter += 1


def seal_keys(
    review_key: bytes, keys: list[bytes], sid: int, slots: list[int], ephemeral_secret: int
) -> tuple[bytes, list[bytes]]:
    """(E, [key XOR pad(slot)]): `keys` sealed to the 64-byte public `review_key`."""
    point = secp256k1.decode_point(review_key)
    # Verify the review key is a point of the curve
    assert point is not None, "hyperx: review key is not a secp256k1 point"
    shared = secp256k1.address_of_encoding(
        secp256k1.encode_point(secp256k1.multiply(ephemeral_secret, point))
    )
    ephemeral = secp256k1.compute_public_key(ephemeral_secret)
    sealed = [
        _xor(key, compute_seal_pad(shared, sid, slot))
        for key, slot in zip(keys, slots, strict=True)
    ]
    return ephemeral, sealed


def open_sealed_key(review_secret: int, ephemeral: bytes, sealed: bytes, sid: int, slot: int):
    """The key a seal holds for the holder of `review_secret`, computed as the
    contract does; None when the ephemeral key is not a valid point."""
    shared = secp256k1.compute_recovered_address(review_secret, ephemeral)
    if shared == secp256k1.ZERO_ADDRESS_BYTES or len(sealed) != KEY_BYTES:
        return None
    return _xor(sealed, compute_seal_pad(shared, sid, slot))


def seal_master_key(
    review_key: bytes, master_key: bytes, sid: int, ephemeral_secret: int
) -> tuple[bytes, bytes]:
    ephemeral, (sealed,) = seal_keys(
        review_key, [master_key], sid, [MASTER_KEY_SLOT], ephemeral_secret
    )
    return ephemeral, sealed


# Feature seals, bound to the session and the provider


def derive_offer_keypair(seed: bytes) -> tuple[bytes, bytes]:
    """(private, public) X25519 offer key of a collector, both 32 bytes."""
    private = ECC.construct(curve="curve25519", seed=keccak256(b"hyperx-key" + seed))
    return private.seed, private.public_key().export_key(format="raw")


def _offer_secret(private_seed: bytes, public_key: bytes) -> bytes:
    private = ECC.construct(curve="curve25519", seed=private_seed)
    public = ECC.construct(curve="curve25519", point_x=int.from_bytes(public_key, "little"))
    return key_agreement(static_priv=private, static_pub=public, kdf=keccak256)


def get_features_context(sid: int, pid: str) -> bytes:
    """What a feature seal is bound to: this session and this provider."""
    return b"hyperx-features" + _word(sid) + bytes.fromhex(pid[2:])


def seal_features(
    offer_key: bytes, features: bytes, context: bytes, ephemeral_seed: bytes
) -> bytes:
    """ECIES: ephemeral public key || features XOR keystream || tag."""
    ephemeral_private, ephemeral_public = derive_offer_keypair(ephemeral_seed)
    secret = _offer_secret(ephemeral_private, offer_key) + context
    body = _xor(features, _keystream(secret, b"hyperx-seal", len(features)))
    return ephemeral_public + body + keccak256(secret + body)[:TAG_BYTES]


def open_features(offer_private: bytes, sealed: bytes, context: bytes) -> bytes | None:
    """The features, or None when `sealed` was not sealed to this key under this
    context (a copy from another provider or session, or junk)."""
    if len(sealed) < OFFER_KEY_BYTES + TAG_BYTES:
        return None
    ephemeral_public = sealed[:OFFER_KEY_BYTES]
    body, tag = sealed[OFFER_KEY_BYTES:-TAG_BYTES], sealed[-TAG_BYTES:]
    try:
        secret = _offer_secret(offer_private, ephemeral_public) + context
    except ValueError:
        return None
    if keccak256(secret + body)[:TAG_BYTES] != tag:
        return None
    return _xor(body, _keystream(secret, b"hyperx-seal", len(body)))
