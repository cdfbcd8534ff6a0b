"""Mode counting on stacked MNIST (data/stacked.py): how much of a 1,000-mode distribution G covers.

The digit judge (judge.py) reads each channel on its own; a sample's mode is its three digits.
Over N samples (26,000 in the published protocol): the KL of the mode histogram against uniform,
and two counts of modes:
- modes_hit: modes with at least one sample, the published rule. A judge that misreads 1% of digits
  scatters about 3% of the samples over modes G never drew: 125 modes of real digits 0-4 score 222.
- modes_covered: modes with at least a fifth of the samples a uniform G would give them (5 of 26 at
  N=26,000; classes.py's rule): misreads no longer count, and those digits 0-4 score 125.
The same numbers for N real stacked images through the same pipeline are the floor: sampling noise
alone gives a KL of about 999 / (2N), 0.02 at 26,000.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data import stacked
from .classes import COVERED_FRACTION

# PacGAN (Lin et al. 2018), Table 2: stacked MNIST, 26,000 samples, modes covered and KL to uniform.
PUBLISHED = (
    ("DCGAN", 99.0, 3.40),
    ("VEEGAN", 150.0, 2.95),
    ("Unrolled GAN", 48.7, 4.32),
    ("PacDCGAN2", 1000.0, 0.06),
)
KEYS = ("modes_covered", "modes_hit", "modes_kl", "real_modes_covered", "real_modes_hit", "real_modes_kl")


class PerChannelNet(nn.Module):
    """The digit judge applied to each channel: features side by side (3 x 128), and a logit per mode,
    log p(d1) + log p(d2) + log p(d3), so the argmax is the three argmaxes as 100*d1 + 10*d2 + d3."""

    def __init__(self, digit_net: nn.Module, channels: int = stacked.CHANNELS):
        super().__init__()
        self.digit_net = digit_net
        inner = digit_net.arch
        self.arch = dict(inner, channels=channels, num_classes=inner["num_classes"] ** channels,
                         feature_dim=inner["feature_dim"] * channels)
        self.head = digit_net.head  # None for a judge without classes, as JudgeNet

    def forward(self, images: torch.Tensor):
        n, c, h, w = images.shape
        features, logits = self.digit_net(images.reshape(n * c, 1, h, w))
        features = features.reshape(n, -1)
        if logits is None:
            return features, None
        log_p = logits.log_softmax(1).reshape(n, c, -1)  # (N, 3, 10)
        joint = log_p[:, 0]
        for k in range(1, c):  # outer sums: mode index d1*100 + d2*10 + d3
            joint = (joint[:, :, None] + log_p[:, k, None, :]).reshape(n, -1)
        return features, joint


def per_channel_info(digit_info: dict, dataset: str) -> dict:
    """A per-channel judge's info: the digit judge's, under the stacked dataset's name. Its accuracy is
    the chance all three digits are read right (channels are independent draws)."""
    accuracy = digit_info.get("accuracy")
    return dict(digit_info, kind="per-channel classifier", dataset=dataset, digit_judge=digit_info["dataset"],
                digit_accuracy=accuracy, accuracy=None if accuracy is None else round(accuracy ** stacked.CHANNELS, 5),
                class_names=stacked.CLASS_NAMES, class_accuracy=None)


def mode_metrics(fake, ref, seed: int) -> dict:
    """Mode counts and KL to uniform of the samples, and of the N real reference images (the floor);
    all None unless the data is made of equally likely modes (a stacked dataset)."""
    if ref.dataset not in stacked.SOURCE or fake.logits is None:
        return dict.fromkeys(KEYS)
    ours = count_modes(fake.logits.argmax(1), fake.logits.shape[1])
    real = count_modes(ref.real.logits.argmax(1), ref.real.logits.shape[1])
    return dict(zip(KEYS, ours + real))


def samples_to_cover(n: int, num_modes: int) -> int:
    """How many of n samples a mode needs to count as covered: a fifth of a uniform share, at least 1."""
    return max(1, int(COVERED_FRACTION * n / num_modes))


def count_modes(modes: torch.Tensor, num_modes: int) -> tuple[int, int, float]:
    """(modes covered, modes hit, KL(mode histogram || uniform)) of a (N,) tensor of mode ids."""
    counts = torch.bincount(modes, minlength=num_modes)
    enough = samples_to_cover(len(modes), num_modes)
    p = counts.double() / len(modes)
    seen = counts > 0
    return int((counts >= enough).sum()), int(seen.sum()), float((p[seen] * (p[seen] * num_modes).log()).sum())


def report_lines(metrics: dict) -> list[str]:
    """The mode counts next to real stacked images (the floor) and the published table."""
    if metrics.get("modes_covered") is None:
        return []
    n = metrics["n"]
    enough = samples_to_cover(n, len(stacked.CLASS_NAMES))
    row = "  {:<34}{:>15}{:>18}{:>8}"
    lines = ["", f"modes of stacked MNIST, {n:,} samples (the published protocol: 26,000)",
             row.format("", f"covered (>={enough})", "hit (>=1, paper)", "KL"),
             row.format("this run", metrics["modes_covered"], metrics["modes_hit"], f"{metrics['modes_kl']:.3f}"),
             row.format("real stacked MNIST (the floor)", metrics["real_modes_covered"], metrics["real_modes_hit"],
                        f"{metrics['real_modes_kl']:.3f}")]
    lines += [row.format(f"{name} (PacGAN, Table 2)", "-", f"{covered:g}", f"{kl:.2f}")
              for name, covered, kl in PUBLISHED]
    return lines
