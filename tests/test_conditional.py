"""Class-conditional G(z, y) and projection D(x, y): the fused CPU step is the plain step's maths,
labels reach both networks, and a short conditional run draws the digit it is asked for."""

import copy

import pytest
import torch

from ganforge.config import build_config
from ganforge.errors import ConfigError
from ganforge.nets import build_networks, count_parameters
from ganforge.nets.conditional import ConditionalGenerator, ProjectionDiscriminator, balanced_labels
from ganforge.kernels.cpu import build_fast_joint
from ganforge.losses import Penalties, get_loss
from ganforge.training.step import TrainStep


def _config(**overrides):
    return build_config("dcgan-mnist", overrides={"device": "cpu", "conditional": True, "num_classes": 10,
                                                   "d_dropout": 0.0, "g_width": 32, "d_width": 16, **overrides})


def _step(cfg, G, D, fused: bool, fresh_copies: bool = True, loss: str = "bce", penalties=None):
    if fresh_copies:
        G, D = copy.deepcopy(G), copy.deepcopy(D)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    return TrainStep(G, D, opt_g, opt_d, get_loss(loss), cfg.latent_dim, cfg.step, torch.Generator().manual_seed(1),
                     fast_joint=build_fast_joint(G, D) if fused else None, penalties=penalties)


def test_conditional_nets_shapes_and_parameters():
    cfg = _config()
    G, D = build_networks(cfg)
    assert isinstance(G, ConditionalGenerator) and isinstance(D, ProjectionDiscriminator)
    z, y = torch.randn(6, cfg.latent_dim), torch.tensor([0, 1, 2, 7, 8, 9])
    assert G(z, y).shape == (6, 1, 28, 28) and D(G(z, y), y).shape == (6, 1)
    plain_g, plain_d = build_networks(_config(conditional=False))
    # one-hot inputs widen G's first Linear by 10 rows; the projection adds 10 feature vectors
    assert count_parameters(G) - count_parameters(plain_g) == 10 * 7 * 7 * 32
    assert count_parameters(D) - count_parameters(plain_d) == 10 * (2 * 16 * 7 * 7)
    assert balanced_labels(12, 10).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_label_changes_both_networks():
    G, D = build_networks(_config())
    G.eval()
    z = torch.randn(4, 100)
    a, b = G(z, torch.zeros(4, dtype=torch.long)), G(z, torch.full((4,), 3))
    assert (a - b).abs().max() > 1e-3
    torch.nn.init.normal_(D.embed.weight, 0, 1.0)
    assert (D(a, torch.zeros(4, dtype=torch.long)) - D(a, torch.full((4,), 3))).abs().max() > 1e-3


@pytest.mark.parametrize("d_width", [16, 64])  # 64: D's second conv takes the spectral (DFT) kernel
def test_conditional_fused_step_is_the_plain_maths_float64(d_width):
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        cfg = _config(d_width=d_width)
        G, D = (net.double() for net in build_networks(cfg))
        torch.nn.init.normal_(D.embed.weight, 0, 0.05)  # away from its small start, so the projection counts
        plain, fast = _step(cfg, G, D, fused=False), _step(cfg, G, D, fused=True)
        assert fast.run == fast.joint_fast and plain.run == plain.joint
        gen = torch.Generator().manual_seed(5)
        for _ in range(3):
            real = torch.rand(8, 1, 28, 28, generator=gen) * 2 - 1
            labels = torch.randint(0, 10, (8,), generator=gen)
            torch.testing.assert_close(fast(real, labels)[:2], plain(real, labels)[:2], rtol=1e-10, atol=0)
        for a, b in zip([*plain.g_params, *plain.d_params], [*fast.g_params, *fast.d_params]):
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12)
    finally:
        torch.set_default_dtype(before)


def test_fused_step_with_relativistic_loss_and_lazy_penalties_float64():
    """rpgan + R1 + R2 every 2nd step on the fused path: every step fused, with G's loss paired to the
    detached real logits, and the penalty's gradient added by a plain backward of its own when due;
    losses and weights stay the plain step's, and the penalty moved D's weights."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        cfg = _config(d_width=64)
        G, D = (net.double() for net in build_networks(cfg))
        torch.nn.init.normal_(D.embed.weight, 0, 0.05)
        lazy = Penalties(r1=0.5, r2=0.5, every=2)
        plain = _step(cfg, G, D, fused=False, loss="rpgan", penalties=lazy)
        fast = _step(cfg, G, D, fused=True, loss="rpgan", penalties=lazy)
        assert fast.run == fast.joint_fast
        unpenalised = _step(cfg, G, D, fused=True, loss="rpgan")
        gen, seen = torch.Generator().manual_seed(5), []
        fast.joint = lambda *a: seen.append(fast.count)  # the plain step: never taken
        for _ in range(4):
            real = torch.rand(8, 1, 28, 28, generator=gen) * 2 - 1
            labels = torch.randint(0, 10, (8,), generator=gen)
            torch.testing.assert_close(fast(real, labels)[:2], plain(real, labels)[:2], rtol=1e-10, atol=0)
            unpenalised(real, labels)
        assert seen == []
        for a, b in zip([*plain.g_params, *plain.d_params], [*fast.g_params, *fast.d_params]):
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12)
        moved = max((a - b).abs().max().item() for a, b in zip(fast.d_params, unpenalised.d_params))
        assert moved > 1e-6  # the penalty reached D's weights
    finally:
        torch.set_default_dtype(before)


def test_conditional_needs_labels():
    with pytest.raises(ConfigError, match="needs class labels"):
        build_config("default", overrides={"conditional": True, "dataset": "folder:/tmp/x"})


def test_short_conditional_run_draws_the_asked_digit(judge, tmp_path):
    """The default recipe (conditional) for 400 steps (~25 s): asked for digit k, G draws images the judge
    reads as k far above chance (10%), for every k; `generate --label` reaches the same path."""
    from ganforge.generate import load_generator, sample
    from ganforge.training import train

    cfg = build_config("default", overrides={"max_steps": 400, "seed": 3, "device": "cpu", "tensorboard": False})
    assert cfg.conditional and cfg.dataset == "embedded-mnist"
    run = train(cfg, out=tmp_path / "run", progress=False, echo=lambda *a: None).run
    G, _ = load_generator(run.root)
    hits = []
    for digit in range(10):
        images = sample(G, cfg.latent_dim, 50, seed=digit, label=digit)
        predicted = judge.embed(images).logits.argmax(1)
        hits.append((predicted == digit).float().mean().item())
    print("judge agreement per digit:", [round(h, 2) for h in hits])
    assert min(hits) > 0.3 and sum(hits) / 10 > 0.6, hits  # chance: 0.1
    with pytest.raises(ConfigError, match="classes 0 to 9"):
        sample(G, cfg.latent_dim, 4, seed=0, label=10)


@pytest.mark.parametrize("order", ["d_then_g", "d_real_fake_g"])
def test_other_step_orders_train_both_label_paths(order):
    """Each step order feeds the labels to G and D: after two steps the class vectors of exactly the
    classes seen have moved, and G's weights for the one-hot inputs of those classes too."""
    cfg = _config(step=order)
    G, D = build_networks(cfg)
    embed0, g_in0 = D.embed.weight.detach().clone(), G.net[0].weight.detach().clone()
    step = _step(cfg, G, D, fused=False, fresh_copies=False)  # trains the very modules inspected below
    labels = torch.tensor([1, 4, 4, 1, 7, 1, 4, 7])
    for _ in range(2):
        stats = step(torch.rand(8, 1, 28, 28) * 2 - 1, labels)
        assert torch.isfinite(stats).all()
    moved = (D.embed.weight.detach() - embed0).abs().sum(1) > 0
    assert moved.nonzero().view(-1).tolist() == [1, 4, 7]
    one_hot_cols = (G.net[0].weight.detach() - g_in0)[:, cfg.latent_dim:].abs().sum(0) > 0
    assert one_hot_cols.nonzero().view(-1).tolist() == [1, 4, 7]
