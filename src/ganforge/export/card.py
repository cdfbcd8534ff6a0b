"""MODEL_CARD.md for a run (Mitchell et al. 2019, "Model Cards for Model Reporting"): the model, its
training data and that data's licence, the recipe, the metrics next to their references, the intended
use and the limits. Everything comes from the run folder, the data's own README and, when given, a
`ganforge evaluate --json` file; nothing is sampled or trained here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from ..data import FOLDER_PREFIX
from ..errors import ConfigError, GanforgeError
from ..fileio import atomic_write
from ..generate import load_generator
from ..nets import count_parameters
from ..run import open_run

MNIST_CREDIT = ("Yann LeCun, Corinna Cortes and Christopher J. C. Burges", "CC BY-SA 3.0 "
                "(https://creativecommons.org/licenses/by-sa/3.0/)")
KNOWN_DATA = {  # dataset -> (what it is, by whom, licence); as in the README's "Data attribution"
    "mnist": ("MNIST: 60,000 training and 10,000 test images of handwritten digits, 28x28 grayscale",
              *MNIST_CREDIT),
    "embedded-mnist": ("10,000 images of the MNIST training set (the first 1,000 of each digit), shipped inside "
                       "ganforge (src/ganforge/data/embedded/ATTRIBUTION.md)", *MNIST_CREDIT),
    "fashion-mnist": ("Fashion-MNIST: 60,000 training and 10,000 test images of clothing in 10 classes, 28x28 "
                      "grayscale", "Zalando Research", "MIT"),
    "cifar10": ("CIFAR-10: 50,000 training and 10,000 test colour images in 10 classes, 32x32", "Alex Krizhevsky "
                "(2009, \"Learning Multiple Layers of Features from Tiny Images\")",
                "no licence stated by its authors; cite the report"),
}
README_LINES = 40  # at most this much of the data README's section is quoted


def write_card(run_dir: str | Path, out: str | Path = "MODEL_CARD.md", metrics_file: str | Path | None = None) -> str:
    """Write the run's model card to `out`; returns its text."""
    run = open_run(run_dir)
    G, cfg = load_generator(run_dir)
    records, findings = run.read_metrics([]), run.read_diagnosis([])
    metrics = _read_metrics(metrics_file)
    sections = [
        f"# Model card: {run.root.name}\n\n{_summary(cfg)}",
        _model_section(run, cfg, G),
        _data_section(cfg),
        _recipe_section(cfg, records),
        _metrics_section(cfg, records, metrics),
        _use_section(cfg),
        _limits_section(cfg, findings, metrics),
        "## Config\n\n```yaml\n" + yaml.safe_dump(cfg.to_dict(), sort_keys=False) + "```",
    ]
    text = "\n\n".join(sections) + "\n"
    atomic_write(out, lambda tmp: Path(tmp).write_text(text))
    return text


def _read_metrics(path) -> dict | None:
    if path is None:
        return None
    try:
        metrics = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"--metrics {path}: cannot read it as JSON ({err}); pass the file `ganforge evaluate "
                          "RUN --json FILE` wrote") from None
    if not isinstance(metrics, dict) or "fid" not in metrics or "dataset" not in metrics:
        raise ConfigError(f"--metrics {path} is not a `ganforge evaluate --json` file (no fid/dataset)")
    return metrics


def _summary(cfg) -> str:
    out = f"a {'x'.join(map(str, cfg.image_shape))} image out"
    if cfg.task != "gan":
        return (f"An image-to-image generator ({TASKS[cfg.task]}) trained with ganforge on `{cfg.dataset}`: "
                f"a {'x'.join(map(str, cfg.input_shape))} image in, {out}.")
    return (f"A {'class-conditional ' if cfg.conditional else ''}GAN generator trained with ganforge on "
            f"`{cfg.dataset}`: {cfg.latent_dim}-d noise{' and a class' if cfg.conditional else ''} in, {out}.")


TASKS = {"pix2pix": "pix2pix, paired", "cycle": "CycleGAN, unpaired; this is the A -> B net",
         "sr": "super-resolution"}


def _model_section(run, cfg, G) -> str:
    weights = run.generator if run.generator.is_file() else run.checkpoint
    classes = f"{cfg.num_classes} classes (`--label 0` to `--label {cfg.num_classes - 1}`)" if cfg.conditional \
        else "unconditional" if cfg.task == "gan" else "conditioned on its input image"
    use = "--input IMAGE_OR_FOLDER --out OUT" if cfg.task != "gan" else "--n 64 --out grid.png"
    return "\n".join([
        "## Model", "",
        f"- Generator: `{cfg.arch if cfg.task == 'gan' else type(G).__name__}`, {count_parameters(G):,} parameters, "
        f"{classes}",
        f"- Weights: `{weights.name}`{' (the exponential moving average of G, decay ' + str(cfg.ema) + ')' if cfg.ema else ''}",
        f"- Output: {cfg.channels} channel(s), {cfg.image_size}x{cfg.image_size} px, values in [-1, 1] "
        "(pixel = (value + 1) * 127.5)",
        f"- Use it: `ganforge generate {run.root} {use}`; `ganforge export {run.root} --onnx g.onnx`",
    ])


def _data_section(cfg) -> str:
    lines = ["## Training data", ""]
    known = KNOWN_DATA.get(cfg.dataset)
    if known:
        lines += [f"- {known[0]}", f"- By: {known[1]}", f"- Licence: {known[2]}"]
    else:
        lines += [f"- `{cfg.dataset}`: a folder of the user's own images"
                  + (f", labels from `{cfg.labels}`" if cfg.labels else "") + "; licence: see below, or ask its owner"]
    if cfg.subset:
        lines.append(f"- Only the first {cfg.subset:,} images were used (subset={cfg.subset})")
    readme = data_readme(cfg)
    if readme:
        path, section = readme
        lines += ["", f"From the data's own README (`{path}`):", ""] + [f"> {line}".rstrip() for line in section]
    if cfg.dataset in ("mnist", "embedded-mnist"):
        lines += ["", "CC BY-SA asks that what is shared keep the attribution, under the same licence; whether "
                      "a model or its samples are covered is a legal question this card does not answer."]
    return "\n".join(lines)


def data_readme(cfg) -> tuple[Path, list[str]] | None:
    """(README path, the lines of its section about this dataset's folder), where there is one."""
    folder = _data_folder(cfg)
    if folder is None:
        return None
    for readme in (folder / "README.md", folder.parent / "README.md"):
        if readme.is_file():
            section = readme_section(readme.read_text(errors="replace"), folder.name)
            if section:
                return readme, section[:README_LINES]
    return None


def _data_folder(cfg) -> Path | None:
    if cfg.dataset.startswith(FOLDER_PREFIX):
        return Path(cfg.dataset[len(FOLDER_PREFIX):]).expanduser().resolve()
    if cfg.dataset not in ("mnist", "fashion-mnist", "cifar10"):
        return None  # embedded-mnist: its ATTRIBUTION.md is named above
    from ..data import locate

    try:
        return locate.find(cfg.dataset, "train", cfg.data_dir, download=False).root
    except GanforgeError:
        return None  # the files are not on this machine: the known licence above is all there is


def readme_section(text: str, name: str) -> list[str]:
    """The lines under the first heading that names `name` (as `## name/` or `## name`), without the heading."""
    lines, found = text.splitlines(), None
    for i, line in enumerate(lines):
        heading = re.match(r"(#+)\s+(\S+)", line)
        if heading and found is None and heading.group(2).rstrip("/") == name:
            found, level = i, len(heading.group(1))
        elif heading and found is not None and len(heading.group(1)) <= level:
            return _trim(lines[found + 1: i])
    return _trim(lines[found + 1:]) if found is not None else []


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _objective(cfg) -> str:
    """What G and D were trained on. An image-to-image run has its own losses (training/translate.py,
    cycle.py): the noise-to-image `loss`, penalties and step order in its config go unused."""
    if cfg.task == "cycle":
        return (f"least-squares GAN x{cfg.adv_weight:g}, cycle L1 x{cfg.cycle_weight:g}, identity L1 "
                f"x{cfg.identity_weight:g}, image pool {cfg.pool_size}")
    if cfg.task in ("pix2pix", "sr"):
        return f"PatchGAN BCE x{cfg.adv_weight:g}, L1 to the target x{cfg.l1_weight:g}"
    extras = [f"{name} {getattr(cfg, name)}" for name in ("r1", "r2", "aux_classifier", "d_recon", "d_features") if getattr(cfg, name)]
    extras += [f"augment {cfg.augment}"] if cfg.augment else []
    return f"loss `{cfg.loss}`, step order `{cfg.step}`" + (f"; {', '.join(extras)}" if extras else "")


def _recipe_section(cfg, records: list[dict]) -> str:
    seconds = sum(r.get("epoch_seconds", 0) for r in records)
    seen = sum(r.get("epoch_seconds", 0) * r.get("img_per_s", 0) for r in records)
    return "\n".join([
        "## Training recipe", "",
        f"- Preset `{cfg.preset}`, {_objective(cfg)}, seed {cfg.seed}",
        f"- Adam: lr G {cfg.lr_g:g}, lr D {cfg.lr_d:g}, betas ({cfg.beta1:g}, {cfg.beta2:g}); batch {cfg.batch_size}",
        f"- Networks: G width {cfg.g_width}, D width {cfg.d_width}, D dropout {cfg.d_dropout:g}, "
        f"spectral norm {'on' if cfg.spectral_norm else 'off'}",
        f"- Trained {records[-1]['epoch'] if records else 0} of {cfg.epochs} epochs, "
        f"{records[-1]['step'] if records else 0:,} steps, about {seen:,.0f} images seen in {seconds / 60:.1f} min"
        + (f" ({records[-1].get('step_path')})" if records and records[-1].get("step_path") else ""),
    ])


def _metrics_section(cfg, records: list[dict], metrics: dict | None) -> str:
    lines = ["## Metrics", ""]
    evaluated = [r for r in records if r.get("eval_fid") is not None]
    if evaluated:
        lines += _training_eval_table(cfg, evaluated[-1]) + [""]
    if metrics:
        from ..evaluate import format_report  # the same text `ganforge evaluate` prints

        lines += ["`ganforge evaluate` (judge features; references calibrated by scripts/calibrate_metrics.py):", "",
                  "```", format_report(metrics), "```"]
    if not evaluated and not metrics:
        lines.append("No quality metrics recorded yet. Measure them with `ganforge evaluate RUN --cas --json m.json` "
                     "and pass `--metrics m.json` to `ganforge export RUN --card`.")
    return "\n".join(lines)


def _training_eval_table(cfg, record: dict) -> list[str]:
    """The newest training-time evaluation (eval_every) next to the calibrated reference rows."""
    from ..metrics.calibration import reference_rows

    found = reference_rows(cfg.dataset, cfg.eval_n)
    rows = found[1] if found else {}
    shown = [key for key in ("real", "noise-0.1", "noise-0.3", "single-image") if key in rows]
    lines = [f"Judge metrics during training, epoch {record['epoch']}, N={cfg.eval_n} (reference columns: real "
             "train images, with Gaussian noise 0.1 and 0.3, and one image repeated):", "",
             "| metric | this run | " + " | ".join(shown) + " |", "|---|--:|" + "--:|" * len(shown)]
    for key in ("fid", "classes_covered", "precision", "recall", "memorisation_ratio"):
        value = record.get(f"eval_{key}")
        if value is not None:
            refs = [rows[row].get(key) for row in shown]
            lines.append(f"| {key} | {_fmt(value)} | " + " | ".join(_fmt(v) for v in refs) + " |")
    return lines


def _fmt(value) -> str:
    return "-" if value is None else (f"{value:.3g}" if isinstance(value, float) else str(value))


def _use_section(cfg) -> str:
    what = "digits" if "mnist" in cfg.dataset and cfg.dataset != "fashion-mnist" else "images"
    uses = [f"- Learning and teaching how GANs work; drawing new {what} like the training set for demos.",
            "- Extra training data for a classifier of the same classes (`ganforge export RUN --dataset DIR`), "
            "checked with the classification accuracy score (`ganforge evaluate RUN --cas`) before it is trusted."]
    if cfg.task != "gan":
        uses = [f"- Learning and teaching how image-to-image GANs work; {'upscaling' if cfg.task == 'sr' else 'translating'} "
                f"{what} like the training inputs, judged against their targets (`ganforge evaluate RUN`)."]
    return "\n".join([
        "## Intended use", "", *uses,
        "- Not for: decisions about people, passing generated images off as real ones, or any use the training "
        "data's licence does not allow.",
    ])


def _limits_section(cfg, findings: list[dict], metrics: dict | None) -> str:
    lines = [
        "## Limits", "",
        f"- It draws only what `{cfg.dataset}` holds, at {cfg.image_size}x{cfg.image_size} px, with that data's "
        "biases (who wrote or photographed it, and how it was collected).",
        "- Samples can be blurred, broken or of the wrong class; GAN samples are usually less varied than real "
        "data (recall below the real reference).",
        "- A generator can copy training images: the memorisation ratio says whether samples sit closer to the "
        "training set than new real images do (below 1).",
    ]
    if metrics and metrics.get("cas_fake_accuracy") is not None:
        lines.append(f"- A classifier trained on {metrics['cas_n']:,} of its images reaches "
                     f"{metrics['cas_fake_accuracy']:.2%} on real test images, against "
                     f"{metrics['cas_real_accuracy']:.2%} when trained on as many real ones.")
    lines += [f"- Training health, epoch {f['epoch']}: {f['message']}" for f in findings]
    return "\n".join(lines)
