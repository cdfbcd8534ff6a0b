"""Build the generator and discriminator a config describes, and count their parameters."""

from __future__ import annotations

import torch
from torch import nn

from torch.nn.utils import parametrize

from ..errors import ConfigError
from . import dcgan
from .conditional import ConditionalGenerator, ProjectionDiscriminator
from .dcgan_general import ConditionalBatchNorm2d, DCGANDiscriminator, DCGANGenerator, MinibatchStd
from .features import FeatureDiscriminator
from .lite import LiteDiscriminator, LiteGenerator
from .pack import PackedDiscriminator
from .resnet import ResNetDiscriminator, ResNetGenerator
from .translate import SRNet, UNet

# The tutorials' fixed-size networks, wrapped for conditioning (conditional.py)...
ARCHS = {
    "dcgan28": (dcgan.generator28, dcgan.discriminator28),
    "dcgan32": (dcgan.generator32, dcgan.discriminator32),
}
# ...and the resolution-general families, conditional by construction (32, 64 or 128 px).
FAMILIES = {
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "lite": (LiteGenerator, LiteDiscriminator),  # FastGAN's G for small data; the DCGAN D (+ FastGAN's decoder)
    "resnet": (ResNetGenerator, ResNetDiscriminator),
}


def num_classes(cfg) -> int:
    """Classes a conditional run draws from (0: unconditional); the run's config records it."""
    if not cfg.conditional:
        return 0
    if cfg.num_classes < 1:
        raise ConfigError("conditional=true but num_classes is not set; train through ganforge.train, which "
                          "takes it from the dataset, or set num_classes")
    return cfg.num_classes


def build_generator(cfg) -> nn.Module:
    if cfg.task in ("pix2pix", "cycle"):  # image -> image: the U-Net (translate.py)
        return UNet(cfg.channels, cfg.image_size, cfg.g_width)
    if cfg.task == "sr":  # small image -> large: SRGAN's residual net (translate.py)
        return SRNet(cfg.channels, cfg.scale, cfg.g_width)
    k = num_classes(cfg)
    if cfg.arch in FAMILIES:
        return FAMILIES[cfg.arch][0](cfg.latent_dim, cfg.channels, cfg.image_size, width=cfg.g_width, num_classes=k)
    make_g, _ = ARCHS[cfg.arch]
    G = make_g(latent_dim=cfg.latent_dim + k, width=cfg.g_width, channels=cfg.channels,
               leak=cfg.leak, bn_momentum=cfg.bn_momentum, bn_eps=cfg.bn_eps)
    return ConditionalGenerator(G, k) if k else G


def build_discriminator(cfg) -> nn.Module:
    """D for the config; with pack > 1, D for packs of that many images (pack.py, unconditional runs)."""
    channels = cfg.channels * cfg.pack
    if cfg.arch in FAMILIES:
        extra = {"minibatch_std": cfg.minibatch_std} if cfg.minibatch_std else {}  # not resnet's (config_rules)
        if cfg.d_recon:  # lite's only (config_rules)
            extra["recon"] = True
        D = FAMILIES[cfg.arch][1](channels, cfg.image_size, width=cfg.d_width, num_classes=num_classes(cfg),
                                  spectral_norm=cfg.spectral_norm, aux=cfg.aux_classifier > 0, **extra)
        if cfg.d_features:  # its frozen stages are taught when training starts (training/features.py)
            D = FeatureDiscriminator(D, cfg.channels, cfg.image_size, cfg.spectral_norm)
    else:
        _, make_d = ARCHS[cfg.arch]
        D = make_d(width=cfg.d_width, channels=channels, leak=cfg.leak, dropout=cfg.d_dropout)
        D = with_minibatch_std(D, cfg.minibatch_std) if cfg.minibatch_std else D
        k = num_classes(cfg)
        D = ProjectionDiscriminator(D, k) if k else D
    return PackedDiscriminator(D, cfg.pack) if cfg.pack > 1 else D


def with_minibatch_std(D: nn.Sequential, group: int) -> nn.Sequential:
    """A tutorial D (convs, Flatten, Linear) with a minibatch-stddev channel before its Flatten; the
    Linear grows by one feature map. The fused CPU kernels do not know this layer: plain autograd."""
    *body, flatten, head = D
    maps = head.in_features // next(m for m in reversed(body) if isinstance(m, nn.Conv2d)).out_channels
    return nn.Sequential(*body, MinibatchStd(group), flatten, nn.Linear(head.in_features + maps, 1))


def init_weights(net: nn.Module, scheme: str, generator: torch.Generator | None = None) -> None:
    """keras: Glorot-uniform kernels and zero biases, as the tutorials' Keras layers start.
    dcgan: N(0, 0.02) weights, BN gamma N(1, 0.02), as in the DCGAN paper and pytorch/examples.
    torch: leave PyTorch's own defaults."""
    if scheme == "torch":
        return
    conditional_bn = {id(m.embed) for m in net.modules() if isinstance(m, ConditionalBatchNorm2d)}
    for m in net.modules():
        # A spectrally normalised layer's weight is computed; its trainable tensor is `original`.
        weight = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else \
            getattr(m, "weight", None)
        if id(m) in conditional_bn:
            continue  # per-class gamma 1, beta 0: a conditional BatchNorm starts as a plain one
        if isinstance(m, nn.Embedding):  # the projection's class vectors start small: D starts unconditional
            nn.init.normal_(weight, 0.0, 0.02, generator=generator)
        elif isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            if scheme == "keras":
                nn.init.xavier_uniform_(weight, generator=generator)
            else:
                nn.init.normal_(weight, 0.0, 0.02, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and scheme == "dcgan" and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(m.bias)


def build_networks(cfg, seed: int | None = None) -> tuple[nn.Module, nn.Module]:
    """G and D, initialised from `seed` (default cfg.seed) so a run repeats exactly."""
    gen = torch.Generator().manual_seed(cfg.seed if seed is None else seed)
    G, D = build_generator(cfg), build_discriminator(cfg)
    init_weights(G, cfg.init, gen)
    init_weights(D, cfg.init, gen)
    return G, D


def count_parameters(net: nn.Module, trainable_only: bool = True) -> int:
    n = sum(p.numel() for p in net.parameters() if p.requires_grad or not trainable_only)
    if not trainable_only:  # the Keras summary counts BatchNorm running statistics too
        n += sum(b.numel() for name, b in net.named_buffers() if not name.endswith("num_batches_tracked"))
    return n


def summary(cfg) -> str:
    """Parameter counts and FLOPs per image of G and D, for `train --dry-run`."""
    import torch

    from .flops import count_flops

    G, D = build_networks(cfg)
    k = num_classes(cfg)
    labels = torch.zeros(2, dtype=torch.long) if k else None
    z, x = torch.randn(2, cfg.latent_dim), torch.zeros(2 * cfg.pack, *cfg.image_shape)  # packed: per image, 2 packs
    g_flops = count_flops(G, z) if labels is None else count_flops(G, z, labels)
    d_flops = count_flops(D, x) if labels is None else count_flops(D, x, labels)
    return (f"G: {count_parameters(G):,} parameters, {g_flops / 1e6:,.1f} MFLOPs per image\n"
            f"D: {count_parameters(D):,} parameters, {d_flops / 1e6:,.1f} MFLOPs per image")
