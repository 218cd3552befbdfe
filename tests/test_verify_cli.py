"""`hyperx verify` (`hyperx.verify.cli`): the --json object, the results table, exit
codes, and one-line errors for bad input. The full quick profile runs in `make test`
itself; here the profile is shrunk so that the run takes seconds."""

import json
import subprocess
import sys

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from hyperx.proofs import ProofResult
from hyperx.verify import runner
from hyperx.verify.cli import print_report, verify
from hyperx.verify.mutants import EQUIVALENT, get_mutant
from hyperx.verify.refinement import RefinementReport, run_refinement
from hyperx.verify.runner import select_mutants

TINY = runner.VerifyProfile(
    "quick", schedules=5, min_steps=20, proof_examples=20, mutant_schedules=5, mutant_examples=5
)


@pytest.fixture
def app():
    app = typer.Typer()
    app.command()(verify)
    return app


@pytest.fixture
def tiny_quick(monkeypatch):
    monkeypatch.setitem(runner.PROFILES, "quick", TINY)


@pytest.fixture(scope="module")
def failing_trace():
    """A schedule on which a mutant (claim_deposit never marks the deposit claimed) fails."""
    mutant = get_mutant("flag-claim_deposit-deposit_claimed")
    with runner.without_shrinking():
        report = run_refinement(mutant.load(), schedules=50, min_steps=20, seed=0)
    assert report.failing_trace is not None, "the mutant survived: no trace to replay"
    return report.failing_trace


def invoke(app, *args, env=None):
    return CliRunner().invoke(app, list(args), env=env)


def test_json_prints_one_object_of_the_documented_shape(app, tiny_quick, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(app, "--profile", "quick", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"proofs", "refinement", "mutants", "ok"}
    assert report["ok"] is True
    assert report["mutants"] is None
    assert len(report["proofs"]) >= 10
    for proof in report["proofs"]:
        assert set(proof) == {"name", "status", "seconds"}
        assert proof["status"] == "proved", proof
    assert report["refinement"]["schedules"] >= TINY.schedules
    assert report["refinement"]["steps"] >= TINY.schedules * TINY.min_steps
    assert report["refinement"]["failures"] == 0


def test_table_lists_each_proof_and_the_schedules():
    proofs = [
        ProofResult("sample_bound", "proved", 0.2),
        ProofResult("no_overdraft", "unknown", 3.0),
    ]
    refinement = RefinementReport(
        schedules=1_000, steps=24_000, failures=0, failing_trace=None, seconds=80.0
    )
    report = runner.VerifyReport("quick", proofs, refinement, None, 90.0, None)
    console = Console(record=True, width=200)
    print_report(report, console)
    text = console.export_text()
    assert "sample_bound" in text and "proved" in text
    assert "no_overdraft" in text and "unknown" in text
    assert "Refinement (quick profile)" in text
    assert "1,000" in text and "24,000" in text
    assert "FAILED in 90.0 s" in text  # an unknown proof is not a proof


def test_replay_of_a_mutant_failure_passes_on_the_spec(app, failing_trace, tmp_path):
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(failing_trace))
    table = invoke(app, "--replay", str(path))
    assert table.exit_code == 0, table.output
    assert "Refinement (quick profile)" in table.stdout
    assert "ok in" in table.stdout
    result = invoke(app, "--replay", str(path), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["proofs"] == []
    assert report["refinement"]["schedules"] == 1
    assert report["refinement"]["failures"] == 0


def test_report_with_a_surviving_mutant_fails():
    refinement = RefinementReport(
        schedules=1, steps=20, failures=0, failing_trace=None, seconds=0.1
    )
    survivor = runner.MutantOutcome(
        "bound-x", "bound", "contract.py:1 f: `a < b` -> `a <= b`", None, 0.1
    )
    killed = runner.MutantOutcome(
        "guard-y", "guard", "contract.py:2 f: guard removed", "refinement", 0.1
    )
    report = runner.VerifyReport(
        "quick", [], refinement, runner.MutantsReport([survivor, killed]), 1.0, None
    )
    assert not report.ok
    assert report.to_json()["mutants"] == {
        "killed": 1,
        "total": 2,
        "survivors": [
            {
                "id": "bound-x",
                "description": survivor.description,
                "equivalent": None,
                "error": None,
            }
        ],
        "control": None,
    }
    console = Console(record=True, width=200)
    print_report(report, console)
    text = console.export_text()
    assert "Mutants: 1/2 killed, 1 survived" in text
    assert "not equivalent: a gap in the suite" in text
    assert "FAILED" in text


def test_report_with_a_crashed_mutant_fails_even_if_listed_equivalent():
    refinement = RefinementReport(
        schedules=1, steps=20, failures=0, failing_trace=None, seconds=0.1
    )
    equivalent_id = next(iter(EQUIVALENT))
    crashed = runner.MutantOutcome(
        equivalent_id, "recipient", "contract.py:3 f: pays x", None, 0.1, "KeyError: 'x'"
    )
    report = runner.VerifyReport(
        "quick", [], refinement, runner.MutantsReport([crashed]), 1.0, None
    )
    assert not report.ok
    console = Console(record=True, width=200)
    print_report(report, console)
    assert "the harness crashed: KeyError: 'x'" in console.export_text()


def test_report_whose_control_fails_is_not_ok():
    refinement = RefinementReport(
        schedules=1, steps=20, failures=0, failing_trace=None, seconds=0.1
    )
    killed = runner.MutantOutcome(
        "guard-y", "guard", "contract.py:2 f: guard removed", "refinement", 0.1
    )
    control = runner.MutantOutcome(runner.CONTROL, "control", "the spec", "refinement", 0.1)
    report = runner.VerifyReport(
        "quick", [], refinement, runner.MutantsReport([killed], control), 1.0, None
    )
    assert not report.ok
    assert report.to_json()["mutants"]["control"] == "refinement"
    console = Console(record=True, width=200)
    print_report(report, console)
    assert "fail on the unmutated spec (refinement)" in console.export_text()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--profile", "fast"],
            {},
            "error: --profile: unknown profile 'fast' (choose quick or thorough)",
        ),
        (
            [],
            {"HYPERX_PROFILE": "slow"},
            "error: HYPERX_PROFILE: unknown profile 'slow' (choose quick or thorough)",
        ),
        (["--replay", "absent.json"], {}, "error: --replay: no trace file at absent.json"),
        (
            ["--replay", "trace.json", "--mutants"],
            {},
            "error: --replay runs one saved trace; drop --mutants",
        ),
        (["--sample", "3"], {}, "error: --sample picks mutants to run; add --mutants"),
        (
            ["--replay", "trace.json", "--seed", "4"],
            {},
            "error: --replay runs one saved trace, which needs no seed; drop --seed",
        ),
        (["--seed", "-1"], {}, "error: --seed must be in [0, 2**32), got -1"),
        (
            ["--mutants", "--sample", "0"],
            {},
            f"error: --sample: 0 is not in [1, {len(select_mutants())}] (the mutant count)",
        ),
    ],
)
def test_rejects_bad_input_with_one_line(app, tmp_path, monkeypatch, args, env, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "trace.json").write_text("{}")
    result = invoke(app, *args, env=env)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == message + "\n"


@pytest.mark.parametrize("content", ["{not json", "[1, 2, 3]", '{"steps": 7}'])
def test_rejects_malformed_trace_with_one_line(app, tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = invoke(app, "--replay", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: --replay: ")
    assert str(path) in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_module_entry_point_reports_bad_input_without_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "hyperx.verify.cli", "--profile", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "error: --profile: unknown profile 'nope' (choose quick or thorough)\n"


def test_a_failing_run_ends_with_its_seed_reason_and_schedule(
    app, tiny_quick, failing_trace, tmp_path, monkeypatch
):
    """CI keeps only the tail of the log: the failure's last lines must be enough to
    replay it (the schedule as one JSON line, and the seed)."""
    monkeypatch.chdir(tmp_path)
    failed = RefinementReport(
        schedules=7,
        steps=140,
        failures=1,
        failing_trace=failing_trace,
        seconds=1.0,
        message="InvariantViolation: session 0: 100 wei stuck, owed to honest P1\nstate.mine(...)",
        seed=1234,
    )
    monkeypatch.setattr(runner, "run_proofs", lambda examples: [])
    monkeypatch.setattr(runner, "run_refinement", lambda **kwargs: failed)
    result = invoke(app, "--profile", "quick")
    assert result.exit_code == 1
    assert "Seed 1234" in result.stdout
    tail = result.stderr.rstrip("\n").splitlines()
    assert json.loads(tail[-1]) == failing_trace
    assert "--seed 1234" in "\n".join(tail[:-1])
    assert "100 wei stuck, owed to honest P1" in "\n".join(tail[:-1])
    assert json.loads((tmp_path / "hyperx-failing-trace.json").read_text()) == failing_trace
