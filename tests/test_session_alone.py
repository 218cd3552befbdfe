"""`hyperx collector start` and `hyperx provider join` as separate processes on anvil
producing a block a second, with real-time deadlines at the market's minimum periods
(thorough profile only: the evaluation, the selection and the complaint window take
more than ten minutes of real time)."""

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
            "1500",
        ]
        terms = [
            "--shards",
            "8",
            "--deposit-wei",
            str(DEPOSIT),
            "--evaluation-s",
            "360",
            "--review-s",
            "300",
            "--claim-s",
            "300",
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
                *("--min-review-s", "300", "--min-claim-s", "300", "--min-evaluation-s", "10"),
            )
            for key, level in zip(keys[1:], (0, 6), strict=True)
        ]
        outcomes = []
        for process in [collector, *providers]:
            out, err = process.communicate(timeout=1600)
            assert process.returncode == 0, err[-2000:]
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
    collected, *joined = outcomes
    assert collected["optimal"] in {p["address"] for p in joined}
    assert collected["dataset"] == "8 shards, 538 entries verified"
    assert {p["address"]: p["payout"] for p in joined} == {
        p["address"]: DEPOSIT + (10**18 if p["address"] == collected["optimal"] else 0)
        for p in joined
    }
