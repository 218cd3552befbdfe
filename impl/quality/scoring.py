"""Scores, ranking with a threshold, and the paper's selection accuracy (§5.1).

A dataset's score is the mean validation accuracy of its independent fine-tunes;
ties are broken by the lower mean validation loss. This rule was fixed before any
selection figure was computed.
"""

import itertools
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ProviderScore:
    provider: int  # position in the list of features files
    accuracy: float  # mean validation accuracy of its fine-tunes
    accuracy_spread: float  # standard deviation over those fine-tunes
    loss: float  # mean validation cross-entropy
    rank: int  # 1 = best
    eligible: bool  # accuracy >= threshold: may be chosen as the optimal provider

    def to_dict(self) -> dict:
        return asdict(self)


def order(accuracy: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Indices from best to worst: higher accuracy first, then lower loss."""
    return np.lexsort((loss, -accuracy))


def rank(accuracy: np.ndarray, loss: np.ndarray, threshold: float) -> list[ProviderScore]:
    """(P, R) per-fine-tune accuracies and losses -> providers ranked best first."""
    accuracy, loss = np.atleast_2d(accuracy), np.atleast_2d(loss)
    mean_acc, mean_loss = accuracy.mean(1), loss.mean(1)
    ranked = []
    for position, provider in enumerate(order(mean_acc, mean_loss), start=1):
        ranked.append(
            ProviderScore(
                int(provider),
                float(mean_acc[provider]),
                float(accuracy[provider].std()),
                float(mean_loss[provider]),
                position,
                bool(mean_acc[provider] >= threshold),
            )
        )
    return ranked


def optimal_provider(ranked: list[ProviderScore]) -> int | None:
    """The best eligible provider (SetCandidate's choice), or None when none passes."""
    for score in ranked:
        if score.eligible:
            return score.provider
    return None


def selection_accuracy(
    accuracy: np.ndarray, loss: np.ndarray, group_size: int = 5
) -> tuple[float, int]:
    """Fraction of the C(L, group_size) groups of datasets whose best-scored member is the
    least corrupted one (lowest level), and the number of groups.

    A tie in both accuracy and loss counts as a uniformly random pick among the tied.
    """
    levels = len(accuracy)
    hits, groups = 0.0, 0
    for group in itertools.combinations(range(levels), group_size):
        acc, los = accuracy[list(group)], loss[list(group)]
        best = [
            i
            for i in range(group_size)
            if acc[i] == acc.max() and los[i] == los[acc == acc.max()].min()
        ]
        hits += (0 in best) / len(best)
        groups += 1
    return hits / groups, groups
