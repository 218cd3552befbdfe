"""Typer commands of the chain layer, mounted by `hyperx/cli.py`:
`contract_app` as `hyperx contract {compile,deploy}` and `bench_gas` as
`hyperx bench gas`. Errors a user can cause end in one line and the exit code of
`hyperx.impl.errors`: 2 for bad input, 1 for a failure while running."""

import json
from pathlib import Path
from typing import Annotated

import typer

from hyperx.impl.errors import BadInput, reported

from .connection import (
    NODE_UNREACHABLE,
    ChainError,
    Reverted,
    connect_embedded,
    connect_rpc,
    load_signer,
    transport_reason,
)

contract_app = typer.Typer(
    help="Compile and deploy the HyperX market contract.", no_args_is_help=True
)
CHAIN_ERRORS = (BadInput, ChainError, Reverted)


@contract_app.command("compile")
def compile_command(
    out: Annotated[Path, typer.Option(help="Folder for the JSON artifact.")] = Path(
        "build/contracts"
    ),
) -> None:
    """Write the market's ABI, bytecode and natspec (userdoc/devdoc) as JSON."""
    from .compile import write_artifacts

    with reported(BadInput):
        try:
            paths = write_artifacts(out)
        except OSError as error:
            raise BadInput(f"cannot write to --out {out}: {error.strerror}") from None
    for path in paths:
        typer.echo(str(path))


@contract_app.command("deploy")
def deploy_command(
    rpc: Annotated[
        str | None, typer.Option(help="JSON-RPC URL; the embedded EVM if absent.")
    ] = None,
    keystore: Annotated[
        Path | None, typer.Option(help="Encrypted keystore of the deployer.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="With --rpc: the deployment file to write (address, chain id, block, ABI hash),"
            " which the parties take as --deployment. Default: deployment.json."
        ),
    ] = None,
    wait_s: Annotated[
        float,
        typer.Option("--wait-s", min=0, help="Wait up to this long for the node to answer."),
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Deploy the market; with --rpc, sign locally with HYPERX_PRIVATE_KEY or --keystore."""
    from .deployment import Deployment, abi_hash
    from .market import Market

    with reported(*CHAIN_ERRORS):
        if rpc is None:
            if out is not None:
                raise BadInput(
                    "--out needs --rpc: a market on the embedded EVM ends with the command"
                )
            chain = connect_embedded()
            signer = chain.accounts[0]
        else:
            out = out or Path("deployment.json")
            if out.exists():
                raise BadInput(f"--out {out} exists already: choose another path, or remove it")
            signer = load_signer(keystore)
            chain = connect_rpc(rpc, signer, wait_s=wait_s)
        try:
            market, result = Market.deploy(chain, signer)
        except NODE_UNREACHABLE as error:
            raise ChainError(
                f"the node at {rpc} stopped answering ({transport_reason(error)})"
            ) from None
    report = {
        "address": market.address,
        "tx_hash": result.tx_hash,
        "gas_used": result.gas_used,
        "chain_id": chain.chain_id,
        "block": result.block_number,
    }
    if out is not None:
        deployment = Deployment(
            market.address,
            chain.chain_id,
            result.block_number,
            result.tx_hash,
            abi_hash(market.artifact.abi),
        )
        with reported(BadInput):
            try:
                deployment.write(out)
            except OSError as error:
                raise BadInput(
                    f"market deployed at {market.address} (block {result.block_number}), but"
                    f" --out {out} cannot be written: {error.strerror}"
                ) from None
        report["deployment"] = str(out)
    if as_json:
        typer.echo(json.dumps(report))
    else:
        typer.echo(
            f"market deployed at {report['address']} (tx {report['tx_hash']}, "
            f"{report['gas_used']:,} gas, chain {report['chain_id']}, block {report['block']})"
            + (f"; deployment file {out}" if out is not None else "")
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

    with reported(BadInput):
        try:
            counts = [int(part) for part in shards.split(",") if part.strip()]
        except ValueError:
            raise BadInput(f"--shards takes comma-separated integers, got {shards!r}") from None
        if not counts or any(not 10 <= n <= 65_536 for n in counts):
            raise BadInput(
                f"--shards values must lie in [10, 65536] (a 10% sample needs 10), got {shards!r}"
            )
        if plot is not None and not plot.parent.is_dir():
            raise BadInput(f"--plot {plot}: no folder {plot.parent}")
    report = run_gas_benchmark(counts)
    typer.echo(json.dumps(report, indent=2) if as_json else format_table(report))
    if plot is not None:
        plot_gas(report, plot)
