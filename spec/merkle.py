"""Dataset commitments: a Merkle tree over the shards' content addresses and key hashes,
and the digests the contract keeps of what it was shown.

Departure from the paper (Figure 3, lines 81-85, 104, 112): the paper stores the list
adr_data^h of every hashed shard retrieval key on chain and reveals the retrieval keys
themselves at ClaimReward, so Registration and ClaimReward cost O(n) storage and the
collector learns where the shards are only once it has paid. HyperX commits one Merkle
root over, for each shard i, leaf_i = keccak256(cid_i || h_i), where cid_i is the
content address of the encrypted shard (public from registration, in the provider's
manifest on F_DS, so the collector can check that every shard is there before it
promotes a candidate) and h_i = keccak256(k_i) the hash of the shard's key
(`hyperx.spec.sealing.compute_shard_key`). Binding is kept (keccak256 is collision
resistant: a provider cannot open the root to other shards or keys), storage is O(1)
per provider, SubmitReview opens only the sampled leaves, and a dispute opens one.

Tree: the leaves are padded with ZERO_HASH to the next power of two; node =
keccak256(left || right). A tree of n leaves has depth ceil(log2 n). The proof of
leaf i is the list of its siblings from the bottom up; bit k of i says whether the
node at height k is a right child.
"""

from collections.abc import Sequence
from functools import lru_cache

from Crypto.Hash import keccak

from .config import ZERO_HASH


@lru_cache(maxsize=1 << 16)
def keccak256(data: bytes) -> bytes:
    """keccak256, memoised: the verifier hashes the same leaves and words again and again."""
    return keccak.new(digest_bits=256, data=data).digest()


def compute_leaf(cid: bytes, key_hash: bytes) -> bytes:
    """leaf_i: one shard's content address and the hash of its key."""
    return keccak256(cid + key_hash)


def get_merkle_depth(n_leaves: int) -> int:
    return (n_leaves - 1).bit_length() if n_leaves > 1 else 0


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    depth = get_merkle_depth(len(leaves))
    levels = [list(leaves) + [ZERO_HASH] * (2**depth - len(leaves))]
    for _ in range(depth):
        level = levels[-1]
        levels.append([keccak256(level[i] + level[i + 1]) for i in range(0, len(level), 2)])
    return levels


def compute_merkle_root(leaves: Sequence[bytes]) -> bytes:
    """adr_data_root: the commitment a provider registers."""
    # Verify there is something to commit to
    assert leaves, "hyperx: a commitment needs at least one shard"
    return _levels(leaves)[-1][0]


def compute_merkle_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Siblings of leaf `index`, bottom up."""
    return [level[(index >> height) ^ 1] for height, level in enumerate(_levels(leaves)[:-1])]


def compute_root_from_proof(node: bytes, index: int, proof: Sequence[bytes]) -> bytes:
    """Fold `node` at position `index` up through its siblings."""
    for sibling in proof:
        node = keccak256(sibling + node) if index % 2 else keccak256(node + sibling)
        index //= 2
    return node


def is_valid_merkle_proof(
    leaf: bytes, index: int, proof: Sequence[bytes], root: bytes, n_leaves: int
) -> bool:
    """Does `leaf` sit at position `index` of the committed tree of `n_leaves` leaves?"""
    return (
        0 <= index < n_leaves
        and len(proof) == get_merkle_depth(n_leaves)
        and compute_root_from_proof(leaf, index, proof) == root
    )


# Digests the contract stores instead of arrays (each the keccak256 of the ABI
# encoding of the values, as Vyper's abi_encode writes it)


def _word(value: int | bytes) -> bytes:
    if isinstance(value, bytes):
        return value.rjust(32, b"\x00")
    return value.to_bytes(32, "big")


def _encode_array(items: Sequence[int | bytes]) -> bytes:
    return _word(len(items)) + b"".join(_word(item) for item in items)


def _encode_bytes(data: bytes) -> bytes:
    return _word(len(data)) + data.ljust(-(-len(data) // 32) * 32, b"\x00")


def compute_sample_digest(indices: Sequence[int]) -> bytes:
    """keccak256(abi_encode(uint256[] indices)): the one word the contract keeps of
    adr_sample^h (the sampled leaves are named by position)."""
    return keccak256(_word(32) + _encode_array(indices))


def compute_review_digest(
    ephemeral: bytes, sealed_keys: Sequence[bytes], key_hashes: Sequence[bytes]
) -> bytes:
    """keccak256(abi_encode(Bytes[64] ephemeral, bytes32[] sealed_keys, bytes32[]
    key_hashes)): what SubmitReview delivered, as a dispute must show it again."""
    head_size = 3 * 32
    ephemeral_tail = _encode_bytes(ephemeral)
    sealed_tail = _encode_array(sealed_keys)
    return keccak256(
        _word(head_size)
        + _word(head_size + len(ephemeral_tail))
        + _word(head_size + len(ephemeral_tail) + len(sealed_tail))
        + ephemeral_tail
        + sealed_tail
        + _encode_array(key_hashes)
    )


def compute_claim_digest(ephemeral: bytes, sealed_master: bytes) -> bytes:
    """keccak256(abi_encode(Bytes[64] ephemeral, bytes32 sealed_master)): what
    ClaimReward delivered."""
    return keccak256(_word(64) + sealed_master + _encode_bytes(ephemeral))
