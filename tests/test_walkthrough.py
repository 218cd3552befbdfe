"""The README's multi-party walkthrough, run as written: anvil and js-ipfs, the market
deployed, one collector and three providers as separate processes with their own
keys, the evaluation deadline and the end of the complaint window reached through the
node's RPC by the collector's `--dev` clock, no block mined by hand, the session
closed and paid out, each party's JSON summary and the market view checked. Only the two ports and the paths to node_modules and
.venv are substituted, so that the test runs beside other nodes."""

import json
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hyperx.impl.clients.anvil import free_port
from hyperx.impl.datastore.node import find_node_bin

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- walkthrough: tests/test_walkthrough.py runs every `$ ` line of the next block -->"
REWARD, DEPOSIT, SHARDS, ENTRIES = 10**18, 10**16, 20, 538
TIMEOUT_S = 900


def walkthrough_lines() -> list[str]:
    """The `$ ` lines of the README's walkthrough block, without the prompt."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index(MARKER) :]
    body = block[block.index("```console\n") + len("```console\n") :]
    body = body[: body.index("```")]
    return [line[2:] for line in body.splitlines() if line.startswith("$ ")]


def as_script(lines: list[str], rpc_port: int, ipfs_port: int) -> str:
    script = "\n".join(lines)
    script = re.sub(r"(?<=[: ])8545\b", str(rpc_port), script)
    script = re.sub(r"(?<=[ /])5001\b", str(ipfs_port), script)
    script = script.replace("node_modules/.bin/", f"{ROOT}/node_modules/.bin/")
    script = script.replace(".venv/bin/python", sys.executable)
    # If a line fails, nothing is left running: the nodes are background jobs.
    return "set -u\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n" + script + "\n"


def test_the_walkthrough_mines_nothing_by_hand():
    lines = walkthrough_lines()
    assert len(lines) >= 15
    for line in lines:
        assert not re.search(r"evm_mine|anvil_mine|evm_increaseTime|cast |curl ", line), line


def test_readme_walkthrough_closes_a_session(tmp_path, record_property):
    if find_node_bin("anvil") is None or find_node_bin("jsipfs") is None:
        pytest.skip(
            "anvil or js-ipfs is not installed: run `npm ci --omit=optional --no-audit --no-fund`"
        )
    script = as_script(walkthrough_lines(), free_port(), free_port())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("HYPERX_PRIVATE_KEY", None)
    started, cpu_before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall_s = time.monotonic() - started
    cpu_s = cpu.ru_utime + cpu.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    record_property("walkthrough_wall_s", round(wall_s, 1))
    record_property("walkthrough_cpu_s", round(cpu_s, 1))
    print(f"walkthrough: {wall_s:.0f} s wall, {cpu_s:.0f} s CPU")
    assert process.returncode == 0, err[-3000:]

    collector = json.loads((tmp_path / "collector.json").read_text())
    providers = [json.loads((tmp_path / f"provider-{i}.json").read_text()) for i in (1, 2, 3)]
    assert collector["sid"] == 0 and collector["refund"] is None
    assert collector["dataset"] == f"{SHARDS} shards, {ENTRIES} entries verified"
    # which dataset wins is the assessor's to say (it samples afresh each run); the pay is not
    assert sorted(collector["ranking"]) == sorted(p["address"] for p in providers)
    assert collector["optimal"] == collector["ranking"][0]
    # the payout of claim_deposit: the deposit, and the reward for the optimal provider
    assert {p["address"]: (p["sid"], p["payout"]) for p in providers} == {
        p["address"]: (0, DEPOSIT + (REWARD if p["address"] == collector["optimal"] else 0))
        for p in providers
    }

    assert "session 0: closed" in out
    assert f"{collector['optimal']}   paid (candidate, optimal)" in out
    with np.load(tmp_path / "bought.npz") as bought:
        assert len(bought["x"]) == ENTRIES
    assert stat.S_IMODE((tmp_path / "bought.npz").stat().st_mode) == 0o600
    for party in ("collector", "provider-1", "provider-2", "provider-3"):
        assert stat.S_IMODE((tmp_path / party).stat().st_mode) == 0o700
    # the collector's two jumps: past the evaluation deadline, past the complaint window
    assert err.count("moved the clock") == 2
    assert err.count(": settled: ") == 4 and "error:" not in err
