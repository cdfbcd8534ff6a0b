"""Artefact writers. The loop calls them with what happened; none of them changes training.

A writer may implement on_start(trainer), on_epoch_end(trainer, record) and on_end(trainer, reason).
Writers run in list order, so one that adds fields to `record` (an evaluator, say) goes before the
ones that store it.
"""

from __future__ import annotations

import torch

from .. import viz


class SampleGrid:
    """The fixed-noise grid after every epoch: samples/epoch_0001.png."""

    def on_epoch_end(self, trainer, record):
        images = trainer.sample_fixed()
        trainer.last_grid = viz.grid_image(images, nrow=max(1, round(len(images) ** 0.5)))
        viz.save_png(trainer.last_grid, trainer.run.sample_path(record["epoch"]))


class MetricsLog:
    """One JSON line per epoch in metrics.jsonl."""

    def on_epoch_end(self, trainer, record):
        trainer.run.append_metrics(record)


class LossPlot:
    def on_epoch_end(self, trainer, record):
        viz.save_loss_plot(trainer.run.read_metrics(), trainer.run.loss_plot)


class ProgressGif:
    def on_end(self, trainer, reason):
        viz.save_gif(trainer.run.sample_paths(), trainer.run.gif)


class TensorBoardLog:
    """Scalars under Loss/, D/, Speed/ and the epoch grid, in run/tensorboard/."""

    def __init__(self):
        self.writer = None

    def on_start(self, trainer):
        from torch.utils.tensorboard import SummaryWriter  # slow import; only when enabled

        self.writer = SummaryWriter(log_dir=str(trainer.run.tensorboard), purge_step=trainer.state.epoch + 1)

    def on_epoch_end(self, trainer, record):
        epoch = record["epoch"]
        for key, value in record.items():
            if key not in ("epoch", "step") and isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, epoch)
        grid = getattr(trainer, "last_grid", None)
        if grid is not None:
            import numpy as np

            array = torch.from_numpy(np.array(grid.convert("RGB"))).permute(2, 0, 1)
            self.writer.add_image("samples/fixed_noise", array, epoch)
        self.writer.flush()

    def on_end(self, trainer, reason):
        if self.writer is not None:
            self.writer.close()


def default_writers(cfg) -> list:
    from ..diagnose import Diagnose

    writers = [SampleGrid(), Diagnose(), MetricsLog(), LossPlot(), ProgressGif()]
    if cfg.eval_every:
        from ..metrics.writer import EvalWriter

        writers.insert(0, EvalWriter())  # first: Diagnose reads its class coverage, MetricsLog stores it
    if cfg.tensorboard:
        writers.append(TensorBoardLog())
    return writers
