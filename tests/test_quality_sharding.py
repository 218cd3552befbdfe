"""Providers sharded over two devices (`jax.sharding`) give the single-device scores.

XLA_FLAGS must be set before jax is imported, so the two-device run is a subprocess."""

import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = """
import json, sys
import jax
import numpy as np
from hyperx.impl.quality import data, pipeline
from hyperx.impl.quality.config import QualityConfig
from hyperx.impl.quality.train import provider_mesh

config = QualityConfig.tiny().replace(pretrain_steps=0, finetune_steps=40)  # a random M_init will do
x, y = data.load_digits_images()
task = data.make_task(x, y, config, seed=0)
m_init = pipeline.pretrain(config, task, seed=0)
extractor, secret = pipeline.publish(m_init, 2, seed=1)
features = []
for level in (0, 4, 10):  # three providers: an odd count is padded to the device count
    px, py = pipeline.provider_dataset(config, task, "mislabel", level, seed=0)
    features.append(pipeline.extract_features(extractor, px, py, np.arange(0, len(px), 5)))
ranked = pipeline.score_providers(secret, m_init, features, (task.validation_x, task.validation_y), config)
mesh = provider_mesh()
print(json.dumps({
    "devices": jax.device_count(),
    "mesh": None if mesh is None else dict(mesh.shape),
    "scores": {s.provider: [s.accuracy, s.loss] for s in sorted(ranked, key=lambda s: s.provider)},
}))
"""


def run(devices: int) -> dict:
    env = dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        JAX_PLATFORMS="cpu",
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_devices_shard_providers_and_agree_with_one():
    one, two = run(1), run(2)
    assert one["devices"] == 1 and one["mesh"] is None
    assert two["devices"] == 2 and two["mesh"] == {"providers": 2}
    assert one["scores"].keys() == two["scores"].keys() == {"0", "1", "2"}
    for provider, (accuracy, loss) in one["scores"].items():
        other_accuracy, other_loss = two["scores"][provider]
        assert (
            abs(accuracy - other_accuracy) <= 2 / 358
        )  # a validation image may flip on a float tie
        np.testing.assert_allclose(loss, other_loss, rtol=1e-3)
