"""The run's records on disk: metrics.jsonl, diagnosis.jsonl and the losses.png plot."""

from __future__ import annotations

from ... import viz
from ...diagnose import DIVERGED
from ...run.records import finding_record
from . import Callback


class MetricsLog(Callback):
    """One JSON line per epoch in metrics.jsonl."""

    def on_epoch_end(self, event):
        event.run.append_metrics(event.record)


class DiagnosisLog(Callback):
    """Each health finding, once, when it starts; and the divergence that stops a run."""

    def on_epoch_end(self, event):
        for finding in event.findings:
            event.run.append_diagnosis(finding_record(event.epoch, finding))

    def on_end(self, event):
        if event.reason == "diverged":
            event.run.append_diagnosis(finding_record(event.epoch + 1, DIVERGED))


class LossPlot(Callback):
    def on_epoch_end(self, event):
        viz.save_loss_plot(event.history, event.run.loss_plot)
