"""A resolution-general DCGAN family (Radford et al. 2016) for 1- or 3-channel images at 32, 64 or
128 px, optionally class-conditional, and the small layers the ResNet family shares with it.

G: z -> Linear -> width x 4 x 4 -> stride-2 ConvTranspose2d(4, 2, 1) blocks halving the channels
   -> image, tanh. Conditional: class-conditional BatchNorm in every block (de Vries et al. 2017).
D: stride-2 Conv2d(4, 2, 1) + LeakyReLU(0.2) blocks doubling the channels down to 4 x 4, then
   Flatten + Linear(-> 1); optionally a minibatch-stddev channel at 4 x 4 first (ProGAN, Karras et
   al. 2018: D sees how alike a group of images is, so G cannot draw the same image for every z).
   Conditional: a projection term <embed(y), h> (Miyato & Koyama 2018),
   and optionally an auxiliary classifier of h (AC-GAN, Odena et al. 2017): D(x, y, classes=True)
   also returns class logits, which the training step turns into a class loss for D and for G.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

IMAGE_SIZES = (16, 32, 64, 128)


def num_doublings(image_size: int) -> int:
    """How many x2 steps lie between 4 x 4 and image_size (3, 4, 5 for 32, 64, 128)."""
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size {image_size}: these networks make {', '.join(map(str, IMAGE_SIZES))} px images")
    return int(math.log2(image_size // 4))


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    """`module` with spectral normalisation on its weight when enabled (Miyato et al. 2018)."""
    return _spectral_norm(module) if enabled else module


def check_labels(num_classes: int, labels: torch.Tensor | None, n: int, who: str) -> None:
    """Fail early, in words, when labels and conditioning disagree."""
    if num_classes and labels is None:
        raise ValueError(f"{who} is class-conditional (num_classes={num_classes}): pass labels, a LongTensor of "
                         f"shape ({n},) with values in 0..{num_classes - 1}")
    if not num_classes and labels is not None:
        raise ValueError(f"{who} is unconditional (num_classes=0): it takes no labels")
    if labels is not None and tuple(labels.shape) != (n,):
        raise ValueError(f"{who}: labels must have shape ({n},), one per image; got {tuple(labels.shape)}")


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm2d whose scale and shift are looked up per class; starts as plain BatchNorm."""

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.num_features = num_features
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.embed = nn.Embedding(num_classes, 2 * num_features)  # row y: [gamma_y, beta_y]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """gamma 1, beta 0 for every class: the same start as an unconditional BatchNorm."""
        with torch.no_grad():
            self.embed.weight[:, : self.num_features].fill_(1.0)
            self.embed.weight[:, self.num_features:].zero_()

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.embed(labels)[:, :, None, None].chunk(2, dim=1)
        return self.bn(x) * gamma + beta


class Norm2d(nn.Module):
    """BatchNorm2d, class-conditional when num_classes > 0; always called as norm(x, labels)."""

    def __init__(self, num_features: int, num_classes: int = 0):
        super().__init__()
        self.conditional = num_classes > 0
        self.norm = ConditionalBatchNorm2d(num_features, num_classes) if self.conditional else nn.BatchNorm2d(num_features)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.norm(x, labels) if self.conditional else self.norm(x)


class Projection(nn.Module):
    """The class term of a projection discriminator: <embed(y), h> per image (Miyato & Koyama 2018)."""

    def __init__(self, num_classes: int, features: int, spectral_norm: bool = False):
        super().__init__()
        embed = nn.Embedding(num_classes, features)
        # small class vectors: D starts close to unconditional (as nets/conditional.py does)
        nn.init.normal_(embed.weight, 0.0, 0.02)
        # SNGAN and BigGAN normalise the class embedding along with the rest of D
        self.embed = maybe_sn(embed, spectral_norm)

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (self.embed(labels) * h).sum(1, keepdim=True)


def aux_classifier(num_classes: int, features: int, spectral_norm: bool, enabled: bool) -> nn.Module | None:
    """AC-GAN's class head on D's features, or None."""
    return maybe_sn(nn.Linear(features, num_classes), spectral_norm) if enabled and num_classes else None


def with_class_logits(logits: torch.Tensor, h: torch.Tensor, classifier: nn.Module | None, classes: bool):
    """D's return value: logits, or (logits, class logits) when asked for classes."""
    if not classes:
        return logits
    if classifier is None:
        raise ValueError("class logits were asked of a D without an auxiliary classifier (aux_classifier=0)")
    return logits, classifier(h)


class MinibatchStd(nn.Module):
    """Appends one channel: the mean standard deviation, over groups of `group` consecutive images,
    of every feature. Consecutive, so a batch of real images then fake ones (the step scores them
    together) never mixes the two in a group when its halves divide by the group size."""

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = math.gcd(n, self.group)  # a short last batch: smaller groups rather than an error
        spread = x.view(n // g, g, c, h, w).var(dim=1, unbiased=False).add(1e-8).sqrt().mean(dim=(1, 2, 3))
        return torch.cat([x, spread.repeat_interleave(g).view(n, 1, 1, 1).expand(n, 1, h, w)], dim=1)


class UpBlock(nn.Module):
    """ConvTranspose2d(4, 2, 1) + BatchNorm + ReLU: twice the size, the given channels."""

    def __init__(self, c_in: int, c_out: int, num_classes: int = 0):
        super().__init__()
        self.conv = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)  # BatchNorm cancels a bias
        self.norm = Norm2d(c_out, num_classes)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return torch.relu(self.norm(self.conv(x), labels))


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) [+ labels (N,)] -> images (N, channels, image_size, image_size) in [-1, 1]."""

    def __init__(self, latent_dim: int, channels: int, image_size: int, width: int = 512, num_classes: int = 0):
        super().__init__()
        steps = num_doublings(image_size)
        if width % 2 ** (steps - 1):
            raise ValueError(f"width {width}: G halves it {steps - 1} times for {image_size} px; "
                             f"use a multiple of {2 ** (steps - 1)}")
        self.latent_dim, self.channels, self.image_size = latent_dim, channels, image_size
        self.width, self.num_classes = width, num_classes
        self.project = nn.Linear(latent_dim, width * 4 * 4)
        self.project_norm = Norm2d(width, num_classes)
        widths = [width // 2 ** i for i in range(steps)]  # 4x4 ... image_size/2
        self.blocks = nn.ModuleList(UpBlock(a, b, num_classes) for a, b in zip(widths, widths[1:]))
        self.to_image = nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1)  # the last doubling

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        n = z.shape[0]  # not len(z): an exported graph (ONNX) keeps the batch size symbolic
        check_labels(self.num_classes, labels, n, "DCGANGenerator")
        h = self.project(z).view(n, self.width, 4, 4)
        h = torch.relu(self.project_norm(h, labels))
        for block in self.blocks:
            h = block(h, labels)
        return torch.tanh(self.to_image(h))


class DCGANDiscriminator(nn.Module):
    """images (N, channels, image_size, image_size) [+ labels (N,)] -> logits (N, 1)."""

    def __init__(self, channels: int, image_size: int, width: int = 64, num_classes: int = 0,
                 spectral_norm: bool = False, aux: bool = False, minibatch_std: int = 0):
        super().__init__()
        steps = num_doublings(image_size)
        self.channels, self.image_size, self.width = channels, image_size, width
        self.num_classes = num_classes
        widths = [channels] + [width * 2 ** i for i in range(steps)]  # image_size/2 ... 4x4
        layers = []
        for a, b in zip(widths, widths[1:]):
            layers += [maybe_sn(nn.Conv2d(a, b, 4, 2, 1), spectral_norm), nn.LeakyReLU(0.2)]
        if minibatch_std:  # no parameters: the convs keep their indices, so saved weights still load
            layers.append(MinibatchStd(minibatch_std))
        self.features = nn.Sequential(*layers, nn.Flatten())
        features = (widths[-1] + (1 if minibatch_std else 0)) * 4 * 4
        self.head = maybe_sn(nn.Linear(features, 1), spectral_norm)
        self.projection = Projection(num_classes, features, spectral_norm) if num_classes else None
        self.classifier = aux_classifier(num_classes, features, spectral_norm, aux)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, classes: bool = False):
        """logits (N, 1); with classes=True, (logits, class logits (N, num_classes))."""
        check_labels(self.num_classes, labels, len(x), type(self).__name__)
        return self.judge(self.features(x), labels, classes)

    def judge(self, h: torch.Tensor, labels: torch.Tensor | None, classes: bool):
        """forward's verdict on the flattened features h."""
        logits = self.head(h)
        logits = logits if self.projection is None else logits + self.projection(h, labels)
        return with_class_logits(logits, h, self.classifier, classes)
