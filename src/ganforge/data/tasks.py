"""The (input, target) pairs of each image-to-image task: pix2pix's two folders (pairs.py), or
super-resolution's downscaled copies of any dataset (superres.py). Trainer and viewers ask here."""

from __future__ import annotations

from .folder import FolderOptions
from .pairs import PairData, load_pairs
from .superres import sr_pairs


def task_pairs(task: str, dataset: str, split: str, options: FolderOptions, scale: int = 4, data_dir=None,
               echo=None) -> PairData:
    """The pairs of an image-to-image run's `split`, by its task."""
    if task == "sr":
        return sr_pairs(dataset, split, scale, options, data_dir, echo)
    return load_pairs(dataset, split, options, echo)
