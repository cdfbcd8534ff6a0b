"""The fixed-noise grid of every epoch (samples/epoch_0001.png) and the progress GIF of them all."""

from __future__ import annotations

from ... import viz
from . import Callback


class SampleGrid(Callback):
    def on_epoch_end(self, event):
        viz.save_png(event.grid, event.run.sample_path(event.epoch))


class ProgressGif(Callback):
    def on_end(self, event):
        viz.save_gif(event.run.sample_paths(), event.run.gif)
