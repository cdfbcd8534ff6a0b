"""Convolutions with one or a few channels on one side, where oneDNN runs at a few GFLOP/s on
CPU. Each computes the same linear map as the torch.nn layer it stands in for (float rounding
aside; tests/test_speed_paths.py).

conv_transpose_small  transposed conv to a few channels (G's 64 -> 1, and the gradient of D's
                      first conv for the fake images): one matmul plus col2im.
im2col                a conv with a few input channels (D's 1 -> 64) as one matmul over these rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_conv_backward = torch.ops.aten.convolution_backward


# ---- few-channel convolutions -------------------------------------------------------------------
def conv_transpose_small(x, w, stride, padding, size):
    """conv_transpose2d(x, w) to `size`, for a weight with few output channels: one matmul (every
    input pixel times its kernel) and col2im (sum the overlapping patches); oneDNN backward."""
    return _SmallConvTranspose.apply(x, w, tuple(stride), tuple(padding), tuple(size))


class _SmallConvTranspose(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, stride, padding, size):
        n, c_in, h, wd = x.shape
        kernel = w.shape[2:]
        cols = x.flatten(2).transpose(1, 2) @ w.reshape(c_in, -1)  # (N, H*W, C_out*kh*kw)
        y = F.fold(cols.transpose(1, 2), size, kernel, padding=padding, stride=stride)
        ctx.save_for_backward(x, w)
        ctx.args = stride, padding, tuple(s - ((i - 1) * st - 2 * p + k) for s, i, st, p, k in
                                          zip(size, (h, wd), stride, padding, kernel))
        return y

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        stride, padding, output_padding = ctx.args
        fmt = torch.contiguous_format if x.is_contiguous() else torch.channels_last
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False]
        gx, gw, _ = _conv_backward(gy.contiguous(memory_format=fmt), x, w, None, stride, padding, (1, 1),
                                   True, output_padding, 1, mask)
        return gx, gw, None, None, None


def im2col(x: torch.Tensor, kernel, stride, padding) -> tuple[torch.Tensor, tuple[int, int]]:
    """(N*Ho*Wo, C*kh*kw): each output pixel's receptive field as one row (NHWC order)."""
    n, c = x.shape[:2]
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    x = F.pad(x.contiguous(), (pw, pw, ph, ph))
    ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    sn, sc, sy, sx = x.stride()
    patches = x.as_strided((n, ho, wo, c, kh, kw), (sn, sy * sh, sx * sw, sc, sy, sx))
    return patches.reshape(n * ho * wo, c * kh * kw), (ho, wo)
