"""The `hyperx` command: verify, contract, bench, session, collector, provider.

A thin entry point: each command group lives in the layer it drives and is mounted
here. A group whose optional dependencies are not installed (e.g. `hyperx[chain]`)
is replaced by a command that says which extra to install.
"""

import importlib

import typer
from rich.console import Console

app = typer.Typer(
    name="hyperx",
    help="HyperX: a trust-free data marketplace for deep learning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks that print measured figures.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

# (command path, module, attribute, kind, extra that provides it, help)
MOUNTS = [
    (
        ("verify",),
        "hyperx.verify.cli",
        "verify",
        "command",
        "core",
        "Run the Z3 proofs and the refinement suite.",
    ),
    (
        ("contract",),
        "hyperx.impl.chain.cli",
        "contract_app",
        "group",
        "chain",
        "Compile and deploy the trading contract.",
    ),
    (
        ("bench", "gas"),
        "hyperx.impl.chain.cli",
        "bench_gas",
        "command",
        "chain",
        "Gas per interface and party.",
    ),
    (
        ("session",),
        "hyperx.impl.clients.cli",
        "session_app",
        "group",
        "chain,eval",
        "Run a whole trading session.",
    ),
    (
        ("collector",),
        "hyperx.impl.clients.cli",
        "collector_app",
        "group",
        "chain,eval",
        "Run the collector alone.",
    ),
    (
        ("provider",),
        "hyperx.impl.clients.cli",
        "provider_app",
        "group",
        "chain,eval",
        "Run a provider alone.",
    ),
]


def _missing(path: tuple[str, ...], extra: str, error: ImportError):
    def command() -> None:
        Console(stderr=True).print(
            f"[red]error:[/] `hyperx {' '.join(path)}` needs the optional dependencies "
            f"hyperx[{extra}] ({error.name or error}); install them with: pip install 'hyperx[{extra}]'"
        )
        raise typer.Exit(2)

    return command


def _mount() -> None:
    for path, module_name, attribute, kind, extra, help_text in MOUNTS:
        parent = bench_app if path[0] == "bench" else app
        name = path[-1]
        try:
            target = getattr(importlib.import_module(module_name), attribute)
        except ModuleNotFoundError as error:
            if error.name and (module_name + ".").startswith(error.name + "."):
                continue  # that layer is not part of this build
            parent.command(name=name, help=help_text)(_missing(path, extra, error))
            continue
        if kind == "group":
            parent.add_typer(target, name=name, help=help_text)
        else:
            parent.command(name=name, help=help_text)(target)


_mount()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
