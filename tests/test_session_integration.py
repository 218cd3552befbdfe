"""`hyperx session run` end to end on real nodes: anvil (npm) and js-ipfs on loopback,
a full session with 3 providers through the CLI; and on the embedded EVM and store."""

import json
import os
import subprocess
import sys
import zipfile

import pytest
from eth_account import Account
from typer.testing import CliRunner
from web3 import Web3

from hyperx.cli import app
from hyperx.impl.clients.anvil import AnvilNode
from hyperx.impl.datastore.node import JsIpfsNode, find_node_bin

REWARD, DEPOSIT = 10**18, 10**16
GAS_ALLOWANCE = 10**16  # no party spends more than this on gas in one session


@pytest.fixture(scope="module")
def nodes():
    if find_node_bin("anvil") is None or find_node_bin("jsipfs") is None:
        pytest.skip(
            "anvil or js-ipfs is not installed: run `npm ci --omit=optional --no-audit --no-fund`"
        )
    with AnvilNode() as anvil, JsIpfsNode() as ipfs:
        yield anvil, ipfs


def hyperx(*args, env=None, timeout=300):
    command = [sys.executable, "-c", "from hyperx.cli import main; main()", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout
    )


def check_outcome(report: dict, providers: int) -> None:
    assert report["state"] == "closed" and report["refund"] is None
    optimal = report["optimal_provider"]
    assert report["payouts"] == {
        name: DEPOSIT + (REWARD if name == optimal else 0) for name in report["scores"]
    }
    assert optimal in report["scores"] and len(report["scores"]) == providers
    deltas = report["balances_delta"]
    assert REWARD - GAS_ALLOWANCE < deltas[optimal] < REWARD
    assert -REWARD - GAS_ALLOWANCE < deltas["collector"] < -REWARD
    for name in report["scores"]:
        if name != optimal:
            assert -GAS_ALLOWANCE < deltas[name] < 0  # the deposit came back; only gas was spent
    assert all(report["gas"][name] > 0 for name in deltas)


def test_session_run_on_anvil_and_js_ipfs(nodes):
    anvil, ipfs = nodes
    funder = Account.create()
    anvil.fund(funder.address, 100 * REWARD)
    result = hyperx(
        "session",
        "run",
        "--rpc",
        anvil.url,
        "--ipfs",
        ipfs.api_multiaddr,
        "--providers",
        "3",
        "--shards",
        "12",
        "--quality",
        "tiny",
        "--json",
        env={"HYPERX_PRIVATE_KEY": funder.key.hex()},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    check_outcome(report, providers=3)
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    assert w3.eth.get_balance(report["market"]) == 0  # the escrow paid out everything it held


def test_session_run_on_the_embedded_evm_and_store(tmp_path):
    args = ["run", "--providers", "2", "--shards", "8", "--quality", "tiny", "--confirmations", "1"]
    args += ["--json", "--state-dir", str(tmp_path)]
    result = CliRunner().invoke(app, ["session", *args])
    assert result.exit_code == 0, result.output[-2000:]
    check_outcome(json.loads(result.stdout), providers=2)
    # the collector kept the dataset it bought, encrypted at rest (no zip header in clear)
    (kept,) = tmp_path.glob("dataset-session-0.npz.sealed")
    assert not zipfile.is_zipfile(kept)


def test_rejects_bad_options_with_one_line():
    result = CliRunner().invoke(app, ["session", "run", "--providers", "0", "--quality", "tiny"])
    assert result.exit_code == 2
    assert "--providers must be between 1 and 11" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
