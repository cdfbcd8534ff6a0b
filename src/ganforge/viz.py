"""Pictures of a run: sample grids, the progress GIF, the loss/accuracy plot."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image

from .fileio import atomic_write


def grid_image(images: torch.Tensor, nrow: int | None = None, min_side: int = 256) -> Image.Image:
    """Images in [-1, 1] (N, C, H, W) -> one PIL grid, enlarged by an integer factor (nearest
    neighbour, so pixels stay sharp) until it is at least min_side pixels wide."""
    nrow = nrow or math.ceil(math.sqrt(len(images)))
    grid = tile(images.detach().float().cpu().clamp(-1, 1).add(1).div(2), nrow)
    array = grid.mul(255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    image = Image.fromarray(array[:, :, 0] if images.shape[1] == 1 else array)
    scale = max(1, math.ceil(min_side / image.width))
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST) if scale > 1 else image


def tile(images: torch.Tensor, nrow: int, padding: int = 2, pad_value: float = 1.0) -> torch.Tensor:
    """(N, C, H, W) -> (C, rows, cols) with `padding` pixels of pad_value around each image, nrow to a
    row: torchvision's make_grid layout, written out because importing torchvision costs every
    training process ~165 MB of RSS (bench/README.md, Memory)."""
    n, c, h, w = images.shape
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = images.new_full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value)
    for k, image in enumerate(images):
        top, left = padding + (k // cols) * (h + padding), padding + (k % cols) * (w + padding)
        grid[:, top:top + h, left:left + w] = image
    return grid


def save_png(image: Image.Image, path: str | Path) -> None:
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))


def save_gif(frame_paths: list[Path], path: str | Path, ms_per_frame: int = 200) -> bool:
    """All epoch grids as one looping GIF, the last frame held longer. False if there are none."""
    frames = [Image.open(p).convert("L" if Image.open(p).mode == "L" else "RGB") for p in frame_paths]
    if not frames:
        return False
    durations = [ms_per_frame] * (len(frames) - 1) + [1500]
    atomic_write(path, lambda tmp: frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                                                  duration=durations, loop=0))
    return True


def save_loss_plot(records: list[dict], path: str | Path) -> bool:
    """G and D loss and D's accuracy per epoch, from metrics.jsonl records, as a PNG file."""
    if not records:
        return False
    fig = loss_figure(records)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    return True


def loss_figure(records: list[dict]):
    """The loss plot as a matplotlib Figure (a notebook shows it inline). Built without pyplot, so it
    neither opens a window nor changes the backend a notebook has chosen."""
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in records]
    fig = Figure(figsize=(7, 6))
    ax_loss, ax_acc = fig.subplots(2, 1, sharex=True)
    ax_loss.plot(epochs, [r["g_loss"] for r in records], marker=".", label="G loss")
    ax_loss.plot(epochs, [r["d_loss"] for r in records], marker=".", label="D loss")
    ax_loss.set_ylabel("loss (BCE)")
    ax_loss.legend()
    ax_acc.plot(epochs, [r["d_acc_real"] for r in records], marker=".", label="D accuracy on real")
    ax_acc.plot(epochs, [r["d_acc_fake"] for r in records], marker=".", label="D accuracy on fake")
    ax_acc.set_ylim(-0.02, 1.02)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.legend()
    fig.tight_layout()
    return fig
