"""Every objective and penalty against values computed by hand, and each one training for real."""

import math

import pytest
import torch
from torch import nn

from ganforge.losses import LOSSES, Penalties, get_loss, input_gradient_penalty, step_stats, wgan_gradient_penalty

REAL = torch.tensor([2.0, -1.0])
FAKE = torch.tensor([0.5, -3.0])


def sp(x):  # softplus, by hand
    return math.log1p(math.exp(x))


HAND = {  # loss: (D's loss, G's loss) on REAL and FAKE
    "bce": ((sp(-2) + sp(1)) / 2 + (sp(0.5) + sp(-3)) / 2, (sp(-0.5) + sp(3)) / 2),
    "ns": ((sp(-2) + sp(1)) / 2 + (sp(0.5) + sp(-3)) / 2, (sp(-0.5) + sp(3)) / 2),
    "minimax": ((sp(-2) + sp(1)) / 2 + (sp(0.5) + sp(-3)) / 2, -(sp(0.5) + sp(-3)) / 2),
    "hinge": ((0 + 2) / 2 + (1.5 + 0) / 2, -(0.5 - 3) / 2),
    "lsgan": (0.5 * (1 + 4) / 2 + 0.5 * (0.25 + 9) / 2, 0.5 * (0.25 + 16) / 2),
    "wgan-gp": ((0.5 - 3) / 2 - (2 - 1) / 2, -(0.5 - 3) / 2),
    "rpgan": ((sp(-(2 - 0.5)) + sp(-(-1 + 3))) / 2, (sp(-(0.5 - 2)) + sp(-(-3 + 1))) / 2),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_against_hand_computed_values(name):
    loss = get_loss(name)
    d_want, g_want = HAND[name]
    assert loss.d(REAL, FAKE).item() == pytest.approx(d_want, rel=1e-6)
    assert loss.g(FAKE, REAL).item() == pytest.approx(g_want, rel=1e-6)
    if loss.separable:  # the Keras order steps on the two halves one at a time
        assert (loss.d_real(REAL) + loss.d_fake(FAKE)).item() == pytest.approx(d_want, rel=1e-6)


def read(name, real, fake):
    """step_stats' accuracies and D(x), D(G(z)) for these logits (losses 0, unused)."""
    zero = torch.zeros(())
    return step_stats(get_loss(name), zero, zero, torch.tensor(real), torch.tensor(fake))[2:].tolist()


def test_stats_read_a_relative_d_from_the_batch_midpoint():
    """A relativistic D that scores every real 5 and every fake 4 tells them apart perfectly; read
    from logit 0 (as bce is) it would look sure that every fake is real."""
    acc_real, acc_fake, d_real, d_fake = read("rpgan", [5.0, 5.0], [4.0, 4.0])
    assert (acc_real, acc_fake) == (1.0, 1.0)
    assert d_real == pytest.approx(1 / (1 + math.exp(-0.5))) and d_fake == pytest.approx(1 / (1 + math.exp(0.5)))
    assert read("bce", [5.0, 5.0], [4.0, 4.0])[:2] == [1.0, 0.0]  # bce's fixed zero: every fake called real
    assert read("rpgan", [5.0, 3.0], [3.5, 3.5])[:2] == [0.5, 1.0]  # midpoint 3.75: the real at 3 is missed
    assert read("wgan-gp", [-7.0, -6.0], [-9.0, -8.0])[:2] == [1.0, 1.0]


def test_stats_read_lsgan_around_its_targets_midpoint_and_chance_levels():
    assert read("lsgan", [0.8, 0.4], [0.3, 0.6])[:2] == [0.5, 0.5]  # targets 1 and 0: the cut is 0.5
    assert read("bce", [0.8, 0.4], [0.3, 0.6])[:2] == [1.0, 0.0]
    for name in ("bce", "hinge", "lsgan", "rpgan"):  # chance: D's loss when real and fake score alike
        loss = get_loss(name)
        same = torch.full((4,), 0.5 if name == "lsgan" else 0.0)
        assert loss.d(same, same).item() == pytest.approx(loss.chance)
    assert get_loss("wgan-gp").chance is None


class Linear(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w for every image, so penalties are known exactly."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x.flatten(1) * self.w).sum(1, keepdim=True) + 0.7


def test_penalties_on_a_linear_discriminator():
    w = torch.tensor([3.0, 4.0, 0.0, 0.0])  # ||w|| = 5
    D = Linear(w)
    x = torch.randn(6, 1, 2, 2)
    assert input_gradient_penalty(D, x).item() == pytest.approx(25.0)  # E||w||^2
    assert wgan_gradient_penalty(D, x, torch.randn(6, 1, 2, 2)).item() == pytest.approx(16.0)  # (5 - 1)^2
    penalty = input_gradient_penalty(D, x)
    (grad,) = torch.autograd.grad(penalty, D.w)
    torch.testing.assert_close(grad, 2 * w)  # d||w||^2/dw: the penalty trains D's weights


def test_lazy_penalties_fall_due_every_k_steps_weighted_by_k():
    D = Linear(torch.tensor([3.0, 4.0, 0.0, 0.0]))
    x = torch.randn(4, 1, 2, 2)
    lazy = Penalties(r1=2.0, every=4)
    due = [lazy(D, x, x, None, step) for step in range(8)]
    assert [d is not None for d in due] == [True, False, False, False] * 2
    assert due[0].item() == pytest.approx(4 * 2.0 / 2 * 25.0)  # k * gamma/2 * E||grad||^2
    both = Penalties(r1=1.0, r2=3.0, gp=10.0)
    assert both(D, x, x, None, 5).item() == pytest.approx(0.5 * 25 + 1.5 * 25 + 10 * 16)
    assert not Penalties() and Penalties()(D, x, x, None, 0) is None


@pytest.mark.parametrize("loss, extra", [("hinge", {}), ("lsgan", {}), ("wgan-gp", {}), ("rpgan", {"r1": 0.1, "r2": 0.1}),
                                         ("bce", {"r1": 1.0, "penalty_every": 2}), ("minimax", {}), ("rpgan", {}),
                                         ("bce", {"augment": "color,translation,cutout"})])
def test_each_objective_trains(tiny_config, tmp_path, loss, extra):
    """A short run per objective: finite losses, and the plain step where the fused one cannot serve
    (augmentation sits between G and D); a gradient penalty, lazy or not, is a backward of its own
    beside the fused step: R1 / R2 by hand, WGAN-GP's by autograd."""
    from ganforge.run.checkpoint import load_checkpoint
    from ganforge.training import train

    cfg = tiny_config(loss=loss, max_steps=4, tensorboard=False, d_dropout=0.0, **extra)
    result = train(cfg, out=tmp_path / "run", progress=False, echo=lambda *a: None)
    saved = load_checkpoint(result.run.checkpoint)
    assert saved["state"]["step"] == 4 and all(torch.isfinite(v).all() for v in saved["D"].values())
    plain = bool(extra.get("augment"))
    path = result.records[-1]["step_path"]
    assert path.startswith("joint, plain autograd" if plain else "joint, fused CPU kernels")
    if plain or not (extra.get("r1") or loss == "wgan-gp"):
        assert "penalties" not in path
    else:  # R1 / R2 by hand beside the fused step (kernels/cpu/penalty.py), WGAN-GP's by autograd
        assert ("penalties plain" if loss == "wgan-gp" else "penalties by hand") in path
    assert math.isfinite(result.records[-1]["d_loss"]) and math.isfinite(result.records[-1]["g_loss"])


def sgd_by_hand(net, loss, lr):
    """One plain SGD step of net on loss (the gradient reaches net's parameters only)."""
    net.zero_grad()
    loss.backward(inputs=list(net.parameters()))
    with torch.no_grad():
        for p in net.parameters():
            p -= lr * p.grad


def assert_same_weights(pairs):
    for a, b in pairs:
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-6, msg=name)


def test_auxiliary_classifier_adds_its_class_loss_to_d_and_to_g():
    """AC-GAN in d_then_g: D's loss gains w * CE(D's class logits of the reals, their labels), G's
    gains w * CE(D's class logits of the fakes, the labels they were drawn for); checked against the
    same step written out by hand, with plain SGD so each update is lr * gradient."""
    import copy

    import torch.nn.functional as F

    from ganforge.nets.dcgan_general import DCGANDiscriminator, DCGANGenerator
    from ganforge.training.step import TrainStep

    torch.manual_seed(0)
    G, D = DCGANGenerator(8, 3, 32, width=32, num_classes=3), DCGANDiscriminator(3, 32, width=8, num_classes=3, aux=True)
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    real, labels, w, lr = torch.rand(6, 3, 32, 32) * 2 - 1, torch.tensor([0, 1, 2, 0, 1, 2]), 0.7, 0.05
    hinge = get_loss("hinge")
    step = TrainStep(G, D, torch.optim.SGD(G.parameters(), lr), torch.optim.SGD(D.parameters(), lr), hinge, 8,
                     "d_then_g", torch.Generator().manual_seed(1), aux_weight=w)
    head_before = D.classifier.weight.detach().clone()
    step(real, labels)

    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    fake = G2(z, labels)
    real_logits, real_classes = D2(real, labels, True)
    d_loss = hinge.d(real_logits.view(-1), D2(fake.detach(), labels).view(-1)) + w * F.cross_entropy(real_classes, labels)
    sgd_by_hand(D2, d_loss, lr)
    fake_logits, fake_classes = D2(fake, labels, True)
    sgd_by_hand(G2, hinge.g(fake_logits.view(-1)) + w * F.cross_entropy(fake_classes, labels), lr)
    assert_same_weights([(D, D2), (G, G2)])
    assert (D.classifier.weight - head_before).abs().max() > 1e-4  # the class head learned in this step
    with pytest.raises(ValueError, match="auxiliary classifier"):
        DCGANDiscriminator(3, 32, width=8, num_classes=3)(real, labels, True)


def test_d_recon_adds_the_rebuild_error_of_the_reals_to_d_only():
    """FastGAN's self-supervised D in d_then_g: D's loss gains w * mean |decoder(D's 8x8 map of each
    real) - the real at half size|; fakes are not rebuilt and G's loss is unchanged. Checked against
    the same step written out by hand, with plain SGD, with the AC-GAN term beside it."""
    import copy

    import torch.nn.functional as F

    from ganforge.nets.lite import LiteDiscriminator, LiteGenerator
    from ganforge.training.step import TrainStep

    torch.manual_seed(0)
    G = LiteGenerator(8, 3, 32, width=32, num_classes=3)
    D = LiteDiscriminator(3, 32, width=8, num_classes=3, aux=True, recon=True)
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    real, labels, w, lr = torch.rand(6, 3, 32, 32) * 2 - 1, torch.tensor([0, 1, 2, 0, 1, 2]), 0.6, 0.05
    hinge = get_loss("hinge")
    step = TrainStep(G, D, torch.optim.SGD(G.parameters(), lr), torch.optim.SGD(D.parameters(), lr), hinge, 8,
                     "d_then_g", torch.Generator().manual_seed(1), aux_weight=0.5, recon_weight=w)
    decoder_before = [p.detach().clone() for p in D.decoder.parameters()]
    step(real, labels)

    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    fake = G2(z, labels)
    real_logits, real_classes, rebuilt = D2(real, labels, True, 6)
    assert rebuilt.shape == (6, 3, 16, 16)
    rebuild = (rebuilt - F.avg_pool2d(real, 2)).abs().mean()
    d_loss = hinge.d(real_logits.view(-1), D2(fake.detach(), labels).view(-1)) \
        + 0.5 * F.cross_entropy(real_classes, labels) + w * rebuild
    sgd_by_hand(D2, d_loss, lr)
    fake_logits, fake_classes = D2(fake, labels, True)
    sgd_by_hand(G2, hinge.g(fake_logits.view(-1)) + 0.5 * F.cross_entropy(fake_classes, labels), lr)
    assert_same_weights([(D, D2), (G, G2)])
    assert all((p - q).abs().max() > 1e-5 for p, q in zip(D.decoder.parameters(), decoder_before))  # it learned
    with pytest.raises(ValueError, match="without a decoder"):
        LiteDiscriminator(3, 32, width=8)(real, None, False, 6)
