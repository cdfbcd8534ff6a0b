"""Training-health findings: rules on stats histories, and a real collapsed generator."""

import torch

from ganforge.diagnose import check_history, spread
from ganforge.losses import get_loss
from ganforge.run import RunDir
from ganforge.training.loop import Trainer


def epoch(g_loss=0.9, d_loss=1.2, acc_real=0.7, acc_fake=0.6, **extra):
    return dict(g_loss=g_loss, d_loss=d_loss, d_acc_real=acc_real, d_acc_fake=acc_fake, **extra)


def codes(history, real_spread=None, **chance):
    return {f.code for f in check_history(history, real_spread, **chance)}


def test_healthy_history_has_no_findings():
    assert codes([epoch(sample_spread=0.5), epoch(g_loss=1.0, sample_spread=0.5), epoch(g_loss=0.95, sample_spread=0.5)],
                 0.6) == set()


def test_samples_alike_for_three_epochs_is_mode_collapse():
    alike = [epoch(sample_spread=0.02)] * 3
    assert codes(alike, 0.75) == {"mode_collapse"}
    assert codes(alike[:2], 0.75) == set()  # an untrained G draws alike blobs at first
    assert codes([epoch(sample_spread=0.02)] * 2 + [epoch(sample_spread=0.4)], 0.75) == set()


def test_d_dominance_needs_three_epochs_and_a_climbing_g_loss():
    winning = [epoch(g_loss=2.0 + i, acc_fake=0.99) for i in range(3)]
    assert codes(winning) == {"d_dominates"}
    assert codes(winning[:2]) == set()  # two epochs may be noise
    assert codes([epoch(g_loss=3.0 - i, acc_fake=0.99) for i in range(3)]) == set()  # G is recovering


def test_d_at_chance_is_reported():
    assert codes([epoch(d_loss=1.38, acc_real=0.5, acc_fake=0.5)] * 3) == {"d_collapsed"}
    assert codes([epoch(d_loss=1.38, acc_real=0.5, acc_fake=0.5)] * 2 + [epoch()]) == set()


def test_d_at_chance_is_judged_against_the_losss_own_chance_level():
    """rpgan's D loss at chance is log 2 = 0.69, not bce's log 4; a critic's (wgan-gp) has none."""
    guessing = [epoch(d_loss=0.69, acc_real=0.5, acc_fake=0.5)] * 3
    assert codes(guessing, chance=get_loss("rpgan").chance) == {"d_collapsed"}
    assert codes(guessing) == set()  # against log 4, 0.69 is a D that is learning
    assert codes([epoch(d_loss=0.5, acc_real=0.5, acc_fake=0.5)] * 3, chance=get_loss("rpgan").chance) == set()
    assert codes([epoch(d_loss=1.38, acc_real=0.5, acc_fake=0.5)] * 3, chance=None) == set()


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
    image for every noise vector; once that has lasted three epochs, the diagnosis must say so."""
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    trainer = Trainer(tiny_config(epochs=3, lr_g=1e-12, tensorboard=False), run, progress=False, echo=lambda *a: None)
    with torch.no_grad():
        trainer.G[-2].weight.zero_()
    trainer.fit()
    records = run.read_metrics()
    assert all(r["sample_spread"] < 0.01 for r in records)
    assert [("mode_collapse" in r["warnings"]) for r in records] == [False, False, True]
    assert [(d["epoch"], d["code"]) for d in run.read_diagnosis()] == [(3, "mode_collapse")]
