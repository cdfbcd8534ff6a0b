"""The real images every sample set is compared with, as judge features, cached on disk.

- real: N images of the test split (never seen by the generator nor the judge), N the same as the
  number of samples, because FID and KID depend on N; the same N images whatever the sample seed.
- train_features: the whole training split, which a copying generator would copy from.
- heldout_nn: each real held-out image's distance to its nearest training image, the yardstick of
  the memorisation check; real_radii: each real image's distance to its K-th nearest real
  neighbour, the real manifold of precision. Both depend on the reference only, so are cached too.
A folder has one split only: its images, in a fixed shuffled order, are halved into a "train" half
and a "held-out" half for the memorisation check, and the real reference is drawn from all of them.

Cache entries under <cache>/references/ are named by (judge fingerprint, data fingerprint, split, N).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import FOLDER_PREFIX, ImageData, load_dataset
from ..errors import ConfigError
from . import cache
from .judge import Embedding, Judge, folder_images, judge_source
from .prdc import K, MEMORISATION_N, kth_nearest

REFERENCE_SEED = 0  # picks the N real images; fixed so every evaluation at N meets the same ones


@dataclass
class Reference:
    dataset: str                  # where the real images come from: mnist for embedded-mnist
    shape: tuple[int, int, int]   # (C, H, W) of the real images
    real: Embedding               # N real held-out images
    labels: torch.Tensor | None   # their classes (None for unlabelled data): a conditional G is drawn for
    #                               these, so fakes and reals have the same class mix (emoji: 60% people)
    train_features: torch.Tensor  # (N_train, D)
    heldout_nn: torch.Tensor      # (min(N_heldout, MEMORISATION_N),)
    real_radii: torch.Tensor      # (N,)

    @property
    def n(self) -> int:
        return len(self.real)


def load_reference(judge: Judge, dataset: str, data_dir, n: int, *, image_shape=None, device="cpu",
                   labels: str = "", background: str = "white", echo=print) -> Reference:
    """The reference for samples of `dataset` at N=n, built and cached on first use."""
    real, train, heldout = _parts(dataset, data_dir, n, image_shape, labels, background)
    train_features = _cached_embedding(judge, *train, device, echo).features
    real_embedding = _cached_embedding(judge, *real, device, echo)
    heldout_features = _cached_embedding(judge, *heldout, device, echo).features
    distances = _cached(_entry_path(judge, real[0], "distances", n), lambda: {
        "heldout_nn": kth_nearest(heldout_features[:MEMORISATION_N], train_features),
        "real_radii": kth_nearest(real_embedding.features, real_embedding.features, K, skip_self=True),
    })
    labels = None if real[0].labels is None else real[0].labels[real[1]]
    return Reference(real[0].name, real[0].shape, real_embedding, labels, train_features, **distances)


def reference_images(dataset: str, data_dir, n: int, image_shape=None, labels: str = "",
                     background: str = "white") -> torch.Tensor:
    """The N real reference images themselves, uint8 (N, C, H, W), for the optional Inception FID."""
    data, indices, _ = _parts(dataset, data_dir, n, image_shape, labels, background)[0]
    return data.images[indices]


def _parts(dataset: str, data_dir, n: int, image_shape, labels: str = "",
           background: str = "white") -> tuple[tuple[ImageData, torch.Tensor, str], ...]:
    """(data, indices, part name) of the real reference, the train set and the held-out set."""
    if dataset.startswith(FOLDER_PREFIX):
        data = folder_images(dataset, image_shape, labels, background)
        order = _fixed_order(len(data))
        half = len(data) // 2
        real = (data, order[:n], "reference")
        train, heldout = (data, order[:half], "train"), (data, order[half:], "heldout")
    else:
        source = judge_source(dataset)
        test, data = load_dataset(source, "test", data_dir), load_dataset(source, "train", data_dir)
        real = (test, _fixed_order(len(test))[:n], "reference")
        train, heldout = (data, torch.arange(len(data)), "train"), real
    if len(real[1]) < n:
        raise ConfigError(f"{real[0].name} has {len(real[1])} real images to compare with; use --n {len(real[1])} "
                          f"or fewer")
    return real, train, heldout


def _cached_embedding(judge: Judge, data: ImageData, indices: torch.Tensor, part: str, device, echo) -> Embedding:
    path = _entry_path(judge, data, part, len(indices))

    def build():
        echo(f"judge features of {len(indices)} {data.name} {data.split} images ({part}); cached in {path.parent}")
        # the train part's logits are never read (memorisation looks at features): 128,000 stacked
        # images would carry 1,000 logits each
        embedding = judge.embed(data.images[indices], device, logits=part != "train")
        return {"features": embedding.features} | ({} if embedding.logits is None else {"logits": embedding.logits})

    tensors = _cached(path, build)
    return Embedding(tensors["features"], tensors.get("logits"))


def _cached(path: Path, build) -> dict[str, torch.Tensor]:
    entry = cache.load_entry(path)
    if entry is not None:
        return entry[0]
    tensors = build()
    cache.save_entry(path, tensors, {"built_from": path.name})
    return tensors


def _entry_path(judge: Judge, data: ImageData, part: str, count: int) -> Path:
    return cache.cache_root() / "references" / f"{judge.fingerprint}-{data.fingerprint}-{data.split}-{part}-{count}"


def _fixed_order(count: int) -> torch.Tensor:
    return torch.randperm(count, generator=torch.Generator().manual_seed(REFERENCE_SEED))
