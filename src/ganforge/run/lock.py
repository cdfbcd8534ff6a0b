"""One writer per run folder: `train` and `train --resume` hold an OS lock on RUN/writer.lock for
the whole run; readers (info, generate, evaluate, the web page) never touch it.

The lock is flock(2) on the open file, so the kernel drops it when the process ends, however it
ends (SIGKILL, OOM killer, a closed laptop's lost session): a dead writer never leaves a stale lock
and nothing needs cleaning up by hand. The file itself stays; it only says who held the lock last
(PID, host, since when), for the message a second writer gets.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path

from ..errors import RunBusy
from ..fileio import write_error

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there go unlocked (README: "What survives what")
    fcntl = None

LOCK_NAME = "writer.lock"


@contextmanager
def writer_lock(root: Path):
    """Hold `root`'s writer lock inside the block; RunBusy at once if another process holds it."""
    path = Path(root) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise write_error(path, err) from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunBusy(busy_message(Path(root), holder(path))) from None
            write_holder(fd)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock


def write_holder(fd: int) -> None:
    since = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since}) + "\n"
    try:
        os.ftruncate(fd, 0)
        os.write(fd, info.encode())
    except OSError:  # a full disk: the lock holds all the same, and the run's first real write says why
        pass


def holder(path: Path) -> dict:
    """Who holds the lock, as its holder wrote it; {} while the holder has not written yet."""
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def writer_alive(root: Path) -> bool | None:
    """Is the last process that locked `root` still alive? None when that cannot be told from here
    (no lock file yet, or the writer ran on another host). Readers use this instead of the lock
    itself, so a page watching a run can never stand in the way of its writer."""
    info = holder(Path(root) / LOCK_NAME)
    if not info or info.get("host") != socket.gethostname() or not isinstance(info.get("pid"), int):
        return None
    try:
        os.kill(info["pid"], 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def busy_message(root: Path, info: dict) -> str:
    if not info:
        return (f"{root} is being trained by another process that has just started; wait for it to finish, "
                f"or stop it, then run: ganforge train --resume {root}")
    pid, host = info.get("pid"), info.get("host")
    here = host == socket.gethostname()
    stop = f"stop it (kill {pid})" if here else f"stop it on {host} (kill {pid} there)"
    return (f"{root} is being trained by PID {pid} on {host} since {info.get('since')}; only one process may "
            f"write a run: wait for it to finish, or {stop}, then run: ganforge train --resume {root}")
