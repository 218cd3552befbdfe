"""F_DS on a real js-ipfs node: the same CIDs and roots as the embedded store, and its faults."""

import os
import random
import time

import pytest
import requests
from fixtures_ipfs import ipfs_node  # noqa: F401  (module-scoped fixture)

from hyperx.impl.datastore import (
    BLOCK_SIZE,
    BlockCorruptError,
    BlockNotFoundError,
    DatastoreError,
    EmbeddedStore,
    IpfsStore,
    compute_cid,
)
from hyperx.impl.datastore import ipfs as ipfs_module
from hyperx.impl.datastore.ipfs import parse_api_address
from hyperx.impl.datastore.node import JsIpfsNode

UNKNOWN_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def node_store(ipfs_node):  # noqa: F811
    return IpfsStore(ipfs_node.api_multiaddr, timeout_s=UNKNOWN_TIMEOUT_S)


def node_block_put(url: str, data: bytes) -> str:
    """The node's own CID for a raw block, asked for without going through IpfsStore."""
    response = requests.post(
        f"{url}/api/v0/block/put",
        params={"format": "raw", "version": "1"},
        files={"file": ("block", data, "application/octet-stream")},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["Key"]


def test_node_is_js_ipfs_on_loopback(ipfs_node, node_store):  # noqa: F811
    assert ipfs_node.api_multiaddr.startswith("/ip4/127.0.0.1/tcp/")
    assert node_store.implementation == "js-ipfs"
    assert node_store.version["ipfs-core"] == "0.18.1"


@pytest.mark.parametrize("size", [0, 1, 5, 1000, BLOCK_SIZE - 1, BLOCK_SIZE])
def test_multiformats_cid_matches_the_node(ipfs_node, size):  # noqa: F811
    data = random.Random(size).randbytes(size)
    assert node_block_put(ipfs_node.api_url, data) == compute_cid(data)


@pytest.mark.parametrize("size", [0, 77, BLOCK_SIZE, BLOCK_SIZE + 1, 3 * BLOCK_SIZE + 5])
def test_same_root_on_both_stores(node_store, tmp_path, size):
    data = random.Random(size).randbytes(size)
    root = node_store.put(data)
    assert root == EmbeddedStore(tmp_path).put(data)
    assert node_store.has(root)
    assert node_store.get(root) == data


def test_accepts_url_as_well_as_multiaddr(ipfs_node, node_store):  # noqa: F811
    cid = node_store.put(b"by multiaddr")
    assert IpfsStore(ipfs_node.api_url).get(cid) == b"by multiaddr"


def test_rejects_unknown_cid_within_the_timeout(node_store):
    unknown = compute_cid(b"nobody stored this")
    assert not node_store.has(unknown)
    started = time.monotonic()
    with pytest.raises(
        BlockNotFoundError,
        match=f"^block {unknown} was not found on the IPFS node at {node_store.url} within 1 s$",
    ):
        node_store.get(unknown)
    assert time.monotonic() - started < UNKNOWN_TIMEOUT_S + 3


def test_rejects_tampered_block_from_the_node(node_store, monkeypatch):
    data = random.Random(9).randbytes(BLOCK_SIZE + 100)
    root = node_store.put(data)
    tampered_leaf = compute_cid(data[BLOCK_SIZE:])
    real_post = requests.post

    def tampering_post(url, **kwargs):
        # The adversary: a node (or a path to it) that answers with other bytes.
        response = real_post(url, **kwargs)
        if url.endswith("/block/get") and kwargs["params"]["arg"] == tampered_leaf:
            response._content = response.content[:-1] + bytes([response.content[-1] ^ 1])
        return response

    monkeypatch.setattr(ipfs_module.requests, "post", tampering_post)
    with pytest.raises(
        BlockCorruptError,
        match=f"^block {tampered_leaf} is corrupt: the 100 bytes returned hash to ",
    ):
        node_store.get(root)


def test_rejects_node_that_is_not_there():
    with pytest.raises(DatastoreError, match="^no IPFS node answers at http://127.0.0.1:9$"):
        IpfsStore("/ip4/127.0.0.1/tcp/9/http", timeout_s=1)


@pytest.mark.parametrize(
    ("address", "multiaddr", "url"),
    [
        ("/ip4/127.0.0.1/tcp/5001/http", "/ip4/127.0.0.1/tcp/5001/http", "http://127.0.0.1:5001"),
        ("/ip4/127.0.0.1/tcp/5001", "/ip4/127.0.0.1/tcp/5001", "http://127.0.0.1:5001"),
        (
            "/dns/ipfs.local/tcp/443/https",
            "/dns/ipfs.local/tcp/443/https",
            "https://ipfs.local:443",
        ),
        ("/ip6/::1/tcp/5001/http", "/ip6/::1/tcp/5001/http", "http://[::1]:5001"),
        ("http://127.0.0.1:5001", "/ip4/127.0.0.1/tcp/5001/http", "http://127.0.0.1:5001"),
        ("http://localhost:5001/", "/dns/localhost/tcp/5001/http", "http://localhost:5001"),
    ],
)
def test_parse_api_address(address, multiaddr, url):
    assert parse_api_address(address) == (multiaddr, url)


@pytest.mark.parametrize("address", ["127.0.0.1:5001", "/ip4/127.0.0.1/udp/5001", "http://host"])
def test_rejects_malformed_api_address(address):
    with pytest.raises(
        DatastoreError, match=f"IPFS API address '{address}' is neither a multiaddr"
    ):
        parse_api_address(address)


def test_node_stops_with_its_whole_process_group():
    with JsIpfsNode() as node:
        process_group, repo, url = node.process.pid, node.repo, node.api_url
        assert requests.post(f"{url}/api/v0/version", timeout=5).ok
    with pytest.raises(ProcessLookupError):
        os.killpg(process_group, 0)
    assert not repo.exists()
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{url}/api/v0/version", timeout=5)


def test_rejects_starting_without_node_modules(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERX_NODE_MODULES", str(tmp_path))
    with pytest.raises(
        DatastoreError, match=r"js-ipfs is not installed: run `npm ci --omit=optional"
    ):
        JsIpfsNode().start()
