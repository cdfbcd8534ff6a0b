"""`ganforge evaluate` for image-to-image runs (pix2pix, super-resolution; issue 17).

Reads the run folder only (generator and config.yaml) and the run's held-out pairs (the split no
step of training saw). Scores the run's outputs and the baseline that needs no training (the input
itself; bicubic upscaling for super-resolution) by the same metrics (metrics/translate.py), and
gives the FID of two real sets of that size (held-out targets against as many training targets):
what "as real as other real images" scores at this N. It is no floor: outputs that nearly copy
their own targets (a good super-resolution) sit closer to them than other real images do.
"""

from __future__ import annotations

import torch

from .data import to_float, to_uint8
from .data.folder import FolderOptions
from .data.pairs import parse_spec
from .data.superres import upscale
from .data.tasks import task_pairs
from .metrics import get_judge
from .metrics.fid import frechet
from .metrics.translate import translation_metrics

BASELINE = {"pix2pix": "the input itself", "cycle": "the input itself", "sr": "bicubic upscaling"}
ROWS = (("l1", "L1 to the target", "{:.4f}", "lower is better"), ("psnr", "PSNR (dB)", "{:.2f}", "higher"),
        ("ssim", "SSIM", "{:.4f}", "higher"), ("fid", "FID (judge features)", "{:.2f}", "lower"))


def default_judge(cfg) -> str:
    """Whose judge scores the outputs: the target folder's (pix2pix, cycle), or the dataset's (sr)."""
    return cfg.dataset if cfg.task == "sr" else f"folder:{parse_spec(cfg.dataset)[1]}"


def evaluate_translation(G, cfg, run_dir, judge: str | None = None, labels: str | None = None, seed: int = 0,
                         device="cpu", echo=print) -> dict:
    options = FolderOptions(cfg.channels, cfg.image_size, background=cfg.background)
    test, train = (task_pairs(cfg.task, cfg.dataset, split, options, cfg.scale, cfg.data_dir, echo)
                   for split in ("test", "train"))
    inputs, targets = torch.from_numpy(test.a), torch.from_numpy(test.b)
    with torch.no_grad():
        outputs = torch.cat([to_uint8(G(to_float(chunk).to(device))).cpu() for chunk in inputs.split(64)])
    baseline = to_uint8(upscale(to_float(inputs), cfg.scale)) if cfg.task == "sr" else inputs
    source = judge or default_judge(cfg)
    scorer = get_judge(source, cfg.data_dir, image_shape=cfg.image_shape, device=device, labels=labels or "",
                       background=cfg.background, echo=echo)
    real = scorer.embed(targets, device, logits=False).features  # once, for all three FIDs
    others = torch.from_numpy(train.b)[torch.randperm(len(train.b), generator=torch.Generator().manual_seed(seed))]
    floor = frechet(real, scorer.embed(others[:len(targets)], device, logits=False).features)
    return {"run": str(run_dir), "task": cfg.task, "dataset": cfg.dataset, "n": len(targets), "seed": seed,
            "judge": scorer.name, "judge_kind": scorer.kind, "baseline_name": BASELINE[cfg.task],
            "model": translation_metrics(outputs, targets, scorer, device, real),
            "baseline": translation_metrics(baseline, targets, scorer, device, real), "real_fid": floor}


def format_translation_report(metrics: dict) -> str:
    lines = [f"{metrics['run']}: {metrics['task']} outputs for the {metrics['n']} held-out pairs of {metrics['dataset']}",
             f"judge {metrics['judge']} ({metrics['judge_kind']})", "",
             f"{'':<22}{'this run':>10}{metrics['baseline_name']:>22}"]
    for key, label, style, better in ROWS:
        lines.append(f"{label:<22}{style.format(metrics['model'][key]):>10}"
                     f"{style.format(metrics['baseline'][key]):>22}   {better}")
    lines += ["", f"FID of two real sets of {metrics['n']} (held-out targets against as many training targets): "
                  f"{metrics['real_fid']:.2f}, what 'as real as other real images' scores at this N (outputs that "
                  f"nearly copy their own targets can score below it)"]
    return "\n".join(lines)
