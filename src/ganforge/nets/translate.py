"""Image-to-image networks (pix2pix, Isola et al. 2017; issue 17), sized for 32-128 px on a CPU.

UNet(channels, image_size, width)
    The generator: an encoder of stride-2 4x4 convolutions down to a 4x4 map and a decoder of
    stride-2 transposed convolutions back up, each decoder stage also reading the encoder map of
    its size (skip connections carry the input's layout straight to the output, so the net only
    has to learn the change). BatchNorm except on the first and last layer, LeakyReLU 0.2 down,
    ReLU up, dropout 0.5 in the two deepest decoder stages (pix2pix's only noise), tanh out.
PatchGAN(channels, width, layers)
    The discriminator: it sees input and output side by side (2 x channels; paired=False, CycleGAN:
    the image alone) and gives one logit
    per overlapping patch, not per image, so it judges local texture and leaves the layout to L1.
    layers=3 is pix2pix's 70x70 design; on 64 px it gives a 6x6 grid of 46x46-pixel patches.
SRNet(channels, scale, width, blocks)
    Super-resolution (SRGAN's generator, Ledig et al. 2017, made small): residual blocks at the
    input's size, then x2 pixel-shuffle stages up to `scale`, added to the bicubic upscale, so the
    net only learns the detail bicubic misses (an untrained SRNet is close to bicubic).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..data.superres import upscale

BOTTOM = 4  # the encoder stops at a 4x4 map


def unet_depth(image_size: int) -> int:
    """Stride-2 stages from image_size down to 4x4 (3 at 32 px, 4 at 64, 5 at 128)."""
    depth = round(math.log2(image_size / BOTTOM))
    if image_size < 8 or BOTTOM * 2 ** depth != image_size:
        raise ValueError(f"image_size {image_size}: the U-Net needs a power of two from 8 up (32, 64, 128)")
    return depth


def _down(c_in: int, c_out: int, norm: bool) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not norm)]
    return nn.Sequential(*layers, *([nn.BatchNorm2d(c_out)] if norm else []), nn.LeakyReLU(0.2))


def _up(c_in: int, c_out: int, dropout: bool) -> nn.Sequential:
    layers = [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, *([nn.Dropout(0.5)] if dropout else []), nn.ReLU())


class UNet(nn.Module):
    def __init__(self, channels: int = 3, image_size: int = 64, width: int = 64, max_width: int = 512):
        super().__init__()
        depth = unet_depth(image_size)
        widths = [min(width * 2 ** i, max_width) for i in range(depth)]  # encoder outputs, by stage
        self.down = nn.ModuleList(_down(c_in, c_out, norm=i > 0) for i, (c_in, c_out) in
                                  enumerate(zip([channels, *widths[:-1]], widths)))
        ups = []
        for i in reversed(range(1, depth)):  # from the bottom: in = the map below (+ its skip), out = stage i-1's width
            c_in = widths[i] if i == depth - 1 else 2 * widths[i]
            ups.append(_up(c_in, widths[i - 1], dropout=i >= depth - 2))
        self.up = nn.ModuleList(ups)
        self.out = nn.Sequential(nn.ConvTranspose2d(2 * widths[0] if depth > 1 else widths[0], channels, 4, 2, 1),
                                 nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        skips.pop()  # the bottom map is x itself
        for stage in self.up:
            x = torch.cat([stage(x), skips.pop()], 1)
        return self.out(x)


class PatchGAN(nn.Module):
    def __init__(self, channels: int = 3, width: int = 64, layers: int = 3, paired: bool = True):
        super().__init__()
        widths = [min(width * 2 ** i, 8 * width) for i in range(layers + 1)]
        blocks = [_down((2 if paired else 1) * channels, widths[0], norm=False)]
        blocks += [_down(widths[i - 1], widths[i], norm=True) for i in range(1, layers)]
        blocks += [nn.Sequential(nn.Conv2d(widths[layers - 1], widths[layers], 4, 1, 1, bias=False),
                                 nn.BatchNorm2d(widths[layers]), nn.LeakyReLU(0.2)),
                   nn.Conv2d(widths[layers], 1, 4, 1, 1)]
        self.net = nn.Sequential(*blocks)

    def forward(self, *images: torch.Tensor) -> torch.Tensor:
        """Logits (N, 1, P, P), one per patch: paired, D(source, image) for `image` as a translation of
        `source`; unpaired (CycleGAN), D(image) for whether `image` belongs to its side."""
        return self.net(torch.cat(images, 1))


class _Residual(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),
                                  nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRNet(nn.Module):
    def __init__(self, channels: int = 3, scale: int = 4, width: int = 64, blocks: int = 8):
        super().__init__()
        steps = round(math.log2(scale))
        if scale < 2 or 2 ** steps != scale:
            raise ValueError(f"scale {scale}: SRNet upscales by a power of two (2, 4, 8)")
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2))
        self.body = nn.Sequential(*(_Residual(width) for _ in range(blocks)),
                                  nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))
        self.up = nn.Sequential(*(nn.Sequential(nn.Conv2d(width, 4 * width, 3, 1, 1), nn.PixelShuffle(2), nn.LeakyReLU(0.2))
                                  for _ in range(steps)))
        self.out = nn.Conv2d(width, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        detail = self.out(self.up(features + self.body(features)))
        return (upscale(x, self.scale) + detail).clamp(-1, 1)
