"""Providers sharded over two devices (`jax.sharding`) give the single-device scores.

XLA_FLAGS must be set before jax is imported, so the two-device run is a subprocess that
imports this file and calls `scores()`; the one-device run is this test process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def scores() -> dict:
    import jax

    from hyperx.impl.quality import data, pipeline
    from hyperx.impl.quality.config import QualityConfig
    from hyperx.impl.quality.train import provider_mesh

    config = QualityConfig.tiny().replace(pretrain_steps=0)  # a random M_init will do
    task = data.make_task(*data.load_digits_images(), config, seed=0)
    m_init = pipeline.pretrain(config, task, seed=0)
    extractor, secret = pipeline.publish(m_init, 2, seed=1)
    features = []
    for level in (0, 4, 10):  # three providers: an odd count is padded to the device count
        x, y = pipeline.provider_dataset(config, task, "mislabel", level, seed=0)
        features.append(pipeline.extract_features(extractor, x, y, np.arange(0, len(x), 4)))
    ranked = pipeline.score_providers(
        secret, m_init, features, (task.validation_x, task.validation_y), config
    )
    mesh = provider_mesh()
    return {
        "devices": jax.device_count(),
        "mesh": None if mesh is None else dict(mesh.shape),
        "scores": {str(s.provider): [s.accuracy, s.loss] for s in ranked},
    }


def test_two_devices_shard_providers_and_agree_with_one():
    code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_quality_sharding as t; print(json.dumps(t.scores()))"
    env = dict(
        os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    two = json.loads(done.stdout.strip().splitlines()[-1])
    one = scores()
    assert one["devices"] == 1 and one["mesh"] is None
    assert two["devices"] == 2 and two["mesh"] == {"providers": 2}
    assert one["scores"].keys() == two["scores"].keys() == {"0", "1", "2"}
    for provider, (accuracy, loss) in one["scores"].items():
        other_accuracy, other_loss = two["scores"][provider]
        assert (
            abs(accuracy - other_accuracy) <= 2 / 358
        )  # a validation image may flip on a float tie
        np.testing.assert_allclose(loss, other_loss, rtol=1e-3)
