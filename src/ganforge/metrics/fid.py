"""FID and KID in judge feature space, computed by torchmetrics (the maths is theirs, not ours).

torchmetrics takes a custom `feature` module and runs it on whatever `update` receives. We hand it
features the judge has already computed, through a pass-through module, so the real side can come
from the on-disk reference cache and the judge runs once per image for every metric. Handing it
the judge itself (`Judge.feature`) on uint8 images gives the same numbers (tests check this).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from ..seeding import private_rng

KID_SUBSETS = 50  # torchmetrics has 100; half keeps a 10k evaluation within a CPU minute
KID_SUBSET_SIZE = 1000  # torchmetrics' default, lowered to N for smaller sets


class Precomputed(nn.Module):
    """A torchmetrics `feature` module for inputs that already are (N, D) features."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features  # read by torchmetrics instead of probing with a random image

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def fid(fake, ref, seed: int) -> dict:
    return {"fid": frechet(ref.real.features, fake.features)}


def frechet(real: torch.Tensor, samples: torch.Tensor) -> float:
    """FID between two sets of (N, D) judge features."""
    metric = FrechetInceptionDistance(feature=Precomputed(real.shape[1]))
    metric.update(real, real=True)
    metric.update(samples, real=False)
    return metric.compute().item()


def kid(fake, ref, seed: int) -> dict:
    real, samples = ref.real.features, fake.features
    subset_size = min(KID_SUBSET_SIZE, len(real), len(samples))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")  # we know; N is bounded
        metric = KernelInceptionDistance(feature=Precomputed(real.shape[1]), subsets=KID_SUBSETS,
                                         subset_size=subset_size)
    metric.update(real, real=True)
    metric.update(samples, real=False)
    # KID draws its subsets from the global stream: seed a private copy so the result repeats and a
    # training run that evaluates as it goes stays bit-reproducible.
    with private_rng(seed):
        mean, std = metric.compute()
    return {"kid_mean": mean.item(), "kid_std": std.item()}
