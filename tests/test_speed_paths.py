"""The fast training paths compute the tutorial's maths: against the plain reference step
(tests/reference_step.py), against torch.nn layers, and with the same dropout masks. CUDA paths
skip cleanly on CPU."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.nets import build_networks
from ganforge.kernels.cpu import choose, fused, spectral
from ganforge.kernels.cpu.fastconv import conv_transpose_small
from ganforge.training import accel

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def bench():
    import reference_step

    return reference_step


def _run_both(bench, dtype, batch, steps, route="auto"):
    """The reference step and ganforge's CPU step from the same weights, noise seed and batches."""
    cfg = bench.bench_config(d_dropout=0.0, batch_size=batch, cpu_kernels=route)  # dropout off: the masks differ by design
    G, D = (net.to(dtype) for net in build_networks(cfg))
    start = [p.detach().clone() for p in [*G.parameters(), *D.parameters()]]
    ref = bench.make_reference(cfg, copy.deepcopy(G), copy.deepcopy(D), "cpu")
    fast = bench.make_ganforge(cfg, copy.deepcopy(G), copy.deepcopy(D), "cpu")
    assert fast.run == fast.joint_fast
    batches = [b.to(dtype) for b in bench.real_batches(batch, steps, "cpu")]
    losses = [(ref(b), fast(b)[:2]) for b in batches]
    weights = zip(start, [*ref.G.parameters(), *ref.D.parameters()], [*fast.g_params, *fast.d_params])
    return losses, list(weights), (ref, fast)


@pytest.mark.parametrize("route", ["dft", "onednn", "onednn-nhwc"])
def test_fast_step_is_the_reference_maths_float64(bench, float64, route):
    """In float64 rounding vanishes: losses and weights after 3 Adam steps agree to ~1e-13, with
    every big convolution on each route the kernel choice can take (kernels/cpu/choose.py)."""
    losses, weights, (ref, fast) = _run_both(bench, torch.float64, batch=8, steps=3, route=route)
    routes = {**fast.fast_joint.generator.routes, **fast.fast_joint.scorer.routes}
    assert len(routes) == 3 and set(routes.values()) == {route}  # G's two convT, D's 64 -> 128
    for a, b in losses:
        torch.testing.assert_close(b, a, rtol=1e-10, atol=0)
    for w0, a, b in weights:
        assert ((a - b).norm() / (a - w0).norm()).item() < 1e-9
    for name, buf in ref.G.named_buffers():  # BatchNorm running statistics move identically
        torch.testing.assert_close(dict(fast.fast_joint.generator.G.named_buffers())[name], buf, rtol=1e-10, atol=1e-12)


def test_fast_step_matches_reference_float32(bench):
    """The real fp32 kernels: the same losses to float precision, and one step's gradients as close
    to the exact (float64) step as fp32 allows. Whole-network relative error, seen here over six
    inits: 3e-7 to 5.5e-4 for the fast path, and up to 1.6e-3 for the plain fp32 reference itself
    (ill-conditioned inits, on either path), so 1e-2 bounds rounding, not a change of maths. Weights
    after Adam are not compared in fp32: Adam turns rounding in near-zero gradients into whole steps."""
    losses, _, _ = _run_both(bench, torch.float32, batch=32, steps=3)
    for a, b in losses:
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    cfg = bench.bench_config(d_dropout=0.0, batch_size=32)
    G, D = build_networks(cfg)
    fast = bench.make_ganforge(cfg, copy.deepcopy(G), copy.deepcopy(D), "cpu")
    exact = bench.make_reference(cfg, G.double(), D.double(), "cpu", noise_dtype=torch.float32)
    batch = bench.real_batches(32, 1, "cpu")[0]
    fast(batch)
    exact(batch.double())
    for got, want in ((fast.g_params, G.parameters()), (fast.d_params, D.parameters())):
        got, want = (torch.cat([p.grad.double().flatten() for p in ps]) for ps in (got, want))
        assert ((got - want).norm() / want.norm()).item() < 1e-2


@pytest.mark.parametrize("route", ["dft", "onednn-nhwc"])
def test_fast_step_on_the_cifar_nets_float64(bench, float64, route):
    """The fused path is not tied to the MNIST nets: the CIFAR-10 tutorial's G and D (4x4 and 3x3
    kernels, 8x8 to 32x32 maps) in the joint order give the reference's weights too."""
    from ganforge.config import build_config

    cfg = build_config("dcgan-cifar10", overrides={"step": "joint", "device": "cpu", "batch_size": 8, "cpu_kernels": route})
    G, D = (net.double() for net in build_networks(cfg))
    start = [p.detach().clone() for p in [*G.parameters(), *D.parameters()]]
    ref = bench.make_reference(cfg, copy.deepcopy(G), copy.deepcopy(D), "cpu")
    fast = bench.make_ganforge(cfg, copy.deepcopy(G), copy.deepcopy(D), "cpu")
    assert fast.run == fast.joint_fast
    for real in torch.rand(2, 8, 3, 32, 32) * 2 - 1:
        torch.testing.assert_close(fast(real)[:2], ref(real), rtol=1e-10, atol=0)
    for w0, a, b in zip(start, [*ref.G.parameters(), *ref.D.parameters()], [*fast.g_params, *fast.d_params]):
        assert ((a - b).norm() / (a - w0).norm()).item() < 1e-9


@pytest.mark.parametrize("layer, size", [
    (nn.ConvTranspose2d(32, 16, 5, 1, 2, bias=False), (7, 7)),  # G's 256 -> 128 on 7x7
    (nn.ConvTranspose2d(32, 16, 5, 2, 2, 1, bias=False), (7, 7)),  # G's 128 -> 64, 7 -> 14
    (nn.Conv2d(16, 32, 5, 2, 2), (14, 14)),  # D's 64 -> 128, 14 -> 7
    (nn.ConvTranspose2d(32, 16, 4, 2, 1), (8, 8)),  # the CIFAR generator's layers
    (nn.Conv2d(16, 32, 3, 2, 1), (16, 16)),
    (nn.Conv2d(16, 32, 5, 2, 2), (13, 11)),  # odd, non-square maps
])
def test_spectral_conv_is_the_layer(layer, size):
    layer = layer.double()
    assert spectral.fits(layer, size)
    x = torch.randn(3, layer.in_channels, *size, dtype=torch.float64, requires_grad=True)
    want = layer(x)
    got = spectral.conv(x, layer)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    g = torch.randn_like(want)
    for a, b in zip(torch.autograd.grad(want, (x, layer.weight), g), torch.autograd.grad(got, (x, layer.weight), g)):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


def test_small_conv_transpose_is_the_layer():
    layer = nn.ConvTranspose2d(64, 1, 5, 2, 2, 1, bias=False).double()
    x = torch.randn(4, 64, 14, 14, dtype=torch.float64, requires_grad=True)
    want = layer(x)
    got = conv_transpose_small(x, layer.weight, layer.stride, layer.padding, (28, 28))
    torch.testing.assert_close(got, want)
    g = torch.randn_like(want)
    for a, b in zip(torch.autograd.grad(want, (x, layer.weight), g), torch.autograd.grad(got, (x, layer.weight), g)):
        torch.testing.assert_close(b, a)


class _RecordedMasks(fused.MaskStream):
    def new_step(self):
        super().new_step()
        self.drawn = []

    def keep(self, like, p):
        mask = super().keep(like, p).to(like.dtype)
        self.drawn.append(mask)
        return mask


def test_scorer_backward_with_dropout_is_autograd(float64):
    """With the same dropout masks, the fused scorer's two gradients (D's loss to D's weights,
    G's loss to the fake images) are exactly autograd's."""
    torch.manual_seed(0)
    D = nn.Sequential(nn.Conv2d(1, 8, 5, 2, 2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
                      nn.Conv2d(8, 16, 5, 2, 2), nn.LeakyReLU(0.3), nn.Dropout(0.3), nn.Flatten(), nn.Linear(16 * 49, 1))
    scorer = fused.JointScorer.build(D)
    scorer.masks = _RecordedMasks()
    real, fake = torch.randn(5, 1, 28, 28), torch.randn(5, 1, 28, 28, requires_grad=True)
    d_logits, g_logits = scorer(real, fake)
    d_loss = F.softplus(-d_logits[:5]).mean() + F.softplus(d_logits[5:]).mean()
    g_loss = F.softplus(-g_logits).mean()
    (d_loss + g_loss).backward()

    def plain(x):
        h = x
        for conv, mask in zip((D[0], D[3]), scorer.masks.drawn):
            h = F.leaky_relu(conv(h), 0.3) * mask
        return D[7](h.flatten(1)).view(-1)

    fake2 = fake.detach().requires_grad_()
    logits = plain(torch.cat([real, fake2]))
    torch.testing.assert_close(d_logits.detach(), logits.detach())
    d_grads = torch.autograd.grad(F.softplus(-logits[:5]).mean() + F.softplus(logits[5:]).mean(),
                                  list(D.parameters()), retain_graph=True)
    (g_fake,) = torch.autograd.grad(F.softplus(-logits[5:]).mean(), fake2)
    for p, want in zip(D.parameters(), d_grads):
        torch.testing.assert_close(p.grad, want)
    torch.testing.assert_close(fake.grad, g_fake)


def test_mask_stream_is_bernoulli_and_resumable():
    like = torch.empty(64, 128, 7, 7).contiguous(memory_format=torch.channels_last)
    stream = fused.MaskStream()
    torch.manual_seed(3)
    stream.new_step()
    mask = stream.keep(like, 0.3)
    assert mask.stride() == like.stride()
    assert set(mask.unique().tolist()) == {0.0, torch.tensor(1 / 0.7).item()}  # nn.Dropout's scaling
    assert abs((mask > 0).float().mean().item() - 0.7) < 0.005  # 401k draws: 5 sigma is 0.0036
    torch.manual_seed(3)  # the same global generator state (as a resumed checkpoint restores) ...
    stream.new_step()
    assert torch.equal(stream.keep(like, 0.3), mask)  # ... draws the same mask
    stream.new_step()
    assert not torch.equal(stream.keep(like, 0.3), mask)


def test_trainer_takes_the_fused_path_only_for_the_joint_step(tiny_config, tmp_path):
    from ganforge.run import RunDir
    from ganforge.training.loop import Trainer

    quiet = dict(progress=False, echo=lambda *a: None)
    for order, path in (("joint", "joint_fast"), ("d_then_g", "d_then_g")):
        run = RunDir(tmp_path / order)
        run.root.mkdir()
        trainer = Trainer(tiny_config(step=order, max_steps=1), run, **quiet)
        assert trainer.step.run.__name__ == path
        want = "joint, fused CPU kernels (G.4 " if order == "joint" else "d_then_g, plain autograd, fp32"
        assert trainer.step_path.startswith(want) and ", fp32, eager, cpu x" in trainer.step_path
        assert trainer.accel.device.type == "cpu" and trainer.accel.dtype is None and not trainer.accel.compile


def test_cpu_setup_choices():
    cfg = type("Cfg", (), dict(device="cpu", precision="auto", compile="auto"))()
    a = accel.setup(cfg)
    assert (a.device.type, a.dtype, a.compile, a.channels_last, a.fused_cpu) == ("cpu", None, False, False, True)
    cfg.precision = "bf16"  # the fused step too, its timed routes then include oneDNN in bf16
    assert accel.setup(cfg).dtype == torch.bfloat16 and accel.setup(cfg).fused_cpu


@pytest.mark.parametrize("hardware", ["AVX512-BF16", None])
def test_bf16_if_native_follows_the_cpu(monkeypatch, hardware):
    """precision=bf16-if-native: bf16 on a CPU with bf16 hardware, and the header says why; fp32
    where oneDNN would only emulate it. auto stays fp32 on any CPU."""
    monkeypatch.setattr(accel, "cpu_bf16", lambda: hardware)
    cfg = type("Cfg", (), dict(device="cpu", precision="bf16-if-native", compile="auto"))()
    a = accel.setup(cfg)
    assert a.dtype == (torch.bfloat16 if hardware else None)
    assert a.describe().startswith("bfloat16 autocast (AVX512-BF16 on this CPU), eager" if hardware else "fp32, eager")
    cfg.precision = "auto"
    assert accel.setup(cfg).dtype is None


def test_cpu_bf16_reads_the_flags():
    """The detector agrees with /proc/cpuinfo's flags, whatever this machine has."""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        pytest.skip("no /proc/cpuinfo flags here")
    want = "AMX" if "amx_bf16" in flags else "AVX512-BF16" if "avx512_bf16" in flags else None
    assert accel.cpu_bf16() == want


@pytest.mark.parametrize("route", ["onednn-bf16", "onednn-nhwc-bf16"])
@pytest.mark.parametrize("layer", [nn.Conv2d(64, 128, 5, 2, 2), nn.ConvTranspose2d(128, 64, 5, 2, 2, 1)])
def test_bf16_routes_are_the_layer_to_bf16_rounding(route, layer):
    """A bf16 route: fp32 in and out, fp32 weights with fp32 gradients, the layer's values to bf16's
    8 bits of mantissa (relative error ~2**-8 per operand, far less over 1,600-term sums)."""
    torch.manual_seed(0)
    x = torch.randn(4, layer.in_channels, 7, 7, requires_grad=True)
    want = layer(x)
    got = choose.conv(route, layer, x)
    assert got.dtype == torch.float32 and got.shape == want.shape
    assert ((got - want).norm() / want.norm()).item() < 1e-2
    assert ((got - want).norm() / want.norm()).item() > 1e-5  # it did compute in bf16
    g = torch.randn_like(want)
    want_grads = torch.autograd.grad(want, [x, layer.weight], g)
    got_grads = torch.autograd.grad(got, [x, layer.weight], g)
    for a, b in zip(want_grads, got_grads):
        assert b.dtype == torch.float32 and ((a - b).norm() / a.norm()).item() < 1e-2


def test_fused_bf16_step_is_the_reference_to_bf16_rounding(bench):
    """precision=bf16 with every big convolution in bf16 on the fused path: the fp32 reference
    step's losses to bf16 rounding, and it does take those routes."""
    cfg = bench.bench_config(d_dropout=0.0, batch_size=32, precision="bf16", cpu_kernels="onednn-nhwc-bf16")
    G, D = build_networks(cfg)
    ref = bench.make_reference(cfg, copy.deepcopy(G), copy.deepcopy(D), "cpu")
    fast = bench.make_ganforge(cfg, copy.deepcopy(G), copy.deepcopy(D), "cpu")
    assert fast.run == fast.joint_fast
    routes = {**fast.fast_joint.generator.routes, **fast.fast_joint.scorer.routes}
    assert len(routes) == 3 and set(routes.values()) == {"onednn-nhwc-bf16"}
    for batch in bench.real_batches(32, 3, "cpu"):
        want, got = ref(batch), fast(batch)[:2]
        torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-2)
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in fast.d_params)
    with pytest.raises(Exception, match="set precision=bf16 too"):
        bench.bench_config(cpu_kernels="onednn-bf16")


@pytest.mark.parametrize("hardware", ["AVX512-BF16", None])
def test_a_pinned_bf16_route_follows_bf16_if_native(bench, monkeypatch, hardware):
    """precision=bf16-if-native with cpu_kernels pinned to a bf16 route: the route where the CPU has
    bf16 hardware (the run computes in bf16), one line naming both values where it has none."""
    from ganforge.errors import ConfigError

    monkeypatch.setattr(accel, "cpu_bf16", lambda: hardware)
    cfg = bench.bench_config(d_dropout=0.0, batch_size=8, precision="bf16-if-native", cpu_kernels="onednn-nhwc-bf16")
    G, D = build_networks(cfg)
    if hardware is None:
        with pytest.raises(ConfigError, match="precision=bf16-if-native runs fp32 on this CPU"):
            bench.make_ganforge(cfg, G, D, "cpu")
        return
    fast = bench.make_ganforge(cfg, G, D, "cpu")
    routes = {**fast.fast_joint.generator.routes, **fast.fast_joint.scorer.routes}
    assert set(routes.values()) == {"onednn-nhwc-bf16"}


def test_compiled_step_takes_gradient_penalties_eagerly(tiny_config, tmp_path):
    """Compiled graphs have no double backward, so an R1/R2 step used to fail under compile (CUDA's
    default); the penalty runs D eagerly on the same weights: the same D as an eager run's."""
    from ganforge.run import RunDir
    from ganforge.training.loop import Trainer

    nets = {}
    for compile_ in ("off", "on"):
        run = RunDir(tmp_path / compile_)
        run.root.mkdir()
        cfg = tiny_config(compile=compile_, loss="rpgan", r1=1.0, r2=1.0, penalty_every=1, max_steps=2,
                          tensorboard=False, d_dropout=0.0)
        trainer = Trainer(cfg, run, progress=False, echo=lambda *a: None)
        assert trainer.accel.compile == (compile_ == "on")
        assert trainer.fit() == "max_steps"
        nets[compile_] = [p.detach() for p in trainer.D.parameters()]
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(nets["off"], nets["on"]))


# ---- CUDA: bf16 autocast, channels_last, torch.compile, data on the GPU ----------------------------
@cuda
def test_cuda_setup_choices():
    cfg = type("Cfg", (), dict(device="cuda", precision="auto", compile="auto"))()
    a = accel.setup(cfg)
    assert (a.device.type, a.dtype, a.compile, a.channels_last, a.fused_cpu) == ("cuda", torch.bfloat16, True, True, False)


@cuda
@pytest.mark.parametrize("compile_", ["off", "on"])
def test_cuda_training_steps(tiny_config, tmp_path, compile_):
    from ganforge.run import RunDir
    from ganforge.training.loop import Trainer

    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    trainer = Trainer(tiny_config(device="cuda", compile=compile_, max_steps=3, tensorboard=False), run,
                      progress=False, echo=lambda *a: None)
    assert trainer.images.is_cuda and trainer.step.run == trainer.step.joint
    before = [p.detach().clone() for p in trainer.G.parameters()]
    assert trainer.fit() == "max_steps"
    assert all(torch.isfinite(p).all() for p in trainer.G.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.G.parameters()))


@cuda
def test_cuda_bf16_step_close_to_fp32(bench):
    """bf16 autocast changes rounding, not the maths: losses within bf16 precision of fp32."""
    cfg = bench.bench_config(d_dropout=0.0, batch_size=64, device="cuda", compile="off")
    G, D = build_networks(cfg)
    batch = bench.real_batches(64, 1, "cuda")[0]
    fp32 = bench.make_ganforge(cfg, copy.deepcopy(G), copy.deepcopy(D), "cuda",
                               accel=accel.Accel(torch.device("cuda"), None, False, True, False))
    bf16 = bench.make_ganforge(cfg, copy.deepcopy(G), copy.deepcopy(D), "cuda",
                               accel=accel.Accel(torch.device("cuda"), torch.bfloat16, False, True, False))
    torch.testing.assert_close(bf16(batch)[:2], fp32(batch)[:2], rtol=3e-2, atol=3e-2)
