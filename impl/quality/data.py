"""Input pipeline: the embedded digits task and loaders for a user's `--data-dir`.

Images are float32 arrays (N, H, W) of grey levels in [0, 1]; labels are int32.
"""

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import QualityConfig
from .errors import QualityError


@dataclass(frozen=True)
class Task:
    """The collector's setting: M_init's generic data and the recruited task's data.

    Labels of both halves are renumbered 0..n-1 in the order of the config's classes.
    `pool` is the original dataset every synthetic provider dataset derives from;
    `validation` is the collector's own held-out set (never given to providers).
    """

    pretrain_x: np.ndarray
    pretrain_y: np.ndarray
    pretrain_test_x: np.ndarray
    pretrain_test_y: np.ndarray
    pool_x: np.ndarray
    pool_y: np.ndarray
    validation_x: np.ndarray
    validation_y: np.ndarray

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.pool_x.shape[1], self.pool_x.shape[2]


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (ships with the library: no download)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int32)


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        raw = stream.read()
    if len(raw) < 8:
        raise QualityError(f"{path}: not an idx file (too short)")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise QualityError(f"{path}: not an unsigned-byte idx file of 1 or 3 dimensions")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise QualityError(f"{path}: header says {shape} but the file holds {body.size} bytes")
    return body.reshape(shape)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        if (directory / name).exists():
            return directory / name
    return None


def load_mnist_idx(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    """The four standard MNIST idx files (raw or .gz), train and test concatenated."""
    parts = []
    for prefix in ("train", "t10k"):
        images = _find_idx(directory, f"{prefix}-images-idx3-ubyte")
        labels = _find_idx(directory, f"{prefix}-labels-idx1-ubyte")
        if images is None or labels is None:
            raise QualityError(
                f"{directory}: missing {prefix}-images-idx3-ubyte or {prefix}-labels-idx1-ubyte (raw or .gz)"
            )
        x, y = _read_idx(images), _read_idx(labels)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise QualityError(
                f"{directory}: {prefix} images {x.shape} and labels {y.shape} do not match"
            )
        parts.append((x, y))
    x = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0
    y = np.concatenate([p[1] for p in parts]).astype(np.int32)
    return x, y


def load_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """An .npz with `x` (N, H, W) images and `y` (N,) integer labels."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise QualityError(f"{path}: not a readable .npz file ({error})") from None
    for key in ("x", "y"):
        if key not in archive:
            raise QualityError(f"{path}: missing array '{key}' (expected x: images, y: labels)")
    return check_images(archive["x"], archive["y"], str(path))


def load_image_folder(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    """One sub-folder per class; folder names that are all integers are the labels."""
    from PIL import Image

    classes = sorted(p for p in directory.iterdir() if p.is_dir())
    if not classes:
        raise QualityError(f"{directory}: no class sub-folders")
    names = [c.name for c in classes]
    labels_of = (
        {n: int(n) for n in names}
        if all(n.isdigit() for n in names)
        else {n: i for i, n in enumerate(names)}
    )
    images, labels = [], []
    for folder in classes:
        for file in sorted(folder.iterdir()):
            if file.is_file():
                with Image.open(file) as image:
                    images.append(np.asarray(image.convert("L"), dtype=np.float32) / 255.0)
                labels.append(labels_of[folder.name])
    shapes = {i.shape for i in images}
    if len(shapes) != 1:
        raise QualityError(
            f"{directory}: images have different sizes {sorted(shapes)}; resize them to one size"
        )
    return np.stack(images), np.asarray(labels, dtype=np.int32)


def check_images(x, y, where: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 3:
        raise QualityError(f"{where}: images must have shape (N, H, W), got {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise QualityError(f"{where}: labels must have shape ({len(x)},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise QualityError(f"{where}: labels must be integers, got {y.dtype}")
    x = x.astype(np.float32)
    if x.size and x.max() > 1.0:
        x = x / 255.0
    return x, y.astype(np.int32)


def load_images(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch on what `path` is: an .npz, a folder of MNIST idx files, or a class folder."""
    path = Path(path)
    if not path.exists():
        raise QualityError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix != ".npz":
            raise QualityError(
                f"{path}: expected an .npz file, an MNIST idx folder or a class folder"
            )
        return load_npz(path)
    if _find_idx(path, "train-images-idx3-ubyte") is not None:
        return load_mnist_idx(path)
    return load_image_folder(path)


def load_dataset(dataset: str, data_dir: str | Path | None) -> tuple[np.ndarray, np.ndarray]:
    if data_dir is not None:
        return load_images(data_dir)
    if dataset == "digits":
        return load_digits_images()
    raise QualityError(
        f"dataset '{dataset}' is not embedded; pass --data-dir (only 'digits' ships with scikit-learn)"
    )


def _split(
    rng: np.random.Generator, n: int, held_out_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    held = int(round(n * held_out_fraction))
    return np.sort(order[held:]), np.sort(order[:held])


def make_task(x: np.ndarray, y: np.ndarray, config: QualityConfig, seed: int) -> Task:
    """Split images into M_init's generic classes and the collector's task classes."""
    rng = np.random.default_rng(seed)
    for name, classes in (("pretrain", config.pretrain_classes), ("task", config.task_classes)):
        missing = [c for c in classes if not np.any(y == c)]
        if missing:
            raise QualityError(f"the data has no image of {name} class(es) {missing}")
    halves = []
    for classes, fraction in (
        (config.pretrain_classes, config.pretrain_test_fraction),
        (config.task_classes, config.validation_fraction),
    ):
        chosen = np.flatnonzero(np.isin(y, classes))
        lookup = {c: i for i, c in enumerate(classes)}
        relabel = np.array([lookup[int(v)] for v in y[chosen]], dtype=np.int32)
        keep, held = _split(rng, len(chosen), fraction)
        halves.append((x[chosen[keep]], relabel[keep], x[chosen[held]], relabel[held]))
    (px, py, ptx, pty), (qx, qy, vx, vy) = halves
    return Task(px, py, ptx, pty, qx, qy, vx, vy)


def save_npz(path: str | Path, x: np.ndarray, y: np.ndarray) -> None:
    with open(path, "wb") as stream:
        np.savez_compressed(stream, x=x, y=y)
