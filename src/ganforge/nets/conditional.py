"""Class-conditional wrappers around any G and D of nets/: G(z, y) draws a chosen class, D(x, y)
judges an image as an example of its class.

G: the one-hot label is appended to the noise vector (Mirza & Osindero 2014, "Conditional
   Generative Adversarial Nets"); only G's first Linear layer grows.
D: projection (Miyato & Koyama 2018, "cGANs with Projection Discriminator"): the logit gains
   <embed(y), h>, h being D's flattened features. It learns faster than feeding the label in as
   image channels and costs one dot product per image.

Without labels, G draws a balanced set: image i gets class i mod K, so any sample of 10k images
(and every row of a 10-wide grid) covers the classes evenly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def balanced_labels(n: int, num_classes: int, device=None) -> torch.Tensor:
    """0, 1, ..., K-1, 0, 1, ...: n labels covering the classes evenly, in a fixed order."""
    return torch.arange(n, device=device) % num_classes


class ConditionalGenerator(nn.Module):
    def __init__(self, net: nn.Sequential, num_classes: int):
        super().__init__()
        self.net, self.num_classes = net, num_classes

    def inputs(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """[z, one_hot(y)]: what the wrapped network's first layer sees."""
        if labels is None:
            labels = balanced_labels(len(z), self.num_classes, z.device)
        return torch.cat([z, F.one_hot(labels, self.num_classes).to(z.dtype)], 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.inputs(z, labels))


class ProjectionDiscriminator(nn.Module):
    """`net` must end in Flatten + Linear(features -> 1), as every D in nets/ does."""

    def __init__(self, net: nn.Sequential, num_classes: int):
        super().__init__()
        head = net[-1]
        if not (isinstance(head, nn.Linear) and head.out_features == 1 and isinstance(net[-2], nn.Flatten)):
            raise ValueError("a projection discriminator needs a D ending in Flatten + Linear(features -> 1)")
        self.net, self.num_classes = net, num_classes
        self.embed = nn.Embedding(num_classes, head.in_features)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.net[:-1](x)
        return self.net[-1](h) + (self.embed(labels) * h).sum(1, keepdim=True)
