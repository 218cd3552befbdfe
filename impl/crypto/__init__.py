"""Client-side cryptography: per-session master keys, AES-GCM shards under per-shard keys,
ECIES seals bound to a context, review keys, and the encryption of what a party keeps at rest.

May import the standard library, `cryptography`, `eciespy` and `coincurve` (never web3 or jax).
"""

from hyperx.impl.crypto.at_rest import (
    derive_at_rest_key,
    new_salt,
    open_at_rest,
    seal_at_rest,
)
from hyperx.impl.crypto.sealing import (
    eth_address_from_public_key,
    features_context,
    new_review_key,
    open_sealed,
    public_key_from_private_key,
    seal_to,
)
from hyperx.impl.crypto.shards import (
    KEY_BYTES,
    CryptoError,
    decrypt_shard,
    encrypt_shard,
    new_master_key,
    session_binding,
)

__all__ = [
    "KEY_BYTES",
    "CryptoError",
    "decrypt_shard",
    "derive_at_rest_key",
    "encrypt_shard",
    "eth_address_from_public_key",
    "features_context",
    "new_master_key",
    "new_review_key",
    "new_salt",
    "open_at_rest",
    "open_sealed",
    "public_key_from_private_key",
    "seal_at_rest",
    "seal_to",
    "session_binding",
]
