"""Callbacks: what training hands its results to. The run folder's own writers are callbacks, and
so is anything a user or a benchmark adds (a notebook's live grid, a timing hook).

A callback subclasses Callback and overrides any of on_start(RunStart), on_step(StepEnd),
on_epoch_end(EpochEnd) and on_end(RunEnd) (events.py). They receive events, not the Trainer,
and each sees the finished record, so their order does not matter.
"""

from __future__ import annotations

from .events import EpochEnd, RunEnd, RunStart, StepEnd


class Callback:
    def on_start(self, event: RunStart) -> None:
        pass

    def on_step(self, event: StepEnd) -> None:
        pass

    def on_epoch_end(self, event: EpochEnd) -> None:
        pass

    def on_end(self, event: RunEnd) -> None:
        pass


class Hooks(Callback):
    """Plain functions as a callback: Hooks(on_step=fn, on_epoch_end=fn2)."""

    def __init__(self, on_start=None, on_step=None, on_epoch_end=None, on_end=None):
        for name, fn in (("on_start", on_start), ("on_step", on_step), ("on_epoch_end", on_epoch_end),
                         ("on_end", on_end)):
            if fn is not None:
                setattr(self, name, fn)


def overrides(callback: Callback, name: str) -> bool:
    """Whether `callback` does something on `name` (the loop calls per-step hooks only where one does)."""
    return name in vars(callback) or getattr(type(callback), name) is not getattr(Callback, name)


def run_folder_callbacks(cfg) -> list[Callback]:
    """The writers that make a run folder what run/ says it is."""
    from .logs import DiagnosisLog, LossPlot, MetricsLog
    from .samples import ProgressGif, SampleGrid

    callbacks = [SampleGrid(), MetricsLog(), DiagnosisLog(), LossPlot(), ProgressGif()]
    if cfg.tensorboard:
        from .tensorboard import TensorBoardLog

        callbacks.append(TensorBoardLog())
    return callbacks


__all__ = ["Callback", "Hooks", "RunStart", "StepEnd", "EpochEnd", "RunEnd", "run_folder_callbacks"]
