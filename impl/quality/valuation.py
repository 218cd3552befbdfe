"""Training-free data valuation on decoded features: KNN-Shapley, Data-OOB, duplicates.

pyDVL and OpenDataVal do not install beside this project's jax (pyDVL 0.10 pins
numpy < 2 and 0.9.2 fails on import under numpy 2; OpenDataVal pins jax 0.7, numpy
1.26 and torch 2.0), so both methods are written here from their papers, in jax, with
every pairwise-distance computation chunked so that 70,000 images fit in memory.
Both are tested against a direct computation (tests/test_quality_valuation.py).
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

PRECISION = jax.lax.Precision.HIGHEST
# Rows of the left operand per chunk of a distance matrix (memory: chunk x right rows).
DISTANCE_CHUNK = 256


def blocks_of(rows: np.ndarray, size: int = DISTANCE_CHUNK) -> np.ndarray:
    """Rows (N, ...) zero-padded and reshaped to (B, size, ...) blocks for `lax.map`."""
    size = min(size, max(len(rows), 1))
    count = -(-len(rows) // size)
    padded = np.zeros((count * size, *rows.shape[1:]), rows.dtype)
    padded[: len(rows)] = rows
    return padded.reshape(count, size, *rows.shape[1:])


def unblock(blocks, n: int) -> np.ndarray:
    blocks = np.asarray(blocks)
    return blocks.reshape(-1, *blocks.shape[2:])[:n]


def squared_distances(a: jax.Array, b: jax.Array) -> jax.Array:
    """|a_i - b_j|^2 for flattened rows, (len(a), len(b))."""
    cross = jnp.matmul(a, b.T, precision=PRECISION)
    return jnp.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * cross, 0.0)


def flat(x) -> np.ndarray:
    return np.asarray(x, np.float32).reshape(len(x), -1)


# ---------------------------------------------------------------- KNN-Shapley


def _knn_shapley_block(test_x, test_y, train_x, train_y, k: int):
    """Values of every training point for each test point of the block, (T, N); a test
    label of -1 (padding) matches nothing and so gives zeros."""
    n = train_x.shape[0]
    order = jnp.argsort(squared_distances(test_x, train_x), axis=1, stable=True)
    match = (train_y[order] == test_y[:, None]).astype(jnp.float32)  # (T, N), nearest first
    rank = jnp.arange(1, n, dtype=jnp.float32)  # i = 1 .. N-1 (1-based, nearest = 1)
    step = (match[:, :-1] - match[:, 1:]) * jnp.minimum(k, rank) / (k * rank)
    tail = match[:, -1:] / n
    # s_i = s_N + sum_{j >= i} step_j: a reversed cumulative sum.
    sorted_values = jnp.concatenate(
        [tail + jnp.cumsum(step[:, ::-1], axis=1)[:, ::-1], tail], axis=1
    )
    values = jnp.zeros_like(sorted_values)
    return jax.vmap(lambda v, o, s: v.at[o].set(s))(values, order, sorted_values)


@partial(jax.jit, static_argnames="k")
def _knn_shapley_total(test_blocks, label_blocks, train_x, train_y, k: int):
    def one(total, block):
        values = _knn_shapley_block(*block, train_x, train_y, k)
        return total + values.sum(0), None

    total, _ = jax.lax.scan(one, jnp.zeros(train_x.shape[0]), (test_blocks, label_blocks))
    return total


def knn_shapley(train_x, train_y, test_x, test_y, k: int = 5) -> np.ndarray:
    """Exact KNN-Shapley value of every training point (Jia et al., 2019, "Efficient
    task-specific data valuation for nearest neighbor algorithms", Theorem 1).

    The utility of a set S for one test point (x, y) is the soft K-NN likelihood of the
    right label, U(S) = (1/K) sum_{j <= min(K, |S|)} 1[y_{a_j(S)} = y], a_j(S) the j-th
    nearest point of S. With the training points sorted by distance to x,
    a_1 nearest, the Shapley values are the recursion

        s_{a_N} = 1[y_{a_N} = y] / N
        s_{a_i} = s_{a_{i+1}} + (1[y_{a_i} = y] - 1[y_{a_{i+1}} = y]) / K * min(K, i) / i

    and a point's value is its mean over the test points. Ties in distance go to the
    lower index. By efficiency the values sum to U(D): the soft K-NN accuracy of the
    whole training set on the test set, which is the dataset's KNN-Shapley score.
    """
    test_y = np.asarray(test_y, np.int32)
    labels = np.full(blocks_of(test_y).shape, -1, np.int32)
    labels.reshape(-1)[: len(test_y)] = test_y
    total = _knn_shapley_total(
        blocks_of(flat(test_x)),
        labels,
        jnp.asarray(flat(train_x)),
        jnp.asarray(train_y, jnp.int32),
        k,
    )
    return np.asarray(total, np.float64) / len(test_y)


# ---------------------------------------------------------------- Data-OOB


@partial(jax.jit, static_argnames=("k", "num_classes"))
def _bag_predictions(multiplicities, neighbours, neighbour_labels, k: int, num_classes: int):
    """Each bag's K-NN prediction for every point, (B, N).

    `neighbours` (N, M): each point's M nearest points (itself excluded), nearest first.
    A point drawn c times into a bag counts c times, as in a classifier fitted to the
    bootstrap sample: the K nearest drawn copies vote, ties go to the lowest class.
    """
    labels = jax.nn.one_hot(neighbour_labels, num_classes)  # (N, M, classes)

    def one_bag(multiplicity):
        counts = multiplicity[neighbours]  # (N, M)
        before = jnp.cumsum(counts, axis=1) - counts
        weights = jnp.clip(k - before, 0, counts)
        return jnp.argmax((labels * weights[..., None]).sum(1), axis=1)

    return jax.lax.map(one_bag, multiplicities)


@partial(jax.jit, static_argnames="m")
def _nearest_others(blocks, ids, everything, m: int):
    def one(block):
        rows, row_ids = block
        d = squared_distances(rows, everything)
        d = d.at[jnp.arange(len(row_ids)), row_ids].set(jnp.inf)  # never its own neighbour
        return jnp.argsort(d, axis=1, stable=True)[:, :m]

    return jax.lax.map(one, (blocks, ids))


def nearest_others(x, m: int) -> np.ndarray:
    """Each row's m nearest other rows, nearest first (ties to the lower index), (N, m)."""
    x = flat(x)
    ids = blocks_of(np.arange(len(x), dtype=np.int32))
    return unblock(_nearest_others(blocks_of(x), ids, jnp.asarray(x), m), len(x))


def data_oob(
    x, y, num_classes: int, bags: int = 64, k: int = 5, seed: int = 0, neighbours: int = 64
) -> np.ndarray:
    """Data-OOB value of every point (Kwon & Zou, 2023, "Data-OOB: Out-of-bag Estimate as
    a Simple and Efficient Data Value"), with a K-NN classifier as the bagged learner:

        psi_i = sum_b 1[i not in S_b] 1[f_b(x_i) = y_i] / sum_b 1[i not in S_b]

    S_b a bootstrap sample (N draws with replacement) and f_b the K-NN classifier fitted
    to it. Only each point's `neighbours` nearest others can vote; fewer than K of them
    drawn into a bag has a probability below 1e-20 at the defaults. A point that no bag
    leaves out (probability about e^-bags) gets NaN. The dataset's Data-OOB score is the
    mean value: the bagged learner's out-of-bag accuracy on the provider's own data.
    """
    y = np.asarray(y, np.int32)
    n = len(y)
    if n < 2:
        return np.full(n, np.nan)
    near = nearest_others(x, min(neighbours, n - 1))
    rng = np.random.default_rng(seed)
    multiplicities = np.stack(
        [np.bincount(rng.integers(n, size=n), minlength=n) for _ in range(bags)]
    )
    predicted = np.asarray(
        _bag_predictions(
            jnp.asarray(multiplicities, jnp.float32),
            jnp.asarray(near),
            jnp.asarray(y[near]),
            k,
            num_classes,
        )
    )
    out = multiplicities == 0
    hits, outs = (out & (predicted == y)).sum(0), out.sum(0)
    return np.where(outs > 0, hits / np.maximum(outs, 1), np.nan)


# ---------------------------------------------------------------- duplicates


@jax.jit
def _nearest(blocks, everything):
    return jax.lax.map(lambda rows: jnp.argmin(squared_distances(rows, everything), axis=1), blocks)


def exact_duplicates(candidates, references, tolerance: float, sketch: int = 32) -> np.ndarray:
    """Which candidate rows equal some reference row within `tolerance` (max absolute
    difference, relative to the largest reference magnitude), (N,) booleans.

    Candidates are matched to their nearest reference in a random `sketch`-dimensional
    projection (a copy lands within rounding of its original there, any other row
    orders of magnitude farther); the exact check then runs on that pair alone. The
    projection keeps the search cheap on large features (3,136 per 28x28 image at K=2).
    """
    candidates, references = flat(candidates), flat(references)
    if len(candidates) == 0 or len(references) == 0:
        return np.zeros(len(candidates), bool)
    if candidates.shape[1] > sketch:
        projection = np.random.default_rng(0).standard_normal((candidates.shape[1], sketch))
        projection = jnp.asarray(projection, jnp.float32)
        near_in = (
            np.asarray(jnp.matmul(candidates, projection, precision=PRECISION)),
            np.asarray(jnp.matmul(references, projection, precision=PRECISION)),
        )
    else:
        near_in = (candidates, references)
    nearest = unblock(_nearest(blocks_of(near_in[0]), jnp.asarray(near_in[1])), len(candidates))
    scale = max(float(np.abs(references).max()), 1e-30)
    return np.abs(candidates - references[nearest]).max(axis=1) <= tolerance * scale
