"""Latent walks: from one seed's noise to the next along a great circle (slerp), drawn by a run's
generator. `ganforge interpolate` and the web page both call walk_images, so a walk is the same
images wherever it is made, and its endpoints are what `ganforge generate --n 1 --seed S` draws.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import torch

from .data import to_float
from .errors import ConfigError
from .fileio import atomic_write, save_npz
from .generate import load_generator
from .nets.sampling import render, sample_labels, seed_noise
from .viz import grid_image, save_png

MAX_SEEDS = 32
MAX_FRAMES = 2048  # the CLI's bound; the web page sets its own, smaller one
MIN_SIDE = 128  # GIF and MP4 frames are enlarged by an integer factor to at least this many pixels
FORMATS = (".gif", ".png", ".npz", ".mp4")


def parse_seeds(text: str, where: str = "--seeds ") -> list[int]:
    """'1,2,3' -> [1, 2, 3]; one line naming the problem otherwise (`where`: the option as the user
    wrote it, '--seeds ' on the command line, 'seeds=' on the web page)."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"{where}{text[:40]!r}: give whole numbers separated by commas, e.g. 1,2,3") from None
    return seeds


def check_walk(seeds: list[int], steps: int, max_frames: int = MAX_FRAMES) -> int:
    """The number of frames of a walk, after checking its size; raises ConfigError otherwise."""
    if not 2 <= len(seeds) <= MAX_SEEDS:
        raise ConfigError(f"--seeds: give 2 to {MAX_SEEDS} seeds, got {len(seeds)}")
    if any(a == b for a, b in zip(seeds, seeds[1:])):
        raise ConfigError("--seeds: neighbouring seeds must differ (a walk from a seed to itself stands still)")
    if any(not 0 <= s < 2**63 for s in seeds):
        raise ConfigError("--seeds: seeds are whole numbers from 0 to 2^63-1")
    if steps < 2:
        raise ConfigError(f"--steps {steps}: at least 2 (the two endpoints)")
    frames = (len(seeds) - 1) * (steps - 1) + 1
    if frames > max_frames:
        raise ConfigError(f"--steps {steps} with {len(seeds)} seeds makes {frames} frames; at most {max_frames}")
    return frames


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Points (len(t), D) from a to b: the direction turns along the great circle at an even angular
    speed (Shoemake 1985), the length goes linearly from |a| to |b|. Gaussian noise lives near a
    sphere; a straight line cuts through its inside, where G has seen no noise. t=0 gives a and
    t=1 gives b exactly."""
    a64, b64, t64 = a.double(), b.double(), t.double()[:, None]
    unit_a, unit_b = a64 / a64.norm(), b64 / b64.norm()
    omega = torch.arccos(torch.dot(unit_a, unit_b).clamp(-1, 1))
    if omega < 1e-6:  # (nearly) the same direction: slerp's weights are 0/0, and its limit is a lerp
        direction = (1 - t64) * unit_a + t64 * unit_b
    else:
        direction = (torch.sin((1 - t64) * omega) * unit_a + torch.sin(t64 * omega) * unit_b) / torch.sin(omega)
    path = (direction * ((1 - t64) * a64.norm() + t64 * b64.norm())).to(a.dtype)
    path[t == 0], path[t == 1] = a, b
    return path


def walk_latents(seeds: list[int], steps: int, latent_dim: int) -> torch.Tensor:
    """(frames, latent_dim): `steps` points from each seed's noise to the next, both ends included."""
    points = [seed_noise(s, 1, latent_dim)[0] for s in seeds]
    t = torch.linspace(0, 1, steps)
    segments = [slerp(a, b, t)[: None if i == len(points) - 2 else -1]
                for i, (a, b) in enumerate(zip(points, points[1:]))]
    return torch.cat(segments)


def walk_images(G: torch.nn.Module, latent_dim: int, seeds: list[int], steps: int, label: int | None = None,
                max_frames: int = MAX_FRAMES, device="cpu") -> torch.Tensor:
    """uint8 (frames, C, H, W). A conditional G keeps one class throughout: `label`, or class 0,
    as `generate --n 1` draws."""
    frames = check_walk(seeds, steps, max_frames)
    one = sample_labels(G, 1, label)
    labels = None if one is None else one.expand(frames)
    return render(G, walk_latents(seeds, steps, latent_dim), labels, device=device)


def enlarged(frames: torch.Tensor, min_side: int = MIN_SIDE) -> np.ndarray:
    """uint8 (F, H*k, W*k, C), k the smallest integer scale reaching min_side (nearest neighbour)."""
    k = max(1, math.ceil(min_side / frames.shape[-1]))
    return frames.repeat_interleave(k, 2).repeat_interleave(k, 3).permute(0, 2, 3, 1).numpy()


def gif_bytes(frames: torch.Tensor, ms_per_frame: int = 100) -> bytes:
    """The walk as a looping GIF (identical neighbouring frames merge, keeping the timing)."""
    import io

    from PIL import Image

    pictures = [Image.fromarray(f[:, :, 0] if f.shape[2] == 1 else f) for f in enlarged(frames)]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=ms_per_frame, loop=0)
    return buffer.getvalue()


def strip_image(frames: torch.Tensor):
    """The walk as one row of tiles (2-pixel padding, as generate's grids): a PIL image."""
    return grid_image(to_float(frames), nrow=len(frames), min_side=0)


def write_walk(frames: torch.Tensor, out: str | Path, ms_per_frame: int = 100) -> str:
    """Write by the target's suffix (FORMATS) and say what was written."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"--out {out}: use .gif (animation), .png (strip), .npz (uint8 frames) or .mp4 (needs ffmpeg)")
    if suffix == ".gif":
        data = gif_bytes(frames, ms_per_frame)
        atomic_write(out, lambda tmp: Path(tmp).write_bytes(data))
    elif suffix == ".png":
        save_png(strip_image(frames), out)
    elif suffix == ".npz":
        array = frames.permute(0, 2, 3, 1).numpy()
        save_npz(out, images=array)
    else:
        _write_mp4(enlarged(frames), out, ms_per_frame)
    return f"a walk of {len(frames)} frames in {out}"


def _write_mp4(frames: np.ndarray, out: Path, ms_per_frame: int) -> None:
    """H.264 through the ffmpeg program, where one is installed; raw RGB frames on its stdin."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ConfigError(f"--out {out}: writing .mp4 needs the ffmpeg program, and none is on PATH; "
                          "use .gif or .png, or install ffmpeg")
    rgb = np.repeat(frames, 3, axis=3) if frames.shape[3] == 1 else frames
    height, width = rgb.shape[1:3]
    command = [ffmpeg, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
               "-r", f"{1000 / ms_per_frame:g}", "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
               "-pix_fmt", "yuv420p", "-f", "mp4"]

    def encode(tmp: str) -> None:
        done = subprocess.run(command + [tmp], input=np.ascontiguousarray(rgb).tobytes(), capture_output=True)
        if done.returncode != 0:
            last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
            raise ConfigError(f"--out {out}: ffmpeg failed ({last})")

    atomic_write(out, encode)


def interpolate(run_dir: str | Path, seeds: list[int], steps: int, out: str | Path, label: int | None = None,
                ms_per_frame: int = 100, device: str = "cpu", upscale: str | Path | None = None) -> str:
    """`ganforge interpolate`: a run's walk through `seeds` (upscaled by an SR run's net, if given), written to `out`."""
    G, cfg = load_generator(run_dir, device, upscale)
    return write_walk(walk_images(G, cfg.latent_dim, seeds, steps, label, device=device), out, ms_per_frame)
