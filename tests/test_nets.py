import pytest
import torch

from ganforge.config import build_config
from ganforge.nets import build_networks, count_parameters


@pytest.mark.parametrize("preset, g_params, g_with_stats, d_params, shape", [
    ("dcgan-mnist", 2_305_472, 2_330_944, 212_865, (1, 28, 28)),
    ("dcgan-cifar10", 2_312_963, None, 374_913, (3, 32, 32)),
])
def test_tutorial_parameter_counts_and_shapes(preset, g_params, g_with_stats, d_params, shape):
    cfg = build_config(preset)
    G, D = build_networks(cfg)
    assert count_parameters(G) == g_params
    assert count_parameters(D) == d_params
    if g_with_stats:  # the Keras summary's total, BatchNorm running statistics included
        assert count_parameters(G, trainable_only=False) == g_with_stats
    z = torch.randn(8, cfg.latent_dim)
    images = G(z)
    assert images.shape == (8, *shape)
    assert images.min() >= -1 and images.max() <= 1  # tanh range
    assert images.std() > 0.01  # not a constant output
    assert D(images).shape == (8, 1)


def test_keras_init_is_glorot_uniform_with_zero_bias():
    G, D = build_networks(build_config("dcgan-mnist"))
    conv = D[0]  # Conv2d(1, 64, 5): fan_in 25, fan_out 1600
    bound = (6 / (25 + 1600)) ** 0.5
    assert conv.weight.abs().max() <= bound
    assert conv.weight.abs().max() > 0.9 * bound
    assert torch.count_nonzero(conv.bias) == 0


def test_same_seed_same_weights_other_seed_other_weights():
    cfg = build_config("dcgan-mnist")
    a, _ = build_networks(cfg, seed=1)
    b, _ = build_networks(cfg, seed=1)
    c, _ = build_networks(cfg, seed=2)
    assert torch.equal(a[0].weight, b[0].weight)
    assert not torch.equal(a[0].weight, c[0].weight)
