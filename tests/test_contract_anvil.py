"""Integration with a real node: anvil (from npm, pinned in package.json) on a free
127.0.0.1 port; the market deployed through `hyperx contract deploy --rpc … --json`;
a whole session through web3's HTTPProvider with locally signed EIP-1559
transactions; time moved with evm_increaseTime/evm_mine; balances checked to the
wei (value and fees); anvil stopped by its PID."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account

from hyperx.impl.chain.connection import Reverted, connect_rpc
from hyperx.impl.chain.market import Market, iter_reward_chunks
from hyperx.spec.merkle import compute_merkle_proof, compute_merkle_root, keccak256

ROOT = Path(__file__).resolve().parents[1]
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
# anvil's default dev accounts (mnemonic "test test ... junk"), public knowledge.
DEV_KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
]
REWARD, DEPOSIT, SHARDS = 10**18, 10**17, 20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def anvil_url():
    if not ANVIL.exists():
        pytest.fail(f"{ANVIL} is missing: run `npm ci --omit=optional --no-audit --no-fund`")
    port = _free_port()
    process = subprocess.Popen(
        [str(ANVIL), "--host", "127.0.0.1", "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                connect_rpc(url)
                break
            except Exception:
                time.sleep(0.1)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


def _deploy_with_cli(url: str, out: Path) -> dict:
    hyperx = Path(sys.executable).with_name("hyperx")
    result = subprocess.run(
        [str(hyperx), "contract", "deploy", "--rpc", url, "--out", str(out), "--json"],
        env={**os.environ, "HYPERX_PRIVATE_KEY": DEV_KEYS[0]},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout)


def test_full_session_on_anvil(anvil_url, tmp_path):
    deployed = _deploy_with_cli(anvil_url, tmp_path / "deployment.json")
    assert deployed["chain_id"] == 31337 and deployed["gas_used"] > 0
    written = json.loads((tmp_path / "deployment.json").read_text())
    assert (written["address"], written["chain_id"]) == (deployed["address"], 31337)
    assert written["block"] == deployed["block"] and written["abi_sha256"]
    collector, optimal, regular = (Account.from_key(k) for k in DEV_KEYS)
    chain = connect_rpc(anvil_url, collector)
    market = Market(chain, deployed["address"])
    start = {a.address: chain.balance(a.address) for a in (collector, optimal, regular)}
    fees = {a.address: 0 for a in (collector, optimal, regular)}

    def send(account, method, *args, **kwargs):
        result = getattr(market, method)(account, *args, **kwargs)
        fees[account.address] += result.fee_wei
        return result

    created = send(
        collector,
        "create_session",
        cf_reward=REWARD,
        cf_deposit=DEPOSIT,
        cf_pct_bps=1_000,
        cf_shards=SHARDS,
        cf_evaluation_deadline=chain.now() + 600,
        cf_review_s=900,
        cf_claim_s=900,
        adr_theta=b"\x01" * 32,
    )
    sid = created.events[0].args["sid"]
    keys = {
        a.address: [keccak256(f"{a.address}:{i}".encode()) for i in range(SHARDS)]
        for a in (optimal, regular)
    }
    for provider in (optimal, regular):
        send(
            provider,
            "registration",
            sid,
            compute_merkle_root(keys[provider.address]),
            SHARDS,
            DEPOSIT,
        )
    for provider, indices in ((optimal, [3, 17]), (regular, [0, 9])):
        sampled = send(collector, "sample_data", sid, provider.address, indices)
        assert sampled.events[0].args["indices"] == indices
        send(provider, "submit_features", sid, keccak256(provider.address.encode()))
    with pytest.raises(Reverted, match="hyperx: caller is not the collector"):
        market.set_candidate(optimal, sid, optimal.address)
    send(collector, "set_candidate", sid, optimal.address)
    own = keys[optimal.address]
    send(
        optimal,
        "submit_review",
        sid,
        [3, 17],
        [own[3], own[17]],
        [compute_merkle_proof(own, 3), compute_merkle_proof(own, 17)],
        b"\x07" * 129,
    )
    send(collector, "set_optimal", sid, optimal.address)
    chain.time_travel(600)  # within the claim period
    for index, chunk, proof in iter_reward_chunks(own):
        claimed = send(optimal, "claim_reward", sid, index, chunk, proof)
    assert claimed.events[0].args["keys"] == own and claimed.events[0].args["reward"] == REWARD
    for provider in (optimal, regular):
        send(provider, "claim_deposit", sid)
    with pytest.raises(Reverted, match="hyperx: session is closed"):
        market.claim_refund(collector, sid)

    assert market.get_session(sid)["st_trade"] == 3
    assert market.balance() == 0
    delta = {a: chain.balance(a) - start[a] + fees[a] for a in start}
    assert delta == {collector.address: -REWARD, optimal.address: REWARD, regular.address: 0}


def test_deploy_cli_reports_a_wrong_url_in_one_line(tmp_path):
    hyperx = Path(sys.executable).with_name("hyperx")
    url = f"http://127.0.0.1:{_free_port()}"
    result = subprocess.run(
        [str(hyperx), "contract", "deploy", "--rpc", url, "--out", str(tmp_path / "d.json")],
        env={**os.environ, "HYPERX_PRIVATE_KEY": DEV_KEYS[0]},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: no JSON-RPC node answers at http://127.0.0.1:")
    assert result.stderr.count("\n") == 1


def test_deploy_cli_reports_too_little_balance(anvil_url, tmp_path):
    hyperx = Path(sys.executable).with_name("hyperx")
    result = subprocess.run(
        [str(hyperx), "contract", "deploy", "--rpc", anvil_url, "--out", str(tmp_path / "d.json")],
        env={**os.environ, "HYPERX_PRIVATE_KEY": "0x" + "42" * 32},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "fund it first" in result.stderr or "insufficient funds" in result.stderr.lower()
