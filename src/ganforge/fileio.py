"""Atomic file writes: a reader sees the old complete file or the new one, never half of one,
even when the process is killed mid-write (temp file in the same folder, fsync, rename). And the
one root of ganforge's user cache: data/ (downloads), judges/ and references/ (metrics)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def cache_root() -> Path:
    """$GANFORGE_CACHE, else $XDG_CACHE_HOME/ganforge, else ~/.cache/ganforge."""
    if os.environ.get("GANFORGE_CACHE"):
        return Path(os.environ["GANFORGE_CACHE"]).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg).expanduser().resolve() / "ganforge"


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call write(tmp_path), then move tmp_path over path in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
