"""Sharing the CPU cores with other processes (issue 11): the CLI's choice, made once at start.

torch's OpenMP threads spin between parallel regions; beside a second busy process on the same
cores both runs crawl (two default runs on 2 cores: one kept 0.06-0.29 of its speed, the other
about a tenth). The CLI therefore fits the thread count to the cores the other processes leave
free (threads.py: training every few seconds, generate / evaluate / serve between chunks of work),
unless OMP_NUM_THREADS is set: then the user's (or the --nproc launcher's) count stands. Passive OpenMP waiting (OMP_WAIT_POLICY=PASSIVE) also shares the cores, but costs a
default run 25-36% of its speed alone on a 2-core VM, so ganforge leaves the wait policy as
libgomp sets it; bench/README.md ("Sharing the cores") has the measurements.

The Python API does not fit threads unless asked: `ganforge.cores.share_cores()` before train().
This module must not import torch (the CLI loads it first).
"""

from __future__ import annotations

import os

_fit = False


def share_cores(environ=None) -> bool:
    """Fit training's CPU threads to the free cores from now on, unless OMP_NUM_THREADS pins them.
    Returns whether fitting is on."""
    global _fit
    environ = os.environ if environ is None else environ
    _fit = "OMP_NUM_THREADS" not in environ
    return _fit


def fitting() -> bool:
    return _fit


def describe(threads: int, environ=None) -> str:
    """For the run header, after 'cpu xN threads': how the count is kept, or '' when as torch set it."""
    environ = os.environ if environ is None else environ
    if _fit and threads > 1:
        return ", fitted to the free cores"
    return f", OMP_NUM_THREADS={environ['OMP_NUM_THREADS']}" if "OMP_NUM_THREADS" in environ else ""
