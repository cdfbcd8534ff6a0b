"""How long `ganforge evaluate` takes for 10,000 samples on this machine (budget: one minute on 2 CPU cores).

    GANFORGE_DATA=../shared/data PYTHONPATH=src python3 bench/evaluate_speed.py [--n 10000] [--dataset mnist]

The samples are real training images with Gaussian noise (sigma 0.1), which a judge sees much as it
sees a decent generator's output. The judge and the reference features are built (and cached)
first and not timed: that happens once per machine. Timed: evaluate_images, as `evaluate` calls it.
"""

from __future__ import annotations

import argparse
import time

import torch

from ganforge.data import load_dataset
from ganforge.metrics import Evaluator, evaluate_images
from ganforge.metrics.calibration import calibration_sets

BUDGET_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    train = load_dataset(args.dataset, "train")
    samples = calibration_sets(train, args.n)["noise-0.1"]
    Evaluator(args.dataset, n=args.n, image_shape=train.shape)  # build the caches, untimed
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        metrics = evaluate_images(samples, args.dataset, n=args.n, echo=lambda line: None)
        times.append(time.perf_counter() - start)
    best = min(times)
    print(f"evaluate_images: {args.n} {args.dataset} samples in {best:.1f} s (best of {args.repeats}: "
          f"{', '.join(f'{t:.1f}' for t in times)}); {best / BUDGET_SECONDS:.2f} of the {BUDGET_SECONDS:.0f} s budget; "
          f"{torch.get_num_threads()} threads; FID {metrics['fid']:.3f}")


if __name__ == "__main__":
    main()
