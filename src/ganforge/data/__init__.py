"""Image datasets, each split held in memory as one uint8 tensor.

    data = load_dataset("mnist")            # ImageData: images (60000, 1, 28, 28) uint8, labels int64
    batch = to_float(data.images[:64])      # float32 in [-1, 1], the generator's output range

Names: "embedded-mnist" (ships with the package, works offline), "mnist", "fashion-mnist",
"cifar10" (files found or downloaded as described in locate.py), "stacked-mnist" (made from the
MNIST files: stacked.py), and "folder:PATH" (any folder of PNG/JPEG images). Loads of the fixed
datasets are cached in-process and shared between callers: treat `images` and `labels` as
read-only (index or .clone() them before changing anything).
"""

import difflib
import functools
import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from ganforge.data import cifar, embedded, folder, idx, locate, stacked
from ganforge.errors import DataError

DATASETS: tuple[str, ...] = ("embedded-mnist", "mnist", "fashion-mnist", "cifar10", *stacked.SOURCE)  # plus "folder:PATH"
SPLITS = ("train", "test")
FOLDER_PREFIX = "folder:"

DIGITS = [str(digit) for digit in range(10)]
CLASS_NAMES = {
    "embedded-mnist": DIGITS,
    "mnist": DIGITS,
    "fashion-mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    "stacked-mnist": stacked.CLASS_NAMES,
}


@dataclass(eq=False)  # eq=False: comparing tensors field by field is ambiguous; compare fingerprints
class ImageData:
    images: torch.Tensor          # uint8, (N, C, H, W), contiguous, CPU
    labels: torch.Tensor | None   # int64, (N,), or None for unlabelled sources
    num_classes: int              # 0 if unlabelled
    name: str                     # canonical name, e.g. "mnist" or "folder:/abs/path"
    split: str                    # "train" or "test"
    source: str                   # where it came from: a path, or "embedded"
    class_names: list[str] | None

    @cached_property
    def fingerprint(self) -> str:
        """First 16 hex digits of the SHA-1 of the image bytes then the label bytes."""
        digest = hashlib.sha1(self.images.cpu().contiguous().numpy())
        if self.labels is not None:
            digest.update(self.labels.cpu().contiguous().numpy())
        return digest.hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        return tuple(self.images.shape[1:])

    def draw_weights(self, balance: float) -> torch.Tensor | None:
        """Each image's chance of being drawn, as (its class's count) ** -balance: 0 keeps the data's
        own class mix (None: plain shuffling), 1 draws every class equally often."""
        if not balance or self.labels is None:
            return None
        counts = torch.bincount(self.labels, minlength=self.num_classes).double()
        return counts[self.labels] ** -balance


def load_dataset(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    *,
    channels: int | None = None,
    image_size: int | None = None,
    download: bool = True,
    labels: str = "",
    background: str = "white",
) -> ImageData:
    """Load one split of a dataset; channels, image_size, labels and background only shape
    "folder:PATH" sources (folder.py)."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; use 'train' or 'test'")
    if name.startswith(FOLDER_PREFIX):
        options = folder.FolderOptions(folder.DEFAULT_CHANNELS if channels is None else channels,
                                       folder.DEFAULT_IMAGE_SIZE if image_size is None else image_size,
                                       labels or "", background)
        return _load_folder(Path(name[len(FOLDER_PREFIX):]), split, options)
    if name not in DATASETS:
        raise DataError(_unknown_name_message(name))
    if name == "embedded-mnist":
        return _load_files(name, split, None, None)
    if name in stacked.SOURCE:
        return _load_stacked(name, split, load_dataset(stacked.SOURCE[name], split, data_dir, download=download))
    location = locate.find(name, split, data_dir, download)
    return _load_files(name, split, location, _file_stamp(location))


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (any shape) -> float32 in [-1, 1]."""
    if images.dtype != torch.uint8:
        raise TypeError(f"to_float expects uint8 images, got {images.dtype}")
    return images.float() / 127.5 - 1


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] (clamped) -> uint8 in [0, 255], rounded to nearest."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


@functools.lru_cache(maxsize=4)  # a train+test pair plus a little; MNIST train is 47 MB, CIFAR-10 150 MB
def _load_files(name: str, split: str, location: locate.Location | None, stamp: tuple | None) -> ImageData:
    """Read and wrap a fixed dataset; `stamp` is in the cache key so changed files are read again."""
    if name == "embedded-mnist":
        (images, labels), source = embedded.read_embedded(split), "embedded"
    elif name == "cifar10":
        (images, labels), source = cifar.read_cifar(name, location), str(location.root)
    else:
        (images, labels), source = idx.read_idx_pair(name, *location.paths), str(location.root)
    return ImageData(
        images=torch.from_numpy(images),
        labels=torch.from_numpy(labels),
        num_classes=len(CLASS_NAMES[name]),
        name=name,
        split=split,
        source=source,
        class_names=CLASS_NAMES[name],
    )


@functools.lru_cache(maxsize=2)  # 128,000 stacks are 301 MB: keep a train and a test split, no more
def _load_stacked(name: str, split: str, digits: ImageData) -> ImageData:
    images, labels = stacked.stack(digits.images, digits.labels, split)
    return ImageData(images=images, labels=labels, num_classes=len(CLASS_NAMES[name]), name=name, split=split,
                     source=f"{digits.source} (stacked in memory, seed {stacked.SEEDS[split]})",
                     class_names=CLASS_NAMES[name])


def _file_stamp(location: locate.Location) -> tuple:
    files = location.paths if location.root.is_dir() else (location.root,)  # an archive is one file
    return tuple((stat.st_size, stat.st_mtime_ns) for stat in map(os.stat, files))


def _load_folder(path: Path, split: str, options: folder.FolderOptions) -> ImageData:
    path = path.expanduser().resolve()
    name = f"{FOLDER_PREFIX}{path}"
    if split != "train":
        raise DataError(f"{name} has no {split} split (a folder is one set of images); use split 'train'")
    images, labels, class_names = folder.read_folder(path, options)
    return ImageData(
        images=torch.from_numpy(images),
        labels=None if labels is None else torch.from_numpy(labels),
        num_classes=len(class_names) if class_names else 0,
        name=name,
        split=split,
        source=str(path),
        class_names=class_names,
    )


def _unknown_name_message(name: str) -> str:
    close = difflib.get_close_matches(name.lower(), DATASETS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown dataset {name!r}{hint}; choose one of {', '.join(DATASETS)}, or folder:PATH"


def batch_bounds(n: int, batch_size: int, drop_last: bool) -> list[tuple[int, int]]:
    """(start, end) of each batch. A last batch of one image is dropped: BatchNorm cannot train on it."""
    bounds = [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    if bounds and (bounds[-1][1] - bounds[-1][0] < (batch_size if drop_last else 2)):
        bounds.pop()
    return bounds
