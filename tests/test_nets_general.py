"""The resolution-general DCGAN, FastGAN-lite and SNGAN-style ResNet families (nets/dcgan_general.py,
nets/lite.py, nets/resnet.py)
and the FLOP counter (nets/flops.py): shapes, ranges, conditioning, spectral norm, gradients,
parameter counts, errors. Small widths and batches keep the whole file to a few seconds."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.nets.dcgan_general import DCGANDiscriminator, DCGANGenerator
from ganforge.nets.flops import count_flops
from ganforge.nets.lite import LiteGenerator, SkipExcitation
from ganforge.nets.resnet import ResNetDiscriminator, ResNetGenerator

LATENT, K, N = 16, 5, 2
FAMILIES = {  # family -> (G class, D class, small G width, small D width)
    "dcgan": (DCGANGenerator, DCGANDiscriminator, 16, 8),  # 16: G halves it 4 times at 128 px
    "lite": (LiteGenerator, DCGANDiscriminator, 32, 8),  # 32: G halves it 5 times at 128 px
    "resnet": (ResNetGenerator, ResNetDiscriminator, 8, 8),
}
CASES = list(itertools.product(FAMILIES, (32, 64, 128), (1, 3), (0, K)))
CASE_IDS = [f"{f}-{s}px-{c}ch-{'cond' if k else 'uncond'}" for f, s, c, k in CASES]


def make_pair(family, size, channels, classes, **d_kwargs):
    G_cls, D_cls, g_width, d_width = FAMILIES[family]
    torch.manual_seed(0)
    G = G_cls(LATENT, channels, size, width=g_width, num_classes=classes)
    D = D_cls(channels, size, width=d_width, num_classes=classes, **d_kwargs)
    return G, D


def batch(classes, n=N):
    z = torch.randn(n, LATENT, generator=torch.Generator().manual_seed(1))
    return z, (torch.arange(n) % classes if classes else None)


@pytest.mark.parametrize("family, size, channels, classes", CASES, ids=CASE_IDS)
def test_shapes_range_and_gradients_reach_every_parameter(family, size, channels, classes):
    G, D = make_pair(family, size, channels, classes)
    assert G.num_classes == classes and D.num_classes == classes  # sampling code reads G.num_classes
    z, y = batch(classes)
    fake = G(z, y)
    assert fake.shape == (N, channels, size, size)
    assert fake.min() >= -1 and fake.max() <= 1
    assert fake.std() > 1e-3  # not a constant image
    logits = D(fake, y)
    assert logits.shape == (N, 1)

    F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)).backward()  # G's loss
    dead = [name for name, p in G.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"no gradient reaches G's {dead}"

    D.zero_grad()
    real = torch.rand(N, channels, size, size) * 2 - 1
    real_logits, fake_logits = D(real, y), D(fake.detach(), y)
    loss_d = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    loss_d.backward()
    dead = [name for name, p in D.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not dead, f"no gradient reaches D's {dead}"


CONDITIONAL = [c for c in CASES if c[3]]


@pytest.mark.parametrize("family, size, channels, classes", CONDITIONAL,
                         ids=[i for i, c in zip(CASE_IDS, CASES) if c[3]])
def test_labels_change_what_g_draws_and_how_d_scores(family, size, channels, classes):
    G, D = make_pair(family, size, channels, classes)
    z, _ = batch(classes)
    a, b = torch.tensor([0, 1]), torch.tensor([3, 0])

    # D: the projection term makes the logit depend on the label from the start. In eval mode, so
    # that spectral norm does no power iteration between the calls and the weights stay the same
    D.eval()
    x = torch.rand(N, channels, size, size) * 2 - 1
    assert (D(x, a) - D(x, b)).abs().mean() > 1e-3
    assert torch.equal(D(x, a), D(x, a))
    D.train()

    # G: conditional BatchNorm starts at gamma 1, beta 0, i.e. plain BatchNorm: labels do nothing yet
    assert torch.equal(G(z, a), G(z, b))
    # one Adam step of G's loss against the conditional D moves the class rows apart. Adam's first
    # step is lr * sign(grad); taken by hand, since torch.optim's first step costs a second of imports
    logits = D(G(z, a), a)
    F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)).backward()
    with torch.no_grad():
        for p in G.parameters():
            p -= 1e-2 * p.grad.sign()
        assert (G(z, a) - G(z, b)).abs().mean() > 1e-3


def sn_wrapped(net):
    return [(name, m) for name, m in net.named_modules() if hasattr(m, "parametrizations")]


def largest_singular_value(module):
    w = module.weight  # W / sigma-estimate, as the layer uses it
    return torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2).item()


@pytest.mark.parametrize("family, size", list(itertools.product(FAMILIES, (32, 64, 128))))
def test_spectral_norm_wraps_every_weight_and_keeps_it_near_one(family, size):
    sn = {"spectral_norm": True}
    _, D = make_pair(family, size, 3, K, **sn)
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]
    assert len(sn_wrapped(D)) == len(layers) > 0  # every conv, linear and the class embedding
    with torch.no_grad():  # weights far from norm 1, as training may leave them: SN must undo the scale
        for _, m in sn_wrapped(D):
            m.parametrizations.weight.original.mul_(10.0)
    x, y = torch.rand(2, 3, size, size) * 2 - 1, torch.tensor([0, 1])
    for _ in range(5):  # a few training-mode forwards: one power iteration per layer each
        D(x, y)
    D.eval()  # read the weights with the current estimate, without another iteration
    with torch.no_grad():
        sigmas = {name: largest_singular_value(m) for name, m in sn_wrapped(D)}
    # The power-method estimate u^T W v (unit u, v) never exceeds the true top singular value, so
    # W / estimate has norm >= 1 up to float error. It approaches 1 only as fast as the top singular
    # values of the random initial matrices separate, and they are close together (measured up to
    # 1.07 at default widths after 15 + 5 iterations): 1.1 allows that and still fails a missing
    # or wrongly scaled normalisation (these weights were multiplied by 10).
    assert all(0.999 <= s <= 1.1 for s in sigmas.values()), sigmas


@pytest.mark.parametrize("family, on_by_default", [("dcgan", False), ("lite", False), ("resnet", True)])  # ResNet D: as SNGAN
def test_spectral_norm_defaults(family, on_by_default):
    G, D = make_pair(family, 32, 3, 0)
    assert not sn_wrapped(G)
    assert bool(sn_wrapped(D)) == on_by_default
    _, D_off = make_pair(family, 32, 3, K, spectral_norm=False)
    assert not sn_wrapped(D_off)


def dcgan_g_params(latent, channels, size, w, k):
    steps = {32: 3, 64: 4, 128: 5}[size]
    widths = [w // 2 ** i for i in range(steps)]
    norm = (lambda c: 2 * c * k) if k else (lambda c: 2 * c)
    n = latent * 16 * w + 16 * w + norm(w)  # Linear to w x 4 x 4, its BatchNorm
    n += sum(16 * a * b + norm(b) for a, b in zip(widths, widths[1:]))  # 4x4 transposed convs, no bias
    return n + 16 * widths[-1] * channels + channels  # last transposed conv, with bias


def dcgan_d_params(channels, size, w, k):
    steps = {32: 3, 64: 4, 128: 5}[size]
    widths = [channels] + [w * 2 ** i for i in range(steps)]
    n = sum(16 * a * b + b for a, b in zip(widths, widths[1:]))
    return n + (16 * widths[-1] + 1) + k * 16 * widths[-1]  # head, projection


def lite_g_params(latent, channels, size, w, k):
    steps = {32: 3, 64: 4, 128: 5}[size]
    widths = [w // 2 ** i for i in range(steps + 1)]
    norm = (lambda c: 2 * c * k) if k else (lambda c: 2 * c)
    n = latent * 16 * 2 * w + norm(2 * w)  # Linear to 2w x 4 x 4 (no bias: BatchNorm follows), then GLU
    n += sum(9 * a * 2 * b + norm(2 * b) for a, b in zip(widths, widths[1:]))  # conv3x3 to 2b, GLU to b
    n += sum(16 * widths[i - 1] * widths[i + 1] + widths[i + 1] ** 2 for i in range(2, steps))  # SLE gates
    return n + 9 * widths[-1] * channels + channels  # conv3x3 to the image, with bias


def resnet_widths(w, size):
    return [w if r <= 32 else w * 32 // r for r in (4 * 2 ** i for i in range({32: 4, 64: 5, 128: 6}[size]))]


def resnet_g_params(latent, channels, size, w, k):
    widths = resnet_widths(w, size)
    norm = (lambda c: 2 * c * k) if k else (lambda c: 2 * c)
    n = latent * 16 * widths[0] + 16 * widths[0]
    n += sum(norm(a) + 9 * a * b + norm(b) + 9 * b * b + a * b for a, b in zip(widths, widths[1:]))
    return n + 2 * widths[-1] + 9 * widths[-1] * channels + channels


def resnet_d_params(channels, size, w, k):
    widths = resnet_widths(w, size)[:0:-1]
    n = 9 * channels * widths[0] + 9 * widths[0] ** 2 + channels * widths[0] + 3 * widths[0]
    n += sum(9 * a * b + 9 * b * b + a * b + 3 * b for a, b in zip(widths, widths[1:]))
    return n + widths[-1] + 1 + k * widths[-1]


def count(net):
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("size, channels, k", list(itertools.product((32, 64, 128), (1, 3), (0, K))))
def test_parameter_counts_follow_the_width(size, channels, k):
    for w in (16, 32):
        G = DCGANGenerator(LATENT, channels, size, width=w, num_classes=k)
        assert count(G.project) == LATENT * w * 16 + w * 16
        assert count(G) == dcgan_g_params(LATENT, channels, size, w, k)
        assert count(DCGANDiscriminator(channels, size, width=w, num_classes=k)) == dcgan_d_params(channels, size, w, k)
        assert count(LiteGenerator(LATENT, channels, size, width=2 * w, num_classes=k)) == \
            lite_g_params(LATENT, channels, size, 2 * w, k)
        assert count(ResNetGenerator(LATENT, channels, size, width=w, num_classes=k)) == \
            resnet_g_params(LATENT, channels, size, w, k)
        assert count(ResNetDiscriminator(channels, size, width=w, num_classes=k)) == resnet_d_params(channels, size, w, k)
    # conv weights dominate, so doubling the width multiplies the count by nearly 4
    ratio = count(ResNetGenerator(LATENT, channels, size, width=64)) / count(ResNetGenerator(LATENT, channels, size, width=32))
    assert 3.5 < ratio < 4.0


def test_resnet_widths_are_constant_to_32px_then_halve():
    G = ResNetGenerator(LATENT, 3, 128, width=64)
    assert [b.conv2.out_channels for b in G.blocks] == [64, 64, 64, 32, 16]  # 8, 16, 32, 64, 128 px
    D = ResNetDiscriminator(3, 128, width=64)
    assert [b.conv2.out_channels for b in D.blocks] == [16, 32, 64, 64, 64]  # read 128, 64, 32, 16, 8 px
    assert [b.conv2.out_channels for b in ResNetGenerator(LATENT, 3, 32, width=64).blocks] == [64, 64, 64]


def test_lite_excites_each_map_from_32px_by_the_map_4x_smaller():
    seen = []
    G = LiteGenerator(LATENT, 3, 128, width=64, num_classes=K)
    for m in G.modules():
        if isinstance(m, SkipExcitation):
            m.register_forward_hook(lambda m, args, out: seen.append((args[0].shape[1:], args[1].shape[1:])))
    out = G(*batch(K))
    assert [(tuple(low), tuple(high)) for low, high in seen] == [  # (channels, h, w) low, then high
        ((32, 8, 8), (8, 32, 32)), ((16, 16, 16), (4, 64, 64)), ((8, 32, 32), (2, 128, 128))]
    # the gate multiplies each channel of the fine map by a number in (0, 1) that the coarse map sets
    ex = G.excite["4"]
    high, low = torch.randn(2, 2, 128, 128), torch.randn(2, 8, 32, 32)
    gated = ex(low, high)
    ratio = gated / high
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-5)  # one number per channel
    assert 0 < ratio.min() and ratio.max() < 1
    assert not torch.allclose(ex(low.flip(0), high), gated)  # another coarse map, other gates
    with torch.no_grad():
        ex.gate[3].weight.zero_()  # last conv zeroed: sigmoid(0), every channel halved
    assert torch.allclose(ex(low, high), high / 2)
    assert out.shape == (N, 3, 128, 128)


@pytest.mark.parametrize("G_cls", [DCGANGenerator, LiteGenerator, ResNetGenerator])
def test_missing_or_unexpected_labels_fail_in_words(G_cls):
    G = G_cls(LATENT, 3, 64, width=32, num_classes=10)
    with pytest.raises(ValueError, match=r"class-conditional \(num_classes=10\): pass labels.*0\.\.9"):
        G(torch.randn(2, LATENT))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        G(torch.randn(2, LATENT), torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="unconditional"):
        G_cls(LATENT, 3, 64, width=32)(torch.randn(2, LATENT), torch.tensor([1, 2]))
    D = {DCGANGenerator: DCGANDiscriminator, LiteGenerator: DCGANDiscriminator,
         ResNetGenerator: ResNetDiscriminator}[G_cls](3, 64, width=8, num_classes=10)
    with pytest.raises(ValueError, match="class-conditional"):
        D(torch.zeros(2, 3, 64, 64))


def test_unsupported_sizes_and_widths_fail_in_words():
    with pytest.raises(ValueError, match="32, 64, 128 px"):
        DCGANGenerator(LATENT, 3, 48)
    with pytest.raises(ValueError, match="multiple of 16"):
        DCGANGenerator(LATENT, 3, 128, width=24)
    with pytest.raises(ValueError, match="multiple of 4"):
        ResNetGenerator(LATENT, 3, 128, width=30)
    with pytest.raises(ValueError, match="multiple of 16"):
        LiteGenerator(LATENT, 3, 64, width=24)


def test_count_flops_matches_a_hand_count():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1),   # 2x8x8 -> 4x4x4: 64 outputs x (2*9) = 1152 MACs
        nn.BatchNorm2d(4), nn.ReLU(),               # not counted
        nn.ConvTranspose2d(4, 3, 4, 2, 1),          # 4x4x4 -> 3x8x8: 64 inputs x (3*16) = 3072 MACs
        nn.Conv2d(3, 6, 1, groups=3),               # 6x8x8 outputs x (1*1) = 384 MACs
        nn.Flatten(), nn.Linear(384, 5),            # 5 x 384 = 1920 MACs
    )
    bn_before = net[1].running_mean.clone()
    net.train()
    for n in (1, 3):  # per image, whatever the batch
        assert count_flops(net, torch.randn(n, 2, 8, 8)) == 2 * (1152 + 3072 + 384 + 1920)
    assert net.training and torch.equal(net[1].running_mean, bn_before)  # counting changed nothing
    assert not net[0]._forward_hooks  # hooks removed


def test_count_flops_of_a_conditional_generator():
    G = DCGANGenerator(LATENT, 3, 32, width=16, num_classes=K)
    widths = [16, 8, 4]
    macs = LATENT * 16 * 16 + sum(a * b * 16 * (4 * 2 ** i) ** 2 for i, (a, b) in enumerate(zip(widths, widths[1:])))
    macs += 4 * 3 * 16 * 16 ** 2  # last transposed conv reads 4 x 16 x 16
    z, y = batch(K, 2)
    assert count_flops(G, z, y) == 2 * macs


def test_minibatch_std_against_hand_computed_spread():
    from ganforge.nets.dcgan_general import MinibatchStd

    x = torch.zeros(4, 1, 1, 2)
    x[:, 0, 0, 0] = torch.tensor([0.0, 2.0, 5.0, 5.0])  # groups of 2: (0, 2) spread 1, (5, 5) spread 0
    x[:, 0, 0, 1] = torch.tensor([1.0, 1.0, 0.0, 4.0])  # (1, 1) spread 0, (0, 4) spread 2
    out = MinibatchStd(2)(x)
    assert out.shape == (4, 2, 1, 2) and torch.equal(out[:, :1], x)
    spread = out[:, 1, 0, 0]  # per group the mean over features of the std: (1 + 0) / 2 and (0 + 2) / 2
    assert torch.allclose(spread, torch.tensor([0.5, 0.5, 1.0, 1.0]), atol=1e-4)
    assert torch.allclose(MinibatchStd(4)(x[:3])[:, 1], torch.zeros(3, 1, 2), atol=1e-3)  # 3 images: groups of 1


def test_minibatch_std_keeps_real_and_fake_apart_and_weights_loadable():
    torch.manual_seed(0)
    plain = DCGANDiscriminator(3, 32, width=8, num_classes=K)
    with_std = DCGANDiscriminator(3, 32, width=8, num_classes=K, minibatch_std=4)
    conv_keys = {k for k in plain.state_dict() if k.startswith("features.")}
    assert conv_keys == {k for k in with_std.state_dict() if k.startswith("features.")}
    real, labels = torch.randn(8, 3, 32, 32), torch.randint(0, K, (8,))
    fake_a, fake_b = torch.randn(8, 3, 32, 32), torch.zeros(8, 3, 32, 32)  # collapsed fakes: all alike
    both_a = with_std(torch.cat([real, fake_a]), torch.cat([labels, labels]))
    both_b = with_std(torch.cat([real, fake_b]), torch.cat([labels, labels]))
    assert torch.allclose(both_a[:8], both_b[:8], atol=1e-6)  # the reals' scores do not depend on the fakes beside them
    assert not torch.allclose(both_a[8:], both_b[8:])


def test_minibatch_std_is_checked():
    from ganforge.config import build_config
    from ganforge.errors import ConfigError

    with pytest.raises(ConfigError, match="minibatch_std=1: a group of at least 2 images"):
        build_config("folder64", overrides={"minibatch_std": 1})
    with pytest.raises(ConfigError, match="with arch dcgan"):
        build_config("folder64", overrides={"minibatch_std": 4, "arch": "resnet"})
    assert build_config("folder64", overrides={"minibatch_std": 4}).minibatch_std == 4


@pytest.mark.parametrize("size", (32, 64, 128))
def test_lite_d_decoder_rebuilds_at_half_size_and_leaves_the_verdict_alone(size):
    """recon=True adds a decoder on D's 8x8 map; D's logits and class logits are the DCGAN D's, to the bit."""
    from ganforge.nets.lite import LiteDiscriminator

    torch.manual_seed(0)
    D = LiteDiscriminator(3, size, width=8, num_classes=K, aux=True, recon=True, minibatch_std=2)
    plain = DCGANDiscriminator(3, size, width=8, num_classes=K, aux=True, minibatch_std=2)
    loaded = plain.load_state_dict(D.state_dict(), strict=False)
    assert not loaded.missing_keys and {k.split(".")[0] for k in loaded.unexpected_keys} == {"decoder"}
    x, y = torch.rand(4, 3, size, size) * 2 - 1, torch.tensor([0, 1, 2, 3])
    logits, classes, rebuilt = D(x, y, True, 3)  # the first 3 images rebuilt
    assert rebuilt.shape == (3, 3, size // 2, size // 2) and rebuilt.abs().max() <= 1
    assert torch.allclose(D(x[:3], y[:3], True, 3)[2], rebuilt, atol=1e-6)  # each image's own rebuild
    expected_logits, expected_classes = plain(x, y, True)
    assert torch.equal(logits, expected_logits) and torch.equal(classes, expected_classes)
    assert torch.equal(D(x, y), logits)  # without recon: the plain call
    rebuilt.abs().mean().backward()  # the rebuild teaches D's first convs too, not the head
    first = D.features[0]
    assert first.weight.grad.abs().sum() > 0 and D.head.weight.grad is None
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())  # real + fake in one call


def test_d_recon_is_checked():
    from ganforge.config import build_config
    from ganforge.errors import ConfigError

    with pytest.raises(ConfigError, match="d_recon=1.0: D's decoder comes with arch lite"):
        build_config("folder64", overrides={"d_recon": 1.0})
    with pytest.raises(ConfigError, match="d_recon=-1.0 must be 0"):
        build_config("folder64", overrides={"d_recon": -1.0, "arch": "lite"})
    cfg = build_config("folder64", overrides={"d_recon": 1.0, "arch": "lite", "g_width": 128})
    from ganforge.nets import build_networks

    _, D = build_networks(cfg)
    assert D.decoder is not None and build_networks(build_config("folder64", overrides={"arch": "lite"}))[1].decoder is None
