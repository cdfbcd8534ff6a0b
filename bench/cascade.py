"""64 px in two stages under one time budget: a 16 px GAN, then an x4 super-resolution run on the
same folder's real images; judged at 64 px as `ganforge evaluate RUN --upscale SR` does.

    E=$(realpath ../shared/data)/emoji
    python bench/cascade.py --data $E --labels csv:labels.csv:category --gan-seconds 600 --sr-seconds 300 \
        --out runs/cascade --json bench/results/folder64_screen/cascade_16_sr4.json

Each stage trains through the real trainer until its share of the budget has passed (the step calls
and, for SR, each epoch's held-out check), stopping mid-epoch as Ctrl-C does; both leave ordinary run
folders (resumable, usable by `generate --upscale`). The figures compare with bench/recipe_curve.py's:
the same judge (the folder's classifier at 64 px), N=2000, the conditional G drawn for the real class
mix for FID, and every class in turn for label accuracy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from machine import torch_machine, write_result  # bench/machine.py
from ganforge.config import parse_assignment
from ganforge.evaluate import evaluate_run
from ganforge.generate import generate
from translate import train_for  # bench/translate.py: a run under a time budget


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the image folder (its subfolders included)")
    parser.add_argument("--labels", default="", help="labels for a conditional 16 px GAN and for the judge")
    parser.add_argument("--gan-seconds", type=float, default=600)
    parser.add_argument("--sr-seconds", type=float, default=300)
    parser.add_argument("--size", type=int, default=16, help="the GAN's image size; the SR run makes 4x it")
    parser.add_argument("--out", required=True, help="a new folder: gan/ and sr/ run folders, grid.png")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="for the GAN")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()

    out = Path(args.out)
    labelled = {"labels": args.labels, "conditional": True, "aux_classifier": 2.0, "class_balance": 1.0}
    gan = {"dataset": f"folder:{args.data}", "image_size": args.size, **(labelled if args.labels else {})}
    gan |= dict(parse_assignment(s) for s in args.sets)
    quiet = dict(echo=lambda *a: None)
    stages = [train_for("folder32", gan, out / "gan", args.gan_seconds, **quiet),
              train_for("sr4", {"dataset": f"folder:{args.data}", "image_size": 4 * args.size}, out / "sr",
                        args.sr_seconds, **quiet)]
    print(json.dumps(stages), flush=True)
    metrics = evaluate_run(out / "gan", n=args.n, upscale=out / "sr", labels=args.labels or None)
    generate(out / "gan", n=100, out=out / "grid.png", seed=1, upscale=out / "sr")  # one category a column
    keep = ("fid", "kid", "classes_covered", "label_accuracy", "label_accuracy_per_class", "class_variety",
            "class_variety_per_class", "judge")
    result = {"stages": stages, "gan_overrides": args.sets, **{k: metrics[k] for k in keep if k in metrics},
              **torch_machine()}
    write_result(result, args.json)


if __name__ == "__main__":
    main()
