"""What the judge thinks the samples are: classifier score, class histogram, coverage, class KL;
for a conditional G, whether each class is drawn (label accuracy) and how varied it is (class variety).

The real side is the judge's predictions on the real reference images, not their labels, so the
judge's own mistakes appear on both sides and cancel. All None for a judge without classes.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torchmetrics.image.inception import InceptionScore

from ..seeding import private_rng
from .fid import Precomputed

IS_SPLITS = 10  # the Inception Score convention: mean and spread over 10 splits
# A class counts as covered when it gets at least this share of its real frequency (2% of samples
# for 10 balanced classes): the few samples the judge misreads must not count as covering a class.
COVERED_FRACTION = 0.2

KEYS = ("classifier_score", "classifier_score_std", "classes_covered", "class_kl", "class_hist")


def class_metrics(fake, ref, seed: int) -> dict:
    if fake.logits is None or ref.real.logits is None:
        return dict.fromkeys(KEYS)
    fake_hist, real_hist = class_histogram(fake.logits), class_histogram(ref.real.logits)
    score, spread = classifier_score(fake.logits, seed)
    return {
        "classifier_score": score,
        "classifier_score_std": spread,
        "classes_covered": int((fake_hist >= COVERED_FRACTION * real_hist).sum()),
        # KL(samples || real): finite whenever the real histogram has every class, which it does
        "class_kl": F.kl_div(real_hist.log(), fake_hist, reduction="sum").item(),
        "class_hist": [round(share, 5) for share in fake_hist.tolist()],
    }


def class_histogram(logits: torch.Tensor) -> torch.Tensor:
    """Share of images the judge puts in each class, float64 (classes,)."""
    counts = torch.bincount(logits.argmax(1), minlength=logits.shape[1])
    return counts.double() / len(logits)


def classifier_score(logits: torch.Tensor, seed: int) -> tuple[float, float]:
    """The Inception Score with the judge as the classifier: exp E[KL(p(y|x) || p(y))], via torchmetrics."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")  # N is bounded
        metric = InceptionScore(feature=Precomputed(logits.shape[1]), splits=IS_SPLITS)
    metric.update(logits)
    with private_rng(seed):  # it shuffles before splitting; keep the caller's stream
        mean, std = metric.compute()
    return mean.item(), std.item()


def label_accuracy(logits: torch.Tensor, drawn: torch.Tensor) -> dict:
    """Does a conditional G draw the class it is asked for? The share of samples drawn for class k that
    the judge puts in class k, per class, and their mean (each class counts once, however rare)."""
    per_class = class_hit_rates(logits.argmax(1) == drawn, drawn, logits.shape[1])
    return {"label_accuracy": sum(per_class) / len(per_class), "label_accuracy_per_class": [round(a, 4) for a in per_class]}


def class_hit_rates(hits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[float | None]:
    """The share of True in `hits` among the images of each class (None for a class with no image)."""
    return [hits[labels == k].double().mean().item() if (labels == k).any() else None for k in range(num_classes)]


def class_variety(fake_features: torch.Tensor, drawn: torch.Tensor, real_features: torch.Tensor,
                  real_labels: torch.Tensor, num_classes: int) -> dict:
    """How varied a conditional G's samples of each class are, against the real images of that class:
    the mean pairwise distance of the judge's features among the samples drawn for class k, over the
    same among the real images labelled k. 1 is as varied as the real class; well below 1, G draws
    much the same image for a class whatever the noise (mode collapse within the class, which FID over
    all classes and label accuracy both miss). None for a class with fewer than 2 images on a side."""
    ratios = []
    for k in range(num_classes):
        fake, real = fake_features[drawn == k], real_features[real_labels == k]
        if len(fake) < 2 or len(real) < 2:
            ratios.append(None)
            continue
        ratios.append(_mean_distance(fake) / max(_mean_distance(real), 1e-12))
    known = [r for r in ratios if r is not None]
    return {"class_variety": sum(known) / len(known) if known else None,
            "class_variety_per_class": [None if r is None else round(r, 4) for r in ratios]}


def _mean_distance(features: torch.Tensor) -> float:
    """Mean Euclidean distance over the pairs of distinct rows (float64: sums of many small terms)."""
    f = features.double()
    n = len(f)
    return (torch.cdist(f, f).sum() / (n * (n - 1))).item()
