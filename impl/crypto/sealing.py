"""Sealing K_data to the collector: ECIES over secp256k1, and key helpers.

The paper reveals K_data in the clear at SetCandidate, which hands the dataset to
anyone watching the chain. Here the provider seals K_data to the collector's
secp256k1 public key with ECIES (`eciespy`: ephemeral ECDH, HKDF-SHA256,
AES-256-GCM) and only the collector's Ethereum private key opens it. The ECIES
parameters are pinned in `ECIES_PARAMETERS`, so a change of the library's
defaults cannot make old sealed keys unreadable.

The sealed plaintext is `context_tag || K_data`, where context_tag is the first 16
bytes of sha256(SEAL_DOMAIN || context) and `context` names what the key is for (the
session binding and the provider). Opening with another context fails, so a sealed
key cannot be replayed into another session. The sealed key is 65 (ephemeral key)
+ 16 (nonce) + 16 (tag) + 16 + 32 = 145 bytes, under the spec's MAX_SEALED_KEY_BYTES.
"""

import hashlib

import coincurve
import ecies
from ecies.config import Config
from ecies.utils import to_eth_address

from hyperx.impl.crypto.shards import K_DATA_BYTES, CryptoError

ECIES_PARAMETERS = Config(
    elliptic_curve="secp256k1",
    is_ephemeral_key_compressed=False,
    is_hkdf_key_compressed=False,
    symmetric_algorithm="aes-256-gcm",
    symmetric_nonce_length=16,
)
SEAL_DOMAIN = b"hyperx/k_data/v1"
CONTEXT_TAG_BYTES = 16
SEALED_K_DATA_BYTES = 65 + 16 + 16 + CONTEXT_TAG_BYTES + K_DATA_BYTES
UNCOMPRESSED_PREFIX = 0x04


def public_key_from_private_key(private_key: str | bytes) -> bytes:
    """Return the 65-byte uncompressed SEC1 secp256k1 public key of an Ethereum private key."""
    return _private_key(private_key).public_key.format(compressed=False)


def eth_address_from_public_key(public_key: str | bytes) -> str:
    """Return the checksummed Ethereum address of a secp256k1 public key."""
    return to_eth_address(_public_key(public_key).format(compressed=False)[1:])


def seal_k_data(collector_public_key: str | bytes, k_data: bytes, context: bytes = b"") -> bytes:
    """Return K_data encrypted to the collector's public key (ECIES, secp256k1), bound to `context`."""
    k_data = bytes(k_data)
    if len(k_data) != K_DATA_BYTES:
        raise CryptoError(f"K_data must be {K_DATA_BYTES} bytes, got {len(k_data)}")
    public_key = _public_key(collector_public_key).format(compressed=False)
    return ecies.encrypt(public_key, _context_tag(context) + k_data, config=ECIES_PARAMETERS)


def open_k_data(collector_private_key: str | bytes, sealed: bytes, context: bytes = b"") -> bytes:
    """Return the K_data in `sealed`; CryptoError on a wrong key, tampering, or another context."""
    secret = _private_key(collector_private_key).secret
    sealed = bytes(sealed)
    # libsecp256k1 also parses the "hybrid" prefixes 0x06/0x07 as the same point as
    # 0x04, and eciespy re-serialises the point before HKDF, so without this check a
    # sealed key with its first byte changed would still open.
    if len(sealed) != SEALED_K_DATA_BYTES or sealed[0] != UNCOMPRESSED_PREFIX:
        raise CryptoError(
            f"sealed K_data could not be opened: malformed (expected {SEALED_K_DATA_BYTES} bytes"
            " starting with an uncompressed ephemeral key)"
        )
    try:
        plaintext = ecies.decrypt(secret, sealed, config=ECIES_PARAMETERS)
    except ValueError:
        raise CryptoError(
            "sealed K_data could not be opened: not sealed to this private key, or tampered"
        ) from None
    if plaintext[:CONTEXT_TAG_BYTES] != _context_tag(context):
        raise CryptoError(
            "sealed K_data was sealed for another session or provider (context differs)"
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
