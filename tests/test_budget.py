"""A run's budget: max_seconds (seconds of training steps, counted across resumes) beside max_steps."""

import shutil

import pytest
from click.testing import CliRunner

from ganforge.cli import cli
from ganforge.config import build_config
from ganforge.data.pairs import pair_names
from ganforge.errors import ConfigError
from ganforge.run import RunDir
from ganforge.run.checkpoint import load_checkpoint, save_checkpoint
from ganforge.training import resume, train
from ganforge.training.stopping import Budget
from ganforge.training.callbacks import Hooks
from ganforge.training.loop import Trainer

quiet = dict(progress=False, echo=lambda *a: None)


class _World:
    """A stand-in for a distributed world: records what each rank asked the others to agree on."""

    def __init__(self, answer=None):
        self.asked, self.answer = [], answer

    def stop(self, wish):
        self.asked.append(wish)
        return wish if self.answer is None else self.answer


def test_budget_names_the_limit_reached_and_asks_the_ranks_only_about_time(tiny_config):
    world = _World()
    steps_only = Budget(tiny_config(max_steps=5), world)
    assert [steps_only.spent(n, 1e6) for n in (4, 5, 6)] == [None, "max_steps", "max_steps"]
    assert world.asked == []  # no time limit: no all-reduce a step
    timed = Budget(tiny_config(max_seconds=2.5), world)
    assert [timed.spent(10**6, s) for s in (2.4, 2.5, 3.0)] == [None, "max_seconds", "max_seconds"]
    assert world.asked == [False, True, True]
    # the ranks' agreement decides: another rank over its time stops this one too
    assert Budget(tiny_config(max_seconds=2.5), _World(answer=True)).spent(1, 0.1) == "max_seconds"
    both = Budget(tiny_config(max_steps=3, max_seconds=100.0), world)
    assert both.spent(3, 200.0) == "max_steps" and both.spent(2, 200.0) == "max_seconds"


def test_a_time_budget_stops_with_a_checkpoint_and_counts_on_across_resume(tiny_config, tmp_path):
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    seconds = []
    trainer = Trainer(tiny_config(max_seconds=1e-9), run,
                      callbacks=[Hooks(on_step=lambda e: seconds.append(e.seconds))], **quiet)
    assert trainer.fit() == "max_seconds"
    state = load_checkpoint(run.checkpoint)["state"]
    assert (state["epoch"], state["batch"], state["step"]) == (0, 1, 1)  # one step is over any positive budget
    assert state["seconds"] == seconds[0] > 0  # the step clock, the same number the step hooks see
    # resumed without a time limit, to 6 steps: the count goes on from where it stopped
    again = resume(run.root, {"max_seconds": 0.0, "max_steps": 6}, **quiet)
    assert again.reason == "max_steps"
    state = load_checkpoint(run.checkpoint)["state"]
    assert state["step"] == 6 and state["seconds"] > seconds[0]
    # and a budget already spent stops a resumed run after its first step, as max_steps does
    assert resume(run.root, {"max_steps": 0, "max_seconds": state["seconds"]}, **quiet).reason == "max_seconds"
    assert load_checkpoint(run.checkpoint)["state"]["step"] == 7


def test_an_older_checkpoint_without_a_clock_resumes_from_zero(tiny_config, tmp_path):
    run = train(tiny_config(max_steps=2), out=tmp_path / "run", **quiet).run
    saved = load_checkpoint(run.checkpoint)
    assert saved["state"]["seconds"] > 0
    del saved["state"]["seconds"]  # as written before max_seconds existed
    save_checkpoint(run.checkpoint, saved)
    seconds = []
    again = resume(run.root, {"max_steps": 3}, callbacks=[Hooks(on_step=lambda e: seconds.append(e.seconds))],
                   **quiet)
    assert again.reason == "max_steps" and len(seconds) == 1
    assert load_checkpoint(run.checkpoint)["state"]["seconds"] == seconds[0]  # counted from 0


def test_a_translation_run_keeps_the_same_budget(emoji, tmp_path):
    names, _, _ = pair_names(emoji / "twitter", emoji / "google")
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, vendor in ((a, "twitter"), (b, "google")):
        folder.mkdir()
        for name in names[:24]:
            shutil.copy(emoji / vendor / name, folder / name)
    cfg = build_config("pix2pix", overrides=dict(dataset=f"pairs:{a},{b}", image_size=32, g_width=8, d_width=8,
                                                 batch_size=4, epochs=3, seed=3, device="cpu", max_seconds=1e-9))
    cut = train(cfg, out=tmp_path / "run", **quiet)
    assert cut.reason == "max_seconds"
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["state"]
    assert state["step"] == 1 and state["seconds"] > 0
    again = resume(tmp_path / "run", {"max_seconds": 0.0}, **quiet)
    assert again.reason == "done" and [r["epoch"] for r in again.records] == [1, 2, 3]
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["state"]["seconds"] > state["seconds"]


def test_the_command_says_the_budget_stopped_it_and_how_to_go_on(data_root, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--preset", "dcgan-mnist", "--dataset", "mnist", "--data-dir",
                                      str(data_root), "--set", "subset=256", "--max-seconds", "0.000001",
                                      "--no-progress", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"stopped (max_seconds); checkpoint saved. Resume with: ganforge train --resume {out}" in result.output
    seconds = load_checkpoint(out / "checkpoints" / "last.pt")["state"]["seconds"]
    shown = CliRunner().invoke(cli, ["info", str(out)]).output
    assert f"step 1, {seconds:.1f} s of training" in shown  # info tells how much of a budget was used
    again = CliRunner().invoke(cli, ["train", "--resume", str(out), "--max-seconds", "0", "--max-steps", "2",
                                     "--no-progress"])  # the budget may change on resume
    assert again.exit_code == 0 and "stopped (max_steps)" in again.output, again.output
    assert load_checkpoint(out / "checkpoints" / "last.pt")["state"]["step"] == 2


def test_a_negative_budget_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="max_seconds=-1.0 must be 0") as err:
        build_config("default", overrides={"max_seconds": -1.0})
    assert "\n" not in str(err.value)
