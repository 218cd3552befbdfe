"""`hyperx session run`, `hyperx collector start|export`, `hyperx provider join`, `hyperx market status`.

Every command ends a failure with one `error:` line and the exit code of
`hyperx.impl.errors`: 2 for bad input (checked before anything is sent), 1 for a
failure while running. A daemon that stops on a failure keeps its state: started
again with the same --state-dir, it resumes.
"""

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from hyperx.impl.chain.connection import ChainError, Reverted
from hyperx.impl.clients.artifacts import ArtifactError
from hyperx.impl.clients.daemon import PartyError
from hyperx.impl.clients.session import RunOptions, SessionError, run_session
from hyperx.impl.crypto import CryptoError
from hyperx.impl.datastore import DatastoreError
from hyperx.impl.errors import BadInput, reported
from hyperx.impl.quality.errors import QualityError

USER_ERRORS = (
    BadInput,
    ChainError,
    Reverted,
    SessionError,
    PartyError,
    DatastoreError,
    QualityError,
    CryptoError,
    ArtifactError,
)

session_app = typer.Typer(
    help="Run a whole trading session.", no_args_is_help=True, add_completion=False
)
collector_app = typer.Typer(
    help="Run the collector alone.", no_args_is_help=True, add_completion=False
)
provider_app = typer.Typer(help="Run a provider alone.", no_args_is_help=True, add_completion=False)
market_app = typer.Typer(
    help="Watch a deployed market.", no_args_is_help=True, add_completion=False
)

console = Console()


def log_transactions(on: bool, timestamps: bool = False) -> None:
    """The parties' transactions on stderr, one line each (a daemon's with the time);
    other libraries stay quiet."""
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(message)s" if timestamps else "%(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("hyperx.clients").setLevel(logging.INFO if on else logging.WARNING)


def ether(wei: int | None) -> str:
    return "" if wei is None else f"{wei / 10**18:+.4f}"


@session_app.command("run")
def run(
    providers: Annotated[
        int,
        typer.Option(
            "--providers",
            "-n",
            help="How many providers join (each with a differently corrupted dataset).",
        ),
    ] = 3,
    shards: Annotated[
        int, typer.Option("--shards", "-s", help="Shards every provider commits (cf_shards).")
    ] = 20,
    rpc: Annotated[
        str,
        typer.Option(
            "--rpc",
            help="JSON-RPC URL of a chain (default: the embedded EVM). Funding key from HYPERX_PRIVATE_KEY or --keystore.",
        ),
    ] = None,
    ipfs: Annotated[
        str,
        typer.Option(
            "--ipfs", help="IPFS node API multiaddr or URL (default: the embedded store)."
        ),
    ] = None,
    market: Annotated[
        str, typer.Option("--market", help="Use this deployed market instead of deploying one.")
    ] = None,
    keystore: Annotated[
        Path, typer.Option("--keystore", help="Encrypted key file that funds the parties on --rpc.")
    ] = None,
    quality: Annotated[
        str,
        typer.Option(
            "--quality", help="Assessor configuration: default or tiny (seconds, for tests)."
        ),
    ] = "default",
    family: Annotated[
        str, typer.Option("--family", help="Corruption family of the providers' datasets.")
    ] = "mislabel",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    state_dir: Annotated[
        Path,
        typer.Option(
            "--state-dir",
            help="Keep the parties' state here (default: a private temporary folder, removed at the end).",
        ),
    ] = None,
    confirmations: Annotated[
        int,
        typer.Option(
            "--confirmations",
            min=0,
            help="Blocks an event must be under before a party acts on it.",
        ),
    ] = 0,
    real_time: Annotated[
        bool,
        typer.Option(
            "--real-time", help="Wait for deadlines instead of moving a development chain's clock."
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of progress and tables.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log every transaction the parties send.")
    ] = False,
) -> None:
    """One collector and N providers, the whole protocol from deployment to the payouts,
    through the review, the claim and its complaint window."""
    log_transactions(verbose)
    private_process()
    options = RunOptions(
        providers=providers,
        shards=shards,
        rpc=rpc,
        ipfs=ipfs,
        market=market,
        keystore=keystore,
        quality=quality,
        family=family,
        seed=seed,
        state_dir=state_dir,
        confirmations=confirmations,
        fast_forward=not real_time,
    )
    started = time.monotonic()

    def progress(phase: str, message: str) -> None:
        if not as_json:
            console.print(
                f"[dim]{time.monotonic() - started:6.1f}s[/] [bold cyan]{phase:<12}[/] {message}",
                highlight=False,
            )

    with reported(*USER_ERRORS):
        report = run_session(options, progress)
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
        return
    table = Table(
        title=f"Session {report.sid} on market {report.market[:10]}…: {report.state}",
        box=box.SIMPLE_HEAD,
    )
    for column, justify, wrap in (
        ("party", "left", False),
        ("corruption", "left", True),
        ("score", "right", False),
        ("rank", "right", False),
        ("gas", "right", False),
        ("Δ ETH", "right", False),
        ("note", "left", True),
    ):
        table.add_column(column, justify=justify, no_wrap=not wrap)
    for name, row in report.providers.items():
        notes = [
            note
            for note, on in (
                ("chosen", name == report.optimal_provider),
                ("truly best", name == report.true_best),
                ("deposit forfeited", row["payout"] is None),
            )
            if on
        ]
        notes += [
            text
            for text in (row["rejected"], row["passed_over"], row["review"])
            if text and text != "accepted"
        ]
        table.add_row(
            name,
            row["corruption"],
            "" if row["score"] is None else f"{row['score']:.3f}",
            str(row["rank"] or ""),
            f"{row['gas']:,}",
            ether(row["balance_delta"]),
            ", ".join(notes),
        )
    c = report.collector
    refund = [] if c["refund"] is None else [f"refund {c['refund'] / 10**18:.4f} ETH"]
    table.add_row(
        "collector", "", "", "", f"{c['gas']:,}", ether(c["balance_delta"]), ", ".join(refund)
    )
    console.print(table)
    console.print(
        f"chosen: [bold]{report.optimal_provider or 'none'}[/]; truly best: [bold]{report.true_best}[/]; dataset received: {c['dataset'] or 'none'}"
    )
    console.print(
        "seconds: " + ", ".join(f"{phase} {value:.1f}" for phase, value in report.seconds.items())
    )


# One party alone, against a real deployment (README, "A real chain and a real IPFS node")

Rpc = Annotated[str, typer.Option("--rpc", help="JSON-RPC URL of the chain.")]
Ipfs = Annotated[str, typer.Option("--ipfs", help="IPFS node API multiaddr or URL.")]
StoreDir = Annotated[
    Path,
    typer.Option("--store-dir", help="Use an embedded store in this folder instead of --ipfs."),
]
MarketAddress = Annotated[
    str, typer.Option("--market", help="Address of the deployed market (or --deployment).")
]
DeploymentFile = Annotated[
    Path,
    typer.Option(
        "--deployment",
        help="The file `hyperx contract deploy --out` wrote: market, chain and first block.",
    ),
]
FromBlock = Annotated[
    int,
    typer.Option(
        "--from-block",
        min=0,
        help="Read the market's events from this block (default: its deployment block).",
    ),
]
Keystore = Annotated[
    Path,
    typer.Option("--keystore", help="Encrypted key file (else HYPERX_PRIVATE_KEY is the key)."),
]
StateDir = Annotated[
    Path,
    typer.Option(
        "--state-dir",
        help="This party's private folder (0700): SQLite state, secrets encrypted; resumes from it.",
    ),
]
Confirmations = Annotated[
    int,
    typer.Option(
        "--confirmations", min=0, help="Blocks an event must be under before acting on it."
    ),
]
FinalityTag = Annotated[
    str,
    typer.Option(
        "--finality",
        help="What makes a block final before the party exits: the node's 'finalized' or"
        " 'safe' block, or 'depth' (--confirmations alone).",
    ),
]
Dev = Annotated[
    bool,
    typer.Option(
        "--dev",
        help="Development chain only (anvil, hardhat): mine the blocks finality needs; the"
        " collector also moves the clock to its deadlines once the chain is quiet.",
    ),
]
DevQuiet = Annotated[
    float,
    typer.Option(
        "--dev-quiet-s",
        min=0,
        help="With --dev: seconds without a transaction that count as quiet.",
    ),
]
WaitSeconds = Annotated[
    float,
    typer.Option("--wait-s", min=0, help="Wait up to this long for the nodes to answer at start."),
]
Quality = Annotated[str, typer.Option("--quality", help="Assessor configuration: default or tiny.")]
PollSeconds = Annotated[
    float, typer.Option("--poll-s", min=0.01, help="Seconds between looks at the chain when idle.")
]
TimeoutSeconds = Annotated[
    float, typer.Option("--timeout-s", min=1, help="Give up after this many seconds.")
]


@dataclass
class Connection:
    """What a daemon runs on: the chain and market, its key, the datastore, the dev clock."""

    rpc: str
    ledger: object
    account: object
    store: object
    start_block: int
    dev: object  # DevClock | None


def finality_of(confirmations: int, tag: str):
    from hyperx.impl.clients.finality import TAGS, Finality

    if tag not in (*TAGS, "depth"):
        raise BadInput(f"--finality must be one of {', '.join(TAGS)} or depth, got {tag!r}")
    return Finality(confirmations, None if tag == "depth" else tag)


def connect_party(
    rpc: str,
    market: str | None,
    deployment: Path | None,
    from_block: int | None,
    ipfs: str | None,
    store_dir: Path | None,
    keystore: Path | None,
    dev: bool,
    dev_quiet_s: float,
    wait_s: float,
) -> Connection:
    """Check everything a daemon was given, then connect; BadInput for what is wrong."""
    from hyperx.impl.chain.connection import connect_rpc, load_signer
    from hyperx.impl.chain.deployment import open_market
    from hyperx.impl.clients.daemon import log
    from hyperx.impl.clients.devchain import DevClock, dev_client, require_dev_chain
    from hyperx.impl.clients.ledger import Account
    from hyperx.impl.clients.session import open_store
    from hyperx.impl.clients.web3_ledger import Web3Ledger

    check_market_options(rpc, market, deployment, ipfs, store_dir)
    signer = load_signer(keystore)
    chain = connect_rpc(rpc, signer, wait_s=wait_s)
    opened = open_market(chain, market, deployment, from_block, need_start=True)
    ledger = Web3Ledger(opened.market)
    if dev:
        require_dev_chain(ledger)
    elif dev_client(ledger) and ledger.mines_on_demand():
        log.warning(
            "the node mines a block only when a transaction arrives: without --dev this party"
            " waits for blocks that others mine, and for deadlines in real time"
        )
    store = open_store(ipfs, store_dir, wait_s)
    return Connection(
        rpc,
        ledger,
        Account.from_key(signer.key),
        store,
        opened.start_block,
        DevClock(ledger, dev_quiet_s) if dev else None,
    )


def check_market_options(rpc, market, deployment, ipfs=None, store_dir=None, store=True) -> None:
    """What can be checked before any node is asked: the form of each option."""
    from hyperx.impl.chain.connection import check_address, check_rpc_url
    from hyperx.impl.chain.deployment import Deployment
    from hyperx.impl.datastore.ipfs import parse_api_address

    check_rpc_url(rpc)
    if (market is None) == (deployment is None):
        raise BadInput("give exactly one of --market ADDRESS or --deployment FILE")
    if market is not None:
        check_address(market, "--market")
    else:
        Deployment.read(deployment)
    if not store:
        return
    if (ipfs is None) == (store_dir is None):
        raise BadInput(
            "give exactly one of --ipfs (an IPFS node) or --store-dir (an embedded store)"
        )
    if ipfs is not None:
        try:
            parse_api_address(ipfs)
        except DatastoreError as error:
            raise BadInput(f"--ipfs: {error}") from None


def open_state(state_dir: Path, name: str, connection: Connection, from_block: int | None):
    """The party's state store, new (following from the market's first block) or resumed."""
    from hyperx.impl.clients.daemon import log
    from hyperx.impl.clients.state import StateStore

    state = StateStore(state_dir / name, connection.account.private_key)
    if state.cursor() < 0:
        state.set_cursor(connection.start_block - 1)
    elif from_block is not None:
        log.warning(
            "resuming %s from block %d: --from-block applies to a new --state-dir only",
            state_dir,
            state.cursor() + 1,
        )
    return state


def run_alone(party, connection: Connection, state_dir: Path, poll_s: float, timeout_s: float):
    """Step one party until it has settled; a node that fails mid-run ends it with exit 1."""
    from hyperx.impl.chain.connection import NODE_UNREACHABLE, transport_reason
    from hyperx.impl.clients.daemon import log
    from hyperx.impl.clients.session import Loop

    loop = Loop(connection.ledger, [party], connection.dev, alone=True, poll_s=poll_s)
    try:
        loop.run(timeout_s)
    except NODE_UNREACHABLE as error:
        raise ChainError(
            f"the node at {connection.rpc} failed ({transport_reason(error)}); the state in"
            f" {state_dir} is kept: start the same command again to resume"
        ) from None
    log.info(
        "%s %s: settled: everything it acted on is final (final block %d)",
        party.role,
        party.address[:10],
        party.final_block,
    )


def private_process() -> None:
    """Everything this process creates from here on is its owner's alone (0700/0600)."""
    os.umask(0o077)


@collector_app.command("start")
def collector_start(
    rpc: Rpc,
    state_dir: StateDir,
    market: MarketAddress = None,
    deployment: DeploymentFile = None,
    from_block: FromBlock = None,
    ipfs: Ipfs = None,
    store_dir: StoreDir = None,
    keystore: Keystore = None,
    reward_wei: Annotated[
        int, typer.Option("--reward-wei", min=1, help="cf_reward, escrowed now.")
    ] = 10**18,
    deposit_wei: Annotated[
        int, typer.Option("--deposit-wei", min=0, help="cf_deposit of each provider.")
    ] = 10**16,
    pct_bps: Annotated[
        int,
        typer.Option(
            "--pct-bps",
            min=1,
            max=10_000,
            help="CF_% in basis points: the share of shards sampled.",
        ),
    ] = 2_500,
    shards: Annotated[int, typer.Option("--shards", min=1, help="cf_shards.")] = 20,
    evaluation_s: Annotated[
        int,
        typer.Option(
            "--evaluation-s",
            min=1,
            help="Seconds from now to cf_evaluation_deadline (at least 360: the market's"
            " 300 s minimum period and time for the creation to be mined).",
        ),
    ] = 3_600,
    review_s: Annotated[
        int,
        typer.Option(
            "--review-s",
            min=1,
            help="cf_review_s (at least 300): each answer in selection and review, and the"
            " complaint window after the claim.",
        ),
    ] = 3_600,
    claim_s: Annotated[
        int, typer.Option("--claim-s", min=1, help="cf_claim_s (at least 300).")
    ] = 3_600,
    validation: Annotated[
        Path,
        typer.Option(
            "--validation",
            help="The collector's own validation set (.npz of x, y; e.g. from `hyperx-eval"
            " dataset --validation-out`). Default: the digits task's held-out split.",
        ),
    ] = None,
    quality: Quality = "default",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    confirmations: Confirmations = 1,
    finality: FinalityTag = "finalized",
    dev: Dev = False,
    dev_quiet_s: DevQuiet = 10.0,
    wait_s: WaitSeconds = 0.0,
    poll_s: PollSeconds = 1.0,
    timeout_s: TimeoutSeconds = 86_400.0,
) -> None:
    """Publish the extractor, open a session, and follow it to the end (resumes from --state-dir).

    Prints one JSON summary on stdout when the session is over and final.
    """
    import dataclasses

    from hyperx.impl.clients.collector import CollectorClient, Terms
    from hyperx.impl.clients.inputs import load_validation
    from hyperx.impl.clients.session import load_task, prepare_assessor, quality_config

    log_transactions(True, timestamps=True)
    private_process()
    with reported(*USER_ERRORS):
        follow = finality_of(confirmations, finality)
        terms = Terms(reward_wei, deposit_wei, pct_bps, shards, evaluation_s, review_s, claim_s)
        terms.check()
        config = quality_config(quality)
        task = load_task(config, seed)
        own_validation = None if validation is None else load_validation(validation, task)
        connection = connect_party(
            rpc, market, deployment, from_block, ipfs, store_dir, keystore, dev, dev_quiet_s, wait_s
        )
        state = open_state(state_dir, "collector.sqlite", connection, from_block)
        assessor = prepare_assessor(config, task, seed)
        if own_validation is not None:
            assessor = dataclasses.replace(assessor, validation=own_validation)
        collector = CollectorClient(
            connection.ledger,
            connection.account,
            state,
            connection.store,
            assessor,
            finality=follow,
        )
        collector.start_session(terms)
        check_terms(collector)
        run_alone(collector, connection, state_dir, poll_s, timeout_s)
    facts = collector.facts()
    summary = {
        "sid": collector.session(),
        "address": collector.address,
        "optimal": facts.get("optimal"),
        "ranking": collector.ranking(),
        "dataset": facts.get("dataset"),
        "refund": facts.get("refund"),
    }
    print(json.dumps(summary))


def check_terms(collector) -> None:
    """The market's own verdict on the terms, before anything is sent: BadInput if it refuses."""
    intent = collector.state.intent("create_session")
    if intent is None or intent.status != "new" or intent.hashes:
        return
    reason = collector.chain.simulate(
        collector.account, intent.interface, intent.args, intent.value
    )
    if reason is not None:
        raise BadInput(f"the market refuses these session terms: {reason}")


@collector_app.command("export")
def collector_export(
    state_dir: StateDir,
    out: Annotated[Path, typer.Option("--out", help="Where to write the dataset (.npz of x, y).")],
    keystore: Keystore = None,
) -> None:
    """Write the dataset the collector bought, decrypted, to --out (created 0600)."""
    import numpy as np

    from hyperx.impl.chain.connection import load_signer
    from hyperx.impl.clients.artifacts import decode_shard
    from hyperx.impl.clients.collector import dataset_file
    from hyperx.impl.clients.state import StateStore, private_umask

    with reported(*USER_ERRORS):
        if out.suffix != ".npz":
            raise BadInput(f"--out must name an .npz file, got {out}")
        path = state_dir / "collector.sqlite"
        if not path.is_file():
            raise BadInput(f"--state-dir {state_dir} holds no collector state")
        signer = load_signer(keystore)
        state = StateStore(path, bytes(signer.key))
        sid = state.get("collector", "sid")
        sealed = dataset_file(sid) if sid is not None else None
        if sealed is None or not (state_dir / sealed).is_file():
            raise BadInput(f"the collector in {state_dir} has not received a dataset")
        x, y = decode_shard(state.read_secret_file(sealed), f"the dataset of session {sid}")
        try:
            with private_umask(), out.open("wb") as stream:
                np.savez_compressed(stream, x=x, y=y)
        except OSError as error:
            raise BadInput(f"cannot write --out {out}: {error.strerror}") from None
    print(json.dumps({"sid": sid, "out": str(out), "entries": len(x)}))


@provider_app.command("join")
def provider_join(
    rpc: Rpc,
    state_dir: StateDir,
    market: MarketAddress = None,
    deployment: DeploymentFile = None,
    from_block: FromBlock = None,
    ipfs: Ipfs = None,
    store_dir: StoreDir = None,
    keystore: Keystore = None,
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="The dataset: an .npz of x, y (e.g. from `hyperx-eval dataset --out`), an"
            " MNIST idx folder or a folder per class.",
        ),
    ] = None,
    synthetic: Annotated[
        str,
        typer.Option(
            "--synthetic",
            help="Instead of --data: the digits task's pool corrupted as FAMILY:LEVEL (mislabel:0 is the original).",
        ),
    ] = None,
    session: Annotated[
        int,
        typer.Option(
            "--session",
            min=0,
            help="Join this session id (default: the first one the policy accepts).",
        ),
    ] = None,
    min_review_s: Annotated[
        int, typer.Option("--min-review-s", min=0, help="Join policy: least cf_review_s.")
    ] = 600,
    min_claim_s: Annotated[
        int, typer.Option("--min-claim-s", min=0, help="Join policy: least cf_claim_s.")
    ] = 600,
    min_evaluation_s: Annotated[
        int,
        typer.Option(
            "--min-evaluation-s",
            min=0,
            help="Join policy: least time left before cf_evaluation_deadline.",
        ),
    ] = 120,
    max_deposit_bps: Annotated[
        int,
        typer.Option(
            "--max-deposit-bps",
            min=0,
            help="Join policy: most cf_deposit, in basis points of cf_reward.",
        ),
    ] = 1_000,
    min_reward_wei: Annotated[
        int, typer.Option("--min-reward-wei", min=0, help="Join policy: least cf_reward.")
    ] = 0,
    quality: Quality = "default",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    confirmations: Confirmations = 1,
    finality: FinalityTag = "finalized",
    dev: Dev = False,
    wait_s: WaitSeconds = 0.0,
    poll_s: PollSeconds = 1.0,
    timeout_s: TimeoutSeconds = 86_400.0,
) -> None:
    """Join a session with a dataset and follow it until it has paid out (resumes from --state-dir).

    Prints one JSON summary on stdout once the payout (the deposit, plus the reward
    for the optimal provider) is in and final.
    """
    from hyperx.impl.clients.inputs import load_dataset, parse_synthetic
    from hyperx.impl.clients.policy import JoinPolicy
    from hyperx.impl.clients.provider import ProviderClient
    from hyperx.impl.clients.session import (
        ProviderSpec,
        load_task,
        provider_dataset,
        quality_config,
    )

    log_transactions(True, timestamps=True)
    private_process()
    with reported(*USER_ERRORS):
        follow = finality_of(confirmations, finality)
        if (data is None) == (synthetic is None):
            raise BadInput("give exactly one of --data PATH or --synthetic FAMILY:LEVEL")
        if data is not None:
            dataset = load_dataset(data, "--data")
        else:
            family, level = parse_synthetic(synthetic)
            config = quality_config(quality)
            dataset = provider_dataset(
                load_task(config, seed), ProviderSpec(family, level), config, seed
            )
        policy = JoinPolicy(
            min_review_s, min_claim_s, min_evaluation_s, max_deposit_bps, min_reward_wei
        )
        connection = connect_party(
            rpc, market, deployment, from_block, ipfs, store_dir, keystore, dev, 0.0, wait_s
        )
        provider = ProviderClient(
            connection.ledger,
            connection.account,
            open_state(state_dir, "provider.sqlite", connection, from_block),
            connection.store,
            dataset,
            session_id=session,
            finality=follow,
            policy=policy,
        )
        run_alone(provider, connection, state_dir, poll_s, timeout_s)
    facts = provider.facts()
    print(
        json.dumps(
            {
                "sid": provider.session(),
                "address": provider.address,
                "payout": facts.get("payout"),
            }
        )
    )


# The market as its events tell it


@market_app.command("status")
def market_status(
    rpc: Rpc,
    market: MarketAddress = None,
    deployment: DeploymentFile = None,
    from_block: FromBlock = None,
    session: Annotated[int, typer.Option("--session", min=0, help="Only this session.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep the view live (Ctrl-C stops it).")
    ] = False,
    interval_s: Annotated[
        float, typer.Option("--interval-s", min=0.1, help="With --watch: seconds between looks.")
    ] = 2.0,
    wait_s: WaitSeconds = 0.0,
) -> None:
    """The market's sessions, their state and deadlines, each provider's stage, deposits
    and payouts, read from the chain's events."""
    from hyperx.impl.chain.connection import NODE_UNREACHABLE, connect_rpc, transport_reason
    from hyperx.impl.chain.deployment import open_market
    from hyperx.impl.clients.market_view import MarketView, render_table
    from hyperx.impl.clients.web3_ledger import Web3Ledger

    with reported(*USER_ERRORS):
        check_market_options(rpc, market, deployment, store=False)
        chain = connect_rpc(rpc, wait_s=wait_s)
        opened = open_market(chain, market, deployment, from_block, need_start=True)
        view = MarketView(Web3Ledger(opened.market), opened.start_block)
        output = console if console.is_terminal else Console(width=200)  # no wrapped rows
        try:
            view.update()
            if session is not None and session not in view.sessions:
                raise BadInput(f"--session {session}: the market has no such session")
            if not watch:
                snapshot = view.to_json(session)
                if as_json:
                    print(json.dumps(snapshot, indent=2))
                else:
                    output.print(render_table(snapshot))
                return
            watch_market(view, session, as_json, interval_s, output)
        except NODE_UNREACHABLE as error:
            raise ChainError(f"the node at {rpc} failed ({transport_reason(error)})") from None


def watch_market(view, session: int | None, as_json: bool, interval_s: float, output) -> None:
    """Refresh the view every `interval_s` until Ctrl-C: a live table on a terminal, else
    a line of JSON (or a table) each time something changed."""
    from rich.live import Live

    from hyperx.impl.clients.market_view import render_table

    previous = None
    try:
        if output.is_terminal and not as_json:
            with Live(render_table(view.to_json(session)), console=output) as live:
                while True:
                    time.sleep(interval_s)
                    view.update()
                    live.update(render_table(view.to_json(session)))
        while True:
            snapshot = view.to_json(session)
            changed = {k: v for k, v in snapshot.items() if k not in ("block", "time")}
            if changed != previous:
                if as_json:
                    print(json.dumps(snapshot), flush=True)
                else:
                    output.print(render_table(snapshot))
                previous = changed
            time.sleep(interval_s)
            view.update()
    except KeyboardInterrupt:
        return
