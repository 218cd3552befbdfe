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
from hyperx.impl.quality.data import check_images, load_images
from hyperx.impl.quality.errors import QualityError

DATASET_FORMS = "an .npz of x (images) and y (labels), an MNIST idx folder or a folder per class"


def load_dataset(path: Path, option: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of `path`: an .npz, an MNIST idx folder or one folder per class."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{option} {path}: no such file or folder")
    if path.is_file():
        if path.suffix != ".npz":
            raise BadInput(f"{option} {path}: expected {DATASET_FORMS}")
        return _load_npz(path, option)
    try:
        return load_images(path)
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
        return check_images(x, y, f"{option} {path}")
    except QualityError as error:
        raise BadInput(str(error)) from None


def load_validation(path: Path, image_shape: tuple[int, int], num_classes: int):
    """The collector's own validation set, checked against the assessor's task."""
    x, y = load_dataset(path, "--validation")
    if tuple(x.shape[1:]) != tuple(image_shape):
        raise BadInput(
            f"--validation {path} holds {x.shape[1]}x{x.shape[2]} images, the assessor takes"
            f" {image_shape[0]}x{image_shape[1]}"
        )
    if len(x) == 0 or y.min() < 0 or y.max() >= num_classes:
        raise BadInput(
            f"--validation {path}: labels must be the task's classes numbered 0..{num_classes - 1}"
            " (as `hyperx-eval dataset --validation-out` writes them), and there must be some"
        )
    return x, y


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
