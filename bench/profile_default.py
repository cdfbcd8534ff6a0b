"""Where the `default` preset's training step spends its time (issue 11): img/s over 200 steps of the
real Trainer's step, the same step through plain autograd (`--plain`, same maths), then torch.profiler's
table over 50 more steps (self CPU time per op).

    python bench/profile_default.py            # the step the run header names (fused CPU kernels)
    python bench/profile_default.py --plain    # the plain autograd joint step, for comparison
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from ganforge.config import build_config
from ganforge.data import to_float
from ganforge.run import RunDir
from ganforge.training.loop import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain", action="store_true", help="time the plain autograd joint step instead")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp()) / "run"
    root.mkdir()
    trainer = Trainer(build_config("default", overrides={"tensorboard": False}), RunDir(root), progress=False,
                      echo=lambda *a: None)
    step = trainer.step
    if args.plain:
        step.run = step.joint
    order, size = trainer.epoch_order(0), trainer.cfg.batch_size
    usable = len(order) // size * size

    def batch(i):
        index = order[(i * size) % usable:(i * size) % usable + size]
        return to_float(trainer.images[index]), trainer.labels[index]

    for i in range(30):  # warm-up: allocator, oneDNN primitives
        step(*batch(i))
    start = time.perf_counter()
    for i in range(args.steps):
        step(*batch(i))
    seconds = (time.perf_counter() - start) / args.steps
    print(f"{'plain autograd' if args.plain else trainer.step_path}: {seconds * 1e3:.2f} ms a step, "
          f"{size / seconds:.0f} img/s, {torch.get_num_threads()} threads")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(50):
            step(*batch(i))
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))


if __name__ == "__main__":
    main()
