"""The run config: one flat dataclass of plain values, presets as small YAML files, overrides.

Defaults live here and only here. A preset file (src/ganforge/presets/NAME.yaml) lists just the
fields where it differs, and a user's own YAML or `--set key=value` overrides any field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .config_rules import validate
from .errors import ConfigError
from .fileio import atomic_write


def _net(default):
    """A field the networks are built from: a checkpoint only fits a config that agrees on all of them."""
    return field(default=default, metadata={"net": True})


@dataclass
class Config:
    """Every default is the `default` recipe (presets/default.yaml says why each value was chosen);
    the tutorial presets list every field they need, so they never move with these."""
    # run
    preset: str = "default"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    # auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16 | bf16-if-native (auto, and bf16 on CPUs with AVX512-BF16 or AMX)
    precision: str = "bf16-if-native"
    compile: str = "auto"  # torch.compile the step: auto (on for CUDA) | on | off
    cpu_kernels: str = "auto"  # the fused CPU step's big convs: auto (timed per layer, cached) | dft | onednn[-nhwc][-bf16]
    batchnorm: str = "rank"  # more than one process: rank (each normalises its own share) | sync (SyncBatchNorm, CUDA)
    # data
    dataset: str = "embedded-mnist"  # embedded-mnist | mnist | fashion-mnist | cifar10 | folder:PATH
    data_dir: str | None = None  # None: $GANFORGE_DATA, then the user cache, then download
    subset: int = 0  # >0: train on the first N images only (quick tries, tests)
    labels: str = ""  # folder datasets: "" (none) | folders (sub-folder names) | csv:FILE:COLUMN
    background: str = "white"  # folder datasets: what transparent pixels become (white | black | gray | #rrggbb)
    class_balance: float = 0.0  # conditional runs: draw images with weight (class count)^-a; 0 as is, 1 classes equally
    # networks (see nets/dcgan.py for what each arch builds)
    conditional: bool = _net(True)  # class-conditional G(z, y) and projection D(x, y) (nets/conditional.py); needs labels
    num_classes: int = _net(0)  # classes of a conditional run; 0: taken from the dataset when training starts
    arch: str = _net("dcgan28")  # dcgan28 (1x28x28, TF tutorial) | dcgan32 (3x32x32, Keras CIFAR tutorial) |
    #                               dcgan | lite | resnet (32, 64 or 128 px, 1 or 3 channels: nets/dcgan_general.py,
    #                               lite.py, resnet.py)
    channels: int = _net(1)
    image_size: int = _net(28)
    latent_dim: int = _net(100)
    g_width: int = _net(48)  # channels of G's first feature map; later layers halve it
    d_width: int = _net(24)  # channels of D's first conv; later layers double it
    d_dropout: float = _net(0.0)
    spectral_norm: bool = _net(False)  # spectral normalisation of D's layers (archs dcgan, lite, resnet)
    pack: int = _net(1)  # >1: D judges packs of this many images stacked as channels (PacGAN; unconditional runs)
    minibatch_std: int = _net(0)  # >0: D sees the feature spread of groups of this many images (not resnet; ProGAN)
    leak: float = _net(0.2)  # LeakyReLU slope (the Keras default 0.3 in the tutorial presets)
    bn_momentum: float = _net(0.01)  # PyTorch convention: Keras momentum 0.99 == PyTorch 0.01
    bn_eps: float = _net(1e-3)  # Keras default epsilon
    init: str = "keras"  # keras (Glorot-uniform, zero bias) | torch (PyTorch defaults) | dcgan (N(0, 0.02))
    # objective and optimisation
    task: str = _net("gan")  # gan (noise -> image) | pix2pix (pairs:DIR_A,DIR_B) | sr (x`scale`) | cycle (unpaired)
    scale: int = _net(4)  # sr: the upscaling factor (inputs are image_size / scale px)
    l1_weight: float = 100.0  # pix2pix, sr: weight of the L1 distance to the target (pix2pix's lambda)
    adv_weight: float = 1.0  # pix2pix, sr, cycle: weight of D's verdict; 0 trains G by L1 alone (no D)
    cycle_weight: float = 10.0  # cycle: weight of the A -> B -> A and B -> A -> B L1 distances (CycleGAN's lambda)
    identity_weight: float = 5.0  # cycle: weight of |G(b) - b| + |F(a) - a| (CycleGAN: half of cycle_weight)
    pool_size: int = 50  # cycle: past translations kept for D (CycleGAN's image pool); 0: this step's only
    loss: str = "rpgan"  # bce (the tutorial's) | ns | minimax | hinge | lsgan | wgan-gp | rpgan (losses.py)
    r1: float = 0.1  # >0: R1 penalty gamma on real images (gamma/2 E||dD/dx||^2); 0: off
    r2: float = 0.1  # >0: R2 penalty gamma on fake images (R3GAN pairs it with r1); 0: off
    gp: float = 10.0  # WGAN-GP's lambda (used by loss wgan-gp only)
    penalty_every: int = 16  # apply the penalties every k steps, weighted by k (lazy, as StyleGAN2)
    aux_classifier: float = 0.0  # >0: AC-GAN class loss weight in conditional runs (arch dcgan|lite|resnet, d_then_g)
    d_features: bool = _net(False)  # D also judges through a frozen network taught on the data without labels (families; Projected GAN)
    d_recon: float = _net(0.0)  # >0: FastGAN's self-supervised D: L1 weight of D rebuilding reals from its 8x8 map (lite, d_then_g)
    augment: str = ""  # DiffAugment policy for every image D sees, e.g. color,translation,cutout ("" off)
    step: str = "joint"  # joint | d_then_g | d_real_fake_g (see training/step.py)
    lr_g: float = 8e-4
    lr_d: float = 8e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 64
    drop_last: bool = False  # the tutorial keeps the short last batch
    epochs: int = 30
    ema: float = 0.999  # >0: also keep an exponential moving average of G (decay) for samples; 0: off
    max_steps: int = 0  # >0: stop after this many steps in total (smoke runs, tests)
    max_seconds: float = 0.0  # >0: stop after this many seconds of training steps in total (training/stopping.py)
    # artefacts
    n_fixed: int = 100  # fixed noise vectors shown as the progress grid (10x10: one class per column)
    eval_every: int = 0  # >0: quality metrics (FID, KID, classes...) every this many epochs, and at the end
    eval_n: int = 2000  # samples per training-time evaluation (`ganforge evaluate` defaults to 10,000)
    tensorboard: bool = True

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """An image-to-image generator's input image: super-resolution's is `scale` times smaller."""
        size = self.image_size // self.scale if self.task == "sr" else self.image_size
        return (self.channels, size, size)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELD_TYPES = {f.name: f.type for f in fields(Config)}
NET_FIELDS = tuple(f.name for f in fields(Config) if f.metadata.get("net"))


def preset_names() -> list[str]:
    files = resources.files("ganforge") / "presets"
    return sorted(p.name[: -len(".yaml")] for p in files.iterdir() if p.name.endswith(".yaml"))


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{where}: not valid YAML{at}; fix the syntax and try again") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of config fields (key: value), got {type(data).__name__}")
    return data


def load_preset(name: str) -> dict[str, Any]:
    path = resources.files("ganforge") / "presets" / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(preset_names())}")
    values = _read_yaml(path.read_text(), f"preset {name}")
    values["preset"] = name
    return values


def load_yaml_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; check the path given to --config")
    return _read_yaml(path.read_text(), str(path))


def parse_assignment(text: str) -> tuple[str, Any]:
    """'lr_g=2e-4' -> ('lr_g', 0.0002), values parsed as YAML scalars."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set lr_g=2e-4")
    return key.strip(), _read_yaml(f"v: {raw}", f"--set {text}")["v"] if raw.strip() else None


def _coerce(key: str, value: Any) -> Any:
    """Check one value against the field's declared type, converting the safe cases (int -> float)."""
    kind = FIELD_TYPES[key]
    if value is None:
        if "None" in kind:
            return None
        if kind == "str":
            return ""  # `--set augment=` turns a text option off, as "" does in a YAML file
        raise ConfigError(f"{key} must not be empty; it needs a {kind} value")
    base = kind.replace(" | None", "")
    if base in ("int", "float") and isinstance(value, str):
        value = _number(value)  # YAML reads 2e-4 (no dot) as a string
    if base == "bool" and isinstance(value, bool):
        return value
    if base == "int" and isinstance(value, float) and value.is_integer():
        value = int(value)  # 1e3 (YAML reads it as a float, or as text) is a count too
    if base == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if base == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if base == "str" and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"{key}={value!r} is not a valid {base}; e.g. {key}={getattr(Config(), key)!r}")


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def build_config(preset: str | None = None, file: str | Path | None = None,
                 overrides: dict[str, Any] | None = None, **fields: Any) -> Config:
    """Defaults <- preset <- config file <- overrides and keyword fields (build_config("dcgan-mnist",
    epochs=5) in a notebook), then validated."""
    values: dict[str, Any] = {}
    file_values = load_yaml_file(file) if file else {}
    preset = preset or file_values.get("preset") or "default"
    values.update(load_preset(preset))
    values.update(file_values)
    values.update({**(overrides or {}), **fields})
    values["preset"] = preset
    return config_from_dict(values)


def config_from_dict(values: dict[str, Any]) -> Config:
    unknown = sorted(set(values) - set(FIELD_TYPES))
    if unknown:
        raise ConfigError(f"unknown config field {unknown[0]!r}; valid fields: {', '.join(FIELD_TYPES)}")
    cfg = Config(**{k: _coerce(k, v) for k, v in values.items()})
    validate(cfg)
    return cfg


def net_mismatch(saved: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    """The first network field on which two configs differ, said readably; None if they build the same nets."""
    for key in NET_FIELDS:
        if saved.get(key) != wanted.get(key):
            return (f"{key}={saved.get(key)!r} (preset {saved.get('preset')}) vs {wanted.get(key)!r} "
                    f"(preset {wanted.get('preset')})")
    return None


def save_config(cfg: Config, path: str | Path) -> None:
    text = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def read_config(path: str | Path) -> Config:
    """Read a resolved config written by save_config (a run folder's config.yaml)."""
    return config_from_dict(stored_values(load_yaml_file(path)))


def stored_values(values: dict[str, Any]) -> dict[str, Any]:
    """A run's stored config values, brought up to date: runs made before num_classes was recorded
    were conditional on one of the 10-class built-in datasets."""
    if values.get("conditional") and not values.get("num_classes"):
        values = {**values, "num_classes": 10}
    return values
