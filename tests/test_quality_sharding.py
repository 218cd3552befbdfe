"""Providers sharded over two devices (`jax.sharding`), and over two processes under
`jax.distributed` (coordinator on 127.0.0.1), give the scores one device gives.

XLA_FLAGS and `jax.distributed.initialize` must come before jax computes anything, so
the sharded runs are subprocesses that import this file and call `scores()` on the
artifacts the test process made (the same M_init, extractor, secret and features: the
secret comes from OS entropy, so each process publishing its own would differ by float
rounding). The config trains one learning rate and scores once at the end, so that no
early-stopping choice can turn a float rounding difference into a different checkpoint.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent


def config():
    from hyperx.impl.quality.config import QualityConfig

    # A random M_init will do; one learning rate, one checkpoint.
    return QualityConfig.tiny().replace(
        pretrain_steps=0, learning_rates=(3e-3,), max_steps=100, eval_every=100
    )


def make_artifacts(directory: Path) -> None:
    from hyperx.impl.quality import data, pipeline

    task = data.make_task(*data.load_digits_images(), config(), seed=0)
    m_init = pipeline.pretrain(config(), task, seed=0)
    extractor, secret = pipeline.publish(m_init, 2)
    features = []
    for level in (0, 4, 10):  # three providers: an odd count is padded to the device count
        x, y = pipeline.provider_dataset(config(), task, "mislabel", level, seed=0)
        features.append(pipeline.extract_features(extractor, x, y, np.arange(0, len(x), 4)))
    np.savez(directory / "validation.npz", x=task.validation_x, y=task.validation_y)
    for name, blob in (("m_init", m_init), ("secret", secret)):
        (directory / name).write_bytes(blob)
    for i, blob in enumerate(features):
        (directory / f"features{i}").write_bytes(blob)


def scores(directory: str) -> dict:
    import jax

    from hyperx.impl.quality import pipeline
    from hyperx.impl.quality.train import provider_mesh

    directory = Path(directory)
    validation = np.load(directory / "validation.npz")
    ranked = pipeline.score_providers(
        (directory / "secret").read_bytes(),
        (directory / "m_init").read_bytes(),
        [(directory / f"features{i}").read_bytes() for i in range(3)],
        (validation["x"], validation["y"]),
        config(),
    )
    mesh = provider_mesh()
    return {
        "devices": jax.device_count(),
        "processes": jax.process_count(),
        "mesh": None if mesh is None else dict(mesh.shape),
        "scores": {
            str(s.provider): [s.accuracy, s.loss, s.knn_shapley, s.data_oob] for s in ranked
        },
    }


def call_scores(directory: Path, prelude: str = "") -> str:
    return (
        f"import json, sys; sys.path.insert(0, {str(HERE)!r}); {prelude}"
        f"import test_quality_sharding as t; print('SCORES', json.dumps(t.scores({str(directory)!r})))"
    )


def parse(stdout: str) -> dict:
    line = [line for line in stdout.splitlines() if line.startswith("SCORES ")][-1]
    return json.loads(line.removeprefix("SCORES "))


def assert_same_scores(one: dict, other: dict) -> None:
    scoring_rows = 179  # the digits task's scoring split
    assert one["scores"].keys() == other["scores"].keys() == {"0", "1", "2"}
    for provider, (accuracy, loss, knn, oob) in one["scores"].items():
        other_accuracy, other_loss, other_knn, other_oob = other["scores"][provider]
        # a scoring image may flip on a float tie between differently batched programs
        assert abs(accuracy - other_accuracy) <= 2 / scoring_rows
        np.testing.assert_allclose(loss, other_loss, rtol=1e-3)
        np.testing.assert_allclose([knn, oob], [other_knn, other_oob], rtol=1e-6)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sharding")
    make_artifacts(directory)
    return directory


@pytest.fixture(scope="module")
def one_device(artifacts):
    one = scores(str(artifacts))
    assert one["devices"] == 1 and one["mesh"] is None and one["processes"] == 1
    return one


def test_two_devices_shard_providers_and_agree_with_one(artifacts, one_device):
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu"
    )
    done = subprocess.run(
        [sys.executable, "-c", call_scores(artifacts)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    two = parse(done.stdout)
    assert two["devices"] == 2 and two["mesh"] == {"providers": 2}
    assert_same_scores(one_device, two)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_under_jax_distributed_gather_the_scores_of_one(artifacts, one_device):
    port = free_port()
    runs = []
    for process in range(2):
        prelude = (
            "import jax; jax.config.update('jax_cpu_collectives_implementation', 'gloo'); "
            f"jax.distributed.initialize(coordinator_address='127.0.0.1:{port}', "
            f"num_processes=2, process_id={process}); "
        )
        runs.append(
            subprocess.Popen(
                [sys.executable, "-c", call_scores(artifacts, prelude)],
                env=dict(os.environ, JAX_PLATFORMS="cpu"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr[-2000:]
        outputs.append(parse(stdout))
    for gathered in outputs:
        assert gathered["processes"] == 2 and gathered["devices"] == 2
        assert gathered["mesh"] == {"providers": 2}
        assert_same_scores(one_device, gathered)
