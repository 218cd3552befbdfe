"""`hyperx verify` without the terminal: the Z3 proofs, the refinement suite and the
mutation run, collected into one `VerifyReport` whose `to_json()` is the CLI's
`--json` object.

Profiles: `quick` (what `make test` runs) checks 1,000 schedules; `thorough` 100
times more. With `replay`, only the saved trace runs: no proofs, no fresh schedules.

With `mutants`, every mutant of the spec (`hyperx.verify.mutants`) goes through a
short refinement run, then the economic adversary (`hyperx.verify.economics`, every
named strategy on the spec's F_BC), then, for a mutant of Prot_SC, the part of the
proofs that reads the spec module, the differential check of the Z3 encoding
against it (`hyperx.proofs.conformance`); the first failure kills it. The inductive Z3 proofs themselves are about the
encoding, which a mutant of the spec does not change: they ran once in the same
call, and would give the same answer for every mutant. Mutants run in parallel, one
process per core, with fixed seeds, so the score is reproducible; Hypothesis does
not shrink their failures (only the kill matters).
"""

import functools
import json
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from hypothesis import Phase, settings

from hyperx.proofs import ProofResult, conformance, run_proofs
from hyperx.verify.economics import run_economics, spec_world
from hyperx.verify.mutants import (
    EQUIVALENT,
    Mutant,
    SpecBundle,
    get_mutant,
    get_mutant_ids,
    get_spec_bundle,
)
from hyperx.verify.refinement import RefinementReport, load_trace, replay, run_refinement


@dataclass(frozen=True)
class VerifyProfile:
    name: str
    schedules: int  # refinement schedules on the spec
    min_steps: int  # steps per schedule, at least
    proof_examples: int  # schedules of the proofs' differential check on the spec
    mutant_schedules: int  # refinement schedules on each mutant
    mutant_examples: int  # schedules of the differential check on each mutant


PROFILES = {
    "quick": VerifyProfile(
        "quick",
        schedules=1_000,
        min_steps=20,
        proof_examples=200,
        mutant_schedules=100,
        mutant_examples=200,  # the same schedules as the proofs' own differential check
    ),
    "thorough": VerifyProfile(
        "thorough",
        schedules=100_000,
        min_steps=20,
        proof_examples=2_000,
        mutant_schedules=2_000,
        mutant_examples=1_000,
    ),
}
PROFILE_ENV = "HYPERX_PROFILE"
MUTANT_SEED = 0
CONTROL = "control"  # the job that runs the mutant checks on the unmutated spec
FAILING_TRACE = Path("hyperx-failing-trace.json")

# progress(phase, done, total, note): phase is "proofs", "refinement" or "mutants"
Progress = Callable[[str, int, int, str], None]


class VerifyInputError(ValueError):
    """Bad input from the user (profile, trace file, options): a one-line message."""


@dataclass(frozen=True)
class MutantOutcome:
    id: str
    kind: str
    description: str
    killed_by: str | None  # "refinement" or "conformance"; None if it survived
    seconds: float
    error: str | None = None  # the harness crashed on it: neither killed nor cleared

    @property
    def killed(self) -> bool:
        return self.killed_by is not None

    @property
    def equivalent(self) -> str | None:
        return EQUIVALENT.get(self.id)


@dataclass(frozen=True)
class MutantsReport:
    outcomes: list[MutantOutcome]
    control: MutantOutcome | None = None  # the unmutated spec through the same checks

    @property
    def control_failure(self) -> str | None:
        """Why the checks fail on the unmutated spec (then no kill means anything)."""
        if self.control is None:
            return None
        return self.control.killed_by or self.control.error

    @property
    def killed(self) -> int:
        return sum(outcome.killed for outcome in self.outcomes)

    @property
    def survivors(self) -> list[MutantOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.killed]

    @property
    def ok(self) -> bool:
        """The control passed, every survivor is a mutant analysed as equivalent, and
        none crashed the harness."""
        survivors_ok = all(s.equivalent and not s.error for s in self.survivors)
        return self.control_failure is None and survivors_ok


@dataclass(frozen=True)
class VerifyReport:
    profile: str
    proofs: list[ProofResult]
    refinement: RefinementReport
    mutants: MutantsReport | None
    seconds: float
    failing_trace: Path | None  # where a failing schedule was saved, for --replay

    @property
    def ok(self) -> bool:
        return (
            all(proof.status == "proved" for proof in self.proofs)
            and self.refinement.failures == 0
            and (self.mutants is None or self.mutants.ok)
        )

    def to_json(self) -> dict:
        """The `--json` object. `mutants` is null unless mutants were run, so the
        keys are the same on every run; its `control` (beyond the issue's shape) is
        null, or why the mutant checks already fail on the unmutated spec."""
        mutants = None
        if self.mutants is not None:
            mutants = {
                "killed": self.mutants.killed,
                "total": len(self.mutants.outcomes),
                "survivors": [
                    {
                        "id": s.id,
                        "description": s.description,
                        "equivalent": s.equivalent,
                        "error": s.error,
                    }
                    for s in self.mutants.survivors
                ],
                "control": self.mutants.control_failure,
            }
        return {
            "proofs": [
                {"name": p.name, "status": p.status, "seconds": round(p.seconds, 3)}
                for p in self.proofs
            ],
            "refinement": {
                "schedules": self.refinement.schedules,
                "steps": self.refinement.steps,
                "failures": self.refinement.failures,
                "outcomes": self.refinement.outcomes,
                "sweep_calls": self.refinement.sweep_calls,
                "seed": self.refinement.seed,
            },
            "mutants": mutants,
            "ok": self.ok,
        }


def get_profile(name: str | None) -> VerifyProfile:
    """The named profile; without a name, $HYPERX_PROFILE, else quick."""
    source = "--profile"
    if name is None:
        name, source = os.environ.get(PROFILE_ENV, "quick"), PROFILE_ENV
    if name not in PROFILES:
        choices = " or ".join(PROFILES)
        raise VerifyInputError(f"{source}: unknown profile {name!r} (choose {choices})")
    return PROFILES[name]


def read_trace(path: Path) -> dict:
    """A saved schedule; a missing, unreadable or malformed file is a VerifyInputError."""
    if not path.is_file():
        raise VerifyInputError(f"--replay: no trace file at {path}")
    try:
        return load_trace(path)
    except (ValueError, OSError) as error:
        reason = str(error) if str(path) in str(error) else f"{path}: {error}"
        raise VerifyInputError(f"--replay: {reason}") from error


def check_options(
    mutants: bool, replay_path: Path | None, sample: int | None, seed: int | None = None
) -> None:
    if replay_path is not None and mutants:
        raise VerifyInputError("--replay runs one saved trace; drop --mutants")
    if replay_path is not None and seed is not None:
        raise VerifyInputError("--replay runs one saved trace, which needs no seed; drop --seed")
    if seed is not None and not 0 <= seed < 2**32:
        raise VerifyInputError(f"--seed must be in [0, 2**32), got {seed}")
    if sample is not None and not mutants:
        raise VerifyInputError("--sample picks mutants to run; add --mutants")


def select_mutants(sample: int | None = None) -> list[str]:
    """The ids of every mutant, or of `sample` of them drawn with a fixed seed (the
    same sample on every run), in source order."""
    ids = get_mutant_ids()
    if sample is None:
        return ids
    if not 0 < sample <= len(ids):
        raise VerifyInputError(f"--sample: {sample} is not in [1, {len(ids)}] (the mutant count)")
    chosen = set(random.Random(MUTANT_SEED).sample(ids, sample))
    return [mutant_id for mutant_id in ids if mutant_id in chosen]


def run_verify(
    profile: VerifyProfile,
    *,
    mutants: list[str] | None = None,
    trace: dict | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    seed: int | None = None,
) -> VerifyReport:
    """Run the proofs, the refinement suite and (given `mutants`, ids from
    `select_mutants`) the mutation run; with a `trace` (from `read_trace`), replay
    that one schedule instead. `seed` repeats an earlier run's schedules (every run
    reports its seed)."""
    report_progress = progress or (lambda phase, done, total, note: None)
    start = time.perf_counter()

    proofs = []
    if trace is None:
        report_progress("proofs", 0, 1, "")
        proofs = run_proofs(examples=profile.proof_examples)
        report_progress("proofs", 1, 1, "")
        report_progress("refinement", 0, profile.schedules, "")
        refinement = run_refinement(
            schedules=profile.schedules, min_steps=profile.min_steps, seed=seed
        )
    else:
        report_progress("refinement", 0, 1, "replay")
        refinement = replay(trace)
    report_progress("refinement", refinement.schedules, refinement.schedules, "")
    failing_trace = None
    if refinement.failing_trace is not None and trace is None:
        FAILING_TRACE.write_text(json.dumps(refinement.failing_trace, indent=2))
        failing_trace = FAILING_TRACE

    mutants_report = None
    if mutants is not None:
        mutants_report = run_mutants(mutants, profile, report_progress, workers)
    return VerifyReport(
        profile.name, proofs, refinement, mutants_report, time.perf_counter() - start, failing_trace
    )


def run_mutants(
    ids: list[str], profile: VerifyProfile, progress: Progress, workers: int | None = None
) -> MutantsReport:
    """The mutants through `run_mutant`, in parallel processes (inline with one
    worker), reported in the order given; alongside, the unmutated spec through the
    same checks, as a control: a kill means something only if the control passes."""
    workers = workers or os.cpu_count() or 1
    jobs = [CONTROL, *ids]
    progress("mutants", 0, len(ids), "")
    outcomes = {}
    if workers == 1:
        for mutant_id in jobs:
            outcomes[mutant_id] = _run_mutant_by_id(mutant_id, profile)
            progress("mutants", len(outcomes) - 1, len(ids), mutant_id)
    else:
        # spawn, not fork: z3 and Hypothesis hold state a forked child must not share
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_run_mutant_by_id, mutant_id, profile) for mutant_id in jobs]
            for future in as_completed(futures):
                outcome = future.result()
                outcomes[outcome.id] = outcome
                progress("mutants", len(outcomes) - (CONTROL in outcomes), len(ids), outcome.id)
    control = outcomes.pop(CONTROL)
    return MutantsReport([outcomes[mutant_id] for mutant_id in ids], control)


def run_mutant(mutant: Mutant, profile: VerifyProfile) -> MutantOutcome:
    """A refinement run, then (when Prot_SC changed) the differential check of the
    proofs' encoding, on the mutant; the first failure kills it."""
    return _run_checks(mutant.id, mutant.kind, mutant.description, mutant.load(), profile)


def _run_checks(
    outcome_id: str, kind: str, description: str, bundle: SpecBundle, profile: VerifyProfile
) -> MutantOutcome:
    """Both checks catch what the module raises; an exception escaping them is a
    crash of the harness, reported as such and not counted as a kill."""
    start = time.perf_counter()
    killed_by, error = None, None
    try:
        with without_shrinking():
            killed_by = _first_failure(bundle, profile)
    except Exception as crash:  # reported with the mutant, so the run can go on
        error = f"{type(crash).__name__}: {crash}".splitlines()[0]
    seconds = time.perf_counter() - start
    return MutantOutcome(outcome_id, kind, description, killed_by, seconds, error)


def _first_failure(bundle: SpecBundle, profile: VerifyProfile) -> str | None:
    """The refinement first (most mutants fall in a few schedules); then the economic
    adversary (every named strategy, on the spec's F_BC: under a second); then the
    slower differential check of the Z3 encoding, only if Prot_SC is not the spec's own."""
    refinement = run_refinement(
        bundle.contract,
        parties_module=bundle.parties,
        schedules=profile.mutant_schedules,
        min_steps=profile.min_steps,
        seed=MUTANT_SEED,
    )
    if refinement.failures:
        return "refinement"
    world = functools.partial(spec_world, bundle.contract, bundle.parties)
    try:
        played = run_economics({"spec": world}).ok
    except Exception:  # noqa: BLE001 - a session that cannot be played fails, as a schedule does
        played = False
    if not played:
        return "economics"
    if bundle.contract is get_spec_bundle().contract and bundle is not _CONTROL_BUNDLE:
        return None
    agrees, _, _ = conformance.check_conformance(bundle.contract, examples=profile.mutant_examples)
    return None if agrees else "conformance"


_CONTROL_BUNDLE = get_spec_bundle()


@contextmanager
def without_shrinking():
    """Hypothesis settings built inside inherit these phases: no shrinking."""
    previous = settings.default
    settings.register_profile("hyperx-mutants", previous, phases=[Phase.explicit, Phase.generate])
    settings.load_profile("hyperx-mutants")
    try:
        yield
    finally:
        settings.register_profile("hyperx-before-mutants", previous)
        settings.load_profile("hyperx-before-mutants")


def _run_mutant_by_id(mutant_id: str, profile: VerifyProfile) -> MutantOutcome:
    if mutant_id == CONTROL:
        return _run_checks(CONTROL, CONTROL, "the unmutated spec", _CONTROL_BUNDLE, profile)
    return run_mutant(get_mutant(mutant_id), profile)
