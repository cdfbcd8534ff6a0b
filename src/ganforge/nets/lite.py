"""A light generator for small data at 32-128 px, after FastGAN (Liu et al. 2021, "Towards Faster
and Stabilized GAN Training for High-fidelity Few-shot Image Synthesis"), sized for a CPU.

G: z -> Linear -> width x 4 x 4 -> GLU -> blocks of nearest x2 + conv3x3 + BN + GLU (channels halve
   at each doubling) -> conv3x3 -> tanh. From 32 px up, each block's output is gated channel-wise by
   the map two doublings below it (skip-layer excitation, SLE): the coarse layout reaches the fine
   layers in one hop, so their gradients do not fade through every block between.
   Nearest up-sampling then a 3x3 conv draws no checkerboard, which stride-2 transposed convs do
   (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts"). Conditional: class-conditional
   BatchNorm in every block, as the DCGAN family.
D: the DCGAN family's (dcgan_general.py), with its spectral norm, projection and AC-GAN options;
   with recon, FastGAN's self-supervision too: a small decoder rebuilds each image D sees at half
   size from D's 8 x 8 map, so D must keep what the images hold rather than memorise a few cues of
   a small data set (the training step asks for it on real images only; pixel L1, not FastGAN's
   LPIPS, which needs a downloaded VGG).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .dcgan_general import DCGANDiscriminator, Norm2d, check_labels, num_doublings


class GluUp(nn.Module):
    """Nearest x2, conv3x3 to twice the channels, BatchNorm, GLU: twice the size, c_out channels.
    norm=False: no BatchNorm and a conv bias instead (D's decoder)."""

    def __init__(self, c_in: int, c_out: int, num_classes: int = 0, norm: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(c_in, 2 * c_out, 3, 1, 1, bias=not norm)  # BatchNorm cancels a bias
        self.norm = Norm2d(2 * c_out, num_classes) if norm else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))
        return F.glu(x if self.norm is None else self.norm(x, labels), dim=1)


class SkipExcitation(nn.Module):
    """FastGAN's SLE: a low-resolution map, pooled to 4 x 4, becomes one gate in (0, 1) per channel
    of a high-resolution map."""

    def __init__(self, c_low: int, c_high: int):
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(c_low, c_high, 4, bias=False), nn.SiLU(),
                                  nn.Conv2d(c_high, c_high, 1, bias=False), nn.Sigmoid())

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        return high * self.gate(low)


class LiteGenerator(nn.Module):
    """z (N, latent_dim) [+ labels (N,)] -> images (N, channels, image_size, image_size) in [-1, 1]."""

    def __init__(self, latent_dim: int, channels: int, image_size: int, width: int = 128, num_classes: int = 0):
        super().__init__()
        steps = num_doublings(image_size)
        if width % 2 ** steps:
            raise ValueError(f"width {width}: G halves it {steps} times for {image_size} px; "
                             f"use a multiple of {2 ** steps}")
        self.latent_dim, self.channels, self.image_size = latent_dim, channels, image_size
        self.width, self.num_classes = width, num_classes
        widths = [width // 2 ** i for i in range(steps + 1)]  # 4x4 ... image_size
        self.project = nn.Linear(latent_dim, 2 * width * 4 * 4, bias=False)
        self.project_norm = Norm2d(2 * width, num_classes)
        self.blocks = nn.ModuleList(GluUp(a, b, num_classes) for a, b in zip(widths, widths[1:]))
        # block i makes widths[i + 1] at 8 * 2**i px; from 32 px on it is excited by the map 4x smaller
        self.excite = nn.ModuleDict({str(i): SkipExcitation(widths[i - 1], widths[i + 1])
                                     for i in range(2, steps)})
        self.to_image = nn.Conv2d(widths[-1], channels, 3, 1, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        n = z.shape[0]  # not len(z): an exported graph (ONNX) keeps the batch size symbolic
        check_labels(self.num_classes, labels, n, "LiteGenerator")
        h = F.glu(self.project_norm(self.project(z).view(n, 2 * self.width, 4, 4), labels), dim=1)
        maps = [h]  # the map at 4, 8, 16, ... px
        for i, block in enumerate(self.blocks):
            h = block(h, labels)
            if str(i) in self.excite:
                h = self.excite[str(i)](maps[i - 1], h)
            maps.append(h)
        return torch.tanh(self.to_image(h))


class LiteDiscriminator(DCGANDiscriminator):
    """The DCGAN D; with recon=True at build time, D(x, labels, classes, recon=n) also returns its
    rebuilt first n images (n, channels, image_size / 2, image_size / 2) in [-1, 1], last (the step
    puts the reals first and rebuilds only them)."""

    def __init__(self, channels: int, image_size: int, width: int = 64, num_classes: int = 0,
                 spectral_norm: bool = False, aux: bool = False, minibatch_std: int = 0, recon: bool = False):
        super().__init__(channels, image_size, width, num_classes, spectral_norm, aux, minibatch_std)
        steps = num_doublings(image_size)
        self.split = 2 * (steps - 1)  # features[:split] (conv + LeakyReLU pairs) end at 8 x 8
        self.decoder = None
        if recon:
            # a 1x1 conv down to 32 channels first: decoding from D's full 8 x 8 width cost as much as D.
            # No BatchNorm (FastGAN has one): D without batch statistics scores real and fake in one call
            widths = [max(8, 32 // 2 ** i) for i in range(steps - 1)]  # 8 x 8 ... size / 2
            self.decoder = nn.Sequential(nn.Conv2d(width * 2 ** (steps - 2), widths[0], 1),
                                         *(GluUp(a, b, norm=False) for a, b in zip(widths, widths[1:])),
                                         nn.Conv2d(widths[-1], channels, 3, 1, 1), nn.Tanh())

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, classes: bool = False, recon: int = 0):
        if not recon:
            return super().forward(x, labels, classes)
        if self.decoder is None:
            raise ValueError("rebuilt images were asked of a D without a decoder (d_recon=0)")
        check_labels(self.num_classes, labels, len(x), "LiteDiscriminator")
        fine = self.features[:self.split](x)
        out = self.judge(self.features[self.split:](fine), labels, classes)
        rebuilt = self.decoder(fine[:recon])
        return (*out, rebuilt) if classes else (out, rebuilt)

