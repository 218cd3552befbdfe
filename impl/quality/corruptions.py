"""The paper's heterogeneous providers (§5.1.2-5.1.4): five corruption families.

Level 0 of every family is the original dataset; higher levels are worse. The levels
were fixed before any selection figure was computed and are not tuned on results.
"""

from functools import cache

import numpy as np

from .errors import QualityError

FAMILIES = {
    # family: the corruption strength of each level
    "mislabel": tuple(i / 10 for i in range(11)),  # fraction of labels shuffled
    "noise": tuple(
        i / 10 for i in range(10)
    ),  # std of added Gaussian noise, then clipped to [0, 1]
    "pixels": tuple(i / 10 for i in range(10)),  # fraction of pixels set to zero
    "decimate": tuple(1 - i / 12 for i in range(10)),  # linear scale of the downscaled image
    "doping": tuple(i / 10 for i in range(10)),  # fraction replaced by irrelevant images
}


def num_levels(family: str) -> int:
    check_family(family)
    return len(FAMILIES[family])


def check_family(family: str) -> None:
    if family not in FAMILIES:
        raise QualityError(
            f"unknown corruption family '{family}'; choose one of {', '.join(FAMILIES)}"
        )


def mislabel(x, y, fraction, rng, num_classes):
    """Shuffle the labels of a random `fraction` of the dataset among themselves."""
    y = y.copy()
    chosen = rng.choice(len(y), size=int(round(fraction * len(y))), replace=False)
    y[chosen] = y[rng.permutation(chosen)]
    return x, y


def noise(x, y, std, rng, num_classes):
    """Additive Gaussian noise (skimage's random_noise('gaussian') clips the same way)."""
    return np.clip(x + rng.normal(0.0, std, x.shape), 0.0, 1.0).astype(np.float32), y


def pixels(x, y, fraction, rng, num_classes):
    """Set a random `fraction` of each image's pixels to zero."""
    keep = rng.random(x.shape) >= fraction
    return (x * keep).astype(np.float32), y


def decimated_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """Downscaled (h, w) whose area is close to scale^2 of the original; strictly shrinking
    areas across levels even for 8x8 images, where rounding one side alone would repeat."""
    h = max(1, int(round(height * scale)))
    w = max(1, min(width, int(round(height * width * scale * scale / h))))
    return h, w


def resize(images: np.ndarray, height: int, width: int, shrink: bool) -> np.ndarray:
    """Resize each image with Pillow: area averaging to shrink, bilinear to grow."""
    from PIL import Image

    method = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    return np.stack(
        [
            np.asarray(Image.fromarray(image, mode="F").resize((width, height), method))
            for image in images.astype(np.float32)
        ]
    )


def decimate(x, y, scale, rng, num_classes):
    """Downscale (area averaging) to `scale` of the size, then upscale back (bilinear)."""
    if scale >= 1.0:
        return x, y
    n, height, width = x.shape
    h, w = decimated_size(height, width, scale)
    back = resize(resize(x, h, w, shrink=True), height, width, shrink=False)
    return np.clip(back, 0.0, 1.0).astype(np.float32), y


@cache
def _sample_image_grey() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_sample_images

    return tuple(
        image.mean(axis=2).astype(np.float32) / 255.0 for image in load_sample_images().images
    )


def irrelevant_images(count: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Patches of scikit-learn's sample photographs, shrunk to the task's image size."""
    photos = _sample_image_grey()
    side = 4 * max(height, width)
    patches = np.empty((count, side, side), np.float32)
    for i in range(count):
        photo = photos[rng.integers(len(photos))]
        top = rng.integers(photo.shape[0] - side)
        left = rng.integers(photo.shape[1] - side)
        patches[i] = photo[top : top + side, left : left + side]
    return resize(patches, height, width, shrink=True)


def doping(x, y, fraction, rng, num_classes):
    """Replace a random `fraction` of the dataset by irrelevant images with random labels.

    The dataset keeps its size, so every provider offers the same number of entries.
    """
    x, y = x.copy(), y.copy()
    chosen = rng.choice(len(y), size=int(round(fraction * len(y))), replace=False)
    x[chosen] = irrelevant_images(len(chosen), x.shape[1], x.shape[2], rng)
    y[chosen] = rng.integers(num_classes, size=len(chosen))
    return x, y


CORRUPT = {
    "mislabel": mislabel,
    "noise": noise,
    "pixels": pixels,
    "decimate": decimate,
    "doping": doping,
}


def corrupt(
    x: np.ndarray, y: np.ndarray, family: str, level: int, seed: int, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic provider dataset of `family` at `level` (0 = the original)."""
    check_family(family)
    strengths = FAMILIES[family]
    if not 0 <= level < len(strengths):
        raise QualityError(f"level {level} out of range for '{family}' (0..{len(strengths) - 1})")
    if level == 0:
        return x.copy(), y.copy()
    rng = np.random.default_rng([seed, level, list(FAMILIES).index(family)])
    return CORRUPT[family](x, y, strengths[level], rng, num_classes)
