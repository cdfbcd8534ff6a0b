"""One full epoch of real MNIST through the real Trainer (data path included), against the step
benchmark, and the peak memory of that training run.

    GANFORGE_DATA=../shared/data python bench/epoch.py            # dcgan-mnist, mnist, one epoch
    GANFORGE_DATA=../shared/data python bench/epoch.py --json     # ... plus one JSON line at the end

epoch_img_s is the Trainer's own record (images in the epoch / seconds in its batch loop: the index
gathers, uint8 -> float, the steps; the end-of-epoch writers are not in it). Each step call inside
the epoch is timed too, so the loop's own cost (data path and bookkeeping) is the epoch's seconds
minus the steps' seconds, whatever the machine's load did meanwhile. step_img_s is the median of
`--steps` bare steps timed right after, in the same process, on the same config.
peak_rss_mb is this process's peak after the epoch (the step timing comes later and is not in
it); torch_import_rss_mb is what a fresh interpreter holds after `import torch` alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ganforge.config import build_config
from ganforge.nets import build_networks
from ganforge.run import RunDir
from ganforge.training.callbacks import Hooks
from ganforge.training.loop import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference_step import make_ganforge, real_batches  # noqa: E402  (the same step builder)


def import_rss_mb(module: str) -> float:
    """Peak RSS of a fresh interpreter that imports `module` (VmHWM: ru_maxrss would carry this
    process's peak across fork + exec)."""
    code = f"import {module}; print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
    return int(subprocess.check_output([sys.executable, "-c", code], text=True).strip().splitlines()[-1]) / 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="dcgan-mnist")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--subset", type=int, default=0, help="first N images only (quick tries)")
    parser.add_argument("--steps", type=int, default=10, help="bare steps timed after the epoch")
    parser.add_argument("--paired", type=int, default=0, metavar="N",
                        help="also time one bare step after every N Trainer steps, under the same load (RSS then "
                             "includes the bare step's nets)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not os.environ.get("GANFORGE_DATA") and args.dataset != "embedded-mnist":
        sys.exit("set GANFORGE_DATA to the folder holding mnist/ (e.g. ../shared/data)")
    cfg = build_config(args.preset, overrides={"dataset": args.dataset, "epochs": 1, "subset": args.subset,
                                               "device": "cpu"})
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp) / "run")
        run.root.mkdir()
        started = time.perf_counter()
        step_seconds, paired_seconds = [], []
        if args.paired:
            bare, bare_batches = make_ganforge(cfg, *build_networks(cfg), "cpu"), real_batches(cfg.batch_size, 2, "cpu")
            bare(bare_batches[0])  # warm-up

        def timed(event):  # each step's own time, from the loop
            step_seconds.append((event.images, event.seconds))
            if args.paired and len(step_seconds) % args.paired == 0:
                t = time.perf_counter()
                bare(bare_batches[1])
                paired_seconds.append(time.perf_counter() - t)

        trainer = Trainer(cfg, run, callbacks=[Hooks(on_step=timed)], progress=False, echo=lambda *a: None)
        trainer.fit()
        wall = time.perf_counter() - started
        record = run.read_metrics()[-1]
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # The bare step on the same config, for comparison.
    G, D = build_networks(cfg)
    step = make_ganforge(cfg, G, D, "cpu")
    batches = real_batches(cfg.batch_size, 4, "cpu")
    times = []
    for i in range(args.steps + 1):
        t = time.perf_counter()
        step(batches[i % len(batches)])
        times.append(time.perf_counter() - t)
    step_img_s = cfg.batch_size / statistics.median(times[1:])  # the first one warms up

    in_steps = sum(t for _, t in step_seconds)
    if paired_seconds:  # the bare steps ran inside the epoch's clock: take them out
        record["epoch_seconds"] -= sum(paired_seconds)
        record["img_per_s"] = trainer.epoch_images / record["epoch_seconds"]
    full = [t for n, t in step_seconds if n == cfg.batch_size]
    result = {"epoch_images": trainer.epoch_images, "epoch_seconds": record["epoch_seconds"],
              "epoch_img_s": record["img_per_s"], "seconds_in_steps": in_steps,
              "loop_overhead_share": 1 - in_steps / record["epoch_seconds"],
              "in_epoch_step_img_s": cfg.batch_size / statistics.median(full), "step_img_s": step_img_s,
              "epoch_vs_step": record["img_per_s"] / step_img_s, "wall_seconds_with_setup_and_writers": wall,
              "peak_rss_mb": peak_rss, "torch_import_rss_mb": import_rss_mb("torch"),
              "ganforge_import_rss_mb": import_rss_mb("ganforge.training.loop"),
              "threads": torch.get_num_threads(), "load_avg_1m": os.getloadavg()[0]}
    if paired_seconds:
        result["paired_bare_step_img_s"] = cfg.batch_size / statistics.median(paired_seconds)
        result["epoch_vs_paired_bare_step"] = record["img_per_s"] / result["paired_bare_step_img_s"]
    print(f"epoch: {result['epoch_images']} images in {result['epoch_seconds']:.1f}s = {result['epoch_img_s']:.1f} img/s "
          f"(bare step after it {step_img_s:.1f} img/s: {100 * result['epoch_vs_step']:.0f}%); the steps took "
          f"{in_steps:.1f}s of it, the loop around them {100 * result['loop_overhead_share']:.2f}%; median step in the "
          f"epoch {result['in_epoch_step_img_s']:.1f} img/s")
    if paired_seconds:
        print(f"bare steps interleaved in the epoch (1 every {args.paired}): {result['paired_bare_step_img_s']:.1f} img/s; "
              f"the epoch is {100 * result['epoch_vs_paired_bare_step']:.0f}% of it")
    print(f"peak RSS training {args.preset} on {args.dataset}: {peak_rss:.0f} MB "
          f"(import torch alone: {result['torch_import_rss_mb']:.0f} MB; ganforge's trainer: "
          f"{result['ganforge_import_rss_mb']:.0f} MB); load average {result['load_avg_1m']:.2f}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
