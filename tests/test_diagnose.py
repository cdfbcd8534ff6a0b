"""Training-health findings: rules on stats histories, and a real collapsed generator."""

import torch

from ganforge.diagnose import check_history, spread
from ganforge.rundir import RunDir
from ganforge.training.loop import Trainer


def epoch(g_loss=0.9, d_loss=1.2, acc_real=0.7, acc_fake=0.6, **extra):
    return dict(g_loss=g_loss, d_loss=d_loss, d_acc_real=acc_real, d_acc_fake=acc_fake, **extra)


def codes(history, *spreads):
    return {f.code for f in check_history(history, *spreads)}


def test_healthy_history_has_no_findings():
    assert codes([epoch(), epoch(g_loss=1.0), epoch(g_loss=0.95)], 0.5, 0.6) == set()


def test_d_dominance_needs_three_epochs_and_a_climbing_g_loss():
    winning = [epoch(g_loss=2.0 + i, acc_fake=0.99) for i in range(3)]
    assert codes(winning) == {"d_dominates"}
    assert codes(winning[:2]) == set()  # two epochs may be noise
    assert codes([epoch(g_loss=3.0 - i, acc_fake=0.99) for i in range(3)]) == set()  # G is recovering


def test_d_at_chance_is_reported():
    assert codes([epoch(d_loss=1.38, acc_real=0.5, acc_fake=0.5)] * 3) == {"d_collapsed"}
    assert codes([epoch(d_loss=1.38, acc_real=0.5, acc_fake=0.5)] * 2 + [epoch()]) == set()


def test_coverage_drop_is_mode_collapse():
    history = [epoch(eval_classes_covered=10), epoch(eval_classes_covered=9), epoch(eval_classes_covered=7)]
    assert codes(history) == {"mode_collapse"}
    assert codes(history[:2]) == set()


def test_spread_is_zero_for_identical_images_and_grows_with_variety():
    same = torch.zeros(8, 1, 28, 28)
    assert spread(same) == 0
    varied = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert spread(varied) > 0.5


def test_constant_generator_is_flagged_as_mode_collapse(tiny_config, tmp_path):
    """A generator whose last layer is zeroed (lr_g tiny, so it stays so) draws the same grey
    image for every noise vector; the first epoch's diagnosis must say so."""
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    trainer = Trainer(tiny_config(epochs=1, lr_g=1e-12, tensorboard=False), run, progress=False, echo=lambda *a: None)
    with torch.no_grad():
        trainer.G[-2].weight.zero_()
    trainer.fit()
    assert "mode_collapse" in run.read_metrics()[0]["warnings"]
    assert [d["code"] for d in run.read_diagnosis()] == ["mode_collapse"]
