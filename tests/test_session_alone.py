"""`hyperx collector start` and `hyperx provider join` as separate processes on anvil
producing a block a second, with real-time deadlines (thorough profile only: the
deadlines make it take minutes)."""

import json
import os
import subprocess
import sys

import pytest
from eth_account import Account

from hyperx.impl.chain.connection import connect_rpc
from hyperx.impl.chain.market import Market
from hyperx.impl.clients.anvil import AnvilNode
from hyperx.impl.datastore.node import find_node_bin

pytestmark = pytest.mark.skipif(
    os.environ.get("HYPERX_PROFILE") != "thorough",
    reason="minutes of real-time deadlines: HYPERX_PROFILE=thorough",
)
HYPERX = [sys.executable, "-c", "from hyperx.cli import main; main()"]
DEPOSIT = 10**16


def test_collector_and_providers_as_separate_processes(tmp_path):
    if find_node_bin("anvil") is None:
        pytest.skip("anvil is not installed: run `npm ci --omit=optional --no-audit --no-fund`")
    with AnvilNode(block_time_s=1) as anvil:
        funder = Account.create()
        anvil.fund(funder.address, 10**22)
        market, _ = Market.deploy(connect_rpc(anvil.url, funder), funder)
        keys = [Account.create() for _ in range(3)]
        for key in keys:
            anvil.fund(key.address, 10**21)
        common = [
            "--rpc",
            anvil.url,
            "--market",
            market.address,
            "--store-dir",
            str(tmp_path / "store"),
            "--quality",
            "tiny",
            "--poll-s",
            "0.5",
            "--timeout-s",
            "400",
        ]
        terms = [
            "--shards",
            "8",
            "--deposit-wei",
            str(DEPOSIT),
            "--evaluation-s",
            "40",
            "--review-s",
            "30",
            "--claim-s",
            "30",
        ]

        def start(key, *args):
            env = {**os.environ, "HYPERX_PRIVATE_KEY": key.key.hex()}
            return subprocess.Popen(
                [*HYPERX, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )

        collector = start(
            keys[0], "collector", "start", *common, "--state-dir", str(tmp_path / "c"), *terms
        )
        providers = [
            start(
                key,
                "provider",
                "join",
                *common,
                "--state-dir",
                str(tmp_path / f"p{level}"),
                "--synthetic",
                f"mislabel:{level}",
                *("--min-review-s", "30", "--min-claim-s", "30", "--min-evaluation-s", "10"),
            )
            for key, level in zip(keys[1:], (0, 6), strict=True)
        ]
        outcomes = []
        for process in [collector, *providers]:
            out, err = process.communicate(timeout=500)
            assert process.returncode == 0, err[-2000:]
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
    collected, *joined = outcomes
    assert collected["optimal"] in {p["address"] for p in joined}
    assert collected["dataset"] == "8 shards, 538 entries verified"
    assert all(p["deposit_returned"] == DEPOSIT for p in joined)
