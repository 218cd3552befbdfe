"""`hyperx-eval`: every command on a tiny config, `--json` output, one-line errors."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from hyperx.impl.quality.cli import app

runner = CliRunner()


def invoke(*args: str, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, (result.output, result.exception)
    return result


def invoke_json(*args: str) -> dict:
    return json.loads(invoke(*args, "--json").stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("hyperx-eval")


def test_pipeline_commands(workdir):
    m_init, extractor, secret = workdir / "m.ckpt", workdir / "ext.bin", workdir / "secret.bin"
    trained = invoke_json("pretrain", "--out", m_init, "--tiny")
    assert trained["sha256"] and 0 <= trained["test_accuracy"] <= 1
    published = invoke_json(
        "publish",
        "--m-init",
        m_init,
        "--depth",
        2,
        "--extractor-out",
        extractor,
        "--secret-out",
        secret,
    )
    assert published["depth"] == 2 and (secret.stat().st_mode & 0o777) == 0o600
    invoke_json(
        "dataset",
        "--family",
        "mislabel",
        "--level",
        0,
        "--out",
        workdir / "p0.npz",
        "--validation-out",
        workdir / "val.npz",
    )
    invoke_json("dataset", "--family", "mislabel", "--level", 10, "--out", workdir / "p10.npz")
    for level in (0, 10):
        extracted = invoke_json(
            "extract",
            "--extractor",
            extractor,
            "--images",
            workdir / f"p{level}.npz",
            "--sample-fraction",
            0.25,
            "--out",
            workdir / f"f{level}.bin",
        )
        assert (
            extracted["entries"] == 134
            and extracted["extractor_sha256"] == published["extractor_sha256"]
        )
    assert (
        invoke_json(
            "review",
            "--extractor",
            extractor,
            "--images",
            workdir / "p0.npz",
            "--features",
            workdir / "f0.bin",
        )["review_passed"]
        is True
    )
    both = ["--features", workdir / "f0.bin", "--features", workdir / "f10.bin"]
    score = [
        "score",
        "--secret",
        secret,
        "--m-init",
        m_init,
        *both,
        "--validation",
        workdir / "val.npz",
        "--tiny",
    ]
    scored = invoke_json(
        *score,
        "--extractor",
        extractor,
        "--threshold",
        0.3,
        "--m-eval-out",
        workdir / "m_eval.ckpt",
    )
    assert (
        scored["m_eval"] == str(workdir / "m_eval.ckpt")
        and (workdir / "m_eval.ckpt").stat().st_size > 0
    )
    assert [r["rank"] for r in scored["ranking"]] == [1, 2]
    assert scored["optimal"] == str(workdir / "f0.bin")
    table = invoke(*score)
    assert "Provider ranking" in table.stdout


def test_review_fails_on_another_dataset(workdir):
    result = invoke(
        "review",
        "--extractor",
        workdir / "ext.bin",
        "--images",
        workdir / "p10.npz",
        "--features",
        workdir / "f0.bin",
        "--json",
        code=1,
    )
    assert json.loads(result.stdout)["review_passed"] is False


def test_bench_selection_json_shape(tmp_path):
    report = invoke_json(
        "bench", "selection", "--tiny", "--seeds", 2, "--families", "mislabel", "--plot", tmp_path
    )
    entry = report["families"]["mislabel"]
    assert entry["groups"] == 462
    for method in ("hyperx", "train_whole", "scratch_subset"):
        selection = entry["methods"][method]["selection"]
        low, high = selection["ci95"]
        assert 0 <= low <= selection["mean"] <= high <= 1 and len(selection["per_seed"]) == 2
        assert -1 <= entry["methods"][method]["kendall_tau"]["mean"] <= 1
        assert len(entry["methods"][method]["dataset_score"]["mean"]) == 11
        chosen = entry["methods"][method]["chosen"]
        assert sum(chosen["learning_rate_counts"].values()) == 2 * 11
    for baseline in ("train_whole", "scratch_subset"):
        paired = entry["paired"][baseline]
        assert paired["win"] + paired["tie"] + paired["loss"] == 2 * 462
    assert report["budget"]["learning_rates"] and report["scorer_on_tuning_split"]
    assert report["seconds"] > 0 and report["cpu_seconds"] > 0
    assert (tmp_path / "selection_digits_mislabel.png").stat().st_size > 0


def test_bench_speed_json_shape():
    report = invoke_json("bench", "speed", "--tiny", "--providers", "1,2", "--repeats", 1)
    for way in ("one_program", "scan_per_provider", "per_batch"):
        assert set(report[way]) == {"1", "2"}
        assert all(run["compilations_while_timing"] == 0 for run in report[way].values())
    assert set(report["ratios"]["2"]) >= {"against_scan_per_provider", "against_per_batch"}
    assert report["ratios"]["1"]["relative_to_one_provider"] == 1.0
    assert report["device"] == "cpu"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["publish", "--m-init", "absent.ckpt", "--extractor-out", "e", "--secret-out", "s"],
            "error: M_init file absent.ckpt does not exist",
        ),
        (["bench", "selection", "--dataset", "mnist"], "error: --dataset must be one of digits"),
        (["bench", "selection", "--families", "blur"], "error: unknown corruption family 'blur'"),
        (
            ["bench", "speed", "--providers", "one"],
            "error: --providers must be a comma-separated list",
        ),
        (["bench", "sampling", "--fractions", "0,0.5"], r"error: --fractions must be in (0, 1]"),
        (["dataset"], "error: nothing to write"),
    ],
)
def test_rejects_bad_input_with_one_line(args, message):
    result = invoke(*args, code=2)
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_rejects_corrupted_checkpoint_file(workdir):
    broken = workdir / "broken.ckpt"
    broken.write_bytes((workdir / "m.ckpt").read_bytes()[:100])
    result = invoke(
        "publish",
        "--m-init",
        broken,
        "--extractor-out",
        workdir / "e",
        "--secret-out",
        workdir / "s",
        code=2,
    )
    assert "corrupted or not a HyperX m_init file" in result.output


def test_package_does_not_import_chain_libraries():
    code = "import sys, hyperx.impl.quality.cli; print(sorted(m for m in ('web3', 'vyper', 'boa') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
