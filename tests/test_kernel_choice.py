"""The fused step's kernel choice (kernels/cpu/choose.py): every route is the layer, the choice is
timed once and then read back from its cache, a broken cache costs a re-timing and nothing else,
and the layers timed are the ones the step runs, at the step's shapes."""

import json

import pytest
import torch
from torch import nn

from ganforge.config import build_config
from ganforge.kernels.cpu import build_fast_joint, choose
from ganforge.nets import build_networks


@pytest.mark.parametrize("route", choose.ROUTES)
@pytest.mark.parametrize("layer, size", [
    (nn.ConvTranspose2d(32, 16, 5, 2, 2, 1), (7, 7)),  # G's 128 -> 64, 7 -> 14
    (nn.Conv2d(16, 32, 5, 2, 2), (14, 14)),  # D's 64 -> 128, 14 -> 7
])
def test_every_route_is_the_layer(float64, route, layer, size):
    layer = layer.double()
    x = torch.randn(3, layer.in_channels, *size, dtype=torch.float64, requires_grad=True)
    want = layer(x)
    (g_want,) = torch.autograd.grad(want.square().sum(), x)
    w_want = torch.autograd.grad(layer(x).square().sum(), layer.weight)[0]
    got = choose.conv(route, layer, x)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    g_got, w_got = torch.autograd.grad(got.square().sum(), [x, layer.weight])
    torch.testing.assert_close(g_got, g_want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(w_got, w_want, rtol=1e-12, atol=1e-12)


def test_choice_is_timed_once_then_read_from_the_cache(tmp_path):
    layer, shape = nn.Conv2d(16, 32, 5, 2, 2), (8, 16, 14, 14)
    cache = tmp_path / "kernels.json"
    first = choose.Chooser(cache, reps=1)
    route = first.route(layer, shape)
    assert route in choose.ROUTES and first.timed == 1
    entry = json.loads(cache.read_text())[choose.machine_key()][choose.layer_key(layer, shape)]
    assert entry["route"] == route and set(entry["ms"]) == set(choose.ROUTES)
    assert entry["ms"][route] == min(entry["ms"].values()) > 0
    # The cache decides from now on, even against the timings: write another route into it.
    other = next(r for r in choose.ROUTES if r != route)
    data = json.loads(cache.read_text())
    data[choose.machine_key()][choose.layer_key(layer, shape)]["route"] = other
    cache.write_text(json.dumps(data))
    second = choose.Chooser(cache, reps=1)
    assert second.route(layer, shape) == other and second.timed == 0
    # Another shape is another entry; the first one survives the merge.
    assert choose.Chooser(cache, reps=1).route(layer, (4, 16, 14, 14)) in choose.ROUTES
    assert len(json.loads(cache.read_text())[choose.machine_key()]) == 2


@pytest.mark.parametrize("junk", [b"{not json", b"\x00\xff" * 10, b"[1, 2]", b'{"x": 1}'])
def test_a_broken_cache_is_timed_again_and_rewritten(tmp_path, junk):
    cache = tmp_path / "kernels.json"
    cache.write_bytes(junk)
    layer, shape = nn.ConvTranspose2d(32, 16, 5, 1, 2), (4, 32, 7, 7)
    chooser = choose.Chooser(cache, reps=1)
    assert chooser.route(layer, shape) in choose.ROUTES and chooser.timed == 1
    assert choose.layer_key(layer, shape) in json.loads(cache.read_text())[choose.machine_key()]
    assert [p.name for p in tmp_path.iterdir()] == ["kernels.json"]  # no temporary file left behind


def test_timing_leaves_the_run_untouched():
    """Timing runs on a copy with a private generator: no gradient on the layer, no global RNG draw."""
    layer = nn.Conv2d(16, 32, 5, 2, 2)
    before, state = layer.weight.detach().clone(), torch.get_rng_state()
    choose.time_route("dft", layer, (2, 16, 14, 14), nhwc=True, reps=1)
    assert layer.weight.grad is None and torch.equal(layer.weight, before)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("preset, pack, want", [
    ("dcgan-mnist", 1, {"G.4": ((8, 256, 7, 7), False), "G.7": ((8, 128, 7, 7), False), "D.1": ((16, 64, 14, 14), True)}),
    ("dcgan-mnist", 2, {"G.4": ((8, 256, 7, 7), False), "G.7": ((8, 128, 7, 7), False), "D.1": ((8, 64, 14, 14), True)}),
])
def test_the_layers_timed_are_the_steps_at_its_shapes(preset, pack, want):
    """D sees real + fake (twice the batch), in packs when D is packed; G's layers at G's own sizes;
    each in the layout the layer before hands on (D's first block writes NHWC rows). Traced on a
    copy: G's BatchNorm statistics do not move."""
    cfg = build_config(preset, overrides={"device": "cpu", "batch_size": 8, "pack": pack, "conditional": False})
    G, D = build_networks(cfg)
    fast = build_fast_joint(G, D)
    stats = {k: v.clone() for k, v in G.state_dict().items()}
    seen = {}

    class Recorder:
        def route(self, layer, shape, nhwc):
            seen[len(seen)] = (tuple(shape), nhwc)
            return "onednn"

    chosen = fast.choose_routes(Recorder(), (8, cfg.latent_dim), (8, 1, 28, 28))
    assert chosen == "G.4 onednn, G.7 onednn, D.1 onednn"
    assert dict(zip(want, seen.values())) == want
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in stats.items())
