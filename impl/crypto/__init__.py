"""Client-side cryptography: per-session K_data, AES-GCM shard encryption, ECIES sealing of K_data,
and the encryption of what a party keeps at rest.

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
    open_k_data,
    public_key_from_private_key,
    seal_k_data,
)
from hyperx.impl.crypto.shards import (
    K_DATA_BYTES,
    CryptoError,
    decrypt_shard,
    encrypt_shard,
    new_k_data,
    session_binding,
)

__all__ = [
    "K_DATA_BYTES",
    "CryptoError",
    "decrypt_shard",
    "derive_at_rest_key",
    "encrypt_shard",
    "eth_address_from_public_key",
    "new_k_data",
    "new_salt",
    "open_at_rest",
    "open_k_data",
    "public_key_from_private_key",
    "seal_at_rest",
    "seal_k_data",
    "session_binding",
]
