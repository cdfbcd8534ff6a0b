"""The CPU fast path of the joint step, built from the tutorial modules' own parameters.

Same networks, same maths as running nets/dcgan.py through autograd (tests/test_speed_paths.py
checks losses, gradients and weights against the plain step); only the order and the kernels
change:

JointScorer(D)(real, fake, labels=None) -> (d_logits, g_logits)
    D's [Conv2d, LeakyReLU, Dropout] blocks and linear head (plus the class projection of a
    conditional D), run once over real+fake, with a hand-written backward. The joint step needs two gradients through D for the fake batch:
    D's loss for D's weights, G's loss for the fake images. D maps each image to one logit, so
    both are per-image multiples of the same Jacobian: the backward pushes a unit gradient
    through D once and scales it per image by dL_D/dlogit (D's weights) or dL_G/dlogit (the
    fake images). Autograd would run D's backward for the fake batch twice. A projection D
    adds embed(y) to the head's weight per image, which keeps that property (real and fake of a
    step share their labels).
MaskStream
    Dropout masks without torch.bernoulli_, the slowest op of the plain CPU step.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import choose, spectral
from .fastconv import conv_transpose_small, im2col

_conv_backward = torch.ops.aten.convolution_backward
_leaky_backward = torch.ops.aten.leaky_relu_backward


class MaskStream:
    """Dropout keep-masks, Bernoulli(1 - p) and scaled by 1 / (1 - p) as nn.Dropout's are.

    Each step takes one 63-bit seed from torch's global generator (the stream nn.Dropout uses,
    saved in every checkpoint, so a resumed run draws the same masks) and seeds two numpy SFC64
    streams from it (SeedSequence.spawn), each filling half of every mask on its own thread; two
    whatever the thread count, so masks do not depend on the machine. An element is kept when its
    32-bit draw is below round((1 - p) * 2**32): the keep probability is exact to 2**-33. About
    6 ns an element here, against 20 for torch.bernoulli_."""

    streams = 2
    _pool = None

    def __init__(self):
        self.bits = None

    def new_step(self) -> None:
        seed = int(torch.randint(0, 2**63 - 1, ()))
        self.bits = [np.random.SFC64(s) for s in np.random.SeedSequence(seed).spawn(self.streams)]

    def keep(self, like: torch.Tensor, p: float) -> torch.Tensor:
        """A mask shaped and laid out like `like` (NCHW or NHWC): the draws are i.i.d., so the
        memory order they fill is free."""
        n = like.numel()
        keep = np.empty(n, dtype=np.bool_)
        threshold = np.uint32(min(round((1 - p) * 2**32), 2**32 - 1))
        bounds = [n * k // self.streams for k in range(self.streams + 1)]

        def fill(k):  # numpy releases the GIL in both calls
            lo, hi = bounds[k], bounds[k + 1]
            draws = self.bits[k].random_raw((hi - lo + 1) // 2).view(np.uint32)[:hi - lo]
            np.less(draws, threshold, out=keep[lo:hi])

        if MaskStream._pool is None:
            MaskStream._pool = ThreadPoolExecutor(self.streams, thread_name_prefix="ganforge-masks")
        list(MaskStream._pool.map(fill, range(self.streams)))
        scaled = torch.from_numpy(keep).view(torch.uint8) * (1 / (1 - p))  # one pass to float; uint8 beats bool
        return scaled.as_strided(like.shape, like.stride())


@dataclass(frozen=True)
class Block:
    conv: nn.Conv2d
    slope: float  # LeakyReLU slope (0 for ReLU)
    p: float  # dropout probability (0: no dropout)


def parse_discriminator(D: nn.Module) -> tuple[list[Block], nn.Linear] | None:
    """D as [Conv2d, LeakyReLU/ReLU, Dropout?]* + Flatten + Linear(->1), or None if it is not."""
    layers = list(D.children()) if isinstance(D, nn.Sequential) else []
    blocks, i = [], 0
    while i + 1 < len(layers) and isinstance(layers[i], nn.Conv2d) and isinstance(layers[i + 1], (nn.LeakyReLU, nn.ReLU)):
        conv, slope = layers[i], getattr(layers[i + 1], "negative_slope", 0.0)
        if conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            return None
        if slope < 0:  # the backward reads the sign of the activation's output
            return None
        i += 2
        p = 0.0
        if i < len(layers) and isinstance(layers[i], nn.Dropout):
            p, i = layers[i].p, i + 1
        blocks.append(Block(conv, slope, p))
    rest = layers[i:]
    if not blocks or len(rest) != 2 or not isinstance(rest[0], nn.Flatten) or not isinstance(rest[1], nn.Linear):
        return None
    if rest[1].out_features != 1 or rest[1].bias is None:
        return None
    return blocks, rest[1]


class JointScorer:
    """D's logits for real and fake from one pass over both; see the module docstring."""

    def __init__(self, blocks: list[Block], head: nn.Linear, spectral: bool = True, embed: nn.Embedding | None = None):
        self.blocks, self.head, self.masks, self.spectral = blocks, head, MaskStream(), spectral
        self.embed = embed  # a projection D's class vectors (nets/conditional.py), else None
        self.routes: dict[int, str] = {}  # block -> choose.ROUTES where the DFT fits; unset: "dft"

    def choose(self, pick, shape) -> None:
        """routes[i] = pick(i, conv, input shape, NHWC input?) for each block where the DFT fits, in
        order, for real + fake input of `shape` (each block hands on the layout its route makes)."""
        nhwc = False
        for i, block in enumerate(self.blocks):
            conv, kind = block.conv, self.kind(i, shape[2:])
            if self._dft_fits(i, shape[2:]):
                self.routes[i] = kind = pick(i, conv, tuple(shape), nhwc)
            nhwc = kind == "rows" or choose.memory_format(kind) == torch.channels_last
            size = [(n + 2 * p - k) // s + 1 for n, p, k, s in zip(shape[2:], conv.padding, conv.kernel_size, conv.stride)]
            shape = (shape[0], conv.out_channels, *size)

    @classmethod
    def build(cls, D: nn.Module, **options) -> JointScorer | None:
        embed = getattr(D, "embed", None)
        parsed = parse_discriminator(D.net if embed is not None else D)
        return cls(*parsed, embed=embed, **options) if parsed else None

    def __call__(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None = None):
        params = [t for b in self.blocks for t in (b.conv.weight, b.conv.bias)] + [self.head.weight, self.head.bias]
        if self.embed is not None:
            params.append(self.embed.weight)
            labels = torch.cat([labels, labels])  # real and fake of a step share their labels
        else:
            labels = None
        if self.head.training and any(b.p for b in self.blocks):
            self.masks.new_step()
        return _JointScore.apply(self, real, fake, labels, *params)

    def kind(self, i: int, hw) -> str:
        """How block i runs: 'rows' (im2col + matmul), or a route of choose.py ('dft', 'onednn', ...)."""
        if i == 0 and self.blocks[0].conv.in_channels <= 4:
            return "rows"
        return self.routes.get(i, "dft") if self._dft_fits(i, hw) else "onednn-nhwc"

    def _dft_fits(self, i: int, hw) -> bool:
        conv = self.blocks[i].conv
        return not (i == 0 and conv.in_channels <= 4) and self.spectral and spectral.fits(conv, hw)


class _JointScore(torch.autograd.Function):
    """Forward: D over real+fake. Backward: one unit-gradient pass, scaled per image."""

    @staticmethod
    def forward(ctx, scorer, real, fake, labels, *params):
        h = torch.cat([real, fake])
        saved = []  # per block: (kind, what its backward needs, dropout mask, block output)
        for i, block in enumerate(scorer.blocks):
            conv, w, b = block.conv, params[2 * i], params[2 * i + 1]
            kind = scorer.kind(i, h.shape[2:])
            if kind == "rows":  # oneDNN is slow with 1 input channel; NHWC rows out
                cols, size = im2col(h, conv.kernel_size, conv.stride, conv.padding)
                need, out = cols, torch.addmm(b, cols, w.reshape(len(w), -1).t()).view(len(h), *size, -1).permute(0, 3, 1, 2)
            elif kind == "dft":
                plan = spectral.Plan.for_layer(conv, h.shape[2:])
                X, K = plan.input_spectra(h), plan.weight_spectra(w)
                need, out = (plan, X, K), plan.output(X, K).add_(b.view(1, -1, 1, 1))
            else:  # oneDNN, in fp32 or (a bf16 run's route) bf16 with fp32 out
                fmt, kind_dtype = choose.memory_format(kind), choose.dtype(kind, h)
                need = h.to(kind_dtype, memory_format=fmt)
                out = F.conv2d(need, w.to(kind_dtype, memory_format=fmt), b.to(kind_dtype), conv.stride,
                               conv.padding).to(h.dtype)
            F.leaky_relu_(out, block.slope)
            keep = scorer.masks.keep(out, block.p) if block.p and scorer.head.training else None
            if keep is not None:
                out.mul_(keep)
            saved.append((kind, need, keep, out))
            h = out
        head = 2 * len(scorer.blocks)  # params[head], params[head + 1]: the head's weight and bias
        flat, head_w = _flat(h, params[head])
        logits = torch.addmm(params[head + 1], flat, head_w.t()).view(-1)
        if labels is not None:  # projection: + <embed(y), h>
            logits += (_flat(h, params[head + 2])[1][labels] * flat).sum(1)
        ctx.scorer, ctx.saved, ctx.n_real, ctx.image_shape = scorer, saved, len(real), real.shape
        ctx.labels = labels
        ctx.save_for_backward(*params)
        return logits, logits[len(real):].clone()

    @staticmethod
    def backward(ctx, grad_d, grad_g):
        scorer, params, saved, n_real = ctx.scorer, ctx.saved_tensors, ctx.saved, ctx.n_real
        grads = [None] * len(params)
        # Head: logit = w . h + b, so dlogit/dh is w for every image: the unit gradient.
        h, head, labels = saved[-1][3], 2 * len(scorer.blocks), ctx.labels
        flat, _ = _flat(h, params[head])
        head_grad = grad_d.reshape(1, -1) @ flat
        grads[head] = head_grad if h.is_contiguous() else _flat_back(head_grad, h.shape)
        grads[head + 1] = grad_d.sum().view(1)
        unit, grad_fake = params[head].view(1, *h.shape[1:]), None
        if labels is not None:  # projection: dlogit/dh is w + embed(y), per image
            embed = params[head + 2]
            embed_grad = torch.zeros(len(embed), flat.shape[1], dtype=flat.dtype).index_add_(
                0, labels, flat * grad_d.view(-1, 1))
            grads[head + 2] = embed_grad if h.is_contiguous() else _flat_back(embed_grad, h.shape)
            unit = (embed[labels] + params[head]).view(len(labels), *h.shape[1:])
        for i in reversed(range(len(scorer.blocks))):
            block, (kind, need, keep, h) = scorer.blocks[i], saved.pop()  # pop: free each block's tensors early
            conv, w = block.conv, params[2 * i]
            if keep is not None:
                unit = keep * unit
            elif unit.shape != h.shape or unit.stride() != h.stride():  # the head's, or another layout
                unit = torch.empty_like(h).copy_(unit.expand_as(h))
            unit = _leaky_backward(unit, h, block.slope, True)  # dlogit/d(conv output), per image
            # D's weights: the unit gradient weighted per image by dL_D/dlogit
            grads[2 * i + 1] = grad_d @ unit.sum((2, 3))
            below = saved[-1][3] if saved else None  # block i-1's output: the layout to hand back
            fake_unit, grad_in, want_in = unit[n_real:], None, i > 0 or ctx.needs_input_grad[2]
            if kind == "rows":  # (only ever D's first block: its input gradient is the fake images')
                scaled_cols = (need.view(len(grad_d), -1) * grad_d.view(-1, 1)).view_as(need)
                grads[2 * i] = (_rows(unit).t() @ scaled_cols).view_as(w)
                if want_in:
                    grad_in = conv_transpose_small(fake_unit, w, conv.stride, conv.padding, ctx.image_shape[2:])
            elif kind == "dft":  # the DFT acts per image, so the per-image weights apply after it
                plan, X, K = need
                dprod = plan.grad_spectra(unit)  # (3 * bins, N, O)
                # Weight X's images in place (X is not needed after this), then free it before grad_input.
                grads[2 * i] = plan.grad_weight(X.mul_(grad_d.view(1, -1, 1)), dprod, w.shape)
                del need, X
                if want_in:
                    grad_in = plan.grad_input(dprod if i > 0 else dprod[:, n_real:], K,
                                              channels_last=below is not None and not below.is_contiguous())
            else:
                kind_dtype, out = need.dtype, w.dtype  # a bf16 route: bf16 operands, gradients back in fp32
                w = w.to(kind_dtype, memory_format=choose.memory_format(kind))
                args = (conv.stride, conv.padding, (1, 1), False, (0, 0), 1)
                grads[2 * i] = _conv_backward((unit * _per_image(grad_d)).to(kind_dtype), need, w, None, *args,
                                              [False, True, False])[1].to(out)
                if want_in:
                    x = need if i > 0 else need[n_real:]
                    gy = (unit if i > 0 else fake_unit).to(kind_dtype)
                    grad_in = _conv_backward(gy, x, w, None, *args, [True, False, False])[0].to(out)
            if i > 0:
                unit = grad_in
            elif grad_in is not None:  # the fake images: the unit gradient weighted by dL_G/dlogit
                grad_fake = grad_in * _per_image(grad_g)
        return (None, None, grad_fake, None, *grads)


def _flat(h: torch.Tensor, w: torch.Tensor):
    """(N, F) view of h in its memory order, and the head weight (1, C*H*W) in that same order."""
    if h.is_contiguous():
        return h.reshape(len(h), -1), w
    n, c, hh, ww = h.shape
    return h.permute(0, 2, 3, 1).reshape(n, -1), w.view(-1, c, hh, ww).permute(0, 2, 3, 1).reshape(len(w), -1)


def _flat_back(head_grad: torch.Tensor, shape) -> torch.Tensor:
    """Rows (K, H*W*C) in NHWC order back to the weights' (K, C*H*W) order."""
    _, c, hh, ww = shape
    return head_grad.view(-1, hh, ww, c).permute(0, 3, 1, 2).reshape(len(head_grad), -1)


def _per_image(g: torch.Tensor) -> torch.Tensor:
    return g.view(-1, 1, 1, 1)


def _rows(t: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N*H*W, C), a view when t is channels_last."""
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])
