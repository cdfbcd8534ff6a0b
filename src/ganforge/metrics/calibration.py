"""The calibration table: what real, degraded and broken "generators" score on each metric.

scripts/calibrate_metrics.py writes it to reference.json beside this file; reports read it so that
each number is shown next to its reference (a FID of 3 says little until you know that real images
score 0.4 and real images with a little noise score 5).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from ..data import ImageData, to_float, to_uint8
from ..fileio import atomic_write
from .judge import judge_source

TABLE_PATH = Path(__file__).with_name("reference.json")

ROWS = {  # row key -> what the "generator" is
    "real": "real train images (the floor)",
    "blur": "real, Gaussian blur sigma 1 px",
    "noise-0.1": "real + Gaussian noise sigma 0.1",
    "noise-0.3": "real + Gaussian noise sigma 0.3",
    "single-class": "real, first class only",
    "single-image": "one real image repeated",
    "shuffled-patches": "real, each image's 4x4 grid of patches shuffled",
    "uniform": "uniform noise",
}
COLUMNS = ("fid", "kid_mean", "classifier_score", "classes_covered", "class_kl", "precision", "recall",
           "memorisation_ratio")


def load_table(path: Path = TABLE_PATH) -> dict:
    """{dataset: {"judge": {...}, "rows": [{"row", "n", metric...}]}}, or {} before calibration."""
    return json.loads(path.read_text()) if path.is_file() else {}


def save_table(table: dict, path: Path = TABLE_PATH) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(table, indent=1) + "\n"))


def reference_rows(dataset: str, n: int, table: dict | None = None) -> tuple[dict, dict[str, dict]] | None:
    """(judge info, {row key: metrics}) for `dataset` at the calibrated N nearest to n, or None."""
    entry = (load_table() if table is None else table).get(judge_source(dataset))
    if not entry:
        return None
    nearest = min({row["n"] for row in entry["rows"]}, key=lambda m: abs(math.log(m / n)))
    return entry["judge"], {row["row"]: row for row in entry["rows"] if row["n"] == nearest}


def calibration_sets(train: ImageData, n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """{row key: n uint8 images} for each row of ROWS, drawn from the real training split."""
    gen = torch.Generator().manual_seed(seed)
    real = train.images[torch.randperm(len(train), generator=gen)[:n]]
    pixels = to_float(real)
    first_class = torch.nonzero(train.labels == 0).squeeze(1)
    # drawn with replacement: one class of MNIST has about 6,000 images, fewer than the largest N
    one_class = train.images[first_class[torch.randint(len(first_class), (n,), generator=gen)]]
    return {
        "real": real,
        "blur": to_uint8(gaussian_blur(pixels, sigma=1.0)),
        "noise-0.1": to_uint8(pixels + 0.1 * torch.randn(pixels.shape, generator=gen)),
        "noise-0.3": to_uint8(pixels + 0.3 * torch.randn(pixels.shape, generator=gen)),
        "single-class": one_class,
        "single-image": real[:1].expand(n, -1, -1, -1).contiguous(),
        "shuffled-patches": shuffled_patches(real, 4, gen),
        "uniform": torch.randint(0, 256, real.shape, generator=gen, dtype=torch.uint8),
    }


def shuffled_patches(images: torch.Tensor, grid: int, gen: torch.Generator) -> torch.Tensor:
    """Each image cut into grid x grid patches, put back in a random order: every local statistic
    kept, the layout gone. A judge that only sees textures and colours scores it near real."""
    n, c, h, w = images.shape
    if h % grid or w % grid:
        raise ValueError(f"{h}x{w} images do not split into a {grid}x{grid} grid of patches")
    ph, pw = h // grid, w // grid
    patches = images.reshape(n, c, grid, ph, grid, pw).permute(0, 2, 4, 1, 3, 5).reshape(n, grid * grid, c, ph, pw)
    order = torch.argsort(torch.rand(n, grid * grid, generator=gen), dim=1)
    patches = patches[torch.arange(n)[:, None], order]
    return patches.reshape(n, grid, grid, c, ph, pw).permute(0, 3, 1, 4, 2, 5).reshape(n, c, h, w).contiguous()


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    from torchvision.transforms.functional import gaussian_blur as blur

    size = 2 * round(3 * sigma) + 1  # +-3 sigma holds 99.7% of the kernel
    return blur(images, kernel_size=[size, size], sigma=[sigma, sigma])
