"""The run folder: the contract between training and everything that looks at its results.

This package imports nothing from training: the trainer writes through it, and the viewers
(generate, evaluate, info, the web page, export) read through it.

runs/2026-11-22_mnist_dcgan28/
  config.yaml              resolved config, enough to rebuild the networks
  metrics.jsonl            one JSON object per epoch (append-only)
  diagnosis.jsonl          training-health findings, one per line (diagnose.py)
  samples/epoch_0001.png   fixed-noise grid after each epoch
  progress.gif             all grids (end of training and on interrupt)
  losses.png               G/D loss and D accuracy per epoch
  tensorboard/             TensorBoard event files
  checkpoints/last.pt      everything needed to resume (atomic)
  generator.safetensors    G's weights (+ config in the metadata) for `generate`
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path

from ..config import Config, read_config
from ..errors import CheckpointError
from .jsonl import append_jsonl, read_jsonl, rewrite_jsonl


@dataclass(frozen=True)
class RunDir:
    root: Path

    config = property(lambda self: self.root / "config.yaml")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    diagnosis = property(lambda self: self.root / "diagnosis.jsonl")
    samples = property(lambda self: self.root / "samples")
    gif = property(lambda self: self.root / "progress.gif")
    loss_plot = property(lambda self: self.root / "losses.png")
    tensorboard = property(lambda self: self.root / "tensorboard")
    checkpoint = property(lambda self: self.root / "checkpoints" / "last.pt")
    generator = property(lambda self: self.root / "generator.safetensors")

    def sample_path(self, epoch: int) -> Path:
        return self.samples / f"epoch_{epoch:04d}.png"

    def sample_paths(self) -> list[Path]:
        return sorted(self.samples.glob("epoch_*.png"))

    def read_metrics(self) -> list[dict]:
        return read_jsonl(self.metrics)

    def read_diagnosis(self) -> list[dict]:
        return read_jsonl(self.diagnosis)

    def append_metrics(self, record: dict) -> None:
        append_jsonl(self.metrics, record)

    def append_diagnosis(self, finding: dict) -> None:
        append_jsonl(self.diagnosis, finding)

    def keep_metrics_up_to(self, epoch: int) -> list[dict]:
        """On resume, drop records of epochs the checkpoint does not contain (written after it);
        returns the records kept."""
        records = [r for r in self.read_metrics() if r.get("epoch", 0) <= epoch]
        rewrite_jsonl(self.metrics, records)
        return records

    def read_config(self) -> Config:
        return read_config(self.config)


def new_run_dir(cfg: Config, parent: str | Path = "runs") -> RunDir:
    """A new folder named by date, dataset and arch; a numeric suffix keeps names unique."""
    dataset = re.sub(r"[^A-Za-z0-9-]+", "-", cfg.dataset.split(":")[-1].strip("/")).strip("-") or "data"
    base = f"{datetime.date.today().isoformat()}_{dataset}_{cfg.arch}"
    parent = Path(parent)
    path, n = parent / base, 1
    while path.exists():
        n += 1
        path = parent / f"{base}_{n}"
    return RunDir(path)


def open_run(path: str | Path) -> RunDir:
    """An existing run folder, checked to have its config."""
    run = RunDir(Path(path))
    if not run.root.is_dir():
        raise CheckpointError(f"run folder {run.root} does not exist; pass the folder `ganforge train` printed")
    if not run.config.is_file():
        raise CheckpointError(f"{run.root} is not a ganforge run folder (no config.yaml)")
    return run
