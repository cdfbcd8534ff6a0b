"""What the benchmarks record beside their figures: the machine they ran on (the CPU model goes with
every figure), and the JSON they leave: one line on stdout and, when asked, a file."""

from __future__ import annotations

import json
import platform
from pathlib import Path


def cpu_model() -> str:
    from ganforge.kernels.cpu.choose import cpu_info  # /proc/cpuinfo, read as the kernel chooser reads it

    return cpu_info().get("model name") or platform.processor() or platform.machine()


def torch_machine() -> dict:
    """The CPU, torch's version and its thread count."""
    import torch

    return {"cpu": cpu_model(), "torch": torch.__version__, "threads": torch.get_num_threads()}


def write_result(result: dict, path: str | None, indent: int = 1) -> None:
    """The result as one JSON line on stdout, and in the file `path` (its folder made) if given."""
    print(json.dumps(result), flush=True)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=indent) + "\n")
