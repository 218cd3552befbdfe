"""The paper's baselines (§5.1.1), trained the same way as M_eval: one compiled program.

Train-Whole: the CNN trained from scratch on a provider's whole dataset (what a
collector could do if it saw every dataset, a hypothetical reference).
Scratch-Subset: the same CNN trained from scratch on the sampled subset only (the
strawman of §3.1.1). Both use M_init's architecture with the task's output layer,
the same budget, replicas and rule for the learning rate and the steps as HyperX's
head (`train.Budget`), and the collector's tuning and scoring splits.
"""

import dataclasses

import jax
import numpy as np
from flax import nnx

from .config import QualityConfig
from .models import CNN, Architecture
from .train import FitResult, fit, stack_states


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
    tuning: tuple[np.ndarray, np.ndarray],
    scoring: tuple[np.ndarray, np.ndarray],
    config: QualityConfig,
    seed: int,
    num_classes: int,
    rows: int | None = None,
    providers: int | None = None,
) -> FitResult:
    """CNNs trained from scratch on each dataset, scored on both splits at every checkpoint."""
    arch = dataclasses.replace(arch, num_classes=num_classes)
    graphdef, states = scratch_states(arch, config.replicas, seed)
    keys = jax.random.split(jax.random.key(seed + 7919), config.replicas)
    return fit(
        graphdef,
        states,
        keys,
        datasets,
        tuning,
        scoring,
        config.budget(),
        rows=rows,
        providers=providers,
    )
