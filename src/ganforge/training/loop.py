"""The training loop: config -> data -> networks -> steps -> epoch records -> callbacks.

Trainer.fit() reads top to bottom: for each epoch, shuffle by index and run the step on each
batch; at the epoch's end, build its record (stats, speed, health, quality), hand it to the
callbacks (callbacks/: the run folder's writers, and any of the caller's), and save a checkpoint.
A run is resumable at any step: state.py says what a checkpoint holds.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time

import torch
from tqdm import tqdm

from ..config import Config, save_config
from ..data import ImageData, batch_bounds, load_dataset, to_float
from ..diagnose import Health, spread
from ..errors import DataError, TrainingDiverged
from ..losses import get_loss
from ..nets import build_networks
from ..nets.conditional import balanced_labels
from ..run import RunDir
from ..run import checkpoint as ckpt
from ..run.records import STAT_NAMES, finding_record, format_record
from ..seeding import derive_seed
from .. import threads
from . import accel as accel_setup
from .callbacks import EpochEnd, RunEnd, RunStart, StepEnd, overrides, run_folder_callbacks
from .distributed import SOLO
from .ema import EMA
from .features import teach_features
from .state import TrainState, checkpoint_state, restore_state
from .step import make_step
from .stopping import REASONS as BUDGETS, Budget, stop_on_ctrl_c


def load_training_data(cfg: Config) -> tuple[ImageData, Config]:
    """The training split as the config asks for it, and the config with what the data decides
    (num_classes of a conditional run) filled in."""
    data = load_dataset(cfg.dataset, "train", cfg.data_dir, channels=cfg.channels, image_size=cfg.image_size,
                        labels=cfg.labels, background=cfg.background)
    if cfg.subset:
        data = dataclasses.replace(data, images=data.images[: cfg.subset],
                                   labels=None if data.labels is None else data.labels[: cfg.subset])
    if data.shape != cfg.image_shape:
        c, h, w = data.shape
        hint = ("pass your images with --dataset folder:PATH" if cfg.preset.startswith("folder") else
                f"pick a matching preset, e.g. {'dcgan-cifar10' if c == 3 else 'dcgan-mnist'}")
        raise DataError(f"{cfg.dataset} has {c}x{h}x{w} images but arch {cfg.arch} (preset {cfg.preset}) builds "
                        f"{cfg.channels}x{cfg.image_size}x{cfg.image_size}; {hint}")
    if len(data) < 2:
        raise DataError(f"{cfg.dataset} holds {len(data)} image(s); training needs at least 2")
    if cfg.conditional:
        if data.labels is None:
            raise DataError(f"conditional=true needs class labels, and {cfg.dataset} has none; set conditional=false")
        if cfg.num_classes not in (0, data.num_classes):
            raise DataError(f"num_classes={cfg.num_classes} but {cfg.dataset} has {data.num_classes} classes; "
                            f"leave num_classes at 0 to take the dataset's")
        cfg = dataclasses.replace(cfg, num_classes=data.num_classes)
    return data, cfg


class Trainer:
    """callbacks: added to the run folder's own writers (callbacks/). Set stop_requested to stop
    after the current step, with a checkpoint, as Ctrl-C does. world: this process's rank of a
    distributed run (distributed.py); rank 0 alone samples, evaluates, keeps the EMA and writes."""

    def __init__(self, cfg: Config, run: RunDir, callbacks=(), progress: bool = True, echo=print, world=SOLO):
        self.run, self.progress, self.echo, self.world = run, progress and world.is_main, echo, world
        # device, precision, compile, memory format (accel.py); under DDP, this rank's device
        self.accel = world.configure(cfg, accel_setup.setup(cfg))
        accel_setup.configure_process(self.accel)
        self.device = self.accel.device
        # ---- data: one uint8 tensor on the device; batches are index gathers (this rank's share of each)
        self.data, cfg = load_training_data(cfg)
        self.cfg = cfg
        self.images = self.data.images.to(self.device)
        self.labels = self.data.labels.to(self.device) if cfg.conditional else None
        # None: each epoch a plain shuffle (always for unconditional runs, so a preset can carry class_balance)
        self.draw_weights = self.data.draw_weights(cfg.class_balance) if cfg.conditional else None
        self.batches = world.shares(batch_bounds(len(self.data), cfg.batch_size, cfg.drop_last))
        if not self.batches:
            raise DataError(f"{cfg.dataset} has {len(self.data)} images, fewer than one batch of {cfg.batch_size} "
                            "with drop_last; lower batch_size or set drop_last=false")
        self.epoch_images = sum(end - start for start, end in self.batches) * world.world
        # ---- networks, step and random streams (each stream seeded on its own: seeding.py)
        torch.manual_seed(cfg.seed)  # the global stream drives dropout
        G, D = build_networks(cfg, derive_seed(cfg.seed, "init"))
        if cfg.d_features:  # D's frozen feature network: taught once per dataset, cached (features.py)
            teach_features(D, self.data, device=self.device, echo=echo, world=world)
        self.G, self.D = (world.prepare(self.accel.prepare(net)) for net in (G, D))
        self.noise_gen = torch.Generator(self.device).manual_seed(derive_seed(cfg.seed, "noise"))
        self.rank_gen = world.seed_rank(cfg.seed, self.device) or self.noise_gen  # augmentation, penalties
        fixed_gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "fixed"))
        self.fixed_noise = torch.randn(cfg.n_fixed, cfg.latent_dim, generator=fixed_gen).to(self.device)
        # a conditional grid shows every class in turn: one class per column when n_fixed is K x K
        self.fixed_labels = balanced_labels(cfg.n_fixed, cfg.num_classes, self.device) if cfg.conditional else None
        self.ema = EMA(self.G, cfg.ema) if cfg.ema and world.is_main else None
        self.step, self.step_path = make_step(cfg, self.G, self.D, self.accel, self.noise_gen, world, self.rank_gen)
        self.budget = Budget(cfg, world)  # max_steps, max_seconds
        # ---- what the epoch record measures besides the step's stats
        self.health = Health(self.data.images, get_loss(cfg.loss).chance)
        self.evaluation = None
        if cfg.eval_every and world.is_main:
            from .evaluation import TrainingEval  # loads the metrics stack only when asked for

            self.evaluation = TrainingEval(cfg, self.device, echo)
        self.callbacks = run_folder_callbacks(cfg) + list(callbacks) if world.is_main else []
        self.step_hooks = [c.on_step for c in self.callbacks if overrides(c, "on_step")]
        self.step_hooks += threads.step_hooks(self.device)  # thread fitting: none unless the CLI asked (cores.py)
        self.state, self.history, self.findings = TrainState(), [], []  # findings: diagnosis.jsonl's lines
        self.stop_requested = False
        self._fixed_samples = None  # (step, images) of the last sample_fixed()

    # ---- checkpoints -------------------------------------------------------------------------
    def save(self) -> None:
        self.world.save(self, self.write)  # under DDP: every rank's own state, written once by rank 0

    def write(self, ranks: list[dict] | None = None) -> None:
        state = checkpoint_state(self)
        if ranks is not None:
            state.update(world_size=self.world.world, ranks=ranks)
        ckpt.save_checkpoint(self.run.checkpoint, state, previous=self.run.previous_checkpoint)
        ckpt.save_generator(self.run.generator, self.sample_generator(), self.cfg.to_dict())

    def load(self, saved: dict) -> None:
        restore_state(self, saved)
        self.world.restore(self, saved)
        if self.world.is_main:
            self.history, self.findings = self.run.restore_records(self.state.epoch, saved.get("records"), self.echo)

    # ---- sampling ----------------------------------------------------------------------------
    def sample_generator(self) -> torch.nn.Module:
        """The generator that samples are drawn from: the weight average when EMA is on."""
        return self.ema.average if self.ema else self.G

    @torch.no_grad()
    def sample_fixed(self) -> torch.Tensor:
        """G on the fixed noise, drawn once per step however often it is asked for."""
        if self._fixed_samples is not None and self._fixed_samples[0] == self.state.step:
            return self._fixed_samples[1]
        G = self.sample_generator()
        G.eval()  # BatchNorm running statistics, and no update of them
        images = G(self.fixed_noise) if self.fixed_labels is None else G(self.fixed_noise, self.fixed_labels)
        self.G.train()
        self._fixed_samples = (self.state.step, images)
        return images

    # ---- the loop ----------------------------------------------------------------------------
    def epoch_order(self, epoch: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(derive_seed(self.cfg.seed, "shuffle", epoch))
        if self.draw_weights is None:
            return torch.randperm(len(self.data), generator=gen).to(self.device)
        # class_balance: as many draws as images, with replacement, the rarer classes more often
        return torch.multinomial(self.draw_weights, len(self.data), True, generator=gen).to(self.device)

    def fit(self) -> str:
        """Train until cfg.epochs (or max_steps / max_seconds, or Ctrl-C). Returns why it stopped:
        'done', 'max_steps', 'max_seconds' or 'interrupted'; raises TrainingDiverged on NaN/Inf."""
        cfg, state = self.cfg, self.state
        if self.world.is_main:
            save_config(cfg, self.run.config)
        self.echo(f"step: {self.step_path}")
        start = RunStart(cfg, self.run, state.epoch, state.step, self.step_path)
        for c in self.callbacks:
            c.on_start(start)
        reason = "done"
        with stop_on_ctrl_c(self):
            for epoch in range(state.epoch, cfg.epochs):
                outcome = self.run_epoch(epoch)
                if outcome != "epoch":
                    reason = outcome
                    break
        if reason in BUDGETS and state.epoch >= cfg.epochs:
            reason = "done"
        self.finish(reason)
        return reason

    def run_epoch(self, epoch: int) -> str:
        cfg, state = self.cfg, self.state
        order = self.epoch_order(epoch)
        if state.stats_sum is None:
            state.stats_sum = torch.zeros(len(STAT_NAMES), device=self.device)
        # On a terminal a live bar; in a log file (CI, nohup) a bar redraws as new lines, so none.
        bar = tqdm(total=len(self.batches), initial=state.batch, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   leave=False, disable=not (self.progress and sys.stderr.isatty()), unit="step",
                   dynamic_ncols=True)
        started = time.perf_counter()
        for start, end in self.batches[state.batch:]:
            # ---- one step: a batch by index, G and D updated, stats summed on the device
            real = to_float(self.images[order[start:end]])
            labels = None if self.labels is None else self.labels[order[start:end]]
            step_started = time.perf_counter()
            stats = self.step(real, labels)
            step_seconds = time.perf_counter() - step_started
            state.stats_sum += stats
            state.seconds += step_seconds
            if self.ema:
                self.ema.update(state.step)
            state.batch, state.step, state.steps_in_epoch = state.batch + 1, state.step + 1, state.steps_in_epoch + 1
            bar.update(1)
            if self.step_hooks:
                event = StepEnd(epoch + 1, state.batch, state.step, end - start, step_seconds, stats)
                for hook in self.step_hooks:
                    hook(event)
            # ---- a stop inside the epoch: save exactly here (every rank after the same step)
            stop, spent = self.world.stop(self.stop_requested), self.budget.spent(state.step, state.seconds)
            if (stop or spent) and state.batch < len(self.batches):
                state.seconds_in_epoch += time.perf_counter() - started
                bar.close()
                self.save()
                return "interrupted" if stop else spent
        bar.close()
        state.seconds_in_epoch += time.perf_counter() - started
        self.end_epoch(epoch)
        if self.world.stop(self.stop_requested):
            return "interrupted"
        return self.budget.spent(state.step, state.seconds) or "epoch"

    def end_epoch(self, epoch: int) -> None:
        state = self.state
        # ---- the step's stats, averaged over the epoch (and the ranks); NaN/Inf ends the run here
        means = (self.world.total(state.stats_sum) / max(state.steps_in_epoch, 1)).tolist()
        if not all(math.isfinite(v) for v in means) or not self.weights_finite():
            bad = ", ".join(f"{k}={v:.3g}" for k, v in zip(STAT_NAMES, means) if not math.isfinite(v)) or "weights"
            self.finish("diverged")
            kept = f"epoch {state.epoch}" if state.epoch else "none yet"
            raise TrainingDiverged(f"training diverged in epoch {epoch + 1} ({bad} became NaN/Inf); the last good "
                                   f"checkpoint ({kept}) is kept in {self.run.checkpoint}; lower lr_g/lr_d and resume or restart")
        record, samples, findings = self.epoch_record(epoch, means) if self.world.is_main else (None, None, [])
        state.epoch, state.batch, state.stats_sum = epoch + 1, 0, None
        state.steps_in_epoch, state.seconds_in_epoch = 0, 0.0
        if record is not None:
            self.history.append(record)
            self.findings += [finding_record(epoch + 1, finding) for finding in findings]
            # ---- hand it on, then checkpoint
            event = EpochEnd(self.cfg, self.run, record, self.history, samples, findings)
            for c in self.callbacks:
                c.on_epoch_end(event)
        self.save()
        if record is not None:
            self.echo(format_record(record, self.cfg.epochs))

    def epoch_record(self, epoch: int, means: list[float]) -> tuple[dict, torch.Tensor, list]:
        """The epoch's record (each field named where it is measured), its samples and health findings."""
        state = self.state
        record = {"epoch": epoch + 1, "step": state.step, **dict(zip(STAT_NAMES, means)),
                  "epoch_seconds": state.seconds_in_epoch,
                  "img_per_s": self.epoch_images / max(state.seconds_in_epoch, 1e-9),
                  "step_path": self.step_path}
        samples = self.sample_fixed()
        record["sample_spread"] = spread(samples)
        if self.evaluation and self.evaluation.due(epoch + 1):
            record.update(self.evaluation(self.sample_generator(), epoch + 1))
        record["warnings"], findings = self.health.check(self.history + [record])
        for finding in findings:
            self.echo(f"warning: {finding.message}")
        return record, samples, findings

    def weights_finite(self) -> bool:
        return all(torch.isfinite(p).all() for net in (self.G, self.D) for p in net.parameters())

    def finish(self, reason: str) -> None:
        event = RunEnd(self.cfg, self.run, reason, self.state.epoch)
        for c in self.callbacks:
            c.on_end(event)
