"""Paired images for image-to-image runs (pix2pix, issue 17): two folders holding the same file
names, e.g. the same emoji drawn by two vendors (emoji/twitter/X.png and emoji/google/X.png).

    pairs = load_pairs("pairs:emoji/twitter,emoji/google", "test", FolderOptions(3, 64))
    pairs.a, pairs.b        # uint8 (N, C, S, S): inputs and their targets, same order
    pairs.names             # the shared file names

Images are decoded as folder datasets are (folder.decode_image: alpha onto the background, centre
crop, Lanczos resize). A name's split comes from a seeded hash of the name alone, so adding or
removing other files never moves an image between train and test, and test images stay unseen.
Names with no partner, and pairs where either side cannot be used, are left out with one line.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .folder import IMAGE_SUFFIXES, SHOWN_SKIPPED, FolderOptions, Unusable, decode_image

PREFIX = "pairs:"
TEST_FRACTION = 0.1  # of the names, by hash: 379 of the 3,786 emoji pairs
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


def pair_names(dir_a: Path, dir_b: Path) -> tuple[list[str], list[str], list[str]]:
    """(names in both, names only in A, names only in B): image files directly in each folder."""
    found = []
    for folder in (dir_a, dir_b):
        if not folder.is_dir():
            raise DataError(f"{PREFIX}{dir_a},{dir_b}: {folder} is not a folder")
        found.append({p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()})
    a, b = found
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
    names = [n for n in names if split_of(n) == split]
    a, b, kept, skipped = [], [], [], []
    for name in names:
        try:
            pair = decode_image(dir_a / name, options), decode_image(dir_b / name, options)
        except Unusable as why:
            skipped.append(f"{name} ({why})")
            continue
        a.append(pair[0])
        b.append(pair[1])
        kept.append(name)
    if skipped:
        more = f"; and {len(skipped) - SHOWN_SKIPPED} more" if len(skipped) > SHOWN_SKIPPED else ""
        echo(f"{spec}: skipped {len(skipped)} pair(s) of the {split} split: {'; '.join(skipped[:SHOWN_SKIPPED])}{more}")
    if not kept:
        raise DataError(f"{spec}: the {split} split has no usable pair ({len(names)} names in it)")
    return PairData(np.stack(a), np.stack(b), kept, split)


def _unpaired(names: list[str], here: Path, there: Path) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:SHOWN_SKIPPED]) + (", ..." if len(names) > SHOWN_SKIPPED else "")
    return f"{len(names)} file(s) in {here} with no partner in {there} ({shown})"
