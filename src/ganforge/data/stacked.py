"""Stacked MNIST: three MNIST digits as the R, G and B channels of one 28x28 image, so 1,000
equally likely modes (Metz et al. 2017; the yardstick of VEEGAN and PacGAN for mode collapse).

Each image takes three training digits drawn independently (with a fixed seed per split), one per
channel; its label is 100*d1 + 10*d2 + d3, the digits of the R, G and B channels. Made from the
MNIST files in memory when loaded (a gather, well under a second): nothing is written to disk.
"""

from __future__ import annotations

import torch

SOURCE = {"stacked-mnist": "mnist"}  # each stacked dataset and the digit dataset it stacks
SIZES = {"train": 128_000, "test": 26_000}  # train: VEEGAN's/PacGAN's size; test: the 26,000 of their protocol
SEEDS = {"train": 0, "test": 1}
CHANNELS = 3
CLASS_NAMES = [f"{k:03d}" for k in range(10 ** CHANNELS)]


def stack(images: torch.Tensor, labels: torch.Tensor, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 digits (N, 1, H, W) and their labels -> (SIZES[split], 3, H, W) stacks and their 1,000-class labels."""
    picks = stack_indices(len(images), SIZES[split], SEEDS[split])  # (n, 3): the digit in each channel
    stacked = images[:, 0][picks]  # (n, 3, H, W)
    return stacked.contiguous(), mode_of(labels[picks])


def stack_indices(count: int, n: int, seed: int) -> torch.Tensor:
    """n rows of 3 indices into `count` digits, each drawn uniformly and independently."""
    return torch.randint(count, (n, CHANNELS), generator=torch.Generator().manual_seed(seed))


def mode_of(digits: torch.Tensor) -> torch.Tensor:
    """(N, 3) digits per channel -> (N,) mode ids 100*d1 + 10*d2 + d3."""
    return (digits * torch.tensor([100, 10, 1], dtype=digits.dtype)).sum(1)
