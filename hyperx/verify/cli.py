"""`hyperx verify`: the proofs, the refinement suite and the mutants, with a progress
display on stderr and a table of results (or, with --json, one JSON object) on stdout.

Exit codes: 0 all proved and no refinement failure (and, with --mutants, the
control passed and every surviving mutant is a documented equivalent one); 1
something failed; 2 bad input (a one-line error on stderr). Without a terminal,
the progress display becomes one stderr line per finished step. Mounted by
`hyperx.cli` as `hyperx verify`; `python -m hyperx.verify.cli`
runs it alone.
"""

import json as json_lib
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hyperx.verify.runner import (
    PROFILE_ENV,
    MutantsReport,
    VerifyInputError,
    VerifyReport,
    check_options,
    get_profile,
    read_trace,
    run_verify,
    select_mutants,
)

PHASES = {"proofs": "Z3 proofs", "refinement": "refinement schedules", "mutants": "mutants"}
STATUS_STYLE = {"proved": "green", "failed": "bold red", "unknown": "yellow"}


def verify(
    profile: Annotated[
        str | None,
        typer.Option(
            help=f"quick (1,000 schedules) or thorough (100x more); default ${PROFILE_ENV}, else quick."
        ),
    ] = None,
    mutants: Annotated[
        bool,
        typer.Option("--mutants", help="Also run every mutant of Prot_SC and score the kills."),
    ] = False,
    sample: Annotated[
        int | None,
        typer.Option(metavar="N", help="With --mutants: run N of them, the same N every run."),
    ] = None,
    json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout, nothing else.")
    ] = False,
    replay: Annotated[
        Path | None,
        typer.Option(metavar="TRACE.json", help="Run one saved schedule instead of fresh ones."),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Run the refinement schedules of an earlier run again (every run prints its seed).",
        ),
    ] = None,
    economics: Annotated[
        bool,
        typer.Option(
            "--economics",
            help="Instead: play every party's strategies against honest others, on the spec "
            "and on the contract, and print the payoff table.",
        ),
    ] = False,
    rpc: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="With --economics: also replay every strategy on this node (a dev chain "
            "such as anvil: it funds the parties and sets block times).",
        ),
    ] = None,
) -> None:
    """Run the Z3 proofs and the refinement suite (and, with --mutants, the mutants)."""
    stderr = Console(stderr=True)
    if economics or rpc is not None:
        run_economics_command(economics, mutants or replay is not None, rpc, json, stderr)
        return
    try:
        chosen = get_profile(profile)
        check_options(mutants, replay, sample, seed)
        mutant_ids = select_mutants(sample) if mutants else None
        trace = read_trace(replay) if replay is not None else None
    except VerifyInputError as error:
        stderr.print(f"[red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    ) as progress_display:
        tasks = {}

        def on_progress(phase: str, done: int, total: int, note: str) -> None:
            if phase not in tasks:
                tasks[phase] = progress_display.add_task(PHASES[phase], total=total)
            description = f"{PHASES[phase]} {note}".strip()
            progress_display.update(
                tasks[phase], completed=done, total=total, description=description
            )
            if not stderr.is_terminal and done:  # no live display: a line per step
                stderr.print(f"{PHASES[phase]} {done}/{total} {note}".rstrip(), highlight=False)

        report = run_verify(
            chosen, mutants=mutant_ids, trace=trace, progress=on_progress, seed=seed
        )

    if report.refinement.failures and report.refinement.message:
        reason = report.refinement.message.strip().splitlines()[0]
        stderr.print(f"refinement failed: {escape(reason)}", highlight=False, soft_wrap=True)
    if report.failing_trace is not None:
        stderr.print(
            f"a failing schedule was saved to {report.failing_trace}; "
            f"run it again with: hyperx verify --replay {report.failing_trace}",
            highlight=False,
            soft_wrap=True,
        )
    if json:
        typer.echo(json_lib.dumps(report.to_json()))
    else:
        print_report(report, _stdout())
    if report.refinement.failures and trace is None:
        print_failure(report.refinement, stderr)
    if not report.ok:
        raise typer.Exit(1)


def print_failure(refinement, stderr: Console) -> None:
    """The failure and its shrunk schedule, last: a CI log that keeps only its tail
    still holds what `hyperx verify --replay` needs (the schedule as one JSON line)."""
    stderr.print(
        f"refinement failed:\n{escape(refinement.message or '').rstrip()}",
        highlight=False,
        soft_wrap=True,
    )
    if refinement.seed is not None:
        stderr.print(
            f"the run's seed: {refinement.seed} (--seed {refinement.seed})", highlight=False
        )
    if refinement.failing_trace is not None:
        stderr.print("the failing schedule (save it as a file for --replay):", highlight=False)
        stderr.print(
            escape(json_lib.dumps(refinement.failing_trace, separators=(",", ":"))),
            highlight=False,
            soft_wrap=True,
        )


def run_economics_command(
    economics: bool, other_mode: bool, rpc: str | None, json: bool, stderr: Console
) -> None:
    from hyperx.verify.economics import EngineError, get_engines, run_economics

    try:
        if not economics:
            raise VerifyInputError("--rpc replays the economics; add --economics")
        if other_mode:
            raise VerifyInputError("--economics runs alone; drop --mutants and --replay")
        engines = get_engines(rpc)
    except (VerifyInputError, EngineError) as error:
        stderr.print(f"[red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    report = run_economics(engines)
    if json:
        typer.echo(json_lib.dumps(report.to_json()))
    else:
        print_economics(report, _stdout())
    if not report.ok:
        raise typer.Exit(1)


def _stdout() -> Console:
    """The terminal's width on a terminal; 160 columns into a pipe or a file, so a
    saved table keeps one line per row."""
    return Console() if sys.stdout.isatty() else Console(width=160)


def print_economics(report, console: Console) -> None:
    from hyperx.verify.economics import ROLES

    table = Table(title="Payoffs: money and data at the session's price (wei), vs honest play")
    for column in ("strategy", "deviator", "engine", "outcome", *ROLES, "verdict"):
        table.add_column(column, justify="right" if column in ROLES else "left", overflow="fold")
    for outcome in report.outcomes:
        session = outcome.outcome[0][1][0] if outcome.outcome else "no session"
        verdict = (
            f"[bold red]{escape('; '.join(outcome.problems))}[/]"
            if outcome.problems
            else "[yellow]residual[/]"
            if outcome.residual
            else "[green]ok[/]"
        )
        cells = [f"{outcome.payoffs[role]:+,}" if outcome.payoffs[role] else "0" for role in ROLES]
        name = outcome.strategy.name + (
            f" (attack {outcome.strategy.attack})" if outcome.strategy.attack else ""
        )
        table.add_row(
            name, outcome.strategy.deviator or "-", outcome.engine, session, *cells, verdict
        )
    console.print(table)
    for disagreement in report.disagreements:
        console.print(f"[bold red]engines disagree:[/] {escape(disagreement)}")
    residuals = {o.strategy.name: o.residual for o in report.outcomes if o.residual}
    for name, residual in residuals.items():
        console.print(
            f"[yellow]residual[/] {name}: {escape(residual.reason)} (bound {residual.bound:,} wei)"
        )
    verdict = "[green]ok[/]" if report.ok else "[bold red]FAILED[/]"
    console.print(f"{verdict}: {len(report.outcomes)} runs")


def print_report(report: VerifyReport, console: Console) -> None:
    if report.proofs:
        proofs = Table(title="Z3 proofs")
        proofs.add_column("invariant")
        proofs.add_column("status")
        proofs.add_column("seconds", justify="right")
        for proof in report.proofs:
            style = STATUS_STYLE.get(proof.status, "")
            proofs.add_row(proof.name, f"[{style}]{proof.status}[/]", f"{proof.seconds:.2f}")
        console.print(proofs)

    refinement = report.refinement
    summary = Table(title=f"Refinement ({report.profile} profile)")
    for column in ("schedules", "steps", "failures", "seconds"):
        summary.add_column(column, justify="right")
    failures_style = "bold red" if refinement.failures else "green"
    summary.add_row(
        f"{refinement.schedules:,}",
        f"{refinement.steps:,}",
        f"[{failures_style}]{refinement.failures}[/]",
        f"{refinement.seconds:.1f}",
    )
    console.print(summary)
    if refinement.outcomes:
        ended = ", ".join(
            f"{name} {count:,}" for name, count in sorted(refinement.outcomes.items())
        )
        console.print(
            f"Sessions ended: {ended}; role sweep: {refinement.sweep_calls:,} calls",
            highlight=False,
        )
    if refinement.seed is not None:
        console.print(
            f"Seed {refinement.seed} (the same schedules again: "
            f"hyperx verify --profile {report.profile} --seed {refinement.seed})",
            highlight=False,
        )

    if report.mutants is not None:
        print_mutants(report.mutants, console)

    verdict = "[green]ok[/]" if report.ok else "[bold red]FAILED[/]"
    console.print(f"{verdict} in {report.seconds:.1f} s")


def print_mutants(mutants: MutantsReport, console: Console) -> None:
    kinds = Table(title="Mutants of Prot_SC")
    for column in ("kind", "killed", "total"):
        kinds.add_column(column, justify="left" if column == "kind" else "right")
    for kind in sorted({outcome.kind for outcome in mutants.outcomes}):
        outcomes = [outcome for outcome in mutants.outcomes if outcome.kind == kind]
        kinds.add_row(kind, str(sum(o.killed for o in outcomes)), str(len(outcomes)))
    console.print(kinds)
    if mutants.control_failure:
        console.print(
            f"[bold red]The mutant checks fail on the unmutated spec "
            f"({escape(mutants.control_failure)}): the kills below mean nothing.[/]"
        )
    console.print(
        f"Mutants: {mutants.killed}/{len(mutants.outcomes)} killed, "
        f"{len(mutants.survivors)} survived",
        highlight=False,
    )
    if mutants.survivors:
        survivors = Table(title="Surviving mutants")
        survivors.add_column("mutant", overflow="fold")
        survivors.add_column("edit", overflow="fold")
        survivors.add_column("equivalent because", overflow="fold")
        for survivor in mutants.survivors:
            if survivor.error:
                reason = f"[bold red]the harness crashed: {escape(survivor.error)}[/]"
            else:
                reason = survivor.equivalent or "[bold red]not equivalent: a gap in the suite[/]"
            survivors.add_row(survivor.id, escape(survivor.description), reason)
        console.print(survivors)


def main() -> None:
    typer.run(verify)


if __name__ == "__main__":
    main()
