"""R1 / R2 gradient penalties for the fused scorer's D, differentiated by hand.

For D(x) = w . h_L + <embed(y), h_L> + b, h_k = leaky(conv_k(h_{k-1})), the input gradient is
g = C_1^T s_1 C_2^T s_2 ... C_L^T s_L u, with u = w + embed(y) per image, C_k conv k's linear map and
s_k its LeakyReLU slopes (1 or the slope: constant almost everywhere). The penalty
P = sum_i c_i ||g_i||^2 is then polynomial in the weights, and its gradient takes three passes:

    forward      h_k and s_k                                  (one D forward)
    down         v_L = s_L u, v_{k-1} = s_{k-1} C_k^T v_k, g = C_1^T v_1
    up           t_0 = 2 c g, dW_k = wgrad(t_{k-1}, v_k), t_k = s_k C_k t_{k-1}, du = t_L

against autograd's double backward (tests/test_penalty_fused.py holds the two equal). Biases get no
gradient: they only move the slopes. D with dropout is left to autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import choose
from .fastconv import conv_transpose_small, im2col

_conv_backward = torch.ops.aten.convolution_backward


def fusable(scorer) -> bool:
    """Whether this scorer's D can take its penalties here: no dropout in any block."""
    return not any(block.p for block in scorer.blocks)


def add_penalty_grads(scorer, images: torch.Tensor, labels: torch.Tensor | None, weight: torch.Tensor) -> torch.Tensor:
    """Add to D's .grad the gradient of sum_i weight_i ||dD_i/dx_i||^2 over images; returns that sum."""
    blocks, head = scorer.blocks, scorer.head
    h, slopes, runs = images.detach(), [], []
    with torch.no_grad():
        for i, block in enumerate(blocks):  # forward: the slopes
            runs.append(_Conv(scorer, i, h.shape[2:]))  # the route the fused step takes at this size
            a = runs[-1].forward(h, bias=True)
            slopes.append(torch.where(a > 0, 1.0, block.slope).to(a.dtype))
            h = a * slopes[-1]
        u = head.weight.view(1, *h.shape[1:])
        if labels is not None:  # projection D: each image's class vector joins the head
            u = u + scorer.embed.weight[labels].view(len(labels), *h.shape[1:])
        v, vs = slopes[-1] * u, [None] * len(runs)
        for k in reversed(range(len(runs))):  # down: the input gradient, through every block
            vs[k] = v
            g = runs[k].input_grad(v, images.shape[2:] if k == 0 else slopes[k - 1].shape[2:])
            if k:
                v = slopes[k - 1] * g
        t = 2 * weight.view(-1, 1, 1, 1) * g
        for k, run in enumerate(runs):  # up: the weights' gradients
            weight_grad, q = run.up(t, vs[k])
            _accumulate(blocks[k].conv.weight, weight_grad)
            t = slopes[k] * q
        _accumulate(head.weight, t.sum(0).reshape(1, -1))
        if labels is not None:
            _accumulate(scorer.embed.weight, torch.zeros_like(scorer.embed.weight).index_add_(0, labels, t.flatten(1)))
        return (weight * g.square().flatten(1).sum(1)).sum()


class _Conv:
    """Block i's conv as the linear maps the penalty needs (forward, input and weight gradients), on the
    kernels the fused step runs: rows (im2col + matmul) for a few input channels, else oneDNN in the
    route's dtype and layout."""

    def __init__(self, scorer, i, hw):
        self.conv, self.kind = scorer.blocks[i].conv, scorer.kind(i, hw)
        self.rows = self.kind == "rows"
        self.fmt = choose.memory_format(self.kind) if self.kind.startswith("onednn") else torch.channels_last
        self.args = (self.conv.stride, self.conv.padding, (1, 1), False, (0, 0), 1)

    def _cast(self, x):
        fmt = self.fmt if x.dim() == 4 else torch.preserve_format  # (a bias keeps its one dimension)
        return x.to(choose.dtype(self.kind, x), memory_format=fmt)

    def forward(self, x, bias: bool):
        """conv(x), with or without the bias."""
        conv, w = self.conv, self.conv.weight
        if self.rows:
            cols, size = im2col(x, conv.kernel_size, conv.stride, conv.padding)
            return self._from_rows(cols, size, conv.bias if bias else None)
        b = self._cast(conv.bias) if bias else None
        return F.conv2d(self._cast(x), self._cast(w), b, conv.stride, conv.padding).to(x.dtype)

    def up(self, x, gy):
        """(the weight gradient for input x and output gradient gy, conv(x) without the bias): one
        im2col of x, or one cast of x and of the weight, serves both."""
        conv, w = self.conv, self.conv.weight
        if self.rows:
            cols, size = im2col(x, conv.kernel_size, conv.stride, conv.padding)
            weight_grad = (gy.permute(0, 2, 3, 1).reshape(-1, len(w)).t() @ cols).view_as(w)
            return weight_grad, self._from_rows(cols, size)
        xc, wc = self._cast(x), self._cast(w)
        weight_grad = _conv_backward(self._cast(gy), xc, wc, None, *self.args, [False, True, False])[1]
        return weight_grad.to(w.dtype), F.conv2d(xc, wc, None, conv.stride, conv.padding).to(x.dtype)

    def _from_rows(self, cols, size, bias=None):
        """The conv's output (N, C, H, W), NHWC in memory, from x's im2col rows."""
        w = self.conv.weight
        out = cols @ w.reshape(len(w), -1).t()
        out = out if bias is None else out + bias
        return out.view(-1, *size, len(w)).permute(0, 3, 1, 2)

    def input_grad(self, gy, hw):
        conv, w = self.conv, self.conv.weight
        if self.rows:
            return conv_transpose_small(gy, w, conv.stride, conv.padding, hw)
        # the input's shape, dtype and layout are all the input gradient needs of it
        x = torch.empty(len(gy), conv.in_channels, *hw, dtype=choose.dtype(self.kind, gy), memory_format=self.fmt)
        gx = _conv_backward(self._cast(gy), x, self._cast(w), None, *self.args, [True, False, False])[0]
        return gx.to(gy.dtype)


def _accumulate(param: torch.Tensor, grad: torch.Tensor) -> None:
    grad = grad.to(param.dtype).reshape(param.shape)
    if param.grad is None:
        param.grad = grad.contiguous()
    else:
        param.grad.add_(grad)
