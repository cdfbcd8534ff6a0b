"""Start a new run or resume one. The loop itself is in loop.py, one step in step.py.

    result = train(build_config("default"), out="runs/first")
    result = train(cfg, callbacks=[Hooks(on_epoch_end=lambda e: print(e.record["g_loss"]))])
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config, config_from_dict
from ..errors import CheckpointError, WriteError
from ..fileio import write_error
from ..run import RunDir, new_run_dir, open_run
from ..run import checkpoint as ckpt
from .callbacks import Callback, Hooks  # noqa: F401  (Hooks: part of the API, see the docstring)
from .loop import Trainer

# What may change when a run continues; everything else is fixed by its checkpoint.
RESUMABLE_FIELDS = ("epochs", "max_steps", "device", "precision", "compile", "data_dir", "tensorboard",
                    "eval_every", "eval_n")


@dataclass
class TrainResult:
    run: RunDir
    reason: str  # done | max_steps | interrupted
    records: list[dict]


def train(cfg: Config, out: str | Path | None = None, runs_root: str | Path = "runs",
          callbacks: list[Callback] = (), progress: bool = True, echo=print) -> TrainResult:
    """Train a new run into `out` (default: a new dated folder under runs_root). `callbacks` are
    called besides the run folder's own writers (training/callbacks)."""
    run = RunDir(Path(out)) if out else new_run_dir(cfg, runs_root)
    try:
        run.root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_error(run.root, err) from None
    with run.writing():
        if run.has_checkpoint():
            raise CheckpointError(f"{run.root} already holds a run; resume it with --resume {run.root} or choose another --out")
        echo(f"run folder: {run.root}")
        run.remove_temp_files()
        run.restore_records(0, echo=echo)  # records of an earlier try that never reached a checkpoint
        trainer = Trainer(cfg, run, callbacks=callbacks, progress=progress, echo=echo)
        reason = fit(trainer)
    return TrainResult(run, reason, trainer.history)


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
    starts again from its config."""
    run = open_run(run_dir)
    cfg = resume_config(run, overrides)
    with run.writing():
        run.remove_temp_files()
        saved = resume_checkpoint(run, cfg, echo)
        trainer = Trainer(cfg, run, callbacks=callbacks, progress=progress, echo=echo)
        if saved is None:
            run.restore_records(0, echo=echo)
            echo(f"run folder: {run.root} (no checkpoint yet: starting it from the beginning)")
        else:
            trainer.load(saved)
            echo(f"run folder: {run.root} (resuming after epoch {trainer.state.epoch}, step {trainer.state.step})")
        reason = fit(trainer)
    return TrainResult(run, reason, trainer.history)


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
        raise WriteError(f"{err}; the run stopped, and what it wrote before is intact: once fixed, run "
                         f"ganforge train --resume {trainer.run.root}") from None
