"""Paired images for image-to-image runs (pix2pix, issue 17): two folders holding the same file
names, e.g. the same emoji drawn by two vendors (emoji/twitter/X.png and emoji/google/X.png).

    pairs = load_pairs("pairs:emoji/twitter,emoji/google", "test", FolderOptions(3, 64))
    pairs.a, pairs.b        # uint8 (N, C, S, S): inputs and their targets, same order
    pairs.names             # the shared file names

Images are decoded as folder datasets are (folder.decode_image: alpha onto the background, centre
crop, Lanczos resize). A name's split comes from a seeded hash of the name alone, so adding or
removing other files never moves an image between train and test, and test images stay unseen.
Names with no partner, and pairs where either side cannot be used, are left out with one line.
Each folder is decoded once into a cached uint8 array (as folder datasets are), so a second run,
the other split, or super-resolution on one of the folders reuses it.
"""

from __future__ import annotations

import hashlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..fileio import atomic_write, cache_root
from .folder import (IMAGE_SUFFIXES, PREPARE_VERSION, SHOWN_SKIPPED, FolderOptions, Unusable, decode_image,
                     image_files)

PREFIX = "pairs:"
TEST_FRACTION = 0.1  # of the names, by hash: 399 of the 3,786 emoji pairs
SPLIT_SEED = 0


@dataclass(frozen=True)
class PairData:
    a: np.ndarray  # uint8 (N, C, S, S), the inputs
    b: np.ndarray  # uint8 (N, C, S, S), the targets
    names: list[str]
    split: str


def parse_spec(spec: str) -> tuple[Path, Path]:
    """'pairs:DIR_A,DIR_B' -> the two folders."""
    parts = spec.removeprefix(PREFIX).split(",")
    if not spec.startswith(PREFIX) or len(parts) != 2 or not all(p.strip() for p in parts):
        raise DataError(f"{spec!r}: a paired dataset is pairs:DIR_A,DIR_B (two folders with the same file names)")
    return Path(parts[0].strip()).expanduser(), Path(parts[1].strip()).expanduser()


def split_of(name: str, seed: int = SPLIT_SEED, test_fraction: float = TEST_FRACTION) -> str:
    """'test' for a fixed fraction of names, by a hash of (seed, name); 'train' for the rest."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"


def image_names(folder: Path) -> list[str]:
    """The image files directly in `folder`, sorted."""
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def pair_names(dir_a: Path, dir_b: Path) -> tuple[list[str], list[str], list[str]]:
    """(names in both, names only in A, names only in B): image files directly in each folder."""
    try:
        a, b = set(image_names(dir_a)), set(image_names(dir_b))
    except DataError as why:
        raise DataError(f"{PREFIX}{dir_a},{dir_b}: {why}") from None
    return sorted(a & b), sorted(a - b), sorted(b - a)


def load_pairs(spec: str, split: str, options: FolderOptions = FolderOptions(), echo=None) -> PairData:
    """The `split` ('train' or 'test') of a paired dataset, decoded; see the module docstring."""
    echo = echo or (lambda line: print(line, file=sys.stderr))
    dir_a, dir_b = parse_spec(spec)
    names, only_a, only_b = pair_names(dir_a, dir_b)
    if not names:
        raise DataError(f"{spec}: no file name is in both folders ({len(only_a)} only in {dir_a}, "
                        f"{len(only_b)} only in {dir_b}); pairs are matched by file name")
    if only_a or only_b:
        echo(f"{spec}: left out {_unpaired(only_a, dir_a, dir_b)}{'; ' if only_a and only_b else ''}"
             f"{_unpaired(only_b, dir_b, dir_a)}; using {len(names)} pairs")
    (a, kept_a, skipped_a), (b, kept_b, skipped_b) = (decode_named(d, names, options) for d in (dir_a, dir_b))
    kept = sorted(set(kept_a) & set(kept_b))  # a pair needs both sides usable
    skipped = [f"{dir_a.name}/{note}" for note in skipped_a] + [f"{dir_b.name}/{note}" for note in skipped_b]
    if skipped:
        echo(f"{spec}: skipped {len(skipped)} pair(s): {_shown(skipped)}")
    chosen = [name for name in kept if split_of(name) == split]
    if not chosen:
        raise DataError(f"{spec}: the {split} split has no usable pair ({len(kept)} usable pairs in all)")
    row_a, row_b = ({name: i for i, name in enumerate(k)} for k in (kept_a, kept_b))
    return PairData(a[[row_a[n] for n in chosen]], b[[row_b[n] for n in chosen]], chosen, split)


def load_named(folder: Path, split: str, options: FolderOptions = FolderOptions(), echo=None) -> tuple[np.ndarray, list[str]]:
    """The `split` of one folder's images (and its subfolders') by the same name rule as pairs
    (super-resolution's held-out images): (uint8 (N, C, S, S), names relative to the folder)."""
    echo = echo or (lambda line: print(line, file=sys.stderr))
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    # every image in it or its subfolders, as a GAN run on the same folder reads (names: relative paths)
    names = [p.relative_to(folder).as_posix() for p in image_files(folder, str(folder))]
    images, kept, skipped = decode_named(folder, names, options)
    if skipped:
        echo(f"{folder}: skipped {len(skipped)} image(s): {_shown(skipped)}")
    rows = [i for i, name in enumerate(kept) if split_of(name) == split]
    if not rows:
        raise DataError(f"{folder}: the {split} split has no usable image ({len(kept)} usable in all)")
    return images[rows], [kept[i] for i in rows]


def decode_named(folder: Path, names: list[str], options: FolderOptions):
    """(uint8 (N, C, S, S), names kept, skipped notes) for the named files of one folder, decoded once
    and cached under <cache>/prepared/, keyed by the files' names, sizes and times and by the options."""
    digest = hashlib.sha256(repr((PREPARE_VERSION, "named", options)).encode())
    for name in names:
        stat = (folder / name).stat()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    cached = cache_root() / "prepared" / f"named-{folder.name}-{digest.hexdigest()[:16]}.npz"
    if cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as saved:
                return saved["images"], [str(n) for n in saved["names"]], [str(n) for n in saved["skipped"]]
        except (OSError, ValueError, KeyError):  # damaged: decode again, and write it whole
            pass
    images, kept, skipped = [], [], []
    for name in names:
        try:
            images.append(decode_image(folder / name, options))
        except Unusable as why:
            skipped.append(f"{name} ({why})")
            continue
        kept.append(name)
    if not kept:
        raise DataError(f"{folder}: none of its {len(names)} images could be used ({'; '.join(skipped[:3])})")
    images = np.ascontiguousarray(np.stack(images))  # as a cached copy reads back
    buffer = io.BytesIO()
    np.savez(buffer, images=images, names=np.array(kept, dtype=np.str_), skipped=np.array(skipped, dtype=np.str_))
    try:
        atomic_write(cached, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))
    except OSError:  # a read-only or full cache only costs the next run a decode
        pass
    return images, kept, skipped


def _shown(notes: list[str]) -> str:
    more = f"; and {len(notes) - SHOWN_SKIPPED} more" if len(notes) > SHOWN_SKIPPED else ""
    return "; ".join(notes[:SHOWN_SKIPPED]) + more


def _unpaired(names: list[str], here: Path, there: Path) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:SHOWN_SKIPPED]) + (", ..." if len(names) > SHOWN_SKIPPED else "")
    return f"{len(names)} file(s) in {here} with no partner in {there} ({shown})"
