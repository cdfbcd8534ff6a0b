"""Where dataset files live, and the one-line errors for files that are missing or bad.

Lookup order for a dataset's files:
  1. the data_dir argument (--data-dir), and nothing else when it is given;
  2. the root named by $GANFORGE_DATA;
  3. the user cache's data/ folder (fileio.cache_root(): $GANFORGE_CACHE, else $XDG_CACHE_HOME/ganforge,
     else ~/.cache/ganforge),
     where a missing dataset is downloaded through torchvision when download is allowed.
Each root holds one subfolder per dataset (mnist/, fashion-mnist/, cifar-10/); torchvision's own
layout under a root (MNIST/raw/, FashionMNIST/raw/, cifar-10-batches-py/) works too.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np

from ganforge.errors import DataError
from ganforge.fileio import cache_root

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_BATCHES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}

REFETCH_HINT = "delete it and download again, or pass --data-dir to a good copy"


@dataclass(frozen=True)
class Layout:
    folder: str              # our subfolder under a data root
    torchvision_folder: str  # where torchvision's download puts the files under its root
    torchvision_class: str   # the torchvision.datasets class that downloads them


LAYOUTS = {
    "mnist": Layout("mnist", "MNIST/raw", "MNIST"),
    "fashion-mnist": Layout("fashion-mnist", "FashionMNIST/raw", "FashionMNIST"),
    "cifar10": Layout("cifar-10", ".", "CIFAR10"),
}


@dataclass(frozen=True)
class Location:
    """The files of one split: `root` is a folder, or a .tar.gz whose members `names` are."""

    root: Path
    names: tuple[str, ...]

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(self.root / name for name in self.names)


def bad_file(dataset: str, path: Path | str, problem: str, fix: str = REFETCH_HINT) -> DataError:
    """The error for a file that exists but cannot be used, e.g. problem="is corrupt (bad gzip data)"."""
    return DataError(f"{dataset}: {path} {problem}; {fix}")


def check_labels(dataset: str, path: Path | str, labels: np.ndarray, num_images: int, num_classes: int) -> None:
    """The checks every labelled reader shares: one label per image, each a valid class id."""
    if len(labels) != num_images:
        raise bad_file(dataset, path, f"is corrupt (holds {len(labels)} labels for {num_images} images)")
    if len(labels) and not 0 <= labels.min() <= labels.max() < num_classes:
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise bad_file(dataset, path, f"is corrupt (label {bad} is outside 0..{num_classes - 1})")


def cache_dir() -> Path:
    return cache_root() / "data"


def find(dataset: str, split: str, data_dir: str | os.PathLike | None = None, download: bool = True) -> Location:
    """The files of `dataset`/`split`, downloading them into the cache if allowed and needed."""
    folder = LAYOUTS[dataset].folder
    if data_dir is not None:
        # An explicit folder is what the user wants read: never fall back to other copies.
        root = Path(data_dir).expanduser().resolve()
        found = _search(dataset, split, [root])
        if not found:
            fix = f"put them in {root / folder}/, or pass a --data-dir that holds {folder}/"
            _not_found(dataset, split, [root], fix=fix)
        return found

    roots = [Path(os.environ["GANFORGE_DATA"]).expanduser().resolve()] if os.environ.get("GANFORGE_DATA") else []
    roots.append(cache_dir())
    found = _search(dataset, split, roots)
    if found:
        return found

    fix = f"put them in <data_dir>/{folder}/ and pass --data-dir, or set GANFORGE_DATA to that <data_dir>"
    if not download:
        _not_found(dataset, split, roots, fix=f"{fix} (download is off)")
    try:
        _download(dataset, split, cache_dir())
    except Exception as err:  # offline, blocked, disk full...: all mean "get the files yourself"
        _not_found(dataset, split, roots, fix=f"{fix} (download failed: {_first_line(err)})")
    found = _search(dataset, split, [cache_dir()])
    if not found:
        _not_found(dataset, split, [cache_dir()], fix=f"{fix} (the download did not produce them)")
    return found


def _candidate_folders(dataset: str, root: Path) -> list[Path]:
    layout = LAYOUTS[dataset]
    return list(dict.fromkeys([root / layout.folder, root / layout.torchvision_folder]))


def _search(dataset: str, split: str, roots: list[Path]) -> Location | None:
    for root in roots:
        for folder in _candidate_folders(dataset, root):
            found = _find_cifar(folder, split) if dataset == "cifar10" else _find_idx(folder, split)
            if found:
                return found
    return None


def _find_idx(folder: Path, split: str) -> Location | None:
    location = Location(folder, IDX_FILES[split])
    return location if all(path.is_file() for path in location.paths) else None


def _find_cifar(folder: Path, split: str) -> Location | None:
    batches = Location(folder / CIFAR_FOLDER, CIFAR_BATCHES[split])
    if all(path.is_file() for path in batches.paths):
        return batches
    if (folder / CIFAR_ARCHIVE).is_file():
        return Location(folder / CIFAR_ARCHIVE, tuple(f"{CIFAR_FOLDER}/{name}" for name in CIFAR_BATCHES[split]))
    return None


def _expected_files(dataset: str, split: str) -> str:
    if dataset == "cifar10":
        return f"{CIFAR_FOLDER}/{{{','.join(CIFAR_BATCHES[split])}}} or {CIFAR_ARCHIVE}"
    return ", ".join(IDX_FILES[split])


def _not_found(dataset: str, split: str, roots: list[Path], fix: str) -> NoReturn:
    searched = [str(folder) for root in roots for folder in _candidate_folders(dataset, root)]
    raise DataError(
        f"{dataset}: {split} files not found ({_expected_files(dataset, split)}); "
        f"searched {', '.join(searched)}; {fix}"
    )


def _download(dataset: str, split: str, root: Path) -> None:
    """Fetch the raw files with torchvision into its layout under `root`; our readers parse them."""
    import torchvision.datasets  # slow to import, and only needed here

    root.mkdir(parents=True, exist_ok=True)
    # One construction fetches every split's files (it also loads one split, which we discard).
    torchvision_class = getattr(torchvision.datasets, LAYOUTS[dataset].torchvision_class)
    torchvision_class(root=str(root), train=split == "train", download=True)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
