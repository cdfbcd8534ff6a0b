"""Time ganforge's training step against the plain PyTorch joint step (issue 4).

    python bench/train_step.py                       # batch 256, ganforge vs reference
    python bench/train_step.py --json                # ... and, as the last line, one JSON object
    python bench/train_step.py --variants reference,joint,ganforge,no-masks   # attempts (README)
    python bench/train_step.py --peak                # this CPU's matmul peak, for the share of peak
    python bench/train_step.py --tensorflow off      # without the tutorial's TensorFlow step

The tutorial's own TensorFlow step (tf_step.py, optional: pip install -e ".[bench]") is timed in
the same rounds as a further variant, `tensorflow`, with as many intra-op and inter-op threads as
torch has, by default in a worker process of its own; without TF it is skipped with one line.

Every variant starts from the same weights (the dcgan-mnist preset, seed 0) and trains on the
same real batches (embedded-mnist: always there, no download). Warm-up steps are not timed; then
each round times `--steps` steps of every variant, the order reversed every other round (A B,
B A, ...), so load from other processes hits all of them alike. A variant's figure is its median
step time. peak_rss_mb is this process's peak resident memory (ru_maxrss), all variants included.

ReferenceStep (tests/reference_step.py) is the yardstick the issue defines, and
tests/test_speed_paths.py checks ganforge's step against it.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import dataclasses
import platform
import resource
import statistics
import sys
import time
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganforge.kernels.cpu import fused, spectral
from ganforge.losses import get_loss
from ganforge.nets import build_networks
from ganforge.training import accel as accel_mod
from ganforge.training.step import TrainStep, make_step

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_step  # noqa: E402  (the plain oracle, shared with the tests)
import tf_step  # noqa: E402  (the tutorial's TensorFlow step; TF itself is optional)
from reference_step import bench_config, make_reference, real_batches  # noqa: E402


def make_ganforge(cfg, G, D, device, accel=None, adam=None):
    """TrainStep as Trainer builds it; accel=False gives the step as it was before issue 4."""
    if accel is not False:
        return reference_step.make_ganforge(cfg, G, D, device, accel)
    G, D = G.to(device), D.to(device)
    opt_g, opt_d = (torch.optim.Adam(net.parameters(), lr=lr, betas=(cfg.beta1, cfg.beta2), **(adam or {}))
                    for net, lr in ((G, cfg.lr_g), (D, cfg.lr_d)))
    return TrainStep(G, D, opt_g, opt_d, get_loss(cfg.loss), cfg.latent_dim, cfg.step,
                     torch.Generator(device).manual_seed(1))


class BernoulliMasks(fused.MaskStream):
    """The mask stream as nn.Dropout draws it (torch.bernoulli_ on the global generator)."""

    def new_step(self):
        pass

    def keep(self, like, p):
        return torch.empty_like(like).bernoulli_(1 - p).div_(1 - p)


def _ablate(**changes):
    """A ganforge variant with one fused-path choice undone (for the attempts table)."""
    def make(cfg, G, D, device):
        step = make_ganforge(cfg, G, D, device)
        if changes.get("plain_adam"):
            step.opt_g, step.opt_d = (torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2))
                                      for params, lr in ((step.g_params, cfg.lr_g), (step.d_params, cfg.lr_d)))
        fast = step.fast_joint
        if changes.get("plain_d"):  # fast G, but D through autograd: one call, two backward passes
            step.G, step.run = fast.generator, step.joint
        if "masks" in changes:
            fast.scorer.masks = changes["masks"]()
        if "spectral" in changes:
            fast.generator.spectral = fast.scorer.spectral = changes["spectral"]
        if "small_conv_t" in changes:
            fast.generator.small_conv_t = changes["small_conv_t"]
        return step
    return make


VARIANTS = {
    "reference": make_reference,
    "joint": lambda cfg, G, D, device: make_ganforge(cfg, G, D, device, accel=False),  # before issue 4
    "joint+fused-adam": lambda cfg, G, D, device: make_ganforge(cfg, G, D, device, accel=False, adam={"fused": True}),
    "joint+foreach-adam": lambda cfg, G, D, device: make_ganforge(cfg, G, D, device, accel=False, adam={"foreach": True}),
    "joint+compile": lambda cfg, G, D, device: make_ganforge(
        cfg, G, D, device, accel=accel_mod.Accel(torch.device(device), None, True, False, False)),
    "ganforge": make_ganforge,  # cpu_kernels=auto: DFT or oneDNN per layer, timed on this machine
    "all-dft": lambda cfg, G, D, device: make_ganforge(dataclasses.replace(cfg, cpu_kernels="dft"), G, D, device),
    "all-onednn": lambda cfg, G, D, device: make_ganforge(dataclasses.replace(cfg, cpu_kernels="onednn"), G, D, device),
    "no-masks": _ablate(masks=BernoulliMasks),  # fused path, but bernoulli_ dropout masks
    "no-spectral": _ablate(spectral=False),
    "no-small-convt": _ablate(small_conv_t=False),
    "plain-d": _ablate(plain_d=True),  # no JointScorer: D's backward twice for the fake batch
    "no-fused-adam": _ablate(plain_adam=True),
    # precision=bf16 as a run takes it: the fused step, its timed routes including oneDNN in bf16
    "bf16": lambda cfg, G, D, device: make_ganforge(dataclasses.replace(cfg, precision="bf16"), G, D, device),
    # plain autograd under bf16 autocast (how precision=bf16 ran before it had fused routes)
    "bf16-plain": lambda cfg, G, D, device: make_ganforge(
        cfg, G, D, device, accel=accel_mod.Accel(torch.device(device), torch.bfloat16, False, False, False)),
    "joint+channels_last": lambda cfg, G, D, device: make_ganforge(
        cfg, G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last), device, accel=False),
}


# ---- measuring ---------------------------------------------------------------------------------
def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_variants(names, batch=256, rounds=8, steps=2, warmup=2, device="cpu", log=print,
                  others=None) -> dict[str, list[float]]:
    """Median-ready step times of each variant; `others` maps more names to timers of their own
    (an object whose round(n) runs n steps and returns their times: the TensorFlow step), timed
    in the same rounds and the same alternating order."""
    cfg = bench_config(batch_size=batch, device=device)
    G, D = build_networks(cfg)
    steps_by_name = {name: VARIANTS[name](cfg, copy.deepcopy(G), copy.deepcopy(D), device) for name in names}
    batches = real_batches(batch, 8, device)
    others = others or {}
    names = list(names) + list(others)
    times = {name: [] for name in names}
    for name, step in steps_by_name.items():  # warm-up: first-call allocations, oneDNN primitive caches
        for i in range(warmup):
            step(batches[i % len(batches)])
        sync(device)
    for r in range(rounds):
        order = names if r % 2 == 0 else list(reversed(names))
        for name in order:
            if name in others:
                times[name] += others[name].round(steps)
                continue
            for i in range(steps):
                t = time.perf_counter()
                step = steps_by_name[name]
                step(batches[(r * steps + i) % len(batches)])
                sync(device)
                times[name].append(time.perf_counter() - t)
        log(f"round {r + 1}/{rounds}: " + "  ".join(f"{n} {batch / statistics.median(times[n]):.1f}" for n in names), file=sys.stderr)
    return times


# ---- the tutorial's TensorFlow step -------------------------------------------------------------
def tensorflow_timer(mode: str, batch: int, threads: int, workdir: Path, log=print):
    """The TF step's timer (tf_step.py), or None with one line saying why it is left out.
    mode 'process': a worker process of its own (the default, see bench/README.md);
    'inproc': TF imported into this process, next to torch."""
    if mode == "off":
        return None
    if importlib.util.find_spec("tensorflow") is None:
        log("tensorflow: not installed, skipped (pip install -e '.[bench]' adds it)")
        return None
    # the same images as the torch steps, NCHW -> NHWC as Keras takes them
    batches = np.stack([b.permute(0, 2, 3, 1).numpy() for b in real_batches(batch, 8, "cpu")])
    if mode == "inproc":
        # triton (torch._dynamo loads it when an optimiser is built) segfaults when loaded after
        # TF (tf 2.21, triton 3.8): load it first
        import torch._dynamo  # noqa: F401

        tf = tf_step.load(threads)
        return None if tf is None else tf_step.TFSteps(tf, list(batches))
    np.save(workdir / "batches.npy", batches)
    return tf_step.TFWorker(workdir / "batches.npy", threads)


# ---- FLOPs and peak ----------------------------------------------------------------------------
def layer_macs(net: nn.Module, x: torch.Tensor) -> list[tuple[nn.Module, int]]:
    """Multiply-adds of each conv/linear layer's forward for input x (padding taps included)."""
    found = []

    def hook(m, inputs, out):
        if isinstance(m, nn.Linear):
            found.append((m, inputs[0].numel() * m.out_features))
        elif isinstance(m, nn.ConvTranspose2d):  # every input pixel times the whole kernel
            found.append((m, inputs[0].numel() * m.out_channels * m.kernel_size[0] * m.kernel_size[1]))
        elif isinstance(m, nn.Conv2d):
            found.append((m, out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1]))

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    return found


def step_flops(batch=256, cfg=None) -> dict[str, float]:
    """FLOPs (2 per multiply-add) of one joint step, convolutions and linear layers only.

    autograd: what the plain joint step runs. G: forward, weight grads, input grads of every
    layer but the first (z needs none). D on real and fake: forward, weight grads, input grads
    of every layer but the first for D's loss, and again for the fake batch for G's loss, plus
    the first layer's input grad for the fake batch. fused: D's input grads run once over
    real+fake (see fused.py)."""
    cfg = cfg or bench_config()
    G, D = build_networks(cfg)
    g_layers = layer_macs(G, torch.randn(batch, cfg.latent_dim))
    d_layers = layer_macs(D, torch.randn(batch, *cfg.image_shape))
    g_fwd = sum(m for _, m in g_layers)
    d_fwd = sum(m for _, m in d_layers)
    d_first = d_layers[0][1]
    g = g_fwd + g_fwd + (g_fwd - g_layers[0][1])  # forward, weight grads, input grads
    d_common = 2 * d_fwd + 2 * d_fwd + d_first  # forward and weight grads on 2B, fake input grad at layer 1
    d_autograd = d_common + 3 * (d_fwd - d_first)
    d_fused = d_common + 2 * (d_fwd - d_first)
    return {"g_forward": 2 * g_fwd, "d_forward_per_batch": 2 * d_fwd,
            "autograd": 2 * (g + d_autograd), "fused": 2 * (g + d_fused)}


def ganforge_flops(batch=256, cfg=None) -> float:
    """FLOPs the fused CPU step executes in matmuls with every big convolution on the DFT route
    (cpu_kernels=dft): the DFTs, per-frequency products and inverse DFTs (spectral.py), the other
    layers as plain matmuls."""
    cfg = cfg or bench_config()
    G, D = build_networks(cfg)
    total = 0.0
    for net, x in ((G, torch.randn(batch, cfg.latent_dim)), (D, torch.randn(2 * batch, *cfg.image_shape))):
        shapes = {}
        hooks = [m.register_forward_hook(lambda m, i, o: shapes.__setitem__(m, i[0].shape)) for m in net.modules()]
        layers = layer_macs(net, x)
        for h in hooks:
            h.remove()
        for k, (layer, macs) in enumerate(layers):
            n, *chw = shapes[layer]
            if isinstance(layer, nn.Linear):
                total += 2 * 2 * macs  # forward and weight grad (z and the logit need no more)
            elif not spectral.fits(layer, chw[1:]):
                total += 2 * macs * (2.5 if net is D and k == 0 else 3)  # D's first: input grad for fakes only
            else:
                plan = spectral.Plan.for_layer(layer, chw[1:])
                parts, c, w = 3 * plan.bins, layer.in_channels * plan.in_phases, layer.out_channels * plan.out_phases
                dft = 2 * parts * plan.ay.in_len * plan.ax.in_len * n * c
                inverse = 2 * parts * plan.ay.out_len * plan.ax.out_len * n * w
                kernels = 2 * parts * plan.in_phases * plan.out_phases * layer.weight.numel()
                total += 2 * (dft + inverse + kernels) + 3 * (2 * parts * n * c * w)  # forward, input and weight grads
    return total


def matmul_peak(n=4096, repeats=5, dtype=torch.float32) -> float:
    """Best GFLOP/s of an n x n matmul in `dtype` (MKL / oneDNN via torch, all threads)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="reference,ganforge", help="comma-separated, from: " + ", ".join(VARIANTS))
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2, help="timed steps of each variant per round")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--peak", action="store_true", help="also measure the fp32 matmul peak")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--tensorflow", default="process", choices=["process", "inproc", "off"],
                        help="time the tutorial's TF step too (CPU only): in a worker process, in this one, or not")
    args = parser.parse_args(argv)
    names = args.variants.split(",")
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        mode = args.tensorflow if torch.device(args.device).type == "cpu" else "off"
        tf_timer = tensorflow_timer(mode, args.batch, threads, Path(tmp))
        others = {"tensorflow": tf_timer} if tf_timer else {}
        try:
            times = time_variants(names, args.batch, args.rounds, args.steps, device=args.device, others=others)
        finally:
            if isinstance(tf_timer, tf_step.TFWorker):
                tf_timer.close()
    flops = step_flops(args.batch)
    result = {"batch": args.batch, "rounds": args.rounds, "steps_per_round": args.steps,
              "threads": threads, "torch": torch.__version__, "device": args.device,
              "load_avg_1m": os.getloadavg()[0], "step_gflop": flops["autograd"] / 1e9}
    if others:
        result.update(tensorflow=tf_timer.version, tensorflow_mode=mode, tensorflow_threads=threads)
    for name in names + list(others):
        med = statistics.median(times[name])
        result[f"{name}_img_s"] = args.batch / med
        result[f"{name}_step_ms"] = 1e3 * med
        result[f"{name}_gflop_s"] = flops["autograd"] / med / 1e9
        print(f"{name:>20}: {args.batch / med:7.1f} img/s  (median step {1e3 * med:7.1f} ms, "
              f"{flops['autograd'] / med / 1e9:5.1f} GFLOP/s of the step's {flops['autograd'] / 1e9:.1f} GFLOP)")
    if "reference" in names and "ganforge" in names:
        result["ratio"] = result["ganforge_img_s"] / result["reference_img_s"]
        print(f"ganforge / reference: {result['ratio']:.2f}x")
    if "ganforge" in names and others:
        result["ratio_vs_tensorflow"] = result["ganforge_img_s"] / result["tensorflow_img_s"]
        print(f"ganforge / the tutorial's TensorFlow ({result['tensorflow']}, {mode}): {result['ratio_vs_tensorflow']:.2f}x")
    if "ganforge" in names:  # how the step runs: the header line a run prints (kernels chosen here)
        cfg = bench_config(batch_size=args.batch, device=args.device)
        result["ganforge_step"] = make_step(cfg, *build_networks(cfg), accel_mod.setup(cfg), torch.Generator())[1]
        print(f"ganforge step: {result['ganforge_step']}")
    if "all-dft" in names and torch.device(args.device).type == "cpu":  # the DFT route's own count
        result["all-dft_executed_gflop"] = ganforge_flops(args.batch) / 1e9
        executed = result["all-dft_executed_gflop"] / (result["all-dft_step_ms"] / 1e3)
        result["all-dft_executed_gflop_s"] = executed
        print(f"all-dft executes {result['all-dft_executed_gflop']:.1f} GFLOP a step: {executed:.1f} GFLOP/s")
    if args.peak:
        result["matmul_peak_gflop_s"] = matmul_peak()
        result["bf16_matmul_peak_gflop_s"] = matmul_peak(dtype=torch.bfloat16)
        print(f"matmul peak: fp32 {result['matmul_peak_gflop_s']:.1f}, bf16 {result['bf16_matmul_peak_gflop_s']:.1f} "
              f"GFLOP/s ({platform.processor() or platform.machine()})")
    result["peak_rss_mb"] = peak_rss_mb()
    print(f"peak RSS {result['peak_rss_mb']:.0f} MB; load average {result['load_avg_1m']:.2f}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
