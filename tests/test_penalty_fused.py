"""R1 / R2 differentiated by hand for the fused scorer's D (kernels/cpu/penalty.py) against autograd's
double backward: the same penalty and the same gradient for every parameter of D, in float64."""

import pytest
import torch

from ganforge.config import build_config
from ganforge.kernels.cpu import build_fast_joint
from ganforge.losses import Penalties
from ganforge.nets import build_networks


@pytest.mark.parametrize("preset, overrides", [
    ("default", {"num_classes": 10}),                  # conditional: a projection D, 2 blocks
    ("dcgan-mnist", {"d_dropout": 0.0, "d_width": 16}),  # unconditional
    ("dcgan-cifar10", {"d_width": 8}),                 # colour, 3 blocks
])
def test_hand_penalty_is_autograds(float64, preset, overrides):
    cfg = build_config(preset, overrides={"device": "cpu", **overrides})
    G, D = (net.double() for net in build_networks(cfg))
    gen = torch.Generator().manual_seed(3)
    for p in D.parameters():  # away from the initial values, so that every term counts
        p.data.normal_(0, 0.1, generator=gen)
    shape = (cfg.channels, cfg.image_size, cfg.image_size)
    real, fake = torch.rand(4, *shape, generator=gen) * 2 - 1, torch.rand(4, *shape, generator=gen) * 2 - 1
    labels = torch.randint(0, 10, (4,), generator=gen) if cfg.conditional else None  # a step's fakes take its reals' labels
    penalties = Penalties(r1=0.3, r2=0.7, every=4)

    def d(x, y=None):
        return D(x) if y is None else D(x, y)

    value = penalties(d, real, fake, labels, step_index=0)
    want = torch.autograd.grad(value, list(D.parameters()), allow_unused=True)

    fast = build_fast_joint(G, D)
    assert fast.penalty_by_hand(penalties)
    both_labels = None if labels is None else torch.cat([labels, labels])
    weight = penalties.image_weights(len(real), len(fake))
    from ganforge.kernels.cpu.penalty import add_penalty_grads

    got_value = add_penalty_grads(fast.scorer, torch.cat([real, fake]), both_labels, weight)
    torch.testing.assert_close(got_value, value.detach(), rtol=1e-10, atol=0)
    for (name, p), w in zip(D.named_parameters(), want):
        expected = torch.zeros_like(p) if w is None else w
        got = torch.zeros_like(p) if p.grad is None else p.grad
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12, msg=name)
    assert any(w is not None and w.abs().max() > 1e-6 for w in want)


def test_penalties_by_hand_only_where_they_apply():
    """WGAN-GP's penalty, a packed D and a D with dropout stay with autograd."""
    cfg = build_config("dcgan-mnist", overrides={"device": "cpu", "d_width": 8, "g_width": 16})
    G, D = build_networks(cfg)  # the tutorial's D: dropout 0.3
    assert not build_fast_joint(G, D).penalty_by_hand(Penalties(r1=1.0))
    G, D = build_networks(build_config("dcgan-mnist", overrides={"device": "cpu", "d_width": 8, "d_dropout": 0.0}))
    fast = build_fast_joint(G, D)
    assert fast.penalty_by_hand(Penalties(r1=1.0, r2=1.0)) and not fast.penalty_by_hand(Penalties(gp=10.0))
    G, D = build_networks(build_config("dcgan-mnist", overrides={"device": "cpu", "d_width": 8, "d_dropout": 0.0,
                                                                 "pack": 2}))
    assert not build_fast_joint(G, D).penalty_by_hand(Penalties(r1=1.0))


def test_hand_penalty_on_a_bf16_route_is_as_close_as_autograds_bf16():
    """A bf16 run's D.1 route (oneDNN in bf16): the hand penalty's gradients stay as close to fp32
    autograd's as autograd's own penalty under bf16 autocast (the plain path of a bf16 run) does, and
    they did go through bf16. (The penalty's gradient is a second derivative: a few % in bf16.)"""
    cfg = build_config("default", overrides={"device": "cpu", "num_classes": 10})
    G, D = build_networks(cfg)
    gen = torch.Generator().manual_seed(4)
    for p in D.parameters():
        p.data.normal_(0, 0.1, generator=gen)
    real, fake = torch.rand(8, 1, 28, 28, generator=gen) * 2 - 1, torch.rand(8, 1, 28, 28, generator=gen) * 2 - 1
    labels = torch.randint(0, 10, (8,), generator=gen)
    penalties, params = Penalties(r1=0.5, r2=0.5, every=2), list(D.parameters())
    want = torch.autograd.grad(penalties(lambda x, y: D(x, y), real, fake, labels, step_index=0), params,
                               allow_unused=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = penalties(lambda x, y: D(x, y).float(), real, fake, labels, step_index=0)
    autocast = torch.autograd.grad(value, params, allow_unused=True)
    fast = build_fast_joint(G, D)
    fast.scorer.routes[1] = "onednn-nhwc-bf16"
    fast.add_penalty(real, fake, labels, penalties)
    compared = 0
    for p, w, a in zip(params, want, autocast):
        if w is None or w.norm() == 0:  # biases: no gradient either way
            continue
        hand_error, autocast_error = ((p.grad - w).norm() / w.norm()).item(), ((a - w).norm() / w.norm()).item()
        assert 1e-4 < hand_error <= 1.5 * autocast_error
        compared += 1
    assert compared == 4  # both convs' weights, the head, the class vectors
