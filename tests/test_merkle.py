"""Merkle commitments of spec/merkle.py: proofs, chunked reveal, sample digests."""

from hypothesis import given
from hypothesis import strategies as st

from hyperx.spec import merkle
from hyperx.spec.config import CHUNK_SIZE

keys_strategy = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40)


@given(keys_strategy, st.data())
def test_every_leaf_opens_against_the_root(keys, data):
    root = merkle.compute_merkle_root(keys)
    index = data.draw(st.integers(0, len(keys) - 1))
    proof = merkle.compute_merkle_proof(keys, index)
    assert len(proof) == merkle.get_merkle_depth(len(keys))
    assert merkle.is_valid_merkle_proof(keys[index], index, proof, root, len(keys))


@given(keys_strategy, st.data())
def test_rejects_a_key_at_another_position_or_a_forged_key(keys, data):
    root = merkle.compute_merkle_root(keys)
    index = data.draw(st.integers(0, len(keys) - 1))
    proof = merkle.compute_merkle_proof(keys, index)
    forged = bytes(b ^ 0xFF for b in keys[index])
    assert not merkle.is_valid_merkle_proof(forged, index, proof, root, len(keys))
    other = data.draw(st.integers(0, len(keys) - 1))
    if keys[other] != keys[index]:
        assert not merkle.is_valid_merkle_proof(keys[other], index, proof, root, len(keys))
    # a proof of the wrong length never verifies, even padded with the right root
    assert not merkle.is_valid_merkle_proof(keys[index], index, [*proof, root], root, len(keys))


def test_chunks_open_a_large_commitment_in_order():
    n = 2 * CHUNK_SIZE + 5
    keys = [i.to_bytes(32, "big") for i in range(n)]
    root = merkle.compute_merkle_root(keys)
    assert merkle.get_chunk_count(n) == 3
    for chunk in range(3):
        chunk_keys = keys[chunk * CHUNK_SIZE : (chunk + 1) * CHUNK_SIZE]
        proof = merkle.compute_chunk_proof(keys, chunk)
        assert merkle.is_valid_chunk(chunk_keys, chunk, proof, root, n)
        # the same keys do not open another chunk
        assert not merkle.is_valid_chunk(chunk_keys, (chunk + 1) % 3, proof, root, n)
    # a short chunk is rejected
    assert not merkle.is_valid_chunk(keys[:-1], 0, [], root, n)


@given(keys_strategy)
def test_a_single_chunk_is_the_whole_tree(keys):
    root = merkle.compute_merkle_root(keys)
    assert merkle.compute_chunk_proof(keys, 0) == []
    assert merkle.is_valid_chunk(keys, 0, [], root, len(keys))


def test_sample_digest_is_the_abi_encoding_of_uint256_array():
    # keccak256(abi.encode(uint256[]([1, 2]))), as the contract computes it
    encoded = bytes.fromhex(
        "0000000000000000000000000000000000000000000000000000000000000020"
        "0000000000000000000000000000000000000000000000000000000000000002"
        "0000000000000000000000000000000000000000000000000000000000000001"
        "0000000000000000000000000000000000000000000000000000000000000002"
    )
    assert merkle.compute_sample_digest([1, 2]) == merkle.keccak256(encoded)
    assert merkle.compute_sample_digest([1, 2]) != merkle.compute_sample_digest([2, 1])
