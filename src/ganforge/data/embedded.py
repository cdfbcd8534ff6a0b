"""`embedded-mnist`: 10,000 MNIST training images shipped inside the package, so training works offline.

The subset is the first 1,000 images of each digit in the MNIST training file's order (built by
scripts/build_embedded_mnist.py; see embedded/ATTRIBUTION.md). It has no test split: measure
test-split metrics with `mnist`, which reads the real MNIST test set.
"""

import zipfile
from pathlib import Path

import numpy as np

from ganforge.errors import DataError

ARCHIVE = Path(__file__).with_name("embedded") / "mnist10k.npz"
KEYS = ("images", "labels", "indices")  # indices: each image's position in the MNIST training set


def read_embedded(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (10000, 1, 28, 28), labels int64 (10000,))."""
    if split != "train":
        raise DataError(f"embedded-mnist has no {split} split; use the dataset 'mnist' for the real MNIST test set")
    arrays = read_archive()
    return arrays["images"].reshape(-1, 1, 28, 28), arrays["labels"].astype(np.int64)


def read_archive() -> dict[str, np.ndarray]:
    """All arrays of the shipped file (images (N, 28, 28), labels, indices)."""
    try:
        with np.load(ARCHIVE) as archive:
            return {key: archive[key] for key in KEYS}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise DataError(f"embedded-mnist: {ARCHIVE} is missing or damaged ({err}); reinstall ganforge") from None
