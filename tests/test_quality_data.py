"""A user's own data through `hyperx-eval`: class names kept from the files to the
checkpoints, one `error:` line for everything a user can get wrong, the secret never
derived from a seed, and copies of the collector's validation items flagged."""

import gzip
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from hyperx.impl.quality import data, pipeline
from hyperx.impl.quality.cli import app
from hyperx.impl.quality.config import QualityConfig
from hyperx.impl.quality.errors import QualityError

runner = CliRunner()
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def invoke(*args, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, (result.output, result.exception)
    return result


def invoke_json(*args) -> dict:
    return json.loads(invoke(*args, "--json").stdout.strip().splitlines()[-1])


def one_error_line(result, message: str) -> None:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def write_class_folders(root, x, y, names):
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        folder = root / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.uint8(np.round(image * 255))).save(folder / f"{i:04d}.png")


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    """The digits as class folders named by words, an M_init of zero..four, its extractor."""
    root = tmp_path_factory.mktemp("words")
    x, y = data.load_digits_images()
    write_class_folders(root / "all", x, y, WORDS)
    invoke_json(
        "pretrain",
        "--data-dir",
        root / "all",
        "--pretrain-classes",
        "zero,one,two,three,four",
        "--task-classes",
        "five,six,seven,eight,nine",
        "--tiny",
        "--out",
        root / "m.ckpt",
    )
    invoke_json(
        "publish",
        "--m-init",
        root / "m.ckpt",
        "--extractor-out",
        root / "e.bin",
        "--secret-out",
        root / "s.bin",
    )
    return root, x, y


def test_class_names_travel_from_folders_to_the_features(words):
    root, x, y = words
    extractor = pipeline.load_extractor((root / "e.bin").read_bytes())
    assert extractor.task_class_names == ("five", "six", "seven", "eight", "nine")
    # A provider whose folders hold only some classes: sorted alone they would be
    # numbered 0 (nine), 1 (six); by name they are task classes 4 and 1.
    chosen = np.flatnonzero(np.isin(y, [6, 9]))[:40]
    write_class_folders(root / "provider", x[chosen], y[chosen], WORDS)
    invoke_json(
        "extract",
        "--extractor",
        root / "e.bin",
        "--images",
        root / "provider",
        "--out",
        root / "f.bin",
    )
    labels = pipeline.load_features((root / "f.bin").read_bytes()).labels
    expected = np.sort(np.where(y[chosen] == 6, 1, 4))  # folders are read in name order
    assert sorted(labels.tolist()) == expected.tolist()


def test_rejects_word_classes_without_class_options(words):
    root, _, _ = words
    result = invoke("pretrain", "--data-dir", root / "all", "--tiny", "--out", root / "x", code=2)
    one_error_line(result, "the data's classes are eight, five, four")


def test_rejects_unknown_and_overlapping_class_options(words):
    root, _, _ = words
    result = invoke(
        "pretrain",
        "--data-dir",
        root / "all",
        "--pretrain-classes",
        "zero,ten",
        "--task-classes",
        "five,six",
        "--out",
        root / "x",
        code=2,
    )
    one_error_line(result, "--pretrain-classes: no class named ten")
    result = invoke(
        "pretrain",
        "--data-dir",
        root / "all",
        "--pretrain-classes",
        "zero,five",
        "--task-classes",
        "five,six",
        "--out",
        root / "x",
        code=2,
    )
    one_error_line(result, "both a pretraining and a task class")


def test_rejects_a_provider_label_outside_the_task(words, tmp_path):
    root, x, y = words
    data.save_npz(tmp_path / "p.npz", x[:5], np.array(["five", "six", "two", "six", "five"]))
    result = invoke(
        "extract",
        "--extractor",
        root / "e.bin",
        "--images",
        tmp_path / "p.npz",
        "--out",
        tmp_path / "f",
        code=2,
    )
    one_error_line(result, "entry 2 has class 'two', which is not a task class")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The default digits task through the CLI: M_init, extractor, secret, validation."""
    root = tmp_path_factory.mktemp("digits")
    invoke_json("pretrain", "--tiny", "--out", root / "m.ckpt")
    invoke_json(
        "publish",
        "--m-init",
        root / "m.ckpt",
        "--extractor-out",
        root / "e.bin",
        "--secret-out",
        root / "s.bin",
    )
    invoke_json("dataset", "--out", root / "p.npz", "--validation-out", root / "val.npz", "--json")
    invoke_json(
        "extract",
        "--extractor",
        root / "e.bin",
        "--images",
        root / "p.npz",
        "--sample-fraction",
        0.25,
        "--out",
        root / "f.bin",
    )
    return root


def score_args(root, *features, validation=None):
    args = ["score", "--secret", root / "s.bin", "--m-init", root / "m.ckpt", "--tiny"]
    for path in features:
        args += ["--features", path]
    return [*args, "--validation", validation or root / "val.npz"]


def test_dataset_files_carry_the_data_own_labels(digits):
    with np.load(digits / "val.npz") as archive:
        assert set(np.unique(archive["y"])) == {5, 6, 7, 8, 9}


def test_rejects_validation_labels_outside_the_task(digits, tmp_path):
    with np.load(digits / "val.npz") as archive:
        x, y = archive["x"], archive["y"].copy()
    y[7] = 3
    data.save_npz(tmp_path / "bad.npz", x, y)
    result = invoke(*score_args(digits, digits / "f.bin", validation=tmp_path / "bad.npz"), code=2)
    one_error_line(result, "entry 7 has class '3', which is not a task class (5, 6, 7, 8, 9)")


def test_api_rejects_validation_labels_outside_the_task(digits):
    with np.load(digits / "val.npz") as archive:
        x = archive["x"]
    with pytest.raises(QualityError, match=r"validation labels must be task indices 0\.\.4"):
        pipeline.score_providers(
            (digits / "s.bin").read_bytes(),
            (digits / "m.ckpt").read_bytes(),
            [(digits / "f.bin").read_bytes()],
            (x, np.full(len(x), 7)),
            QualityConfig.tiny(),
        )


def test_copies_of_validation_items_are_flagged_and_left_out(digits, tmp_path):
    with np.load(digits / "val.npz") as v, np.load(digits / "p.npz") as p:
        val_x, val_y, x, y = v["x"], v["y"], p["x"].copy(), p["y"].copy()
    x[:216], y[:216] = val_x[:216], val_y[:216]
    data.save_npz(tmp_path / "copier.npz", x, y)
    data.save_npz(tmp_path / "only.npz", val_x[:30], val_y[:30])
    for name in ("copier", "only"):
        invoke_json(
            "extract",
            "--extractor",
            digits / "e.bin",
            "--images",
            tmp_path / f"{name}.npz",
            "--indices",
            ",".join(map(str, range(0, 538 if name == "copier" else 30, 2))),
            "--out",
            tmp_path / f"{name}.bin",
        )
    result = invoke(
        *score_args(digits, digits / "f.bin", tmp_path / "copier.bin", tmp_path / "only.bin"),
        "--json",
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    by_file = {r["features"]: r for r in report["ranking"]}
    copier, only = by_file[str(tmp_path / "copier.bin")], by_file[str(tmp_path / "only.bin")]
    assert copier["duplicates"] == 108 and copier["entries"] == 269 - 108
    assert by_file[str(digits / "f.bin")]["duplicates"] == 0
    # Nothing left to score: never eligible, and the JSON stays valid (no NaN).
    assert only["duplicates"] == 15 and only["entries"] == 0 and only["eligible"] is False
    assert only["loss"] is None and report["optimal"] != str(tmp_path / "only.bin")
    assert "equal validation items; they are left out of its score" in result.stderr


def truncated_npz(path):
    x, y = data.load_digits_images()
    data.save_npz(path, x[:200], y[:200])
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"), "not a readable .npz file"),
        (lambda p: p.write_text("a text file named .npz\n"), "not an .npz archive (no zip header)"),
        (lambda p: p.write_bytes(b""), "not an .npz archive (no zip header)"),
        (truncated_npz, "not a readable .npz file"),
        (
            lambda p: np.savez(p, x=np.full((2, 8, 8), np.nan), y=np.array([5, 6])),
            "images must be finite numbers",
        ),
        (
            lambda p: np.savez(p, x=np.full((2, 8, 8), 300.0), y=np.array([5, 6])),
            "grey levels must be in [0, 1] or [0, 255]",
        ),
        (
            lambda p: np.savez(p, x=np.zeros((2, 8, 8)), y=np.array([5.0, 6.0])),
            "labels must be integers or strings",
        ),
    ],
)
def test_rejects_broken_npz_files(digits, tmp_path, make, message):
    make(tmp_path / "bad.npz")
    result = invoke(
        "extract",
        "--extractor",
        digits / "e.bin",
        "--images",
        tmp_path / "bad.npz",
        "--out",
        tmp_path / "f",
        code=2,
    )
    one_error_line(result, message)


def test_rejects_a_stray_file_in_a_class_folder(digits, tmp_path):
    x, y = data.load_digits_images()
    write_class_folders(tmp_path / "folders", x[:20], y[:20], [str(c) for c in range(10)])
    (tmp_path / "folders" / "5" / "notes.txt").write_text("not an image")
    (tmp_path / "folders" / "5" / ".DS_Store").write_bytes(b"\0\0")  # hidden: skipped
    result = invoke(
        "extract",
        "--extractor",
        digits / "e.bin",
        "--images",
        tmp_path / "folders",
        "--out",
        tmp_path / "f",
        code=2,
    )
    one_error_line(result, "notes.txt: not an image Pillow can read")


def test_rejects_a_truncated_idx_file(tmp_path):
    x, y = data.load_digits_images()
    data.write_idx(tmp_path, x[:30], y[:30], 10)
    whole = (tmp_path / "train-images-idx3-ubyte.gz").read_bytes()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(whole[: len(whole) // 2])
    result = invoke("pretrain", "--data-dir", tmp_path, "--out", tmp_path / "m", code=2)
    one_error_line(result, "train-images-idx3-ubyte.gz: cannot be read")


def test_rejects_an_unwritable_output(digits):
    result = invoke(
        "publish",
        "--m-init",
        digits / "m.ckpt",
        "--extractor-out",
        digits / "no-such-folder" / "e.bin",
        "--secret-out",
        digits / "s2.bin",
        code=2,
    )
    one_error_line(result, "No such file or directory")


def test_idx_files_round_trip(tmp_path):
    x, y = data.load_digits_images()
    data.write_idx(tmp_path, x[:50], y[:50], 20)
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz") as stream:
        assert len(stream.read()) == 8 + 20
    loaded = data.load_labelled(tmp_path)
    np.testing.assert_allclose(loaded.x, x[:50], atol=0.5 / 255)
    assert loaded.y.tolist() == y[:50].tolist() and loaded.names[:10] == tuple("0123456789")


def test_the_secret_does_not_follow_the_seed(digits):
    m_init = (digits / "m.ckpt").read_bytes()
    first, second = (pipeline.load_secret(pipeline.publish(m_init, 2, seed=0)[1]) for _ in range(2))
    assert not np.array_equal(first.secret.delta, second.secret.delta)
    assert not np.array_equal(first.secret.sigma, second.secret.sigma)
