"""D's second opinion: verdicts on the maps of a frozen feature network (`d_features`).

Projected GAN (Sauer et al. 2021) and Vision-aided GAN (Kumari et al. 2022) train D on the features
of a network that already knows what images look like, so D's gradients speak of shapes and parts
from the first step instead of after thousands; both reach a given FID on small data with far fewer
images. Their networks (EfficientNet, CLIP) are downloads; this one is taught on the run's own
folder without labels (SimCLR, as the unlabelled judge is; training/features.py), with a seed of
its own, so it is not the judge that scores the run.

The frozen network is three strided conv + BatchNorm + ReLU stages (the judge's body, wider); each
stage's map (H/2, H/4, H/8) gets a small trainable head of stride-2 convs down to 4 x 4 and a 4 x 4
conv to one logit, as Projected GAN's multi-scale discriminators. Their logits are added to the
wrapped D's. BatchNorm stays in eval mode, so D still scores real and fake in one call.
"""

from __future__ import annotations

import torch
from torch import nn

from .dcgan_general import maybe_sn

FEATURE_WIDTH = 32  # the frozen stages' channels: 32, 64, 128
HEAD_WIDTH = 32


def feature_stages(channels: int, width: int = FEATURE_WIDTH) -> nn.ModuleList:
    """The frozen network: float images in [-1, 1] -> maps at 1/2, 1/4 and 1/8 of their size."""
    w = width
    return nn.ModuleList([
        nn.Sequential(nn.Conv2d(channels, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU()),
        nn.Sequential(nn.Conv2d(w, 2 * w, 3, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU()),
        nn.Sequential(nn.Conv2d(2 * w, 4 * w, 3, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.ReLU()),
    ])


def map_head(channels: int, size: int, spectral_norm: bool) -> nn.Sequential:
    """(N, channels, size, size) -> logits (N, 1): stride-2 convs to 4 x 4, then a 4 x 4 conv."""
    layers, c = [], channels
    while size > 4:
        layers += [maybe_sn(nn.Conv2d(c, HEAD_WIDTH, 4, 2, 1), spectral_norm), nn.LeakyReLU(0.2)]
        c, size = HEAD_WIDTH, size // 2
    return nn.Sequential(*layers, maybe_sn(nn.Conv2d(c, 1, 4, 1, 0), spectral_norm), nn.Flatten())


class FeatureDiscriminator(nn.Module):
    """`d` (any family's D) plus the heads' logits on the frozen stages' maps; same calls, same answers."""

    def __init__(self, d: nn.Module, channels: int, image_size: int, spectral_norm: bool = False):
        super().__init__()
        self.d = d
        self.stages = feature_stages(channels)
        self.stages.requires_grad_(False)  # taught once before training (training/features.py), then fixed
        sizes = [image_size // 2 ** (i + 1) for i in range(len(self.stages))]
        widths = [FEATURE_WIDTH * 2 ** i for i in range(len(self.stages))]
        self.heads = nn.ModuleList(map_head(c, s, spectral_norm) for c, s in zip(widths, sizes))
        self.stages.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        self.stages.eval()  # frozen: running statistics as taught, never the batch's
        return self

    def feature_logits(self, x: torch.Tensor) -> torch.Tensor:
        total = 0
        for stage, head in zip(self.stages, self.heads):
            x = stage(x)
            total = total + head(x)
        return total

    def forward(self, x: torch.Tensor, *args, **kwargs):
        """The wrapped D's answer (logits, or a tuple led by them) with the heads' logits added."""
        out = self.d(x, *args, **kwargs)
        extra = self.feature_logits(x)
        return out + extra if torch.is_tensor(out) else (out[0] + extra, *out[1:])
