"""Atomic file writes: a reader sees the old complete file or the new one, never half of one,
even when the process is killed mid-write (temp file in the same folder, fsync, rename). A write
that fails (disk full, read-only folder) leaves the old file as it was and raises WriteError, one
line naming the path and the cause. And the one root of ganforge's user cache: data/ (downloads),
judges/ and references/ (metrics)."""

from __future__ import annotations

import errno
import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from .errors import WriteError

# What to do about the failures a user meets; any other errno still gets its name and path.
WRITE_HINTS = {
    errno.ENOSPC: "free some space",
    errno.EDQUOT: "free some space or raise the disk quota",
    errno.EROFS: "the file system is read-only; write somewhere else",
    errno.EACCES: "no permission to write there; fix the folder's permissions or write somewhere else",
    errno.EPERM: "not permitted to write there; fix the folder's permissions or write somewhere else",
    errno.EFBIG: "the file is larger than this file system or a ulimit allows",
}


def cache_root() -> Path:
    """$GANFORGE_CACHE, else $XDG_CACHE_HOME/ganforge, else ~/.cache/ganforge."""
    if os.environ.get("GANFORGE_CACHE"):
        return Path(os.environ["GANFORGE_CACHE"]).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg).expanduser().resolve() / "ganforge"


def write_error(path: str | Path, err: OSError) -> WriteError:
    """`err` as one line: the file we meant to write (not its temp file), the cause and what to do."""
    code = errno.errorcode.get(err.errno, str(err.errno))
    hint = WRITE_HINTS.get(err.errno, "check the disk and the folder")
    return WriteError(f"cannot write {path}: {err.strerror or err} ({code}); {hint}")


def atomic_write(path: str | Path, write: Callable[[str], None], keep_old: str | Path | None = None) -> None:
    """Call write(tmp_path), then move tmp_path over path in one rename. keep_old: where the file
    being replaced stays (a checkpoint's previous.pt)."""
    path = Path(path)
    try:
        tmp = make_temp(path)
        try:
            write(tmp)
            fsync_file(tmp)
            if keep_old is not None and path.exists():
                keep(path, Path(keep_old))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        fsync_dir(path.parent)
    except WriteError:
        raise
    except OSError as err:
        if err.errno is None:  # e.g. PIL's "cannot write mode P as JPEG": not a file-system failure
            raise
        raise write_error(path, err) from None


def save_npz(path: str | Path, **arrays) -> None:
    """`arrays` as one compressed .npz at exactly `path`, atomically (handed a name, numpy would add
    ".npz" to the temp file's; handed a file, it leaves closing it to us)."""
    import numpy as np

    def write(tmp: str) -> None:
        with open(tmp, "wb") as file:
            np.savez_compressed(file, **arrays)

    atomic_write(path, write)


def keep(path: Path, old: Path) -> None:
    """Make `old` a second name of `path` (a hard link, set in place by one rename), so that until
    `path` is replaced both names hold the same complete file, and after it `old` holds the file
    that was replaced. Where a file system has no hard links, a copy does the same."""
    tmp = make_temp(old)
    try:
        os.unlink(tmp)  # os.link needs a free name
        try:
            os.link(path, tmp)
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.EMLINK, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            shutil.copyfile(path, tmp)
            fsync_file(tmp)
        os.replace(tmp, old)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_temp(path: Path) -> str:
    """A new empty temp file beside `path`; its name starts with "." and ends with ".tmp", so a
    writer can sweep up what a killed process left (RunDir.remove_temp_files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide a shared run's files from its readers
    except (OSError, AttributeError):  # a file system without modes, or Windows (no fchmod)
        pass
    finally:
        os.close(fd)
    return tmp


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it, so put it straight back
    os.umask(mask)
    return mask


def fsync_file(path: str | Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` survive a power cut (the folder's entry list is data too)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some systems cannot open a folder; the rename itself is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def append_line(path: str | Path, text: str) -> None:
    """Append one line in a single write call and fsync it. A kill or a full disk can cut the line
    short, never an earlier one; readers ignore a last line without its newline (run/jsonl.py)."""
    data = (text + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as err:
        raise write_error(path, err) from None
