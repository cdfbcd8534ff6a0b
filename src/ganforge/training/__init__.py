"""Start a new run or resume one. The loop itself is in loop.py, one step in step.py.

    result = train(build_config("default"), out="runs/first")
    result = train(cfg, callbacks=[Hooks(on_epoch_end=lambda e: print(e.record["g_loss"]))])
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config, config_from_dict
from ..errors import CheckpointError, WriteError
from ..fileio import write_error
from ..run import RunDir, new_run_dir, open_run
from ..run import checkpoint as ckpt
from .callbacks import Callback, Hooks  # noqa: F401  (Hooks: part of the API, see the docstring)
from .distributed import session
from .loop import Trainer
from .stopping import REASONS as BUDGETS  # noqa: F401  (a TrainResult's reasons when a budget stopped it)

# What may change when a run continues; everything else is fixed by its checkpoint.
RESUMABLE_FIELDS = ("epochs", "max_steps", "max_seconds", "device", "precision", "compile", "data_dir", "tensorboard",
                    "eval_every", "eval_n")


@dataclass
class TrainResult:
    run: RunDir
    reason: str  # done | max_steps | max_seconds | interrupted
    records: list[dict]


def train(cfg: Config, out: str | Path | None = None, runs_root: str | Path = "runs",
          callbacks: list[Callback] = (), progress: bool = True, echo=print) -> TrainResult:
    """Train a new run into `out` (default: a new dated folder under runs_root). `callbacks` are
    called besides the run folder's own writers (training/callbacks). Under torchrun, each rank
    calls this; rank 0 alone makes the folder, holds its lock and writes (distributed.py)."""
    made = []  # the folder, if this call made it and holds its lock (rank 0)
    try:
        with session() as world, ExitStack() as held:
            echo = world.echo(echo)
            run = world.first(lambda: start_run(cfg, out, runs_root, held, echo, made))
            world.note_run(run.root)
            trainer = make_trainer(cfg, run, callbacks=callbacks, progress=progress, echo=echo, world=world)
            reason = fit(trainer)
    except BaseException:
        for new in made:  # the lock is released by now
            new.remove_if_unused()
        raise
    return TrainResult(run, reason, trainer.history)


def make_trainer(cfg: Config, run: RunDir, **options):
    """The loop for cfg.task: noise -> image (loop.py), or image -> image (translate.py)."""
    if cfg.task == "cycle":
        from .cycle import CycleTrainer

        return CycleTrainer(cfg, run, **options)
    if cfg.task != "gan":
        from .translate import TranslateTrainer

        return TranslateTrainer(cfg, run, **options)
    return Trainer(cfg, run, **options)


def start_run(cfg: Config, out, runs_root, held: ExitStack, echo, made: list) -> RunDir:
    """A new run's folder, made, locked (until `held` closes) and checked to hold no run yet;
    appended to `made` if this call made it."""
    run = RunDir(Path(out)) if out else new_run_dir(cfg, runs_root)
    existed = run.root.exists()
    try:
        run.root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_error(run.root, err) from None
    held.enter_context(run.writing())
    if not existed:
        made.append(run)
    if run.has_checkpoint():
        raise CheckpointError(f"{run.root} already holds a run; resume it with --resume {run.root} or choose another --out")
    echo(f"run folder: {run.root}")
    run.remove_temp_files()
    run.restore_records(0, echo=echo)  # records of an earlier try that never reached a checkpoint
    return run


def resume_config(run: RunDir, overrides: dict[str, Any] | None = None) -> Config:
    """The run's own config with the allowed overrides; other changes are refused in one line."""
    values = run.read_config().to_dict()
    for key, value in (overrides or {}).items():
        if key in RESUMABLE_FIELDS:
            values[key] = value
        elif values.get(key) != value:
            raise CheckpointError(f"{run.root} was trained with {key}={values.get(key)!r}; it cannot resume with "
                                  f"{key}={value!r} (only {', '.join(RESUMABLE_FIELDS)} may change); start a new run instead")
    return config_from_dict(values)


def resume(run_dir: str | Path, overrides: dict[str, Any] | None = None, callbacks: list[Callback] = (),
           progress: bool = True, echo=print) -> TrainResult:
    """Continue a run from its newest readable checkpoint; a run killed before its first checkpoint
    starts again from its config. Under torchrun, rank 0 reads the run and hands it to every rank."""
    with session() as world, ExitStack() as held:
        echo = world.echo(echo)
        run, cfg, saved = world.first(lambda: reopen_run(run_dir, overrides, held, world.world, echo))
        world.note_run(run.root)
        trainer = make_trainer(cfg, run, callbacks=callbacks, progress=progress, echo=echo, world=world)
        if saved is None:
            world.first(lambda: run.restore_records(0, echo=echo))
            echo(f"run folder: {run.root} (no checkpoint yet: starting it from the beginning)")
        else:
            trainer.load(saved)
            echo(f"run folder: {run.root} (resuming after epoch {trainer.state.epoch}, step {trainer.state.step})")
        reason = fit(trainer)
    return TrainResult(run, reason, trainer.history)


def reopen_run(run_dir, overrides, held: ExitStack, processes: int, echo) -> tuple[RunDir, Config, dict | None]:
    """The run, its config and its newest checkpoint (None if none yet), locked until `held` closes.
    A checkpoint holds each rank's own streams, so it resumes only with as many processes."""
    run = open_run(run_dir)
    cfg = resume_config(run, overrides)
    held.enter_context(run.writing())
    run.remove_temp_files()
    saved = resume_checkpoint(run, cfg, echo)
    trained_by = 1 if saved is None else saved.get("world_size", 1)
    if trained_by != processes:
        how = "one process (ganforge train --resume RUN)" if trained_by == 1 else \
            f"{trained_by} processes (ganforge train --resume RUN --nproc {trained_by}, or torchrun with {trained_by} in all)"
        raise CheckpointError(f"{run.root} was trained by {trained_by} process{'es' if trained_by > 1 else ''} and "
                              f"this is {processes}; resume it with {how}: its checkpoint holds each process's own "
                              "random streams and BatchNorm statistics")
    return run, cfg, saved


def resume_checkpoint(run: RunDir, cfg: Config, echo) -> dict | None:
    """The newest checkpoint that can be read (last.pt, else previous.pt, saying why); None if the
    run has none. A damaged last.pt is set aside, so the next save does not make it previous.pt."""
    if not run.has_checkpoint():
        return None
    saved, _, note = ckpt.newest_checkpoint(run.checkpoint, run.previous_checkpoint, wanted_config=cfg.to_dict())
    if note:
        if run.checkpoint.exists():
            aside = run.checkpoint.with_name("last.pt.damaged")
            try:
                os.replace(run.checkpoint, aside)
            except OSError as err:
                raise write_error(aside, err) from None
            note += f"; the damaged file is kept as {aside.name}"
        echo(f"note: {note}")
    return saved


def fit(trainer: Trainer) -> str:
    """trainer.fit(), with how to carry on added to a failed write's one line."""
    try:
        return trainer.fit()
    except WriteError as err:
        again = f" --nproc {trainer.world.world}" if trainer.world.world > 1 else ""
        raise WriteError(f"{err}; the run stopped, and what it wrote before is intact: once fixed, run "
                         f"ganforge train --resume {trainer.run.root}{again}") from None
