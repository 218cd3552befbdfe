"""The embedded store: raw blocks, the block tree for long content, tampering, absence."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hyperx.impl.datastore import (
    BLOCK_SIZE,
    BlockCorruptError,
    BlockNotFoundError,
    DatastoreError,
    EmbeddedStore,
    InvalidCidError,
    compute_cid,
    compute_root_cid,
)
from hyperx.impl.datastore import store as store_module
from hyperx.impl.datastore.store import MANIFEST_MAGIC, MAX_DEPTH, decode_manifest, encode_manifest

UNKNOWN = compute_cid(b"never stored")


def content(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return EmbeddedStore(tmp_path_factory.mktemp("store"))


@given(st.integers(0, 3 * BLOCK_SIZE + 7), st.integers(0, 2**32))
def test_round_trip(store, size, seed):
    data = content(size, seed)
    cid = store.put(data)
    assert store.has(cid)
    assert store.get(cid) == data
    assert store.put(data) == cid


@given(st.integers(0, 3 * BLOCK_SIZE + 7), st.integers(0, 2**32))
def test_root_cid_is_known_without_storing(tmp_path_factory, size, seed):
    """What a provider that withholds its shards commits to: their CIDs, not stored."""
    data = content(size, seed)
    empty = EmbeddedStore(tmp_path_factory.mktemp("empty"))
    cid = compute_root_cid(data)
    assert not empty.has(cid) and list(empty.blocks.iterdir()) == []
    assert empty.put(data) == cid


@pytest.mark.parametrize("size", [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE])
def test_content_up_to_one_block_is_one_raw_block(store, size):
    data = content(size, size)
    assert store.put(data) == compute_cid(data)


def test_longer_content_is_a_tree_under_one_root(store):
    data = content(2 * BLOCK_SIZE + 10, 1)
    root = store.put(data)
    depth, links, size = decode_manifest(root, store.block_path(root).read_bytes())
    assert (depth, size) == (1, len(data))
    assert links == [
        (compute_cid(data[:BLOCK_SIZE]), BLOCK_SIZE),
        (compute_cid(data[BLOCK_SIZE : 2 * BLOCK_SIZE]), BLOCK_SIZE),
        (compute_cid(data[2 * BLOCK_SIZE :]), 10),
    ]


def test_deep_trees_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "FANOUT", 2)
    deep = EmbeddedStore(tmp_path)
    data = content(5 * BLOCK_SIZE + 3, 2)
    root = deep.put(data)
    assert decode_manifest(root, deep.block_path(root).read_bytes())[0] == 3
    assert deep.get(root) == data


def test_short_content_that_looks_like_a_manifest_is_wrapped(store):
    data = MANIFEST_MAGIC + b'{"depth":1,"links":[],"size":0}'
    root = store.put(data)
    assert root != compute_cid(data)
    assert store.get(root) == data


def test_rejects_unknown_cid(store):
    assert not store.has(UNKNOWN)
    with pytest.raises(BlockNotFoundError, match=f"^block {UNKNOWN} is not in the store at "):
        store.get(UNKNOWN)


def test_rejects_tampered_block(tmp_path):
    tampered = EmbeddedStore(tmp_path)
    cid = tampered.put(b"shard bytes")
    tampered.block_path(cid).write_bytes(b"shard bytez")
    with pytest.raises(
        BlockCorruptError,
        match=f"^block {cid} is corrupt: the 11 bytes returned hash to {compute_cid(b'shard bytez')}$",
    ):
        tampered.get(cid)
    assert tampered.put(b"shard bytes") == cid
    assert tampered.get(cid) == b"shard bytes"


def test_rejects_tampered_leaf_of_a_tree(tmp_path):
    tampered = EmbeddedStore(tmp_path)
    data = content(BLOCK_SIZE + 1, 3)
    root = tampered.put(data)
    leaf = compute_cid(data[BLOCK_SIZE:])
    tampered.block_path(leaf).write_bytes(b"\x00")
    with pytest.raises(BlockCorruptError, match=f"^block {leaf} is corrupt"):
        tampered.get(root)


def test_rejects_tree_with_missing_leaf(tmp_path):
    holed = EmbeddedStore(tmp_path)
    data = content(BLOCK_SIZE + 1, 4)
    root = holed.put(data)
    leaf = compute_cid(data[:BLOCK_SIZE])
    holed.block_path(leaf).unlink()
    assert holed.has(root)
    with pytest.raises(BlockNotFoundError, match=f"block {leaf} is not in the store"):
        holed.get(root)


def test_rejects_malformed_manifest(store):
    bad = store._put_block(MANIFEST_MAGIC + b"{not json")
    with pytest.raises(DatastoreError, match=f"^manifest {bad} is malformed: "):
        store.get(bad)
    sizes_disagree = store._put_block(
        MANIFEST_MAGIC + b'{"depth":1,"links":[["%s",5]],"size":6}' % compute_cid(b"hello").encode()
    )
    with pytest.raises(
        DatastoreError,
        match=f"manifest {sizes_disagree} is malformed: bad depth, link count or sizes",
    ):
        store.get(sizes_disagree)


def test_rejects_manifest_whose_leaf_size_lies(store):
    store.put(b"hello")
    lying = store._put_block(
        MANIFEST_MAGIC + b'{"depth":1,"links":[["%s",4]],"size":4}' % compute_cid(b"hello").encode()
    )
    with pytest.raises(
        BlockCorruptError, match=f"block {compute_cid(b'hello')} holds 5 bytes, its manifest says 4"
    ):
        store.get(lying)


def test_rejects_cid_that_is_not_raw(store):
    with pytest.raises(InvalidCidError, match="HyperX blocks are CIDv1 raw sha2-256"):
        store.get("QmRN6wdp1S2A5EtjW9A3M1vKSBuQQGcgvuhoMUoEz4iiT5")


def test_store_survives_reopening(tmp_path):
    cid = EmbeddedStore(tmp_path).put(b"persisted")
    assert EmbeddedStore(tmp_path).get(cid) == b"persisted"


def test_rejects_manifest_deeper_than_the_bound(store):
    leaf = store.put(b"hello")
    too_deep = store._put_block(encode_manifest(MAX_DEPTH + 1, [[leaf, 5]]))
    with pytest.raises(DatastoreError, match=f"manifest {too_deep} is malformed: bad depth"):
        store.get(too_deep)


def test_rejects_manifest_linked_at_the_wrong_depth(store):
    inner = store._put_block(encode_manifest(1, [[store.put(b"hello"), 5]]))
    outer = store._put_block(encode_manifest(3, [[inner, 5]]))
    with pytest.raises(
        BlockCorruptError,
        match=f"manifest {inner} has depth 1 and size 5; its parent links it at depth 2 with size 5",
    ):
        store.get(outer)
