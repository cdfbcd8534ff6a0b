"""Start a new run or resume one. The loop itself is in loop.py, one step in step.py.

    result = train(build_config("default"), out="runs/first")
    result = train(cfg, callbacks=[Hooks(on_epoch_end=lambda e: print(e.record["g_loss"]))])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config, config_from_dict
from ..errors import CheckpointError
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
    if run.checkpoint.exists():
        raise CheckpointError(f"{run.root} already holds a run; resume it with --resume {run.root} or choose another --out")
    run.root.mkdir(parents=True, exist_ok=True)
    echo(f"run folder: {run.root}")
    trainer = Trainer(cfg, run, callbacks=callbacks, progress=progress, echo=echo)
    reason = trainer.fit()
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
    run = open_run(run_dir)
    cfg = resume_config(run, overrides)
    saved = ckpt.load_checkpoint(run.checkpoint, wanted_config=cfg.to_dict())
    trainer = Trainer(cfg, run, callbacks=callbacks, progress=progress, echo=echo)
    trainer.load(saved)
    state = trainer.state
    echo(f"run folder: {run.root} (resuming after epoch {state.epoch}, step {state.step})")
    reason = trainer.fit()
    return TrainResult(run, reason, trainer.history)
