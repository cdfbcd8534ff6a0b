"""Reader for the gzipped IDX files of MNIST and Fashion-MNIST, with every header field checked.

An IDX file is a big-endian header then raw uint8 data:
  images: magic 2051, count, rows, cols, then count*rows*cols pixels (row-major);
  labels: magic 2049, count, then count bytes.
"""

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ganforge.data.locate import bad_file, check_labels

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
IMAGE_SIZE = 28


def read_idx_pair(
    dataset: str, images_path: Path, labels_path: Path, num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 1, 28, 28), labels int64 (N,)) from a pair of IDX .gz files."""
    images = read_idx_images(dataset, images_path)
    labels = read_idx_labels(dataset, labels_path)
    check_labels(dataset, labels_path, labels, len(images), num_classes)
    return images, labels


def read_idx_images(dataset: str, path: Path) -> np.ndarray:
    raw = _gunzip(dataset, path)
    _, count, rows, cols = _header(dataset, path, raw, "4I", IMAGES_MAGIC)
    if (rows, cols) != (IMAGE_SIZE, IMAGE_SIZE):
        raise bad_file(dataset, path, f"holds {rows}x{cols} images, expected {IMAGE_SIZE}x{IMAGE_SIZE}")
    pixels = _payload(dataset, path, raw, 16, count * rows * cols)
    # Copy: frombuffer views are read-only, and torch.from_numpy wants memory it can own.
    return pixels.reshape(count, 1, rows, cols).copy()


def read_idx_labels(dataset: str, path: Path) -> np.ndarray:
    raw = _gunzip(dataset, path)
    _, count = _header(dataset, path, raw, "2I", LABELS_MAGIC)
    return _payload(dataset, path, raw, 8, count).astype(np.int64)


def _gunzip(dataset: str, path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as err:  # bad header, bad CRC, truncated stream
        raise bad_file(dataset, path, f"is corrupt (bad gzip data: {err})") from None


def _header(dataset: str, path: Path, raw: bytes, fields: str, magic: int) -> tuple[int, ...]:
    # The magic number first: a wrong kind of file says more than a short one.
    if len(raw) >= 4 and (found := struct.unpack_from(">I", raw)[0]) != magic:
        kind = "image" if magic == IMAGES_MAGIC else "label"
        raise bad_file(dataset, path, f"is not an IDX {kind} file (magic number {found}, expected {magic})")
    layout = ">" + fields
    if len(raw) < struct.calcsize(layout):
        raise bad_file(dataset, path, f"is corrupt (only {len(raw)} bytes, too short for an IDX header)")
    return struct.unpack_from(layout, raw)


def _payload(dataset: str, path: Path, raw: bytes, offset: int, expected: int) -> np.ndarray:
    if len(raw) - offset != expected:
        raise bad_file(
            dataset, path, f"is corrupt (header promises {expected} data bytes, file holds {len(raw) - offset})"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset)


def idx_bytes(images: np.ndarray | None = None, labels: np.ndarray | None = None) -> bytes:
    """The IDX file of uint8 images (N, rows, cols) or of labels (N,) (0-255): what read_idx_images
    and read_idx_labels read back, and torchvision's MNIST parser too (export writes these)."""
    if images is not None:
        count, rows, cols = images.shape
        return struct.pack(">4I", IMAGES_MAGIC, count, rows, cols) + np.ascontiguousarray(images, np.uint8).tobytes()
    return struct.pack(">2I", LABELS_MAGIC, len(labels)) + np.asarray(labels, np.uint8).tobytes()
