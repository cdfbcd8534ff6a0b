"""Drawing images from a generator: seeded noise, the classes to draw, uint8 out.

Used by `generate`, `evaluate` and training-time evaluation alike, so a seed means the same
images wherever it is used.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import threads
from ..data import to_uint8
from ..errors import ConfigError
from .conditional import balanced_labels


def sample_labels(G: nn.Module, n: int, label: int | None = None) -> torch.Tensor | None:
    """The classes n samples are drawn for: None for an unconditional G; else every class in turn
    (0, 1, ..., K-1, 0, ...), or `label` throughout."""
    classes = getattr(G, "num_classes", 0)
    if not classes:
        if label is not None:
            raise ConfigError("--label: this run is not conditional (it was trained with conditional=false); drop --label")
        return None
    if label is None:
        return balanced_labels(n, classes)
    if not 0 <= label < classes:
        raise ConfigError(f"--label {label}: this run draws classes 0 to {classes - 1}")
    return torch.full((n,), label, dtype=torch.long)


@torch.no_grad()
def sample(G: nn.Module, latent_dim: int, n: int, seed: int, batch_size: int = 500,
           device: str | torch.device = "cpu", label: int | None = None,
           labels: torch.Tensor | None = None) -> torch.Tensor:
    """n images as uint8 (n, C, H, W), from noise drawn with `seed` (same seed, same images).
    A conditional G draws every class in turn, or only `label`, or the n given `labels`."""
    if n < 1:
        raise ConfigError(f"--n {n}: ask for at least one image")
    if labels is None:
        labels = sample_labels(G, n, label)
    elif len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} samples")
    return render(G, seed_noise(seed, n, latent_dim), labels, batch_size, device)


def seed_noise(seed: int, n: int, latent_dim: int) -> torch.Tensor:
    """The noise (n, latent_dim) that `seed` stands for, the same wherever a seed is used."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def render(G: nn.Module, noise: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 500,
           device: str | torch.device = "cpu") -> torch.Tensor:
    """G on given noise (and classes, for a conditional G) as uint8 (n, C, H, W), in batches; between
    batches the CPU threads are fitted to the free cores when the CLI asked (threads.py)."""
    noise = threads.between(noise.split(batch_size), device)
    if labels is None:
        chunks = [to_uint8(G(z.to(device)).cpu()) for z in noise]
    else:
        chunks = [to_uint8(G(z.to(device), y.to(device)).cpu()) for z, y in zip(noise, labels.split(batch_size))]
    return torch.cat(chunks)
