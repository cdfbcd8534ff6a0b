"""A run folder read as it may be found: while training writes it, after a kill, or half made.

Nothing here trusts the folder to be complete. A last line of metrics.jsonl without its newline
(an append in progress, or cut by a kill) is left out and named in `notes`; so is a line that is
not JSON, or a config.yaml that cannot be read yet. The viewers that watch runs live (the web
page) read through here, and never change a file.

A run's state is read from what the folder holds:
    diverged     diagnosis.jsonl records the NaN/Inf stop
    finished     metrics.jsonl reaches the config's epochs
    running      the process named in writer.lock is alive (lock.writer_alive); where that cannot be
                 told (the writer on another host, a folder from an older ganforge), the folder was
                 written recently (within a few epochs' time; STARTING_SECONDS before a first epoch)
    interrupted  otherwise: stopped by Ctrl-C, max_steps, max_seconds or a kill; `train --resume` continues it
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import RunDir
from .jsonl import read_jsonl
from .lock import writer_alive

ACTIVE_EPOCHS = 3  # a run is running while its last write is younger than this many epochs...
ACTIVE_MIN_SECONDS = 60  # ...or than this, whichever is longer (epochs can be very short)
STARTING_SECONDS = 600  # no epoch yet: loading a dataset or building a judge can take minutes


def read_config_tolerant(path: Path, notes: list[str]) -> dict | None:
    """config.yaml as plain values (safe_load: nothing in it runs), or None with a note."""
    try:
        values = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        notes.append("no config.yaml yet: the run is starting")
        return None
    except (yaml.YAMLError, UnicodeDecodeError):
        notes.append("config.yaml cannot be read (being written?)")
        return None
    if not isinstance(values, dict):
        notes.append("config.yaml does not hold a config")
        return None
    return values


@dataclass
class RunSnapshot:
    """What a run folder holds at one moment."""

    run: RunDir
    config: dict | None
    records: list[dict]
    findings: list[dict]
    sample_epochs: list[int]
    last_write: float  # newest modification time among the files training writes (seconds since the epoch)
    notes: list[str] = field(default_factory=list)
    writer_alive: bool | None = None  # lock.writer_alive: None when it cannot be told

    @property
    def epochs_done(self) -> int:
        return int(self.records[-1].get("epoch", 0)) if self.records else 0

    def state(self, now: float | None = None) -> tuple[str, str]:
        """(running | finished | interrupted | diverged, a few words on why)."""
        now = time.time() if now is None else now
        if any(f.get("code") == "diverged" for f in self.findings):
            return "diverged", "losses became NaN/Inf; the last good checkpoint is kept"
        epochs = (self.config or {}).get("epochs")
        if isinstance(epochs, int) and self.records and self.epochs_done >= epochs:
            return "finished", f"{self.epochs_done} of {epochs} epochs"
        if self.writer_alive is not None:
            return ("running", "its training process is alive") if self.writer_alive else (
                "interrupted", f"its training process has ended; continue it with ganforge train --resume {self.run.root}")
        quiet = max(0.0, now - self.last_write)
        if not self.records:
            if quiet < STARTING_SECONDS:
                return "running", "starting: no epoch finished yet"
            return "interrupted", "stopped before its first epoch ended"
        seconds = self.records[-1].get("epoch_seconds")
        window = max(ACTIVE_MIN_SECONDS, ACTIVE_EPOCHS * seconds if isinstance(seconds, (int, float)) else 0)
        # the words name a moment, not an age, so they change only when the folder does
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.last_write))
        if quiet < window:
            return "running", f"last write at {when[11:]}"
        return "interrupted", f"no write since {when}; continue it with ganforge train --resume {self.run.root}"


def watched_files(run: RunDir) -> list[Path]:
    """The files and folders whose changes mean the run moved on."""
    return [run.config, run.metrics, run.diagnosis, run.samples, run.gif, run.generator, run.checkpoint]


def signature(run: RunDir) -> tuple:
    """Changes whenever a watched file does: (size, mtime) of each, missing ones as None."""
    marks = []
    for path in watched_files(run):
        try:
            stat = path.stat()
            marks.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            marks.append(None)
    return tuple(marks)


def snapshot(run: RunDir) -> RunSnapshot:
    notes: list[str] = []
    config = read_config_tolerant(run.config, notes)
    records = read_jsonl(run.metrics, notes, strict=False)
    findings = read_jsonl(run.diagnosis, notes, strict=False)
    epochs = []
    for path in run.sample_paths():
        try:
            epochs.append(int(path.stem.split("_")[1]))
        except (IndexError, ValueError):
            continue  # not a grid training wrote
    times = [run.root.stat().st_mtime]
    for path in watched_files(run):
        try:
            times.append(path.stat().st_mtime)
        except OSError:
            pass
    return RunSnapshot(run, config, records, findings, sorted(epochs), max(times), notes, writer_alive(run.root))
