"""Sharing the cores (issue 11): `ganforge train` fits its CPU threads to the cores other
processes leave free, says so in the run header, and a user's OMP_NUM_THREADS wins. Nothing here
is timed: the fitter is fed made-up CPU counters."""

import os
import subprocess
import sys

import pytest
import torch

from ganforge import cores
from ganforge import threads


@pytest.fixture()
def fit(monkeypatch):
    monkeypatch.setattr(cores, "_fit", False)
    return monkeypatch


def _train_header(tmp_path, **env_extra) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-m", "ganforge", "train", "--set", "subset=128", "--max-steps", "1",
                          "--no-progress", "--set", "tensorboard=false", "--out", str(tmp_path / "run")],
                         env=env, capture_output=True, text=True, check=True).stdout
    return next(line for line in out.splitlines() if line.startswith("step: "))


def test_cli_fits_threads_and_says_so(tmp_path):
    header = _train_header(tmp_path)
    count = int(header.split("cpu x")[1].split(" threads")[0])
    if count > 1:
        assert header.endswith(f"cpu x{count} threads, fitted to the free cores")
    else:  # one core: nothing to fit
        assert header.endswith("cpu x1 threads")


def test_a_users_omp_num_threads_wins(tmp_path):
    header = _train_header(tmp_path, OMP_NUM_THREADS="1")
    assert header.endswith("cpu x1 threads, OMP_NUM_THREADS=1")


def test_share_cores_steps_aside_for_omp_num_threads(fit):
    assert cores.share_cores({}) and cores.fitting()
    assert cores.describe(2, {}) == ", fitted to the free cores"
    assert cores.describe(1, {}) == ""
    assert not cores.share_cores({"OMP_NUM_THREADS": "2"}) and not cores.fitting()
    assert cores.describe(2, {"OMP_NUM_THREADS": "2"}) == ", OMP_NUM_THREADS=2"


@pytest.mark.parametrize("others, most, want", [(0.0, 2, 2), (0.4, 2, 2), (0.6, 2, 1), (1.0, 2, 1), (1.9, 2, 1),
                                                (1.0, 8, 7), (3.2, 8, 5), (9.0, 8, 1)])
def test_fitted_threads(others, most, want):
    assert threads.fitted_threads(others, most) == want


def test_fitter_follows_the_other_processes(fit):
    """Another process takes a core: one thread; it stops: back to two. Counters are seconds of CPU."""
    clock = {"now": 0.0, "machine": 0.0, "own": 0.0}
    fit.setattr(threads.time, "monotonic", lambda: clock["now"])
    fit.setattr(threads, "machine_busy_seconds", lambda: clock["machine"])
    fit.setattr(threads, "own_busy_seconds", lambda: clock["own"])
    fit.setattr(torch, "get_num_threads", lambda: 2)
    calls = []
    fit.setattr(torch, "set_num_threads", calls.append)
    fitter = threads.ThreadFitter(period=2.0)

    def advance(seconds, own_cores, other_cores):
        clock["now"] += seconds
        clock["own"] += seconds * own_cores
        clock["machine"] += seconds * (own_cores + other_cores)
        fitter.on_step()

    advance(2.0, 2.0, 0.1)  # alone (system noise)
    assert calls == []
    advance(1.0, 1.0, 1.0)  # within the period: not looked at yet
    assert calls == []
    advance(1.0, 1.0, 1.0)  # a second process has a core
    assert calls == [1] and fitter.threads == 1
    advance(2.0, 1.0, 0.9)
    assert calls == [1]
    advance(2.0, 1.0, 0.0)  # it ended
    assert calls == [1, 2] and fitter.changes == 2


def test_the_trainer_gets_a_fitter_only_when_asked(fit):
    fit.setattr(torch, "get_num_threads", lambda: 2)
    assert threads.step_hooks(torch.device("cpu")) == []
    cores.share_cores({})
    if threads.machine_busy_seconds() is None:
        pytest.skip("no /proc/stat here: the fitter stays off")
    assert len(threads.step_hooks(torch.device("cpu"))) == 1
    assert threads.step_hooks(torch.device("cuda")) == []


def test_viewers_fit_at_their_first_chunk_and_follow_the_period(fit):
    """generate / evaluate / serve (threads.poll between chunks): the first chunk fits at once from a
    short look; later chunks re-fit once a period has passed; without the CLI's request, nothing."""
    clock = {"now": 0.0, "machine": 0.0, "own": 0.0}
    fit.setattr(threads.time, "monotonic", lambda: clock["now"])
    fit.setattr(threads, "machine_busy_seconds", lambda: clock["machine"])
    fit.setattr(threads, "own_busy_seconds", lambda: clock["own"])
    fit.setattr(torch, "get_num_threads", lambda: 2)
    fit.setattr(threads, "_viewer_fitter", None)
    calls = []
    fit.setattr(torch, "set_num_threads", calls.append)

    def busy_other(seconds):  # another process keeps one core busy while we look or work
        clock["now"] += seconds
        clock["machine"] += seconds

    fit.setattr(threads.time, "sleep", busy_other)
    assert list(threads.between([1, 2], "cpu")) == [1, 2] and calls == []  # the CLI did not ask: untouched
    cores.share_cores({})
    chunks = threads.between(["a", "b", "c"], "cpu")
    assert next(chunks) == "a" and calls == [1]  # the short first look saw one core taken
    busy_other(0.5)
    assert next(chunks) == "b" and calls == [1]  # within the period: no new look
    clock["now"] += 1.0  # the other process has stopped
    assert next(chunks) == "c" and calls == [1, 2]
    assert list(threads.between(["d"], "cuda")) == ["d"] and calls == [1, 2]  # a GPU's work: no CPU fitting
