"""Quality against training time: FID (judge features, N real test images) along a training run.

    python bench/recipe_curve.py --preset default --budget 600               # 600 s of training
    python bench/recipe_curve.py --preset dcgan-mnist --images 200000 --every 20000
    python bench/recipe_curve.py --preset stacked-mnist --budget 1200 --every 300 --n 26000  # + modes
    python bench/recipe_curve.py --preset folder64 --set dataset=folder:$E --budget 3600 --every 900 --grids DIR

Trains through the real Trainer; the clock counts the step calls only (an on_step hook adds each
step's seconds), so evaluations and the run folder's writers are outside it. It evaluates at each point,
and prints one row per point plus a JSON line at the end. Points are in training seconds, or, with
--images, in images seen (robust when other work shares the CPU; convert with a quiet img/s). The
evaluation uses its own random streams, so it does not change the training run it watches.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from machine import cpu_model, write_result  # bench/machine.py
from ganforge.config import build_config, parse_assignment
from ganforge.generate import write_samples
from ganforge.metrics import Evaluator
from ganforge.nets.sampling import sample, sample_labels
from ganforge.run import RunDir
from ganforge.training.callbacks import Hooks
from ganforge.training.loop import Trainer


NOISE_SEED = 1234  # the same noise at every point of every curve


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--budget", type=float, default=600, help="training seconds")
    parser.add_argument("--images", type=int, default=0, help="budget in images seen instead of seconds")
    parser.add_argument("--every", type=float, default=60, help="evaluate every this many seconds (or images)")
    parser.add_argument("--n", type=int, default=2000, help="samples per evaluation")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", metavar="FILE", help="also write the curve here")
    parser.add_argument("--judge-labels", default=None, metavar="SPEC",
                        help="a folder's labels for its judge (e.g. csv:labels.csv:category), whatever the run uses, "
                             "so runs with and without labels are scored by the same judge")
    parser.add_argument("--eval-device", default="cpu", help="where the judge runs (cuda on a GPU machine)")
    parser.add_argument("--grids", metavar="DIR", help="also write `generate --n 100 --seed 1`'s grid at each point, "
                                                        "DIR/SECONDS.png (or IMAGES.png with --images)")
    args = parser.parse_args()

    overrides = dict(parse_assignment(s) for s in args.sets)
    overrides.setdefault("epochs", 10_000)  # the time budget decides when to stop
    overrides.setdefault("tensorboard", False)
    cfg = build_config(args.preset, overrides=overrides)
    run = RunDir(Path(tempfile.mkdtemp()) / "run")
    run.root.mkdir()
    evaluator = Evaluator(cfg.dataset, cfg.data_dir, args.n, image_shape=cfg.image_shape,  # embedded-mnist: MNIST's
                          labels=cfg.labels if args.judge_labels is None else args.judge_labels,
                          background=cfg.background, device=args.eval_device)
    curve, clock = [], {"train": 0.0, "next": args.every}

    def evaluate():
        G = trainer.sample_generator()
        was_training = G.training
        G.eval()
        # FID: a conditional G drawn for the reference images' classes (their mix), as `evaluate` does
        mix = evaluator.class_mix(trainer.cfg.num_classes) if args.judge_labels in (None, cfg.labels) else None
        fake = sample(G, cfg.latent_dim, args.n, NOISE_SEED, device=trainer.device, labels=mix)
        m = evaluator(fake, seed=0, metrics=["fid", "classes", "modes"])  # modes: stacked MNIST only
        if trainer.cfg.conditional:  # is each sample the class it was drawn for? every class in turn, equally
            fake = sample(G, cfg.latent_dim, args.n, NOISE_SEED, device=trainer.device)
            m |= evaluator.label_accuracy(fake, sample_labels(G, args.n))
        if args.grids:  # what `ganforge generate RUN --n 100 --seed 1` would draw at this point
            Path(args.grids).mkdir(parents=True, exist_ok=True)
            at = clock.get("images", 0) if args.images else round(clock["train"])
            write_samples(sample(G, cfg.latent_dim, 100, 1, device=trainer.device), Path(args.grids) / f"{at}.png")
        G.train(was_training)
        point = {"train_seconds": round(clock["train"], 1), "images": clock.get("images", 0),
                 "step": trainer.state.step,
                 "epoch": round(trainer.state.step * cfg.batch_size / len(trainer.data), 2),
                 "fid": round(m["fid"], 3), "classes_covered": m["classes_covered"],
                 **({key: m[key] for key in ("modes_covered", "modes_hit", "modes_kl", "real_modes_covered",
                                             "real_modes_kl")} if m.get("modes_covered") is not None else {}),
                 **({"label_accuracy": round(m["label_accuracy"], 3),
                     "label_accuracy_per_class": m["label_accuracy_per_class"],
                     "class_variety": m.get("class_variety"),
                     "class_variety_per_class": m.get("class_variety_per_class")} if "label_accuracy" in m else {})}
        curve.append(point)
        print(f"{point['train_seconds']:>7.1f}s  step {point['step']:>6}  epoch {point['epoch']:>6}  "
              f"FID {point['fid']:>8.3f}  classes {point['classes_covered']}"
              + (f"  modes {m['modes_covered']} (hit {m['modes_hit']}) KL {m['modes_kl']:.3f}"
                 if m.get("modes_covered") is not None else ""), flush=True)

    def on_step(event):
        clock["train"] += event.seconds
        clock["images"] = clock.get("images", 0) + event.images
        progress, budget = (clock["images"], args.images) if args.images else (clock["train"], args.budget)
        if progress >= clock["next"] or progress >= budget:
            evaluate()
            clock["next"] += args.every
            if progress >= budget:
                trainer.stop_requested = True

    trainer = Trainer(cfg, run, callbacks=[Hooks(on_step=on_step)], progress=False, echo=lambda *a: None)
    trainer.fit()
    result = {"preset": args.preset, "overrides": args.sets, "threads": torch.get_num_threads(), "cpu": cpu_model(),
              "step_path": trainer.step_path, "run": str(run.root), "curve": curve}
    write_result(result, args.json)


if __name__ == "__main__":
    main()
