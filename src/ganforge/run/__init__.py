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
  checkpoints/last.pt      everything needed to resume (atomic; plain data, read without running code)
  checkpoints/previous.pt  the checkpoint before it, for when last.pt is damaged
  generator.safetensors    G's weights (+ config in the metadata) for `generate`
  writer.lock              held by the one process training the run (lock.py)
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..config import Config, read_config
from ..errors import CheckpointError
from .jsonl import append_jsonl, read_jsonl, rewrite_jsonl
from .lock import LOCK_NAME, writer_lock


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
    previous_checkpoint = property(lambda self: self.root / "checkpoints" / "previous.pt")
    generator = property(lambda self: self.root / "generator.safetensors")
    lock_file = property(lambda self: self.root / LOCK_NAME)

    def sample_path(self, epoch: int) -> Path:
        return self.samples / f"epoch_{epoch:04d}.png"

    def sample_paths(self) -> list[Path]:
        return sorted(self.samples.glob("epoch_*.png"))

    def read_metrics(self, notes: list[str] | None = None) -> list[dict]:
        """The epoch records; a cut-off last line is skipped and described in `notes`."""
        return read_jsonl(self.metrics, notes)

    def read_diagnosis(self, notes: list[str] | None = None) -> list[dict]:
        return read_jsonl(self.diagnosis, notes)

    def append_metrics(self, record: dict) -> None:
        append_jsonl(self.metrics, record)

    def append_diagnosis(self, finding: dict) -> None:
        append_jsonl(self.diagnosis, finding)

    def has_checkpoint(self) -> bool:
        return self.checkpoint.exists() or self.previous_checkpoint.exists()

    def writing(self):
        """The writer lock, held by train and resume for the whole run (lock.py)."""
        return writer_lock(self.root)

    def remove_if_unused(self) -> None:
        """Remove the folder if it holds nothing but its lock file: a new run that failed while
        setting up (bad data, Ctrl-C) leaves no folder behind that viewers would take for a run."""
        if [p.name for p in self.root.iterdir()] == [LOCK_NAME]:
            (self.root / LOCK_NAME).unlink()
            self.root.rmdir()

    def remove_temp_files(self) -> None:
        """Delete the temp files a killed writer left (fileio.make_temp names them .NAME.XXXX.tmp).
        Only the lock's holder calls this, so no live writer is using them."""
        for folder in (self.root, self.root / "checkpoints", self.samples):
            for path in folder.glob(".*.tmp"):
                path.unlink(missing_ok=True)

    def restore_records(self, epoch: int, saved: dict[str, str] | None = None, echo=print) -> tuple[list, list]:
        """On resume, make metrics.jsonl and diagnosis.jsonl hold exactly the records up to `epoch`,
        where the checkpoint is: its own copy of them (`saved`, JSON lines per file name) when it has
        one, else the files' records of those epochs. Records written after the checkpoint, and a
        cut-off last line, are dropped. Returns (metrics, findings)."""
        kept = []
        for path in (self.metrics, self.diagnosis):
            notes = []
            try:
                records = [r for r in read_jsonl(path, notes) if r.get("epoch", 0) <= epoch]
            except CheckpointError:  # a damaged line before the last: only the checkpoint's copy can mend it
                if not saved:
                    raise
                notes = [f"{path.name} had a damaged line; rewritten from the checkpoint's copy"]
            if saved:
                records = [json.loads(line) for line in saved[path.name].splitlines() if line.strip()]
            if records or path.exists():
                rewrite_jsonl(path, records)
            for note in notes:
                echo(f"note: {note}")
            kept.append(records)
        return kept[0], kept[1]

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
