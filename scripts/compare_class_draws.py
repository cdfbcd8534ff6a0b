"""FID of one conditional run's generator drawn two ways: for the real images' class mix (what
`ganforge evaluate` does) and for each class in turn (10% each on 10 classes).

    python scripts/compare_class_draws.py RUN [--n 2000] [--seed 1234]

On a folder whose classes are far from balanced (emoji: 60% people) the two differ by a factor of
about three; on MNIST hardly at all. bench/folder.md quotes its output.
"""

from __future__ import annotations

import argparse

from ganforge.generate import load_generator
from ganforge.metrics import Evaluator
from ganforge.nets.sampling import sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1234, help="the noise seed (bench/recipe_curve.py uses 1234)")
    args = parser.parse_args()
    G, cfg = load_generator(args.run)
    evaluator = Evaluator(cfg.dataset, cfg.data_dir, args.n, image_shape=cfg.image_shape, labels=cfg.labels,
                          background=cfg.background, echo=lambda line: None)
    mix = evaluator.class_mix(getattr(G, "num_classes", 0))
    if mix is None:
        raise SystemExit(f"{args.run}: not a conditional run whose judge knows its classes")
    for name, labels in (("the real images' class mix", mix), ("each class in turn", None)):
        m = evaluator(sample(G, cfg.latent_dim, args.n, args.seed, labels=labels), seed=0, metrics=["fid", "classes"])
        print(f"drawn for {name}: FID {m['fid']:.1f}, classes covered {m['classes_covered']}, "
              f"class KL to real {m['class_kl']:.3f}")


if __name__ == "__main__":
    main()
