"""FLOPs of a network's forward pass, counted from its Conv2d, ConvTranspose2d and Linear layers.

The count is 2 x multiply-adds, per image. BatchNorm, activations, pooling, bias adds, embeddings
and the projection's dot product are left out: they are a rounding error next to the layers counted.
"""

from __future__ import annotations

import torch
from torch import nn

COUNTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def layer_macs(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Multiply-adds one call of `module` did for the whole batch, from its input x and output y."""
    if isinstance(module, nn.Linear):
        return y.numel() * module.in_features
    k = module.weight.shape[2] * module.weight.shape[3]
    if isinstance(module, nn.ConvTranspose2d):
        # each input value is scattered to k x k outputs in each of out/groups channels; products
        # that land in the cropped border are counted too, since they are computed
        return x.numel() * (module.out_channels // module.groups) * k
    return y.numel() * (module.in_channels // module.groups) * k


def count_flops(net: nn.Module, *inputs: torch.Tensor) -> int:
    """FLOPs (2 x multiply-adds) per image of net(*inputs); inputs[0]'s first dim is the batch."""
    total, handles = [0], []

    def hook(module, args, output):
        total[0] += layer_macs(module, args[0], output)

    for m in net.modules():
        if isinstance(m, COUNTED):
            handles.append(m.register_forward_hook(hook))
    was_training = net.training
    net.eval()  # no BatchNorm statistics or spectral-norm vectors change while counting
    try:
        with torch.no_grad():
            net(*inputs)
    finally:
        net.train(was_training)
        for h in handles:
            h.remove()
    return 2 * total[0] // len(inputs[0])
