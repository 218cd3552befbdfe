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
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of progress and tables.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log every transaction the parties send.")
    ] = False,
) -> None:
    """One collector and N providers, the whole protocol from deployment to deposits returned."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
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
    table = Table(title=f"Session {report.sid} on market {report.market[:10]}…: {report.state}")
    for column, justify in (
        ("party", "left"),
        ("corruption", "left"),
        ("score", "right"),
        ("rank", "right"),
        ("gas", "right"),
        ("Δ ETH", "right"),
        ("deposit", "left"),
        ("note", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")
    for name, row in report.providers.items():
        notes = [
            note
            for note, on in (
                ("chosen", name == report.optimal_provider),
                ("truly best", name == report.true_best),
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
            "back" if row["deposit_returned"] else "kept",
            ", ".join(notes),
        )
    c = report.collector
    table.add_row("collector", "", "", "", f"{c['gas']:,}", ether(c["balance_delta"]), "", "")
    console.print(table)
    console.print(
        f"chosen: [bold]{report.optimal_provider or 'none'}[/]; truly best: [bold]{report.true_best}[/]; dataset received: {c['dataset'] or 'none'}"
    )
    console.print(
        "seconds: " + ", ".join(f"{phase} {value:.1f}" for phase, value in report.seconds.items())
    )
