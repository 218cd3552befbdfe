"""The paper's baselines (§5.1.1), trained the same way as M_eval: one compiled program.

Train-Whole: the CNN trained from scratch on a provider's whole dataset (what a
collector could do if it saw every dataset, a hypothetical reference).
Scratch-Subset: the same CNN trained from scratch on the sampled subset only (the
strawman of §3.1.1). Both use M_init's architecture with the task's output layer,
the same number of independent fine-tunes as HyperX, and the collector's validation set.
"""

import dataclasses

import jax
import numpy as np
from flax import nnx

from .config import QualityConfig
from .models import CNN, Architecture
from .train import Hyper, fit_and_score, stack_states


def scratch_states(arch: Architecture, replicas: int, seed: int):
    states = []
    for replica in range(replicas):
        graphdef, state = nnx.split(
            CNN(arch, rngs=nnx.Rngs(jax.random.fold_in(jax.random.key(seed), replica)))
        )
        states.append(state)
    return graphdef, stack_states(states)


def train_from_scratch(
    arch: Architecture,
    datasets: list[tuple[np.ndarray, np.ndarray]],
    validation,
    config: QualityConfig,
    seed: int,
    num_classes: int,
    rows: int | None = None,
    providers: int | None = None,
):
    """(accuracy, loss) of shape (P, R) for CNNs trained from scratch on each dataset."""
    arch = dataclasses.replace(arch, num_classes=num_classes)
    graphdef, states = scratch_states(arch, config.finetunes_per_dataset, seed)
    keys = jax.random.split(jax.random.key(seed + 7919), config.finetunes_per_dataset)
    hyper = Hyper(config.baseline_steps, config.baseline_batch, config.baseline_learning_rate)
    accuracy, loss, _ = fit_and_score(
        graphdef,
        states,
        keys,
        datasets,
        np.asarray(validation[0], np.float32),
        np.asarray(validation[1], np.int32),
        hyper,
        rows=rows,
        providers=providers,
    )
    return accuracy, loss
