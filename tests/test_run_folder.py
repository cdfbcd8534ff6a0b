"""A run folder people can trust (issue #14): checkpoints that cannot run code, a damaged last
checkpoint that costs one epoch, cut-off record lines, and writes that fail on a full disk."""

import contextlib
import errno
import io
import json
import os
import pickle
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ganforge import fileio
from ganforge.cli import cli
from ganforge.config import build_config, save_config
from ganforge.errors import CheckpointDamaged, CheckpointRefused
from ganforge.run import RunDir
from ganforge.run.checkpoint import load_checkpoint, newest_checkpoint, read_generator, save_checkpoint
from ganforge.training import resume, train

quiet = dict(progress=False, echo=lambda *a: None)
# The tutorial networks at a sixteenth of their width, 128 embedded MNIST images in batches of 32:
# 4 steps an epoch, a fraction of a second on one core.
NANO = dict(dataset="embedded-mnist", subset=128, batch_size=32, epochs=3, seed=7, device="cpu", g_width=16,
            d_width=8, n_fixed=16, tensorboard=False)


def nano_config(**overrides):
    return build_config("dcgan-mnist", overrides={**NANO, **overrides})


def run_cli(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 3-epoch run (checkpoints after epochs 2 and 3), copied afresh by `run`."""
    return train(nano_config(), out=tmp_path_factory.mktemp("trained") / "run", **quiet).run


@pytest.fixture()
def run(trained, tmp_path):
    shutil.copytree(trained.root, tmp_path / "run")
    return RunDir(tmp_path / "run")


def records(path):
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


# ---- checkpoints that cannot run code ------------------------------------------------------------
class Payload:
    """Unpickled, this creates `marker`: what a hostile checkpoint could do instead."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def hostile_checkpoint(marker, form: str) -> bytes:
    if form == "torch.save":
        buffer = io.BytesIO()
        torch.save({"config": nano_config().to_dict(), "G": Payload(marker)}, buffer)
        return buffer.getvalue()
    return pickle.dumps({"config": {}, "G": Payload(marker)})  # a bare pickle, as torch's legacy format is


@pytest.mark.parametrize("form", ["torch.save", "pickle"])
def test_hostile_checkpoint_is_refused_by_every_reader_and_never_runs(tmp_path, form):
    # the payload is real: the loader ganforge used before (weights_only=False) runs it
    armed = tmp_path / "armed.pt"
    armed.write_bytes(hostile_checkpoint(tmp_path / "ran-before", form))
    with contextlib.suppress(RuntimeError):  # a bare pickle runs, then fails torch's format check
        torch.load(armed, weights_only=False)
    assert (tmp_path / "ran-before").exists()

    marker = tmp_path / "payload-ran"
    run = RunDir(tmp_path / "shared-run")  # a folder someone shared: its config and a checkpoint, no generator file
    run.checkpoint.parent.mkdir(parents=True)
    save_config(nano_config(), run.config)
    run.checkpoint.write_bytes(hostile_checkpoint(marker, form))
    expected = "was refused: loading it would call io.open" if form == "torch.save" else "not a complete archive"
    with pytest.raises(CheckpointRefused if form == "torch.save" else CheckpointDamaged):
        load_checkpoint(run.checkpoint)
    for args in (["train", "--resume", run.root], ["generate", run.root, "--out", tmp_path / "g.png"],
                 ["evaluate", run.root, "--n", "10"]):
        code, _, err = run_cli(*args)
        assert code == 2 and expected in one_line(err), args
    code, out, err = run_cli("info", run.root)
    assert code == 0 and err == ""
    said = [line for line in out.splitlines() if expected in line]  # info still describes the run, and says why
    assert len(said) == 1 and said[0].startswith(f"checkpoint: {run.checkpoint}"), out
    assert not marker.exists() and not (tmp_path / "g.png").exists()


def test_checkpoint_in_the_format_before_this_one_still_resumes(run):
    """Checkpoints written before they carried the run's records (and before previous.pt) load as
    they are: their contents were always plain data."""
    old = load_checkpoint(run.checkpoint)
    del old["records"]
    torch.save(old, str(run.checkpoint))  # as the old code saved: torch.save to a path
    run.previous_checkpoint.unlink()
    result = resume(run.root, {"epochs": 4}, **quiet)
    assert [r["epoch"] for r in result.run.read_metrics()] == [1, 2, 3, 4]
    assert load_checkpoint(run.checkpoint)["state"]["epoch"] == 4
    assert load_checkpoint(run.previous_checkpoint)["state"]["epoch"] == 3


# ---- two checkpoints ------------------------------------------------------------------------------
def test_damaged_last_checkpoint_costs_one_epoch_not_the_run(run, tmp_path):
    data = bytearray(run.checkpoint.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside a tensor: only the archive's checksum sees it
    run.checkpoint.write_bytes(bytes(data))
    with pytest.raises(CheckpointDamaged, match="fails its checksum"):
        load_checkpoint(run.checkpoint)
    code, out, _ = run_cli("info", run.root)
    assert code == 0 and "last.pt is damaged" in out and "using previous.pt (epoch 2)" in out

    said = []
    result = resume(run.root, {"epochs": 4}, progress=False, echo=said.append)
    notes = [line for line in said if line.startswith("note:")]
    assert len(notes) == 1 and notes[0].startswith("note: last.pt is damaged (") and \
        "using previous.pt (epoch 2) instead; the damaged file is kept as last.pt.damaged" in notes[0]
    assert (run.root / "checkpoints" / "last.pt.damaged").is_file()
    assert [r["epoch"] for r in result.run.read_metrics()] == [1, 2, 3, 4]
    # epochs 3 and 4 trained again from previous.pt end where a run never damaged ends
    straight = train(nano_config(epochs=4), out=tmp_path / "straight", **quiet).run
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(run.checkpoint)
    assert all(torch.equal(a["G"][k], b["G"][k]) for k in a["G"])
    assert load_checkpoint(run.previous_checkpoint)["state"]["epoch"] == 3  # the good one, not the damaged one


def tiny_state(epoch):
    return {"config": {}, "G": {"w": torch.full((3,), float(epoch))}, "state": {"epoch": epoch}}


class Killed(BaseException):
    """Stands for a SIGKILL at one point of a save (the real signal: test_kills.py)."""


@pytest.mark.parametrize("kill_at", range(4))
def test_a_save_cut_short_at_any_point_leaves_a_readable_checkpoint(tmp_path, monkeypatch, kill_at):
    last, previous = tmp_path / "last.pt", tmp_path / "previous.pt"
    save_checkpoint(last, tiny_state(1), previous=previous)
    save_checkpoint(last, tiny_state(2), previous=previous)
    steps = []  # the save's moves: link to previous's temp name, rename it to previous, rename the new file to last
    # kill_at 0-2: killed before that move; 3: after the last one, before the folder is synced

    def cut(real):
        def move(*args):
            if len(steps) == kill_at:
                raise Killed
            steps.append(args)
            return real(*args)
        return move

    monkeypatch.setattr(fileio.os, "link", cut(os.link))
    monkeypatch.setattr(fileio.os, "replace", cut(os.replace))
    monkeypatch.setattr(fileio, "fsync_dir", cut(lambda folder: None))
    with pytest.raises(Killed):
        save_checkpoint(last, tiny_state(3), previous=previous)
    monkeypatch.undo()
    assert len(steps) == kill_at
    state, path, note = newest_checkpoint(last, previous)
    assert path == last and note is None
    assert state["state"]["epoch"] == (3 if kill_at == 3 else 2)
    assert load_checkpoint(previous)["state"]["epoch"] == (1 if kill_at < 2 else 2)


# ---- torn record lines ----------------------------------------------------------------------------
def test_cut_off_last_lines_leave_info_and_resume_working(run):
    full_metrics, full_diagnosis = records(run.metrics), records(run.diagnosis)
    assert [r["epoch"] for r in full_metrics] == [1, 2, 3] and [d["epoch"] for d in full_diagnosis] == [3]
    run.metrics.write_bytes(run.metrics.read_bytes()[:-40])  # epoch 3's record, cut off
    run.diagnosis.write_bytes(run.diagnosis.read_bytes()[:-10])
    code, out, err = run_cli("info", run.root)
    assert code == 0 and err == "" and "progress: 2/3 epochs" in out and "diagnosis: no warnings" in out
    for name in ("metrics.jsonl", "diagnosis.jsonl"):
        assert out.count(f"note: {name}: ignored a cut-off last line") == 1

    said = []
    resume(run.root, {"epochs": 4}, progress=False, echo=said.append)
    assert sorted(line.split(":")[1] for line in said if "cut-off" in line) == [" diagnosis.jsonl", " metrics.jsonl"]
    metrics = records(run.metrics)
    assert [r["epoch"] for r in metrics] == [1, 2, 3, 4]
    assert metrics[:3] == full_metrics  # epoch 3's record, restored from the checkpoint's copy
    assert records(run.diagnosis)[:1] == full_diagnosis


def test_cut_off_record_after_the_checkpoint_is_dropped_not_doubled(run):
    """What a kill during the append of an epoch the checkpoint has not reached leaves behind."""
    with open(run.metrics, "a") as f:
        f.write('{"epoch": 4, "step": 16, "g_lo')
    resume(run.root, {"epochs": 5}, **quiet)
    assert [r["epoch"] for r in records(run.metrics)] == [1, 2, 3, 4, 5]


def test_damaged_line_inside_a_record_file(run):
    lines = run.metrics.read_text().splitlines(keepends=True)
    run.metrics.write_text(lines[0] + '{"epoch": 2, "g_loss": 0.7\n' + lines[2])
    code, _, err = run_cli("info", run.root)
    assert code == 2 and f"{run.metrics} line 2 is not a valid record" in one_line(err)
    said = []
    resume(run.root, {"epochs": 4}, progress=False, echo=said.append)  # the checkpoint's copy mends it
    assert "note: metrics.jsonl had a damaged line; rewritten from the checkpoint's copy" in said
    assert [r["epoch"] for r in records(run.metrics)] == [1, 2, 3, 4]


# ---- full disk, read-only folder ------------------------------------------------------------------
def fail_sync_of(name, code):
    """fsync of the temp file of `name` fails with `code`, as a full disk reports a write it could not
    place (the data was handed over, the file system could not keep it)."""
    real = fileio.fsync_file

    def fsync_file(path):
        if os.path.basename(path).startswith(f".{name}."):
            raise OSError(code, os.strerror(code))
        real(path)
    return fsync_file


def full_disk_save(state, f):
    f.write(b"PK\x03\x04 the first bytes of a checkpoint")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("target, code", [("last.pt", errno.ENOSPC), ("last.pt", errno.EROFS),
                                          ("generator.safetensors", errno.ENOSPC), ("epoch_0004.png", errno.ENOSPC),
                                          ("metrics.jsonl", errno.ENOSPC)],
                         ids=["checkpoint-ENOSPC", "checkpoint-EROFS", "generator-ENOSPC", "samples-ENOSPC",
                              "metrics-ENOSPC"])
def test_failed_write_stops_the_run_in_one_line_and_keeps_what_was_there(run, monkeypatch, target, code):
    from ganforge.training.callbacks import Hooks

    path = {"last.pt": run.checkpoint, "generator.safetensors": run.generator, "metrics.jsonl": run.metrics,
            "epoch_0004.png": run.sample_path(4)}[target]
    before = path.read_bytes() if path.exists() else None
    callbacks = []
    if target == "metrics.jsonl":  # a real ENOSPC, from the kernel: metrics.jsonl made a link to /dev/full
        callbacks = [Hooks(on_start=lambda e: (run.metrics.unlink(), run.metrics.symlink_to("/dev/full")))]
    elif code == errno.ENOSPC and target == "last.pt":
        monkeypatch.setattr(torch, "save", full_disk_save)  # the write itself fails, half done
    else:
        monkeypatch.setattr(fileio, "fsync_file", fail_sync_of(target, code))
    with pytest.raises(fileio.WriteError) as err:
        resume(run.root, {"epochs": 4}, callbacks=callbacks, **quiet)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"cannot write {path}: ")
    assert f"({errno.errorcode[code]})" in message and f"ganforge train --resume {run.root}" in message
    monkeypatch.undo()
    if target == "metrics.jsonl":  # space freed: the link goes, the file comes back as it was
        run.metrics.unlink()
        run.metrics.write_bytes(trained_metrics(run))
    else:
        assert (path.read_bytes() if path.exists() else None) == before
    assert not list(run.root.rglob("*.tmp"))
    assert load_checkpoint(run.checkpoint)["state"]["epoch"] in (3, 4)  # 4 only when the generator file failed
    assert load_checkpoint(run.previous_checkpoint)["state"]["epoch"] in (2, 3)
    assert read_generator(run.generator) and run.read_config().epochs == 4

    resume(run.root, {"epochs": 4}, **quiet)  # and once there is room again, the run ends as it would have
    assert [r["epoch"] for r in records(run.metrics)] == [1, 2, 3, 4]


def trained_metrics(run):
    return load_checkpoint(run.checkpoint)["records"]["metrics.jsonl"].encode()


def test_failed_write_through_the_command_is_one_line(run, monkeypatch):
    monkeypatch.setattr(torch, "save", full_disk_save)
    code, _, err = run_cli("train", "--resume", run.root, "--epochs", "4", "--no-progress")
    line = one_line(err)
    assert code == 2 and f"cannot write {run.checkpoint}: No space left on device (ENOSPC); free some space" in line



def test_generate_reads_the_checkpoint_of_a_folder_shared_without_its_generator_file(run, tmp_path):
    from ganforge.generate import generate

    generate(run.root, n=4, out=tmp_path / "from-file.npz", seed=3)
    run.generator.unlink()
    generate(run.root, n=4, out=tmp_path / "from-checkpoint.npz", seed=3)
    a, b = np.load(tmp_path / "from-file.npz")["images"], np.load(tmp_path / "from-checkpoint.npz")["images"]
    assert a.shape == (4, 28, 28, 1) and np.array_equal(a, b)


def test_run_files_are_as_readable_as_any_file_the_user_makes(run):
    """Written through temp files (mkstemp makes them 0600), they still get the umask's mode, so a
    shared run folder can be read by those it is shared with."""
    umask = os.umask(0o022)
    os.umask(umask)
    for path in (run.config, run.metrics, run.checkpoint, run.previous_checkpoint, run.generator, run.sample_path(1)):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path


def test_a_run_that_fails_while_setting_up_leaves_no_folder(tmp_path):
    """A new run whose data cannot be read stops in one line and leaves no folder holding only its lock
    (which `info` and the web page would otherwise list as a broken run); a folder the user made is kept."""
    empty = tmp_path / "no-images"
    (empty / "sub").mkdir(parents=True)
    code, _, err = run_cli("train", "--preset", "folder32", "--dataset", f"folder:{empty}", "--out", tmp_path / "new")
    assert code != 0 and "no image files" in one_line(err)
    assert not (tmp_path / "new").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    code, _, err = run_cli("train", "--preset", "folder32", "--dataset", f"folder:{empty}", "--out", mine)
    assert code != 0 and "no image files" in one_line(err)
    assert mine.is_dir()
