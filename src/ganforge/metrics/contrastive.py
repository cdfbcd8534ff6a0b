"""Teaching the judge's network to see a folder that has no labels (SimCLR, Chen et al. 2020).

Two random views of every image (crop and resize, flip, mild colour change) go through the network
and a small projection head; the NT-Xent loss pulls the two views of one image together and pushes
the other images of the batch away. What survives is what the views share: shapes, parts, layout
and colour, the things a generator must get right. Random convolutions, the former fallback, rank a
blur, shuffled patches and a single category almost alike (bench/folder_metrics_reference.md); a
network trained this way separates them. The head is thrown away after training: features are the
network's own 128-d layer, as for every judge.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..data import to_float

TEMPERATURE = 0.2        # small batches on a CPU: a lower temperature than SimCLR's 0.5 at batch 4096
BATCH_SIZE = 256         # images per step, so 510 negatives for each view
PEAK_LR = 3e-3
PROJECTION_DIM = 64
CROP_AREA = (0.35, 1.0)  # the share of the image a view keeps; small icons lose their meaning below a third
COLOUR_JITTER = 0.25     # brightness, contrast and saturation in 1 +- this: colour stays informative


def random_views(x: torch.Tensor) -> torch.Tensor:
    """One random view of each float image (N, C, H, W) in [-1, 1], drawn from torch's global stream."""
    n, device = len(x), x.device
    area = torch.empty(n, device=device).uniform_(*CROP_AREA)
    ratio = torch.empty(n, device=device).uniform_(math.log(3 / 4), math.log(4 / 3)).exp()
    w, h = (area * ratio).sqrt().clamp(max=1), (area / ratio).sqrt().clamp(max=1)
    flip = torch.where(torch.rand(n, device=device) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 1, 1] = w * flip, h
    theta[:, 0, 2] = (torch.rand(n, device=device) * 2 - 1) * (1 - w)  # the crop anywhere inside the image
    theta[:, 1, 2] = (torch.rand(n, device=device) * 2 - 1) * (1 - h)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return _jitter_colour((x + 1) / 2) * 2 - 1


def _jitter_colour(y: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast and (colour images) saturation of y in [0, 1], each by its own factor."""
    def factor():
        return 1 + (torch.rand(len(y), 1, 1, 1, device=y.device) * 2 - 1) * COLOUR_JITTER

    y = y * factor()
    mean = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * factor() + mean
    if y.shape[1] == 3:
        grey = y.mean(dim=1, keepdim=True)
        y = (y - grey) * factor() + grey
    return y.clamp(0, 1)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """SimCLR's loss: for each of the 2N views, cross-entropy of picking its twin among the other 2N - 1."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    similarity = z @ z.t() / temperature
    similarity.fill_diagonal_(float("-inf"))  # a view is not its own twin
    n = len(z1)
    twins = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(similarity, twins)


def fit_contrastive(body: nn.Module, images: torch.Tensor, epochs: int, feature_dim: int, device) -> float:
    """Train `body` (float images in [-1, 1] -> features) on uint8 `images` with NT-Xent for `epochs`; returns the last epoch's mean
    loss. Randomness (head init, order, views) comes from torch's global stream: seed it first."""
    head = nn.Sequential(nn.Linear(feature_dim, feature_dim), nn.ReLU(), nn.Linear(feature_dim, PROJECTION_DIM))
    head.to(device)
    batch_size = min(BATCH_SIZE, max(2, len(images) // 4))
    steps_per_epoch = len(images) // batch_size
    params = list(body.parameters()) + list(head.parameters())
    optimiser = torch.optim.Adam(params, lr=PEAK_LR)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, PEAK_LR, total_steps=epochs * steps_per_epoch)
    images = images.to(device)
    body.train()
    for _ in range(epochs):
        total = 0.0
        order = torch.randperm(len(images)).to(device)
        for batch in order[: steps_per_epoch * batch_size].view(steps_per_epoch, batch_size):
            x = to_float(images[batch])
            loss = nt_xent(head(body(random_views(x))), head(body(random_views(x))))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item()
    body.eval()
    return total / steps_per_epoch
