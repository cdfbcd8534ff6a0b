"""Reader for CIFAR-10's python batches, from the cifar-10-batches-py/ folder or cifar-10-python.tar.gz.

Each batch is a pickled dict: "data" is uint8 (N, 3072), each row the red, green then blue 32x32
planes in row-major order (so reshaping to (N, 3, 32, 32) gives NCHW as is); "labels" is N ints 0..9.
"""

import io
import pickle
import tarfile
import zlib
from collections.abc import Iterator

import numpy as np

from ganforge.data.locate import Location, bad_file, check_labels

IMAGE_SHAPE = (3, 32, 32)

# A pickle may call anything it names, and these files come from the internet: allow only what
# a batch holds (numpy arrays; `_codecs.encode` is how protocol 2 stores bytes).
SAFE_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        return super().find_class(module, name)


def read_cifar(dataset: str, location: Location, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) from the batches `location` names, in order."""
    images, labels = [], []
    for where, raw in _batches(dataset, location):
        batch_images, batch_labels = _parse_batch(dataset, where, raw)
        check_labels(dataset, where, batch_labels, len(batch_images), num_classes)
        images.append(batch_images)
        labels.append(batch_labels)
    return np.concatenate(images), np.concatenate(labels)


def _batches(dataset: str, location: Location) -> Iterator[tuple[str, bytes]]:
    """(name for messages, raw bytes) of each batch, from the folder or the archive."""
    if location.root.is_dir():
        for path in location.paths:
            try:
                raw = path.read_bytes()
            except OSError as err:
                raise bad_file(dataset, path, f"can't be read ({err.strerror})") from None
            yield str(path), raw
        return

    wanted = set(location.names)
    found = {}
    try:
        with tarfile.open(location.root, "r:gz") as archive:
            for member in archive:
                name = member.name.removeprefix("./")
                if name in wanted and member.isfile():
                    found[name] = archive.extractfile(member).read()
                    if len(found) == len(wanted):
                        break
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise bad_file(dataset, location.root, f"is corrupt (bad tar.gz data: {err})") from None
    for name in location.names:
        if name not in found:
            raise bad_file(dataset, location.root, f"is incomplete (no {name} inside)")
        yield f"{location.root}:{name}", found[name]


def _parse_batch(dataset: str, where: str, raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        # latin1 is how numpy arrays pickled by Python 2 (the original files) must be decoded.
        batch = _BatchUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as err:  # damaged pickles raise many types (EOFError, UnpicklingError, ValueError...)
        raise bad_file(dataset, where, f"is not a readable CIFAR-10 batch ({type(err).__name__}: {err})") from None
    if isinstance(batch, dict):
        batch = {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in batch.items()}
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise bad_file(dataset, where, "is not a CIFAR-10 batch (expected a dict with 'data' and 'labels')")

    data = np.asarray(batch["data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != np.prod(IMAGE_SHAPE):
        raise bad_file(dataset, where, f"is corrupt (data is {data.dtype} {data.shape}, expected uint8 N x 3072)")
    labels = np.asarray(batch["labels"])
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise bad_file(dataset, where, "is corrupt (labels are not a list of integers)")
    return data.reshape(-1, *IMAGE_SHAPE), labels.astype(np.int64)
