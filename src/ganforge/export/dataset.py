"""A synthetic labelled dataset from a conditional run: the tutorials' "data augmentation" use.

    DIR/manifest.json   the run, its generator file's SHA-256, the seed, the counts per class, the files
    idx:    DIR/train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz (MNIST's own form: ganforge's
            IDX reader) and the same two files uncompressed (torchvision.datasets.mnist's raw parser)
    npz:    DIR/dataset.npz: images uint8 (N, H, W, C), labels int64 (N,), class_names
    folder: DIR/<class>/<index>.png, one sub-folder per class (`--set labels=folders` reads it back)

Image i is image i of `ganforge generate RUN --n N --seed S`: classes in turn (0, 1, ..., K-1, 0, ...),
each from the noise that seed S stands for, drawn by generator.safetensors (the EMA generator when the
run keeps one). The manifest is written last: a folder that has one is complete.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np

from .. import __version__
from ..data import CLASS_NAMES
from ..data.idx import idx_bytes
from ..errors import ConfigError
from ..fileio import atomic_write, save_npz
from ..generate import load_generator
from ..nets.sampling import sample
from ..run import open_run

FORMATS = ("idx", "npz", "folder")
MAX_BYTES = 2 * 1024**3  # pixels held in memory at once; a bigger set is a typo or needs several exports


def class_names(cfg) -> list[str]:
    """The run's class names: the built-in dataset's, else the class numbers."""
    names = CLASS_NAMES.get(cfg.dataset)
    return list(names) if names and len(names) == cfg.num_classes else [str(k) for k in range(cfg.num_classes)]


def export_dataset(run_dir: str | Path, out: str | Path, per_class: int = 1000, fmt: str = "npz", seed: int = 0,
                   device: str = "cpu", upscale: str | Path | None = None) -> dict:
    """Draw per_class images of every class (upscaled by an SR run's net, if given) and write them to
    the folder `out`; returns the manifest."""
    G, cfg = load_generator(run_dir, device, upscale)
    out = Path(out)
    _check(cfg, out, per_class, fmt)
    k = cfg.num_classes
    n = per_class * k
    images = sample(G, cfg.latent_dim, n, seed, device=device)  # (n, C, H, W) uint8, class i % k
    labels = np.arange(n) % k
    names = class_names(cfg)
    out.mkdir(parents=True, exist_ok=True)
    files = WRITERS[fmt](out, images.permute(0, 2, 3, 1).numpy(), labels, names)
    manifest = {
        "format": fmt, "run": str(Path(run_dir).resolve()), "generator": _generator_file(open_run(run_dir)),
        "ema": cfg.ema > 0, "seed": seed, "per_class": per_class, "total": n,
        "counts": {name: int((labels == i).sum()) for i, name in enumerate(names)},
        "class_names": names, "image_shape": list(cfg.image_shape), "dataset": cfg.dataset, "preset": cfg.preset,
        "upscaled_by": None if upscale is None else str(Path(upscale).resolve()),
        "order": f"image i has class i mod {k}; it is image i of `ganforge generate RUN --n {n} --seed {seed}"
                 + ("`" if upscale is None else " --upscale SR_RUN`"),
        "files": files, "ganforge": __version__, "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    atomic_write(out / "manifest.json", lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=2) + "\n"))
    return manifest


def _check(cfg, out: Path, per_class: int, fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    if cfg.task != "gan":
        raise ConfigError(f"--dataset draws images per class from noise; this {cfg.task} run turns images into images: "
                          "use ganforge generate RUN --input IMAGE_OR_FOLDER --out OUT")
    if not cfg.conditional:
        raise ConfigError("--dataset needs a conditional run, whose images are drawn per class; this one is "
                          "unconditional (for unlabelled images use ganforge generate RUN --n N --out x.npz)")
    if per_class < 1:
        raise ConfigError(f"--per-class {per_class}: ask for at least one image per class")
    size = per_class * cfg.num_classes * int(np.prod(cfg.image_shape))
    if size > MAX_BYTES:
        raise ConfigError(f"--per-class {per_class}: {size / 1024**3:.1f} GB of pixels, above the "
                          f"{MAX_BYTES // 1024**3} GB one export holds; export several folders with other --seed values")
    if fmt == "idx" and cfg.channels != 1:
        raise ConfigError("--format idx holds grayscale images (MNIST's format) and this run draws colour; "
                          "use --format npz or folder")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--dataset {out}: the folder must be new or empty, so no old file passes as part of "
                          "this export")


def _generator_file(run) -> dict:
    """Which weights drew the images: generator.safetensors and its SHA-256, as `sha256sum` prints it."""
    if not run.generator.is_file():
        return {"file": str(run.checkpoint), "sha256": None}
    digest = hashlib.sha256(run.generator.read_bytes()).hexdigest()
    return {"file": str(run.generator.resolve()), "sha256": digest}


def _write_idx(out: Path, images: np.ndarray, labels: np.ndarray, names) -> list[str]:
    files = []
    for stem, data in (("train-images-idx3-ubyte", idx_bytes(images=images[..., 0])),
                       ("train-labels-idx1-ubyte", idx_bytes(labels=labels))):
        atomic_write(out / stem, lambda tmp, data=data: Path(tmp).write_bytes(data))
        packed = gzip.compress(data, compresslevel=6, mtime=0)  # mtime 0: the same images give the same bytes
        atomic_write(out / f"{stem}.gz", lambda tmp, packed=packed: Path(tmp).write_bytes(packed))
        files += [stem, f"{stem}.gz"]
    return files


def _write_npz(out: Path, images: np.ndarray, labels: np.ndarray, names) -> list[str]:
    arrays = dict(images=images, labels=labels.astype(np.int64), class_names=np.array(names))
    save_npz(out / "dataset.npz", **arrays)
    return ["dataset.npz"]


def _write_folder(out: Path, images: np.ndarray, labels: np.ndarray, names) -> list[str]:
    from PIL import Image

    # zero-padded class numbers: sorted folder names keep the class order (labels=folders sorts them)
    folders = [f"{k:0{len(str(len(names) - 1))}d}" for k in range(len(names))]
    width = max(5, len(str(len(images) - 1)))
    for folder in folders:
        (out / folder).mkdir(exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels)):
        pixels = image[:, :, 0] if image.shape[2] == 1 else image
        Image.fromarray(pixels).save(out / folders[label] / f"{i:0{width}d}.png")
    return [f"{folder}/ ({names[k]})" for k, folder in enumerate(folders)]


WRITERS = {"idx": _write_idx, "npz": _write_npz, "folder": _write_folder}
