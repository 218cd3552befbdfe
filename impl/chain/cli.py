"""Typer commands of the chain layer, mounted by `hyperx/cli.py`:
`contract_app` as `hyperx contract {compile,deploy}` and `bench_gas` as
`hyperx bench gas`. Errors a user can cause end in one line and exit code 1."""

import json
from pathlib import Path
from typing import Annotated

import typer

from .connection import ChainError, Reverted, connect_embedded, connect_rpc, load_signer

contract_app = typer.Typer(
    help="Compile and deploy the HyperX market contract.", no_args_is_help=True
)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contract_app.command("compile")
def compile_command(
    out: Annotated[Path, typer.Option(help="Folder for the JSON artifact.")] = Path(
        "build/contracts"
    ),
) -> None:
    """Write the market's ABI, bytecode and natspec (userdoc/devdoc) as JSON."""
    from .compile import write_artifacts

    for path in write_artifacts(out):
        typer.echo(str(path))


@contract_app.command("deploy")
def deploy_command(
    rpc: Annotated[
        str | None, typer.Option(help="JSON-RPC URL; the embedded EVM if absent.")
    ] = None,
    keystore: Annotated[
        Path | None, typer.Option(help="Encrypted keystore of the deployer.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Deploy the market; with --rpc, sign locally with HYPERX_PRIVATE_KEY or --keystore."""
    from .market import Market

    try:
        if rpc is None:
            chain = connect_embedded()
            signer = chain.accounts[0]
        else:
            signer = load_signer(keystore)
            chain = connect_rpc(rpc, signer)
        market, result = Market.deploy(chain, signer)
    except (ChainError, Reverted) as error:
        _fail(str(error))
    report = {
        "address": market.address,
        "tx_hash": result.tx_hash,
        "gas_used": result.gas_used,
        "chain_id": chain.chain_id,
    }
    if as_json:
        typer.echo(json.dumps(report))
    else:
        typer.echo(
            f"market deployed at {report['address']} (tx {report['tx_hash']}, "
            f"{report['gas_used']:,} gas, chain {report['chain_id']})"
        )


def bench_gas(
    shards: Annotated[
        str, typer.Option(help="Comma-separated shard counts.")
    ] = "10,100,1000,10000",
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write a Figure-5-style PNG here.")] = None,
) -> None:
    """Gas of a full session and of both disputes per shard count on the embedded EVM,
    beside the paper's Table 1."""
    from .gas import format_table, plot_gas, run_gas_benchmark

    try:
        counts = [int(part) for part in shards.split(",") if part.strip()]
    except ValueError:
        _fail(f"--shards takes comma-separated integers, got {shards!r}")
    if not counts or any(not 10 <= n <= 65_536 for n in counts):
        _fail(f"--shards values must lie in [10, 65536] (a 10% sample needs 10), got {shards!r}")
    report = run_gas_benchmark(counts)
    typer.echo(json.dumps(report, indent=2) if as_json else format_table(report))
    if plot is not None:
        plot_gas(report, plot)
