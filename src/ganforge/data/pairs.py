"""Paired images for image-to-image runs (pix2pix, issue 17): two folders holding the same file
names, e.g. the same emoji drawn by two vendors (emoji/twitter/X.png and emoji/google/X.png).

    pairs = load_pairs("pairs:emoji/twitter,emoji/google", "test", FolderOptions(3, 64))
    pairs.a, pairs.b        # uint8 (N, C, S, S): inputs and their targets, same order
    pairs.names             # the shared file names

Images are decoded as folder datasets are (folder.decode_image: alpha onto the background, centre
crop, Lanczos resize). A name's split comes from a seeded hash of the name alone, so adding or
removing other files never moves an image between train and test, and test images stay unseen.
Names with no partner, and pairs where either side cannot be used, are left out with one line.
Both sides are decoded once into a cached uint8 array (as folder datasets are), so a second run
or the other split reuses it.
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
from .folder import IMAGE_SUFFIXES, PREPARE_VERSION, SHOWN_SKIPPED, FolderOptions, Unusable, decode_image

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
    a, b, kept, skipped = _decoded(dir_a, dir_b, names, options)
    if skipped:
        more = f"; and {len(skipped) - SHOWN_SKIPPED} more" if len(skipped) > SHOWN_SKIPPED else ""
        echo(f"{spec}: skipped {len(skipped)} pair(s): {'; '.join(skipped[:SHOWN_SKIPPED])}{more}")
    chosen = [i for i, name in enumerate(kept) if split_of(name) == split]
    if not chosen:
        raise DataError(f"{spec}: the {split} split has no usable pair ({len(kept)} usable pairs in all)")
    return PairData(a[chosen], b[chosen], [kept[i] for i in chosen], split)


def _decoded(dir_a: Path, dir_b: Path, names: list[str], options: FolderOptions):
    """(a, b, names kept, skipped notes) of every pair, decoded once and cached under
    <cache>/prepared/, keyed by both files' names, sizes and times and by the options."""
    digest = hashlib.sha256(repr((PREPARE_VERSION, "pairs", options)).encode())
    for name in names:
        for folder in (dir_a, dir_b):
            stat = (folder / name).stat()
            digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    cached = cache_root() / "prepared" / f"pairs-{dir_a.name}-{dir_b.name}-{digest.hexdigest()[:16]}.npz"
    if cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as saved:
                return saved["a"], saved["b"], [str(n) for n in saved["names"]], [str(n) for n in saved["skipped"]]
        except (OSError, ValueError, KeyError):  # damaged: decode again, and write it whole
            pass
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
    if not kept:
        raise DataError(f"{PREFIX}{dir_a},{dir_b}: none of its {len(names)} pairs could be used ({'; '.join(skipped[:3])})")
    a, b = np.ascontiguousarray(np.stack(a)), np.ascontiguousarray(np.stack(b))  # as a cached copy reads back
    buffer = io.BytesIO()
    np.savez(buffer, a=a, b=b, names=np.array(kept, dtype=np.str_), skipped=np.array(skipped, dtype=np.str_))
    try:
        atomic_write(cached, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))
    except OSError:  # a read-only or full cache only costs the next run a decode
        pass
    return a, b, kept, skipped


def _unpaired(names: list[str], here: Path, there: Path) -> str:
    if not names:
        return ""
    shown = ", ".join(names[:SHOWN_SKIPPED]) + (", ..." if len(names) > SHOWN_SKIPPED else "")
    return f"{len(names)} file(s) in {here} with no partner in {there} ({shown})"
