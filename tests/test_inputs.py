"""The files a party's command line names: what `hyperx-eval dataset` writes is what
`--data` and `--validation` read; labels outside the task are refused."""

import numpy as np
import pytest
from typer.testing import CliRunner

from hyperx.impl.clients.inputs import load_dataset, load_validation, parse_synthetic
from hyperx.impl.clients.session import load_task, quality_config
from hyperx.impl.errors import BadInput
from hyperx.impl.quality.cli import app as eval_app


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval")
    argv = ["dataset", "--family", "noise", "--level", "2", "--out", folder / "provider.npz"]
    argv += ["--validation-out", folder / "validation.npz"]
    result = CliRunner().invoke(eval_app, [str(a) for a in argv])
    assert result.exit_code == 0, result.output
    return folder


def test_collector_reads_the_validation_split_hyperx_eval_writes(written):
    config = quality_config("default")
    task = load_task(config, 0)
    x, y = load_validation(written / "validation.npz", task.image_shape, len(config.task_classes))
    assert np.array_equal(x, task.validation_x) and np.array_equal(y, task.validation_y)


def test_provider_reads_the_dataset_hyperx_eval_writes(written):
    x, y = load_dataset(written / "provider.npz", "--data")
    assert x.ndim == 3 and len(x) == len(y) > 0


def test_rejects_validation_labels_outside_the_task(tmp_path):
    path = tmp_path / "validation.npz"
    np.savez(path, x=np.zeros((4, 8, 8), np.float32), y=np.array([0, 1, 2, 7]))
    with pytest.raises(BadInput, match="numbered 0..4"):
        load_validation(path, (8, 8), 5)


def test_synthetic_names_a_family_and_a_level():
    assert parse_synthetic("doping:3") == ("doping", 3)
