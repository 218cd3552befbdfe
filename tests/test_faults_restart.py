"""A provider process killed (SIGKILL) between phases and started again from its
SQLite file completes its session with nothing lost: the master key it committed
before the first kill is the one whose keys it seals at review and claim, and no
transaction is sent twice. The provider runs as `hyperx provider join` on anvil; the
collector runs in the test process."""

import json
import os
import signal
import subprocess
import sys
import time

from eth_account import Account as EthAccount

from hyperx.impl.chain.connection import connect_rpc
from hyperx.impl.chain.market import Market
from hyperx.impl.clients.collector import CollectorClient, Terms
from hyperx.impl.clients.ledger import Account
from hyperx.impl.clients.state import StateStore
from hyperx.impl.clients.web3_ledger import Web3Ledger
from hyperx.impl.datastore import EmbeddedStore
from hyperx.spec.config import ZERO_HASH
from tests.clients_harness import make_assessor

REWARD, DEPOSIT, SHARDS, EVALUATION_S, REVIEW_S = 10**18, 10**16, 8, 3_600, 600
TIMEOUT_S = 120
# Each restart is a fresh Python process (a few seconds of imports and compiles):
# the default run kills it after two phases, the thorough profile after every one.
KILL_AFTER = (
    ("Registration", "SubmitFeatures", "SubmitReview", "ClaimReward")
    if os.environ.get("HYPERX_PROFILE") == "thorough"
    else ("Registration", "SubmitReview")
)


class ProviderProcess:
    def __init__(self, anvil, market, key, state_dir, store_dir, sid):
        self.command = [
            sys.executable,
            "-c",
            "from hyperx.cli import main; main()",
            "provider",
            "join",
            "--rpc",
            anvil.url,
            "--market",
            market.address,
            "--state-dir",
            str(state_dir),
            "--store-dir",
            str(store_dir),
            "--synthetic",
            "mislabel:0",
            "--quality",
            "tiny",
            "--session",
            str(sid),
            "--confirmations",
            "0",
            "--dev",  # anvil: mine the blocks that make its last transactions final
            "--poll-s",
            "0.1",
            "--timeout-s",
            str(TIMEOUT_S),
        ]
        self.env = {**os.environ, "HYPERX_PRIVATE_KEY": key.hex()}
        self.process = None
        self.starts = 0

    def start(self):
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.starts += 1

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def finish(self) -> dict:
        out, err = self.process.communicate(timeout=TIMEOUT_S)
        assert self.process.returncode == 0, err[-2000:]
        return json.loads(out.strip().splitlines()[-1])


def test_provider_killed_between_phases_completes_its_session(anvil, tmp_path):
    funder = EthAccount.create()
    anvil.fund(funder.address, 10**21)
    chain = connect_rpc(anvil.url, funder)
    market, _ = Market.deploy(chain, funder)
    ledger = Web3Ledger(market)
    store_dir = tmp_path / "store"
    collector_key, provider_key = Account.create(), Account.create()
    anvil.fund(collector_key.address, 10 * REWARD)
    anvil.fund(provider_key.address, 10 * REWARD)
    collector = CollectorClient(
        ledger,
        collector_key,
        StateStore(tmp_path / "collector.sqlite"),
        EmbeddedStore(store_dir),
        make_assessor(),
    )
    collector.state.set_cursor(ledger.head())
    collector.start_session(Terms(REWARD, DEPOSIT, 2_500, SHARDS, EVALUATION_S, REVIEW_S, 600))

    def wait_for(what, condition):
        deadline = time.monotonic() + TIMEOUT_S
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            collector.step()
            time.sleep(0.1)

    wait_for("CreateSession", lambda: collector.session() is not None)
    sid, pid = collector.session(), provider_key.address

    profile = lambda: market.get_profile(sid, pid)  # noqa: E731
    phases = [
        ("Registration", lambda: profile()["adr_data_root"] != ZERO_HASH),
        ("SubmitFeatures", lambda: profile()["adr_feature"] != ZERO_HASH),
        ("SubmitReview", lambda: market.get_session(sid)["review_submitted"]),
        ("ClaimReward", lambda: market.get_session(sid)["st_trade"] == 3),
    ]
    provider = ProviderProcess(
        anvil, market, provider_key.private_key, tmp_path / "provider", store_dir, sid
    )
    provider.start()
    for phase, done in phases:
        if phase == "SubmitReview":
            ledger.advance_time(
                EVALUATION_S + 1
            )  # EndEvaluation: the collector picks its candidate
        wait_for(phase, done)
        if phase == "ClaimReward":
            ledger.advance_time(REVIEW_S + 1)  # past the complaint window: the payout is due
        if phase == "Registration":
            committed_root = profile()["adr_data_root"]
        if phase in KILL_AFTER:
            provider.kill()
            provider.start()
    outcome = provider.finish()

    assert provider.starts == 1 + len(KILL_AFTER)
    assert outcome == {"sid": sid, "payout": DEPOSIT + REWARD, "address": pid}
    assert profile()["adr_data_root"] == committed_root and profile()["deposit_claimed"]
    assert collector.providers()[pid]["review"] == "accepted"
    wait_for("the dataset", lambda: "dataset" in collector.facts())
    assert collector.facts()["dataset"].startswith(f"{SHARDS} shards")
    # registration, submit_features, submit_review, claim_reward, claim_deposit: once each
    assert chain.w3.eth.get_transaction_count(chain.w3.to_checksum_address(pid)) == 5
