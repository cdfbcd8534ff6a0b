"""Where the metrics layer keeps what it builds once (judges, reference features), and how.

Root: fileio.cache_root() ($GANFORGE_CACHE, else $XDG_CACHE_HOME/ganforge, else ~/.cache/ganforge). Everything is a
safetensors file (tensors) with a JSON file beside it (what the tensors are and how they were made),
written atomically so an interrupted build never leaves half a file that a later run would trust.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import GanforgeError
from ..fileio import atomic_write, cache_root  # noqa: F401  (cache_root: callers use cache.cache_root())


def save_entry(path: Path, tensors: dict[str, torch.Tensor], info: dict) -> None:
    """Write path.safetensors, then path.json; the JSON last, so its presence means both are whole."""
    tensors = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    atomic_write(path.with_suffix(".safetensors"), lambda tmp: save_file(tensors, tmp))
    atomic_write(path.with_suffix(".json"), lambda tmp: Path(tmp).write_text(json.dumps(info, indent=2) + "\n"))


def load_entry(path: Path) -> tuple[dict[str, torch.Tensor], dict] | None:
    """(tensors, info) of a complete entry, or None when there is none yet."""
    meta, weights = path.with_suffix(".json"), path.with_suffix(".safetensors")
    if not (meta.is_file() and weights.is_file()):
        return None
    try:
        return load_file(weights), json.loads(meta.read_text())
    except (SafetensorError, OSError, ValueError) as err:
        raise GanforgeError(f"cache entry {weights} is unreadable ({err}); delete {meta} and "
                            f"{weights.name}, and it will be rebuilt") from None
