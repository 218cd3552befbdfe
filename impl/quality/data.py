"""Input pipeline: the embedded tasks and loaders for a user's `--data-dir`.

Images are float32 arrays (N, H, W) of grey levels in [0, 1]; labels are int32 codes
and every loader also returns each code's class name (`Labelled`), so that a class is
named the same way in the user's files, on the command line and in the checkpoints.
"""

import gzip
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import QualityConfig
from .errors import QualityError


@dataclass(frozen=True)
class Labelled:
    """Images with integer label codes; `names[code]` is the class name of a code.

    Integer labels (idx, .npz, digits) are their own codes and are named by their
    decimal value; class folders and string labels are named by themselves.
    """

    x: np.ndarray
    y: np.ndarray
    names: tuple[str, ...]

    def name_of(self, codes) -> list[str]:
        return [self.names[int(c)] for c in codes]


@dataclass(frozen=True)
class Task:
    """The collector's setting: M_init's generic data and the recruited task's data.

    Labels of both halves are renumbered 0..n-1 in the order of the config's classes
    (`pretrain_class_names[i]` / `task_class_names[i]` name index i). `pool` is the
    original dataset every synthetic provider dataset derives from; `validation` is the
    collector's own held-out set (never given to providers).
    """

    pretrain_x: np.ndarray
    pretrain_y: np.ndarray
    pretrain_test_x: np.ndarray
    pretrain_test_y: np.ndarray
    pool_x: np.ndarray
    pool_y: np.ndarray
    validation_x: np.ndarray
    validation_y: np.ndarray
    pretrain_class_names: tuple[str, ...] = ()
    task_class_names: tuple[str, ...] = ()

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.pool_x.shape[1], self.pool_x.shape[2]


def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (ships with the library: no download)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32), digits.target.astype(np.int32)


def numbered(x: np.ndarray, y: np.ndarray) -> Labelled:
    """Integer labels named by their decimal value."""
    names = tuple(str(i) for i in range(int(y.max(initial=-1)) + 1))
    return Labelled(x, y, names)


# ---------------------------------------------------------------- idx (the MNIST format)


IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError, zlib.error) as error:
        raise QualityError(f"{path}: cannot be read ({error})") from None
    if len(raw) < 8:
        raise QualityError(f"{path}: not an idx file (too short)")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise QualityError(f"{path}: not an unsigned-byte idx file of 1 or 3 dimensions")
    if len(raw) < 4 + 4 * ndim:
        raise QualityError(f"{path}: not an idx file (header cut short)")
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


def load_mnist_idx(directory: Path) -> Labelled:
    """The four MNIST idx files (raw or .gz), train and test concatenated.

    Grey levels are converted to float32 in place of a second copy: 70,000 28x28
    images take 220 MB.
    """
    parts = []
    for prefix, (image_stem, label_stem) in IDX_STEMS.items():
        images, labels = _find_idx(directory, image_stem), _find_idx(directory, label_stem)
        if images is None or labels is None:
            raise QualityError(f"{directory}: missing {image_stem} or {label_stem} (raw or .gz)")
        x, y = _read_idx(images), _read_idx(labels)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise QualityError(
                f"{directory}: {prefix} images {x.shape} and labels {y.shape} do not match"
            )
        parts.append((x, y))
    if parts[0][0].shape[1:] != parts[1][0].shape[1:]:
        raise QualityError(
            f"{directory}: train images are {parts[0][0].shape[1:]} but t10k images are {parts[1][0].shape[1:]}"
        )
    total = sum(len(p[0]) for p in parts)
    x = np.empty((total, *parts[0][0].shape[1:]), np.float32)
    start = 0
    for images, _ in parts:
        np.divide(images, 255.0, out=x[start : start + len(images)], dtype=np.float32)
        start += len(images)
    return numbered(x, np.concatenate([p[1] for p in parts]).astype(np.int32))


def write_idx(directory: str | Path, x: np.ndarray, y: np.ndarray, test_count: int) -> None:
    """Write images (N, H, W) in [0, 1] and labels as the four gzipped MNIST idx files,
    the last `test_count` entries as t10k."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    split = len(x) - test_count
    for (image_stem, label_stem), rows in zip(
        IDX_STEMS.values(), (slice(0, split), slice(split, None)), strict=True
    ):
        images = np.round(np.clip(x[rows], 0, 1) * 255).astype(np.uint8)
        for stem, array in ((image_stem, images), (label_stem, y[rows].astype(np.uint8))):
            header = struct.pack(">HBB", 0, 0x08, array.ndim)
            header += struct.pack(f">{array.ndim}I", *array.shape)
            with gzip.open(directory / f"{stem}.gz", "wb", compresslevel=6) as stream:
                stream.write(header + array.tobytes())


# ---------------------------------------------------------------- .npz and class folders


def load_npz(path: Path) -> Labelled:
    """An .npz with `x` (N, H, W) images and `y` (N,) integer or string labels."""
    try:
        with open(path, "rb") as stream:
            magic = stream.read(4)
    except OSError as error:
        raise QualityError(f"{path}: cannot be read ({error})") from None
    # np.load falls back to unpickling whatever is neither a zip nor a .npy file, and its
    # message then suggests allow_pickle=True: never advice to give about a user's file.
    if magic[:2] != b"PK":
        raise QualityError(
            f"{path}: not an .npz archive (no zip header); write one with numpy.savez(path, x=images, y=labels)"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key in ("x", "y"):
                if key not in archive:
                    raise QualityError(
                        f"{path}: missing array '{key}' (expected x: images, y: labels)"
                    )
            x, y = archive["x"], archive["y"]
    except QualityError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as error:
        raise QualityError(f"{path}: not a readable .npz file ({error})") from None
    if y.dtype.kind in "US":
        if y.ndim != 1:
            raise QualityError(f"{path}: labels must have shape ({len(x)},), got {y.shape}")
        names, codes = np.unique(y.astype(str), return_inverse=True)
        return Labelled(check_images(x, codes, str(path)), codes.astype(np.int32), tuple(names))
    x = check_images(x, y, str(path))
    return numbered(x, y.astype(np.int32))


def load_image_folder(directory: Path) -> Labelled:
    """One sub-folder per class, named by the class; hidden files are skipped.

    Folders whose names are all integers keep those integers as codes; otherwise codes
    follow the sorted names, and the names travel with the codes.
    """
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise QualityError(f"{directory}: no class sub-folders")
    names = [c.name for c in classes]
    if all(n.isdigit() for n in names):
        codes = {n: int(n) for n in names}
        table = [str(i) for i in range(max(codes.values()) + 1)]
        for n, code in codes.items():
            table[code] = n
    else:
        codes = {n: i for i, n in enumerate(names)}
        table = names
    images, labels = [], []
    for folder in classes:
        for file in sorted(folder.iterdir()):
            if not file.is_file() or file.name.startswith("."):
                continue
            try:
                with Image.open(file) as image:
                    images.append(np.asarray(image.convert("L"), dtype=np.float32) / 255.0)
            except (UnidentifiedImageError, OSError, ValueError) as error:
                raise QualityError(f"{file}: not an image Pillow can read ({error})") from None
            labels.append(codes[folder.name])
    if not images:
        raise QualityError(f"{directory}: the class folders hold no images")
    shapes = {i.shape for i in images}
    if len(shapes) != 1:
        raise QualityError(
            f"{directory}: images have different sizes {sorted(shapes)}; resize them to one size"
        )
    return Labelled(np.stack(images), np.asarray(labels, dtype=np.int32), tuple(table))


def check_images(x, y, where: str) -> np.ndarray:
    """Images as float32 in [0, 1] (0..255 grey levels are scaled), checked against labels."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 3:
        raise QualityError(f"{where}: images must have shape (N, H, W), got {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise QualityError(f"{where}: labels must have shape ({len(x)},), got {y.shape}")
    if y.dtype.kind not in "iu":
        raise QualityError(f"{where}: labels must be integers or strings, got {y.dtype}")
    if len(y) and y.min() < 0:
        raise QualityError(f"{where}: labels must not be negative, got {int(y.min())}")
    if x.dtype.kind not in "iuf" or x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise QualityError(f"{where}: images must be finite numbers (found NaN, inf or {x.dtype})")
    x = x.astype(np.float32)
    low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if low < 0 or high > 255:
        raise QualityError(
            f"{where}: grey levels must be in [0, 1] or [0, 255], got [{low:g}, {high:g}]"
        )
    if high > 1.0:
        x /= 255.0
    return x


def load_labelled(path: str | Path) -> Labelled:
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
    if _find_idx(path, IDX_STEMS["train"][0]) is not None:
        return load_mnist_idx(path)
    return load_image_folder(path)


def load_images(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """`load_labelled` without the names: images and integer label codes."""
    labelled = load_labelled(path)
    return labelled.x, labelled.y


def save_npz(path: str | Path, x: np.ndarray, y: np.ndarray) -> None:
    """Write x and y (integer or string labels) as a compressed .npz."""
    with open(path, "wb") as stream:
        np.savez_compressed(stream, x=x, y=y)


# ---------------------------------------------------------------- classes and the task


def resolve_classes(tokens: str | None, names: tuple[str, ...], option: str) -> tuple[int, ...]:
    """Codes of comma-separated class names, checked against the data's classes."""
    wanted = [t.strip() for t in tokens.split(",") if t.strip()]
    if not wanted:
        raise QualityError(f"{option} must name at least one class")
    unknown = [t for t in wanted if t not in names]
    if unknown:
        raise QualityError(
            f"{option}: no class named {', '.join(unknown)}; the data's classes are {', '.join(n for n in names)}"
        )
    return tuple(names.index(t) for t in wanted)


def choose_classes(
    labelled: Labelled, config: QualityConfig, pretrain: str | None, task: str | None
) -> QualityConfig:
    """The config with the pretraining and task classes named on the command line (or the
    defaults, when the data has classes named like them)."""
    present = tuple(labelled.names[c] for c in np.unique(labelled.y))
    for given, default in ((pretrain, config.pretrain_classes), (task, config.task_classes)):
        if given is None and any(str(c) not in labelled.names for c in default):
            raise QualityError(
                f"the data's classes are {', '.join(present)}; choose them with --pretrain-classes and --task-classes"
            )
    pretrain_codes = (
        resolve_classes(pretrain, labelled.names, "--pretrain-classes")
        if pretrain is not None
        else tuple(labelled.names.index(str(c)) for c in config.pretrain_classes)
    )
    task_codes = (
        resolve_classes(task, labelled.names, "--task-classes")
        if task is not None
        else tuple(labelled.names.index(str(c)) for c in config.task_classes)
    )
    return config.replace(pretrain_classes=pretrain_codes, task_classes=task_codes)


def check_classes(y: np.ndarray, config: QualityConfig) -> None:
    for name, classes in (("pretrain", config.pretrain_classes), ("task", config.task_classes)):
        if len(set(classes)) != len(classes):
            raise QualityError(f"the {name} classes repeat a class: {list(classes)}")
        missing = [c for c in classes if not np.any(y == c)]
        if missing:
            raise QualityError(f"the data has no image of {name} class(es) {missing}")
    if len(config.task_classes) < 2:
        raise QualityError("the task needs at least two classes")
    overlap = sorted(set(config.pretrain_classes) & set(config.task_classes))
    if overlap:
        raise QualityError(f"a class cannot be both a pretraining and a task class: {overlap}")


def _split(
    rng: np.random.Generator, n: int, held_out_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    held = int(round(n * held_out_fraction))
    return np.sort(order[held:]), np.sort(order[:held])


def make_task(
    x: np.ndarray,
    y: np.ndarray,
    config: QualityConfig,
    seed: int,
    names: tuple[str, ...] | None = None,
) -> Task:
    """Split images into M_init's generic classes and the collector's task classes.

    `names[code]` names each label code (default: its decimal value); the task keeps
    the names of its classes so that checkpoints can carry them.
    """
    check_classes(y, config)
    names = names or tuple(str(i) for i in range(int(y.max(initial=0)) + 1))
    rng = np.random.default_rng(seed)
    halves = []
    for classes, fraction in (
        (config.pretrain_classes, config.pretrain_test_fraction),
        (config.task_classes, config.validation_fraction),
    ):
        chosen = np.flatnonzero(np.isin(y, classes))
        lookup = np.full(int(y.max()) + 1, -1, np.int32)
        lookup[list(classes)] = np.arange(len(classes))
        relabel = lookup[y[chosen]]
        keep, held = _split(rng, len(chosen), fraction)
        halves.append((x[chosen[keep]], relabel[keep], x[chosen[held]], relabel[held]))
    (px, py, ptx, pty), (qx, qy, vx, vy) = halves
    return Task(
        px,
        py,
        ptx,
        pty,
        qx,
        qy,
        vx,
        vy,
        tuple(names[c] for c in config.pretrain_classes),
        tuple(names[c] for c in config.task_classes),
    )


def task_labels(labelled: Labelled, task_class_names: tuple[str, ...], where: str) -> np.ndarray:
    """A user's labels as task indices 0..n-1, matched by class name."""
    index = {name: i for i, name in enumerate(task_class_names)}
    lookup = np.asarray([index.get(name, -1) for name in labelled.names], np.int32)
    mapped = lookup[labelled.y] if len(labelled.y) else labelled.y
    if np.any(mapped < 0):
        entry = int(np.flatnonzero(mapped < 0)[0])
        raise QualityError(
            f"{where}: entry {entry} has class '{labelled.names[labelled.y[entry]]}', which is not a task class ({', '.join(task_class_names)})"
        )
    return mapped.astype(np.int32)
