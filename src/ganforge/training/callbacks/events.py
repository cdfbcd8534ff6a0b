"""What the training loop tells its callbacks. A callback gets these, never the Trainer: it can
see what happened but cannot change training."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import torch

from ...config import Config
from ...diagnose import Finding
from ...run import RunDir


@dataclass(frozen=True)
class RunStart:
    cfg: Config
    run: RunDir
    epoch: int  # epochs already done (0 for a new run)
    step: int
    step_path: str  # how the step runs, e.g. "joint, fused CPU kernels, fp32, eager, cpu"


@dataclass(frozen=True)
class StepEnd:
    epoch: int  # the epoch this step belongs to, counted from 1
    batch: int  # batches done in this epoch, this one included
    step: int  # optimiser steps done in total, this one included
    images: int  # real images in this step's batch
    seconds: float  # wall time of the step call
    stats: torch.Tensor  # the step's STAT_NAMES (run/records.py), on the training device


@dataclass
class EpochEnd:
    cfg: Config
    run: RunDir
    record: dict  # the epoch's complete record, as metrics.jsonl stores it (treat as read-only)
    history: list[dict]  # every record of the run so far, this one last
    samples: torch.Tensor  # the fixed-noise images after this epoch, float in [-1, 1]
    findings: list[Finding] = field(default_factory=list)  # health findings that start this epoch

    @property
    def epoch(self) -> int:
        return self.record["epoch"]

    @cached_property
    def grid(self):
        """The samples as one PIL grid, made once however many callbacks show it."""
        from ...viz import grid_image

        return grid_image(self.samples, nrow=max(1, round(len(self.samples) ** 0.5)))


@dataclass(frozen=True)
class RunEnd:
    cfg: Config
    run: RunDir
    reason: str  # done | max_steps | max_seconds | interrupted | diverged
    epoch: int  # epochs completed
