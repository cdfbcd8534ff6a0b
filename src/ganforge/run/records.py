"""The names in a run's records, owned here so the trainer that writes them and every viewer that
reads them (info, the web page, plots) agree.

One record per epoch goes to metrics.jsonl:
    epoch, step                      where training is
    g_loss ... d_fake (STAT_NAMES)   the step's statistics, averaged over the epoch
    epoch_seconds, img_per_s         speed
    step_path                        how the step ran (e.g. "joint, fused CPU kernels, fp32, eager")
    sample_spread, warnings          training health (diagnose.py)
    eval_<metric>                    quality metrics when eval_every > 0 (EVAL_KEYS)
Image-to-image runs (training/translate.py) write, instead of the step's statistics:
    g_adv l1 cycle identity d_loss   their losses (TRANSLATION_NAMES; cycle and identity: CycleGAN)
    test_l1, test_psnr               G on the held-out pairs
"""

from __future__ import annotations

from dataclasses import asdict

STAT_NAMES = ("g_loss", "d_loss", "d_acc_real", "d_acc_fake", "d_real", "d_fake")
SPEED_NAMES = ("epoch_seconds", "img_per_s")
TRANSLATION_NAMES = ("g_adv", "l1", "cycle", "identity", "test_l1", "test_psnr")
# The metrics a training-time evaluation stores, each as eval_<name> (keys of metrics.Evaluator's result).
EVAL_KEYS = ("fid", "kid_mean", "kid_std", "classifier_score", "classes_covered", "class_kl", "class_hist",
             "precision", "recall", "memorisation_ratio", "seconds")


def eval_fields(metrics: dict) -> dict:
    """An Evaluator result as the eval_* fields of an epoch record."""
    return {f"eval_{key}": metrics[key] for key in EVAL_KEYS}


def format_record(record: dict, epochs: int) -> str:
    """The one console line of an epoch."""
    return (f"epoch {record['epoch']:>3}/{epochs}  G loss {record['g_loss']:.3f}  D loss {record['d_loss']:.3f}  "
            f"D acc real {record['d_acc_real']:.2f} fake {record['d_acc_fake']:.2f}  "
            f"D(x) {record['d_real']:.2f}  D(G(z)) {record['d_fake']:.2f}  "
            f"{record['epoch_seconds']:.1f}s  {record['img_per_s']:.0f} img/s")


def finding_record(epoch: int, finding) -> dict:
    """A line of diagnosis.jsonl: a health finding (diagnose.Finding) and the epoch it starts in."""
    return {"epoch": epoch, **asdict(finding)}
