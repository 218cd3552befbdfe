"""The files and values a party's command line names, read and checked.

Every problem is one `BadInput` line (`hyperx.impl.errors`) that names the option,
the file and what was expected; nothing here ever unpickles (`allow_pickle=False`,
and an archive that holds Python objects is refused as such).
"""

import zipfile
from pathlib import Path

import numpy as np

from hyperx.impl.errors import BadInput
from hyperx.impl.quality import corruptions
from hyperx.impl.quality.data import (
    Labelled,
    Task,
    check_images,
    load_labelled,
    numbered,
    task_labels,
)
from hyperx.impl.quality.errors import QualityError

DATASET_FORMS = "an .npz of x (images) and y (labels), an MNIST idx folder or a folder per class"


def load_dataset(path: Path, option: str) -> Labelled:
    """The images of `path` with their labels and the labels' class names: an .npz, an
    MNIST idx folder or one folder per class (`hyperx-eval dataset` writes an .npz
    labelled with the original classes; the names map them to a task's indices)."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{option} {path}: no such file or folder")
    if path.is_file():
        if path.suffix != ".npz":
            raise BadInput(f"{option} {path}: expected {DATASET_FORMS}")
        x, y = _load_npz(path, option)
        return numbered(x, y)
    try:
        return load_labelled(path)
    except QualityError as error:
        raise BadInput(f"{option} {error}") from None
    except (OSError, ValueError) as error:  # an image file PIL cannot read
        raise BadInput(f"{option} {path}: cannot read an image in it ({error})") from None


def _load_npz(path: Path, option: str) -> tuple[np.ndarray, np.ndarray]:
    if not zipfile.is_zipfile(path):
        raise BadInput(
            f"{option} {path} is not an .npz archive (not a zip file: truncated, or another format)"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in ("x", "y") if name not in archive.files]
            if missing:
                raise BadInput(
                    f"{option} {path} has no array {' or '.join(missing)}"
                    f" (it holds {', '.join(archive.files) or 'nothing'}; expected x: images, y: labels)"
                )
            x, y = archive["x"], archive["y"]
    except BadInput:
        raise
    except ValueError as error:
        if "pickle" in str(error):
            raise BadInput(
                f"{option} {path} holds Python objects, which HyperX never loads:"
                " save x and y as numeric arrays"
            ) from None
        raise BadInput(f"{option} {path} is damaged: {error}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise BadInput(
            f"{option} {path} is damaged: its arrays cannot be read ({type(error).__name__})"
        ) from None
    try:
        return check_images(x, y, f"{option} {path}"), np.asarray(y)
    except QualityError as error:
        raise BadInput(str(error)) from None


def load_validation(path: Path, task: Task) -> tuple[np.ndarray, np.ndarray]:
    """The collector's own validation set, checked against the assessor's task: its
    labels mapped to the task's indices by class name."""
    labelled = load_dataset(path, "--validation")
    x, shape = labelled.x, task.image_shape
    if tuple(x.shape[1:]) != tuple(shape):
        raise BadInput(
            f"--validation {path} holds {x.shape[1]}x{x.shape[2]} images, the assessor takes"
            f" {shape[0]}x{shape[1]}"
        )
    if len(x) == 0:
        raise BadInput(f"--validation {path} holds no images")
    try:
        return x, task_labels(labelled, task.task_class_names, f"--validation {path}")
    except QualityError as error:
        raise BadInput(str(error)) from None


def parse_synthetic(text: str) -> tuple[str, int]:
    """(family, level) of `--synthetic FAMILY:LEVEL`."""
    family, _, level = text.partition(":")
    if family not in corruptions.FAMILIES or not level.isdigit():
        raise BadInput(
            f"--synthetic must be FAMILY:LEVEL with FAMILY one of"
            f" {', '.join(corruptions.FAMILIES)}, like mislabel:3; got {text!r}"
        )
    levels = corruptions.num_levels(family)
    if not int(level) < levels:
        raise BadInput(f"--synthetic {text}: {family} has levels 0 to {levels - 1}")
    return family, int(level)
