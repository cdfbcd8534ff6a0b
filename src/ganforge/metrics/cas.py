"""Classification Accuracy Score (Ravuri & Vinyals 2019, "Classification Accuracy Score for
Conditional Generative Models"): how useful are a conditional generator's images as training data?

1. Draw N labelled images from G: the classes in turn, noise from `seed` (nets/sampling.py).
2. Train the judge's network on them alone, exactly as the judge is trained (judge.train_classifier).
3. Its accuracy on the real test split is the CAS. The same network trained on N real training
   images, with the same schedule, is the reference: a perfect generator scores about that.

Both results are cached like the judge (<cache>/cas/, keyed by the generator's weights or the data's
fingerprint, N, the seed, the epochs and the recipe), so asking again costs nothing.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..data import FOLDER_PREFIX, ImageData, load_dataset
from ..errors import ConfigError
from ..nets.conditional import balanced_labels
from ..nets.sampling import sample
from . import cache
from .judge import EPOCHS, FOLDER_IMAGE_PASSES, FOLDER_MAX_EPOCHS, RECIPE, judge_source, train_classifier, \
    weights_fingerprint


def cas_epochs(dataset: str, n: int) -> int:
    """The judge's epochs, or more for a small N: about FOLDER_IMAGE_PASSES images seen, as a small
    folder's judge gets (at most FOLDER_MAX_EPOCHS)."""
    return max(EPOCHS.get(judge_source(dataset), 5), min(FOLDER_MAX_EPOCHS, FOLDER_IMAGE_PASSES // n))


def classification_accuracy_score(G: nn.Module, latent_dim: int, dataset: str, data_dir=None, n: int = 10000,
                                  seed: int = 0, epochs: int | None = None, device="cpu", echo=print) -> dict:
    """CAS of G and its real-data reference, as cas_* keys of plain numbers."""
    if dataset.startswith(FOLDER_PREFIX):
        raise ConfigError("--cas needs a real test split, and a folder has none; it works on mnist, fashion-mnist, "
                          "embedded-mnist and cifar10 runs")
    classes = getattr(G, "num_classes", 0)
    if not classes:
        raise ConfigError("--cas needs a conditional run (its images are drawn per class, so they have labels); "
                          "this run is unconditional")
    source = judge_source(dataset)
    train, test = load_dataset(source, "train", data_dir), load_dataset(source, "test", data_dir)
    if classes != train.num_classes or n > len(train):
        raise ConfigError(f"--cas: this run draws {classes} classes at N={n}; {source} has {train.num_classes} "
                          f"classes and {len(train):,} training images")
    epochs = epochs or cas_epochs(dataset, n)
    key = f"n{n}-seed{seed}-e{epochs}-r{RECIPE}"

    def fakes() -> ImageData:
        images = sample(G, latent_dim, n, seed, device=device)
        return dataclasses.replace(train, images=images, labels=balanced_labels(n, classes), split="generated",
                                   source="generator")

    def reals() -> ImageData:
        pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:n]
        return dataclasses.replace(train, images=train.images[pick], labels=train.labels[pick])

    fake = _accuracy(f"{source}-fakes-{weights_fingerprint(G)}-{key}", fakes, test, epochs, seed, device, echo)
    real = _accuracy(f"{source}-real-{train.fingerprint}-{key}", reals, test, epochs, seed, device, echo)
    return {"cas_n": n, "cas_seed": seed, "cas_epochs": epochs, "cas_test": f"{source} test ({len(test):,} images)",
            "cas_fake_accuracy": fake, "cas_real_accuracy": real}


def _accuracy(name: str, make_data, test: ImageData, epochs: int, seed: int, device, echo) -> float:
    """Test accuracy of the judge's network trained on make_data(), from the cache when it is there."""
    path = cache.cache_root() / "cas" / name
    entry = cache.load_entry(path)
    if entry is not None:
        return entry[1]["accuracy"]
    data = make_data()
    echo(f"CAS: training the judge's network on {len(data):,} {data.split} images ({epochs} epochs); cached in "
         f"{path.parent}")
    return train_classifier(data, test, epochs, path, seed, device, accuracy_on=f"{test.name} test").accuracy
