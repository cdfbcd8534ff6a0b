"""Why a run stops before its epochs are done: Ctrl-C (stop_on_ctrl_c), or its own limits, max_steps
(optimiser steps in total) and max_seconds (seconds of training steps in total: the clock the
benchmarks count, so sampling, evaluation and checkpoints are outside it). Both limits count across
resumes: `--resume RUN --max-seconds 1800` goes on to 30 minutes in all. A step count repeats
exactly with a seed; a time budget cannot (how many steps fit depends on the machine), which is why
tests and the README's repeatable commands use steps. Both loops (loop.py, translate.py) use these.
"""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager

from tqdm import tqdm

from .distributed import SOLO

REASONS = ("max_steps", "max_seconds")  # what spent() answers: a run stopped by its budget, resumable


class Budget:
    def __init__(self, cfg, world=SOLO):
        self.max_steps, self.max_seconds, self.world = cfg.max_steps, cfg.max_seconds, world

    def spent(self, steps: int, seconds: float) -> str | None:
        """Which limit is reached, or None. Under torchrun each rank's clock differs a little, so
        the ranks agree on the time limit (an all-reduce, only when one is set), as on Ctrl-C."""
        if self.max_steps and steps >= self.max_steps:
            return "max_steps"
        if self.max_seconds and self.world.stop(seconds >= self.max_seconds):
            return "max_seconds"
        return None


@contextmanager
def stop_on_ctrl_c(trainer):
    """First Ctrl-C: finish the current step, then checkpoint and stop. Second: abort at once."""
    def handler(signum, frame):
        if trainer.stop_requested:
            raise KeyboardInterrupt
        trainer.stop_requested = True
        if trainer.world.is_main:
            tqdm.write("Ctrl-C: finishing this step, then saving a checkpoint (press again to abort)", file=sys.stderr)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
