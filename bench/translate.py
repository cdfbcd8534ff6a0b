"""Image-to-image runs under a CPU time budget, then scored on their held-out pairs (issue 17).

    python bench/translate.py --budget 900 --out runs/p2p                       # pix2pix twitter -> google
    python bench/translate.py --budget 900 --out runs/p2p-l1 --set adv_weight=0  # the L1-only U-Net
    python bench/translate.py --budget 900 --out runs/sr --preset sr4            # x4 super-resolution

Trains through the task's real trainer until the budget's wall-clock seconds of its loop (steps,
and each epoch's held-out check) have passed, stopping mid-epoch as Ctrl-C does, and leaves an
ordinary run folder at --out (resumable). Then
`ganforge evaluate` scores it (the same code path: evaluate.evaluate_run): L1, PSNR, SSIM and the
judge's FID of the outputs against the real targets of the held-out pairs, beside the baseline
that needs no training (the input itself; bicubic upscaling for super-resolution). A run folder
left by an earlier call is scored again without training (--score-only).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

from machine import torch_machine, write_result  # bench/machine.py
from ganforge.config import build_config, parse_assignment, save_config
from ganforge.run import RunDir
from ganforge.training import make_trainer

EMOJI = "{data}/emoji/twitter,{data}/emoji/google"


def train_for(preset: str, overrides: dict, root: Path, seconds: float, echo=print) -> dict:
    """Train `preset` into the new run folder `root` until `seconds` of its loop have passed; the
    timer ends it mid-epoch if need be, as Ctrl-C does (the step finishes, the run is saved)."""
    cfg = build_config(preset, overrides={"epochs": 100_000, "tensorboard": False} | overrides)
    run = RunDir(root)
    run.root.mkdir(parents=True, exist_ok=False)
    trainer = make_trainer(cfg, run, progress=False, echo=echo)
    save_config(cfg, run.config)
    timer = threading.Timer(seconds, lambda: setattr(trainer, "stop_requested", True))
    started = time.perf_counter()
    timer.start()
    if cfg.task == "gan":  # noise to image: its trainer's own loop (bench/cascade.py's first stage)
        trainer.fit()
        steps, epochs = trainer.state.step, trainer.state.epoch
    else:
        while trainer.run_epoch(trainer.epoch) == "epoch":
            pass
        steps, epochs = trainer.step, trainer.epoch
    timer.cancel()
    return {"preset": preset, "epochs": epochs, "steps": steps, "loop_seconds": round(time.perf_counter() - started, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="pix2pix")
    parser.add_argument("--dataset", default=None, help="default: pairs of the emoji drawn by twitter and google")
    parser.add_argument("--budget", type=float, default=900, help="training seconds")
    parser.add_argument("--out", required=True, help="the run folder to write (or score, with --score-only)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--judge", default=None, help="the dataset whose judge scores the outputs (evaluate --judge)")
    parser.add_argument("--judge-labels", default="", help="that judge's labels (e.g. csv:labels.csv:category)")
    parser.add_argument("--score-only", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args()

    run = RunDir(Path(args.out))
    trained = {}
    if not args.score_only:
        data = os.environ.get("GANFORGE_DATA", "../shared/data")
        overrides = {"dataset": args.dataset or ("pairs:" + EMOJI.format(data=os.path.realpath(data)))}
        trained = train_for(args.preset, overrides | dict(parse_assignment(s) for s in args.sets), run.root, args.budget)
        trained["sets"] = args.sets
        print(f"trained {trained['steps']} steps ({trained['epochs']} whole epochs) in {trained['loop_seconds']:.0f} s; "
              f"the same run: ganforge train --preset {args.preset} --set max_steps={trained['steps']} "
              + " ".join(f"--set {s}" for s in args.sets))
    from ganforge.evaluate import evaluate_run, format_report  # after training: a scoring fix needs no retraining

    metrics = evaluate_run(run.root, judge=args.judge, labels=args.judge_labels or None)
    print(format_report(metrics))
    write_result(trained | metrics | torch_machine(), args.json, indent=2)


if __name__ == "__main__":
    main()
