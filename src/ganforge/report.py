"""Plain-text summaries of a run folder, for `ganforge info`. Reads the folder only."""

from __future__ import annotations

from pathlib import Path

import yaml

from .run import open_run
from .run.records import SPEED_NAMES, STAT_NAMES

SHOWN = STAT_NAMES + SPEED_NAMES


def describe_run(run_dir: str | Path) -> str:
    run = open_run(run_dir)
    cfg = run.read_config()
    records = run.read_metrics()
    lines = [f"run: {run.root}", "", "config:"]
    lines += ["  " + line for line in yaml.safe_dump(cfg.to_dict(), sort_keys=False).splitlines()]
    done = records[-1]["epoch"] if records else 0
    step = records[-1]["step"] if records else 0
    lines += ["", f"progress: {done}/{cfg.epochs} epochs, {step} steps"
              + ("" if done < cfg.epochs else " (finished)")]
    lines.append(f"checkpoint: {run.checkpoint if run.checkpoint.is_file() else 'none yet'}")
    if records:
        last = records[-1]
        lines += ["", f"last epoch ({last['epoch']}):"]
        lines += [f"  {key:<14} {last[key]:.4g}" for key in SHOWN if key in last]
        extra = [k for k in last if k not in SHOWN and k not in ("epoch", "step", "warnings")]
        lines += [f"  {key:<14} {last[key]}" for key in extra]
    findings = run.read_diagnosis()
    lines += ["", "diagnosis:" if findings else "diagnosis: no warnings"]
    lines += [f"  epoch {d['epoch']}: {d['message']}" for d in findings]
    artefacts = [p.name for p in (run.gif, run.loss_plot, run.generator) if p.is_file()]
    lines += ["", f"samples: {len(run.sample_paths())} grids in {run.samples}",
              f"files: {', '.join(artefacts) or 'none yet'}"]
    return "\n".join(lines)
