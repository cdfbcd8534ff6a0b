"""DiffAugment (Zhao et al. 2020): random, differentiable augmentation of every batch D sees.

With little data D memorises the real images. Augmenting only the reals would teach G to draw the
augmentations; augmenting reals *and* fakes, in D's step and in G's, with ops that pass gradients
back to G, regularises D without leaking them into the samples.

Each transform is a plain function with explicit per-image parameters (testable by hand);
`DiffAugment` draws those parameters and applies them in the policy's order. Images are float
(N, C, H, W) in [-1, 1]; parameters are given in the images' own units.

Fill value: the paper pads translations "with zeros" and its released code zeroes cutout squares,
both as the literal 0 of the tensor, which in its [-1, 1] images is mid-grey, not black. We keep 0
(mid-grey) so the augmentation matches what the paper trained with; for MNIST that means grey
borders and squares, on reals and fakes alike, so D cannot tell them apart by it.
"""

from __future__ import annotations

import torch

from ganforge.errors import ConfigError

POLICIES = ("color", "translation", "cutout")

# Shift within [-0.25, 0.25] of the [0, 1] scale: the paper's code adds U(-0.5, 0.5) to its [-1, 1]
# images, and we keep the strength its results were measured with.
BRIGHTNESS = 0.25
SATURATION = (0.0, 2.0)  # factor around each pixel's channel mean
CONTRAST = (0.5, 1.5)  # factor around each image's mean
TRANSLATION = 8  # shift by at most size // 8 pixels along each axis
CUTOUT = 2  # square side: size // 2
FILL = 0.0  # see the module docstring


# ---- the transforms, with explicit parameters (a number, or one per image) ----

def _per_image(value, x: torch.Tensor) -> torch.Tensor:
    """A number or an (N,) tensor as an (N or 1, 1, 1, 1) tensor on x's device and dtype."""
    return torch.as_tensor(value, device=x.device, dtype=x.dtype).reshape(-1, 1, 1, 1)


def _per_image_int(value, n: int, device) -> torch.Tensor:
    return torch.as_tensor(value, device=device, dtype=torch.long).reshape(-1).expand(n)


def brightness(x: torch.Tensor, shift) -> torch.Tensor:
    """x + shift (in x's units: a shift s on the [0, 1] scale is 2s on [-1, 1])."""
    return x + _per_image(shift, x)


def saturation(x: torch.Tensor, factor) -> torch.Tensor:
    """Each pixel's channels spread around their mean by factor (0: grey, 1: unchanged)."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * _per_image(factor, x) + mean


def contrast(x: torch.Tensor, factor) -> torch.Tensor:
    """Each image spread around its own mean (over channels and pixels) by factor."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _per_image(factor, x) + mean


def translate(x: torch.Tensor, dx, dy, fill: float = FILL) -> torch.Tensor:
    """Content moved dx pixels right and dy down (integers); pixels left uncovered become fill.

    Pure indexing, no interpolation: each output pixel is one input pixel or fill, so the image
    stays sharp and the gradient w.r.t. x is 1 on pixels that stay inside and 0 on those pushed out.
    """
    n, _, h, w = x.shape
    src_y = torch.arange(h, device=x.device) - _per_image_int(dy, n, x.device)[:, None]  # (N, H)
    src_x = torch.arange(w, device=x.device) - _per_image_int(dx, n, x.device)[:, None]  # (N, W)
    # clamped indices read some in-range pixel; the mask below then replaces it (and its gradient)
    rows = x.gather(2, src_y.clamp(0, h - 1)[:, None, :, None].expand(x.shape))
    out = rows.gather(3, src_x.clamp(0, w - 1)[:, None, None, :].expand(x.shape))
    inside = ((src_y >= 0) & (src_y < h))[:, None, :, None] & ((src_x >= 0) & (src_x < w))[:, None, None, :]
    return out.masked_fill(~inside, fill)


def cutout(x: torch.Tensor, cx, cy, size, fill: float = FILL) -> torch.Tensor:
    """A square of side size (or an (h, w) rectangle) set to fill, clipped at the borders.

    Along each axis it spans [c - size // 2, c - size // 2 + size): for an odd size c is its centre
    pixel, for an even size c is the pixel corner at its centre.
    """
    n, _, h, w = x.shape
    size_h, size_w = (size, size) if isinstance(size, int) else size
    top = _per_image_int(cy, n, x.device)[:, None] - size_h // 2
    left = _per_image_int(cx, n, x.device)[:, None] - size_w // 2
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    in_y = (ys >= top) & (ys < top + size_h)  # (N, H)
    in_x = (xs >= left) & (xs < left + size_w)  # (N, W)
    return x.masked_fill(in_y[:, None, :, None] & in_x[:, None, None, :], fill)


TRANSFORMS = {"brightness": brightness, "saturation": saturation, "contrast": contrast,
              "translate": translate, "cutout": cutout}


# ---- the random policy ----

def parse_policy(policy: str) -> tuple[str, ...]:
    """'color, translation' -> ('color', 'translation'); '' -> (); unknown names: ConfigError."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ConfigError(f"unknown DiffAugment policy {', '.join(map(repr, unknown))} in {policy!r}; "
                          f"valid names, comma-separated: {', '.join(POLICIES)}")
    return names


class DiffAugment:
    """aug(x) -> x': the policy's transforms in order, each with fresh draws for every image.

    Randomness: every draw comes from `generator` (on the generator's own device, then moved to
    x's), so a seeded generator repeats exactly and the global streams are left alone; with
    generator None, from torch's global stream of x's device, so `torch.manual_seed` repeats it
    and a checkpoint's saved RNG state covers it. An empty policy returns x itself.
    """

    def __init__(self, policy: str = "color,translation,cutout", generator: torch.Generator | None = None):
        self.policy = parse_policy(policy)
        self.generator = generator

    def __repr__(self) -> str:
        return f"DiffAugment({','.join(self.policy)!r})"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.policy:
            return x
        return self.apply(x, self.sample(x))

    @staticmethod
    def apply(x: torch.Tensor, draws: list[tuple[str, dict]]) -> torch.Tensor:
        """Apply draws from `sample` (the same draws give the same images)."""
        for name, params in draws:
            x = TRANSFORMS[name](x, **params)
        return x

    def sample(self, x: torch.Tensor) -> list[tuple[str, dict]]:
        """The transforms and per-image parameters for a batch shaped like x, in order."""
        if x.dim() != 4 or not x.is_floating_point():
            raise ValueError(f"DiffAugment expects float images (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
        n, c, h, w = x.shape
        draws = []
        for name in self.policy:
            if name == "color":
                draws.append(("brightness", {"shift": self._uniform(n, -2 * BRIGHTNESS, 2 * BRIGHTNESS, x)}))
                if c > 1:  # one channel has nothing to saturate (the op would be the identity)
                    draws.append(("saturation", {"factor": self._uniform(n, *SATURATION, x)}))
                draws.append(("contrast", {"factor": self._uniform(n, *CONTRAST, x)}))
            elif name == "translation":
                draws.append(("translate", {"dx": self._integers(n, -(w // TRANSLATION), w // TRANSLATION, x),
                                            "dy": self._integers(n, -(h // TRANSLATION), h // TRANSLATION, x)}))
            else:  # cutout; centres range one past the edge for even sides, so both borders clip alike
                size = (h // CUTOUT, w // CUTOUT)
                draws.append(("cutout", {"cx": self._integers(n, 0, w - size[1] % 2, x),
                                         "cy": self._integers(n, 0, h - size[0] % 2, x), "size": size}))
        return draws

    def _device(self, x: torch.Tensor) -> torch.device:
        return self.generator.device if self.generator is not None else x.device

    def _uniform(self, n: int, low: float, high: float, x: torch.Tensor) -> torch.Tensor:
        """n draws in [low, high), in float32 whatever x's dtype (the same stream for every dtype)."""
        u = torch.rand(n, generator=self.generator, device=self._device(x))
        return (low + (high - low) * u).to(device=x.device, dtype=x.dtype)

    def _integers(self, n: int, low: int, high: int, x: torch.Tensor) -> torch.Tensor:
        """n integers in [low, high], both ends included."""
        return torch.randint(low, high + 1, (n,), generator=self.generator, device=self._device(x)).to(x.device)
