"""Prints F_DS throughput: put and get of one payload on the embedded store and on js-ipfs.

    python -m hyperx.impl.datastore.benchmark [--mib 16]

The js-ipfs figures need `npm ci --omit=optional --no-audit --no-fund` first; without
node_modules only the embedded store is measured.
"""

import argparse
import os
import tempfile
import time

from hyperx.impl.datastore.ipfs import IpfsStore
from hyperx.impl.datastore.node import JsIpfsNode, find_node_bin
from hyperx.impl.datastore.store import Datastore, EmbeddedStore


def measure(name: str, store: Datastore, payload: bytes) -> None:
    started = time.perf_counter()
    root = store.put(payload)
    put_s = time.perf_counter() - started
    started = time.perf_counter()
    assert store.get(root) == payload
    get_s = time.perf_counter() - started
    mib = len(payload) / 2**20
    print(
        f"{name:10s} {mib:7.1f} MiB  put {mib / put_s:8.1f} MiB/s  get {mib / get_s:8.1f} MiB/s  root {root}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=16, help="payload size in MiB")
    payload = os.urandom(parser.parse_args().mib * 2**20)
    with tempfile.TemporaryDirectory() as directory:
        measure("embedded", EmbeddedStore(directory), payload)
    if find_node_bin("jsipfs") is None:
        print("js-ipfs    skipped: node_modules/.bin/jsipfs is not installed")
        return
    with JsIpfsNode() as node:
        print(f"js-ipfs    started in {node.startup_s:.1f} s")
        measure("js-ipfs", IpfsStore(node.api_multiaddr), payload)


if __name__ == "__main__":
    main()
