"""Checkpoints and generator files: written atomically, read back without running code, with a
check that they belong to the model being built.

A checkpoint holds plain data only: tensors, numbers, strings, lists and dicts (the config as a
dict, RNG states as tensors, the run's records as JSON text). It is read with
torch.load(weights_only=True), whose unpickler builds nothing else, so a checkpoint from someone
else cannot run code: one that asks for anything more is refused, never loaded. Every checkpoint
ganforge has written is plain data, so old ones load as they are.

Two are kept, checkpoints/last.pt and previous.pt (the one before), so a damaged last one costs one
checkpoint interval, not the run (newest_checkpoint).
"""

from __future__ import annotations

import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from ..config import net_mismatch, stored_values
from ..errors import CheckpointDamaged, CheckpointError, CheckpointRefused
from ..fileio import atomic_write

# How torch names the global a refused pickle asks for (the wording of torch 2.3 and of 2.4+).
REFUSED_GLOBAL = re.compile(r"Unsupported (?:global: GLOBAL|class) ([\w.]+)")


def save_checkpoint(path: str | Path, state: dict[str, Any], previous: str | Path | None = None) -> None:
    """Write `state` to `path` atomically; the checkpoint it replaces stays as `previous` (if given).
    A kill at any moment leaves `path` complete: the old one, or the new one (fileio.atomic_write)."""
    def write(tmp):
        with open(tmp, "wb") as f:  # through a Python file, so a full disk raises OSError with its errno
            torch.save(state, f)

    atomic_write(path, write, keep_old=previous)


def load_checkpoint(path: str | Path, wanted_config: dict[str, Any] | None = None, mmap: bool = False) -> dict[str, Any]:
    """A checkpoint's contents. CheckpointRefused: it would need more than plain data (it could run
    code). CheckpointDamaged: it cannot be read. CheckpointError: missing, or from another model."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; train first, or point to a run folder that has checkpoints/last.pt")
    check_archive(path)
    try:
        with warnings.catch_warnings():  # torch's advice on weights_only would only repeat our one line
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # torch raises many types for a damaged file
        asked = REFUSED_GLOBAL.search(str(err))
        if asked:
            raise CheckpointRefused(
                f"{path} was refused: loading it would call {asked.group(1)}, and a ganforge checkpoint holds only "
                "tensors, numbers and text, so it could run code; it was not loaded (use checkpoints you made; "
                "generator.safetensors files are always safe)") from None
        raise damaged(path, f"torch cannot read it: {type(err).__name__}") from None
    if not isinstance(state, dict) or "config" not in state or "G" not in state:
        raise CheckpointError(f"{path} is not a ganforge checkpoint (no config/G inside)")
    if wanted_config is not None:
        diff = net_mismatch(stored_values(state["config"]), wanted_config)
        if diff:
            raise CheckpointError(f"{path} is from another model: {diff}; use the run's own config or start a new run")
    return state


def check_archive(path: Path) -> None:
    """torch.save writes a zip archive with a CRC-32 per member: a file cut short, zeroed by a crash or
    flipped by a bad disk fails here, before its pickle is looked at."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise damaged(path, f"not a complete archive: {err}") from None
    if bad is not None:
        raise damaged(path, f"{bad} fails its checksum")


def damaged(path: Path, reason: str) -> CheckpointDamaged:
    err = CheckpointDamaged(f"{path} is damaged or not a ganforge checkpoint ({reason})")
    err.reason = reason
    return err


def newest_checkpoint(last: Path, previous: Path, wanted_config: dict[str, Any] | None = None,
                      mmap: bool = False) -> tuple[dict[str, Any], Path, str | None]:
    """(contents, path, note): `last`, or `previous` when `last` is missing or damaged, with a note
    saying so. A refused or foreign `last` is never passed over: that needs a person to look."""
    try:
        return load_checkpoint(last, wanted_config, mmap), last, None
    except CheckpointDamaged as err:
        if not previous.is_file():
            raise
        why = f"{last.name} is damaged ({err.reason})"
    except CheckpointError:
        if last.is_file() or not previous.is_file():
            raise
        why = f"there is no {last.name} (a save was cut short)"
    try:
        state = load_checkpoint(previous, wanted_config, mmap)
    except CheckpointDamaged:
        raise CheckpointDamaged(f"{why}, and {previous} is damaged too; no checkpoint of {last.parent.parent} "
                                "can be read, so the run must start again") from None
    return state, previous, f"{why}; using {previous.name} (epoch {state['state']['epoch']}) instead"


def load_into(net: torch.nn.Module, state_dict: dict[str, torch.Tensor], what: str) -> None:
    try:
        net.load_state_dict(state_dict)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[1:2] or [str(err)]
        raise CheckpointError(f"{what} does not fit this network ({first[0].strip()}); it comes from another model") from None


def generator_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """From a checkpoint, the generator that samples are drawn from: the weight average when EMA is on."""
    return state["G_ema"] if state.get("G_ema") is not None else state["G"]


def save_generator(path: str | Path, G: torch.nn.Module, config: dict[str, Any]) -> None:
    """Weights only, safe to share: safetensors with the resolved config in its metadata."""
    import yaml

    tensors = {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    meta = {"format": "ganforge.generator.v1", "config": yaml.safe_dump(config, sort_keys=False)}
    data = save(tensors, metadata=meta)  # bytes, written by Python so a full disk reports its errno
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def read_generator(path: str | Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path} cannot be read as safetensors ({err}); it is damaged or not a generator file") from None
