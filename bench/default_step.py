"""The `default` preset's training step, variants timed in alternation (issue 11): img/s of the real
Trainer's step with each variant's config, in rounds so that drift and neighbours hit all alike.

    python bench/default_step.py                          # before,auto,plain,bf16
    python bench/default_step.py --variants before,auto --rounds 10 --json
    python bench/default_step.py --preset folder64 --set dataset=folder:$(realpath ../shared/data/emoji) --variants plain,bf16

Variants: before (the step when issue 11 was filed: the preset's networks of then, g_width 64 and
d_width 32, every big convolution by the DFT, and a step owing a lazy penalty run wholly by plain
autograd), dft (cpu_kernels=dft: today's step with every big
convolution by the DFT), auto (DFT or oneDNN per layer, timed on this machine; every variant runs
in fp32 unless named -bf16 or bf16, or --set precision=... says otherwise),
onednn-nhwc, plain (the same maths through plain autograd), bf16 (precision=bf16: the fused step with
oneDNN's bf16 routes). Recipe changes, each to be judged by FID at equal time (bench/README.md):
w64 (the 64/32 networks, the preset's until they narrowed to 48/24), b128 (batch 128), lazy32
(penalties every 32 steps, 64/32 nets), d24 and g48 (one side narrowed from 64/32), compiled
(compile=on), and their -bf16 twins. The 64/32 widths apply to the default preset only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from machine import cpu_model  # bench/machine.py
from ganforge.config import build_config, parse_assignment
from ganforge.data import to_float
from ganforge.run import RunDir
from ganforge.training.loop import Trainer

W64 = {"g_width": 64, "d_width": 32}  # the preset's networks until the widths narrowed (bench/README.md)
VARIANTS = {"before": {"cpu_kernels": "dft", **W64}, "dft": {"cpu_kernels": "dft"}, "auto": {},
            "onednn-nhwc": {"cpu_kernels": "onednn-nhwc"}, "plain": {}, "bf16": {"precision": "bf16"},
            "w64": W64, "w64-bf16": {"precision": "bf16", **W64},
            "b128": {"batch_size": 128}, "b128-bf16": {"batch_size": 128, "precision": "bf16"},
            "compiled": {"compile": "on"}, "compiled-bf16": {"compile": "on", "precision": "bf16"},
            "lazy32": {"penalty_every": 32, **W64}, "bf16-lazy32": {"precision": "bf16", "penalty_every": 32, **W64},
            "d24": {**W64, "d_width": 24}, "d24-bf16": {**W64, "d_width": 24, "precision": "bf16"},
            "d24-bf16-lazy32": {**W64, "d_width": 24, "precision": "bf16", "penalty_every": 32},
            "g48-bf16": {**W64, "g_width": 48, "precision": "bf16"}}


def make(name: str, preset: str, sets: dict | None = None) -> tuple[Trainer, callable]:
    root = Path(tempfile.mkdtemp()) / "run"
    root.mkdir()
    # fp32 unless the variant says bf16: the preset's own precision (bf16-if-native) would make every
    # variant bf16 on a CPU with bf16 hardware, `before` and `auto` included
    variant = {k: v for k, v in VARIANTS[name].items() if preset == "default" or W64.get(k) != v}
    cfg = build_config(preset, overrides={"tensorboard": False, "precision": "fp32", **(sets or {}), **variant})
    trainer = Trainer(cfg, RunDir(root), progress=False, echo=lambda *a: None)
    step = trainer.step
    if name == "plain":
        step.run = step.joint
    if name == "before":  # a due penalty took the whole step to plain autograd
        step.run = lambda real, labels: (step.joint if step.penalties.due(step.count) else step.joint_fast)(real, labels)
    order, size = trainer.epoch_order(0), cfg.batch_size
    usable = len(order) // size * size
    batches = [(to_float(trainer.images[order[i:i + size]]), trainer.labels[order[i:i + size]])
               for i in range(0, min(usable, 64 * size), size)]

    def run(steps: int, offset: int) -> float:
        start = time.perf_counter()
        for i in range(steps):
            trainer.step(*batches[(offset + i) % len(batches)])
        return (time.perf_counter() - start) / steps

    return trainer, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="before,auto,plain,bf16")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40, help="steps of each variant per round")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="a config value for every variant, e.g. dataset=folder:PATH")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = args.variants.split(",")
    sets = dict(parse_assignment(s) for s in args.sets)
    made = {name: make(name, args.preset, sets) for name in names}
    for name, (trainer, run) in made.items():
        run(20, 0)  # warm-up: allocator, oneDNN primitives, DFT plans
        print(f"{name:>12}: {trainer.step_path}", flush=True)
    times = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names:
            times[name].append(made[name][1](args.steps, r * args.steps))
        print(f"round {r + 1}/{args.rounds}: " + "  ".join(
            f"{n} {made[n][0].cfg.batch_size / times[n][-1]:.0f}" for n in names), flush=True)
    base = names[0]
    result = {"preset": args.preset, "cpu": cpu_model(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "rounds": args.rounds, "steps_per_round": args.steps}
    for name in names:
        img_s = made[name][0].cfg.batch_size / statistics.median(times[name])
        result[f"{name}_img_s"] = img_s
        result[f"{name}_vs_{base}"] = img_s / result[f"{base}_img_s"]
        print(f"{name:>12}: {img_s:7.0f} img/s  ({result[f'{name}_vs_{base}']:.2f}x {base})")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
