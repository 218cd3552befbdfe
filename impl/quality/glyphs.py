"""Procedural glyphs: the second embedded task, and the MNIST-format data of `make-idx`.

Everything is drawn from quadratic Bezier strokes whose shapes come from
`PROTOTYPE_SEED` (the same on every install), rendered anti-aliased in jax with a
random stroke width and ink and Gaussian noise. Nothing is downloaded, and the same
seed gives the same images on every machine.

`make-idx` (`glyph_dataset`): ten classes, each a fixed shape of three strokes; an image
is its class's shape with every control point moved, under a random rotation, scale,
shear and shift.

The embedded task (`glyph_task_images`) is built so that transfer matters: there are
ten *parts* (two strokes each). M_init learns to name a single part, drawn anywhere on
the canvas at a random angle and size (classes 0-9, 6,000 images). The collector
recruits *pairs* of parts side by side (classes 10-14, 1,500 images: parts 0+1, 0+2,
1+2, 3+4, 3+5; a pair's order and orientation vary). A head on M_init's features only
has to combine part detectors it already has; a CNN trained from scratch on a
provider's sample of a few hundred images has to learn the parts too (`bench depth`
shows both).
"""

from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from .data import Labelled

POINTS_PER_STROKE = 24
PROTOTYPE_SEED = 20240613
RENDER_BATCH = 128  # (batch, pixels, points) distances in flight: 7M floats at 28x28

# make-idx: ten classes of three strokes.
CLASSES = 10
STROKES = 3
POINT_JITTER = 0.045
MAX_ROTATION_RAD = 0.35
SCALE_RANGE = (0.8, 1.1)
MAX_SHEAR = 0.2
MAX_SHIFT = 0.08
WIDTH_RANGE = (0.03, 0.06)  # stroke half-width, of the image side
NOISE_STD = 0.08

# The embedded task: single parts to pretrain on, pairs of parts to recruit.
PARTS = 10
PART_STROKES = 2
PAIRS = ((0, 1), (0, 2), (1, 2), (3, 4), (3, 5))
PART_JITTER = 0.06
PART_ROTATION_RAD = 0.5
PART_SCALE_RANGE = (0.35, 0.5)
PART_WIDTH_RANGE = (0.025, 0.045)
PART_NOISE_STD = 0.1
EMBEDDED_PER_PART = 600
EMBEDDED_PER_PAIR = 300


@partial(jax.jit, static_argnames="size")
def _render(points, widths, ink, noise, size: int):
    """Anti-aliased strokes: each pixel is the ink of its nearest stroke sample under a
    Gaussian of the stroke width; then noise, clipped to [0, 1]."""
    grid = (jnp.arange(size) + 0.5) / size
    pixels = jnp.stack(jnp.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)[:, ::-1]
    d2 = ((pixels[None, :, None, :] - points[:, None, :, :]) ** 2).sum(-1).min(-1)
    image = ink[:, None] * jnp.exp(-d2 / (2 * widths[:, None] ** 2))
    return jnp.clip(image.reshape(-1, size, size) + noise, 0.0, 1.0)


def render(points: np.ndarray, widths, ink_range, noise_std, size: int, rng) -> np.ndarray:
    """Images (N, size, size) of stroke samples `points` (N, P, 2) in unit coordinates."""
    n = len(points)
    ink = rng.uniform(*ink_range, n)
    out = np.empty((n, size, size), np.float32)
    for start in range(0, n, RENDER_BATCH):
        rows = slice(start, start + RENDER_BATCH)
        count = len(ink[rows])
        noise = noise_std * rng.standard_normal((count, size, size), dtype=np.float32)
        out[rows] = np.asarray(
            _render(
                jnp.asarray(points[rows], jnp.float32),
                jnp.asarray(widths[rows], jnp.float32),
                jnp.asarray(ink[rows], jnp.float32),
                jnp.asarray(noise),
                size,
            )
        )
    return out


def bezier(controls: np.ndarray) -> np.ndarray:
    """Points along quadratic Bezier strokes: (..., 3, 2) controls -> (..., POINTS, 2)."""
    t = np.linspace(0.0, 1.0, POINTS_PER_STROKE)[:, None]
    p0, p1, p2 = controls[..., 0:1, :], controls[..., 1:2, :], controls[..., 2:3, :]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def rotations(angle: np.ndarray) -> np.ndarray:
    cos, sin = np.cos(angle), np.sin(angle)
    return np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)


def balanced_labels(per_class: dict[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng([PROTOTYPE_SEED, seed, 1])
    labels = np.concatenate([np.full(count, c) for c, count in per_class.items()])
    return rng.permutation(labels).astype(np.int32)


def named(x: np.ndarray, y: np.ndarray, classes: int) -> Labelled:
    return Labelled(x, y, tuple(str(c) for c in range(classes)))


# ---------------------------------------------------------------- make-idx: ten stroke glyphs


def prototypes() -> np.ndarray:
    """(CLASSES, STROKES, 3, 2) control points in the unit square, the same on every install."""
    rng = np.random.default_rng(PROTOTYPE_SEED)
    return rng.uniform(0.15, 0.85, (CLASSES, STROKES, 3, 2))


def glyphs(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Images (N, size, size) in [0, 1] of the glyph classes in `labels`."""
    rng = np.random.default_rng([PROTOTYPE_SEED, seed])
    n = len(labels)
    controls = prototypes()[labels] + rng.normal(0, POINT_JITTER, (n, STROKES, 3, 2))
    points = bezier(controls).reshape(n, -1, 2) - 0.5
    scale = rng.uniform(*SCALE_RANGE, n)
    shear = rng.uniform(-MAX_SHEAR, MAX_SHEAR, n)
    linear = rotations(rng.uniform(-MAX_ROTATION_RAD, MAX_ROTATION_RAD, n))
    linear = linear @ np.stack(
        [np.stack([np.ones(n), shear], -1), np.stack([np.zeros(n), np.ones(n)], -1)], -2
    )
    points = np.einsum("nij,npj->npi", scale[:, None, None] * linear, points)
    points += 0.5 + rng.uniform(-MAX_SHIFT, MAX_SHIFT, (n, 1, 2))
    return render(points, rng.uniform(*WIDTH_RANGE, n), (0.7, 1.0), NOISE_STD, size, rng)


def glyph_dataset(count: int, size: int, seed: int) -> Labelled:
    """`count` glyph images of all ten classes in equal shares (the data of `make-idx`)."""
    per_class = {c: count // CLASSES + (c < count % CLASSES) for c in range(CLASSES)}
    labels = balanced_labels(per_class, seed)
    return named(glyphs(labels, size, seed), labels, CLASSES)


# ---------------------------------------------------------------- the embedded task: parts and pairs


def part_prototypes() -> np.ndarray:
    """(PARTS, PART_STROKES, 3, 2) control points around the origin."""
    rng = np.random.default_rng([PROTOTYPE_SEED, 2])
    return rng.uniform(-0.5, 0.5, (PARTS, PART_STROKES, 3, 2))


def part_points(parts: np.ndarray, centres: np.ndarray, rng) -> np.ndarray:
    """Stroke samples (N, PART_STROKES * POINTS, 2) of parts placed at `centres`."""
    n = len(parts)
    controls = part_prototypes()[parts] + rng.normal(0, PART_JITTER, (n, PART_STROKES, 3, 2))
    scale = rng.uniform(*PART_SCALE_RANGE, n)
    linear = scale[:, None, None] * rotations(rng.uniform(-PART_ROTATION_RAD, PART_ROTATION_RAD, n))
    points = bezier(controls).reshape(n, -1, 2)
    return np.einsum("nij,npj->npi", linear, points) + centres[:, None, :]


def parts_and_pairs(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Images of labels 0..PARTS-1 (one part anywhere) and PARTS.. (a pair side by side)."""
    rng = np.random.default_rng([PROTOTYPE_SEED, seed, 3])
    n = len(labels)
    single = labels < PARTS
    pairs = np.asarray(PAIRS)[np.where(single, 0, labels - PARTS)]
    first = np.where(single, labels, pairs[:, 0])
    # A single part lands anywhere in the middle of the canvas; a pair side by side, in a
    # random order, left-right or top-bottom. Singles draw their one part twice.
    centres = np.stack([rng.uniform(0.25, 0.75, (n, 2)), rng.uniform(0.25, 0.75, (n, 2))], 1)
    side = np.where(rng.random((n, 1)) < 0.5, [[0.3, 0.5]], [[0.5, 0.3]])
    swap = rng.random((n, 1)) < 0.5
    near = side + rng.uniform(-0.08, 0.08, (n, 2))
    far = 1.0 - side + rng.uniform(-0.08, 0.08, (n, 2))
    centres[~single, 0] = np.where(swap, far, near)[~single]
    centres[~single, 1] = np.where(swap, near, far)[~single]
    second = np.where(single, labels, pairs[:, 1])
    points = np.concatenate(
        [part_points(first, centres[:, 0], rng), part_points(second, centres[:, 1], rng)], 1
    )
    points[single, PART_STROKES * POINTS_PER_STROKE :] = points[
        single, : PART_STROKES * POINTS_PER_STROKE
    ]
    return render(points, rng.uniform(*PART_WIDTH_RANGE, n), (0.7, 1.0), PART_NOISE_STD, size, rng)


@cache
def glyph_task_images(size: int = 28) -> Labelled:
    """The embedded glyph task's images: parts 0-9 for pretraining, pairs 10-14 for the task."""
    per_class = {c: EMBEDDED_PER_PART for c in range(PARTS)}
    per_class |= {PARTS + i: EMBEDDED_PER_PAIR for i in range(len(PAIRS))}
    labels = balanced_labels(per_class, 0)
    return named(parts_and_pairs(labels, size, 0), labels, PARTS + len(PAIRS))
