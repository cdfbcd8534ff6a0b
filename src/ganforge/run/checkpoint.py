"""Checkpoints and generator files: written atomically, read back with a check that they belong to
the model being built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..config import net_mismatch, stored_values
from ..errors import CheckpointError
from ..fileio import atomic_write


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path, wanted_config: dict[str, Any] | None = None) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; train first, or point to a run folder that has checkpoints/last.pt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for a damaged file
        raise CheckpointError(f"{path} cannot be read ({type(err).__name__}); it is damaged or not a ganforge checkpoint") from None
    if not isinstance(state, dict) or "config" not in state or "G" not in state:
        raise CheckpointError(f"{path} is not a ganforge checkpoint (no config/G inside)")
    if wanted_config is not None:
        diff = net_mismatch(stored_values(state["config"]), wanted_config)
        if diff:
            raise CheckpointError(f"{path} is from another model: {diff}; use the run's own config or start a new run")
    return state


def load_into(net: torch.nn.Module, state_dict: dict[str, torch.Tensor], what: str) -> None:
    try:
        net.load_state_dict(state_dict)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[1:2] or [str(err)]
        raise CheckpointError(f"{what} does not fit this network ({first[0].strip()}); it comes from another model") from None


def save_generator(path: str | Path, G: torch.nn.Module, config: dict[str, Any]) -> None:
    """Weights only, safe to share: safetensors with the resolved config in its metadata."""
    import yaml

    tensors = {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    meta = {"format": "ganforge.generator.v1", "config": yaml.safe_dump(config, sort_keys=False)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_generator(path: str | Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} cannot be read as safetensors ({err}); it is damaged or not a generator file") from None
