"""Integration with a real node: anvil (from npm, pinned in package.json) on a free
127.0.0.1 port; the market deployed through `hyperx contract deploy --rpc … --json`;
a whole session through web3's HTTPProvider with locally signed EIP-1559
transactions, good deliveries that no dispute overturns and junk ones that a dispute
does (anvil's ecrecover precompile against the spec's); time moved with
evm_increaseTime/evm_mine; balances checked to the wei (value and fees); anvil
stopped by its PID."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from contract_twin import (
    dataset,
    dispute_claim_args,
    dispute_review_args,
    ecrecover_cases,
    review_key,
)
from eth_account import Account

from hyperx.impl.chain.connection import Reverted, connect_rpc
from hyperx.impl.chain.market import Market
from hyperx.spec import secp256k1
from hyperx.spec.merkle import keccak256

ROOT = Path(__file__).resolve().parents[1]
ANVIL = ROOT / "node_modules" / ".bin" / "anvil"
# anvil's default dev accounts (mnemonic "test test ... junk"), public knowledge.
DEV_KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
]
REWARD, DEPOSIT, SHARDS = 10**18, 10**17, 20
PERIOD_S = 900
SAMPLES = ([3, 17], [0, 9])  # of the candidate, then of the other provider
PRECOMPILE = "0x0000000000000000000000000000000000000001"


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


def _open_session(market: Market, chain, collector, providers) -> int:
    """create_session; each provider registers, is sampled and submits features."""
    created = market.create_session(
        collector,
        cf_reward=REWARD,
        cf_deposit=DEPOSIT,
        cf_pct_bps=1_000,
        cf_shards=SHARDS,
        cf_evaluation_deadline=chain.now() + 600,
        cf_review_s=PERIOD_S,
        cf_claim_s=PERIOD_S,
        adr_theta=b"\x01" * 32,
    )
    sid = created.events[0].args["sid"]
    for provider in providers:
        data = dataset(provider.address.lower(), sid, SHARDS)
        market.registration(provider, sid, data.root, SHARDS, data.manifest, DEPOSIT)
    for provider, indices in zip(providers, SAMPLES, strict=False):
        sampled = market.sample_data(collector, sid, provider.address, indices)
        assert sampled.events[0].args["indices"] == indices
        market.submit_features(provider, sid, keccak256(provider.address.encode()))
    return sid


def _review(market: Market, provider, sid: int, junk: bool = False) -> dict:
    """The provider's review (its first sealed key junk if `junk`): the event's args."""
    args = dataset(provider.address.lower(), sid, SHARDS).review_args(
        sid, SAMPLES[0], review_key(sid)
    )
    if junk:
        args = (*args[:6], [bytes(32), *args[6][1:]])
    return market.submit_review(provider, *args).events[0].args


def _claim(market: Market, provider, sid: int, junk: bool = False) -> dict:
    """The provider's master key (a junk one if `junk`): the ClaimReward event's args."""
    data = dataset(provider.address.lower(), sid, SHARDS)
    args = data.claim_args(sid, review_key(sid), bytes(32) if junk else None)
    return market.claim_reward(provider, *args).events[0].args


def _dispute_claim(market: Market, collector, provider, sid: int, claim: dict):
    data = dataset(provider.address.lower(), sid, SHARDS)
    return market.dispute_claim(collector, *dispute_claim_args(sid, claim, data, SHARDS - 1))


def test_precompile_on_anvil_agrees_with_the_spec(anvil_url):
    """The ecrecover trick of the disputes on anvil's precompile: every case of
    `test_contract_ecrecover.py`, answered as the spec's `ecrecover` says."""
    chain = connect_rpc(anvil_url)
    for name, (v, r, s) in ecrecover_cases().items():
        data = b"\x00" * 32 + b"".join(word.to_bytes(32, "big") for word in (v, r, s))
        output = bytes(chain.w3.eth.call({"to": PRECOMPILE, "data": data}))
        got = output[12:] if output else secp256k1.ZERO_ADDRESS_BYTES
        assert got == secp256k1.ecrecover(0, v, r, s), name


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
    first_block = chain.w3.eth.block_number + 1

    sid = _open_session(market, chain, collector, [optimal, regular])
    with pytest.raises(Reverted, match="hyperx: caller is not the collector"):
        market.set_candidate(optimal, sid, optimal.address, review_key(sid))
    market.set_candidate(collector, sid, optimal.address, review_key(sid))
    review = _review(market, optimal, sid)
    # anvil's ecrecover opens every good seal: no dispute of the review stands
    for position in range(len(SAMPLES[0])):
        with pytest.raises(Reverted, match="hyperx: sealed key is valid"):
            market.dispute_review(collector, *dispute_review_args(sid, review, position))
    market.set_optimal(collector, sid, optimal.address)
    chain.time_travel(600)  # within the claim period
    claim = _claim(market, optimal, sid)
    assert claim["deadline"] == chain.now() + PERIOD_S
    with pytest.raises(Reverted, match="hyperx: master key is valid"):
        _dispute_claim(market, collector, optimal, sid, claim)
    with pytest.raises(Reverted, match="hyperx: session is still open"):
        market.claim_deposit(optimal, sid)
    chain.time_travel(PERIOD_S)  # the complaint window passes
    paid = market.claim_deposit(optimal, sid)
    assert paid.events[0].args["amount"] == REWARD + DEPOSIT
    market.claim_deposit(regular, sid)
    with pytest.raises(Reverted, match="hyperx: session is closed"):
        market.claim_refund(collector, sid)

    assert market.get_session(sid)["st_trade"] == 3
    assert market.balance() == 0
    fees = _fees_paid(chain, first_block)
    delta = {a: chain.balance(a) - start[a] + fees[a] for a in start}
    assert delta == {collector.address: -REWARD, optimal.address: REWARD, regular.address: 0}


@pytest.mark.parametrize("delivery", ["review", "master key"])
def test_a_junk_delivery_is_disputed_on_anvil(anvil_url, delivery):
    collector, cheat = (Account.from_key(k) for k in DEV_KEYS[:2])
    chain = connect_rpc(anvil_url, collector)
    market, _ = Market.deploy(chain, collector)
    sid = _open_session(market, chain, collector, [cheat])
    market.set_candidate(collector, sid, cheat.address, review_key(sid))
    if delivery == "review":
        review = _review(market, cheat, sid, junk=True)
        disputed = market.dispute_review(collector, *dispute_review_args(sid, review, 0))
    else:
        _review(market, cheat, sid)
        market.set_optimal(collector, sid, cheat.address)
        claim = _claim(market, cheat, sid, junk=True)
        disputed = _dispute_claim(market, collector, cheat, sid, claim)
    assert disputed.events[0].name in ("DisputeReview", "DisputeClaim")
    with pytest.raises(Reverted, match="hyperx: deposit forfeited"):
        market.claim_deposit(cheat, sid)
    refund = market.claim_refund(collector, sid)
    assert refund.events[0].args["amount"] == REWARD + DEPOSIT
    assert market.balance() == 0


def _fees_paid(chain, first_block: int) -> dict[str, int]:
    """Wei each sender paid in fees from `first_block` on, from the receipts."""
    fees = defaultdict(int)
    for number in range(first_block, chain.w3.eth.block_number + 1):
        for tx_hash in chain.w3.eth.get_block(number)["transactions"]:
            receipt = chain.w3.eth.get_transaction_receipt(tx_hash)
            fees[receipt["from"]] += receipt["gasUsed"] * receipt["effectiveGasPrice"]
    return fees


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
