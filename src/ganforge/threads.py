"""CPU threads fitted to the cores other processes leave free (issue 11; enabled by the CLI, cores.py):
training checks every few seconds (a step hook, training/loop.py); the viewers that compute
(generate, evaluate, serve: nets/sampling.py and the judge) call poll() between chunks of work.

torch's OpenMP threads spin between parallel regions. Beside a second busy process, a spinning
thread burns the time slice its partner (descheduled) needs, and two 2-thread runs on 2 cores
crawl. One thread each shares the cores cleanly. So every `period` seconds the fitter reads how
much CPU the rest of the machine used (/proc/stat less this process's own time) and runs on the
cores that are left, at least one, at most the count it started with; when the others stop, it
goes back. bench/README.md ("Sharing the cores") has the measurements.

A run is bit-for-bit repeatable on a fixed thread count; a fitted count that changes mid-run
changes the float sums. OMP_NUM_THREADS pins the count (cores.py then leaves it alone).
"""

from __future__ import annotations

import math
import os
import time

import torch

from . import cores

BUSY_FIELDS = (0, 1, 2, 5, 6)  # user, nice, system, irq, softirq of /proc/stat's "cpu" line
SLACK = 0.5  # of a core: others' use below this (system noise, a mostly idle server) takes no thread


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes have used since boot, or None where /proc/stat is missing."""
    try:
        with open("/proc/stat") as f:
            ticks = f.readline().split()[1:]
    except OSError:
        return None
    return sum(int(ticks[i]) for i in BUSY_FIELDS) / os.sysconf("SC_CLK_TCK")


def own_busy_seconds() -> float:
    t = os.times()
    return t.user + t.system


def fitted_threads(others: float, most: int) -> int:
    """Threads for `most` cores of which others use `others` cores' worth."""
    return max(1, min(most, most - math.ceil(others - SLACK)))


class ThreadFitter:
    """A step hook: every `period` seconds, torch's thread count fitted to the free cores."""

    def __init__(self, period: float = 2.0):
        self.most = torch.get_num_threads()
        self.period = period
        self.threads = self.most
        self.changes = 0
        self.last = self._sample()

    def _sample(self):
        return time.monotonic(), machine_busy_seconds(), own_busy_seconds()

    def on_step(self, event=None) -> None:
        if time.monotonic() - self.last[0] >= self.period:
            self.fit()

    def fit(self) -> None:
        """Fit the count to what the others used since the last look."""
        sample = self._sample()
        (t0, all0, own0), (t1, all1, own1) = self.last, sample
        self.last = sample
        if all0 is None or all1 is None:
            return
        others = max(0.0, (all1 - all0) - (own1 - own0)) / (t1 - t0)  # in cores
        want = fitted_threads(others, self.most)
        if want != self.threads:
            torch.set_num_threads(want)
            self.threads, self.changes = want, self.changes + 1


def step_hooks(device: torch.device) -> list:
    """[the fitter's hook] for a CPU run the CLI asked to fit (cores.py), else []."""
    return [ThreadFitter().on_step] if _can_fit(device) else []


def _can_fit(device) -> bool:
    return (torch.device(device).type == "cpu" and cores.fitting() and machine_busy_seconds() is not None
            and torch.get_num_threads() >= 2)


_viewer_fitter: ThreadFitter | None = None
FIRST_LOOK = 0.2  # seconds: a viewer's work is short, so it looks once before its first chunk


def poll(device="cpu") -> None:
    """Between chunks of a viewer's CPU work: the thread count fitted to the free cores, when the CLI
    asked (cores.py). The first call looks at the machine for FIRST_LOOK seconds and fits at once."""
    global _viewer_fitter
    if _viewer_fitter is None:
        if not _can_fit(device):
            return
        _viewer_fitter = ThreadFitter(period=1.0)
        time.sleep(FIRST_LOOK)
        _viewer_fitter.fit()
    elif torch.device(device).type == "cpu" and cores.fitting():
        _viewer_fitter.on_step()


def between(chunks, device="cpu"):
    """The chunks of a viewer's work, with poll() before each."""
    for chunk in chunks:
        poll(device)
        yield chunk
