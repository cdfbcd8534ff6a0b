"""Sample quality, measured offline against real held-out images: the one place metrics are computed.

    metrics = evaluate_images(fake_u8, "mnist")     # flat dict of plain numbers, JSON-ready
    evaluator = Evaluator("mnist", n=2000)          # judge and reference loaded once (training time)
    metrics = evaluator(fake_u8, seed=0)

Every number is in the feature space of the dataset's judge (judge.py), against N real test images
(reference.py), N being the number of samples. METRICS maps a metric's name to its function
f(fake: Embedding, ref: Reference, seed) -> dict; `ganforge evaluate`, the training-time EvalWriter
and scripts/calibrate_metrics.py all call Evaluator, so a number means the same wherever it shows.

Keys: fid; kid_mean, kid_std; classifier_score(_std), classes_covered, class_kl, class_hist
(None without a classifier judge); precision, recall; memorisation_ratio; modes_covered, modes_kl
and the real images' (stacked MNIST only: modes.py); and what was measured
how: dataset, reference, n, seed, judge, judge_kind, judge_accuracy, feature_dim, seconds,
inception_fid (None unless enabled) and notes.
"""

from __future__ import annotations

import time

import torch

from ..errors import ConfigError
from . import classes, fid, inception, modes, prdc
from .judge import Judge, get_judge, judge_source, train_judge
from .reference import Reference, load_reference, reference_images

METRICS = {
    "fid": fid.fid,
    "kid": fid.kid,
    "classes": classes.class_metrics,
    "prdc": prdc.precision_recall,
    "memorisation": prdc.memorisation,
    "modes": modes.mode_metrics,  # stacked MNIST only (None elsewhere)
}
MIN_N = 10  # below this, covariances and k-NN radii mean nothing

__all__ = ["METRICS", "Evaluator", "evaluate_images", "get_judge", "train_judge", "judge_source", "Judge",
           "Reference"]


class Evaluator:
    """The judge and the real reference of one dataset at one N, loaded (or built) once."""

    def __init__(self, dataset: str, data_dir=None, n: int = 10000, *, image_shape=None, device="cpu",
                 inception_weights=None, labels: str = "", background: str = "white", echo=print):
        """labels, background: how a folder dataset was read for training (its judge reads it the same way)."""
        if n < MIN_N:
            raise ConfigError(f"--n {n}: evaluate at least {MIN_N} images (10000 for numbers to compare)")
        self.dataset, self.data_dir, self.n, self.device = dataset, data_dir, n, device
        self.image_shape, self.folder = image_shape, dict(labels=labels, background=background)
        self.inception_weights = inception.inception_weights(inception_weights)
        self.judge = get_judge(dataset, data_dir, image_shape=image_shape, device=device, echo=echo, **self.folder)
        self.reference = load_reference(self.judge, dataset, data_dir, n, image_shape=image_shape, device=device,
                                        **self.folder,
                                        echo=echo)

    def class_mix(self, num_classes: int) -> torch.Tensor | None:
        """The classes to draw a conditional G's N samples for: those of the N real images they are
        compared with (a balanced draw would be scored against a skewed real mix); None when the
        reference has no labels or other classes than the generator."""
        labels = self.reference.labels
        if labels is None or not num_classes or int(labels.max()) >= num_classes:
            return None
        return labels.clone()

    def label_accuracy(self, fake: torch.Tensor, drawn: torch.Tensor) -> dict:
        """A conditional G's samples `fake` drawn for classes `drawn`: how often the judge agrees, per class
        (metrics/classes.py), next to the judge's own per-class accuracy on real held-out images; and
        how varied each class's samples are against the reference images of that class."""
        embedding = self.judge.embed(fake, self.device)
        variety = {}
        if self.reference.labels is not None:  # the real side: the reference images, by their labels
            variety = classes.class_variety(embedding.features, drawn, self.reference.real.features,
                                            self.reference.labels, embedding.logits.shape[1])
        return classes.label_accuracy(embedding.logits, drawn) | variety | {
            "judge_class_accuracy": self.judge.info.get("class_accuracy"),
            "class_names": self.judge.info.get("class_names")}

    def __call__(self, fake: torch.Tensor, seed: int = 0, metrics=None) -> dict:
        """Metrics of the first N of `fake`, uint8 (>=N, C, H, W); `metrics` picks names from METRICS."""
        self._check(fake, metrics)
        start = time.perf_counter()
        fake = fake[: self.n]
        embedding = self.judge.embed(fake, self.device)
        result = self._header(seed)
        for name in metrics or METRICS:
            result.update(METRICS[name](embedding, self.reference, seed))
        result.update(self._inception_fid(fake))
        result["seconds"] = round(time.perf_counter() - start, 2)
        return result

    def _check(self, fake: torch.Tensor, metrics) -> None:
        unknown = sorted(set(metrics or ()) - set(METRICS))
        if unknown:
            raise ConfigError(f"unknown metric {', '.join(unknown)}; choose from {', '.join(METRICS)}")
        if fake.dtype != torch.uint8 or fake.dim() != 4:
            raise TypeError(f"evaluate expects uint8 images (N, C, H, W), got {fake.dtype} {tuple(fake.shape)}")
        if tuple(fake.shape[1:]) != self.reference.shape:
            shape, real = "x".join(map(str, fake.shape[1:])), "x".join(map(str, self.reference.shape))
            raise ConfigError(f"samples are {shape} but {self.reference.dataset} images are {real}; evaluate "
                              f"against the dataset the generator was trained on")
        if len(fake) < self.n:
            raise ConfigError(f"{len(fake)} samples for an evaluation at N={self.n}; give at least {self.n}")

    def _header(self, seed: int) -> dict:
        return {
            "dataset": self.dataset,
            "reference": f"{self.reference.dataset} (the folder itself: it has no test split)"
            if self.dataset.startswith("folder:") else f"{self.reference.dataset} test",
            "n": self.n,
            "seed": seed,
            "judge": self.judge.name,
            "judge_kind": self.judge.kind,
            "judge_accuracy": self.judge.accuracy,
            "feature_dim": self.judge.net.arch["feature_dim"],
        }

    def _inception_fid(self, fake: torch.Tensor) -> dict:
        if self.inception_weights is None:
            return {"inception_fid": None, "notes": [inception.HOW_TO_ENABLE]}
        real = reference_images(self.dataset, self.data_dir, self.n, self.image_shape, **self.folder)
        return {"inception_fid": inception.inception_fid(fake, real, self.inception_weights, self.device), "notes": []}


def evaluate_images(fake: torch.Tensor, dataset: str, data_dir=None, n: int = 10000, seed: int = 0, *,
                    metrics=None, device="cpu", inception_weights=None, labels: str = "", background: str = "white",
                    echo=print) -> dict:
    """Every metric of uint8 samples (N, C, H, W) of `dataset`, at N = min(n, len(fake)), as plain values.

    The real side is N images of the test split (embedded-mnist is scored against mnist; a folder
    against its own images); `seed` drives only the random subsets KID and the classifier score draw.
    """
    n = min(n, len(fake))
    evaluator = Evaluator(dataset, data_dir, n, image_shape=tuple(fake.shape[1:]), device=device,
                          inception_weights=inception_weights, labels=labels, background=background, echo=echo)
    return evaluator(fake, seed, metrics)
