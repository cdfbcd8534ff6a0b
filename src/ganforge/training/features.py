"""Teaching D's frozen feature network (`d_features`, nets/features.py) once per dataset.

The stages learn without labels, from two random views of every training image (SimCLR, the unlabelled
judge's recipe: metrics/contrastive.py), then are frozen inside D. They are cached under
<cache>/features/, named by the data's fingerprint, so every run on the same folder, size and
background reuses them, and a resumed run reads them from its own checkpoint (they are part of D).
FEATURE_SEED is not the judge's seed: the network D looks through is not the one that scores it.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from ..data import ImageData
from ..fileio import cache_root
from ..nets.features import FeatureDiscriminator
from ..seeding import private_rng
from .distributed import SOLO

FEATURE_SEED = 1
RECIPE = 1  # bump when the stages or their teaching change: cached ones of other recipes are not reused
PROJECTION_INPUT = 128
IMAGE_PASSES = 100_000  # images seen while teaching (two views each); 148 s for 64 px emoji on 2 cores


def feature_path(data: ImageData) -> Path:
    c, h, _ = data.shape
    return cache_root() / "features" / f"{Path(data.source).name}-{c}x{h}-{data.fingerprint}-seed{FEATURE_SEED}-r{RECIPE}"


def teach_features(D: FeatureDiscriminator, data: ImageData, passes: int = IMAGE_PASSES, device="cpu",
                   echo=print, world=SOLO) -> dict:
    """Load D's stages from the cache, or teach them on `data` now and cache them; returns their info.
    Under torchrun rank 0 alone teaches and writes the cache entry while the others wait, then they
    read it (a rank on another machine, with a cache of its own, teaches the same stages itself)."""
    from ..metrics import cache, contrastive  # the metrics stack, loaded only by runs that use it

    if world.world > 1:
        info = world.first(lambda: teach_features(D, data, passes, device, echo))
        return info if world.is_main else teach_features(D, data, passes, device, echo)
    path = feature_path(data)
    if (entry := cache.load_entry(path)) is not None:
        tensors, info = entry
        D.stages.load_state_dict(tensors)
        return info
    epochs = max(1, passes // len(data))
    echo(f"teaching D's feature network on {data.name} once, without labels ({epochs} epochs of {len(data)} "
         f"images); cached in {path.parent}")
    start = time.perf_counter()
    last = D.stages[-1][0].out_channels
    # What the contrastive loss trains: the stages, then a pooled 128-d layer that is dropped afterwards.
    with private_rng(FEATURE_SEED, device), torch.enable_grad():
        for m in D.stages.modules():  # a fresh start from FEATURE_SEED, whatever the run's seed drew
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        body = nn.Sequential(*D.stages, nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(4 * last, PROJECTION_INPUT))
        D.stages.requires_grad_(True)
        loss = contrastive.fit_contrastive(body.to(device), data.images, epochs, PROJECTION_INPUT, device)
        D.stages.requires_grad_(False)
    D.stages.eval()
    info = dict(dataset=data.name, data_fingerprint=data.fingerprint, seed=FEATURE_SEED, recipe=RECIPE,
                epochs=epochs, final_loss=round(loss, 4), train_seconds=round(time.perf_counter() - start, 1))
    cache.save_entry(path, D.stages.state_dict(), info)
    echo(f"D's feature network: contrastive loss {loss:.3f} after {info['train_seconds']:.0f} s")
    return info
