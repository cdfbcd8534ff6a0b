"""The dataset layer: real MNIST / Fashion-MNIST from $GANFORGE_DATA (skipped when unset), and
CIFAR-10, image folders, file lookup and bad input from small files each test writes."""

import gzip
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import DATASETS, ImageData, embedded, load_dataset, locate, to_float, to_uint8
from ganforge.errors import DataError

IDX_TRAIN = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Never touch the network or the user's cache; returns the list of attempted downloads."""
    attempts = []

    def fake_download(dataset, split, root):
        attempts.append((dataset, split, root))
        raise OSError("no network in tests")

    monkeypatch.setattr(locate, "_download", fake_download)
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    return attempts


def data_error(*args, **kwargs) -> str:
    """The message of the DataError load_dataset(*args, **kwargs) raises, checked to be one line."""
    with pytest.raises(DataError) as info:
        load_dataset(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def gzip_idx(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return gzip.compress(struct.pack(f">{1 + len(dims)}I", magic, *dims) + payload)


def write_mnist(folder: Path, num_images: int = 3, fill: int = 0) -> tuple[Path, Path]:
    """A valid little train split: image i is all `fill + i`, its label is i % 10."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.repeat(np.arange(fill, fill + num_images, dtype=np.uint8), 28 * 28)
    labels = np.arange(num_images, dtype=np.uint8) % 10
    images_path, labels_path = folder / IDX_TRAIN[0], folder / IDX_TRAIN[1]
    images_path.write_bytes(gzip_idx(2051, (num_images, 28, 28), pixels.tobytes()))
    labels_path.write_bytes(gzip_idx(2049, (num_images,), labels.tobytes()))
    return images_path, labels_path


# --- real data ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("split, count", [("train", 60000), ("test", 10000)])
def test_real_idx_datasets(data_root, name, split, count):
    data = load_dataset(name, split, data_root)
    assert (len(data), data.shape, data.num_classes, data.split) == (count, (1, 28, 28), 10, split)
    assert data.images.shape == (count, 1, 28, 28) and data.images.dtype == torch.uint8
    assert data.images.is_contiguous() and data.images.device.type == "cpu"
    assert data.labels.shape == (count,) and data.labels.dtype == torch.int64
    assert data.labels.unique().tolist() == list(range(10))
    assert len(data.class_names) == 10 and Path(data.source) == (data_root / name).resolve()


def test_real_mnist_known_values(data_root):
    train = load_dataset("mnist", "train", data_root)
    assert train.labels[0] == 5 and load_dataset("mnist", "test", data_root).labels[0] == 7
    assert abs(train.images.float().mean().item() - 33.32) < 0.5
    assert train.fingerprint == load_dataset("mnist", "train", data_root).fingerprint
    assert train.fingerprint != load_dataset("mnist", "test", data_root).fingerprint


def test_real_data_found_through_env_var(data_root, monkeypatch):
    monkeypatch.setenv("GANFORGE_DATA", str(data_root))
    assert Path(load_dataset("fashion-mnist", "test").source) == (data_root / "fashion-mnist").resolve()


def test_embedded_images_are_the_mnist_train_images_at_their_indices(data_root):
    train = load_dataset("mnist", "train", data_root)
    indices = torch.from_numpy(embedded.read_archive()["indices"]).long()
    subset = load_dataset("embedded-mnist")
    assert torch.equal(train.images[indices], subset.images)
    assert torch.equal(train.labels[indices], subset.labels)
    for digit in range(10):  # the first 1,000 of each digit, in file order
        first = torch.nonzero(train.labels == digit).flatten()[:1000]
        assert torch.equal(indices[subset.labels == digit], first)


# --- embedded-mnist -------------------------------------------------------------------------------

def test_embedded_mnist_is_balanced_and_offline(monkeypatch):
    monkeypatch.delenv("GANFORGE_DATA", raising=False)
    data = load_dataset("embedded-mnist")
    assert data.images.shape == (10000, 1, 28, 28) and data.images.dtype == torch.uint8
    assert data.images.is_contiguous()
    assert torch.bincount(data.labels).tolist() == [1000] * 10
    assert (data.source, data.num_classes, data.class_names) == ("embedded", 10, [str(d) for d in range(10)])
    assert data.fingerprint == "cc99e403b81a9ac0"  # changes only if the shipped subset does


def test_embedded_archive_is_small():
    assert embedded.ARCHIVE.stat().st_size < 3_000_000


def test_embedded_mnist_has_no_test_split():
    assert "no test split" in data_error("embedded-mnist", "test")


# --- conversions and ImageData --------------------------------------------------------------------

def test_to_float_and_back():
    pixels = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    x = to_float(pixels)
    assert x.dtype == torch.float32 and x.shape == pixels.shape
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    assert torch.equal(to_uint8(x), pixels)
    assert to_uint8(torch.tensor([-5.0, -1.0, 0.0, 1.0, 5.0])).tolist() == [0, 0, 128, 255, 255]
    with pytest.raises(TypeError):
        to_float(x)


def test_fingerprint_covers_images_and_labels():
    def make(labels):
        return ImageData(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), labels, 10, "t", "train", "test", None)

    same = make(torch.tensor([1, 2])).fingerprint
    assert len(same) == 16 and int(same, 16) >= 0
    assert same == make(torch.tensor([1, 2])).fingerprint
    assert same != make(torch.tensor([2, 1])).fingerprint != make(None).fingerprint


# --- CIFAR-10 -------------------------------------------------------------------------------------

def cifar_batch(num_images: int, seed: int) -> dict:
    """A batch in the original format: bytes keys, data uint8 N x 3072 (R, G, B planes), int labels."""
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": f"batch {seed}".encode(),
        b"labels": [(seed + i) % 10 for i in range(num_images)],
        b"data": rng.integers(0, 256, (num_images, 3072), dtype=np.uint8),
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(num_images)],
    }


def cifar_files(num_images: int = 4) -> dict[str, bytes]:
    """The six batches, train ones pickled with protocol 2 like the originals, test with the newest."""
    batches = {f"data_batch_{i}": cifar_batch(num_images, seed=i) for i in range(1, 6)}
    batches["data_batch_1"][b"data"][0, [0, 1024 + 1, 2048 + 32]] = [255, 128, 64]  # R(0,0) G(0,1) B(1,0)
    files = {name: pickle.dumps(batch, protocol=2) for name, batch in batches.items()}
    files["test_batch"] = pickle.dumps(cifar_batch(num_images, seed=9), protocol=pickle.HIGHEST_PROTOCOL)
    return files


def write_cifar(root: Path, form: str, files: dict[str, bytes]) -> None:
    folder = {"folder": root / "cifar-10", "archive": root / "cifar-10", "torchvision": root}[form]
    folder.mkdir(parents=True, exist_ok=True)
    if form == "archive":
        with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as archive:
            for name, raw in {"readme.html": b"<html/>", **files}.items():
                member = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                member.size = len(raw)
                archive.addfile(member, io.BytesIO(raw))
    else:
        (folder / "cifar-10-batches-py").mkdir()
        for name, raw in files.items():
            (folder / "cifar-10-batches-py" / name).write_bytes(raw)


@pytest.mark.parametrize("form", ["folder", "archive", "torchvision"])
def test_cifar_batches(tmp_path, form):
    files = cifar_files()
    write_cifar(tmp_path, form, files)
    train = load_dataset("cifar10", "train", tmp_path)
    test = load_dataset("cifar10", "test", tmp_path)
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (4, 3, 32, 32)
    assert train.images.dtype == torch.uint8 and train.images.is_contiguous()
    assert train.class_names[0] == "airplane" and train.num_classes == 10

    first = train.images[0]
    assert (first[0, 0, 0], first[1, 0, 1], first[2, 1, 0]) == (255, 128, 64)
    batches = [pickle.loads(files[f"data_batch_{i}"]) for i in range(1, 6)]
    data = np.concatenate([batch[b"data"] for batch in batches])
    c, y, x = 2, 31, 5  # any pixel: plane c, row y, column x sits at c*1024 + y*32 + x
    assert torch.equal(train.images[:, c, y, x], torch.from_numpy(data[:, c * 1024 + y * 32 + x]))
    assert train.labels.tolist() == [label for batch in batches for label in batch[b"labels"]]


def bad_pickle() -> bytes:
    class RunsCode:
        def __reduce__(self):
            return os.system, ("echo unpickled",)

    return pickle.dumps({b"data": RunsCode(), b"labels": []})


@pytest.mark.parametrize("batch, fragment", [
    (b"\x00garbage\xff", "not a readable CIFAR-10 batch"),
    (bad_pickle(), "refused to load"),
    (pickle.dumps([1, 2, 3]), "expected a dict with 'data' and 'labels'"),
    (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), "expected uint8 N x 3072"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), "label 10 is outside 0..9"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "1 labels for 2 images"),
])
def test_cifar_bad_batch(tmp_path, batch, fragment):
    write_cifar(tmp_path, "folder", {**cifar_files(), "data_batch_3": batch})
    message = data_error("cifar10", "train", tmp_path)
    assert fragment in message and "data_batch_3" in message


def test_cifar_truncated_archive(tmp_path):
    write_cifar(tmp_path, "archive", cifar_files())
    archive = tmp_path / "cifar-10" / "cifar-10-python.tar.gz"
    archive.write_bytes(archive.read_bytes()[:200])
    message = data_error("cifar10", "test", tmp_path)
    assert "cifar-10-python.tar.gz is corrupt" in message


# --- folder:PATH ----------------------------------------------------------------------------------

def test_folder_converts_crops_and_resizes(tmp_path):
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (40, 40), (255, 0, 0)).save(tmp_path / "a_red.png")
    banded = np.zeros((20, 40), np.uint8)
    banded[:, 10:30] = 255  # the center square is white, the sides cropped away are black
    Image.fromarray(banded).save(tmp_path / "b_banded.png")
    Image.new("L", (30, 30), 200).save(tmp_path / "sub" / "c_gray.JPG", quality=95)
    (tmp_path / "notes.txt").write_text("not an image, ignored")

    rgb = load_dataset(f"folder:{tmp_path}", channels=3, image_size=16)
    assert rgb.images.shape == (3, 3, 16, 16) and rgb.images.dtype == torch.uint8
    assert (rgb.labels, rgb.num_classes, rgb.class_names) == (None, 0, None)
    assert rgb.name == f"folder:{tmp_path.resolve()}" and rgb.split == "train"
    assert rgb.images[0, :, 8, 8].tolist() == [255, 0, 0]
    assert (rgb.images[1] == 255).all()
    assert (rgb.images[2].int() - 200).abs().max() <= 3  # JPEG

    gray = load_dataset(f"folder:{tmp_path}", channels=1, image_size=8)
    assert gray.images.shape == (3, 1, 8, 8)
    assert gray.images[0, 0, 4, 4] == 76  # ITU-R 601 luma of pure red: 0.299 * 255

    assert load_dataset(f"folder:{tmp_path}").images.shape == (3, 3, 64, 64)  # the defaults


def test_folder_errors(tmp_path):
    assert "no such folder" in data_error(f"folder:{tmp_path / 'missing'}")
    (tmp_path / "readme.txt").write_text("no images here")
    assert "no image files (.bmp, .jpeg, .jpg, .png, .webp)" in data_error(f"folder:{tmp_path}")
    Image.new("L", (8, 8)).save(tmp_path / "good.png")
    assert "channels must be 1 (grayscale) or 3 (RGB)" in data_error(f"folder:{tmp_path}", channels=2)
    assert "no test split" in data_error(f"folder:{tmp_path}", "test")
    assert "background='pink'" in data_error(f"folder:{tmp_path}", background="pink")
    (tmp_path / "good.png").unlink()
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    message = data_error(f"folder:{tmp_path}")
    assert "none of its 1 image files could be used" in message and "broken.png (not a readable image)" in message


# --- finding files --------------------------------------------------------------------------------

def test_missing_files_name_them_and_the_fix(tmp_path, offline):
    message = data_error("mnist", "train", tmp_path)
    assert "train-images-idx3-ubyte.gz" in message and "train-labels-idx1-ubyte.gz" in message
    assert str(tmp_path / "mnist") in message and f"put them in {tmp_path / 'mnist'}/" in message
    assert not offline  # an explicit data_dir is never replaced by a download


def test_explicit_data_dir_does_not_fall_back(tmp_path, monkeypatch):
    write_mnist(tmp_path / "env" / "mnist")
    monkeypatch.setenv("GANFORGE_DATA", str(tmp_path / "env"))
    assert load_dataset("mnist").source == str((tmp_path / "env" / "mnist").resolve())
    assert "not found" in data_error("mnist", "train", tmp_path / "elsewhere")


def test_lookup_order_env_then_cache(tmp_path, monkeypatch):
    write_mnist(tmp_path / "env" / "mnist", fill=10)
    write_mnist(tmp_path / "cache" / "data" / "mnist", fill=20)
    monkeypatch.setenv("GANFORGE_DATA", str(tmp_path / "env"))
    assert load_dataset("mnist").images[0, 0, 0, 0] == 10
    monkeypatch.delenv("GANFORGE_DATA")
    assert load_dataset("mnist").images[0, 0, 0, 0] == 20


def test_torchvision_layout(tmp_path):
    write_mnist(tmp_path / "FashionMNIST" / "raw")
    assert len(load_dataset("fashion-mnist", "train", tmp_path)) == 3


def test_download_lands_in_cache_and_is_read_by_our_reader(tmp_path, monkeypatch, offline):
    monkeypatch.delenv("GANFORGE_DATA", raising=False)
    monkeypatch.setattr(locate, "_download", lambda dataset, split, root: write_mnist(root / "MNIST" / "raw"))
    data = load_dataset("mnist")
    assert len(data) == 3 and data.source == str((tmp_path / "cache" / "data" / "MNIST" / "raw").resolve())


def test_download_failure_says_where_to_put_files(tmp_path, monkeypatch, offline):
    monkeypatch.delenv("GANFORGE_DATA", raising=False)
    message = data_error("fashion-mnist", "test")
    assert len(offline) == 1 and "download failed: no network in tests" in message
    assert "t10k-images-idx3-ubyte.gz" in message and str(tmp_path / "cache" / "data" / "fashion-mnist") in message
    assert "GANFORGE_DATA" in message

    offline.clear()
    assert "download is off" in data_error("fashion-mnist", "test", download=False)
    assert not offline


def test_changed_files_are_read_again(tmp_path):
    write_mnist(tmp_path / "mnist", num_images=3)
    first = load_dataset("mnist", "train", tmp_path)
    assert load_dataset("mnist", "train", tmp_path) is first  # cached and shared
    write_mnist(tmp_path / "mnist", num_images=5)
    assert len(load_dataset("mnist", "train", tmp_path)) == 5


# --- bad IDX files and names ----------------------------------------------------------------------

def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


@pytest.mark.parametrize("damage, culprit, fragment", [
    (truncate, 0, "is corrupt (bad gzip data"),
    (lambda path: path.write_bytes(b"this is not gzip"), 1, "is corrupt (bad gzip data"),
    (lambda path: path.write_bytes(gzip_idx(2049, (3,), bytes(3))), 0, "magic number 2049, expected 2051"),
    (lambda path: path.write_bytes(gzip_idx(2051, (3, 32, 32), bytes(3 * 32 * 32))), 0, "32x32 images"),
    (lambda path: path.write_bytes(gzip_idx(2051, (3, 28, 28), bytes(2 * 28 * 28))), 0, "header promises"),
    (lambda path: path.write_bytes(gzip.compress(b"\x00\x00")), 0, "too short for an IDX header"),
    (lambda path: path.write_bytes(gzip_idx(2049, (3,), bytes([0, 10, 1]))), 1, "label 10 is outside 0..9"),
    (lambda path: path.write_bytes(gzip_idx(2049, (2,), bytes(2))), 1, "2 labels for 3 images"),
])
def test_bad_idx_files(tmp_path, damage, culprit, fragment):
    paths = write_mnist(tmp_path / "mnist")
    damage(paths[culprit])
    message = data_error("mnist", "train", tmp_path)
    assert fragment in message and str(paths[culprit]) in message
    assert "download again, or pass --data-dir" in message


def test_unknown_names():
    message = data_error("imagenet")
    assert all(name in message for name in DATASETS) and "folder:PATH" in message
    assert "did you mean 'mnist'" in data_error("MNIST")
    assert "unknown split" in data_error("mnist", "validation")
