"""How a distributed run ends when one rank fails: never a hang, and one clear line on rank 0.

A rank that stops on an exception first writes one line (what stopped it) to the rendezvous store,
which torchrun's agent keeps for every worker. The other ranks learn of it when their next
collective fails: a dead peer's connections close at once, and a rank alive but stuck runs into
the collectives' timeout. The launcher also ends the remaining ranks with SIGTERM. Either way a
rank then reads what the others wrote and raises a DistributedError naming the rank and its
reason, or saying it stopped without a word (SIGKILL, the OOM killer, a lost machine). Rank 0
prints it with where the last good checkpoint is and how to resume; other ranks stay quiet
unless rank 0 is the one that is gone.
"""

from __future__ import annotations

import time

import torch.distributed as dist

from ..errors import DistributedError, GanforgeError

KEY = "ganforge/stopped/{rank}"
WAIT_SECONDS = 2.0  # how long to wait for the other ranks' lines (a killed rank never writes one)
# What torch's backends say when a peer is gone or silent (gloo raises plain RuntimeErrors).
LOST_SIGNS = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "Timed out", "timed out",
              "NCCL error", "ProcessGroupNCCL")


class Terminated(Exception):
    """SIGTERM: the launcher ends the other ranks this way when one fails (or the job is stopped)."""


def lost_contact(err: BaseException) -> bool:
    """Whether `err` says another rank is gone, rather than what went wrong on this one."""
    if isinstance(err, Terminated) or isinstance(err, getattr(dist, "DistError", ())):
        return True
    return isinstance(err, RuntimeError) and any(sign in str(err) for sign in LOST_SIGNS)


def one_line(err: BaseException) -> str:
    if isinstance(err, GanforgeError):
        return str(err)
    text = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {text}"[:300].rstrip(": ")


class Failures:
    def __init__(self, rank: int, world: int):
        self.rank, self.world = rank, world
        self.run_root = None  # the run folder, once rank 0 has it: for the resume command
        self.saved_at = None  # (epoch, step) of the newest checkpoint
        try:
            self.store = dist.distributed_c10d._get_default_store()
        except (AttributeError, RuntimeError, ValueError):  # no store to share lines: reports say less
            self.store = None

    def report(self, err: BaseException) -> BaseException | None:
        """Tell the other ranks why this one stops. When `err` means another rank is gone, returns
        the DistributedError to raise instead; else None (raise `err` itself)."""
        lost = lost_contact(err)
        self.post(("lost: " if lost else "said: ") + one_line(err))
        if not lost:
            return None
        lines = self.read_others()
        said = {r: line[len("said: "):] for r, line in lines.items() if line.startswith("said: ")}
        silent = [r for r in range(self.world) if r != self.rank and r not in lines]
        if said:
            why = "; ".join(f"rank {r} of {self.world} stopped: {line}" for r, line in sorted(said.items()))
        elif silent:
            names = ", ".join(map(str, silent))
            why = (f"rank{'s' if len(silent) > 1 else ''} {names} of {self.world} stopped without a word (killed, "
                   f"out of memory, or its machine went down: the launcher's report names the signal)")
            if "imed out" in str(err):
                why = f"rank {names} of {self.world} did not answer within GANFORGE_DIST_TIMEOUT (is it stuck?)"
        else:
            why = "the launcher stopped every rank (SIGTERM)"
        error = DistributedError(f"{why}; all {self.world} processes stopped. {self.resume_hint()}")
        error.loud = 0 not in lines  # rank 0 says it, unless rank 0 is the one that is gone
        return error

    def resume_hint(self) -> str:
        if self.run_root is None:
            return "No run folder was written yet."
        command = f"ganforge train --resume {self.run_root} --nproc {self.world}"
        if self.saved_at is None:
            return f"No checkpoint was written yet; {command} starts the run again."
        epoch, step = self.saved_at
        return (f"The last checkpoint (epoch {epoch}, step {step}) is kept in {self.run_root}; once the cause is "
                f"fixed, resume with: {command}")

    def post(self, line: str) -> None:
        if self.store is None:
            return
        try:
            self.store.set(KEY.format(rank=self.rank), line)
        except Exception:  # noqa: BLE001  (the store went down with the agent or rank 0: nothing to tell)
            self.store = None

    def read_others(self) -> dict[int, str]:
        """The lines other ranks wrote, waiting up to WAIT_SECONDS for those still to come."""
        found, deadline = {}, time.monotonic() + WAIT_SECONDS
        others = [r for r in range(self.world) if r != self.rank]
        while self.store is not None:
            for r in others:
                key = KEY.format(rank=r)
                try:
                    if r not in found and self.store.check([key]):
                        found[r] = self.store.get(key).decode(errors="replace")
                except Exception:  # noqa: BLE001
                    return found
            if len(found) == len(others) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        return found
