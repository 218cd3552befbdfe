"""Statistics of the benchmarks: bootstrap intervals over seeds and rank correlation.

A benchmark's unit of replication is the seed (it fixes the task split, M_init, the
corruptions, the samples and every initialisation); intervals resample seeds.
"""

import numpy as np
from scipy.stats import kendalltau

BOOTSTRAP_RESAMPLES = 10_000


def bootstrap_interval(values, level: float = 0.95, seed: int = 0) -> list[float]:
    """Percentile bootstrap interval of the mean of `values` (one per seed)."""
    values = np.asarray(values, float)
    if len(values) < 2:
        return [float(values.mean()), float(values.mean())]
    rng = np.random.default_rng(seed)
    means = values[rng.integers(len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))].mean(1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return [float(low), float(high)]


def summarize(values) -> dict:
    """Mean, 95% bootstrap interval, standard deviation and the per-seed values."""
    values = np.asarray(values, float)
    return {
        "mean": float(values.mean()),
        "ci95": bootstrap_interval(values),
        "spread": float(values.std()),
        "per_seed": [float(v) for v in values],
    }


def kendall_tau_with_level(scores) -> float:
    """Kendall's tau-b between a method's scores and the corruption level, sign flipped so
    that +1 means the score falls strictly as the corruption grows; 0 when constant."""
    scores = np.asarray(scores, float)
    if np.all(scores == scores[0]):
        return 0.0
    tau = kendalltau(-np.arange(len(scores)), scores).statistic
    return float(tau)


def paired(hits_a, hits_b) -> dict:
    """Win / tie / loss of method a against method b on the same groups (per-group hits)."""
    hits_a, hits_b = np.asarray(hits_a, float), np.asarray(hits_b, float)
    return {
        "win": int(np.sum(hits_a > hits_b)),
        "tie": int(np.sum(hits_a == hits_b)),
        "loss": int(np.sum(hits_a < hits_b)),
    }
