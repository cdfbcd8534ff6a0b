"""Calibrate the metrics: what real, degraded and broken "generators" score, per dataset and N.

    GANFORGE_DATA=../shared/data PYTHONPATH=src python3 scripts/calibrate_metrics.py
    ... --datasets mnist --out-md bench/metrics_reference.md

Rows (metrics/calibration.py builds them from the real training split): real train images (the
floor: a perfect generator scores about this), blurred, noisy, one class only, one image repeated,
uniform noise. Each is scored exactly as `ganforge evaluate` scores a run, against the test split.
Writes src/ganforge/metrics/reference.json (reports show these next to their numbers) and prints
the Markdown table (kept in bench/metrics_reference.md and quoted in the README).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from ganforge.data import load_dataset
from ganforge.metrics import Evaluator
from ganforge.metrics.calibration import COLUMNS, ROWS, calibration_sets, load_table, save_table

FLOOR_NS = (500, 2000, 10000)  # the floor moves with N (FID is biased upwards for small N)
ROW_NS = (2000, 10000)  # 2000: what training-time evaluation and the tests use; 10000: `evaluate`
SEED = 0
INTRO = """Each row is scored exactly as `ganforge evaluate` scores a run: judge features, against N real test
images. FID and KID are in judge-feature units (not comparable with Inception-FID tables); KID is
raw (unbiased, so it can dip below 0 for real images). Memorisation 0 on the real rows is right:
those samples are training images. Judge training times are wall-clock on the machine that ran this.
"""


def calibrate(dataset: str, data_dir=None) -> dict:
    train = load_dataset(dataset, "train", data_dir)
    rows = []
    for n in sorted(set(FLOOR_NS) | set(ROW_NS)):
        evaluator = Evaluator(dataset, data_dir, n, image_shape=train.shape, echo=_stderr)
        for key, images in calibration_sets(train, n, SEED).items():
            if key == "real" or n in ROW_NS:
                metrics = evaluator(images, seed=SEED)
                rows.append({"row": key, "n": n} | {column: metrics[column] for column in COLUMNS})
                _stderr(f"{dataset} N={n} {key}: FID {metrics['fid']:.3f} ({metrics['seconds']:.1f} s)")
    return {"judge": dict(evaluator.judge.info), "rows": rows}


def calibrate_folder(folder: str, image_size: int, labels: str, n: int) -> dict:
    """The same rows for a folder of your own, under its labelled judge (labels) and its unlabelled one.
    A folder has no test split and is its own reference, so the "real" row is drawn from the images
    outside the N of the reference: a real-vs-real split, the floor."""
    import dataclasses

    from ganforge.metrics.reference import _fixed_order

    dataset = f"folder:{Path(folder).resolve()}"
    data = load_dataset(dataset, channels=3, image_size=image_size, labels=labels)
    rest = _fixed_order(len(data))[n:]
    outside = dataclasses.replace(data, images=data.images[rest], labels=data.labels[rest])
    sets = calibration_sets(outside, n, SEED)
    result = {}
    for kind, spec in (("labelled", labels), ("unlabelled", "")):
        evaluator = Evaluator(dataset, None, n, image_shape=data.shape, labels=spec, echo=_stderr)
        rows = []
        for key, images in sets.items():
            metrics = evaluator(images, seed=SEED)
            rows.append({"row": key, "n": n} | {column: metrics[column] for column in COLUMNS})
            _stderr(f"{dataset} {kind} N={n} {key}: FID {metrics['fid']:.3f}")
        result[kind] = {"judge": dict(evaluator.judge.info), "rows": rows}
    # How much of the categories the label-free features hold: 1-nearest-neighbour accuracy, leave one out
    features = evaluator.judge.embed(outside.images[:n]).features
    distances = torch.cdist(features, features).fill_diagonal_(float("inf"))
    nearest = outside.labels[:n][distances.argmin(1)]
    result["unlabelled"]["judge"]["knn_accuracy"] = (nearest == outside.labels[:n]).double().mean().item()
    return result


def markdown(table: dict) -> str:
    lines = []
    for dataset, entry in table.items():
        judge = entry["judge"]
        lines += [f"### {dataset}", "",
                  (f"Judge {judge['fingerprint']}: test accuracy {judge['accuracy']:.2%}"
                   f"{' (' + judge['accuracy_on'] + ')' if judge.get('accuracy_on') else ''}, trained in "
                   f"{judge['train_seconds']:.0f} s ({judge['epochs']} epochs, seed {judge['seed']})."
                   if judge.get("accuracy") is not None else
                   f"Judge {judge['fingerprint']}: trained without labels (contrastive, {judge['epochs']} epochs, "
                   f"{judge['train_seconds']:.0f} s, seed {judge['seed']})"
                   + (f"; its features put {judge['knn_accuracy']:.2%} of the images in the category of their "
                      f"nearest other image" if judge.get('knn_accuracy') is not None else "") + "."), "",
                  "| generator | N | FID | KID | classifier score | classes | class KL | precision | recall "
                  "| memorisation |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for row in entry["rows"]:
            lines.append(f"| {ROWS[row['row']]} | {row['n']} | {row['fid']:.3f} | {row['kid_mean']:.4g} "
                         f"| {_num(row['classifier_score'], '.2f')} | {_num(row['classes_covered'], '')} "
                         f"| {_num(row['class_kl'], '.4f')} | {row['precision']:.3f} | {row['recall']:.3f} "
                         f"| {row['memorisation_ratio']:.3f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"], metavar="NAME")
    parser.add_argument("--data-dir", metavar="DIR", help="else $GANFORGE_DATA, then the cache")
    parser.add_argument("--out-md", metavar="FILE", default="bench/metrics_reference.md")
    parser.add_argument("--folder", metavar="PATH", help="calibrate a folder of your own instead (table to --out-md "
                        "and bench/results/, not into the package's reference.json)")
    parser.add_argument("--labels", default="folders", help="with --folder: its labels (folders or csv:FILE:COLUMN)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    start = time.perf_counter()
    if args.folder:
        name = f"{Path(args.folder).resolve().name}-{args.image_size}px"
        table = {f"{name} ({kind} judge)": entry for kind, entry in
                 calibrate_folder(args.folder, args.image_size, args.labels, args.n).items()}
        Path("bench/results").mkdir(parents=True, exist_ok=True)
        Path(f"bench/results/calibration_{name}.json").write_text(json.dumps(table, indent=1) + "\n")
        Path(args.out_md).write_text(f"# Metric calibration for a folder (scripts/calibrate_metrics.py --folder)\n\n"
                                     f"{INTRO}\n{markdown(table)}")
        print(markdown(table))
        return
    table = load_table() | {dataset: calibrate(dataset, args.data_dir) for dataset in args.datasets}
    save_table(table)
    text = markdown(table)
    Path(args.out_md).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out_md).write_text(f"# Metric calibration (scripts/calibrate_metrics.py)\n\n{INTRO}\n{text}")
    print(text)
    _stderr(f"done in {time.perf_counter() - start:.0f} s; wrote src/ganforge/metrics/reference.json and {args.out_md}")


def _num(value, style: str) -> str:
    return "-" if value is None else format(value, style)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
