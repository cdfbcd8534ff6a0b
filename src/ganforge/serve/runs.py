"""The runs folder as the page sees it: which runs there are, what each holds, and which files may
be sent. Every name and path from a request is resolved here and must stay inside the folder.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..data import CLASS_NAMES
from ..run import RunDir
from ..run.status import RunSnapshot, signature, snapshot
from ..errors import NotFound

IMAGE_TYPES = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".webp": "image/webp"}
RUN_MARKERS = ("config.yaml", "metrics.jsonl", "checkpoints")  # any of these makes a folder a run
SHOWN_CONFIG = ("dataset", "preset", "arch", "loss", "conditional", "num_classes", "image_size", "channels")


def clean(value):
    """JSON-safe for a browser: NaN and infinities (which Python's json writes) become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


class RunsRoot:
    """RUNS_DIR, read-only. Snapshots are cached by each run's file signature, so a page that
    watches many runs re-reads only those that changed."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self._cache: dict[str, tuple[tuple, RunSnapshot]] = {}

    def inside(self, path: Path) -> bool:
        """Whether `path`, with every symlink followed, is within the runs folder."""
        try:
            return path.resolve().is_relative_to(self.root)
        except (OSError, RuntimeError):  # a symlink loop
            return False

    def names(self) -> list[str]:
        try:
            entries = sorted(os.scandir(self.root), key=lambda e: e.name)
        except OSError:
            return []
        return [e.name for e in entries if not e.name.startswith(".") and self._is_run(Path(e.path))]

    def _is_run(self, path: Path) -> bool:
        return path.is_dir() and self.inside(path) and any((path / m).exists() for m in RUN_MARKERS)

    def run(self, name: str) -> RunDir:
        """The run called `name` (one folder name, nothing else), or NotFound."""
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name or name.startswith("."):
            raise NotFound(f"no run {name!r} in {self.root}")
        path = self.root / name
        if not self._is_run(path):
            raise NotFound(f"no run {name!r} in {self.root}")
        return RunDir(path)

    def file(self, relative: str) -> Path:
        """An image file under the runs folder, by its path relative to it; NotFound for anything
        else: other file types, dot-files, and paths that leave the folder (.., absolute, symlinks)."""
        if "\0" in relative:
            raise NotFound("no such file")
        parts = Path(relative).parts
        if not parts or Path(relative).is_absolute() or any(p in ("..", ".") or p.startswith(".") for p in parts):
            raise NotFound("no such file")
        path = self.root.joinpath(*parts)
        if path.suffix.lower() not in IMAGE_TYPES or not self.inside(path) or not path.is_file():
            raise NotFound("no such file")
        return path

    def snapshot(self, name: str) -> RunSnapshot:
        run = self.run(name)
        mark = signature(run)
        cached = self._cache.get(name)
        if cached is None or cached[0] != mark:
            cached = (mark, snapshot(run))
            self._cache[name] = cached
        return cached[1]

    def summary(self, name: str) -> dict:
        snap = self.snapshot(name)
        config = snap.config or {}
        state, why = snap.state()
        evals = [r for r in snap.records if r.get("eval_fid") is not None]
        last = snap.sample_epochs[-1] if snap.sample_epochs else None
        return clean({
            "name": name,
            **{key: config.get(key) for key in SHOWN_CONFIG},
            "state": state,
            "state_detail": why,
            "epochs_done": snap.epochs_done,
            "epochs": config.get("epochs"),
            "last_fid": evals[-1]["eval_fid"] if evals else None,
            "last_classes": evals[-1].get("eval_classes_covered") if evals else None,
            "thumbnail": None if last is None else f"/files/{name}/samples/epoch_{last:04d}.png",
            "has_generator": snap.run.generator.is_file(),
            "updated": snap.last_write,
            "notes": snap.notes,
        })

    def summaries(self) -> list[dict]:
        found, names = [], self.names()
        self._cache = {name: entry for name, entry in self._cache.items() if name in names}
        for name in names:
            try:
                found.append(self.summary(name))
            except NotFound:  # removed between listing and reading
                continue
        return found

    def detail(self, name: str) -> dict:
        """Everything the run page shows: summary, resolved config, records, findings, grids."""
        snap = self.snapshot(name)
        config = snap.config or {}
        classes = int(config.get("num_classes") or 0) if config.get("conditional") else 0
        names = CLASS_NAMES.get(config.get("dataset"), [])
        return clean({
            **self.summary(name),
            "config": config,
            "records": snap.records,
            "findings": snap.findings,
            "sample_epochs": snap.sample_epochs,
            "gif": f"/files/{name}/progress.gif" if snap.run.gif.is_file() else None,
            "class_names": names if len(names) == classes else [f"class {k}" for k in range(classes)],
            "upscalers": self.upscalers(config),
        })

    def upscalers(self, config: dict) -> list[str]:
        """The super-resolution runs here whose net takes this noise run's images (`generate --upscale`):
        same channels, and their input size (image_size / scale) is its image size."""
        if config.get("task", "gan") != "gan":
            return []
        found = []
        for name in self.names():
            try:
                snap = self.snapshot(name)
            except NotFound:  # removed between listing and reading
                continue
            sr = snap.config or {}
            if sr.get("task") == "sr" and snap.run.generator.is_file() and sr.get("channels") == config.get("channels") \
                    and sr.get("image_size", 0) == config.get("image_size", -1) * sr.get("scale", 0):
                found.append(name)
        return found
