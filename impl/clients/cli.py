"""`hyperx session run`, `hyperx collector start`, `hyperx provider join`.

Each command turns a user error into one red line and exit code 2; a session that
could not finish exits with 1.
"""

import json
import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from hyperx.impl.chain.connection import ChainError
from hyperx.impl.clients.artifacts import ArtifactError
from hyperx.impl.clients.daemon import PartyError
from hyperx.impl.clients.session import RunOptions, SessionError, run_session
from hyperx.impl.crypto import CryptoError
from hyperx.impl.datastore import DatastoreError
from hyperx.impl.quality.errors import QualityError

USER_ERRORS = (
    ChainError,
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

console = Console()
errors = Console(stderr=True)


def log_transactions(on: bool) -> None:
    """The parties' transactions on stderr, one line each; other libraries stay quiet."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("hyperx.clients").setLevel(logging.INFO if on else logging.WARNING)


def fail(message: str, code: int = 2) -> None:
    errors.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


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
            "--state-dir", help="Where the parties keep their SQLite state and the embedded store."
        ),
    ] = None,
    confirmations: Annotated[
        int,
        typer.Option(
            "--confirmations", help="Blocks an event must be under before a party acts on it."
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
    """One collector and N providers, the whole protocol from deployment to deposits returned."""
    log_transactions(verbose)
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

    try:
        report = run_session(options, progress)
    except USER_ERRORS as error:
        fail(str(error), 1 if isinstance(error, SessionError) else 2)
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
                ("deposit kept", not row["deposit_returned"]),
            )
            if on
        ]
        if row["review"] and row["review"] != "accepted":
            notes.append(row["review"])
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
    table.add_row("collector", "", "", "", f"{c['gas']:,}", ether(c["balance_delta"]), "")
    console.print(table)
    console.print(
        f"chosen: [bold]{report.optimal_provider or 'none'}[/]; truly best: [bold]{report.true_best}[/]; dataset received: {c['dataset'] or 'none'}"
    )
    console.print(
        "seconds: " + ", ".join(f"{phase} {value:.1f}" for phase, value in report.seconds.items())
    )


# One party alone, against a real deployment

Rpc = Annotated[str, typer.Option("--rpc", help="JSON-RPC URL of the chain.")]
Ipfs = Annotated[str, typer.Option("--ipfs", help="IPFS node API multiaddr or URL.")]
StoreDir = Annotated[
    Path,
    typer.Option("--store-dir", help="Use an embedded store in this folder instead of --ipfs."),
]
MarketAddress = Annotated[str, typer.Option("--market", help="Address of the deployed market.")]
Keystore = Annotated[
    Path,
    typer.Option("--keystore", help="Encrypted key file (else HYPERX_PRIVATE_KEY is the key)."),
]
StateDir = Annotated[
    Path,
    typer.Option("--state-dir", help="Where this party keeps its SQLite state (resumes from it)."),
]
Confirmations = Annotated[
    int, typer.Option("--confirmations", help="Blocks an event must be under before acting on it.")
]
Quality = Annotated[str, typer.Option("--quality", help="Assessor configuration: default or tiny.")]
PollSeconds = Annotated[
    float, typer.Option("--poll-s", help="Seconds between looks at the chain when idle.")
]
TimeoutSeconds = Annotated[
    float, typer.Option("--timeout-s", help="Give up after this many seconds.")
]


def connect_party(
    rpc: str, ipfs: str | None, store_dir: Path | None, market: str, keystore: Path | None
):
    from hyperx.impl.chain.connection import connect_rpc, load_signer
    from hyperx.impl.chain.market import Market
    from hyperx.impl.clients.ledger import Account
    from hyperx.impl.clients.session import open_store
    from hyperx.impl.clients.web3_ledger import Web3Ledger

    if (ipfs is None) == (store_dir is None):
        raise SessionError(
            "give exactly one of --ipfs (an IPFS node) or --store-dir (an embedded store)"
        )
    signer = load_signer(keystore)
    chain = connect_rpc(rpc, signer)
    if not chain.w3.eth.get_code(chain.w3.to_checksum_address(market)):
        raise SessionError(f"no contract at --market {market} on the chain at {rpc}")
    return (
        Web3Ledger(Market(chain, market)),
        Account.from_key(signer.key),
        open_store(ipfs, store_dir),
    )


def run_alone(party, ledger, poll_s: float, timeout_s: float) -> None:
    from hyperx.impl.clients.session import Loop

    Loop(ledger, [party], fast_forward=False, poll_s=poll_s).run(timeout_s)


@collector_app.command("start")
def collector_start(
    rpc: Rpc,
    market: MarketAddress,
    state_dir: StateDir,
    ipfs: Ipfs = None,
    store_dir: StoreDir = None,
    keystore: Keystore = None,
    reward_wei: Annotated[int, typer.Option("--reward-wei", help="cf_reward, escrowed now.")] = 10
    ** 18,
    deposit_wei: Annotated[
        int, typer.Option("--deposit-wei", help="cf_deposit of each provider.")
    ] = 10**16,
    pct_bps: Annotated[int, typer.Option("--pct-bps", help="CF_%% in basis points.")] = 2_500,
    shards: Annotated[int, typer.Option("--shards", help="cf_shards.")] = 20,
    evaluation_s: Annotated[
        int, typer.Option("--evaluation-s", help="Seconds from now to cf_evaluation_deadline.")
    ] = 3_600,
    review_s: Annotated[int, typer.Option("--review-s", help="cf_review_s.")] = 3_600,
    claim_s: Annotated[int, typer.Option("--claim-s", help="cf_claim_s.")] = 3_600,
    quality: Quality = "default",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    confirmations: Confirmations = 1,
    poll_s: PollSeconds = 1.0,
    timeout_s: TimeoutSeconds = 86_400.0,
) -> None:
    """Publish the extractor, open a session, and follow it to the end (resumes from --state-dir)."""
    from hyperx.impl.clients.collector import CollectorClient, Terms
    from hyperx.impl.clients.session import load_task, prepare_assessor, quality_config
    from hyperx.impl.clients.state import StateStore

    log_transactions(True)
    try:
        ledger, account, store = connect_party(rpc, ipfs, store_dir, market, keystore)
        config = quality_config(quality)
        assessor = prepare_assessor(config, load_task(config, seed), seed)
        collector = CollectorClient(
            ledger,
            account,
            StateStore(state_dir / "collector.sqlite"),
            store,
            assessor,
            confirmations=confirmations,
        )
        collector.start_session(
            Terms(reward_wei, deposit_wei, pct_bps, shards, evaluation_s, review_s, claim_s)
        )
        run_alone(collector, ledger, poll_s, timeout_s)
    except USER_ERRORS as error:
        fail(str(error), 1 if isinstance(error, SessionError) else 2)
    facts = collector.facts()
    summary = {
        "sid": collector.session(),
        "optimal": facts.get("optimal"),
        "ranking": collector.ranking(),
        "dataset": facts.get("dataset"),
        "refund": facts.get("refund"),
    }
    print(json.dumps(summary))


@provider_app.command("join")
def provider_join(
    rpc: Rpc,
    market: MarketAddress,
    state_dir: StateDir,
    ipfs: Ipfs = None,
    store_dir: StoreDir = None,
    keystore: Keystore = None,
    data: Annotated[
        Path,
        typer.Option(
            "--data", help="The dataset: an .npz (x, y), an MNIST idx folder or a class folder."
        ),
    ] = None,
    synthetic: Annotated[
        str,
        typer.Option(
            "--synthetic",
            help="Instead of --data: the digits task's pool corrupted as FAMILY:LEVEL.",
        ),
    ] = None,
    session: Annotated[
        int,
        typer.Option("--session", help="Join this session id (default: the first one that fits)."),
    ] = None,
    quality: Quality = "default",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    confirmations: Confirmations = 1,
    poll_s: PollSeconds = 1.0,
    timeout_s: TimeoutSeconds = 86_400.0,
) -> None:
    """Join a session with a dataset and follow it until the deposit is back (resumes from --state-dir)."""
    from hyperx.impl.clients.provider import ProviderClient
    from hyperx.impl.clients.session import (
        ProviderSpec,
        load_task,
        provider_dataset,
        quality_config,
    )
    from hyperx.impl.clients.state import StateStore
    from hyperx.impl.quality.data import load_images

    log_transactions(True)
    try:
        if (data is None) == (synthetic is None):
            raise SessionError("give exactly one of --data PATH or --synthetic FAMILY:LEVEL")
        if data is not None:
            dataset = load_images(data)
        else:
            family, _, level = synthetic.partition(":")
            if not level.isdigit():
                raise SessionError(
                    f"--synthetic must be FAMILY:LEVEL like mislabel:3, got {synthetic!r}"
                )
            config = quality_config(quality)
            dataset = provider_dataset(
                load_task(config, seed), ProviderSpec(family, int(level)), config, seed
            )
        ledger, account, store = connect_party(rpc, ipfs, store_dir, market, keystore)
        provider = ProviderClient(
            ledger,
            account,
            StateStore(state_dir / "provider.sqlite"),
            store,
            dataset,
            session_id=session,
            confirmations=confirmations,
        )
        run_alone(provider, ledger, poll_s, timeout_s)
    except USER_ERRORS as error:
        fail(str(error), 1 if isinstance(error, SessionError) else 2)
    facts = provider.facts()
    print(
        json.dumps(
            {
                "sid": provider.session(),
                "deposit_returned": facts.get("deposit_returned"),
                "address": provider.address,
            }
        )
    )
