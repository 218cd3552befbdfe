"""Dataset commitments: a Merkle tree over the hashed shard retrieval keys.

Departure from the paper (Figure 3, lines 81-85, 104, 112): the paper stores the list
adr_data^h of every hashed shard key on chain, so Registration and ClaimReward cost
O(n) storage. HyperX commits one Merkle root over adr_data^h (and the shard count).
The binding property is kept (keccak256 is collision resistant, so a provider cannot
open the root to other keys), on-chain storage is O(1) per provider, SubmitReview
opens only the sampled leaves with Merkle proofs, and ClaimReward reveals every key
and the root is recomputed, in aligned chunks of CHUNK_SIZE keys.

Tree: leaf_i = keccak256(key_i) (the paper's adr_data^h); the leaves are padded with
ZERO_HASH to the next power of two; node = keccak256(left || right). A tree of n
leaves has depth ceil(log2 n). Positions matter: the proof of leaf i is the list of
siblings from the bottom up, and bit k of i says whether the node is a right child.
"""

from collections.abc import Sequence

from Crypto.Hash import keccak

from .config import CHUNK_LOG2, CHUNK_SIZE, ZERO_HASH


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def compute_leaf(key: bytes) -> bytes:
    """adr_data^h of one shard: the hash of its retrieval key (a bytes32 digest)."""
    return keccak256(key)


def get_merkle_depth(n_leaves: int) -> int:
    return (n_leaves - 1).bit_length() if n_leaves > 1 else 0


def compute_merkle_root_of_leaves(leaves: Sequence[bytes], depth: int) -> bytes:
    """Root of the tree of 2**depth leaves, `leaves` padded with ZERO_HASH."""
    assert len(leaves) <= 2**depth
    level = list(leaves) + [ZERO_HASH] * (2**depth - len(leaves))
    for _ in range(depth):
        level = [keccak256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def compute_merkle_root(keys: Sequence[bytes]) -> bytes:
    """adr_data_root: the commitment a provider registers for its shard keys."""
    leaves = [compute_leaf(k) for k in keys]
    return compute_merkle_root_of_leaves(leaves, get_merkle_depth(len(leaves)))


def compute_merkle_proof(keys: Sequence[bytes], index: int) -> list[bytes]:
    """Siblings of leaf `index`, bottom up."""
    depth = get_merkle_depth(len(keys))
    level = [compute_leaf(k) for k in keys] + [ZERO_HASH] * (2**depth - len(keys))
    proof = []
    for _ in range(depth):
        proof.append(level[index ^ 1])
        level = [keccak256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        index //= 2
    return proof


def compute_root_from_proof(node: bytes, index: int, proof: Sequence[bytes]) -> bytes:
    """Fold `node` at position `index` up through its siblings."""
    for sibling in proof:
        node = keccak256(sibling + node) if index % 2 else keccak256(node + sibling)
        index //= 2
    return node


def is_valid_merkle_proof(
    key: bytes, index: int, proof: Sequence[bytes], root: bytes, n_leaves: int
) -> bool:
    """Does `key` sit at leaf `index` of the committed tree of `n_leaves` leaves?"""
    return (
        index < n_leaves
        and len(proof) == get_merkle_depth(n_leaves)
        and compute_root_from_proof(compute_leaf(key), index, proof) == root
    )


# Chunked reveal for ClaimReward


def get_chunk_count(n_leaves: int) -> int:
    return (n_leaves + CHUNK_SIZE - 1) // CHUNK_SIZE


def get_chunk_length(n_leaves: int, chunk_index: int) -> int:
    """Number of keys chunk `chunk_index` reveals (all but the last are full)."""
    return min(CHUNK_SIZE, n_leaves - chunk_index * CHUNK_SIZE)


def get_chunk_depth(n_leaves: int) -> int:
    """Height of one chunk's subtree: the whole tree when it fits in one chunk."""
    return min(CHUNK_LOG2, get_merkle_depth(n_leaves))


def compute_chunk_root(keys: Sequence[bytes], n_leaves: int) -> bytes:
    """Root of the aligned subtree that holds one chunk's keys."""
    return compute_merkle_root_of_leaves([compute_leaf(k) for k in keys], get_chunk_depth(n_leaves))


def compute_chunk_proof(all_keys: Sequence[bytes], chunk_index: int) -> list[bytes]:
    """Siblings of chunk `chunk_index`'s subtree root, up to the dataset root."""
    n = len(all_keys)
    chunk_depth = get_chunk_depth(n)
    depth = get_merkle_depth(n)
    chunk_roots = [
        compute_chunk_root(all_keys[c * CHUNK_SIZE : (c + 1) * CHUNK_SIZE], n)
        for c in range(get_chunk_count(n))
    ]
    level = chunk_roots + [compute_merkle_root_of_leaves([], chunk_depth)] * (
        2 ** (depth - chunk_depth) - len(chunk_roots)
    )
    proof = []
    index = chunk_index
    for _ in range(depth - chunk_depth):
        proof.append(level[index ^ 1])
        level = [keccak256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        index //= 2
    return proof


def is_valid_chunk(
    keys: Sequence[bytes], chunk_index: int, proof: Sequence[bytes], root: bytes, n_leaves: int
) -> bool:
    """Do `keys` open chunk `chunk_index` of the committed tree?"""
    return (
        chunk_index < get_chunk_count(n_leaves)
        and len(keys) == get_chunk_length(n_leaves, chunk_index)
        and len(proof) == get_merkle_depth(n_leaves) - get_chunk_depth(n_leaves)
        and compute_root_from_proof(compute_chunk_root(keys, n_leaves), chunk_index, proof) == root
    )


def compute_sample_digest(indices: Sequence[int]) -> bytes:
    """keccak256 of the ABI encoding of `uint256[]` indices: the one word the contract
    stores for adr_sample^h (the sampled leaves are named by position)."""
    encoded = (32).to_bytes(32, "big") + len(indices).to_bytes(32, "big")
    encoded += b"".join(i.to_bytes(32, "big") for i in indices)
    return keccak256(encoded)
