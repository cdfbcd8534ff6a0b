"""The judge: the feature network every ganforge metric looks through.

Inception-v3, the usual choice, needs weights downloaded at run time and was never shown a 28x28
digit. The judge is a small CNN classifier that ganforge trains once on a dataset's real training
split (seeded; about a minute of 2-core CPU for MNIST) and caches under <cache>/judges/, named by a
fingerprint of the data it learned from. Its 128-d penultimate layer gives the features (FID, KID,
precision/recall, memorisation) and its logits the class predictions (classifier score, coverage).

A labelled folder gets the same classifier, fit on a fixed 90% of it and measured on the rest (it
has no test split). An unlabelled folder's network learns without labels, from two random views of
each image (SimCLR; contrastive.py), cached likewise; reports name it `contrastive`. Stacked MNIST
is judged by the MNIST judge, once per channel (modes.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data import FOLDER_PREFIX, ImageData, load_dataset, stacked, to_float
from ..errors import ConfigError, GanforgeError
from .. import threads
from ..seeding import private_rng
from . import cache, contrastive, modes
from .classes import class_hit_rates

JUDGE_SEED = 0
RECIPE = 1  # bump when the network or its training changes: cached judges of other recipes are not reused
FEATURE_DIM = 128
BATCH_SIZE = 256
PEAK_LR = 3e-3
# The fewest epochs that reach the targets with some margin: MNIST 99.10% (99.08% after 3 epochs),
# Fashion-MNIST 91.29% (91.04% after 5). CIFAR-10 has no target; its judge is weaker, and says so.
EPOCHS = {"mnist": 4, "fashion-mnist": 8, "cifar10": 15}
FOLDER_IMAGE_PASSES = 200_000  # a small folder gets more epochs: about this many images seen, at most
FOLDER_MAX_EPOCHS = 60
FOLDER_HELDOUT = 0.1  # share of a labelled folder kept out of the judge's training, for its accuracy
TRAIN_IMAGES_PER_SECOND = 3500  # measured on the 2-core CI machine under load; for the "will take" message

# A subset's judge is the whole's: the embedded 10,000 MNIST images are scored against MNIST itself.
JUDGE_SOURCE = {"embedded-mnist": "mnist"}


def judge_source(dataset: str) -> str:
    """The dataset whose judge and reference images score samples of `dataset`."""
    return JUDGE_SOURCE.get(dataset, dataset)


@dataclass
class Embedding:
    """What the judge sees in a set of images."""

    features: torch.Tensor        # float32 (N, FEATURE_DIM), CPU
    logits: torch.Tensor | None   # float32 (N, classes), CPU; None for a judge without classes

    def __len__(self) -> int:
        return len(self.features)


class JudgeNet(nn.Module):
    """uint8 images (N, C, H, W) -> features (N, 128) and logits (N, classes) or None."""

    def __init__(self, channels: int, num_classes: int, width: int = 16):
        super().__init__()
        self.arch = dict(channels=channels, num_classes=num_classes, width=width, feature_dim=FEATURE_DIM)
        w = width
        # Strided convs rather than conv + pool: a third of the compute for the same accuracy here.
        self.body = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),  # (w, H/2, W/2)
            nn.Conv2d(w, 2 * w, 3, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(),  # (2w, H/4, W/4)
            nn.Conv2d(2 * w, 4 * w, 3, 2, 1, bias=False), nn.BatchNorm2d(4 * w), nn.ReLU(),  # (4w, H/8, W/8)
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),  # (64w,) whatever the image size: 28 and 32 both give 4x4
            nn.Linear(64 * w, FEATURE_DIM), nn.ReLU(),  # the features
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(FEATURE_DIM, num_classes)) if num_classes else None

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        features = self.body(to_float(images))
        return features, None if self.head is None else self.head(features)


class FeatureExtractor(nn.Module):
    """The judge as torchmetrics wants a custom `feature` module: uint8 images -> (N, D)."""

    def __init__(self, net: JudgeNet):
        super().__init__()
        self.net = net
        self.num_features = FEATURE_DIM  # read by torchmetrics instead of probing with a random image

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)[0]


@dataclass(eq=False)
class Judge:
    net: JudgeNet   # eval mode
    info: dict      # kind, dataset, accuracy, seed, data_fingerprint, arch, train_seconds, fingerprint

    kind = property(lambda self: self.info["kind"])
    fingerprint = property(lambda self: self.info["fingerprint"])

    @property
    def accuracy(self) -> float | None:
        return self.info.get("accuracy")

    @property
    def name(self) -> str:
        return f"{self.info['dataset']}/{self.kind}/{self.fingerprint}"

    @cached_property
    def feature(self) -> FeatureExtractor:
        return FeatureExtractor(self.net)

    @torch.no_grad()
    def embed(self, images: torch.Tensor, device: str | torch.device = "cpu", batch_size: int = 1000,
              logits: bool = True) -> Embedding:
        """Features and (unless logits=False) logits of uint8 images (N, C, H, W), in batches on `device`
        (threads fitted between: threads.py)."""
        net, keep = self.net.to(device).eval(), logits and self.net.head is not None
        parts = [(f.cpu(), lg.cpu() if keep else None)
                 for f, lg in (net(chunk.to(device)) for chunk in threads.between(images.split(batch_size), device))]
        return Embedding(torch.cat([f for f, _ in parts]), torch.cat([lg for _, lg in parts]) if keep else None)


def folder_images(dataset: str, image_shape, labels: str = "", background: str = "white") -> ImageData:
    """A folder dataset as training saw it: same size, channels, labels and background."""
    if image_shape is None:
        raise ConfigError(f"{dataset}: the image shape (channels, size, size) is needed to read a folder")
    channels, size, _ = image_shape
    return load_dataset(dataset, "train", channels=channels, image_size=size, labels=labels, background=background)


def get_judge(dataset: str, data_dir=None, *, image_shape: tuple[int, int, int] | None = None,
              seed: int = JUDGE_SEED, train_if_missing: bool = True, device: str | torch.device = "cpu",
              labels: str = "", background: str = "white", echo=print) -> Judge:
    """The judge for `dataset`: from the cache, trained now (once) if missing; for a folder, a
    classifier of its labels, or a contrastive feature network when it has none. train_if_missing=False:
    only what is here already (a cached judge, data on disk), never training or downloading."""
    if dataset.startswith(FOLDER_PREFIX):
        data = folder_images(dataset, image_shape, labels, background)
        labelled = data.labels is not None
        path = judge_path(_folder_key(data) + ("" if labelled else "-contrastive"), data.fingerprint, seed)
        entry = cache.load_entry(path)
        if entry:
            return _restore(*entry, path)
        if not train_if_missing:
            raise GanforgeError(f"no judge for {data.name} in {path.parent} yet; `ganforge evaluate` on one of "
                                "its runs builds it")
        train = train_folder_judge if labelled else train_contrastive_judge
        return train(data, path, seed, device, echo)
    if dataset in stacked.SOURCE:  # each channel is a digit: the digit judge, once per channel (modes.py)
        digits = get_judge(stacked.SOURCE[dataset], data_dir, seed=seed, train_if_missing=train_if_missing,
                           device=device, echo=echo)
        return Judge(modes.PerChannelNet(digits.net), modes.per_channel_info(digits.info, dataset))
    source = judge_source(dataset)
    train = load_dataset(source, "train", data_dir, download=train_if_missing)
    path = judge_path(source, train.fingerprint, seed)
    if (entry := cache.load_entry(path)) is not None:
        return _restore(*entry, path)
    if not train_if_missing:
        raise GanforgeError(f"no judge for {source} in {path.parent} yet; build it with "
                            f"`ganforge judge train --dataset {source}`")
    return train_judge(source, data_dir, seed=seed, device=device, echo=echo)


def train_judge(dataset: str, data_dir=None, *, seed: int = JUDGE_SEED, device: str | torch.device = "cpu",
                echo=print) -> Judge:
    """Train the judge on the real training split, measure it on the test split, and cache it."""
    if dataset.startswith(FOLDER_PREFIX):
        raise ConfigError(f"{dataset}: a folder's judge is built when its samples are first evaluated (trained on "
                          f"its labels, or by contrast without); `judge train` is for the built-in datasets")
    source = stacked.SOURCE.get(dataset) or judge_source(dataset)  # stacked digits: the digits' judge
    train, test = load_dataset(source, "train", data_dir), load_dataset(source, "test", data_dir)
    epochs = EPOCHS.get(source, 5)
    path = judge_path(source, train.fingerprint, seed)
    estimate = epochs * len(train) / TRAIN_IMAGES_PER_SECOND
    echo(f"training the judge for {source} once (~{estimate:.0f} s on 2 CPU cores); cached in {path.parent}")
    judge = train_classifier(train, test, epochs, path, seed, device)
    echo(f"judge for {source}: test accuracy {judge.accuracy:.2%}, trained in {judge.info['train_seconds']:.0f} s; "
         f"saved {path}")
    return judge


def train_folder_judge(data: ImageData, path: Path, seed: int, device, echo) -> Judge:
    """A labelled folder's classifier: fit on a fixed 90% of it, accuracy on the rest, cached."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    cut = len(data) - max(1, round(FOLDER_HELDOUT * len(data)))
    fit, held = (dataclasses.replace(data, images=data.images[i], labels=data.labels[i]) for i in (order[:cut], order[cut:]))
    epochs = max(1, min(FOLDER_MAX_EPOCHS, FOLDER_IMAGE_PASSES // len(fit)))
    echo(f"training the judge for {data.name} once ({epochs} epochs of {len(fit)} images, "
         f"{data.num_classes} classes); cached in {path.parent}")
    judge = train_classifier(fit, held, epochs, path, seed, device, data_fingerprint=data.fingerprint,
                              accuracy_on=f"{len(held)} held-out images of the folder", class_names=data.class_names)
    echo(f"judge for {data.name}: accuracy {judge.accuracy:.2%} on {len(held)} held-out images; saved {path}")
    return judge


def train_classifier(fit: ImageData, held: ImageData, epochs: int, path: Path, seed: int, device,
                     **info_extra) -> Judge:
    """Fit a JudgeNet on `fit`, measure its accuracy on `held`, cache it under `path`."""
    start = time.perf_counter()
    # The judge's own seeded stream (init, shuffling, dropout); the caller's stream is left as it was.
    with private_rng(seed, device):
        net = JudgeNet(fit.shape[0], fit.num_classes).to(device)
        _fit(net, fit, epochs, device)
    seconds = time.perf_counter() - start
    net.eval()
    info = dict(kind="classifier", dataset=fit.name, recipe=RECIPE, seed=seed, epochs=epochs,
                data_fingerprint=fit.fingerprint, arch=net.arch, train_seconds=round(seconds, 1),
                fingerprint=weights_fingerprint(net)) | info_extra
    info["accuracy"], info["class_accuracy"] = _accuracy(Judge(net, info), held, device)
    cache.save_entry(path, net.state_dict(), info)
    return Judge(net.cpu(), info)


def _folder_key(data: ImageData) -> str:
    """A cache name for a folder's judge: the folder's own name and the image shape."""
    c, h, _ = data.shape
    return f"folder-{Path(data.source).name}-{c}x{h}"


def train_contrastive_judge(data: ImageData, path: Path, seed: int, device, echo) -> Judge:
    """An unlabelled folder's feature network, trained on all its images without labels, cached."""
    epochs = max(1, min(FOLDER_MAX_EPOCHS, FOLDER_IMAGE_PASSES // len(data)))
    echo(f"training the judge for {data.name} once, without labels ({epochs} epochs of {len(data)} images, "
         f"two views each); cached in {path.parent}")
    start = time.perf_counter()
    with private_rng(seed, device):
        net = JudgeNet(data.shape[0], num_classes=0).to(device)
        loss = contrastive.fit_contrastive(net.body, data.images, epochs, FEATURE_DIM, device)
    net.eval()
    info = dict(kind="contrastive", dataset=data.name, recipe=RECIPE, seed=seed, epochs=epochs,
                data_fingerprint=data.fingerprint, arch=net.arch, accuracy=None, final_loss=round(loss, 4),
                train_seconds=round(time.perf_counter() - start, 1), fingerprint=weights_fingerprint(net))
    cache.save_entry(path, net.state_dict(), info)
    echo(f"judge for {data.name}: contrastive loss {loss:.3f} after {info['train_seconds']:.0f} s; saved {path}")
    return Judge(net.cpu(), info)


def judge_path(source: str, data_fingerprint: str, seed: int) -> Path:
    """<cache>/judges/<dataset>-<data fingerprint>-seed<seed>-r<recipe> (.safetensors weights, .json info)."""
    return cache.cache_root() / "judges" / f"{source}-{data_fingerprint}-seed{seed}-r{RECIPE}"


def _fit(net: JudgeNet, data: ImageData, epochs: int, device) -> None:
    """Adam with a one-cycle schedule: few epochs, reproducible from the global seed set by the caller."""
    batch_size = min(BATCH_SIZE, max(2, len(data) // 4))  # a small folder still gets several steps an epoch
    steps_per_epoch = len(data) // batch_size  # drop the short last batch: BatchNorm and a steady schedule
    optimiser = torch.optim.Adam(net.parameters(), lr=PEAK_LR)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, PEAK_LR, total_steps=epochs * steps_per_epoch)
    images, labels = data.images.to(device), data.labels.to(device)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(data)).to(device)
        for batch in order[: steps_per_epoch * batch_size].view(steps_per_epoch, batch_size):
            loss = F.cross_entropy(net(images[batch])[1], labels[batch])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()


def _accuracy(judge: Judge, data: ImageData, device) -> tuple[float, list[float | None]]:
    """Accuracy on `data`, overall and per class (None for a class it has no image of)."""
    hits = judge.embed(data.images, device).logits.argmax(1) == data.labels
    per_class = class_hit_rates(hits, data.labels, data.num_classes)
    return round(hits.double().mean().item(), 5), [None if a is None else round(a, 4) for a in per_class]


def weights_fingerprint(net: nn.Module) -> str:
    digest = hashlib.sha1()
    for name, tensor in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def _restore(tensors: dict, info: dict, path: Path) -> Judge:
    arch = info["arch"]
    with private_rng():  # the throwaway initial weights must not draw from the caller's stream
        net = JudgeNet(arch["channels"], arch["num_classes"], arch["width"])
    try:
        net.load_state_dict(tensors)
    except RuntimeError:
        raise GanforgeError(f"the judge in {path}.safetensors does not match this ganforge version; delete it "
                            f"and its .json, and it will be trained again") from None
    return Judge(net.eval(), info)

