"""New images from a trained generator: load it from a run folder, sample, write PNG/NPZ."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

import numpy as np
import torch

from .config import Config
from .data import to_float, to_uint8
from .errors import CheckpointError, ConfigError
from .fileio import atomic_write, save_npz
from .nets import build_generator
from .nets.cascade import Upscaled
from .nets.sampling import sample  # noqa: F401  (part of this viewer's API: evaluate and the package use it)
from .run import open_run
from .run.checkpoint import generator_weights, load_into, newest_checkpoint, read_generator
from .viz import grid_image, save_png


def load_generator(run_dir: str | Path, device: str | torch.device = "cpu",
                   upscale: str | Path | None = None) -> tuple[torch.nn.Module, Config]:
    """The run's generator in eval mode, rebuilt from its config.yaml and generator.safetensors (or,
    in a folder shared without that file, from its checkpoint, read as safely as resume reads it).
    upscale: a super-resolution run whose net takes G's images (nets/cascade.py); the config
    returned then says the size of the images drawn."""
    if upscale is not None:
        return _upscaled(run_dir, upscale, device)
    run = open_run(run_dir)
    cfg = run.read_config()
    return _loaded(run, cfg, device), cfg


def _loaded(run, cfg: Config, device) -> torch.nn.Module:
    G = build_generator(cfg)
    if run.generator.is_file():
        load_into(G, read_generator(run.generator), f"{run.generator}")
    elif run.has_checkpoint():
        saved, path, _ = newest_checkpoint(run.checkpoint, run.previous_checkpoint, wanted_config=cfg.to_dict())
        load_into(G, generator_weights(saved), f"the generator in {path}")
    else:
        raise CheckpointError(f"{run.root} has no generator.safetensors yet; train at least one epoch first")
    return G.to(device).eval()


def _upscaled(run_dir, sr_dir, device) -> tuple[torch.nn.Module, Config]:
    run, sr_run = open_run(run_dir), open_run(sr_dir)
    cfg, sr_cfg = run.read_config(), sr_run.read_config()  # checked before any weights load
    if cfg.task != "gan" or sr_cfg.task != "sr":
        raise ConfigError(f"--upscale takes a run that draws from noise and a super-resolution run (--preset sr4); "
                          f"{run_dir} is a {cfg.task} run and {sr_dir} a {sr_cfg.task} run")
    small = sr_cfg.image_size // sr_cfg.scale
    if (cfg.channels, cfg.image_size) != (sr_cfg.channels, small):
        raise ConfigError(f"--upscale {sr_dir}: it upscales {sr_cfg.channels}-channel {small} px images x{sr_cfg.scale}, "
                          f"but {run_dir} draws {cfg.channels}-channel {cfg.image_size} px ones; train the SR run with "
                          f"image_size={cfg.image_size * sr_cfg.scale} (or a scale that fits)")
    upscaled = Upscaled(_loaded(run, cfg, device), _loaded(sr_run, sr_cfg, device))
    return upscaled.eval(), dataclasses.replace(cfg, image_size=sr_cfg.image_size)


def write_samples(images: torch.Tensor, out: str | Path) -> str:
    """Write uint8 (N, C, H, W) images by the target's form and return what was written:
    *.png -> one grid; *.npz -> array 'images' (N, H, W, C) uint8; a folder -> one PNG per image."""
    out = Path(out)
    text = str(out)
    if out.suffix.lower() == ".png":
        save_png(grid_image(to_float(images), min_side=0), out)
        return f"a grid of {len(images)} images in {out}"
    if out.suffix.lower() == ".npz":
        array = images.permute(0, 2, 3, 1).numpy()
        save_npz(out, images=array)
        return f"{len(images)} images as uint8 array {tuple(array.shape)} (N, H, W, C) in {out}"
    if out.suffix and not text.endswith(("/", "\\")) and not out.is_dir():
        raise ConfigError(f"--out {out}: use a .png (grid), .npz (array) or a folder path ending in /")
    out.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    width = len(str(len(images) - 1))
    for i, image in enumerate(images.permute(0, 2, 3, 1).numpy()):
        Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(out / f"{i:0{max(width, 4)}d}.png")
    return f"{len(images)} PNG files in {out}/"


def generate(run_dir: str | Path, n: int = 64, out: str | Path = "samples.png", seed: int | None = None,
             device: str = "cpu", label: int | None = None, upscale: str | Path | None = None) -> tuple[str, int]:
    """Sample n new images from a run (upscaled by an SR run's net, if given) and write them to `out`;
    returns (description, seed used)."""
    seed = secrets.randbelow(2**31) if seed is None else seed
    G, cfg = load_generator(run_dir, device, upscale)
    if cfg.task != "gan":
        raise ConfigError(f"{run_dir} is a {cfg.task} run: it turns images into images; give them with "
                          "--input IMAGE_OR_FOLDER")
    return write_samples(sample(G, cfg.latent_dim, n, seed, device=device, label=label), out), seed


def sample_grid(run_dir: str | Path, n: int = 64, seed: int = 0, label: int | None = None, nrow: int | None = None,
                device: str = "cpu"):
    """n new images from a run as one PIL grid (a notebook shows it inline): the images
    `ganforge generate RUN --n N --seed S [--label K]` draws."""
    G, cfg = load_generator(run_dir, device)
    return grid_image(to_float(sample(G, cfg.latent_dim, n, seed, device=device, label=label)), nrow=nrow)


MAX_SR_SIDE = 256  # a x4 output of 1024 px: about a GB of activations on the CPU


def read_input(source, cfg) -> torch.Tensor:
    """One input image for an image-to-image run, as uint8 (1, C, H, W): pix2pix and cycle read it
    at the run's image_size (centre crop), sr at its own size. source: a path or an upload's bytes
    (io.BytesIO). Raises folder.Unusable with a few words on why not."""
    from .data.folder import FolderOptions, Unusable, decode_image

    options = FolderOptions(cfg.channels, 0 if cfg.task == "sr" else cfg.image_size, background=cfg.background)
    image = torch.tensor(decode_image(source, options))[None]  # a copy: PIL's array is read-only
    if cfg.task == "sr" and max(image.shape[-2:]) > MAX_SR_SIDE:
        raise Unusable(f"{image.shape[-1]}x{image.shape[-2]}: super-resolution takes up to {MAX_SR_SIDE} px "
                       f"a side here; crop or shrink it first")
    return image


def apply_translation(G, image: torch.Tensor, device: str | torch.device = "cpu") -> torch.Tensor:
    """G on uint8 (1, C, H, W) images: its uint8 output (sr: `scale` times larger)."""
    with torch.no_grad():
        return to_uint8(G(to_float(image).to(device))).cpu()


def translate(run_dir: str | Path, source: str | Path, out: str | Path, device: str = "cpu", echo=print) -> str:
    """An image-to-image run applied to one image or to every image in a folder (read_input):
    one PNG per input, with the input's name (its stem + .png) in the folder `out`, or the one
    image at `out` when the input is a single file and `out` ends in .png."""
    from PIL import Image

    from .data.folder import IMAGE_SUFFIXES, Unusable

    G, cfg = load_generator(run_dir, device)
    if cfg.task == "gan":
        raise ConfigError(f"{run_dir} draws images from noise; --input is for image-to-image runs (--preset pix2pix, sr4)")
    source, out = Path(source), Path(out)
    paths = [source] if source.is_file() else sorted(
        p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()) if source.is_dir() else []
    if not paths:
        raise ConfigError(f"--input {source}: no image file there ({', '.join(sorted(IMAGE_SUFFIXES))})")
    single = source.is_file() and out.suffix.lower() == ".png"
    if not single and out.suffix and not out.is_dir():
        raise ConfigError(f"--out {out}: translating {'a folder' if source.is_dir() else 'an image'} writes into a "
                          "folder; give a folder path (or x.png for a single input image)")
    written, skipped = 0, []
    for path in paths:
        try:
            image = read_input(path, cfg)
        except Unusable as why:
            skipped.append(f"{path.name} ({why})")
            continue
        output = apply_translation(G, image, device)[0].permute(1, 2, 0).numpy()
        target = out if single else out / f"{path.stem}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        pixels = Image.fromarray(output[:, :, 0] if output.shape[2] == 1 else output)
        atomic_write(target, lambda tmp, pixels=pixels: pixels.save(tmp, format="PNG"))
        written += 1
    if skipped:
        echo(f"skipped {len(skipped)} input(s) that could not be read: {'; '.join(skipped[:3])}")
    if not written:
        raise ConfigError(f"--input {source}: none of its {len(paths)} image files could be read")
    return f"{written} translated image(s) in {out}" if not single else f"the translated image in {out}"
