"""KNN-Shapley and Data-OOB against direct computations, duplicate detection, and the
statistics of the benchmarks."""

import itertools
import math

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from hyperx.impl.quality import scoring, stats
from hyperx.impl.quality.valuation import data_oob, exact_duplicates, knn_shapley


def soft_knn_utility(subset, train_x, train_y, test_x, test_y, k):
    """U(S) of Jia et al. (2019): the mean over test points of the share of the K nearest
    points of S (ties to the lower index) that carry the test point's label."""
    if not subset:
        return 0.0
    subset = sorted(subset)
    total = 0.0
    for x, y in zip(test_x, test_y, strict=True):
        distances = [float(np.sum((train_x[i] - x) ** 2)) for i in subset]
        nearest = [subset[j] for j in np.argsort(distances, kind="stable")[:k]]
        total += sum(train_y[i] == y for i in nearest) / k
    return total / len(test_x)


def brute_force_shapley(train_x, train_y, test_x, test_y, k):
    """Shapley values by definition: the mean marginal utility over every ordering."""
    n = len(train_x)
    values = np.zeros(n)
    for ordering in itertools.permutations(range(n)):
        before = []
        for i in ordering:
            values[i] += soft_knn_utility(
                before + [i], train_x, train_y, test_x, test_y, k
            ) - soft_knn_utility(before, train_x, train_y, test_x, test_y, k)
            before.append(i)
    return values / math.factorial(n)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_knn_shapley_equals_the_shapley_values_by_definition(k):
    rng = np.random.default_rng(k)
    train_x, test_x = rng.normal(size=(6, 4)), rng.normal(size=(3, 4))
    train_y, test_y = rng.integers(0, 2, 6), rng.integers(0, 2, 3)
    fast = knn_shapley(train_x, train_y, test_x, test_y, k)
    exact = brute_force_shapley(train_x, train_y, test_x, test_y, k)
    np.testing.assert_allclose(fast, exact, atol=1e-6)
    # Efficiency: the values add up to the utility of the whole set.
    whole = soft_knn_utility(list(range(6)), train_x, train_y, test_x, test_y, k)
    assert fast.sum() == pytest.approx(whole, abs=1e-6)


def test_knn_shapley_values_a_mislabelled_point_below_its_neighbours():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [5.0, 5.0]])
    train_y = np.repeat([0, 1], 20)
    train_x = centres[train_y] + rng.normal(scale=0.5, size=(40, 2))
    test_y = np.repeat([0, 1], 10)
    test_x = centres[test_y] + rng.normal(scale=0.5, size=(20, 2))
    flipped = train_y.copy()
    flipped[3] = 1
    values = knn_shapley(train_x, flipped, test_x, test_y, 5)
    assert np.argmin(values) == 3 and values[3] < np.median(values) / 2


def direct_data_oob(x, y, bags, k, seed):
    """Data-OOB by definition, with scikit-learn's K-NN classifier fitted to each bag."""
    n = len(y)
    rng = np.random.default_rng(seed)
    hits, outs = np.zeros(n), np.zeros(n)
    for _ in range(bags):
        multiplicity = np.bincount(rng.integers(n, size=n), minlength=n)
        drawn = np.repeat(np.arange(n), multiplicity)
        model = KNeighborsClassifier(n_neighbors=k).fit(x[drawn], y[drawn])
        out = np.flatnonzero(multiplicity == 0)
        hits[out] += model.predict(x[out]) == y[out]
        outs[out] += 1
    return hits / outs


def test_data_oob_equals_the_direct_computation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 5))
    y = (x[:, 0] + 0.5 * rng.normal(size=30) > 0).astype(np.int32) + 2 * (x[:, 1] > 0.5)
    fast = data_oob(x, y, num_classes=4, bags=40, k=3, seed=11)
    np.testing.assert_allclose(fast, direct_data_oob(x, y, 40, 3, 11), atol=1e-12)


def test_data_oob_values_shuffled_labels_lower():
    rng = np.random.default_rng(5)
    centres = rng.normal(scale=4, size=(3, 8))
    y = rng.integers(0, 3, 200)
    x = centres[y] + rng.normal(size=(200, 8))
    clean = np.nanmean(data_oob(x, y, 3, bags=32, seed=0))
    shuffled = y.copy()
    shuffled[:100] = rng.permutation(shuffled[:100])
    assert clean > 0.95 and np.nanmean(data_oob(x, shuffled, 3, bags=32, seed=0)) < clean - 0.2


@pytest.mark.parametrize("side", [3, 12])  # 9 features compared directly, 144 through a sketch
def test_exact_duplicates_flags_copies_not_neighbours(side):
    rng = np.random.default_rng(1)
    references = rng.normal(size=(50, side, side)).astype(np.float32)
    candidates = rng.normal(size=(20, side, side)).astype(np.float32)
    candidates[[2, 7]] = references[[10, 41]] * (1 + 1e-7)  # decoding rounds a few ulps
    candidates[5] = references[3] + 0.01  # close, not equal
    flagged = exact_duplicates(candidates, references, 1e-4)
    assert np.flatnonzero(flagged).tolist() == [2, 7]


def test_bootstrap_interval_covers_the_mean_and_narrows_with_seeds():
    rng = np.random.default_rng(0)
    few, many = rng.normal(0.8, 0.1, 5), rng.normal(0.8, 0.1, 200)
    for values in (few, many):
        low, high = stats.bootstrap_interval(values)
        assert low < values.mean() < high
    assert np.diff(stats.bootstrap_interval(many)) < np.diff(stats.bootstrap_interval(few))


def test_kendall_tau_and_paired_counts():
    assert stats.kendall_tau_with_level([0.9, 0.8, 0.5, 0.1]) == pytest.approx(1.0)
    assert stats.kendall_tau_with_level([0.1, 0.5, 0.8, 0.9]) == pytest.approx(-1.0)
    assert stats.kendall_tau_with_level([0.5, 0.5, 0.5]) == 0.0
    assert stats.paired([1, 0.5, 0, 1], [1, 1, 1, 0]) == {"win": 1, "tie": 1, "loss": 2}


def test_group_hits_split_ties_and_combined_scorers():
    hits = scoring.group_hits(np.array([0.9, 0.9, 0.1, 0.1, 0.1]), np.array([0.3, 0.3, 1, 1, 1]))
    assert hits.tolist() == [0.5]
    parts = {"head": np.array([0.2, 0.4]), "knn_shapley": np.array([0.6, 0.0])}
    np.testing.assert_allclose(scoring.combine("head+knn_shapley", parts), [0.4, 0.2])
    assert set(scoring.BASE_SCORES) == {s for name in scoring.SCORERS for s in name.split("+")}
