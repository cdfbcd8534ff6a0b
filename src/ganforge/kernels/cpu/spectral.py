"""Convolutions on small feature maps as matrix products through the DFT (exact maths).

A k x k kernel on a 7x7 or 14x14 map: oneDNN runs these at the CPU's FMA rate, but the DFT needs
far fewer multiply-adds. A stride-s convolution reads s*s input phases (y mod s, x mod s), each a
stride-1 convolution of the decimated map with part of the kernel; a stride-s transposed
convolution writes s*s output phases the same way. On a circular grid big enough that no index
wraps onto data, each stride-1 piece is a circular convolution, a product of spectra:

    X = F_x @ planes       spectra of every (image, phase, channel) input plane
    K = F_k @ taps         spectra of every (phase pair, in channel, out channel) kernel
    Y[f] = X[f] @ K[f]     per frequency one complex matmul, summed over phases and in channels
    y = Y @ F_inv          inverse DFT of the output window, phases interleaved back

A complex product takes three real ones (Gauss): with P1 = Xr Kr, P2 = Xi Ki, P3 = (Xr + Xi)
(Kr + Ki), Y = (P1 - P2) + i (P3 - P1 - P2). F_x and F_k emit those three parts per frequency
directly and F_inv takes the P's, so the whole layer is: one matmul, one bmm over (frequency,
part), one matmul; the backward is the same three transposed. Per axis the grid is the smallest
that keeps every output exact (found by enumerating the indices read); rfft2 bins that are the
complex conjugate of another kept bin are dropped and folded into F_inv.
Forward and backward together, G's 256 -> 128 on 7x7 takes 7x fewer FLOPs than the direct
convolution, G's 128 -> 64 (7 -> 14) and D's 64 -> 128 (14 -> 7) about 2x (bench/README.md).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn


def fits(layer: nn.Module, in_hw) -> bool:
    """Where the DFT route pays: a plain conv / transposed conv with many channels on a small map."""
    if not isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)) or isinstance(layer.padding, str):
        return False
    return (layer.groups == 1 and layer.dilation == (1, 1) and layer.padding_mode == "zeros"
            and min(layer.in_channels, layer.out_channels) >= 16 and max(in_hw) <= 16 and min(layer.kernel_size) >= 3)


@dataclass(frozen=True)
class _Axis:
    """One spatial axis of the polyphase split."""
    stride: int
    in_len: int  # length of one input phase plane
    out_len: int  # length of one output phase plane
    out_total: int  # output length after interleaving the phases
    taps: tuple  # per kernel tap: (input phase, output phase, shift): out_ph[y] += in_ph[y - shift] * w[tap]
    grid: int


def _axis(transposed: bool, n: int, k: int, s: int, p: int, op: int) -> _Axis:
    if transposed:  # out[s b + r] += in[b - e] w[i] for i = s e + r + p
        out_total = (n - 1) * s - 2 * p + k + op
        taps = tuple((0, (i - p) % s, (i - p - (i - p) % s) // s) for i in range(k))
        in_len, out_len = n, -(-out_total // s)
    else:  # out[y] += in_r[y + d] w[i] for i = s d + r + p, r = the input phase
        out_total = (n + 2 * p - k) // s + 1
        taps = tuple(((i - p) % s, 0, -((i - p - (i - p) % s) // s)) for i in range(k))
        in_len, out_len = -(-n // s), out_total
    grid = max(in_len, out_len)
    while not all(((y - shift) % grid < in_len) == (0 <= y - shift < in_len)
                  for _, _, shift in taps for y in range(out_len)):
        grid += 1
    return _Axis(s, in_len, out_len, out_total, taps, grid)


class Plan:
    """How to run one conv layer spectrally for one input size; see the module docstring."""

    def __init__(self, transposed: bool, in_hw, kernel, stride, padding, output_padding=(0, 0)):
        self.transposed, self.in_hw, self.kernel = transposed, tuple(in_hw), tuple(kernel)
        self.ay, self.ax = (_axis(transposed, n, k, s, p, op) for n, k, s, p, op in
                            zip(in_hw, kernel, stride, padding, output_padding))
        self.in_phases = 1 if transposed else self.ay.stride * self.ax.stride
        self.out_phases = self.ay.stride * self.ax.stride if transposed else 1
        self.out_hw = (self.ay.out_total, self.ax.out_total)

    @classmethod
    def for_layer(cls, layer, in_hw) -> Plan:
        transposed = isinstance(layer, nn.ConvTranspose2d)
        return _plan(transposed, tuple(in_hw), layer.kernel_size, layer.stride, layer.padding,
                     layer.output_padding if transposed else (0, 0))

    # ---- the matrices (float64, built once per plan, dtype and device) ----
    @functools.cached_property
    def _kept(self):
        """rfft2 bins kept, and for each dropped conjugate bin the kept bin it folds into."""
        P, Q = self.ay.grid, self.ax.grid
        kept, fold = [], {}
        for k1 in range(P):
            for k2 in range(Q // 2 + 1):
                edge = k2 == 0 or (Q % 2 == 0 and k2 == Q // 2)
                if edge and k1 > (-k1) % P:
                    fold[(k1, k2)] = ((-k1) % P, k2)
                else:
                    kept.append((k1, k2))
        return kept, fold

    @property
    def bins(self) -> int:
        return len(self._kept[0])

    def _spectra(self, planes: torch.Tensor) -> torch.Tensor:
        """(M, a, b) planes placed on the grid -> (2 * bins, M) real rows (bin, re/im)."""
        full = torch.fft.rfft2(planes, s=(self.ay.grid, self.ax.grid))
        kept = full[:, [k1 for k1, _ in self._kept[0]], [k2 for _, k2 in self._kept[0]]]
        return torch.view_as_real(kept).permute(1, 2, 0).reshape(2 * self.bins, -1)

    def _build(self):
        ay, ax = self.ay, self.ax
        P, Q = ay.grid, ax.grid
        f_x = self._spectra(torch.eye(ay.in_len * ax.in_len, dtype=torch.float64).view(-1, ay.in_len, ax.in_len))
        # One tap at a time, placed at its shift on the grid of its (input phase, output phase) pair.
        kh, kw = self.kernel
        f_k = torch.zeros(self.in_phases, self.out_phases, 2 * self.bins, kh * kw, dtype=torch.float64)
        for iy, (iny, outy, sy) in enumerate(ay.taps):
            for ix, (inx, outx, sx) in enumerate(ax.taps):
                delta = torch.zeros(1, P, Q, dtype=torch.float64)
                delta[0, sy % P, sx % Q] = 1
                phase_in, phase_out = iny * ax.stride + inx, outy * ax.stride + outx  # 0 on the unsplit side
                f_k[phase_in, phase_out, :, iy * kw + ix] = self._spectra(delta)[:, 0]
        # Inverse: each real spectral coordinate -> the output window; dropped conjugates fold in.
        full_bins = P * (Q // 2 + 1)
        basis = torch.view_as_complex(torch.eye(2 * full_bins, dtype=torch.float64).view(2 * full_bins, P, Q // 2 + 1, 2))
        window = torch.fft.irfft2(basis, s=(P, Q))[:, :ay.out_len, :ax.out_len].reshape(full_bins, 2, -1)
        index = {b: i for i, b in enumerate(self._kept[0])}
        f_inv = torch.zeros(self.bins, 2, ay.out_len * ax.out_len, dtype=torch.float64)
        for k1 in range(P):
            for k2 in range(Q // 2 + 1):
                row = window[k1 * (Q // 2 + 1) + k2]
                if (k1, k2) in index:
                    f_inv[index[(k1, k2)]] += row
                else:  # Y at this bin is conj(Y at its partner): re adds, im subtracts
                    f_inv[index[self._kept[1][(k1, k2)]]] += row * torch.tensor([[1.0], [-1.0]], dtype=torch.float64)
        f_inv = f_inv.reshape(2 * self.bins, -1).t()
        clean = lambda m: m.masked_fill(m.abs() < 1e-12, 0.0)  # cos/sin rounding noise where exactly 0
        return clean(f_x), clean(f_k.reshape(-1, kh * kw)), clean(f_inv)

    @functools.lru_cache(maxsize=4)
    def matrices(self, dtype: torch.dtype, device: torch.device):
        """F_x (3 * bins, hr * wr), F_k (phases * phases * 3 * bins, kh * kw), F_inv (ho * wo, 3 * bins):
        rows/columns per frequency are the three Gauss parts (re, im, re + im) and (P1, P2, P3)."""
        f_x, f_k, f_inv = self._build()
        gauss = lambda m: torch.cat([m[..., :1, :], m[..., 1:, :], m[..., :1, :] + m[..., 1:, :]], -2)
        f_x = gauss(f_x.view(self.bins, 2, -1)).reshape(3 * self.bins, -1)
        f_k = gauss(f_k.view(self.in_phases, self.out_phases, self.bins, 2, -1)).reshape(-1, f_k.shape[1])
        inv_re, inv_im = f_inv.view(-1, self.bins, 2).unbind(-1)
        f_inv = torch.stack([inv_re - inv_im, -inv_re - inv_im, inv_im], -1).reshape(len(f_inv), -1)
        return tuple(m.to(device, dtype).contiguous() for m in (f_x, f_k, f_inv))

    # ---- forward ----
    def input_spectra(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W), any memory format -> X (3 * bins, N, phases * C): Xr, Xi, Xr + Xi per bin."""
        f_x = self.matrices(x.dtype, x.device)[0]
        n, c = x.shape[:2]
        sy, sx = (1, 1) if self.transposed else (self.ay.stride, self.ax.stride)
        hr, wr = self.ay.in_len, self.ax.in_len
        if (hr * sy, wr * sx) != tuple(x.shape[2:]):
            x = torch.nn.functional.pad(x, (0, wr * sx - x.shape[3], 0, hr * sy - x.shape[2]))
        planes = x.reshape(n, c, hr, sy, wr, sx).permute(0, 3, 5, 1, 2, 4).reshape(-1, hr * wr)
        return (f_x @ planes.t()).view(3 * self.bins, n, self.in_phases * c)

    def weight_spectra(self, w: torch.Tensor) -> torch.Tensor:
        """Conv2d (O, C, kh, kw) or ConvTranspose2d (C, O, kh, kw) -> K (3 * bins, phases * C, phases * O)."""
        f_k = self.matrices(w.dtype, w.device)[1]
        c, o = (w.shape[0], w.shape[1]) if self.transposed else (w.shape[1], w.shape[0])
        taps = (w if self.transposed else w.transpose(0, 1)).reshape(c * o, -1)
        spectra = (f_k @ taps.t()).view(self.in_phases, self.out_phases, 3 * self.bins, c, o)
        return spectra.permute(2, 0, 3, 1, 4).reshape(3 * self.bins, self.in_phases * c, self.out_phases * o)

    def output(self, X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        """The three products per bin, then the inverse DFT: y (N, O, Ho, Wo), NCHW."""
        f_inv = self.matrices(X.dtype, X.device)[2]
        prod = torch.bmm(X, K)  # (3 * bins, N, phases * O)
        n, width = prod.shape[1:]
        planes = prod.view(3 * self.bins, n * width).t() @ f_inv.t()
        return self._interleave(planes, n, width // self.out_phases)

    def _interleave(self, planes, n, o):
        ho, wo = self.out_hw
        if self.out_phases == 1:
            return planes.view(n, o, ho, wo)
        sy, sx, hr, wr = self.ay.stride, self.ax.stride, self.ay.out_len, self.ax.out_len
        y = planes.view(n, sy, sx, o, hr, wr).permute(0, 3, 4, 1, 5, 2).reshape(n, o, hr * sy, wr * sx)
        return y[:, :, :ho, :wo]

    # ---- backward: the same three factors, transposed ----
    def grad_spectra(self, grad_out: torch.Tensor) -> torch.Tensor:
        """dL/dy (N, O, Ho, Wo) -> dL/d(products), (3 * bins, N, phases * O)."""
        f_inv = self.matrices(grad_out.dtype, grad_out.device)[2]
        n, o = grad_out.shape[:2]
        sy, sx = (self.ay.stride, self.ax.stride) if self.transposed else (1, 1)
        hr, wr = self.ay.out_len, self.ax.out_len
        g = grad_out
        if (hr * sy, wr * sx) != tuple(g.shape[2:]):
            g = torch.nn.functional.pad(g, (0, wr * sx - g.shape[3], 0, hr * sy - g.shape[2]))
        planes = g.reshape(n, o, hr, sy, wr, sx).permute(0, 3, 5, 1, 2, 4).reshape(-1, hr * wr)
        return (f_inv.t() @ planes.t()).view(3 * self.bins, n, self.out_phases * o)

    def grad_input(self, dprod: torch.Tensor, K: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        """dL/dx (N, C, H, W) from grad_spectra and K."""
        f_x = self.matrices(K.dtype, K.device)[0]
        n, c = dprod.shape[1], K.shape[1] // self.in_phases
        planes = torch.bmm(dprod, K.transpose(1, 2)).view(3 * self.bins, -1).t() @ f_x  # (N * phases * C, hr * wr)
        sy, sx = (1, 1) if self.transposed else (self.ay.stride, self.ax.stride)
        hr, wr = self.ay.in_len, self.ax.in_len
        planes = planes.view(n, sy, sx, c, hr, wr)
        h, w = self.in_hw
        if channels_last:
            return planes.permute(0, 4, 1, 5, 2, 3).reshape(n, hr * sy, wr * sx, c)[:, :h, :w].permute(0, 3, 1, 2)
        return planes.permute(0, 3, 4, 1, 5, 2).reshape(n, c, hr * sy, wr * sx)[:, :, :h, :w]

    def grad_weight(self, X: torch.Tensor, dprod: torch.Tensor, weight_shape) -> torch.Tensor:
        """dL/dw in the layer's weight layout, from the input spectra and grad_spectra."""
        f_k = self.matrices(X.dtype, X.device)[1]
        c, o = (weight_shape[0], weight_shape[1]) if self.transposed else (weight_shape[1], weight_shape[0])
        dK = torch.bmm(X.transpose(1, 2), dprod).view(3 * self.bins, self.in_phases, c, self.out_phases, o)
        dK = dK.permute(1, 3, 0, 2, 4).reshape(-1, c * o)
        taps = (f_k.t() @ dK).t().reshape(c, o, *self.kernel)  # f_k^T dK, then transpose: the fast layout
        return taps if self.transposed else taps.transpose(0, 1)


@functools.lru_cache(maxsize=32)
def _plan(transposed, in_hw, kernel, stride, padding, output_padding) -> Plan:
    return Plan(transposed, in_hw, kernel, stride, padding, output_padding)


def conv(x: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """layer(x) for a Conv2d / ConvTranspose2d that fits(), through the DFT, differentiable."""
    y = _SpectralConv.apply(x, layer.weight, Plan.for_layer(layer, x.shape[2:]))
    return y if layer.bias is None else y + layer.bias.view(1, -1, 1, 1)


class _SpectralConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, plan):
        X, K = plan.input_spectra(x), plan.weight_spectra(weight)
        ctx.save_for_backward(X, K)
        ctx.plan, ctx.weight_shape = plan, weight.shape
        return plan.output(X, K)

    @staticmethod
    def backward(ctx, grad_out):
        X, K = ctx.saved_tensors
        dprod = ctx.plan.grad_spectra(grad_out)
        grad_x = ctx.plan.grad_input(dprod, K) if ctx.needs_input_grad[0] else None
        grad_w = ctx.plan.grad_weight(X, dprod, ctx.weight_shape) if ctx.needs_input_grad[1] else None
        return grad_x, grad_w, None
