"""Optional Inception-v3 FID, the number papers print, only from weights the user already has.

ganforge never downloads: this runs only when given the path of torch-fidelity's
pt_inception-2015-12-05-6726825d.pth (the TF-FID weights), and needs the torch-fidelity package.
It is slow on a CPU (every image is resized to 299x299) and a poor judge of 28x28 digits; the judge
FID is the number to watch, this one is for comparing with published tables.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import ConfigError

WEIGHTS_ENV = "GANFORGE_INCEPTION_WEIGHTS"
HOW_TO_ENABLE = (f"inception_fid skipped: to enable it, pip install torch-fidelity and pass --inception-weights "
                 f"PATH (or set ${WEIGHTS_ENV}) to a local pt_inception-2015-12-05-6726825d.pth")


def inception_weights(path: str | os.PathLike | None = None) -> Path | None:
    """The weights path given, else $GANFORGE_INCEPTION_WEIGHTS, else None; an error if it is not a file."""
    path = path or os.environ.get(WEIGHTS_ENV)
    if not path:
        return None
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"Inception weights {path} not found; give the path of pt_inception-2015-12-05-6726825d.pth")
    return path


def inception_fid(fake: torch.Tensor, real: torch.Tensor, weights: Path, device="cpu", batch_size: int = 100) -> float:
    """FID of uint8 (N, C, H, W) samples against real images, with torchmetrics' Inception-v3 features."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    try:
        metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights)).to(device)
    except ModuleNotFoundError:
        raise ConfigError("Inception FID needs the torch-fidelity package; pip install torch-fidelity") from None
    for images, is_real in ((real, True), (fake, False)):
        for chunk in images.split(batch_size):
            metric.update(chunk.expand(-1, 3, -1, -1).to(device), real=is_real)  # grey -> RGB; RGB unchanged
    return metric.compute().item()
