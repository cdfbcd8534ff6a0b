"""Precision and recall on k-NN manifolds, and the memorisation check, in judge feature space.

Precision and recall follow Kynkäänniemi et al. 2019 ("Improved Precision and Recall Metric for
Assessing Generative Models"): a set's manifold is the union of balls around its feature vectors,
each as wide as the distance to that vector's k-th nearest neighbour in the same set. Precision is
the share of samples inside the real manifold (are they realistic?), recall the share of real images
inside the samples' manifold (is all of the data reproduced?). torchmetrics has no such metric.

Memorisation: the median distance from a sample to its nearest training image, over the same
median for real held-out images (up to MEMORISATION_N of each). Fresh real images give about 1;
below 1 means samples sit closer to the training set than new real images do: the generator copies.

Distances are computed in chunks of rows so that 10,000 x 60,000 of them never sit in memory at once.
"""

from __future__ import annotations

import torch

K = 3  # the paper's choice: small enough to follow the data, large enough to ignore single outliers
ROWS_PER_CHUNK = 256  # 256 x 60,000 float32 distances: about 60 MB at a time
# Images whose nearest training image is searched, on each side of the memorisation ratio: a median
# is stable at this size, and every search runs through all 60,000 training images.
MEMORISATION_N = 2000


def kth_nearest(queries: torch.Tensor, points: torch.Tensor, k: int = 1, skip_self: bool = False) -> torch.Tensor:
    """Distance from each query to its k-th nearest point; skip_self when queries are the points."""
    k = k + 1 if skip_self else k
    if k == 1:  # the nearest: a plain min, several times faster than topk
        return torch.cat([torch.cdist(chunk, points).amin(dim=1) for chunk in queries.split(ROWS_PER_CHUNK)])
    return torch.cat([torch.cdist(chunk, points).topk(k, dim=1, largest=False).values[:, -1]
                      for chunk in queries.split(ROWS_PER_CHUNK)])


def share_inside(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor) -> float:
    """Share of queries within radii[j] of at least one points[j] (inside the points' manifold)."""
    inside = [(torch.cdist(chunk, points) <= radii).any(dim=1) for chunk in queries.split(ROWS_PER_CHUNK)]
    return torch.cat(inside).double().mean().item()


def precision_recall(fake, ref, seed: int) -> dict:
    real, samples = ref.real.features, fake.features
    sample_radii = kth_nearest(samples, samples, K, skip_self=True)
    return {"precision": share_inside(samples, real, ref.real_radii),
            "recall": share_inside(real, samples, sample_radii)}


def memorisation(fake, ref, seed: int) -> dict:
    sample_distance = kth_nearest(fake.features[:MEMORISATION_N], ref.train_features).median()
    return {"memorisation_ratio": (sample_distance / ref.heldout_nn.median()).item()}
