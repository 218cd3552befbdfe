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
    x, y = load_validation(written / "validation.npz", task)
    assert np.array_equal(x, task.validation_x) and np.array_equal(y, task.validation_y)


def test_provider_reads_the_dataset_hyperx_eval_writes(written):
    labelled = load_dataset(written / "provider.npz", "--data")
    assert labelled.x.ndim == 3 and len(labelled.x) == len(labelled.y) > 0
    # the original classes, which the extractor's class names map to the task's indices
    task = load_task(quality_config("default"), 0)
    assert set(labelled.name_of(np.unique(labelled.y))) == set(task.task_class_names)


def test_rejects_validation_labels_outside_the_task(tmp_path):
    path = tmp_path / "validation.npz"
    np.savez(path, x=np.zeros((4, 8, 8), np.float32), y=np.array([5, 6, 7, 2]))
    task = load_task(quality_config("default"), 0)
    with pytest.raises(BadInput, match="entry 3 has class '2', which is not a task class"):
        load_validation(path, task)


def test_synthetic_names_a_family_and_a_level():
    assert parse_synthetic("doping:3") == ("doping", 3)
