"""An SNGAN/BigGAN-lite residual family for 1- or 3-channel images at 32, 64 or 128 px (Miyato et al.
2018, "Spectral Normalization for GANs", appendix ResNets; Brock et al. 2019 for conditional BN).

G: z -> Linear -> width x 4 x 4 -> up-sampling residual blocks -> BN-ReLU-conv3x3-tanh.
D: optimized first block -> down-sampling residual blocks to 4 x 4 -> ReLU -> global sum -> Linear,
   plus a projection term when class-conditional; spectral norm on every weight by default.

Widths: channels stay at `width` for every feature map up to 32 x 32 (exactly SNGAN's CIFAR-10
stack at 32 px); each further doubling of the resolution halves them. Pixels grow 4x and
c_in * c_out shrinks ~4x, so each extra 64/128 px stage costs about what a 32 px stage does,
instead of 4x more per stage (and 16x at 128 px) with constant widths. D mirrors this: its
channels double as the maps shrink, up to `width`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .dcgan_general import (Norm2d, Projection, aux_classifier, check_labels, maybe_sn, num_doublings,
                            with_class_logits)


def stage_widths(width: int, image_size: int) -> list[int]:
    """Channels of the feature maps at 4, 8, ..., image_size px: width up to 32 px, then halved per doubling."""
    steps = num_doublings(image_size)
    if width % max(1, image_size // 32):
        raise ValueError(f"width {width}: at {image_size} px the widest-resolution stage has width / "
                         f"{image_size // 32} channels; use a multiple of {image_size // 32}")
    return [width // max(1, (4 * 2 ** i) // 32) for i in range(steps + 1)]


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class GBlock(nn.Module):
    """BN-ReLU-up-conv3x3-BN-ReLU-conv3x3 plus an up-sampled 1x1-conv shortcut."""

    def __init__(self, c_in: int, c_out: int, num_classes: int = 0):
        super().__init__()
        # no biases: every path from here to the image passes a later BatchNorm, which cancels a
        # per-channel constant, so a bias would only ever get a zero gradient
        self.norm1 = Norm2d(c_in, num_classes)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)
        self.norm2 = Norm2d(c_out, num_classes)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(_up(torch.relu(self.norm1(x, labels))))
        h = self.conv2(torch.relu(self.norm2(h, labels)))
        # a 1x1 conv commutes with nearest up-sampling: same result, a quarter of the work
        return h + _up(self.shortcut(x))


class DBlock(nn.Module):
    """ReLU-conv3x3-ReLU-conv3x3-avgpool plus a 1x1-conv, average-pooled shortcut. D's first block
    (`first`, SNGAN's "optimized" block) takes raw pixels, so it has no ReLU before its first conv."""

    def __init__(self, c_in: int, c_out: int, spectral_norm: bool = True, first: bool = False):
        super().__init__()
        self.first = first
        self.conv1 = maybe_sn(nn.Conv2d(c_in, c_out, 3, 1, 1), spectral_norm)
        self.conv2 = maybe_sn(nn.Conv2d(c_out, c_out, 3, 1, 1), spectral_norm)
        self.shortcut = maybe_sn(nn.Conv2d(c_in, c_out, 1), spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.conv2(torch.relu(self.conv1(x if self.first else torch.relu(x)))), 2)
        # pooling and a 1x1 conv commute (both linear, one over space, one over channels): pool first, 4x cheaper
        return h + self.shortcut(F.avg_pool2d(x, 2))


class ResNetGenerator(nn.Module):
    """z (N, latent_dim) [+ labels (N,)] -> images (N, channels, image_size, image_size) in [-1, 1]."""

    def __init__(self, latent_dim: int, channels: int, image_size: int, width: int = 256, num_classes: int = 0):
        super().__init__()
        widths = stage_widths(width, image_size)
        self.latent_dim, self.channels, self.image_size = latent_dim, channels, image_size
        self.width, self.num_classes = width, num_classes
        self.project = nn.Linear(latent_dim, widths[0] * 4 * 4)
        self.blocks = nn.ModuleList(GBlock(a, b, num_classes) for a, b in zip(widths, widths[1:]))
        self.out_norm = nn.BatchNorm2d(widths[-1])  # unconditional, as in SNGAN and BigGAN
        self.to_image = nn.Conv2d(widths[-1], channels, 3, 1, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        n = z.shape[0]  # not len(z): an exported graph (ONNX) keeps the batch size symbolic
        check_labels(self.num_classes, labels, n, "ResNetGenerator")
        h = self.project(z).view(n, -1, 4, 4)
        for block in self.blocks:
            h = block(h, labels)
        return torch.tanh(self.to_image(torch.relu(self.out_norm(h))))


class ResNetDiscriminator(nn.Module):
    """images (N, channels, image_size, image_size) [+ labels (N,)] -> logits (N, 1)."""

    def __init__(self, channels: int, image_size: int, width: int = 128, num_classes: int = 0,
                 spectral_norm: bool = True, aux: bool = False):
        super().__init__()
        # a block reading r x r maps puts out G's channel count at r px: width//4 at 128, width//2 at 64, else width
        widths = stage_widths(width, image_size)[:0:-1]  # image_size, ..., 8 px: one block each, down to 4 x 4
        self.channels, self.image_size, self.width = channels, image_size, width
        self.num_classes = num_classes
        blocks = [DBlock(channels, widths[0], spectral_norm, first=True)]
        blocks += [DBlock(a, b, spectral_norm) for a, b in zip(widths, widths[1:])]
        self.blocks = nn.Sequential(*blocks)
        self.head = maybe_sn(nn.Linear(widths[-1], 1), spectral_norm)
        self.projection = Projection(num_classes, widths[-1], spectral_norm) if num_classes else None
        self.classifier = aux_classifier(num_classes, widths[-1], spectral_norm, aux)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, classes: bool = False):
        """logits (N, 1); with classes=True, (logits, class logits (N, num_classes))."""
        check_labels(self.num_classes, labels, len(x), "ResNetDiscriminator")
        h = torch.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling, as SNGAN
        logits = self.head(h)
        logits = logits if self.projection is None else logits + self.projection(h, labels)
        return with_class_logits(logits, h, self.classifier, classes)
