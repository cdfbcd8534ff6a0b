"""G(z) through G's own modules, with the transposed convolutions oneDNN runs slowly replaced by
exact ones: by the route chosen for the layer (choose.py: the DFT or oneDNN) where the DFT fits,
or, to a few channels, as one matmul plus col2im (fastconv.py).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from . import choose, spectral
from .fastconv import conv_transpose_small


class FastGenerator:
    """G(z) through G's own modules, except the transposed convolutions done faster here."""

    def __init__(self, G: nn.Module, spectral: bool = True, small_conv_t: bool = True):
        self.G, self.spectral, self.small_conv_t = G, spectral, small_conv_t
        self.routes: dict[int, str] = {}  # layer -> choose.ROUTES where the DFT fits; unset: "dft"

    def _layers(self, z, labels):
        if hasattr(self.G, "inputs"):  # conditional G (nets/conditional.py): [z, one_hot(y)] into its net
            return self.G.inputs(z, labels), self.G.net
        return z, self.G

    def choose(self, pick, z_shape, labels=None) -> None:
        """routes[i] = pick(i, convT, input shape, NHWC input?) for each layer where the DFT fits, in
        order, traced on a copy of G in eval mode (its BatchNorm statistics stay as they are) with two
        zero vectors, each layer run by the route just picked, so the next sees the layout it hands on."""
        copy_ = FastGenerator(copy.deepcopy(self.G).eval(), self.spectral, self.small_conv_t)
        with torch.no_grad():
            h, layers = copy_._layers(torch.zeros(2, *z_shape[1:]), None if labels is None else labels[:2])
            for i, layer in enumerate(layers):
                if self._dft_fits(layer, h):
                    nhwc = not h.is_contiguous() and h.is_contiguous(memory_format=torch.channels_last)
                    self.routes[i] = copy_.routes[i] = pick(i, layer, (z_shape[0], *h.shape[1:]), nhwc)
                h = copy_._layer(i, layer, h)

    def __call__(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h, layers = self._layers(z, labels)
        for i, layer in enumerate(layers):
            h = self._layer(i, layer, h)
        return h

    def _dft_fits(self, layer, h) -> bool:
        return isinstance(layer, nn.ConvTranspose2d) and self.spectral and spectral.fits(layer, h.shape[2:])

    def _layer(self, i, layer, h):
        if self._dft_fits(layer, h):
            return choose.conv(self.routes.get(i, "dft"), layer, h)
        if isinstance(layer, nn.ConvTranspose2d) and self.small_conv_t and _few_out_channels(layer):
            h = h.contiguous(memory_format=torch.channels_last)  # NHWC rows: one matmul, no copy
            size = [(i - 1) * s - 2 * p + k + op for i, s, p, k, op in
                    zip(h.shape[2:], layer.stride, layer.padding, layer.kernel_size, layer.output_padding)]
            h = conv_transpose_small(h, layer.weight, layer.stride, layer.padding, size)
            return h if layer.bias is None else h + layer.bias.view(1, -1, 1, 1)
        return layer(h)


def _few_out_channels(layer: nn.ConvTranspose2d) -> bool:
    return (layer.out_channels <= 4 and layer.groups == 1 and layer.dilation == (1, 1)
            and layer.padding_mode == "zeros" and not isinstance(layer.padding, str))
