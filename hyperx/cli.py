"""The `hyperx` command: verify, contract, bench, session, collector, provider, market.

A thin entry point: each command group lives in the layer it drives and is imported
only when it runs, so `hyperx --help` does not load JAX or web3. A group whose
optional dependencies are not installed (e.g. `hyperx[chain]`) says which extra to
install instead of failing with a traceback.

`main` ends every failure the same way (`hyperx.impl.errors`): one `error:` line and
exit code 2 for bad input (a usage error included), 1 for a failure while running;
an unexpected exception is a bug, reported in one line too (HYPERX_TRACEBACK=1 shows
the traceback).
"""

import importlib
import os
import sys
from dataclasses import dataclass

import typer
from typer.core import TyperGroup
from typer.exceptions import Abort, TyperException

from hyperx.impl.errors import FAILURE_EXIT, write_error


@dataclass(frozen=True)
class Mount:
    module: str
    attribute: str
    extra: str
    help: str


COMMANDS = {
    "verify": Mount(
        "hyperx.verify.cli", "verify", "core", "Run the Z3 proofs and the refinement suite."
    ),
    "contract": Mount(
        "hyperx.impl.chain.cli", "contract_app", "chain", "Compile and deploy the trading contract."
    ),
    "session": Mount(
        "hyperx.impl.clients.cli", "session_app", "chain,eval", "Run a whole trading session."
    ),
    "collector": Mount(
        "hyperx.impl.clients.cli", "collector_app", "chain,eval", "Run the collector alone."
    ),
    "provider": Mount(
        "hyperx.impl.clients.cli", "provider_app", "chain,eval", "Run a provider alone."
    ),
    "market": Mount(
        "hyperx.impl.clients.cli", "market_app", "chain,eval", "Watch a deployed market."
    ),
}
BENCHMARKS = {
    "gas": Mount(
        "hyperx.impl.chain.cli",
        "bench_gas",
        "chain",
        "Gas per interface and party, beside the paper's Table 1.",
    ),
}


def _load(name: str, mount: Mount):
    try:
        target = getattr(importlib.import_module(mount.module), mount.attribute)
    except ModuleNotFoundError as error:
        if error.name and (mount.module + ".").startswith(error.name + "."):
            raise  # a layer of HyperX itself is missing: a broken install
        target = _missing(name, mount, error)
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name=name, help=mount.help)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


def _missing(name: str, mount: Mount, error: ImportError):
    def explain() -> None:
        write_error(
            f"`{name}` needs the optional dependencies hyperx[{mount.extra}] "
            f"(missing: {error.name}); install them with: pip install 'hyperx[{mount.extra}]'"
        )
        raise typer.Exit(FAILURE_EXIT)

    return explain


def _lazy_group(mounts: dict[str, Mount]) -> type[TyperGroup]:
    class LazyGroup(TyperGroup):
        def list_commands(self, ctx) -> list[str]:
            return [*super().list_commands(ctx), *mounts]

        def get_command(self, ctx, name: str):
            if name in mounts:
                return _load(name, mounts[name])
            return super().get_command(ctx, name)

        def format_commands(self, ctx, formatter) -> None:
            # help lines come from the table above, without importing any layer
            rows = []
            for name in super().list_commands(ctx):
                rows.append((name, super().get_command(ctx, name).get_short_help_str()))
            rows += [(name, mount.help) for name, mount in mounts.items()]
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    return LazyGroup


app = typer.Typer(
    name="hyperx",
    help="HyperX: a trust-free data marketplace for deep learning.",
    cls=_lazy_group(COMMANDS),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
bench_app = typer.Typer(
    help="Benchmarks that print measured figures.",
    cls=_lazy_group(BENCHMARKS),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(bench_app, name="bench")


def run(argv: list[str] | None = None) -> int:
    """Run one `hyperx` command line (default: this process's arguments); its exit code."""
    try:
        result = app(args=argv, prog_name="hyperx", standalone_mode=False)
    except TyperException as error:  # click's, as typer vendors it: usage errors first of all
        if type(error).__name__ == "NoArgsIsHelpError":  # a bare group: its help
            error.show()
            return error.exit_code
        context = getattr(error, "ctx", None)
        where = f" (see {context.command_path} --help)" if context is not None else ""
        write_error(error.format_message().rstrip(".") + where)
        return error.exit_code
    except Abort:
        write_error("aborted")
        return FAILURE_EXIT
    except KeyboardInterrupt:
        write_error("interrupted")
        return 130
    except SystemExit as leaving:  # a command that reported its own error line
        return leaving.code if isinstance(leaving.code, int) else FAILURE_EXIT
    except Exception as error:  # a bug: still one line; the traceback on request
        if os.environ.get("HYPERX_TRACEBACK"):
            raise
        write_error(
            f"internal error, {type(error).__name__}: {error} "
            "(a bug: HYPERX_TRACEBACK=1 shows where, please report it)"
        )
        return FAILURE_EXIT
    return result if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
