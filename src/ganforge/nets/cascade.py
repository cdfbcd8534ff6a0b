"""Two runs as one generator: a small noise-to-image G, then a super-resolution run's net (`generate
--upscale`, `evaluate --upscale`). LAPGAN (Denton et al. 2015) and StackGAN (Zhang et al. 2017)
draw large images this way: the GAN learns the layout where steps are cheap (16 px: ~5x the
64 px step rate on a CPU), and the SR net, trained on the folder's real images alone, adds the
detail. Measured on emoji in bench/folder.md ("three more roads").
"""

from __future__ import annotations

import torch
from torch import nn

from ..data import to_float, to_uint8


class Upscaled(nn.Module):
    """G's images rounded to uint8, as an SR net's inputs were while it learned, then upscaled by it.
    Called as G is (noise, and classes for a conditional G), so sampling code takes it unchanged."""

    def __init__(self, G: nn.Module, sr: nn.Module):
        super().__init__()
        self.G, self.sr = G, sr
        self.num_classes = getattr(G, "num_classes", 0)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        small = self.G(z) if labels is None else self.G(z, labels)
        return self.sr(to_float(to_uint8(small)))
