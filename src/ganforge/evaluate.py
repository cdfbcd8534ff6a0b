"""`ganforge evaluate`: score a run's generator with the metrics layer, and say it in words.

Reads the run folder only (the generator and its config); the numbers come from
ganforge.metrics.Evaluator, as in training and in the calibration script.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import ConfigError
from .fileio import atomic_write
from .evaluate_translation import evaluate_translation, format_translation_report
from .generate import load_generator, sample
from .nets.sampling import sample_labels
from .metrics import Evaluator
from .metrics.calibration import ROWS, reference_rows
from .metrics.modes import report_lines as mode_lines

SHOWN_REFERENCES = ("real", "noise-0.1", "noise-0.3", "single-image")
LINES = (  # key, label, format
    ("fid", "FID (judge features)", "{:.3f}"),
    ("kid_mean", "KID", "{:.4g}"),
    ("classifier_score", "classifier score", "{:.3f}"),
    ("classes_covered", "classes covered", "{}"),
    ("class_kl", "class KL to real", "{:.4f}"),
    ("precision", "precision", "{:.3f}"),
    ("recall", "recall", "{:.3f}"),
    ("memorisation_ratio", "memorisation ratio", "{:.3f}"),
)


def evaluate_run(run_dir, n: int = 10000, seed: int = 0, device="cpu", json_out=None, inception_weights=None,
                 labels: str | None = None, cas: bool = False, judge: str | None = None, upscale=None,
                 echo=print) -> dict:
    """Metrics of n samples (noise seeded by `seed`) from the run's generator; written to json_out if given.
    labels: for a folder run, the labels its judge learns (default: the run's own, if any), so an
    unconditional run can be scored by a judge that knows the folder's classes.
    cas: also the classification accuracy score of n generated images against n real (metrics/cas.py).
    judge: image-to-image runs: the dataset whose judge gives the FID (evaluate_translation.py).
    upscale: a super-resolution run that upscales the samples first; they are judged at its size."""
    G, cfg = load_generator(run_dir, device, upscale)
    if cfg.task != "gan":  # image -> image: every held-out pair, against the baseline
        metrics = evaluate_translation(G, cfg, run_dir, judge, labels, seed, device, echo)
        return _written(metrics, json_out)
    if judge:
        raise ConfigError(f"--judge is for image-to-image runs; {run_dir} draws from noise and is judged by its "
                          f"own dataset's judge")
    judge_labels = cfg.labels if labels is None else labels
    evaluator = Evaluator(cfg.dataset, cfg.data_dir, n, image_shape=cfg.image_shape, device=device,
                          inception_weights=inception_weights, labels=judge_labels, background=cfg.background,
                          echo=echo)
    # A conditional G is drawn for the classes of the real images it is compared with, when the judge
    # knows the run's own classes; else for each class in turn.
    drawn = evaluator.class_mix(getattr(G, "num_classes", 0)) if judge_labels == cfg.labels else None
    images = sample(G, cfg.latent_dim, n, seed, device=device, labels=drawn)
    conditional = {"drawn_for": "each class in turn" if drawn is None else "the real images' classes"}
    metrics = {"run": str(run_dir), **(conditional if cfg.conditional else {}),
               **({"upscaled_by": str(upscale)} if upscale else {})} | evaluator(images, seed)
    if drawn is not None:  # does `generate --label K` draw class K? every class equally, n/K samples each
        metrics |= evaluator.label_accuracy(sample(G, cfg.latent_dim, n, seed, device=device), sample_labels(G, n))
    if cas:
        from .metrics.cas import classification_accuracy_score

        metrics |= classification_accuracy_score(G, cfg.latent_dim, cfg.dataset, cfg.data_dir, n, seed, device=device,
                                                 echo=echo)
    return _written(metrics, json_out)


def _written(metrics: dict, json_out) -> dict:
    if json_out:
        atomic_write(json_out, lambda tmp: Path(tmp).write_text(json.dumps(metrics, indent=2) + "\n"))
    return metrics


def format_report(metrics: dict) -> str:
    """The metrics as text, each next to its calibrated reference values when there are some."""
    if metrics.get("task", "gan") != "gan":
        return format_translation_report(metrics)
    found = reference_rows(metrics["dataset"], metrics["n"])
    judge_info, rows = found if found else ({}, {})
    shown = [key for key in SHOWN_REFERENCES if key in rows]
    accuracy = metrics["judge_accuracy"]
    judge = (f"judge {metrics['judge']} ({metrics['judge_kind']}, test accuracy "
             f"{'n/a, no labels' if accuracy is None else f'{accuracy:.2%}'}, {metrics['feature_dim']}-d features)")
    lines = [f"{metrics.get('run', metrics['dataset'])}: {metrics['n']} samples against {metrics['n']} "
             f"{metrics['reference']} images (seed {metrics['seed']}"
             f"{', drawn for ' + metrics['drawn_for'] if metrics.get('drawn_for') else ''})", judge, ""]
    lines.append(f"{'':<22}{'this run':>10}" + "".join(f"{key:>14}" for key in shown))
    for key, label, style in LINES:
        if metrics.get(key) is not None:
            values = [metrics[key]] + [rows[row].get(key) for row in shown]
            lines.append(f"{label:<22}" + "".join(f"{_number(v, style):>{10 if i == 0 else 14}}"
                                                    for i, v in enumerate(values)))
    if metrics.get("class_hist") is not None and len(metrics["class_hist"]) <= 100:  # stacked MNIST: modes below
        lines.append("class histogram       " + " ".join(f"{i}:{share:.1%}" for i, share in
                                                          enumerate(metrics["class_hist"])))
    lines += mode_lines(metrics)
    lines += _label_lines(metrics)
    lines += _cas_lines(metrics)
    lines += [""] + _reference_notes(metrics, judge_info, rows, shown)
    lines.append("memorisation ratio: about 1 for new real images; below 1, samples sit closer to the training "
                 "set than new real images do (copying)")
    if metrics.get("inception_fid") is not None:
        lines.append(f"Inception FID (paper-comparable): {metrics['inception_fid']:.3f}")
    lines += metrics.get("notes", [])
    return "\n".join(lines)


def _label_lines(metrics: dict) -> list[str]:
    if metrics.get("label_accuracy") is None:
        return []
    per, real = metrics["label_accuracy_per_class"], metrics.get("judge_class_accuracy") or [None] * len(
        metrics["label_accuracy_per_class"])
    names = metrics.get("class_names") or [str(k) for k in range(len(per))]
    known = [a for a in real if a is not None]
    floor = f"; real held-out images of each class: {sum(known) / len(known):.3f}" if known else ""
    lines = ["", f"label accuracy {metrics['label_accuracy']:.3f}: the share of samples drawn for class k that the "
                 f"judge puts in class k, every class equally{floor}"]
    variety = metrics.get("class_variety_per_class") or [None] * len(per)
    if metrics.get("class_variety") is not None:
        lines.append(f"class variety {metrics['class_variety']:.3f}: how spread a class's samples are in the judge's "
                     f"features against its real images (1: as varied; well below 1: much the same image)")
    lines += [f"  {name[:24]:<24}{fake:>7.3f}" + ("" if r is None else f"   (real {r:.3f})")
              + ("" if v is None else f"   variety {v:.2f}")
              for name, fake, r, v in zip(names, per, real, variety)]
    return lines


def _cas_lines(metrics: dict) -> list[str]:
    if metrics.get("cas_fake_accuracy") is None:
        return []
    n = f"{metrics['cas_n']:,}"
    return ["", f"classification accuracy score (CAS): the judge's network trained on {n} generated images only, "
                f"tested on {metrics['cas_test']}",
            f"  trained on {n} fakes: {metrics['cas_fake_accuracy']:.2%}   on {n} real: "
            f"{metrics['cas_real_accuracy']:.2%}   ({metrics['cas_epochs']} epochs, seed {metrics['cas_seed']})"]


def _reference_notes(metrics: dict, judge_info: dict, rows: dict, shown: list[str]) -> list[str]:
    if not rows:
        return ["no reference values for this dataset yet: run scripts/calibrate_metrics.py"]
    n = next(iter(rows.values()))["n"]
    notes = [f"reference columns (scripts/calibrate_metrics.py, N={n}):"]
    notes += [f"  {key:<14}{ROWS[key]}" for key in shown]
    if judge_info.get("fingerprint") != metrics["judge"].rsplit("/", 1)[-1]:
        notes.append(f"  (made with another judge build, accuracy {judge_info.get('accuracy')}: compare roughly)")
    return notes


def _number(value, style: str) -> str:
    return "-" if value is None else style.format(value)
