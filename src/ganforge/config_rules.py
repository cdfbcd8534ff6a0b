"""What a valid config is: the allowed choices, the limits, and the checks across fields.

config.py builds a Config from defaults, presets and overrides; every Config it returns has passed
validate() here, so the rest of ganforge can trust its values.
"""

from __future__ import annotations

import math

from .errors import ConfigError

ARCH_SHAPES = {"dcgan28": (1, 28), "dcgan32": (3, 32)}  # arch -> (default channels, image size)
GENERAL_ARCHS = {"dcgan": (16, 32, 64, 128), "lite": (32, 64, 128), "resnet": (32, 64, 128)}  # arch -> image sizes it makes
CHOICES = {
    "device": ("auto", "cpu", "cuda"),
    "precision": ("auto", "fp32", "bf16", "bf16-if-native"),
    "compile": ("auto", "on", "off"),
    "cpu_kernels": ("auto", "dft", "onednn", "onednn-nhwc", "onednn-bf16", "onednn-nhwc-bf16"),
    "task": ("gan", "pix2pix", "sr", "cycle"),
    "batchnorm": ("rank", "sync"),
    "arch": (*ARCH_SHAPES, *GENERAL_ARCHS),
    "init": ("keras", "torch", "dcgan"),
    "loss": ("bce", "ns", "minimax", "hinge", "lsgan", "wgan-gp", "rpgan"),
    "step": ("joint", "d_then_g", "d_real_fake_g"),
}


# Upper bounds, far above any run these networks are made for: a slip like epochs=1e12 or
# batch_size=10**9 is refused in one line before anything is allocated, not met as an
# out-of-memory kill or a run that never ends.
LIMITS = {"epochs": 1_000_000, "max_steps": 10**10, "max_seconds": 10**9, "batch_size": 65_536, "image_size": 1024, "latent_dim": 4096,
          "g_width": 4096, "d_width": 4096, "n_fixed": 1024, "num_classes": 100_000, "eval_every": 1_000_000,
          "eval_n": 100_000, "penalty_every": 1_000_000, "pack": 64}


def validate(cfg) -> None:
    """Refuse a Config (config.Config) that no run could use, in one line naming the field and the fix."""
    for key, allowed in CHOICES.items():
        if getattr(cfg, key) not in allowed:
            raise ConfigError(f"{key}={getattr(cfg, key)!r} is not allowed; choose one of: {', '.join(allowed)}")
    for key, limit in LIMITS.items():
        if getattr(cfg, key) > limit:
            raise ConfigError(f"{key}={getattr(cfg, key)} is above the limit of {limit:,}; is it a typo?")
    for key in ("latent_dim", "g_width", "d_width", "batch_size", "epochs", "n_fixed", "channels", "image_size",
                "eval_n", "penalty_every", "pack"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"{key}={getattr(cfg, key)} must be at least 1")
    for key in ("max_steps", "subset", "eval_every", "num_classes"):
        if getattr(cfg, key) < 0:
            raise ConfigError(f"{key}={getattr(cfg, key)} must be 0 (no limit) or more")
    for key in ("lr_g", "lr_d"):
        value = getattr(cfg, key)
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{key}={value} must be a positive number, e.g. 1e-4")
    if not 0.0 <= cfg.class_balance <= 1.0:
        raise ConfigError(f"class_balance={cfg.class_balance} must be in [0, 1] (0: the data's own mix, 1: classes equally)")
    for key in ("beta1", "beta2", "d_dropout", "bn_momentum", "ema"):
        value = getattr(cfg, key)
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{key}={value} must be in [0, 1)")
    if cfg.conditional and cfg.dataset.startswith("folder:") and not cfg.labels:
        raise ConfigError(f"conditional=true needs class labels, and {cfg.dataset} has none; set labels=folders "
                          "(sub-folder names) or labels=csv:FILE:COLUMN, or conditional=false")
    for key in ("r1", "r2", "gp", "aux_classifier", "d_recon", "max_seconds"):
        if not (math.isfinite(getattr(cfg, key)) and getattr(cfg, key) >= 0):
            raise ConfigError(f"{key}={getattr(cfg, key)} must be 0 (off) or a positive weight")
    if cfg.cpu_kernels.endswith("-bf16") and cfg.precision not in ("bf16", "bf16-if-native"):
        raise ConfigError(f"cpu_kernels={cfg.cpu_kernels} computes in bf16; set precision=bf16 too, or pick an fp32 route")
    if cfg.loss == "rpgan" and cfg.step == "d_real_fake_g":
        raise ConfigError("loss rpgan pairs each fake with a real image in one D step; use step joint or d_then_g")
    if cfg.augment:
        from .augment import parse_policy

        parse_policy(cfg.augment)  # one line naming the unknown policy and the valid ones
    if not (cfg.leak >= 0 and cfg.bn_eps > 0):
        raise ConfigError("leak must be >= 0 and bn_eps > 0")
    if cfg.task == "gan":  # image -> image runs build their own nets (_check_task checks their sizes)
        _check_arch_size(cfg)
    if cfg.channels not in (1, 3):
        raise ConfigError(f"channels={cfg.channels} must be 1 (grayscale) or 3 (RGB)")
    _check_aux_classifier(cfg)
    _check_task(cfg)
    if cfg.pack > 1 and (cfg.conditional or cfg.batch_size % cfg.pack):
        raise ConfigError(f"pack={cfg.pack} needs an unconditional run (conditional=false) and a batch_size that it "
                          f"divides (this run: conditional={cfg.conditional}, batch_size={cfg.batch_size}); or pack=1")
    if cfg.minibatch_std and (cfg.arch == "resnet" or cfg.minibatch_std < 2):
        raise ConfigError(f"minibatch_std={cfg.minibatch_std}: a group of at least 2 images, with arch dcgan, "
                          f"lite, dcgan28 or dcgan32 (this run has arch {cfg.arch}); or 0 (off)")
    if cfg.d_features and (cfg.arch not in GENERAL_ARCHS or cfg.pack > 1 or cfg.task != "gan"):
        raise ConfigError(f"d_features=true: D's frozen feature network comes with task gan, arch dcgan, lite or resnet "
                          f"and pack 1 (this run: {cfg.task}, arch {cfg.arch}, pack {cfg.pack}); or d_features=false")
    if cfg.d_recon and (cfg.arch != "lite" or cfg.step != "d_then_g" or cfg.pack > 1):
        raise ConfigError(f"d_recon={cfg.d_recon}: D's decoder comes with arch lite, step d_then_g and pack 1 (this run: "
                          f"arch {cfg.arch}, step {cfg.step}, pack {cfg.pack}); or d_recon=0 (off)")


def _check_arch_size(cfg) -> None:
    _, size = ARCH_SHAPES.get(cfg.arch, (cfg.channels, cfg.image_size))
    if cfg.arch in GENERAL_ARCHS and cfg.image_size not in GENERAL_ARCHS[cfg.arch]:
        raise ConfigError(f"arch {cfg.arch} makes {', '.join(map(str, GENERAL_ARCHS[cfg.arch]))} px images, not "
                          f"image_size={cfg.image_size}")
    if cfg.image_size != size:
        raise ConfigError(f"arch {cfg.arch} makes {size}x{size} images, but image_size={cfg.image_size}; "
                          f"set image_size={size} or pick another arch ({', '.join(ARCH_SHAPES)})")


def _check_aux_classifier(cfg) -> None:
    # A preset may carry a weight for when it is run conditionally; an unconditional run has no classes to learn.
    if not (cfg.aux_classifier and cfg.conditional):
        return
    if cfg.arch not in GENERAL_ARCHS or cfg.step != "d_then_g":
        raise ConfigError(f"aux_classifier works with arch {' or '.join(GENERAL_ARCHS)} and step d_then_g; "
                          f"this run has arch {cfg.arch}, step {cfg.step} (or set aux_classifier=0)")


def _check_task(cfg) -> None:
    paired = cfg.dataset.startswith("pairs:")
    if cfg.task == "gan" and paired:
        raise ConfigError(f"{cfg.dataset} is a paired dataset, for image-to-image runs: add --preset pix2pix "
                          "(or --set task=pix2pix)")
    if cfg.task == "gan":
        return
    if cfg.task == "sr" and (paired or cfg.scale not in (2, 4, 8) or cfg.image_size % cfg.scale):
        raise ConfigError(f"task=sr upscales one dataset's images (folder:DIR, mnist, ...) by scale 2, 4 or 8 into "
                          f"image_size, a multiple of it; this run has {cfg.dataset}, scale {cfg.scale}, "
                          f"image_size {cfg.image_size}")
    if cfg.task != "sr" and (cfg.image_size < 8 or cfg.image_size & (cfg.image_size - 1)):
        raise ConfigError(f"task={cfg.task}: image_size {cfg.image_size}: the U-Net needs a power of two (32, 64, 128)")
    if cfg.task != "sr" and not paired:
        raise ConfigError(f"task={cfg.task} learns from pairs: --dataset pairs:DIR_A,DIR_B (two folders with the same "
                          f"file names{'; cycle ignores the pairing in training' if cfg.task == 'cycle' else ''}), "
                          f"not {cfg.dataset}")
    if cfg.task == "cycle" and not (cfg.adv_weight > 0 and cfg.cycle_weight >= 0 and cfg.identity_weight >= 0):
        raise ConfigError(f"task=cycle: adv_weight > 0 (it is what makes outputs look like B), cycle_weight and "
                          f"identity_weight >= 0; this run has {cfg.adv_weight}, {cfg.cycle_weight}, {cfg.identity_weight}")
    if cfg.task == "cycle" and cfg.pool_size < 0:
        raise ConfigError(f"pool_size={cfg.pool_size}: 0 (D sees this step's translations only) or more past ones, e.g. 50")
    if cfg.conditional:
        raise ConfigError(f"task={cfg.task} is conditioned on its input image, not on classes: set conditional=false")
    weights = (cfg.l1_weight, cfg.adv_weight)
    if not all(math.isfinite(w) and w >= 0 for w in weights) or not any(weights):
        raise ConfigError(f"l1_weight={cfg.l1_weight}, adv_weight={cfg.adv_weight}: both >= 0, not both 0")
