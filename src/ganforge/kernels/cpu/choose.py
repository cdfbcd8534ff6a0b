"""Which kernel runs each heavy convolution of the fused step, chosen by timing on this machine.

The DFT route (spectral.py) needs 2-7x fewer FLOPs than a direct convolution, which pays where
oneDNN's convolutions run slowly (AVX2 machines). On a CPU with AVX-512, oneDNN can win on some
layers and lose on others (bench/README.md). So, the way cuDNN's benchmark mode does it, each
candidate route runs a short forward + backward at the run's own shapes and the fastest is kept:

    chooser = Chooser(cache_file)              # None: time every time, remember nothing
    route = chooser.route(layer, input_shape, nhwc)  # "dft" | "onednn" | "onednn-nhwc"

A bf16 run (precision=bf16) also times oneDNN in bf16 (BF16_ROUTES): on a CPU with AVX512-BF16
or AMX those convolutions run up to 2x faster; an fp32 run never takes them.

The choice is written to a small JSON cache keyed by the CPU (model, flags), torch's version, the
thread count and the layer's shapes, so a later run with the same shapes on the same machine makes
the same choice without timing: the routes differ in float rounding, and a seed must repeat.
Few-channel layers are not timed: their im2col/col2im routes (fastconv.py) beat oneDNN 3x on both
AVX2 and AVX-512 machines.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import spectral

ROUTES = ("dft", "onednn", "onednn-nhwc")
# precision=bf16 (CPUs with AVX512-BF16 or AMX): oneDNN in bf16, fp32 in and out, fp32 weights kept
BF16_ROUTES = ROUTES + ("onednn-bf16", "onednn-nhwc-bf16")


def memory_format(route: str) -> torch.memory_format:
    return torch.channels_last if route.startswith("onednn-nhwc") else torch.contiguous_format


def dtype(route: str, x: torch.Tensor) -> torch.dtype:
    """What the route computes x in: bf16 routes cast their operands, the rest keep x's dtype."""
    return torch.bfloat16 if route.endswith("-bf16") else x.dtype


def conv(route: str, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """layer(x) for a Conv2d / ConvTranspose2d, by `route`; differentiable, in x's dtype."""
    if route == "dft":
        return spectral.conv(x, layer)
    fmt, kind, out = memory_format(route), dtype(route, x), x.dtype
    x, w = x.to(kind, memory_format=fmt), layer.weight.to(kind, memory_format=fmt)
    b = None if layer.bias is None else layer.bias.to(kind)
    if isinstance(layer, nn.ConvTranspose2d):
        y = F.conv_transpose2d(x, w, b, layer.stride, layer.padding, layer.output_padding)
    else:
        y = F.conv2d(x, w, b, layer.stride, layer.padding)
    return y.to(out)


def time_route(route: str, layer: nn.Module, shape, nhwc: bool = False, reps: int = 3) -> float:
    """Best of `reps` forward + backward (input and weight gradients) in ms, from an input in the
    layout the step hands the layer (nhwc: channels_last), so a route pays for any layout change it
    needs. On a copy of the layer, with random inputs from a private generator: the run's
    parameters and RNG streams stay untouched."""
    layer = copy.deepcopy(layer).requires_grad_(True)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    x = x.contiguous(memory_format=torch.channels_last if nhwc else torch.contiguous_format).requires_grad_(True)
    best = float("inf")
    with torch.enable_grad():  # (the caller may be tracing shapes under no_grad)
        for rep in range(reps + 1):  # the first is warm-up (plans, allocations)
            start = time.perf_counter()
            y = conv(route, layer, x)
            y.backward(torch.ones_like(y))
            if rep:
                best = min(best, time.perf_counter() - start)
    return best * 1e3


def cpu_info() -> dict[str, str]:
    """The first core's fields of /proc/cpuinfo ('model name', 'flags', ...); {} where there is none."""
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())  # the first core's
    except OSError:  # not Linux
        pass
    return info


def machine_key() -> str:
    """CPU model, a digest of its flags, torch's version and the thread count."""
    info = cpu_info()  # not Linux: the model string platform gives is what there is
    model, flags = info.get("model name") or platform.processor(), " ".join(sorted(info.get("flags", "").split()))
    digest = hashlib.sha1(flags.encode()).hexdigest()[:12]
    return f"{model} | flags {digest} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def layer_key(layer: nn.Module, shape, nhwc: bool = False) -> str:
    extra = f" op{tuple(layer.output_padding)}" if isinstance(layer, nn.ConvTranspose2d) else ""
    return (f"{type(layer).__name__} {layer.in_channels}->{layer.out_channels} k{tuple(layer.kernel_size)} "
            f"s{tuple(layer.stride)} p{tuple(layer.padding)}{extra} in{tuple(shape)} {'nhwc' if nhwc else 'nchw'}")


class Chooser:
    """Routes by timing among `routes` (ROUTES, or BF16_ROUTES for a bf16 run), remembered in
    `cache_file` (JSON) when one is given."""

    def __init__(self, cache_file: Path | None = None, reps: int = 3, routes: tuple[str, ...] = ROUTES):
        self.cache_file, self.reps, self.machine, self.routes = cache_file, reps, machine_key(), routes
        self.timed = 0  # layers timed in this process (0: every choice came from the cache)
        self.entries = self._load().get(self.machine, {})

    def route(self, layer: nn.Module, shape, nhwc: bool = False) -> str:
        key = layer_key(layer, shape, nhwc) + (" bf16" if self.routes != ROUTES else "")
        entry = self.entries.get(key)
        if not isinstance(entry, dict) or entry.get("route") not in self.routes:
            times = {route: round(time_route(route, layer, shape, nhwc, self.reps), 2) for route in self.routes}
            entry = {"route": min(times, key=times.get), "ms": times}
            self.entries[key], self.timed = entry, self.timed + 1
            self._save()
        return entry["route"]

    def _load(self) -> dict:
        if self.cache_file is None:
            return {}
        try:
            data = json.loads(Path(self.cache_file).read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):  # none yet, or unreadable: time again and write a whole one
            return {}

    def _save(self) -> None:
        """Merge this machine's entries into the file, atomically (another run may write it too)."""
        if self.cache_file is None:
            return
        path = Path(self.cache_file)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            data = self._load()
            data[self.machine] = {**data.get(self.machine, {}), **self.entries}
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        except OSError:  # a read-only cache costs a re-timing next run, never the run
            return
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except OSError:  # a full disk: no half-written cache left behind
            Path(tmp).unlink(missing_ok=True)
