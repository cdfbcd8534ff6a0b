"""One torchrun worker of tests/test_distributed.py: runs a list of training jobs in one process group
(joined once here, so the jobs share one start-up), and leaves what the test compares in DUMP/.

    torchrun --nproc_per_node 2 tests/distributed_worker.py DUMP JOBS_JSON

A job is {"name", "op": "train" | "resume", "out", "overrides", "sigint_at": step or null,
"no_batchnorm": bool}. After each, every rank saves its networks' state (DUMP/NAME.rankR.pt), and
lists each file it opened for writing inside the run folder (DUMP/NAME.rankR.writes.json), seen
through an audit hook: only rank 0 may have any.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

import ganforge.training as training
import ganforge.training.loop as loop
from ganforge.config import build_config
from ganforge.training.callbacks import Hooks

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def without_batchnorm(build):
    """build_networks with every BatchNorm an identity: nets without batch statistics."""
    def strip(net: nn.Module) -> nn.Module:
        for name, child in net.named_children():
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(net, name, nn.Identity())
            else:
                strip(child)
        return net

    return lambda cfg, seed: tuple(strip(net) for net in build(cfg, seed))


class WriteWatch:
    """Paths under `root` this process opens for writing, renames or removes (sys.addaudithook)."""

    def __init__(self):
        self.root, self.seen = None, []
        sys.addaudithook(self.hook)

    def hook(self, event, args):
        if self.root is None or event not in ("open", "os.rename", "os.replace", "os.remove", "os.mkdir", "os.link"):
            return
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & WRITE_FLAGS
            paths = [path] if writing else []
        else:
            paths = [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
        for path in paths:
            if isinstance(path, (str, os.PathLike)) and str(Path(path).resolve()).startswith(self.root):
                self.seen.append(f"{event} {path}")


def run_job(job: dict, watch: WriteWatch):
    rank, captured = dist.get_rank(), []
    fit = training.fit
    training.fit = lambda trainer: captured.append(trainer) or fit(trainer)
    build = loop.build_networks
    if job.get("no_batchnorm"):
        loop.build_networks = without_batchnorm(build)
    hooks = []
    if job.get("sigint_at"):  # Ctrl-C on rank 0 alone: the ranks must agree to stop after the same step
        hooks = [Hooks(on_step=lambda e: e.step == job["sigint_at"] and os.kill(os.getpid(), signal.SIGINT))]
    watch.root, watch.seen = str(Path(job["out"]).resolve()), []
    try:
        if job["op"] == "train":
            cfg = build_config(job.get("preset", "dcgan-mnist"), overrides=job["overrides"])
            result = training.train(cfg, out=job["out"], callbacks=hooks, progress=False, echo=print)
        else:
            result = training.resume(job["out"], job["overrides"], callbacks=hooks, progress=False, echo=print)
    finally:
        watch.root = None
        training.fit, loop.build_networks = fit, build
    trainer = captured[0]
    state = {"G": trainer.G.state_dict(), "D": trainer.D.state_dict(), "reason": result.reason,
             "step": trainer.state.step}
    return state, watch.seen


def main():
    dump, jobs = Path(sys.argv[1]), json.loads(sys.argv[2])
    dist.init_process_group("gloo")
    watch = WriteWatch()
    for job in jobs:
        state, writes = run_job(job, watch)
        rank = dist.get_rank()
        torch.save(state, dump / f"{job['name']}.rank{rank}.pt")
        (dump / f"{job['name']}.rank{rank}.writes.json").write_text(json.dumps(writes))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
