"""Packing (PacGAN, Lin et al. 2018): D judges m images at once, stacked along the channels.

A G that draws few modes makes packs of look-alikes, which real packs never are, so D can punish
a collapse no single image shows. Any D of nets/ works: it is built for m x channels inputs and
wrapped here. Packs are m consecutive images, so a batch of reals then fakes (the step scores them
together) never mixes the two when each half divides by m; the last images of a batch that does
not divide sit the step out. D gives one logit per pack: (N // m, 1).
"""

from __future__ import annotations

import torch
from torch import nn


class PackedDiscriminator(nn.Module):
    def __init__(self, net: nn.Module, pack: int):
        super().__init__()
        if pack < 2:
            raise ValueError(f"pack={pack}: a pack holds at least 2 images")
        self.net, self.pack = net, pack

    def packs(self, x: torch.Tensor) -> torch.Tensor:
        return pack_images(x, self.pack)

    def forward(self, x: torch.Tensor, *rest) -> torch.Tensor:
        return self.net(self.packs(x), *rest)


def pack_images(x: torch.Tensor, pack: int) -> torch.Tensor:
    """(N, C, H, W) -> (N // pack, pack * C, H, W): consecutive images side by side as channels."""
    n, c, h, w = x.shape
    groups = n // pack
    return x[: groups * pack].reshape(groups, pack * c, h, w)
