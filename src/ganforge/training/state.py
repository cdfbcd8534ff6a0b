"""Where a run is, and everything a checkpoint holds so a resumed run continues exactly."""

from __future__ import annotations

import torch

from ..run.jsonl import jsonl_text


class TrainState:
    """Counters of the run; saved in every checkpoint."""

    def __init__(self, epoch=0, batch=0, step=0, stats_sum=None, steps_in_epoch=0, seconds_in_epoch=0.0, seconds=0.0):
        self.epoch = epoch  # epochs completed
        self.batch = batch  # batches done in the unfinished epoch
        self.step = step  # optimiser steps in total
        self.stats_sum = stats_sum  # running sum of STAT_NAMES over the unfinished epoch
        self.steps_in_epoch = steps_in_epoch
        self.seconds_in_epoch = seconds_in_epoch
        self.seconds = seconds  # of training steps in total (max_seconds); absent from older checkpoints: 0

    def to_dict(self):
        return dict(vars(self))


def checkpoint_state(trainer) -> dict:
    """The checkpoint of a Trainer: nets, optimisers, EMA, fixed noise, counters and RNG states, and
    the run's records up to here (as the JSON lines of its files, so resume can mend those files).
    Plain data only (tensors, numbers, text), so it loads with weights_only=True."""
    rng = {"cpu": torch.get_rng_state(), "noise": trainer.noise_gen.get_state()}
    if trainer.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(trainer.device)
    return {"config": trainer.cfg.to_dict(), "G": trainer.G.state_dict(), "D": trainer.D.state_dict(),
            "opt_g": trainer.step.opt_g.state_dict(), "opt_d": trainer.step.opt_d.state_dict(),
            "G_ema": trainer.ema.average.state_dict() if trainer.ema else None,
            "fixed_noise": trainer.fixed_noise.cpu(), "state": trainer.state.to_dict(), "rng": rng,
            "records": {"metrics.jsonl": jsonl_text(trainer.history), "diagnosis.jsonl": jsonl_text(trainer.findings)}}


def restore_state(trainer, saved: dict) -> None:
    """Put a Trainer back where `saved` (checkpoint_state's output, read from disk) left it."""
    from ..run.checkpoint import load_into

    load_into(trainer.G, saved["G"], "the checkpoint's generator")
    load_into(trainer.D, saved["D"], "the checkpoint's discriminator")
    if trainer.ema:
        load_into(trainer.ema.average, saved["G_ema"], "the checkpoint's averaged generator")
    trainer.step.opt_g.load_state_dict(saved["opt_g"])
    trainer.step.opt_d.load_state_dict(saved["opt_d"])
    trainer.fixed_noise = saved["fixed_noise"].to(trainer.device)
    trainer.state = TrainState(**saved["state"])
    trainer.step.count = trainer.state.step  # lazy penalties fall due on the same steps as before
    torch.set_rng_state(saved["rng"]["cpu"])
    if "cuda" in saved["rng"] and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(saved["rng"]["cuda"], trainer.device)
    if saved["rng"]["noise"].device.type == "cpu" and trainer.noise_gen.device.type == "cpu":
        trainer.noise_gen.set_state(saved["rng"]["noise"])


def rank_state(trainer) -> dict:
    """What one rank of a distributed run holds on its own: its random streams, its sums of the
    unfinished epoch's stats, and its BatchNorm statistics (and any other buffers)."""
    rng = {"cpu": torch.get_rng_state(), "noise": trainer.noise_gen.get_state(), "rank": trainer.rank_gen.get_state()}
    if trainer.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(trainer.device)
    sums = trainer.state.stats_sum
    return {"rng": rng, "stats_sum": None if sums is None else sums.cpu(),
            "G_buffers": {k: v.cpu() for k, v in trainer.G.named_buffers()},
            "D_buffers": {k: v.cpu() for k, v in trainer.D.named_buffers()}}


def restore_rank(trainer, part: dict) -> None:
    """Put this rank's own state back (rank_state's output), after restore_state put rank 0's."""
    for net, buffers in ((trainer.G, part["G_buffers"]), (trainer.D, part["D_buffers"])):
        for name, buffer in net.named_buffers():
            buffer.copy_(buffers[name])
    sums = part["stats_sum"]
    trainer.state.stats_sum = None if sums is None else sums.to(trainer.device)
    torch.set_rng_state(part["rng"]["cpu"])
    if "cuda" in part["rng"] and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(part["rng"]["cuda"], trainer.device)
    for gen, key in ((trainer.noise_gen, "noise"), (trainer.rank_gen, "rank")):
        if gen.device.type == "cpu":
            gen.set_state(part["rng"][key])
