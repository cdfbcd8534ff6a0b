"""Build src/ganforge/data/embedded/mnist10k.npz: the first 1,000 images of each digit of MNIST train.

    python scripts/build_embedded_mnist.py [--data-dir ROOT]   # ROOT holds mnist/; default $GANFORGE_DATA

The result is byte-for-byte reproducible: same IDX files in, same .npz out.
"""

import argparse
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from ganforge.data import locate
from ganforge.data.embedded import ARCHIVE
from ganforge.data.idx import read_idx_pair

PER_CLASS = 1000


def choose_indices(labels: np.ndarray, per_class: int = PER_CLASS) -> np.ndarray:
    """The first `per_class` indices of each label, merged back into file order."""
    chosen = [np.flatnonzero(labels == digit)[:per_class] for digit in range(10)]
    assert all(len(c) == per_class for c in chosen), "MNIST train has over 5,000 of every digit"
    return np.sort(np.concatenate(chosen))


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez_compressed, but with fixed zip timestamps so rebuilding gives identical bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("GANFORGE_DATA"), help="folder holding mnist/")
    parser.add_argument("--out", type=Path, default=ARCHIVE)
    args = parser.parse_args()
    if not args.data_dir:
        sys.exit("pass --data-dir (a folder holding mnist/) or set GANFORGE_DATA")

    location = locate.find("mnist", "train", args.data_dir, download=False)
    images, labels = read_idx_pair("mnist", *location.paths)
    indices = choose_indices(labels)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_npz(args.out, {
        "images": images[indices, 0],                   # (10000, 28, 28) uint8
        "labels": labels[indices].astype(np.uint8),     # (10000,)
        "indices": indices.astype(np.int32),            # position in train-images-idx3-ubyte
    })
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {len(indices)} images)")


if __name__ == "__main__":
    main()
