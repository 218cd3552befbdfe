"""Procedural glyphs: the second embedded task, and the MNIST-format data of `make-idx`.

Ten glyph classes, each a fixed shape of three quadratic Bezier strokes drawn from
`PROTOTYPE_SEED` (so every install has the same classes). An image of class c is its
prototype with every control point moved (Gaussian, `POINT_JITTER` of the image side),
a random affine map (rotation, scale, shear, shift), a random stroke width and ink,
rendered anti-aliased and with Gaussian noise. Nothing is downloaded; the same seed
gives the same images on every machine (numpy's generator, float32 rendering in jax).

The embedded task (`glyph_task_images`): M_init learns glyphs 0-4 from 6,000 images,
the collector recruits glyphs 5-9, 1,000 images of which the task keeps 600 as the
providers' pool and 400 for validation. Each provider's 25% sample is 150 images, too
few to train the CNN from scratch well, which is where M_init's features help
(`bench depth` shows both numbers).
"""

from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from .data import Labelled

CLASSES = 10
STROKES = 3
POINTS_PER_STROKE = 24
PROTOTYPE_SEED = 20240613
POINT_JITTER = 0.045
MAX_ROTATION_RAD = 0.35
SCALE_RANGE = (0.8, 1.1)
MAX_SHEAR = 0.2
MAX_SHIFT = 0.08
WIDTH_RANGE = (0.03, 0.06)  # stroke half-width, of the image side
NOISE_STD = 0.08
RENDER_BATCH = 128  # (batch, pixels, points) distances in flight: 7M floats at 28x28
EMBEDDED_PRETRAIN_PER_CLASS = 1200
EMBEDDED_TASK_PER_CLASS = 200


def prototypes() -> np.ndarray:
    """(CLASSES, STROKES, 3, 2) control points in the unit square, the same on every install."""
    rng = np.random.default_rng(PROTOTYPE_SEED)
    return rng.uniform(0.15, 0.85, (CLASSES, STROKES, 3, 2))


@partial(jax.jit, static_argnames="size")
def _render(points, widths, ink, noise, size: int):
    """Anti-aliased strokes: each pixel is the ink of its nearest stroke sample under a
    Gaussian of the stroke width; then noise, clipped to [0, 1]."""
    grid = (jnp.arange(size) + 0.5) / size
    pixels = jnp.stack(jnp.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)[:, ::-1]
    d2 = ((pixels[None, :, None, :] - points[:, None, :, :]) ** 2).sum(-1).min(-1)
    image = ink[:, None] * jnp.exp(-d2 / (2 * widths[:, None] ** 2))
    return jnp.clip(image.reshape(-1, size, size) + noise, 0.0, 1.0)


def bezier(controls: np.ndarray) -> np.ndarray:
    """Points along quadratic Bezier strokes: (..., 3, 2) controls -> (..., POINTS, 2)."""
    t = np.linspace(0.0, 1.0, POINTS_PER_STROKE)[:, None]
    p0, p1, p2 = controls[..., 0:1, :], controls[..., 1:2, :], controls[..., 2:3, :]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def glyphs(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Images (N, size, size) in [0, 1] of the glyph classes in `labels`."""
    rng = np.random.default_rng([PROTOTYPE_SEED, seed])
    n = len(labels)
    controls = prototypes()[labels] + rng.normal(0, POINT_JITTER, (n, STROKES, 3, 2))
    points = bezier(controls).reshape(n, -1, 2) - 0.5
    angle = rng.uniform(-MAX_ROTATION_RAD, MAX_ROTATION_RAD, n)
    scale = rng.uniform(*SCALE_RANGE, n)
    shear = rng.uniform(-MAX_SHEAR, MAX_SHEAR, n)
    cos, sin = np.cos(angle), np.sin(angle)
    linear = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    linear = linear @ np.stack(
        [np.stack([np.ones(n), shear], -1), np.stack([np.zeros(n), np.ones(n)], -1)], -2
    )
    points = np.einsum("nij,npj->npi", scale[:, None, None] * linear, points)
    points += 0.5 + rng.uniform(-MAX_SHIFT, MAX_SHIFT, (n, 1, 2))
    widths = rng.uniform(*WIDTH_RANGE, n)
    ink = rng.uniform(0.7, 1.0, n)
    out = np.empty((n, size, size), np.float32)
    for start in range(0, n, RENDER_BATCH):
        rows = slice(start, start + RENDER_BATCH)
        count = len(widths[rows])
        noise = NOISE_STD * rng.standard_normal((count, size, size), dtype=np.float32)
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


def balanced_labels(per_class: dict[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng([PROTOTYPE_SEED, seed, 1])
    labels = np.concatenate([np.full(count, c) for c, count in per_class.items()])
    return rng.permutation(labels).astype(np.int32)


@cache
def glyph_task_images(size: int = 28) -> Labelled:
    """The embedded glyph task's images: glyphs 0-4 for pretraining, 5-9 for the task."""
    per_class = {c: EMBEDDED_PRETRAIN_PER_CLASS for c in range(5)}
    per_class |= {c: EMBEDDED_TASK_PER_CLASS for c in range(5, CLASSES)}
    labels = balanced_labels(per_class, 0)
    return Labelled(glyphs(labels, size, 0), labels, tuple(str(c) for c in range(CLASSES)))


def glyph_dataset(count: int, size: int, seed: int) -> Labelled:
    """`count` glyph images of all ten classes in equal shares (the data of `make-idx`)."""
    per_class = {c: count // CLASSES + (c < count % CLASSES) for c in range(CLASSES)}
    labels = balanced_labels(per_class, seed)
    return Labelled(glyphs(labels, size, seed), labels, tuple(str(c) for c in range(CLASSES)))
