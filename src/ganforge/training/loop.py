"""The training loop: config -> data -> networks -> steps -> artefacts, resumable at any step.

Trainer.fit() reads top to bottom: for each epoch, shuffle by index, run TrainStep on each batch,
then hand one record of epoch stats to the writers and save a checkpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import signal
import sys
import time
from contextlib import contextmanager

import torch
from tqdm import tqdm

from ..config import Config, save_config
from ..data import ImageData, load_dataset, to_float
from ..errors import DataError, TrainingDiverged
from ..losses import get_loss
from ..nets import build_networks
from ..rundir import RunDir
from . import accel as accel_setup
from . import checkpoint as ckpt
from .ema import EMA
from .step import STAT_NAMES, TrainStep
from .writers import default_writers


def derive_seed(seed: int, purpose: str, *more: int) -> int:
    """Independent, stable seeds for each random stream of a run (init, noise, shuffling...)."""
    digest = hashlib.sha256(f"{seed}/{purpose}/{'/'.join(map(str, more))}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def load_training_data(cfg: Config) -> ImageData:
    data = load_dataset(cfg.dataset, "train", cfg.data_dir, channels=cfg.channels, image_size=cfg.image_size)
    if cfg.subset:
        data = dataclasses.replace(data, images=data.images[: cfg.subset],
                                   labels=None if data.labels is None else data.labels[: cfg.subset])
    if data.shape != cfg.image_shape:
        c, h, w = data.shape
        raise DataError(f"{cfg.dataset} has {c}x{h}x{w} images but arch {cfg.arch} (preset {cfg.preset}) builds "
                        f"{cfg.channels}x{cfg.image_size}x{cfg.image_size}; pick a matching preset, e.g. "
                        f"{'dcgan-cifar10' if c == 3 else 'dcgan-mnist'}")
    if len(data) < 2:
        raise DataError(f"{cfg.dataset} holds {len(data)} image(s); training needs at least 2")
    return data


def batch_bounds(n: int, batch_size: int, drop_last: bool) -> list[tuple[int, int]]:
    """(start, end) of each batch. A last batch of one image is dropped: BatchNorm cannot train on it."""
    bounds = [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    if bounds and (bounds[-1][1] - bounds[-1][0] < (batch_size if drop_last else 2)):
        bounds.pop()
    return bounds


@contextmanager
def stop_on_ctrl_c(trainer):
    """First Ctrl-C: finish the current step, then checkpoint and stop. Second: abort at once."""
    def handler(signum, frame):
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = True
        tqdm.write("Ctrl-C: finishing this step, then saving a checkpoint (press again to abort)", file=sys.stderr)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class TrainState:
    """Where the run is; saved in every checkpoint so a resumed run continues exactly."""

    def __init__(self, epoch=0, batch=0, step=0, stats_sum=None, steps_in_epoch=0, seconds_in_epoch=0.0):
        self.epoch = epoch  # epochs completed
        self.batch = batch  # batches done in the unfinished epoch
        self.step = step  # optimiser steps in total
        self.stats_sum = stats_sum  # running sum of STAT_NAMES over the unfinished epoch
        self.steps_in_epoch = steps_in_epoch
        self.seconds_in_epoch = seconds_in_epoch

    def to_dict(self):
        return dict(vars(self))


class Trainer:
    def __init__(self, cfg: Config, run: RunDir, writers=None, progress: bool = True, echo=print):
        self.cfg, self.run, self.progress, self.echo = cfg, run, progress, echo
        self.accel = accel_setup.setup(cfg)  # device, precision, compile, memory format: accel.py
        self.device = self.accel.device
        self.data = load_training_data(cfg)
        self.images = self.data.images.to(self.device)  # whole set resident; batches are index gathers
        self.labels = self.data.labels.to(self.device) if cfg.conditional else None
        torch.manual_seed(cfg.seed)  # the global stream drives dropout
        self.G, self.D = (self.accel.prepare(net) for net in build_networks(cfg, derive_seed(cfg.seed, "init")))
        self.opt_g = self.accel.adam(self.G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
        self.opt_d = self.accel.adam(self.D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
        self.noise_gen = torch.Generator(self.device).manual_seed(derive_seed(cfg.seed, "noise"))
        fixed_gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "fixed"))
        self.fixed_noise = torch.randn(cfg.n_fixed, cfg.latent_dim, generator=fixed_gen).to(self.device)
        self.ema = EMA(self.G, cfg.ema) if cfg.ema else None
        self.step = TrainStep(self.G, self.D, self.opt_g, self.opt_d, get_loss(cfg.loss), cfg.latent_dim,
                              cfg.step, self.noise_gen, accel=self.accel)
        self.batches = batch_bounds(len(self.data), cfg.batch_size, cfg.drop_last)
        if not self.batches:
            raise DataError(f"{cfg.dataset} has {len(self.data)} images, fewer than one batch of {cfg.batch_size} "
                            "with drop_last; lower batch_size or set drop_last=false")
        self.epoch_images = sum(end - start for start, end in self.batches)
        self.writers = default_writers(cfg) if writers is None else writers
        self.state = TrainState()
        self.stop_requested = False
        self._fixed_samples = None  # (step, images) of the last sample_fixed()

    # ---- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        rng = {"cpu": torch.get_rng_state(), "noise": self.noise_gen.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {"config": self.cfg.to_dict(), "G": self.G.state_dict(), "D": self.D.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "G_ema": self.ema.average.state_dict() if self.ema else None,
                "fixed_noise": self.fixed_noise.cpu(), "state": self.state.to_dict(), "rng": rng}

    def save(self) -> None:
        ckpt.save_checkpoint(self.run.checkpoint, self.state_dict())
        ckpt.save_generator(self.run.generator, self.sample_generator(), self.cfg.to_dict())

    def load(self, saved: dict) -> None:
        ckpt.load_into(self.G, saved["G"], "the checkpoint's generator")
        ckpt.load_into(self.D, saved["D"], "the checkpoint's discriminator")
        if self.ema:
            ckpt.load_into(self.ema.average, saved["G_ema"], "the checkpoint's averaged generator")
        self.opt_g.load_state_dict(saved["opt_g"])
        self.opt_d.load_state_dict(saved["opt_d"])
        self.fixed_noise = saved["fixed_noise"].to(self.device)
        self.state = TrainState(**saved["state"])
        torch.set_rng_state(saved["rng"]["cpu"])
        if "cuda" in saved["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(saved["rng"]["cuda"], self.device)
        if saved["rng"]["noise"].device.type == "cpu" and self.noise_gen.device.type == "cpu":
            self.noise_gen.set_state(saved["rng"]["noise"])
        self.run.keep_metrics_up_to(self.state.epoch)

    # ---- sampling ----------------------------------------------------------------------------
    def sample_generator(self) -> torch.nn.Module:
        """The generator that samples are drawn from: the weight average when EMA is on."""
        return self.ema.average if self.ema else self.G

    @torch.no_grad()
    def sample_fixed(self) -> torch.Tensor:
        """G on the fixed noise; drawn once per step, however many writers ask (grid, diagnosis)."""
        if self._fixed_samples is not None and self._fixed_samples[0] == self.state.step:
            return self._fixed_samples[1]
        G = self.sample_generator()
        G.eval()  # BatchNorm running statistics, and no update of them
        images = G(self.fixed_noise)
        self.G.train()
        self._fixed_samples = (self.state.step, images)
        return images

    # ---- the loop ----------------------------------------------------------------------------
    def epoch_order(self, epoch: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(derive_seed(self.cfg.seed, "shuffle", epoch))
        return torch.randperm(len(self.data), generator=gen).to(self.device)

    def fit(self) -> str:
        """Train until cfg.epochs (or max_steps, or Ctrl-C). Returns why it stopped:
        'done', 'max_steps' or 'interrupted'; raises TrainingDiverged on NaN/Inf."""
        cfg, state = self.cfg, self.state
        save_config(cfg, self.run.config)
        for w in self.writers:
            getattr(w, "on_start", lambda t: None)(self)
        reason = "done"
        with stop_on_ctrl_c(self):
            for epoch in range(state.epoch, cfg.epochs):
                outcome = self.run_epoch(epoch)
                if outcome != "epoch":
                    reason = outcome
                    break
        if reason == "max_steps" and state.epoch >= cfg.epochs:
            reason = "done"
        self.finish(reason)
        return reason

    def run_epoch(self, epoch: int) -> str:
        cfg, state = self.cfg, self.state
        order = self.epoch_order(epoch)
        if state.stats_sum is None:
            state.stats_sum = torch.zeros(len(STAT_NAMES), device=self.device)
        bar = tqdm(total=len(self.batches), initial=state.batch, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   leave=False, disable=not self.progress, unit="step", dynamic_ncols=True)
        started = time.perf_counter()
        for start, end in self.batches[state.batch:]:
            real = to_float(self.images[order[start:end]])
            labels = None if self.labels is None else self.labels[order[start:end]]
            state.stats_sum += self.step(real, labels)
            if self.ema:
                self.ema.update(state.step)
            state.batch += 1
            state.step += 1
            state.steps_in_epoch += 1
            bar.update(1)
            if self.stop_requested or (cfg.max_steps and state.step >= cfg.max_steps):
                if state.batch < len(self.batches):  # stopped inside the epoch: save exactly here
                    state.seconds_in_epoch += time.perf_counter() - started
                    bar.close()
                    self.save()
                    return "interrupted" if self.stop_requested else "max_steps"
        bar.close()
        state.seconds_in_epoch += time.perf_counter() - started
        self.end_epoch(epoch)
        if self.stop_requested:
            return "interrupted"
        return "max_steps" if cfg.max_steps and state.step >= cfg.max_steps else "epoch"

    def end_epoch(self, epoch: int) -> None:
        state = self.state
        means = (state.stats_sum / max(state.steps_in_epoch, 1)).tolist()
        if not all(math.isfinite(v) for v in means) or not self.weights_finite():
            bad = ", ".join(f"{k}={v:.3g}" for k, v in zip(STAT_NAMES, means) if not math.isfinite(v)) or "weights"
            self.finish("diverged")
            kept = f"epoch {state.epoch}" if state.epoch else "none yet"
            raise TrainingDiverged(f"training diverged in epoch {epoch + 1} ({bad} became NaN/Inf); the last good "
                                   f"checkpoint ({kept}) is kept in {self.run.checkpoint}; lower lr_g/lr_d and resume or restart")
        record = {"epoch": epoch + 1, "step": state.step, **dict(zip(STAT_NAMES, means)),
                  "epoch_seconds": state.seconds_in_epoch, "img_per_s": self.epoch_images / max(state.seconds_in_epoch, 1e-9)}
        state.epoch, state.batch, state.stats_sum = epoch + 1, 0, None
        state.steps_in_epoch, state.seconds_in_epoch = 0, 0.0
        for w in self.writers:
            getattr(w, "on_epoch_end", lambda t, r: None)(self, record)
        self.save()
        self.echo(format_record(record, self.cfg.epochs))

    def weights_finite(self) -> bool:
        return all(torch.isfinite(p).all() for net in (self.G, self.D) for p in net.parameters())

    def finish(self, reason: str) -> None:
        for w in self.writers:
            getattr(w, "on_end", lambda t, r: None)(self, reason)


def format_record(record: dict, epochs: int) -> str:
    return (f"epoch {record['epoch']:>3}/{epochs}  G loss {record['g_loss']:.3f}  D loss {record['d_loss']:.3f}  "
            f"D acc real {record['d_acc_real']:.2f} fake {record['d_acc_fake']:.2f}  "
            f"D(x) {record['d_real']:.2f}  D(G(z)) {record['d_fake']:.2f}  "
            f"{record['epoch_seconds']:.1f}s  {record['img_per_s']:.0f} img/s")
