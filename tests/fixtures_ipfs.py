"""Pytest fixture: one real js-ipfs node on loopback per test module.

Import it into a test module (`from tests.fixtures_ipfs import ipfs_node`, or
`pytest_plugins`); the tests that use it are skipped only when node_modules is absent
(`npm ci --omit=optional --no-audit --no-fund` installs it; `make test` always does).
"""

import pytest

from hyperx.impl.datastore.node import JsIpfsNode, find_node_bin


@pytest.fixture(scope="module")
def ipfs_node():
    if find_node_bin("jsipfs") is None:
        pytest.skip("js-ipfs is not installed: run `npm ci --omit=optional --no-audit --no-fund`")
    with JsIpfsNode() as node:
        yield node
