"""Plain-text summaries of a run folder, for `ganforge info`. Reads the folder only."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import CheckpointError
from .run import RunDir, open_run
from .run.records import SPEED_NAMES, STAT_NAMES, TRANSLATION_NAMES

SHOWN = STAT_NAMES + TRANSLATION_NAMES + SPEED_NAMES


def describe_run(run_dir: str | Path) -> str:
    run = open_run(run_dir)
    cfg = run.read_config()
    notes = []  # a cut-off last line of a record file (an interrupted write), said once at the end
    records = run.read_metrics(notes)
    lines = [f"run: {run.root}", "", "config:"]
    lines += ["  " + line for line in yaml.safe_dump(cfg.to_dict(), sort_keys=False).splitlines()]
    done = records[-1]["epoch"] if records else 0
    step = records[-1]["step"] if records else 0
    lines += ["", f"progress: {done}/{cfg.epochs} epochs, {step} steps"
              + ("" if done < cfg.epochs else " (finished)")]
    lines.append(f"checkpoint: {checkpoint_line(run)}")
    if records:
        last = records[-1]
        lines += ["", f"last epoch ({last['epoch']}):"]
        lines += [f"  {key:<14} {last[key]:.4g}" for key in SHOWN if key in last]
        extra = [k for k in last if k not in SHOWN and k not in ("epoch", "step", "warnings")]
        lines += [f"  {key:<14} {last[key]}" for key in extra]
    findings = run.read_diagnosis(notes)
    lines += ["", "diagnosis:" if findings else "diagnosis: no warnings"]
    lines += [f"  epoch {d['epoch']}: {d['message']}" for d in findings]
    artefacts = [p.name for p in (run.gif, run.loss_plot, run.generator) if p.is_file()]
    lines += ["", f"samples: {len(run.sample_paths())} grids in {run.samples}",
              f"files: {', '.join(artefacts) or 'none yet'}"]
    lines += ["", *(f"note: {note}" for note in notes)] if notes else []
    return "\n".join(lines)


def checkpoint_line(run: RunDir) -> str:
    """Where resume would start, read as resume reads it (so a foreign checkpoint shows as refused,
    and a damaged one names the fallback), or why it cannot."""
    if not run.has_checkpoint():
        return "none yet"
    from .run.checkpoint import newest_checkpoint  # loads torch: only when there is a checkpoint to check

    try:
        saved, path, note = newest_checkpoint(run.checkpoint, run.previous_checkpoint, mmap=True)
    except CheckpointError as err:
        return str(err)
    state = saved["state"]
    kept = ", previous.pt kept" if path == run.checkpoint and run.previous_checkpoint.is_file() else ""
    clock = f", {state['seconds']:.1f} s of training" if state.get("seconds") else ""  # older checkpoints: none
    return f"{path} (epoch {state['epoch']}, step {state['step']}{clock}{kept})" + (f"; {note}" if note else "")
