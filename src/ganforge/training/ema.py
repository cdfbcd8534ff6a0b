"""An exponential moving average of G's weights: smoother samples than the raw, oscillating G.

The decay warms up as min(decay, (1 + step) / (10 + step)), so the average is not dominated by
the random weights of the first steps (the rule of TensorFlow's ExponentialMovingAverage).
BatchNorm running statistics are copied, not averaged.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, net: nn.Module, decay: float):
        self.net, self.decay = net, decay
        self.average = copy.deepcopy(net).eval().requires_grad_(False)
        self.params = list(net.parameters())
        self.avg_params = list(self.average.parameters())

    @torch.no_grad()
    def update(self, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self.avg_params, self.params, 1.0 - decay)
        for avg, live in zip(self.average.buffers(), self.net.buffers()):
            avg.copy_(live)
