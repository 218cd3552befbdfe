"""`hyperx market status`: the market's sessions, states, deadlines, stages, deposits and
payouts as its events tell them, on the spec's F_BC (the fold; the disputes' in the
fault tests) and on anvil (the command, once and with --watch); and the deployment
file a party starts from."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account

from hyperx.cli import run
from hyperx.impl.chain.connection import connect_rpc
from hyperx.impl.chain.deployment import Deployment, abi_hash, open_market
from hyperx.impl.chain.market import Market
from hyperx.impl.errors import BadInput
from tests.clients_harness import D, R, make_assessor, new_session, view_of


def test_view_of_a_closed_session_before_and_after_its_complaint_window(tmp_path):
    harness = new_session(None, make_assessor(), tmp_path, providers=2)
    collector = harness.collector
    harness.run(300, until=lambda: collector.facts().get("phase") == "closed")
    (during,) = view_of(harness)["sessions"]
    assert during["state"] == "closed, complaint window open"
    harness.run(300)
    (session,) = view_of(harness)["sessions"]
    optimal = collector.facts()["optimal"]
    assert (session["state"], session["optimal"], session["candidate"]) == (
        "closed",
        optimal,
        optimal,
    )
    assert session["deadline"] == during["deadline"]  # the window's end
    stages = {p["address"]: p for p in session["providers"]}
    assert (stages[optimal]["stage"], stages[optimal]["reward_wei"]) == ("paid", R)
    assert stages[optimal]["returned_wei"] == D + R
    assert {p["stage"] for a, p in stages.items() if a != optimal} == {"features"}
    assert all(p["deposit_wei"] == D and not p["forfeited"] for p in stages.values())
    assert session["refund_wei"] is None
    assert view_of(harness, only=harness.collector.session() + 1)["sessions"] == []


@pytest.fixture(scope="module")
def deployed(anvil, tmp_path_factory):
    """(chain, market, funder, deployment file) on anvil, the market a few blocks in."""
    funder = Account.create()
    anvil.fund(funder.address, 10**22)
    chain = connect_rpc(anvil.url, funder)
    anvil.mine(5)
    market, result = Market.deploy(chain, funder)
    path = tmp_path_factory.mktemp("deployment") / "market.json"
    Deployment(
        market.address,
        chain.chain_id,
        result.block_number,
        result.tx_hash,
        abi_hash(market.artifact.abi),
    ).write(path)
    anvil.mine(5)
    return chain, market, funder, path, result.block_number


def open_session(chain, market, funder) -> None:
    market.create_session(
        funder,
        cf_reward=R,
        cf_deposit=D,
        cf_pct_bps=2_500,
        cf_shards=8,
        cf_evaluation_deadline=chain.now() + 3_600,
        cf_review_s=600,
        cf_claim_s=600,
        adr_theta=b"\x01" * 32,
    )


def test_a_party_starts_from_the_deployment_block(deployed, tmp_path):
    chain, market, _, path, block = deployed
    assert open_market(chain, deployment=path, need_start=True).start_block == block
    assert open_market(chain, market=market.address, need_start=True).start_block == block
    assert open_market(chain, deployment=path, from_block=2, need_start=True).start_block == 2
    other = json.loads(path.read_text()) | {"abi_sha256": "0" * 64}
    (tmp_path / "old.json").write_text(json.dumps(other))
    with pytest.raises(BadInput, match="another version of the contract"):
        open_market(chain, deployment=tmp_path / "old.json")


def test_status_command_shows_sessions_as_json_and_as_a_table(deployed, capsys):
    chain, market, funder, path, _ = deployed
    base = ["market", "status", "--rpc", chain.w3.provider.endpoint_uri, "--deployment", path]
    open_session(chain, market, funder)
    assert run([str(a) for a in [*base, "--json"]]) == 0
    (session,) = json.loads(capsys.readouterr().out)["sessions"]
    assert (session["state"], session["reward_wei"], session["providers"]) == (
        "pending",
        R,
        [],
    )
    assert session["deadline"] == session["evaluation_deadline"] + 600
    assert run([str(a) for a in base]) == 0
    table = capsys.readouterr().out
    assert "session 0: pending" in table and "evaluation ends" in table and "(in 1h00m)" in table


def test_status_watch_prints_each_change_until_interrupted(deployed):
    chain, market, funder, path, _ = deployed
    hyperx = Path(sys.executable).with_name("hyperx")
    command = [str(hyperx), "market", "status", "--rpc", chain.w3.provider.endpoint_uri]
    command += ["--deployment", str(path), "--watch", "--json", "--interval-s", "0.2"]
    watcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        before = len(json.loads(watcher.stdout.readline())["sessions"])
        open_session(chain, market, funder)
        after = len(json.loads(watcher.stdout.readline())["sessions"])
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=30)
    finally:
        if watcher.poll() is None:
            os.kill(watcher.pid, signal.SIGKILL)
    assert after == before + 1
    assert watcher.returncode == 0, watcher.stderr.read()
