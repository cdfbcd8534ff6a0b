"""Data-parallel training on torch.distributed: one process per rank, started by torchrun (or by
`ganforge train --nproc N`, launch.py), G and D each wrapped in DistributedDataParallel.

The trainer asks its world, never torch.distributed, what to do. A single process gets SOLO, whose
every answer leaves the single-process run exactly as it was; torchrun's workers get a World:

    with session() as world:        # SOLO, or a World joined to torchrun's process group
        run = world.first(fn)       # fn on rank 0; its result (or its error) on every rank
        G = world.wrap(G)           # DDP, buffers left alone
        shares = world.shares(bounds)   # rank r's piece of every global batch
        stop = world.stop(wish)     # all ranks stop after the same step
        sums = world.total(sums)    # the mean over ranks of a tensor

What every rank holds on its own, and how a failing rank takes the job down: README, "More than
one process". The rules in short: batch_size is global; rank r takes the r-th equal run of each
global batch of the seeded per-epoch permutation; the latent noise of a step is the global batch's,
drawn alike on every rank, each keeping its own rows; augmentation, penalty and dropout streams
are the rank's own; only rank 0 writes, evaluates and keeps the EMA.
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import os
import signal
import warnings
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError, DistributedError, GanforgeError
from ..seeding import derive_seed
from .failures import Failures, Terminated


def launched() -> bool:
    """Whether this process is a worker torchrun (or --nproc) started: they set these for env:// rendezvous."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def _silent(*args, **kwargs) -> None:
    pass


class Solo:
    """The single-process world."""

    rank, world, is_main, fused_ok = 0, 1, True, True

    def echo(self, echo):
        return echo

    def first(self, fn):
        return fn()

    def note_run(self, root) -> None:
        pass

    def configure(self, cfg, accel):
        return accel

    def prepare(self, net: nn.Module) -> nn.Module:
        return net

    def wrap(self, net: nn.Module) -> nn.Module:
        return net

    def seed_rank(self, seed: int, device) -> torch.Generator | None:
        return None  # one process: every stream stays the run's own

    def shares(self, bounds: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return bounds

    def stop(self, wish: bool) -> bool:
        return wish

    def total(self, sums: torch.Tensor) -> torch.Tensor:
        return sums

    def save(self, trainer, write) -> None:
        write()

    def restore(self, trainer, saved: dict) -> None:
        pass

    def describe(self) -> str:
        return ""


SOLO = Solo()


class World(Solo):
    """This rank of a torch.distributed process group (joined by `session`)."""

    fused_ok = False  # the fused CPU kernels bypass DDP's forward, so DDP would never reduce their gradients

    def __init__(self, failures: Failures):
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0))
        self.is_main = self.rank == 0
        self.failures = failures
        self.sync_bn = False

    def echo(self, echo):
        return echo if self.is_main else _silent

    def first(self, fn):
        """fn() run on rank 0 alone (what touches the run folder); every rank returns its result, or
        raises its error (rank 0 says it; the others stay quiet)."""
        box, mine = [None], None
        if self.is_main:
            try:
                box = [("ok", fn())]
            except GanforgeError as err:
                box, mine = [("error", err)], err
            except Exception as err:  # a bug on rank 0: its traceback is the report; the others just stop
                box, mine = [("error", DistributedError(f"rank 0 failed: {type(err).__name__}"))], err
        dist.broadcast_object_list(box, src=0)
        if mine is not None:
            raise mine
        kind, value = box[0]
        if kind == "error":
            raise value
        return value

    def note_run(self, root) -> None:
        """The run folder, for the resume command a failure report ends with."""
        self.failures.run_root = root

    def configure(self, cfg, accel):
        """The run's accel on this rank: its own GPU (LOCAL_RANK); refuses what cannot be split."""
        check_split(cfg, self.world)
        if cfg.batchnorm == "sync" and accel.device.type != "cuda":
            raise ConfigError("batchnorm=sync needs CUDA (torch's SyncBatchNorm runs on GPUs only); on CPU use "
                              "batchnorm=rank: each process normalises over its own share of the batch")
        self.sync_bn = cfg.batchnorm == "sync"
        if accel.device.type != "cuda":
            return accel
        if self.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"local rank {self.local_rank} has no GPU of its own ({torch.cuda.device_count()} visible); "
                              "start at most one process per GPU on each machine, or use --device cpu")
        torch.cuda.set_device(self.local_rank)
        return dataclasses.replace(accel, device=torch.device("cuda", self.local_rank))

    def prepare(self, net: nn.Module) -> nn.Module:
        return nn.SyncBatchNorm.convert_sync_batchnorm(net) if self.sync_bn else net

    def wrap(self, net: nn.Module) -> nn.Module:
        """DDP around `net`, sharing its parameters. Buffers are not re-broadcast from rank 0 at each
        forward: BatchNorm statistics stay per rank (or synced by SyncBatchNorm), and a broadcast
        between two forwards and one backward is the known in-place error."""
        no_buffer_sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in DDP_OPTIONS
                          else {"broadcast_buffers": False})  # torch >= 2.12 renamed it; same meaning
        device_ids = [net_device(net).index] if net_device(net).type == "cuda" else None
        # A gradient penalty's double backward can give a 1-input-channel conv's weight gradient other
        # strides than DDP's bucket (they differ only in the size-1 dimension): a copy, not an error.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        return nn.parallel.DistributedDataParallel(net, device_ids=device_ids, **no_buffer_sync)

    def seed_rank(self, seed: int, device) -> torch.Generator | None:
        """This rank's own streams: the global one (dropout) reseeded, and a generator for
        augmentation and penalties; None for a world of one, which keeps the run's streams."""
        if self.world == 1:
            return None
        torch.manual_seed(derive_seed(seed, "dropout", self.rank))
        return torch.Generator(device).manual_seed(derive_seed(seed, "rank-noise", self.rank))

    def shares(self, bounds: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Rank r's piece of each global batch: its r-th equal run. A short last batch is cut to a
        multiple of the world size (at most world-1 images of that epoch's permutation left out),
        and left out below two images a rank (BatchNorm cannot train on one)."""
        pieces = []
        for start, end in bounds:
            share = (end - start) // self.world
            if share >= 2:
                pieces.append((start + self.rank * share, start + (self.rank + 1) * share))
        return pieces

    def stop(self, wish: bool) -> bool:
        """Whether any rank wants to stop (Ctrl-C reaches each at its own moment), agreed by all."""
        flag = torch.tensor([int(wish)])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def total(self, sums: torch.Tensor) -> torch.Tensor:
        """The mean over ranks (each rank's batch share is the same size)."""
        sums = sums.clone()
        dist.all_reduce(sums)
        return sums / self.world

    def save(self, trainer, write) -> None:
        """Every rank's own state gathered on rank 0 (a barrier), which writes the one checkpoint;
        every rank waits for the write, and stops with rank 0 if it fails."""
        from .state import rank_state

        parts = [None] * self.world if self.is_main else None
        dist.gather_object(rank_state(trainer), parts, dst=0)
        where = (trainer.state.epoch, trainer.state.step)

        def written():
            write(ranks=parts)
            self.failures.saved_at = where  # on disk now, even if a rank dies before hearing of it

        self.first(written)
        self.failures.saved_at = where

    def restore(self, trainer, saved: dict) -> None:
        from .state import restore_rank

        if "ranks" in saved:  # a single-process checkpoint (world of one) holds rank 0's alone, at its top level
            restore_rank(trainer, saved["ranks"][self.rank])
        self.failures.saved_at = (trainer.state.epoch, trainer.state.step)

    def describe(self) -> str:
        bn = "SyncBatchNorm" if self.sync_bn else "BatchNorm per rank"
        return f", DDP x{self.world} ({dist.get_backend()}, {bn})"


def check_split(cfg, processes: int) -> None:
    if cfg.batch_size % processes:
        raise ConfigError(f"batch_size={cfg.batch_size} is the global batch and does not split evenly over "
                          f"{processes} processes; use a multiple of {processes}")


DDP_OPTIONS = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters


def net_device(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def timeout_seconds() -> float:
    """How long a collective may wait for a rank that is alive but does not answer (a dead rank is
    noticed at once: its connections close). GANFORGE_DIST_TIMEOUT overrides it."""
    raw = os.environ.get("GANFORGE_DIST_TIMEOUT", "600")
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"GANFORGE_DIST_TIMEOUT={raw!r} must be a number of seconds, e.g. 600") from None


@contextmanager
def session():
    """SOLO outside torchrun; inside, a World on the process group, joined here (gloo, and NCCL for
    CUDA tensors) unless the caller already has one. Any failure is told to the other ranks through
    the rendezvous store, so rank 0 can say which rank stopped and why (failures.py)."""
    if not launched() and not dist.is_initialized():
        yield SOLO
        return
    owned = not dist.is_initialized()
    if owned:
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_seconds()))
    failures = Failures(dist.get_rank(), dist.get_world_size())
    handles_signals = _main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if handles_signals else None
    try:
        yield World(failures)
    except BaseException as err:  # noqa: B036  (told to the other ranks, then raised again)
        if handles_signals:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the report short
        replacement = failures.report(err)
        if replacement is None:
            raise
        raise replacement from None
    finally:
        if handles_signals:
            signal.signal(signal.SIGTERM, previous)
        if owned:
            dist.destroy_process_group()


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _terminate(signum, frame):
    """The launcher ends the other ranks with SIGTERM when one fails: stop here and say why."""
    raise Terminated()
