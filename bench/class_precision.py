"""Does a per-class realism figure follow the eye where label accuracy does not? Precision on k-NN
manifolds (metrics/prdc.py), class by class: the share of a conditional run's samples drawn for class K
that fall inside the manifold of the real class-K images, in the folder judge's features. Next to it,
the same figure for real images: half of each class against the other half (the ceiling).

    E=$(realpath ../shared/data)/emoji
    python bench/class_precision.py --data $E --labels csv:labels.csv:category RUN [RUN ...]

N=2000 reference images (the folder judge's reference, as evaluate uses), 200 samples a class.
"""

from __future__ import annotations

import argparse
import json

import torch

from ganforge.generate import load_generator
from ganforge.metrics import Evaluator
from ganforge.metrics.prdc import K, kth_nearest, share_inside
from ganforge.nets.sampling import sample


def inside(queries, real):
    return round(share_inside(queries, real, kth_nearest(real, real, K, skip_self=True)), 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="RUN")
    parser.add_argument("--data", required=True, help="the folder the runs trained on")
    parser.add_argument("--labels", required=True, help="its labels, as the runs read them")
    parser.add_argument("--per-class", type=int, default=200)
    args = parser.parse_args()
    G, cfg = load_generator(args.runs[0])
    evaluator = Evaluator(f"folder:{args.data}", None, 2000, image_shape=cfg.image_shape, labels=args.labels,
                          echo=lambda *a: None)
    names, real, labels = evaluator.judge.info["class_names"], evaluator.reference.real.features, evaluator.reference.labels
    kept = [k for k in range(len(names)) if (labels == k).sum() >= 16]  # too few reals: no manifold to speak of
    halves, gen = {}, torch.Generator().manual_seed(0)
    for k in kept:
        r = real[labels == k][torch.randperm(int((labels == k).sum()), generator=gen)]
        halves[names[k]] = inside(r[: len(r) // 2], r[len(r) // 2:])
    rows = {"real, half against half": halves}
    for run in args.runs:
        G, cfg = load_generator(run)
        drawn = torch.arange(args.per_class * len(names)) % len(names)
        features = evaluator.judge.embed(sample(G, cfg.latent_dim, len(drawn), 0, labels=drawn)).features
        rows[run] = {names[k]: inside(features[drawn == k], real[labels == k]) for k in kept}
    width = max(len(n) for n in rows)
    print(" " * width, *(names[k][:10].rjust(10) for k in kept))
    for name, row in rows.items():
        print(name.ljust(width), *(f"{v:10.2f}" for v in row.values()))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
