"""Dataset commitments of spec/merkle.py: leaves, proofs, and the digests the contract keeps."""

from eth_abi import encode
from hypothesis import given
from hypothesis import strategies as st

from hyperx.spec import merkle

words = st.binary(min_size=32, max_size=32)
leaves_strategy = st.lists(words, min_size=1, max_size=40)


@given(leaves_strategy, st.data())
def test_every_leaf_opens_against_the_root(leaves, data):
    root = merkle.compute_merkle_root(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = merkle.compute_merkle_proof(leaves, index)
    assert len(proof) == merkle.get_merkle_depth(len(leaves))
    assert merkle.is_valid_merkle_proof(leaves[index], index, proof, root, len(leaves))


@given(leaves_strategy, st.data())
def test_rejects_a_leaf_at_another_position_or_a_forged_leaf(leaves, data):
    root = merkle.compute_merkle_root(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = merkle.compute_merkle_proof(leaves, index)
    forged = bytes(b ^ 0xFF for b in leaves[index])
    assert not merkle.is_valid_merkle_proof(forged, index, proof, root, len(leaves))
    other = data.draw(st.integers(0, len(leaves) - 1))
    if leaves[other] != leaves[index]:
        assert not merkle.is_valid_merkle_proof(leaves[other], index, proof, root, len(leaves))
    # a proof of the wrong length never verifies, even padded with the right root
    assert not merkle.is_valid_merkle_proof(leaves[index], index, [*proof, root], root, len(leaves))
    # nor does a position past the committed shard count
    assert not merkle.is_valid_merkle_proof(leaves[index], len(leaves), proof, root, len(leaves))


@given(words, words)
def test_a_leaf_binds_the_content_address_and_the_key_hash(cid, key_hash):
    leaf = merkle.compute_leaf(cid, key_hash)
    assert leaf == merkle.keccak256(cid + key_hash)
    if cid != key_hash:
        assert leaf != merkle.compute_leaf(key_hash, cid)


def test_sample_digest_is_the_abi_encoding_of_uint256_array():
    assert merkle.compute_sample_digest([1, 2]) == merkle.keccak256(encode(["uint256[]"], [[1, 2]]))
    assert merkle.compute_sample_digest([1, 2]) != merkle.compute_sample_digest([2, 1])


@given(st.binary(min_size=0, max_size=70), st.lists(words, max_size=5), st.lists(words, max_size=5))
def test_review_digest_is_the_abi_encoding_the_contract_hashes(ephemeral, sealed, hashes):
    encoded = encode(["bytes", "bytes32[]", "bytes32[]"], [ephemeral, sealed, hashes])
    assert merkle.compute_review_digest(ephemeral, sealed, hashes) == merkle.keccak256(encoded)


@given(st.binary(min_size=0, max_size=70), words)
def test_claim_digest_is_the_abi_encoding_the_contract_hashes(ephemeral, sealed):
    encoded = encode(["bytes", "bytes32"], [ephemeral, sealed])
    assert merkle.compute_claim_digest(ephemeral, sealed) == merkle.keccak256(encoded)
