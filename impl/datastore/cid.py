"""CIDs of raw blocks, and the bytes32 form the contract stores them in.

Every block HyperX writes is addressed by a CIDv1 with the raw codec (0x55) and a
sha2-256 multihash, printed in base32 (`bafkrei...`): the CID a real IPFS node
gives for `block put` with the raw codec. The 32-byte sha2-256 digest is the whole
of the CID's variable part, so the contract keeps a CID in one `bytes32` word and
`bytes32_to_cid` rebuilds the string.
"""

from multiformats import CID, multihash

CODEC = "raw"
HASH_FUNCTION = "sha2-256"
DIGEST_BYTES = 32


class DatastoreError(Exception):
    """A datastore request failed; the message is one line naming the CID or address."""


class InvalidCidError(DatastoreError, ValueError):
    """A string or digest is not a CIDv1 raw sha2-256 block address."""


class BlockNotFoundError(DatastoreError, LookupError):
    """No block with this CID is held by the store."""


class BlockCorruptError(DatastoreError):
    """The bytes a store returned for a CID do not hash to that CID."""


def compute_cid(data: bytes) -> str:
    """Return the base32 CIDv1 (raw codec, sha2-256) of one block's bytes."""
    return str(CID("base32", 1, CODEC, multihash.digest(bytes(data), HASH_FUNCTION)))


def normalize_cid(cid: str) -> str:
    """Return `cid` in canonical base32 form; fail unless it is CIDv1 raw sha2-256."""
    text = str(cid).strip()
    try:
        parsed = CID.decode(text)
    except (KeyError, ValueError) as error:
        raise InvalidCidError(f"{text!r} is not a CID: {error}") from None
    if parsed.version != 1 or parsed.codec.name != CODEC or parsed.hashfun.name != HASH_FUNCTION:
        raise InvalidCidError(
            f"{text!r} is a CIDv{parsed.version} {parsed.codec.name} {parsed.hashfun.name} CID;"
            f" HyperX blocks are CIDv1 {CODEC} {HASH_FUNCTION}"
        )
    return str(parsed.set(base="base32"))


def cid_to_bytes32(cid: str) -> bytes:
    """Return the 32-byte sha2-256 digest of a CIDv1 raw block, as the contract stores it."""
    return bytes(CID.decode(normalize_cid(cid)).raw_digest)


def bytes32_to_cid(digest: bytes) -> str:
    """Return the base32 CIDv1 raw string whose sha2-256 digest is `digest` (32 bytes)."""
    digest = bytes(digest)
    if len(digest) != DIGEST_BYTES:
        raise InvalidCidError(
            f"a CID digest is {DIGEST_BYTES} bytes, got {len(digest)} bytes ({digest.hex()!r})"
        )
    return str(CID("base32", 1, CODEC, multihash.wrap(digest, HASH_FUNCTION)))


def verify_block(cid: str, data: bytes) -> bytes:
    """Return `data` if it hashes to `cid`; raise BlockCorruptError naming the CID otherwise."""
    actual = compute_cid(data)
    if actual != normalize_cid(cid):
        raise BlockCorruptError(
            f"block {cid} is corrupt: the {len(data)} bytes returned hash to {actual}"
        )
    return data
