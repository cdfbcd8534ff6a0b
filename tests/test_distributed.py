"""Data-parallel training on torch.distributed (issue #13), on CPU with gloo: real torchrun
workers, the tutorial networks at a sixteenth of their width, a few steps each.

One torchrun job (tests/distributed_worker.py) trains six runs in one process group, and the
tests read what it left: a straight 2-process run, one stopped by Ctrl-C on rank 0 and resumed,
one of networks without batch statistics, compared with the same run in one process, one
with a gradient penalty and augmentation, and one stopped by a time budget."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from distributed_worker import without_batchnorm
from test_run_folder import NANO, nano_config, one_line, quiet, run_cli

import ganforge.training.loop as loop
from ganforge.errors import ConfigError
from ganforge.run import RunDir
from ganforge.run.checkpoint import load_checkpoint
from ganforge.training import train

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with gloo is needed")
WORKER = Path(__file__).with_name("distributed_worker.py")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
STEPS = dict(NANO, ema=0.9, max_steps=6)  # 4 steps an epoch (2 x 16 images a step): 6 steps cross an epoch end
PLAIN = dict(STEPS, d_dropout=0.0, epochs=2)  # with no BatchNorm (no_batchnorm): no batch statistics, no dropout
# D's double backward (R1) under DDP, G's phase through the bare D, each rank's augmentation stream
PENALISED = dict(NANO, step="d_then_g", r1=1.0, augment="color,translation", epochs=1)
NANO_ARGS = ["--preset", "dcgan-mnist", "--dataset", "embedded-mnist", "--set", "subset=128", "--batch-size", "32",
             "--set", "g_width=16", "--set", "d_width=8", "--set", "n_fixed=16", "--set", "tensorboard=false",
             "--device", "cpu", "--seed", "7", "--no-progress"]


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The worker's six runs, in one torchrun job; returns its folder."""
    root = tmp_path_factory.mktemp("distributed")
    jobs = [dict(name="straight", op="train", out=str(root / "straight"), overrides=STEPS),
            dict(name="part", op="train", out=str(root / "split"), overrides=STEPS, sigint_at=3),
            dict(name="resumed", op="resume", out=str(root / "split"), overrides={}),
            dict(name="plain", op="train", out=str(root / "plain"), overrides=PLAIN, no_batchnorm=True),
            dict(name="penalised", op="train", out=str(root / "penalised"), overrides=PENALISED),
            dict(name="timed", op="train", out=str(root / "timed"), overrides=dict(NANO, max_seconds=1e-9))]
    done = subprocess.run([*TORCHRUN, str(WORKER), str(root), json.dumps(jobs)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run folder: ") == 6, done.stdout  # rank 0 alone speaks
    assert "UserWarning" not in done.stderr and "FutureWarning" not in done.stderr, done.stderr
    return root


def rank_states(root: Path, name: str) -> list[dict]:
    return [torch.load(root / f"{name}.rank{r}.pt") for r in (0, 1)]


def assert_same(a, b, where=""):
    """Every tensor of two checkpoints (nested dicts and lists) bit for bit."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}/{i}")


def untimed(records):
    return [{k: v for k, v in r.items() if k not in ("epoch_seconds", "img_per_s")} for r in records]


@pytest.mark.slow
def test_two_processes_equal_one_with_the_same_global_batch(job, tmp_path, monkeypatch):
    """Without batch statistics, DDP's averaged gradient of two halves is the one process's gradient
    of the whole batch, and both draw the same noise: the same weights, to float rounding."""
    monkeypatch.setattr(loop, "build_networks", without_batchnorm(loop.build_networks))
    single = train(nano_config(**PLAIN), out=tmp_path / "single", **quiet).run
    a, b = load_checkpoint(single.checkpoint), load_checkpoint(job / "plain" / "checkpoints" / "last.pt")
    assert a["state"]["step"] == b["state"]["step"] == 6
    for net in ("G", "D", "G_ema"):
        for key in a[net]:
            torch.testing.assert_close(b[net][key], a[net][key], rtol=0, atol=1e-5, msg=f"{net}.{key}")
    ours, theirs = untimed(RunDir(job / "plain").read_metrics()), untimed(single.read_metrics())
    for mine, other in zip(ours, theirs, strict=True):  # the epoch line is the global batch's
        for key in ("g_loss", "d_loss", "d_acc_real", "d_acc_fake", "d_real", "d_fake"):
            assert mine[key] == pytest.approx(other[key], abs=1e-5), key
    # the run folder has what a single-process one has, and says how it ran
    files = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    assert files(job / "plain") == files(single.root)
    assert "fused CPU kernels: one process only" in ours[0]["step_path"] and "DDP x2 (gloo" in ours[0]["step_path"]


@pytest.mark.slow
def test_ranks_hold_the_same_parameters_and_their_own_batchnorm_statistics(job):
    for name in ("straight", "part", "resumed", "plain", "penalised"):
        rank0, rank1 = rank_states(job, name)
        assert rank0["step"] == rank1["step"] and rank0["reason"] == rank1["reason"]
        for net in ("G", "D"):
            for key, value in rank0[net].items():
                same = torch.equal(value, rank1[net][key])
                assert same or "running" in key, f"{name} {net}.{key}"  # per-rank BatchNorm: its statistics differ
    assert not torch.equal(*(r["G"]["1.running_mean"] for r in rank_states(job, "straight")))
    assert [r["reason"] for r in rank_states(job, "part")] == ["interrupted", "interrupted"]  # Ctrl-C on rank 0 alone


@pytest.mark.slow
def test_interrupted_and_resumed_two_process_run_ends_where_the_straight_one_ends(job):
    straight, resumed = RunDir(job / "straight"), RunDir(job / "split")
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    assert a["state"]["step"] == b["state"]["step"] == 6 and a["world_size"] == b["world_size"] == 2
    for key in ("G", "D", "G_ema", "opt_g", "opt_d", "rng", "ranks"):  # ranks: each rank's streams, sums, buffers
        assert_same(a[key], b[key], key)
    assert untimed(straight.read_metrics()) == untimed(resumed.read_metrics())


def test_the_ranks_agree_to_stop_on_a_time_budget(job):
    """Each rank's clock is its own; the all-reduce makes them stop after the same step, with one checkpoint."""
    states = rank_states(job, "timed")
    assert [(s["reason"], s["step"]) for s in states] == [("max_seconds", 1)] * 2
    saved = load_checkpoint(RunDir(job / "timed").checkpoint)
    assert saved["state"]["step"] == 1 and saved["state"]["seconds"] > 0 and saved["world_size"] == 2


@pytest.mark.slow
def test_only_rank_0_writes_and_the_folder_reads_like_any_other(job, tmp_path):
    for name in ("straight", "part", "resumed", "plain"):
        rank0, rank1 = (json.loads((job / f"{name}.rank{r}.writes.json").read_text()) for r in (0, 1))
        assert rank0 and not rank1, rank1  # the audit hook saw rank 0 write, and rank 1 never
    run = RunDir(job / "straight")
    assert [p.name for p in run.sample_paths()] == ["epoch_0001.png"] and run.gif.is_file()
    code, out, err = run_cli("info", run.root)
    assert code == 0 and "checkpoint: " in out, err
    code, out, err = run_cli("generate", run.root, "--n", "4", "--out", tmp_path / "g.png")
    assert code == 0 and (tmp_path / "g.png").is_file(), err


def test_resuming_with_another_number_of_processes_is_refused_in_one_line(job):
    code, _, err = run_cli("train", "--resume", job / "straight")
    line = one_line(err)
    assert code == 2 and "was trained by 2 processes and this is 1; resume it with 2 processes" in line
    assert "--resume RUN --nproc 2" in line


def test_a_batch_that_does_not_split_is_refused_before_any_worker_starts():
    code, _, err = run_cli("train", *NANO_ARGS, "--batch-size", "33", "--nproc", "2", "--out", "nowhere")
    assert code == 2 and "batch_size=33 is the global batch and does not split evenly over 2 processes" in one_line(err)
    assert not Path("nowhere").exists()


def test_a_world_of_one_keeps_every_stream_and_refuses_sync_batchnorm_on_cpu(monkeypatch):
    """torchrun with one process: the run's own streams (the step's noise rows are all of it), and a
    global batch that is its own share."""
    from ganforge.training.accel import setup
    from ganforge.training.distributed import World
    from ganforge.training.failures import Failures

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        world = World(Failures(0, 1))
        assert world.shares([(0, 32), (32, 40), (40, 41)]) == [(0, 32), (32, 40)]  # one image: no BatchNorm batch
        assert world.seed_rank(7, "cpu") is None and world.stop(True) and world.total(torch.ones(2)).tolist() == [1, 1]
        with pytest.raises(ConfigError, match="batchnorm=sync needs CUDA"):
            world.configure(nano_config(batchnorm="sync"), setup(nano_config()))
    finally:
        dist.destroy_process_group()


def test_shares_split_each_global_batch_in_equal_runs():
    from ganforge.training.distributed import World

    ranks = []
    for rank in (0, 1):
        world = World.__new__(World)
        world.rank, world.world = rank, 2
        ranks.append(world.shares([(0, 32), (32, 64), (64, 69)]))  # a last batch of 5: 2 each, one image left out
    assert ranks == [[(0, 16), (32, 48), (64, 66)], [(16, 32), (48, 64), (66, 68)]]


# ---- failure and the --nproc launcher --------------------------------------------------------------
def rank_pid(parent: int, rank: int) -> int | None:
    """The PID of the worker `parent` (torchrun) started as RANK=rank, read from /proc."""
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            env = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and f"RANK={rank}".encode() in env:
            return int(entry.name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the worker through /proc")
def test_killing_a_rank_ends_the_job_at_once_with_the_reason_on_rank_0(tmp_path):
    run = RunDir(tmp_path / "run")
    job = subprocess.Popen([*TORCHRUN, "-m", "ganforge", "train", *NANO_ARGS, "--epochs", "100000", "--out",
                            str(run.root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        deadline = time.time() + 180
        while not run.checkpoint.exists():
            assert job.poll() is None and time.time() < deadline, job.communicate()[1][-3000:] if job.poll() else "slow"
            time.sleep(0.2)
        os.kill(rank_pid(job.pid, 1), signal.SIGKILL)
        killed = time.monotonic()
        out, err = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    assert job.returncode != 0 and time.monotonic() - killed < 30
    said = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(said) == 1, err[-3000:]  # rank 0's line; rank 1 could say nothing
    assert said[0].startswith("error: rank 1 of 2 stopped without a word (killed, out of memory")
    assert "The last checkpoint (epoch " in said[0] and f"ganforge train --resume {run.root} --nproc 2" in said[0]
    epoch = load_checkpoint(run.checkpoint)["state"]["epoch"]  # the last good checkpoint stays, and reads
    assert f"(epoch {epoch}, step {epoch * 4})" in said[0]


@pytest.mark.slow
def test_nproc_2_trains_the_default_recipe_with_samples(tmp_path):
    run = RunDir(tmp_path / "run")
    done = subprocess.run([sys.executable, "-m", "ganforge", "train", "--nproc", "2", "--set", "subset=256", "--epochs",
                           "1", "--device", "cpu", "--set", "tensorboard=false", "--no-progress", "--out", str(run.root)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run folder: ") == 1 and "DDP x2 (gloo, BatchNorm per rank)" in done.stdout
    assert f"done. Run folder: {run.root}" in done.stdout
    assert [p.name for p in run.sample_paths()] == ["epoch_0001.png"] and run.generator.is_file()
    record = run.read_metrics()[0]
    assert record["step"] == 4 and load_checkpoint(run.checkpoint)["world_size"] == 2  # 256 images, 64 a step


def test_the_launcher_names_the_rank_a_signal_killed_and_passes_on_rank_0s_exit_code():
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

    from ganforge.errors import DistributedError
    from ganforge.training.launch import failure_code

    def failure(rank, code):
        return ProcessFailure(local_rank=rank, pid=100 + rank, exitcode=code, error_file="")

    with pytest.raises(DistributedError, match=r"^rank 1 of 2 \(PID 101\) was killed by SIGKILL; the other ranks"):
        failure_code({0: failure(0, 2), 1: failure(1, -signal.SIGKILL)}, 2)
    assert failure_code({0: failure(0, 2), 1: failure(1, -signal.SIGTERM)}, 2) == 2  # rank 0 said why
    assert failure_code({0: failure(0, -signal.SIGTERM), 1: failure(1, 1)}, 2) == 1
