"""Secrets at rest: what a party keeps on disk (master keys, review keys, bought data) is encrypted.

The key is derived from the party's own signing key (the secp256k1 private key it
sends transactions with, from HYPERX_PRIVATE_KEY or its keystore) with HKDF-SHA256,
a random per-store salt and a fixed context string, so that a copy of the state
folder alone gives nothing, and a party needs nothing besides its key to resume.
Each value is AES-256-GCM with a random 96-bit nonce (`nonce || ciphertext || tag`)
and associated data naming where it is kept (a fact's scope and name, a file's
name), so that values moved from one place to another fail authentication.
"""

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hyperx.impl.crypto.shards import NONCE_BYTES, TAG_BYTES, CryptoError

AT_REST_INFO = b"hyperx/state-at-rest/v1"
SALT_BYTES = 16
KEY_BYTES = 32


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def derive_at_rest_key(signing_key: bytes, salt: bytes) -> bytes:
    """The AES-256 key of a party's state, from its 32-byte signing key and the store's salt."""
    if len(signing_key) != 32:
        raise CryptoError(f"a signing key is 32 bytes, got {len(signing_key)}")
    kdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=AT_REST_INFO)
    return kdf.derive(bytes(signing_key))


def seal_at_rest(key: bytes, plaintext: bytes, where: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, bytes(plaintext), AT_REST_INFO + b"\0" + where)


def open_at_rest(key: bytes, sealed: bytes, where: bytes) -> bytes:
    """The plaintext; CryptoError if the key is another party's or the bytes were changed."""
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise CryptoError(f"a sealed value is at least {NONCE_BYTES + TAG_BYTES} bytes")
    try:
        return AESGCM(key).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], AT_REST_INFO + b"\0" + where
        )
    except InvalidTag:
        raise CryptoError(
            f"a secret kept as {where.decode(errors='replace')!r} does not open with this key"
        ) from None
