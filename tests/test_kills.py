"""Real processes, really killed (issue #14): one writer per run folder, and a run killed by SIGKILL
at any moment loses at most the work since its last checkpoint, never the run or its exactness."""

import multiprocessing
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from safetensors.torch import load_file
from test_run_folder import nano_config, one_line, quiet, run_cli
from test_train import _assert_same_state
from tqdm import tqdm

from ganforge.report import describe_run
from ganforge.run import RunDir
from ganforge.run.checkpoint import load_checkpoint
from ganforge.training import resume, train
from ganforge.training.callbacks import Hooks

NANO_ARGS = ["--preset", "dcgan-mnist", "--dataset", "embedded-mnist", "--set", "subset=128", "--batch-size", "32",
             "--set", "g_width=16", "--set", "d_width=8", "--set", "n_fixed=16", "--set", "tensorboard=false",
             "--device", "cpu", "--seed", "7", "--no-progress"]


def test_one_writer_per_run_and_a_killed_writer_leaves_no_lock(tmp_path):
    run = RunDir(tmp_path / "run")
    first = subprocess.Popen([sys.executable, "-m", "ganforge", "train", *NANO_ARGS, "--epochs", "100000",
                              "--out", str(run.root)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 180
        while not run.checkpoint.exists():
            assert first.poll() is None and time.time() < deadline, first.stderr.read() if first.poll() else "slow"
            time.sleep(0.1)
        for args in (["train", "--resume", run.root], ["train", *NANO_ARGS, "--out", run.root]):
            started = time.monotonic()
            code, _, err = run_cli(*args)
            line = one_line(err)
            assert code == 2 and time.monotonic() - started < 10, line  # at once: it never waits for the lock
            assert f"{run.root} is being trained by PID {first.pid} on {socket.gethostname()} since " in line
            assert f"or stop it (kill {first.pid}), then run: ganforge train --resume {run.root}" in line
        code, out, _ = run_cli("info", run.root)  # readers never need the lock
        assert code == 0 and "checkpoint: " in out
    finally:
        first.kill()
        first.wait()
    assert first.returncode == -signal.SIGKILL and run.lock_file.exists()  # nobody cleaned up

    epoch = load_checkpoint(run.checkpoint)["state"]["epoch"]
    code, out, err = run_cli("train", "--resume", run.root, "--epochs", epoch + 1, "--no-progress")
    assert code == 0, err
    assert f"resuming after epoch {epoch}" in out and f"epoch {epoch + 1:>3}/{epoch + 1}" in out


# ---- the kill matrix ------------------------------------------------------------------------------
def _train_or_resume(root: str, values: dict, messages) -> None:
    """One training process: start the run, or resume it once it has a config (as a user reruns
    after a kill); tells the parent each epoch whose records are written (its checkpoint is saved
    next), and when it is done."""
    tqdm.set_lock(threading.RLock())  # not tqdm's multiprocessing lock, a semaphore a SIGKILL would leak
    hooks = [Hooks(on_epoch_end=lambda event: messages.send(event.epoch))]
    if (Path(root) / "config.yaml").exists():
        resume(root, callbacks=hooks, **quiet)
    else:
        train(nano_config(**values), out=root, callbacks=hooks, **quiet)
    messages.send("done")


def launch(ctx, root: Path, values: dict, kill_after: float | None = None) -> tuple[int, list[float]]:
    """Run one training process; kill_after: SIGKILL it this many seconds after its first epoch ends.
    Returns its exit code and when each of its epochs ended."""
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_train_or_resume, args=(str(root), values, send))
    child.start()
    send.close()
    ended, deadline = [], time.time() + 300
    while child.is_alive() and time.time() < deadline:
        if not receive.poll(0.5):
            continue
        message = receive.recv()
        if message == "done":
            break
        ended.append(time.monotonic())
        if kill_after is not None:
            time.sleep(kill_after)
            child.kill()  # SIGKILL: no handler, no cleanup, no flush
            break
    child.join(60)
    receive.close()
    return child.exitcode, ended


def test_sigkill_at_random_moments_costs_work_never_the_run(tmp_path, monkeypatch):
    """Training processes forked from a fresh interpreter (fast to start, and fork-safe for OpenMP)
    are killed at seeded random moments of an epoch: in its steps, while it writes samples, records
    or the plot, or in the middle of a checkpoint's save. Each is resumed; the run ends bit for bit
    where the uninterrupted run ends, and every checkpoint seen along the way can be read."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["ganforge.training", "ganforge.report", "torchvision.utils", "matplotlib.pyplot",
                                "test_kills"])
    values = dict(epochs=12, ema=0.9)
    code, ended = launch(ctx, tmp_path / "straight", values)
    assert code == 0 and len(ended) == 12
    epoch_seconds = statistics.median(b - a for a, b in zip(ended, ended[1:]))
    straight, run = RunDir(tmp_path / "straight"), RunDir(tmp_path / "run")

    rng, kills, reached = random.Random(14), 0, [0]
    while kills < 6:
        # every other kill within 50 ms of the records: most often inside the checkpoint's save
        moment = rng.uniform(0, 0.05) if kills % 2 == 0 else rng.uniform(0, 1.2) * epoch_seconds
        code, _ = launch(ctx, run.root, values, kill_after=moment)
        assert code == -signal.SIGKILL, f"the run ended after {kills} kills; give it more epochs"
        kills += 1
        for path in (run.checkpoint, run.previous_checkpoint):  # every checkpoint there is can be read
            if path.exists():
                load_checkpoint(path)
        if run.has_checkpoint():  # and a kill never takes the run back behind a checkpoint it had
            reached.append(load_checkpoint(run.checkpoint)["state"]["epoch"])
        assert reached == sorted(reached)
        assert describe_run(run.root)  # info reads whatever the kill left
    code, _ = launch(ctx, run.root, values)
    assert code == 0

    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(run.checkpoint)
    counters = lambda state: {k: v for k, v in state.items() if k != "seconds"}  # noqa: E731 (seconds: a clock)
    assert counters(a["state"]) == counters(b["state"]) and b["state"]["epoch"] == 12
    _assert_same_state(a, b)
    ga, gb = load_file(straight.generator), load_file(run.generator)
    assert ga.keys() == gb.keys() and all(ga[k].equal(gb[k]) for k in ga)
    untimed = lambda records: [{k: v for k, v in r.items() if k not in ("epoch_seconds", "img_per_s")} for r in records]
    assert [r["epoch"] for r in run.read_metrics()] == list(range(1, 13))
    assert untimed(run.read_metrics()) == untimed(straight.read_metrics())
    assert run.read_diagnosis() == straight.read_diagnosis()
    assert load_checkpoint(run.previous_checkpoint)["state"]["epoch"] == 11
    assert not list(run.root.rglob("*.tmp"))
