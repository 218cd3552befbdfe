"""Scores, ranking with a threshold, and the paper's selection accuracy (§5.1).

Every score lies in [0, 1] and reads like an accuracy on the collector's scoring split:

- `head`: M_eval's accuracy (the paper's score): the fine-tuned head, its learning rate
  and steps chosen on the tuning split, mean of its replicas;
- `knn_shapley`: the sum of the provider's KNN-Shapley values, i.e. the soft K-NN
  accuracy of its decoded features (`valuation.knn_shapley`);
- `data_oob`: the mean Data-OOB value, the out-of-bag accuracy of a bagged K-NN on the
  provider's own features (uses no validation data);
- `+`-joined names: the mean of those scores.

Which one ranks is `QualityConfig.scorer`, chosen on the tuning split by `bench selection`
(README, "Selection accuracy"). Ties are broken by the lower head validation loss, then
by the position in the list.
"""

import itertools
import math
from dataclasses import asdict, dataclass

import numpy as np

BASE_SCORES = ("head", "knn_shapley", "data_oob")
SCORERS = (
    "head",
    "knn_shapley",
    "data_oob",
    "head+knn_shapley",
    "knn_shapley+data_oob",
    "head+data_oob",
    "head+knn_shapley+data_oob",
)


def combine(scorer: str, parts: dict[str, np.ndarray]) -> np.ndarray:
    """The scorer's value from the base scores (arrays of one shape)."""
    names = scorer.split("+")
    return np.mean([np.asarray(parts[name], float) for name in names], axis=0)


@dataclass(frozen=True)
class ProviderScore:
    provider: int  # position in the list of features files
    score: float  # the ranking score (`scorer`), in [0, 1]
    scorer: str
    accuracy: float  # M_eval head: mean scoring-split accuracy of its replicas
    accuracy_spread: float  # standard deviation over those replicas
    loss: float  # M_eval head: mean scoring-split cross-entropy
    knn_shapley: float
    data_oob: float
    learning_rate: float  # chosen for the head on the tuning split
    steps: int
    entries: int  # feature rows scored
    duplicates: int  # rows equal to a validation item: left out of every score
    rank: int  # 1 = best
    eligible: bool  # score >= threshold and rows left to score

    def to_dict(self) -> dict:
        """As JSON-safe values (a figure that could not be computed is None)."""
        return {
            key: (None if isinstance(value, float) and not math.isfinite(value) else value)
            for key, value in asdict(self).items()
        }


def order(score: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Indices from best to worst: higher score first, then lower loss (NaN last)."""
    score = np.nan_to_num(np.asarray(score, float), nan=-np.inf)
    loss = np.nan_to_num(np.asarray(loss, float), nan=np.inf)
    return np.lexsort((loss, -score))


def rank(fields: dict[str, np.ndarray], scorer: str, threshold: float) -> list[ProviderScore]:
    """Per-provider figures (arrays of length P) -> providers ranked best first."""
    score = combine(scorer, fields)
    ranked = []
    for position, p in enumerate(order(score, fields["loss"]), start=1):
        ranked.append(
            ProviderScore(
                provider=int(p),
                score=float(score[p]),
                scorer=scorer,
                accuracy=float(fields["head"][p]),
                accuracy_spread=float(fields["accuracy_spread"][p]),
                loss=float(fields["loss"][p]),
                knn_shapley=float(fields["knn_shapley"][p]),
                data_oob=float(fields["data_oob"][p]),
                learning_rate=float(fields["learning_rate"][p]),
                steps=int(fields["steps"][p]),
                entries=int(fields["entries"][p]),
                duplicates=int(fields["duplicates"][p]),
                rank=position,
                eligible=bool(fields["entries"][p] > 0 and score[p] >= threshold),
            )
        )
    return ranked


def optimal_provider(ranked: list[ProviderScore]) -> int | None:
    """The best eligible provider (SetCandidate's choice), or None when none passes."""
    for score in ranked:
        if score.eligible:
            return score.provider
    return None


def group_hits(score: np.ndarray, loss: np.ndarray, group_size: int = 5) -> np.ndarray:
    """For every C(L, group_size) group of datasets (levels in increasing corruption), how
    much of a pick lands on the least corrupted member: 1, 0, or 1/t when it ties with
    t - 1 others in both score and loss (a uniformly random pick among the tied)."""
    score, loss = np.asarray(score, float), np.asarray(loss, float)
    hits = []
    for group in itertools.combinations(range(len(score)), group_size):
        s, lo = score[list(group)], loss[list(group)]
        top = s == s.max()
        best = top & (lo == lo[top].min())
        hits.append(best[0] / best.sum())
    return np.asarray(hits)


def selection_accuracy(
    accuracy: np.ndarray, loss: np.ndarray, group_size: int = 5
) -> tuple[float, int]:
    """Fraction of the C(L, group_size) groups of datasets whose best-scored member is the
    least corrupted one (lowest level), and the number of groups."""
    hits = group_hits(accuracy, loss, group_size)
    return float(hits.mean()), len(hits)
