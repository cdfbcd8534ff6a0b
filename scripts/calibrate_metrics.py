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
import sys
import time
from pathlib import Path

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


def markdown(table: dict) -> str:
    lines = []
    for dataset, entry in table.items():
        judge = entry["judge"]
        lines += [f"### {dataset}", "",
                  f"Judge {judge['fingerprint']}: test accuracy {judge['accuracy']:.2%}, trained in "
                  f"{judge['train_seconds']:.0f} s ({judge['epochs']} epochs, seed {judge['seed']}).", "",
                  "| generator | N | FID | KID | classifier score | classes | class KL | precision | recall "
                  "| memorisation |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for row in entry["rows"]:
            lines.append(f"| {ROWS[row['row']]} | {row['n']} | {row['fid']:.3f} | {row['kid_mean']:.4g} "
                         f"| {row['classifier_score']:.2f} | {row['classes_covered']} | {row['class_kl']:.4f} "
                         f"| {row['precision']:.3f} | {row['recall']:.3f} | {row['memorisation_ratio']:.3f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"], metavar="NAME")
    parser.add_argument("--data-dir", metavar="DIR", help="else $GANFORGE_DATA, then the cache")
    parser.add_argument("--out-md", metavar="FILE", default="bench/metrics_reference.md")
    args = parser.parse_args()
    start = time.perf_counter()
    table = load_table() | {dataset: calibrate(dataset, args.data_dir) for dataset in args.datasets}
    save_table(table)
    text = markdown(table)
    Path(args.out_md).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out_md).write_text(f"# Metric calibration (scripts/calibrate_metrics.py)\n\n{INTRO}\n{text}")
    print(text)
    _stderr(f"done in {time.perf_counter() - start:.0f} s; wrote src/ganforge/metrics/reference.json and {args.out_md}")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
