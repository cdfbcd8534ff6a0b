"""Data-parallel scaling (issue 13): training throughput in one process against DDP in 1 and N.

    python bench/distributed.py                       # CPU: default recipe, 2048 images, 3 epochs, 1 vs 2 processes
    python bench/distributed.py --nproc 2 --json      # ... plus one JSON line at the end
    python bench/distributed.py --device cuda         # one GPU: DDP's overhead (no DDP vs DDP of one process)

Each configuration is a real `ganforge train` in fresh processes, measured by the run's own records:
img/s = images of the timed epochs / their seconds (rank 0's wall time of the batch loop, which
waits for every rank at each step's all-reduce), the first epoch left out (warm-up). Three rows:

    single   plain `ganforge train`: the single-process path (fused CPU kernels where they apply)
    ddp1     torchrun with one process: DDP's code path, nothing to all-reduce with, no fused kernels
    ddpN     `ganforge train --nproc N`: N processes, each with cores/N threads and batch/N images a step

On a CPU all processes share the same cores, so ddpN can at best match ddp1 (same arithmetic,
split differently), less the all-reduce of G's and D's gradients each step and the smaller
per-process matrices: expect about 1x on 2 cores. Scaling comes from more sockets, GPUs or machines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import cpu_model  # bench/machine.py


def gpu_model() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def train_args(args, out: Path) -> list[str]:
    return ["train", "--preset", args.preset, "--set", f"subset={args.subset}", "--epochs", str(args.epochs),
            "--batch-size", str(args.batch_size), "--device", args.device, "--seed", "0", "--set", "tensorboard=false",
            "--no-progress", "--out", str(out)]


def measure(name: str, command: list[str], out: Path) -> dict:
    """One training run; img/s over its epochs after the first, from its metrics.jsonl."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    timed = records[1:] or records
    images = sum(r["img_per_s"] * r["epoch_seconds"] for r in timed)
    result = {"name": name, "img_s": images / sum(r["epoch_seconds"] for r in timed),
              "epoch_img_s": [round(r["img_per_s"], 1) for r in records], "step_path": records[-1]["step_path"]}
    print(f"{name:>7}: {result['img_s']:8.1f} img/s   epochs {result['epoch_img_s']}   ({result['step_path']})",
          flush=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--subset", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch")
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cpu: {cpu_model()} ({cores} cores usable)  gpu: {gpu_model()}  preset {args.preset}, "
          f"{args.subset} images, global batch {args.batch_size}", flush=True)
    ganforge = [sys.executable, "-m", "ganforge"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", "-m", "ganforge"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"single": ganforge, "ddp1": torchrun}
        if args.device == "cpu":  # one GPU here: N processes cannot each have one
            runs[f"ddp{args.nproc}"] = ganforge
        for name, command in runs.items():
            out = Path(tmp) / name
            extra = ["--nproc", str(args.nproc)] if name.startswith("ddp") and name != "ddp1" else []
            rows.append(measure(name, command + train_args(args, out) + extra, out))
    by_name = {r["name"]: r["img_s"] for r in rows}
    ratios = {"ddp1_over_single": by_name["ddp1"] / by_name["single"]}
    if f"ddp{args.nproc}" in by_name:
        ratios[f"ddp{args.nproc}_over_single"] = by_name[f"ddp{args.nproc}"] / by_name["single"]
        ratios[f"ddp{args.nproc}_over_ddp1"] = by_name[f"ddp{args.nproc}"] / by_name["ddp1"]
    for key, value in ratios.items():
        print(f"{key}: {value:.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "")
    if args.json:
        print(json.dumps({"cpu": cpu_model(), "cores": cores, "gpu": gpu_model(), "preset": args.preset,
                          "subset": args.subset, "batch_size": args.batch_size, "rows": rows, **ratios,
                          "median_epoch_img_s": {r["name"]: statistics.median(r["epoch_img_s"]) for r in rows}}))


if __name__ == "__main__":
    main()
