"""The command as a user meets it: options, exit codes, one-line errors without tracebacks."""

import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from ganforge.cli import cli


def run_cli(*args):
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(code, stderr, *words):
    lines = [l for l in stderr.splitlines() if l.strip()]
    assert code != 0
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_dry_run_shows_resolved_config():
    code, out, _ = run_cli("train", "--preset", "dcgan-mnist", "--epochs", "3", "--set", "lr_g=2e-4", "--dry-run")
    assert code == 0
    assert "epochs: 3" in out and "lr_g: 0.0002" in out and "dataset: mnist" in out


@pytest.mark.parametrize("args, words", [
    (["train", "--preset", "nope"], ["unknown preset 'nope'"]),
    (["train", "--dataset", "imagenet", "--max-steps", "1"], ["imagenet"]),
    (["train", "--set", "lr_d=-3"], ["lr_d"]),
    (["train", "--set", "batch_size=many"], ["batch_size"]),
    (["generate", "no/such/run"], ["does not exist"]),
    (["info", "."], ["not a ganforge run folder"]),
])
def test_bad_input_is_one_line(args, words, tmp_path):
    code, _, err = run_cli(*args, *(["--out", str(tmp_path / "r")] if args[0] == "train" else []))
    assert_one_line_error(code, err, *words)


def _copy_mnist(data_root, dest):
    (dest / "mnist").mkdir(parents=True)
    for f in (data_root / "mnist").iterdir():
        shutil.copy(f, dest / "mnist" / f.name)
    return dest / "mnist" / "train-images-idx3-ubyte.gz"


def test_missing_corrupt_and_wrong_magic_data(data_root, tmp_path):
    train_args = ["train", "--dataset", "mnist", "--max-steps", "1", "--out", str(tmp_path / "r")]
    code, _, err = run_cli(*train_args, "--data-dir", str(tmp_path / "empty"))
    assert_one_line_error(code, err, "train-images-idx3-ubyte.gz")
    images = _copy_mnist(data_root, tmp_path / "d")
    images.write_bytes(images.read_bytes()[:5000])  # truncated download
    code, _, err = run_cli(*train_args, "--data-dir", str(tmp_path / "d"))
    assert_one_line_error(code, err, "train-images-idx3-ubyte.gz")
    with gzip.open(images, "wb") as f:  # a valid gzip whose IDX header is wrong
        f.write(b"\x00\x00\x08\x01" + b"\x00" * 100)
    code, _, err = run_cli(*train_args, "--data-dir", str(tmp_path / "d"))
    assert_one_line_error(code, err, "magic")


def test_wrong_image_size_for_preset(data_root, tmp_path):
    code, _, err = run_cli("train", "--preset", "dcgan-cifar10", "--dataset", "fashion-mnist",
                           "--data-dir", str(data_root), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "1x28x28", "3x32x32")


def test_train_info_generate_and_foreign_checkpoint(data_root, tmp_path):
    run = tmp_path / "run"
    code, out, err = run_cli("train", "--preset", "dcgan-mnist", "--data-dir", str(data_root), "--set", "subset=128",
                             "--batch-size", "64", "--epochs", "1", "--out", str(run), "--no-progress")
    assert code == 0, err
    assert f"run folder: {run}" in out and "epoch   1/1" in out and "done" in out
    # the run header says which path runs, and which route each big convolution took (timed or cached)
    assert re.search(r"step: joint, fused CPU kernels \(G\.4 (dft|onednn|onednn-nhwc), G\.7 \S+, D\.1 \S+; "
                     r"timed (now|before, cached)\), fp32, eager, cpu x", out), out
    code, out, _ = run_cli("info", str(run))
    assert code == 0 and "progress: 1/1 epochs, 2 steps (finished)" in out and "g_loss" in out
    code, out, _ = run_cli("generate", str(run), "--n", "4", "--out", str(tmp_path / "g.png"), "--seed", "1")
    assert code == 0 and (tmp_path / "g.png").is_file()
    code, _, err = run_cli("generate", str(run), "--label", "3", "--out", str(tmp_path / "h.png"))
    assert_one_line_error(code, err, "not conditional")
    code, _, err = run_cli("train", "--resume", str(run), "--preset", "dcgan-cifar10")
    assert_one_line_error(code, err, "preset")


def test_evaluate_command_reports_and_writes_json(judge, data_root, tmp_path):
    import json

    run = tmp_path / "run"
    code, _, err = run_cli("train", "--preset", "dcgan-mnist", "--data-dir", str(data_root), "--set", "subset=128",
                           "--batch-size", "64", "--epochs", "1", "--out", str(run), "--no-progress")
    assert code == 0, err
    code, out, err = run_cli("evaluate", str(run), "--n", "300", "--json", str(tmp_path / "m.json"))
    assert code == 0, err
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["n"] == 300 and metrics["judge_accuracy"] >= 0.985
    assert metrics["fid"] > 0 and 1 <= metrics["classes_covered"] <= 10
    assert "FID" in out and f"{metrics['judge_accuracy']:.2%}" in out  # the judge's accuracy shown with the numbers


def test_ctrl_c_saves_checkpoint_and_prints_resume(data_root, tmp_path):
    """A real SIGINT to a real process: clean exit 130, a checkpoint, the GIF, the resume command."""
    run = tmp_path / "run"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "ganforge", "train", "--preset", "dcgan-mnist",
                             "--data-dir", str(data_root), "--set", "subset=512", "--batch-size", "64",
                             "--epochs", "50", "--set", "tensorboard=false", "--out", str(run), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    while not (run / "samples" / "epoch_0001.png").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"ganforge train --resume {run}" in out
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "progress.gif").is_file()


def test_progress_bar_stays_off_a_log_file(data_root, tmp_path):
    """Piped into a file (CI, nohup), training writes its epoch lines, not a redrawn bar per step."""
    proc = subprocess.run([sys.executable, "-m", "ganforge", "train", "--preset", "dcgan-mnist", "--data-dir",
                           str(data_root), "--set", "subset=256", "--batch-size", "32", "--epochs", "2",
                           "--set", "tensorboard=false", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("\n") <= 1 and "it/s" not in proc.stderr and "step/s" not in proc.stderr
    assert proc.stdout.count("epoch ") >= 2
