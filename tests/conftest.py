"""Shared fixtures. Real data comes from $GANFORGE_DATA (CI: ../shared/data); never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ganforge.config import build_config


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = os.environ.get("GANFORGE_DATA")
    if not root or not (Path(root) / "mnist").is_dir():
        pytest.skip("set GANFORGE_DATA to a folder with mnist/ and fashion-mnist/ (e.g. ../shared/data)")
    return Path(root)


@pytest.fixture(scope="session")
def emoji(data_root) -> Path:
    """The real colour emoji: labels.csv, and the same names drawn by twitter/ and google/."""
    root = data_root / "emoji"
    if not (root / "labels.csv").is_file() or not (root / "twitter").is_dir():
        pytest.skip("no emoji/ in GANFORGE_DATA")
    return root


@pytest.fixture()
def tiny_config(data_root):
    """Real MNIST, the tutorial networks, 256 images in batches of 64: 4 steps an epoch."""
    def make(**overrides):
        values = dict(dataset="mnist", data_dir=str(data_root), subset=256, batch_size=64, epochs=2, seed=7,
                      device="cpu")
        values.update(overrides)
        return build_config("dcgan-mnist", overrides=values)
    return make


@pytest.fixture()
def float64():
    """torch's default dtype float64 for one test (exact comparisons of two paths), then back."""
    import torch

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch.float64
    torch.set_default_dtype(before)


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory):
    """A cache for this session only (judges, references, prepared folders): tests never read or
    write the user's cache, and a cold cache is what every session starts from."""
    patch = pytest.MonkeyPatch()
    patch.setenv("GANFORGE_CACHE", str(tmp_path_factory.mktemp("ganforge-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def metrics_cache(session_cache, data_root):
    """The session's cache, where the judge is built once, whatever the user has cached."""


@pytest.fixture(scope="session")
def judge(metrics_cache, data_root):
    """The MNIST judge, trained once per test session (about a minute of 2-core CPU)."""
    from ganforge.metrics import get_judge

    return get_judge("mnist", data_root)


@pytest.fixture(scope="session")
def viewer_run(tmp_path_factory):
    """A finished run for the viewers (interpolate, the web page): the default recipe, class-conditional,
    2 epochs of 256 embedded MNIST images (no data files needed), seeded."""
    from ganforge.training import train

    cfg = build_config("default", overrides=dict(subset=256, epochs=2, seed=5, device="cpu", tensorboard=False))
    out = tmp_path_factory.mktemp("viewer-run") / "tiny"
    return train(cfg, out=out, progress=False, echo=lambda *a: None).run


@pytest.fixture(scope="session")
def sr_run(data_root, tmp_path_factory):
    """A finished image-to-image run for the viewers: x4 super-resolution (preset sr4, small nets),
    one epoch of 256 real MNIST digits, seeded."""
    from ganforge.training import train

    cfg = build_config("sr4", overrides=dict(dataset="mnist", data_dir=str(data_root), channels=1, image_size=28,
                                             g_width=8, d_width=8, subset=256, batch_size=32, epochs=1, seed=5,
                                             device="cpu", tensorboard=False))
    out = tmp_path_factory.mktemp("sr-run") / "upscale"
    return train(cfg, out=out, progress=False, echo=lambda *a: None).run


@pytest.fixture(scope="session")
def cascade_runs(emoji, tmp_path_factory):
    """Two runs that draw as one (`--upscale`): a conditional 16 px folder run on 128 real emoji (both
    vendors, 10 categories) and an x4 SR run on real Google emoji at 64 px, one short epoch each."""
    from ganforge.training import train

    root = tmp_path_factory.mktemp("cascade")
    quiet = dict(progress=False, echo=lambda *a: None)
    gan = build_config("folder32", overrides=dict(
        dataset=f"folder:{emoji}", labels="csv:labels.csv:category", conditional=True, image_size=16, g_width=32,
        d_width=16, subset=128, batch_size=32, epochs=1, seed=3, tensorboard=False))
    sr = build_config("sr4", overrides=dict(dataset=f"folder:{emoji / 'google'}", g_width=8, d_width=8, subset=64,
                                            batch_size=16, epochs=1, seed=4, tensorboard=False))
    return train(gan, out=root / "g16", **quiet).run.root, train(sr, out=root / "sr4", **quiet).run.root
