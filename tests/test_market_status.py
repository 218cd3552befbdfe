"""`hyperx market status`: the market's sessions, states, deadlines, stages, deposits and
payouts as its events tell them, on the embedded EVM (the fold) and on anvil (the
command, once and with --watch); and the deployment file a party starts from."""

import dataclasses
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
from hyperx.impl.clients.market_view import MarketView
from hyperx.impl.errors import BadInput
from tests.clients_harness import make_assessor, make_embedded, new_session

REWARD, DEPOSIT = 10**18, 10**16


def test_view_of_a_closed_and_an_expired_session(tmp_path):
    embedded, assessor = make_embedded(), make_assessor()
    closed = new_session(embedded, assessor, tmp_path / "closed", providers=2)
    closed.run(300)
    picky = dataclasses.replace(assessor, config=assessor.config.replace(score_threshold=1.01))
    new_session(embedded, picky, tmp_path / "expired", providers=1).run(300)

    view = MarketView(closed.market, 0)
    view.update()
    first, second = view.to_json()["sessions"]
    optimal = closed.collector.facts()["optimal"]
    assert (first["state"], first["optimal"], first["candidate"]) == ("closed", optimal, optimal)
    stages = {p["address"]: p for p in first["providers"]}
    assert stages[optimal]["stage"] == "paid" and stages[optimal]["reward_wei"] == REWARD
    assert {p["stage"] for a, p in stages.items() if a != optimal} == {"features"}
    assert all(p["deposit_wei"] == p["returned_wei"] == DEPOSIT for p in stages.values())
    assert second["state"] == "expired while pending" and second["refund_wei"] == REWARD
    assert [p["stage"] for p in second["providers"]] == ["features"]
    assert view.to_json(only=1)["sessions"] == [second]


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
        cf_reward=REWARD,
        cf_deposit=DEPOSIT,
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
        REWARD,
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
