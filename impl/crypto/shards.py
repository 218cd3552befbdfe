"""A provider's master key and the AES-GCM encryption of its data shards.

A provider draws a fresh 256-bit master key K for every session; shard i is
encrypted with AES-256-GCM under its own key k_i = keccak256(K || uint256 i)
(`hyperx.spec.sealing.compute_shard_key`, the derivation the contract checks in a
dispute), so opening a sample reveals only the sampled shards' keys and the master
key, delivered at ClaimReward, gives every k_i. Nonces: a random 96-bit nonce is
drawn for every encryption and stored in front of the ciphertext
(`nonce || ciphertext || tag`). A shard key encrypts one shard, far below the 2^32
random-nonce messages NIST SP 800-38D allows per key, and a shard that is encrypted
again (say after a restart) gets a new nonce rather than a reused one.

Associated data binds each ciphertext to its place: the session (see
`session_binding`) and the shard index. A ciphertext moved to another index or
another session, like a tampered one, fails authentication, so a provider cannot
swap shards after committing their keys and a collector cannot be served one
session's shard as another's.
"""

import secrets
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
SHARD_DOMAIN = b"hyperx/shard/v1"


class CryptoError(ValueError):
    """A key, ciphertext or sealed payload was rejected; the message is one line saying which."""


def new_master_key() -> bytes:
    """Return a fresh 32-byte master key K from the OS's CSPRNG."""
    return secrets.token_bytes(KEY_BYTES)


def session_binding(chain_id: int, contract_address: str | bytes, session_id: int) -> bytes:
    """Return the bytes that name one trading session: chain id, contract address, session id."""
    address = _address_bytes(contract_address)
    if not (0 <= chain_id < 2**256 and 0 <= session_id < 2**256):
        raise CryptoError(f"chain id {chain_id} and session id {session_id} must fit in uint256")
    return chain_id.to_bytes(32, "big") + address + session_id.to_bytes(32, "big")


def encrypt_shard(shard_key: bytes, session: bytes, index: int, plaintext: bytes) -> bytes:
    """Return `nonce || AES-GCM(plaintext) || tag` under k_i, bound to (session, shard index)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + _cipher(shard_key).encrypt(
        nonce, bytes(plaintext), _associated_data(session, index)
    )


def decrypt_shard(shard_key: bytes, session: bytes, index: int, ciphertext: bytes) -> bytes:
    """Return the plaintext of shard `index`; CryptoError if the key, place or bytes are wrong."""
    ciphertext = bytes(ciphertext)
    if len(ciphertext) < NONCE_BYTES + TAG_BYTES:
        raise CryptoError(
            f"shard {index} ciphertext is {len(ciphertext)} bytes,"
            f" shorter than the {NONCE_BYTES + TAG_BYTES}-byte nonce and tag"
        )
    nonce, body = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
    try:
        return _cipher(shard_key).decrypt(nonce, body, _associated_data(session, index))
    except InvalidTag:
        raise CryptoError(
            f"shard {index} failed AES-GCM authentication:"
            " wrong shard key, wrong session or shard index, or tampered ciphertext"
        ) from None


def _cipher(shard_key: bytes) -> AESGCM:
    shard_key = bytes(shard_key)
    if len(shard_key) != KEY_BYTES:
        raise CryptoError(f"a shard key must be {KEY_BYTES} bytes, got {len(shard_key)}")
    return AESGCM(shard_key)


def _associated_data(session: bytes, index: int) -> bytes:
    if not 0 <= index < 2**64:
        raise CryptoError(f"shard index {index} must be in [0, 2**64)")
    session = bytes(session)
    return SHARD_DOMAIN + struct.pack(">I", len(session)) + session + struct.pack(">Q", index)


def _address_bytes(address: str | bytes) -> bytes:
    if isinstance(address, str):
        text = address.removeprefix("0x").removeprefix("0X")
        try:
            address = bytes.fromhex(text)
        except ValueError:
            raise CryptoError(f"contract address {address!r} is not hex") from None
    if len(address) != 20:
        raise CryptoError(f"contract address must be 20 bytes, got {len(address)}")
    return bytes(address)
