"""Training-health checks: each epoch, read the stats history and say in plain words what looks wrong.

Every finding is one line with a concrete suggestion. The training loop prints new findings, puts
the codes in the epoch's record (`warnings`, so metrics.jsonl keeps them), and its callbacks store
the findings in diagnosis.jsonl, which `ganforge info` shows. This module only reads numbers.
The rules use only what the loop already measures, plus the fixed-noise samples' spread (stored as
`sample_spread`) and, when evaluation is on, the judge's class coverage.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .data import to_float
from .losses import BCELoss

PATIENCE = 3  # epochs a symptom must last before it is reported (one bad epoch is noise)
D_WINS = 0.95  # D's accuracy on fakes at or above this: D rejects nearly every fake
D_AT_CHANCE_ACC = 0.55  # mean of D's accuracy on real and fake at or below this: D is guessing
D_AT_CHANCE_LOSS = 0.94  # with its loss at this share of the loss's chance level or above (bce: 1.30 of log 4)
SPREAD_COLLAPSED = 0.20  # fixed-noise samples' spread below this share of real images' spread
COVERAGE_DROP = 2  # classes lost against the best coverage seen so far


@dataclass
class Finding:
    code: str
    message: str


def spread(images: torch.Tensor) -> float:
    """Mean pairwise L2 distance between images, per pixel: 0 when all images are the same."""
    flat = images.flatten(1).float()
    n = len(flat)
    if n < 2:
        return 0.0
    dist = torch.cdist(flat, flat)
    return float(dist.sum() / (n * (n - 1)) / flat.shape[1] ** 0.5)


def check_history(history: list[dict], real_spread: float | None = None,
                  chance: float | None = BCELoss.chance) -> list[Finding]:
    """Findings for the newest record of `history` (one dict per epoch, oldest first). chance: D's
    loss when it cannot tell real from fake (losses.py; None: the loss has no such level, and
    "D at chance" is not judged)."""
    found = []
    recent = history[-PATIENCE:]
    last = history[-1]
    if len(recent) == PATIENCE and all(r["d_acc_fake"] >= D_WINS for r in recent) \
            and recent[-1]["g_loss"] > recent[0]["g_loss"]:
        found.append(Finding("d_dominates", (
            f"D is winning: it rejects {last['d_acc_fake']:.0%} of fakes for {PATIENCE} epochs while G's loss climbs "
            f"to {last['g_loss']:.2f}; G gets little gradient. Try a lower lr_d or a higher lr_g, or more d_dropout.")))
    if chance and len(recent) == PATIENCE and all((r["d_acc_real"] + r["d_acc_fake"]) / 2 <= D_AT_CHANCE_ACC
                                                  and r["d_loss"] >= D_AT_CHANCE_LOSS * chance for r in recent):
        found.append(Finding("d_collapsed", (
            f"D is at chance: accuracy {(last['d_acc_real'] + last['d_acc_fake']) / 2:.0%} and loss {last['d_loss']:.2f} "
            f"(chance {chance:.2f}) for {PATIENCE} epochs, so G is being trained against noise. Try a higher lr_d, "
            "less d_dropout, or a lower lr_g.")))
    # An untrained G also draws near-identical blobs, so only a lasting lack of spread counts.
    if real_spread and len(recent) == PATIENCE and all(r.get("sample_spread") is not None and
                                                       r["sample_spread"] < SPREAD_COLLAPSED * real_spread
                                                       for r in recent):
        found.append(Finding("mode_collapse", (
            f"Mode collapse: the fixed-noise samples are nearly alike for {PATIENCE} epochs (spread "
            f"{last['sample_spread']:.3f} vs {real_spread:.3f} for real images). Try a lower lr_g, beta1 0.5, "
            "or restart from an earlier checkpoint.")))
    covered = [r["eval_classes_covered"] for r in history if r.get("eval_classes_covered") is not None]
    if covered and max(covered) - covered[-1] >= COVERAGE_DROP:
        found.append(Finding("mode_collapse", (
            f"Mode collapse: the judge sees {covered[-1]} classes in the samples, down from {max(covered)}. "
            "Try a lower lr_g or restart from an earlier checkpoint.")))
    return found


class Health:
    """The rules above applied as a run goes: which warnings hold for the newest record, and which
    of them start now (a condition that lasts is reported once, when it starts)."""

    def __init__(self, real_images: torch.Tensor, chance: float | None = BCELoss.chance):
        self.chance = chance
        gen = torch.Generator().manual_seed(0)  # own stream: never touches the training RNG
        pick = torch.randperm(len(real_images), generator=gen)[:64]
        self.real_spread = spread(to_float(real_images[pick]))

    def check(self, history: list[dict]) -> tuple[list[str], list[Finding]]:
        """(warning codes of the newest record, findings new since the record before)."""
        findings = check_history(history, self.real_spread, self.chance)
        previous = set(history[-2].get("warnings", [])) if len(history) > 1 else set()
        return sorted({f.code for f in findings}), [f for f in findings if f.code not in previous]


DIVERGED = Finding("diverged", "Losses or weights became NaN/Inf; training stopped and the last good checkpoint "
                               "was kept. Lower lr_g/lr_d and resume or restart.")
