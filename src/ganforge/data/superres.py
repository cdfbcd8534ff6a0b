"""Super-resolution pairs (task=sr, issue 17): any dataset's images as targets, and their copies
downscaled `scale` times as inputs (x4: 64 px emoji from 16 px, 28 px digits from 7 px).

    pairs = sr_pairs("mnist", "test", scale=4, options=FolderOptions(1, 28))
    pairs.a                  # uint8 (N, 1, 7, 7): what the model sees
    pairs.b                  # uint8 (N, 1, 28, 28): what it should give back

The degradation is fixed and deterministic: bicubic with antialiasing (PyTorch's, on the CPU, in
float64), rounded to uint8, as a user's small image would be. Held-out images: a built-in dataset's
test split; for a folder, the names a seeded hash puts in the test split (pairs.split_of).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import DataError
from . import FOLDER_PREFIX, load_dataset
from .folder import FolderOptions
from .pairs import PairData, load_named


def downscale(images: torch.Tensor, scale: int) -> torch.Tensor:
    """uint8 (N, C, S, S) -> uint8 (N, C, S/scale, S/scale)."""
    size = images.shape[-1]
    if size % scale:
        raise DataError(f"image_size {size} is not a multiple of scale {scale}; pick sizes that divide")
    small = F.interpolate(images.double(), size=(size // scale, size // scale), mode="bicubic", antialias=True,
                          align_corners=False)
    return small.round().clamp(0, 255).to(torch.uint8)


def upscale(images: torch.Tensor, scale: int) -> torch.Tensor:
    """Float images (N, C, s, s) in [-1, 1] -> (N, C, s*scale, s*scale), bicubic: the baseline that
    needs no training, and the picture the network adds its detail to."""
    return F.interpolate(images, scale_factor=scale, mode="bicubic", align_corners=False).clamp(-1, 1)


def sr_pairs(dataset: str, split: str, scale: int, options: FolderOptions, data_dir=None, echo=None) -> PairData:
    """(downscaled, original) uint8 pairs of a dataset's `split`; see the module docstring."""
    if dataset.startswith(FOLDER_PREFIX):
        images, names = load_named(Path(dataset[len(FOLDER_PREFIX):]).expanduser(), split, options, echo)
        high = torch.from_numpy(images)
    else:
        data = load_dataset(dataset, split, data_dir)
        if data.shape[1] != options.image_size:
            raise DataError(f"{dataset}: its images are {data.shape[1]} px; set image_size={data.shape[1]} for it")
        high, names = data.images, [str(i) for i in range(len(data))]
    return PairData(downscale(high, scale).numpy(), high.contiguous().numpy(), names, split)
