"""`ganforge train --nproc N`: start N workers on this machine exactly as

    torchrun --standalone --nproc_per_node N -m ganforge train ...

does, through torch's own launcher (torch.distributed.launcher): a rendezvous on a free local
port, one `python -m ganforge train` per rank with RANK, WORLD_SIZE, LOCAL_RANK and MASTER_* set,
and the whole group stopped when one worker fails. Workers print for themselves (rank 0 says
everything that matters); this process adds one line only when a worker was killed by a signal,
which no worker can report.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import uuid

from ..errors import DistributedError

# Signals this launcher sends itself (SIGTERM to stop the others after a failure, SIGINT for
# Ctrl-C): their victims are not the cause.
OWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def launch(nproc: int, args: list[str]) -> int:
    """Run `python -m ganforge *args` in `nproc` ranks; returns the exit code to leave with (rank 0's,
    or the first failure's). Raises DistributedError when a rank died of a signal."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    quiet_elastic_logs()
    # As torchrun does, one thread per process unless told otherwise, with the cores shared out.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // nproc)))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"ganforge-{uuid.uuid4().hex[:8]}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.1)
    try:
        elastic_launch(config, sys.executable)("-u", "-m", "ganforge", *args)
    except ChildFailedError as err:
        return failure_code(err.failures, nproc)
    except SignalException as err:  # Ctrl-C: the workers got it too, checkpointed and said so
        return 130 if err.sigval == signal.SIGINT else 128 + int(err.sigval)
    return 0


def failure_code(failures: dict, nproc: int) -> int:
    """The exit code for a failed group (failures: rank -> ProcessFailure), after saying which rank a
    signal killed, if one did."""
    killed = {rank: f for rank, f in failures.items() if f.exitcode < 0 and -f.exitcode not in OWN_SIGNALS}
    if killed:
        rank = min(killed, key=lambda r: killed[r].timestamp)
        raise DistributedError(f"rank {rank} of {nproc} (PID {killed[rank].pid}) was killed by "
                               f"{killed[rank].signal_name()}; the other ranks were stopped")
    codes = [failures[rank].exitcode for rank in sorted(failures) if failures[rank].exitcode > 0]
    return codes[0] if codes else 1  # rank 0's when it has one: the rank that says what happened


def quiet_elastic_logs() -> None:
    """torch's elastic agent logs each worker's exit as a warning; the workers' own lines say more."""
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith("torch.distributed.elastic") or name.startswith("torch.distributed.launcher"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
