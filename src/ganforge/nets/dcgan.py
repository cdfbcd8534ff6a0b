"""The two tutorial DCGAN families, as plain nn.Sequential stacks.

dcgan28: the TensorFlow DCGAN tutorial (MNIST, 1x28x28).
dcgan32: the Keras CIFAR-10 DCGAN tutorial (3x32x32).
Keras 'same' padding with stride 2 pads asymmetrically (more at the end); PyTorch pads both sides
equally. Shapes and parameter counts match exactly; the sampling grid is shifted by half a pixel,
which no result depends on.
"""

from __future__ import annotations

from torch import nn


def generator28(latent_dim=100, width=256, channels=1, leak=0.3, bn_momentum=0.01, bn_eps=1e-3):
    w = width
    return nn.Sequential(
        nn.Linear(latent_dim, 7 * 7 * w, bias=False),
        nn.BatchNorm1d(7 * 7 * w, momentum=bn_momentum, eps=bn_eps),
        nn.LeakyReLU(leak),
        nn.Unflatten(1, (w, 7, 7)),  # (B, 256, 7, 7)
        nn.ConvTranspose2d(w, w // 2, 5, stride=1, padding=2, bias=False),  # (B, 128, 7, 7)
        nn.BatchNorm2d(w // 2, momentum=bn_momentum, eps=bn_eps),
        nn.LeakyReLU(leak),
        nn.ConvTranspose2d(w // 2, w // 4, 5, stride=2, padding=2, output_padding=1, bias=False),  # (B, 64, 14, 14)
        nn.BatchNorm2d(w // 4, momentum=bn_momentum, eps=bn_eps),
        nn.LeakyReLU(leak),
        nn.ConvTranspose2d(w // 4, channels, 5, stride=2, padding=2, output_padding=1, bias=False),  # (B, C, 28, 28)
        nn.Tanh(),
    )


def discriminator28(width=64, channels=1, leak=0.3, dropout=0.3):
    w = width
    return nn.Sequential(
        nn.Conv2d(channels, w, 5, stride=2, padding=2),  # (B, 64, 14, 14)
        nn.LeakyReLU(leak),
        nn.Dropout(dropout),
        nn.Conv2d(w, 2 * w, 5, stride=2, padding=2),  # (B, 128, 7, 7)
        nn.LeakyReLU(leak),
        nn.Dropout(dropout),
        nn.Flatten(),
        nn.Linear(2 * w * 7 * 7, 1),  # one logit per image
    )


def generator32(latent_dim=100, width=256, channels=3, leak=0.2, bn_momentum=0.2, bn_eps=1e-3):
    w = width
    return nn.Sequential(
        nn.Linear(latent_dim, 8 * 8 * w),
        nn.ReLU(),
        nn.Unflatten(1, (w, 8, 8)),  # (B, 256, 8, 8)
        nn.BatchNorm2d(w, momentum=bn_momentum, eps=bn_eps),
        nn.ConvTranspose2d(w, w // 2, 4, stride=2, padding=1),  # (B, 128, 16, 16)
        nn.LeakyReLU(leak),
        nn.BatchNorm2d(w // 2, momentum=bn_momentum, eps=bn_eps),
        nn.ConvTranspose2d(w // 2, w // 4, 4, stride=2, padding=1),  # (B, 64, 32, 32)
        nn.LeakyReLU(leak),
        nn.BatchNorm2d(w // 4, momentum=bn_momentum, eps=bn_eps),
        nn.Conv2d(w // 4, channels, 3, padding=1),  # (B, 3, 32, 32)
        nn.Tanh(),
    )


def discriminator32(width=64, channels=3, leak=0.2, dropout=0.0):
    w = width
    layers = []
    for c_in, c_out in ((channels, w), (w, 2 * w), (2 * w, 4 * w)):  # 32 -> 16 -> 8 -> 4
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.LeakyReLU(leak)]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(4 * w * 4 * 4, 1))
