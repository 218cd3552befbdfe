"""K_data and the AES-GCM encryption of a provider's data shards.

A provider draws a fresh 256-bit K_data for every session and encrypts each shard
with AES-256-GCM under it. Nonces: a random 96-bit nonce is drawn for every
encryption and stored in front of the ciphertext (`nonce || ciphertext || tag`).
One K_data encrypts one session's shards (thousands of messages at most), far below
the 2^32 random-nonce messages NIST SP 800-38D allows per key, and a shard that is
encrypted again (say after a restart) gets a new nonce rather than a reused one.

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

K_DATA_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
SHARD_DOMAIN = b"hyperx/shard/v1"


class CryptoError(ValueError):
    """A key, ciphertext or sealed K_data was rejected; the message is one line saying which."""


def new_k_data() -> bytes:
    """Return a fresh 32-byte K_data (AES-256 key) from the OS's CSPRNG."""
    return secrets.token_bytes(K_DATA_BYTES)


def session_binding(chain_id: int, contract_address: str | bytes, session_id: int) -> bytes:
    """Return the bytes that name one trading session: chain id, contract address, session id."""
    address = _address_bytes(contract_address)
    if not (0 <= chain_id < 2**256 and 0 <= session_id < 2**256):
        raise CryptoError(f"chain id {chain_id} and session id {session_id} must fit in uint256")
    return chain_id.to_bytes(32, "big") + address + session_id.to_bytes(32, "big")


def encrypt_shard(k_data: bytes, session: bytes, index: int, plaintext: bytes) -> bytes:
    """Return `nonce || AES-GCM(plaintext) || tag` bound to (session, shard index)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + _cipher(k_data).encrypt(
        nonce, bytes(plaintext), _associated_data(session, index)
    )


def decrypt_shard(k_data: bytes, session: bytes, index: int, ciphertext: bytes) -> bytes:
    """Return the plaintext of shard `index`; CryptoError if the key, place or bytes are wrong."""
    ciphertext = bytes(ciphertext)
    if len(ciphertext) < NONCE_BYTES + TAG_BYTES:
        raise CryptoError(
            f"shard {index} ciphertext is {len(ciphertext)} bytes,"
            f" shorter than the {NONCE_BYTES + TAG_BYTES}-byte nonce and tag"
        )
    nonce, body = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
    try:
        return _cipher(k_data).decrypt(nonce, body, _associated_data(session, index))
    except InvalidTag:
        raise CryptoError(
            f"shard {index} failed AES-GCM authentication:"
            " wrong K_data, wrong session or shard index, or tampered ciphertext"
        ) from None


def _cipher(k_data: bytes) -> AESGCM:
    k_data = bytes(k_data)
    if len(k_data) != K_DATA_BYTES:
        raise CryptoError(f"K_data must be {K_DATA_BYTES} bytes, got {len(k_data)}")
    return AESGCM(k_data)


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
