"""Sealing a payload to one party: ECIES over secp256k1, bound to a context; and key helpers.

A provider's features are for the collector alone (paper, "may encrypt it with the
collector's public key"): the provider seals them to the collector's secp256k1
public key (the key it signs with, published in its offer) with ECIES (`eciespy`:
ephemeral ECDH, HKDF-SHA256, AES-256-GCM), and only the collector's private key
opens them. The ECIES parameters are pinned in `ECIES_PARAMETERS`, so a change of
the library's defaults cannot make old seals unreadable.

The sealed plaintext is `context_tag || payload`, where context_tag is the first 16
bytes of sha256(SEAL_DOMAIN || context) and `context` names what the payload is and
whom it binds (`features_context`: this session and this provider). Opening under
another context fails, so a provider that copies another's sealed features, or
replays its own from another session, has features that do not open: it cannot
reseal what it cannot read. A seal is 65 (ephemeral key) + 16 (nonce) + 16 (tag) +
16 (context tag) bytes longer than its payload.

The keys a contract must be able to check (shard keys, the master key) are sealed
differently, with a pad the EVM can recompute (`hyperx.spec.sealing.seal_keys`).
"""

import hashlib

import coincurve
import ecies
from ecies.config import Config
from ecies.utils import to_eth_address

from hyperx.impl.crypto.shards import CryptoError

ECIES_PARAMETERS = Config(
    elliptic_curve="secp256k1",
    is_ephemeral_key_compressed=False,
    is_hkdf_key_compressed=False,
    symmetric_algorithm="aes-256-gcm",
    symmetric_nonce_length=16,
)
SEAL_DOMAIN = b"hyperx/seal/v1"
FEATURES_DOMAIN = b"hyperx/features/v1"
CONTEXT_TAG_BYTES = 16
SEAL_OVERHEAD_BYTES = 65 + 16 + 16 + CONTEXT_TAG_BYTES
UNCOMPRESSED_PREFIX = 0x04


def public_key_from_private_key(private_key: str | bytes) -> bytes:
    """Return the 65-byte uncompressed SEC1 secp256k1 public key of an Ethereum private key."""
    return _private_key(private_key).public_key.format(compressed=False)


def eth_address_from_public_key(public_key: str | bytes) -> str:
    """Return the checksummed Ethereum address of a secp256k1 public key."""
    return to_eth_address(_public_key(public_key).format(compressed=False)[1:])


def new_review_key() -> tuple[int, bytes]:
    """A fresh review key from the OS's CSPRNG: its secret scalar in [1, N) and its
    64-byte public key x || y (as `set_candidate` names it)."""
    private = coincurve.PrivateKey()
    return int.from_bytes(private.secret, "big"), private.public_key.format(compressed=False)[1:]


def features_context(binding: bytes, provider: str) -> bytes:
    """What a provider's sealed features are bound to: this session (`session_binding`)
    and this provider's address."""
    return FEATURES_DOMAIN + bytes(binding) + bytes.fromhex(provider.removeprefix("0x"))


def seal_to(public_key: str | bytes, payload: bytes, context: bytes) -> bytes:
    """Return `payload` encrypted to `public_key` (ECIES, secp256k1), bound to `context`."""
    public_key = _public_key(public_key).format(compressed=False)
    return ecies.encrypt(
        public_key, _context_tag(context) + bytes(payload), config=ECIES_PARAMETERS
    )


def open_sealed(private_key: str | bytes, sealed: bytes, context: bytes) -> bytes:
    """Return the payload of `sealed`; CryptoError on a wrong key, tampering, or another context."""
    secret = _private_key(private_key).secret
    sealed = bytes(sealed)
    # libsecp256k1 also parses the "hybrid" prefixes 0x06/0x07 as the same point as
    # 0x04, and eciespy re-serialises the point before HKDF, so without this check a
    # seal with its first byte changed would still open.
    if len(sealed) < SEAL_OVERHEAD_BYTES or sealed[0] != UNCOMPRESSED_PREFIX:
        raise CryptoError(
            f"the sealed payload could not be opened: malformed (at least {SEAL_OVERHEAD_BYTES}"
            " bytes starting with an uncompressed ephemeral key)"
        )
    try:
        plaintext = ecies.decrypt(secret, sealed, config=ECIES_PARAMETERS)
    except ValueError:
        raise CryptoError(
            "the sealed payload could not be opened: not sealed to this private key, or tampered"
        ) from None
    if plaintext[:CONTEXT_TAG_BYTES] != _context_tag(context):
        raise CryptoError(
            "the sealed payload was sealed for another session or provider (context differs)"
        )
    return plaintext[CONTEXT_TAG_BYTES:]


def _context_tag(context: bytes) -> bytes:
    return hashlib.sha256(SEAL_DOMAIN + bytes(context)).digest()[:CONTEXT_TAG_BYTES]


def _private_key(private_key: str | bytes) -> coincurve.PrivateKey:
    secret = _hex_or_bytes(private_key, "private key")
    if len(secret) != 32:
        raise CryptoError(f"a secp256k1 private key is 32 bytes, got {len(secret)}")
    try:
        return coincurve.PrivateKey(secret)
    except ValueError:
        raise CryptoError(
            "private key is out of range for secp256k1 (zero or >= group order)"
        ) from None


def _public_key(public_key: str | bytes) -> coincurve.PublicKey:
    data = _hex_or_bytes(public_key, "public key")
    if len(data) == 64:
        data = b"\x04" + data
    if len(data) not in (33, 65):
        raise CryptoError(f"a secp256k1 public key is 33, 64 or 65 bytes, got {len(data)}")
    try:
        return coincurve.PublicKey(data)
    except ValueError:
        raise CryptoError("public key is not a point on secp256k1") from None


def _hex_or_bytes(value: str | bytes, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    text = str(value).strip().removeprefix("0x").removeprefix("0X")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise CryptoError(f"{what} is not hex (0x-prefixed or bare) nor bytes") from None
