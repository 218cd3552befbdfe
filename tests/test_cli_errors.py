"""Every `hyperx` command, given bad input, ends in one unwrapped `error:` line and the
documented exit code (README, "Errors and exit codes"): 2 for bad input, 1 for a
failure while running. Never a traceback, never advice to load a file unsafely.

The commands run in this process through `hyperx.cli.run`, the entry point's own
code; a few run as real processes too, with stderr not a terminal."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account

from hyperx.cli import run
from hyperx.impl.chain.connection import connect_rpc
from hyperx.impl.chain.market import Market
from hyperx.impl.clients.anvil import free_port

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
NOWHERE = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # a valid address with no contract
BAD_CHECKSUM = "0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEAD_RPC = f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def chain(anvil):
    """(anvil URL, a market's address) for the inputs that name something on a chain."""
    funder = Account.create()
    anvil.fund(funder.address, 10**21)
    anvil.fund(Account.from_key(KEY).address, 10**21)
    market, _ = Market.deploy(connect_rpc(anvil.url, funder), funder)
    return anvil.url, market.address


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Bad files of every kind, and good ones to put beside them."""
    folder = tmp_path_factory.mktemp("inputs")
    good = folder / "good.npz"
    np.savez(good, x=np.zeros((30, 8, 8), np.float32), y=np.zeros(30, np.int32))
    (folder / "truncated.npz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (folder / "text.npz").write_text("x,y\n1,2\n")
    np.savez(folder / "pickled.npz", x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    np.savez(folder / "unlabelled.npz", x=np.zeros((3, 8, 8)))
    np.savez(folder / "large.npz", x=np.zeros((30, 28, 28)), y=np.zeros(30, np.int32))
    (folder / "notes.txt").write_text("not a dataset")
    (folder / "deployment-text.json").write_text("not json")
    (folder / "taken.json").write_text("{}")
    other_chain = {
        "address": NOWHERE,
        "chain_id": 1,
        "block": 0,
        "tx_hash": "0x" + "00" * 32,
        "abi_sha256": "00",
        "format": "hyperx-deployment/1",
    }
    (folder / "deployment-mainnet.json").write_text(json.dumps(other_chain))
    (folder / "open").mkdir(mode=0o755)
    os.chmod(folder / "open", 0o755)
    return folder


@pytest.fixture(autouse=True)
def key_and_umask(monkeypatch):
    monkeypatch.setenv("HYPERX_PRIVATE_KEY", KEY)
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def check(capsys, argv, code: int, words: str) -> str:
    assert run([str(a) for a in argv]) == code, capsys.readouterr().err
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert words in err, err
    assert "Traceback" not in err and "allow_pickle" not in err
    return err


def party(command: str, rpc: str, *more) -> list:
    """A daemon's command line with an embedded store, and the parts under test."""
    return [*command.split(), "--rpc", rpc, "--state-dir", "/tmp/unused-hyperx-state", *more]


ADDRESSES = [
    (["--market", "0x1234"], "--market must be a 0x-prefixed address of 40 hex digits"),
    (["--market", BAD_CHECKSUM], "wrong EIP-55 checksum"),
    ([], "give exactly one of --market ADDRESS or --deployment FILE"),
]


@pytest.mark.parametrize(("more", "words"), ADDRESSES)
@pytest.mark.parametrize("command", ["collector start", "provider join"])
def test_rejects_a_bad_market_address(capsys, command, more, words):
    extra = ["--synthetic", "mislabel:0"] if command == "provider join" else []
    check(capsys, party(command, DEAD_RPC, "--store-dir", "/tmp/s", *more, *extra), 2, words)


PERIODS = [
    (["--evaluation-s", "359"], "--evaluation-s must be at least 360: the market's 300 s minimum"),
    (["--review-s", "299"], "--review-s must be at least the market's minimum period of 300 s"),
    (["--claim-s", "60"], "--claim-s must be at least the market's minimum period of 300 s"),
]


@pytest.mark.parametrize(("more", "words"), PERIODS)
def test_rejects_periods_the_market_refuses_before_connecting(capsys, more, words):
    argv = party("collector start", DEAD_RPC, "--store-dir", "/tmp/s", "--market", NOWHERE, *more)
    check(capsys, argv, 2, words)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["market", "status", "--rpc", "not-a-url", "--market", NOWHERE], "--rpc must be an http"),
        (["market", "status", "--rpc", DEAD_RPC, "--market", "0x1234"], "40 hex digits"),
        (
            ["market", "status", "--rpc", DEAD_RPC, "--market", NOWHERE, "--interval-s", "0"],
            "--interval-s",
        ),
        (["contract", "deploy", "--rpc", "not-a-url"], "--rpc must be an http"),
        (["contract", "deploy", "--rpc", "ftp://127.0.0.1:1"], "--rpc must be an http"),
        (["contract", "deploy", "--rpc", "http://127.0.0.1:port"], "port that is not a number"),
        (["contract", "deploy", "--wait-s", "-1"], "--wait-s"),
        (["contract", "compile", "--out", "/proc/hyperx"], "cannot write to --out"),
        (["bench", "gas", "--shards", "abc"], "comma-separated integers"),
        (["bench", "gas", "--shards", "5"], "must lie in [10, 65536]"),
        (["session", "run", "--providers", "0"], "--providers must be between 1 and 11"),
        (["session", "run", "--family", "nope"], "--family must be one of"),
        (["session", "run", "--quality", "nope"], "--quality must be one of"),
        (["session", "run", "--confirmations", "-1"], "--confirmations"),
        (["session", "run", "--quality", "tiny", "--market", "0x1234"], "40 hex digits"),
        (["session", "run", "--rpc", "not-a-url"], "--rpc must be an http"),
        (["nope"], "No such command 'nope'"),
        (["verify", "--profile", "nope"], "unknown profile"),
    ],
)
def test_rejects_bad_arguments(capsys, argv, words):
    check(capsys, argv, 2, words)


def test_rejects_bad_keys(capsys, files, monkeypatch, tmp_path):
    deploy = ["contract", "deploy", "--rpc", DEAD_RPC, "--out", tmp_path / "d.json"]
    check(capsys, [*deploy, "--keystore", files / "missing.json"], 2, "cannot read --keystore")
    check(capsys, [*deploy, "--keystore", files / "good.npz"], 2, "cannot")
    monkeypatch.setenv("HYPERX_PRIVATE_KEY", "0x1234")
    check(capsys, deploy, 2, "HYPERX_PRIVATE_KEY must be 64 hex digits")
    monkeypatch.delenv("HYPERX_PRIVATE_KEY")
    check(capsys, deploy, 2, "no signing key")


DATA = [
    ("truncated.npz", "is not an .npz archive"),
    ("text.npz", "is not an .npz archive"),
    ("pickled.npz", "holds Python objects, which HyperX never loads"),
    ("unlabelled.npz", "has no array y"),
    ("notes.txt", "expected an .npz of x (images)"),
    ("missing.npz", "no such file or folder"),
]


@pytest.mark.parametrize(("name", "words"), DATA)
def test_rejects_a_bad_dataset_file(capsys, files, name, words):
    provider = party("provider join", DEAD_RPC, "--market", NOWHERE, "--store-dir", files)
    check(capsys, [*provider, "--data", files / name], 2, f"--data {files / name}")
    check(capsys, [*provider, "--data", files / name], 2, words)


@pytest.mark.parametrize(("name", "words"), [*DATA[:3], ("large.npz", "28x28 images")])
def test_rejects_a_bad_validation_file(capsys, files, name, words):
    collector = party("collector start", DEAD_RPC, "--market", NOWHERE, "--store-dir", files)
    check(capsys, [*collector, "--quality", "tiny", "--validation", files / name], 2, words)


@pytest.mark.parametrize(
    ("more", "words"),
    [
        (["--synthetic", "nope:1"], "--synthetic must be FAMILY:LEVEL"),
        (["--synthetic", "mislabel:99"], "mislabel has levels 0 to 10"),
        (["--synthetic", "mislabel"], "--synthetic must be FAMILY:LEVEL"),
        ([], "give exactly one of --data PATH or --synthetic"),
        (["--synthetic", "mislabel:0", "--min-review-s", "-1"], "--min-review-s"),
        (["--synthetic", "mislabel:0", "--session", "-1"], "--session"),
        (["--synthetic", "mislabel:0", "--finality", "soon"], "--finality must be one of"),
        (["--synthetic", "mislabel:0", "--poll-s", "0"], "--poll-s"),
    ],
)
def test_rejects_bad_provider_options(capsys, more, words):
    provider = party("provider join", DEAD_RPC, "--market", NOWHERE, "--store-dir", "/tmp/s")
    check(capsys, [*provider, *more], 2, words)


@pytest.mark.parametrize(
    ("more", "words"),
    [
        (["--pct-bps", "0"], "--pct-bps"),
        (["--pct-bps", "10001"], "--pct-bps"),
        (["--shards", "0"], "--shards"),
        (["--reward-wei", "0"], "--reward-wei"),
        (["--ipfs", "nonsense"], "--ipfs: IPFS API address 'nonsense'"),
        (
            ["--ipfs", "/ip4/127.0.0.1/tcp/5001/http", "--store-dir", "/tmp/s"],
            "exactly one of --ipfs",
        ),
        (["--deployment", "/nonexistent.json"], "--deployment /nonexistent.json: no such file"),
    ],
)
def test_rejects_bad_collector_options(capsys, files, more, words):
    market = [] if "--deployment" in more else ["--market", NOWHERE]
    store = [] if "--store-dir" in more or "--ipfs" in more else ["--store-dir", "/tmp/s"]
    collector = party("collector start", DEAD_RPC, *market, *store, "--quality", "tiny")
    check(capsys, [*collector, *more], 2, words)


def test_rejects_a_deployment_file_that_is_not_one(capsys, files):
    collector = party("collector start", DEAD_RPC, "--store-dir", files, "--quality", "tiny")
    check(capsys, [*collector, "--deployment", files / "deployment-text.json"], 2, "is not JSON")


def test_an_unreachable_node_is_a_failure_at_run_time(capsys, tmp_path):
    check(
        capsys,
        ["contract", "deploy", "--rpc", DEAD_RPC, "--out", tmp_path / "d.json"],
        1,
        "no JSON-RPC node answers",
    )
    collector = party("collector start", DEAD_RPC, "--market", NOWHERE, "--store-dir", tmp_path)
    check(capsys, [*collector, "--quality", "tiny"], 1, "(connection refused)")
    check(
        capsys, ["market", "status", "--rpc", DEAD_RPC, "--market", NOWHERE], 1, "no JSON-RPC node"
    )


def test_rejects_what_the_chain_says_is_wrong(capsys, chain, files, tmp_path):
    url, market = chain
    store = ["--store-dir", tmp_path / "store", "--quality", "tiny"]
    collector = ["collector", "start", "--rpc", url, *store]
    check(
        capsys,
        [*collector, "--state-dir", tmp_path / "c", "--market", NOWHERE],
        2,
        f"no contract at --market {NOWHERE}",
    )
    check(
        capsys,
        [
            *collector,
            "--state-dir",
            tmp_path / "c",
            "--deployment",
            files / "deployment-mainnet.json",
        ],
        2,
        "is for chain 1, the node is chain 31337",
    )
    check(
        capsys,
        [*collector, "--state-dir", files / "open", "--market", market],
        2,
        "is open to other users (mode 0755)",
    )
    check(
        capsys,
        [*collector, "--state-dir", tmp_path / "c", "--market", market, "--review-s", 10**12],
        2,
        "the market refuses these session terms: hyperx: review period out of range",
    )
    check(
        capsys,
        ["market", "status", "--rpc", url, "--market", market, "--session", "7"],
        2,
        "--session 7: the market has no such session",
    )
    check(
        capsys,
        ["contract", "deploy", "--rpc", url, "--out", files / "taken.json"],
        2,
        "exists already",
    )
    check(
        capsys,
        ["market", "status", "--rpc", url, "--market", market, "--from-block", "99999"],
        2,
        "--from-block must be between 0 and the head",
    )


def test_rejects_a_state_folder_of_another_key(capsys, chain, monkeypatch, tmp_path):
    url, market = chain
    collector = ["collector", "start", "--rpc", url, "--market", market, "--quality", "tiny"]
    collector += [
        "--store-dir",
        tmp_path / "store",
        "--state-dir",
        tmp_path / "c",
        "--review-s",
        10**12,
    ]
    check(capsys, collector, 2, "the market refuses")  # the state folder now belongs to KEY
    other = Account.create()
    monkeypatch.setenv("HYPERX_PRIVATE_KEY", other.key.hex())
    check(capsys, collector, 2, "belongs to another key")


def test_collector_export_rejects_what_it_cannot_export(capsys, tmp_path):
    check(
        capsys,
        ["collector", "export", "--state-dir", tmp_path, "--out", tmp_path / "d.npz"],
        2,
        "holds no collector state",
    )
    check(
        capsys,
        ["collector", "export", "--state-dir", tmp_path, "--out", tmp_path / "d.txt"],
        2,
        "--out must name an .npz file",
    )


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (
            [
                "collector",
                "start",
                "--rpc",
                DEAD_RPC,
                "--market",
                "0x1234",
                "--state-dir",
                "/tmp/s",
                "--store-dir",
                "/tmp/s",
            ],
            2,
            "40 hex digits",
        ),
        (["contract", "deploy", "--rpc", "not-a-url"], 2, "--rpc must be an http"),
    ],
)
def test_the_installed_command_writes_one_line_when_stderr_is_not_a_terminal(argv, code, words):
    """No rich wrapping at 80 columns: the line is as long as the message."""
    hyperx = Path(sys.executable).with_name("hyperx")
    result = subprocess.run(
        [str(hyperx), *argv],
        env={**os.environ, "HYPERX_PRIVATE_KEY": KEY, "COLUMNS": "40"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == code
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert words in result.stderr and len(result.stderr) > 40


def test_a_node_that_stops_mid_run_ends_the_daemon_with_one_line_and_code_1(fresh_anvil, tmp_path):
    funder = Account.create()
    fresh_anvil.fund(funder.address, 10**21)
    market, _ = Market.deploy(connect_rpc(fresh_anvil.url, funder), funder)
    hyperx = Path(sys.executable).with_name("hyperx")
    command = [
        str(hyperx),
        "provider",
        "join",
        "--rpc",
        fresh_anvil.url,
        "--market",
        market.address,
    ]
    command += ["--state-dir", str(tmp_path / "p"), "--store-dir", str(tmp_path / "store")]
    command += ["--synthetic", "mislabel:0", "--quality", "tiny", "--poll-s", "0.1"]
    daemon = subprocess.Popen(
        command,
        env={**os.environ, "HYPERX_PRIVATE_KEY": KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "p" / "provider.sqlite").exists():  # connected, following
            assert daemon.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        fresh_anvil.stop()
        out, err = daemon.communicate(timeout=120)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 1 and out == ""
    # the daemon's log comes first on stderr; the failure is its one last line
    (failure,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert err.endswith(failure + "\n")
    assert failure.startswith(f"error: the node at {fresh_anvil.url} failed")
    assert f"the state in {tmp_path / 'p'} is kept: start the same command again" in failure
