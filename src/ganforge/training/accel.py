"""Where and how a run computes: device, CPU threads and allocator, precision, torch.compile,
memory format. Every choice is made once, here, before the loop; the step only reads the result.

    accel = setup(cfg)                      # Accel(device=cpu, dtype=None, compile=False, ...)
    configure_process(accel)                # allocator, cuDNN/TF32 and compiler flags, once
    G, D = accel.prepare(G), accel.prepare(D)
    with accel.autocast(): ...

CPU threads stay torch's default (one per core): best on an idle machine; when other processes
keep a core busy, one thread can be faster (bench/README.md has what each choice is worth).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from dataclasses import dataclass

import torch
from torch import nn

from .. import cores
from ..errors import ConfigError
from ..kernels.cpu import choose


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA GPU is visible; use --device cpu (or auto)")
    return torch.device(name)


@dataclass(frozen=True)
class Accel:
    device: torch.device
    dtype: torch.dtype | None  # autocast dtype; None: plain fp32
    compile: bool  # torch.compile G and D
    channels_last: bool  # NHWC activations and 4-D weights (cuDNN's fast layout)
    fused_cpu: bool  # the fused CPU joint step may run (kernels/cpu)
    native: str | None = None  # precision=bf16-if-native on CPU: the bf16 hardware that chose bf16

    def prepare(self, net: nn.Module) -> nn.Module:
        """Move a network where it runs. The module itself (and its state_dict keys) stays as built."""
        net = net.to(self.device)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        return net

    def forward_fn(self, net: nn.Module):
        """What the step calls to run `net`: the module, or its compiled twin sharing the same parameters."""
        return torch.compile(net) if self.compile else net

    def describe(self) -> str:
        """For the run header: e.g. 'fp32, eager, cpu x2 threads, fitted to the free cores' (cores.py)
        or 'bf16 autocast, compiled, cuda'."""
        precision = "fp32" if self.dtype is None else f"{str(self.dtype).removeprefix('torch.')} autocast"
        if self.native:  # (only ever set on CPU)
            precision += f" ({self.native} on this CPU)"
        where = str(self.device)
        if self.device.type == "cpu":
            threads = torch.get_num_threads()
            where = f"cpu x{threads} threads{cores.describe(threads)}"
        return f"{precision}, {'compiled' if self.compile else 'eager'}, {where}"

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def adam(self, params, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
        """torch.optim.Adam, fused: one kernel per network instead of ~10 small ops per tensor, the
        same update (~4x faster here, more when the cores are shared)."""
        params = list(params)
        try:
            return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
        except RuntimeError:  # torch < 2.4 has no fused Adam on CPU
            return torch.optim.Adam(params, lr=lr, betas=betas, foreach=True)


def cpu_bf16() -> str | None:
    """The bf16 hardware of this CPU ('AMX' or 'AVX512-BF16', from /proc/cpuinfo; not Linux: no way
    to tell, so None), or None: without it oneDNN emulates bf16, slower than fp32."""
    flags = choose.cpu_info().get("flags", "").split()
    return "AMX" if "amx_bf16" in flags else "AVX512-BF16" if "avx512_bf16" in flags else None


def setup(cfg) -> Accel:
    """The choices for a run of `cfg`; nothing process-wide is changed (see configure_process).
    precision: auto is bf16 on CUDA; bf16-if-native also on a CPU with bf16 hardware."""
    device = resolve_device(cfg.device)
    cuda = device.type == "cuda"
    hardware = cpu_bf16() if cfg.precision == "bf16-if-native" and not cuda else None
    if cfg.precision == "bf16" or (cfg.precision in ("auto", "bf16-if-native") and cuda) or hardware:
        dtype = torch.bfloat16
    else:
        dtype = None
    compile_ = cfg.compile == "on" or (cfg.compile == "auto" and cuda)
    # The fused CPU step runs in fp32, or with bf16 convolutions where a bf16 run's timing picks them
    return Accel(device=device, dtype=dtype, compile=compile_, channels_last=cuda,
                 fused_cpu=not cuda and not compile_, native=hardware)


def configure_process(accel: Accel) -> None:
    """The process-wide settings a run needs, made once when training starts (they outlive it)."""
    if accel.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest conv algorithms once
        # TF32 for what runs outside autocast, unless fp32 was asked for explicitly
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = accel.dtype is not None
    else:
        tune_cpu_allocator()
    if accel.compile:
        # The joint step backpropagates twice through one graph (retain_graph=True, the tutorial's
        # two tapes); compiled backwards that donate buffers refuse that. They compile lazily at
        # the first backward, so this has to stay set.
        torch._functorch.config.donated_buffer = False


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters (malloc.h)


def tune_cpu_allocator() -> bool:
    """Keep freed activation buffers in the heap instead of returning them to the OS.

    glibc serves big blocks with a fresh mmap and unmaps them on free (its adaptive threshold
    starts at 128 KB), and trims the heap top when much is free, so a step can fault its large
    activations in page by page again; in a VM a page fault is slow. Pinning the mmap threshold
    at glibc's maximum (32 MB, above most activations of the tutorial nets at batch 256) and
    trimming only past 1 GB free makes those buffers reused (+2.6% a step here). Linux/glibc
    only; a no-op elsewhere or when GANFORGE_NO_MALLOPT is set."""
    if not sys.platform.startswith("linux") or os.environ.get("GANFORGE_NO_MALLOPT"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
