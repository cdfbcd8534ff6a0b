"""Random streams: a run's independent seeds, and private streams that leave the caller's alone.

Training draws dropout masks from torch's global stream (saved in every checkpoint). Anything
else that needs randomness mid-run (metrics' subsets, a judge's initial weights) uses
`private_rng`, so a run that measures as it goes ends with the same weights as one that does not.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager

import torch


def derive_seed(seed: int, purpose: str, *more: int) -> int:
    """Independent, stable seeds for each random stream of a run (init, noise, shuffling...)."""
    digest = hashlib.sha256(f"{seed}/{purpose}/{'/'.join(map(str, more))}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


@contextmanager
def private_rng(seed: int | None = None, device: str | torch.device = "cpu"):
    """Inside: torch's global streams (the CPU's, and `device`'s if it is a GPU) seeded with `seed`
    (None: left as they are); after: restored exactly as they were."""
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        if seed is not None:
            torch.manual_seed(seed)
        yield
