"""D's frozen feature network (`d_features`: nets/features.py, training/features.py): what the
wrapper adds to D's verdict, that the stages stay fixed, and their teaching on real emoji."""

from __future__ import annotations

import csv
import math
import shutil

import pytest
import torch

from ganforge.config import build_config
from ganforge.data import load_dataset
from ganforge.errors import ConfigError
from ganforge.nets import build_networks
from ganforge.nets.dcgan_general import DCGANDiscriminator
from ganforge.nets.features import FeatureDiscriminator
from ganforge.nets.lite import LiteDiscriminator
from ganforge.training import features as teaching


def wrapped(d, size=32, channels=3, seed=0, spectral_norm=True):
    torch.manual_seed(seed)
    return FeatureDiscriminator(d, channels, size, spectral_norm=spectral_norm)


def heads_by_hand(D, x):
    """Each stage's map through its own head, the logits summed."""
    total, h = torch.zeros(len(x), 1), x
    for stage, head in zip(D.stages, D.heads):
        conv, norm, _ = stage
        h = torch.relu(torch.nn.functional.batch_norm(conv(h), norm.running_mean, norm.running_var, norm.weight,
                                                      norm.bias, False, 0.0, norm.eps))
        total = total + head(h)
    return total


@pytest.mark.parametrize("size", [32, 64])
def test_the_heads_logits_are_added_to_d_and_its_other_answers_kept(size):
    torch.manual_seed(1)
    inner = DCGANDiscriminator(3, size, width=8, num_classes=3, spectral_norm=True, aux=True)
    D = wrapped(inner, size).eval()
    for m in D.stages.modules():  # statistics of their own, so eval BatchNorm is not the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2), m.running_var.uniform_(0.5, 2.0)
    x, y = torch.rand(5, 3, size, size) * 2 - 1, torch.tensor([0, 1, 2, 1, 0])
    extra = heads_by_hand(D, x)
    assert extra.shape == (5, 1) and extra.abs().max() > 0
    assert torch.allclose(D(x, y), inner(x, y) + extra, atol=1e-6)
    logits, class_logits = D(x, y, classes=True)
    assert torch.allclose(logits, inner(x, y) + extra, atol=1e-6)
    assert torch.equal(class_logits, inner(x, y, classes=True)[1])
    # lite's decoder: its rebuilt images pass through unchanged, the verdict gains the same extra
    torch.manual_seed(2)
    lite = LiteDiscriminator(3, size, width=8, recon=True)
    L = wrapped(lite, size).eval()
    out, inner_out = L(x, None, False, 2), lite(x, None, False, 2)
    assert torch.allclose(out[0], inner_out[0] + heads_by_hand(L, x), atol=1e-6)
    assert torch.equal(out[-1], inner_out[-1]) and out[-1].shape == (2, 3, size // 2, size // 2)


def test_stages_stay_frozen_in_eval_mode_while_images_get_gradients():
    # no spectral norm here: its power iteration moves at every training-mode call
    D = wrapped(DCGANDiscriminator(3, 32, width=8), spectral_norm=False).train()
    assert D.heads.training and not any(m.training for m in D.stages.modules())
    before = {k: v.clone() for k, v in D.stages.state_dict().items()}
    x = (torch.rand(8, 3, 32, 32) * 2 - 1).requires_grad_()
    logits = D(x)
    # eval BatchNorm: an image's verdict does not depend on the rest of the batch
    assert torch.allclose(D(x[:3]), logits[:3], atol=1e-6)
    logits.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # G learns through the frozen stages
    assert all(p.grad is None for p in D.stages.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in D.heads.parameters())
    assert all(torch.equal(before[k], v) for k, v in D.stages.state_dict().items())  # running stats too


@pytest.fixture()
def emoji32(emoji, tmp_path):
    """96 real google emoji at 32 px, three categories."""
    rows = [r for r in csv.DictReader(open(emoji / "labels.csv")) if r["vendor"] == "google"]
    for category in ("Flags", "Smileys & Emotion", "Food & Drink"):
        for r in [r for r in rows if r["category"] == category][:32]:
            (tmp_path / "data").mkdir(exist_ok=True)
            shutil.copy(emoji / r["file"], tmp_path / "data" / r["file"].split("/")[1])
    return load_dataset(f"folder:{tmp_path / 'data'}", "train", channels=3, image_size=32)


def test_teaching_learns_caches_and_repeats_whatever_the_run_drew(emoji32, tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    first = wrapped(DCGANDiscriminator(3, 32, width=8), seed=0)
    untaught = {k: v.clone() for k, v in first.stages.state_dict().items()}
    info = teaching.teach_features(first, emoji32, passes=8 * len(emoji32), echo=lambda *a: None)
    # NT-Xent at chance, for a batch of 24 (96 // 4): log(2 * 24 - 1); taught views find their twins better
    assert info["epochs"] == 8 and info["final_loss"] < math.log(47) - 0.5
    conv = "0.0.weight"
    assert not torch.equal(first.stages.state_dict()[conv], untaught[conv])
    assert teaching.feature_path(emoji32).with_suffix(".safetensors").is_file()
    # a second run (another init) reads the cache: no teaching, the same stages
    monkeypatch.setattr("ganforge.metrics.contrastive.fit_contrastive", lambda *a, **k: pytest.fail("taught twice"))
    second = wrapped(DCGANDiscriminator(3, 32, width=8), seed=5)
    assert teaching.teach_features(second, emoji32, passes=8 * len(emoji32)) == info
    assert all(torch.equal(v, second.stages.state_dict()[k]) for k, v in first.stages.state_dict().items())
    # with the cache gone, teaching from another run's init gives the same stages to the bit
    monkeypatch.undo()
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache2"))
    third = wrapped(DCGANDiscriminator(3, 32, width=8), seed=9)
    teaching.teach_features(third, emoji32, passes=8 * len(emoji32), echo=lambda *a: None)
    assert all(torch.equal(v, third.stages.state_dict()[k]) for k, v in first.stages.state_dict().items())


class _RankOne:
    """Rank 1 of two, as training/distributed.py's world is to it: first(fn) waits while rank 0 runs
    its own call (here `rank0`, in this process), then hands on rank 0's answer; fn is not run here."""

    world, is_main = 2, False

    def __init__(self, rank0):
        self.rank0, self.waited = rank0, 0

    def first(self, fn):
        self.waited += 1
        return self.rank0()


def test_under_torchrun_rank_0_alone_teaches_and_the_others_read_its_cache(emoji32, tmp_path, monkeypatch):
    from ganforge.metrics import contrastive

    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    taught, fit = [], contrastive.fit_contrastive
    monkeypatch.setattr(contrastive, "fit_contrastive", lambda *a, **k: taught.append(1) or fit(*a, **k))
    passes, quiet = 8 * len(emoji32), lambda *a: None
    rank0 = wrapped(DCGANDiscriminator(3, 32, width=8), seed=0)
    rank1 = wrapped(DCGANDiscriminator(3, 32, width=8), seed=3)  # another draw: what it ends with comes from rank 0
    world = _RankOne(lambda: teaching.teach_features(rank0, emoji32, passes=passes, echo=quiet))
    info = teaching.teach_features(rank1, emoji32, passes=passes, echo=quiet, world=world)
    assert world.waited == 1 and len(taught) == 1  # taught once, by rank 0; rank 1 read the cache it wrote
    assert info["epochs"] == 8
    assert all(torch.equal(v, rank1.stages.state_dict()[k]) for k, v in rank0.stages.state_dict().items())


def test_d_features_is_checked():
    with pytest.raises(ConfigError, match="d_features=true: D's frozen feature network comes with task gan"):
        build_config("dcgan-mnist", overrides={"d_features": True})
    with pytest.raises(ConfigError, match="pack 2"):
        build_config("folder32", overrides={"d_features": True, "pack": 2, "conditional": False})
    cfg = build_config("folder64", overrides={"d_features": True, "conditional": True, "num_classes": 10})
    G, D = build_networks(cfg)
    assert isinstance(D, FeatureDiscriminator) and isinstance(D.d, DCGANDiscriminator)
    assert len(D.heads) == len(D.stages) == 3  # a head per stage
    assert D.heads[0][-2].weight.shape[1] == 32  # the first head's last conv reads HEAD_WIDTH channels
    assert not isinstance(build_networks(build_config("folder64"))[1], FeatureDiscriminator)


def test_a_run_with_d_features_trains_and_its_checkpoint_holds_the_taught_stages(emoji32, tmp_path, monkeypatch):
    from ganforge.metrics.cache import load_entry
    from ganforge.run import checkpoint as ckpt
    from ganforge.training import resume, train

    monkeypatch.setattr(teaching, "IMAGE_PASSES", 2 * len(emoji32))
    cfg = build_config("folder32", overrides={"dataset": f"folder:{emoji32.source}", "d_features": True, "max_steps": 3,
                                               "batch_size": 16, "tensorboard": False, "device": "cpu"})
    assert train(cfg, out=tmp_path / "run", progress=False, echo=lambda *a: None).reason == "max_steps"
    taught, _ = load_entry(teaching.feature_path(emoji32))
    saved = ckpt.load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["D"]
    assert all(torch.equal(saved[f"stages.{k}"], v) for k, v in taught.items())
    # resume reads D, stages included, from the checkpoint and goes on
    result = resume(tmp_path / "run", overrides={"max_steps": 5}, progress=False, echo=lambda *a: None)
    assert result.reason == "max_steps"
