"""28x28 images in the MNIST idx format through every `hyperx-eval` command: `make-idx`
writes a small generated dataset (the README's 70,000-image run uses the same command),
and the pipeline and the benchmarks run on it with the tiny config."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hyperx.impl.quality import data, glyphs
from hyperx.impl.quality.cli import app

runner = CliRunner()


def invoke_json(*args) -> dict:
    result = runner.invoke(app, [*map(str, args), "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def idx(tmp_path_factory):
    folder = tmp_path_factory.mktemp("idx")
    made = invoke_json("make-idx", "--out", folder, "--count", 1000, "--test-count", 200)
    assert made == {"idx": str(folder), "images": 1000, "size": 28, "test": 200}
    return folder


def test_make_idx_writes_balanced_glyphs_that_load_back(idx):
    loaded = data.load_labelled(idx)
    assert loaded.x.shape == (1000, 28, 28) and loaded.x.dtype == np.float32
    assert np.bincount(loaded.y).tolist() == [100] * 10
    again = glyphs.glyph_dataset(1000, 28, 0)
    np.testing.assert_allclose(loaded.x, again.x, atol=0.5 / 255 + 1e-6)


def test_pipeline_commands_on_28x28_idx(idx, tmp_path):
    m, e, s = tmp_path / "m", tmp_path / "e", tmp_path / "s"
    assert invoke_json("pretrain", "--data-dir", idx, "--tiny", "--out", m)["test_accuracy"] > 0.3
    invoke_json("publish", "--m-init", m, "--extractor-out", e, "--secret-out", s)
    for level in (0, 10):
        invoke_json(
            "dataset",
            "--data-dir",
            idx,
            "--level",
            level,
            "--out",
            tmp_path / f"p{level}.npz",
            "--validation-out",
            tmp_path / "val.npz",
        )
        invoke_json(
            "extract",
            "--extractor",
            e,
            "--images",
            tmp_path / f"p{level}.npz",
            "--sample-fraction",
            0.25,
            "--out",
            tmp_path / f"f{level}",
        )
    assert invoke_json(
        "review", "--extractor", e, "--images", tmp_path / "p0.npz", "--features", tmp_path / "f0"
    )["review_passed"]
    scored = invoke_json(
        "score",
        "--secret",
        s,
        "--m-init",
        m,
        "--features",
        tmp_path / "f0",
        "--features",
        tmp_path / "f10",
        "--validation",
        tmp_path / "val.npz",
        "--tiny",
    )
    assert scored["optimal"] == str(tmp_path / "f0")


@pytest.mark.parametrize(
    "bench",
    [
        ["selection", "--families", "mislabel", "--seeds", 1],
        ["sampling", "--fractions", "0.5", "--seeds", 1],
        ["depth", "--seeds", 1],
        ["privacy", "--seeds", 1],
        ["speed", "--providers", "1,2", "--repeats", 1],
    ],
)
def test_benchmarks_on_28x28_idx(idx, bench):
    sizes = [] if bench[0] == "speed" else ["--pool-size", 100, "--validation-size", 60]
    report = invoke_json("bench", *bench, "--data-dir", idx, "--tiny", *sizes)
    assert report["seconds"] > 0 and report["peak_rss_mib"] > 0
