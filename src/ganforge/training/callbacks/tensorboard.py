"""TensorBoard: every number of the epoch record as a scalar, and the epoch's grid, in run/tensorboard/."""

from __future__ import annotations

import sys
import types

import numpy as np
import torch

from . import Callback


def without_tensorflow() -> None:
    """TensorBoard's writer imports TensorFlow when it is installed (+520 MB of RSS per run, measured
    with tensorflow-cpu 2.21), only to write event files it writes as well without. Its TF-free
    build is told apart by the module tensorboard.compat.notf; declaring it keeps TF out. A process
    that has loaded TensorFlow already keeps it."""
    if "tensorflow" not in sys.modules:
        sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))


class TensorBoardLog(Callback):
    def __init__(self):
        self.writer = None

    def on_start(self, event):
        without_tensorflow()
        from torch.utils.tensorboard import SummaryWriter  # slow import; only when enabled

        self.writer = SummaryWriter(log_dir=str(event.run.tensorboard), purge_step=event.epoch + 1)

    def on_epoch_end(self, event):
        for key, value in event.record.items():
            if key not in ("epoch", "step") and isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, event.epoch)
        array = torch.from_numpy(np.array(event.grid.convert("RGB"))).permute(2, 0, 1)
        self.writer.add_image("samples/fixed_noise", array, event.epoch)
        self.writer.flush()

    def on_end(self, event):
        if self.writer is not None:
            self.writer.close()
