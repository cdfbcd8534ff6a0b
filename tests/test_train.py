"""Short real-MNIST runs: artefacts, learning signal, exact resume, divergence and interruption."""

import math

import pytest
import torch
from PIL import Image

from ganforge.errors import CheckpointError, TrainingDiverged
from ganforge.run import RunDir
from ganforge.run.checkpoint import load_checkpoint
from ganforge.run.records import STAT_NAMES
from ganforge.training import resume, train
from ganforge.training.callbacks import Hooks
from ganforge.training.loop import Trainer

quiet = dict(progress=False, echo=lambda *a: None)


def test_short_run_writes_every_artefact(tiny_config, tmp_path):
    result = train(tiny_config(), out=tmp_path / "run", **quiet)
    run = result.run
    assert result.reason == "done"
    records = run.read_metrics()
    assert [r["epoch"] for r in records] == [1, 2] and records[-1]["step"] == 8
    for r in records:
        for key in ("g_loss", "d_loss", "d_acc_real", "d_acc_fake", "d_real", "d_fake", "epoch_seconds", "img_per_s"):
            assert math.isfinite(r[key]), key
        assert 0 <= r["d_acc_real"] <= 1 and 0 <= r["d_acc_fake"] <= 1 and r["img_per_s"] > 0
    assert run.config.is_file() and run.checkpoint.is_file() and run.generator.is_file()
    grids = run.sample_paths()
    assert [p.name for p in grids] == ["epoch_0001.png", "epoch_0002.png"]
    assert Image.open(grids[0]).size[0] >= 256  # 4x4 grid, enlarged to be visible
    gif = Image.open(run.gif)
    assert gif.n_frames == 2
    assert Image.open(run.loss_plot).format == "PNG"
    assert list(run.tensorboard.glob("events.out.tfevents.*"))
    assert load_checkpoint(run.checkpoint)["state"]["epoch"] == 2
    assert not list(run.root.rglob("*.tmp"))  # no half-written files left behind


def test_discriminator_starts_unsure_then_separates(tiny_config, tmp_path):
    """An untrained D scores everything near 0.5; within the first steps it learns to call real
    images real (accuracy on real near 1) and scores them above the fakes."""
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    per_step = []
    trainer = Trainer(tiny_config(subset=1024, epochs=1, tensorboard=False), run,
                      callbacks=[Hooks(on_step=lambda event: per_step.append(event.stats))], **quiet)
    trainer.fit()
    names = dict(zip(STAT_NAMES, torch.stack(per_step).T))
    assert abs(names["d_real"][0] - 0.5) < 0.1 and abs(names["d_fake"][0] - 0.5) < 0.1
    record = run.read_metrics()[0]
    assert record["d_acc_real"] > 0.9
    assert record["d_real"] > record["d_fake"] + 0.03
    assert names["d_real"][-4:].mean() > names["d_fake"][-4:].mean()


def _assert_same_state(a, b):
    for net in ("G", "D", "G_ema"):
        for key in a[net] or ():
            assert torch.equal(a[net][key], b[net][key]), f"{net}.{key}"
    for opt in ("opt_g", "opt_d"):
        for idx, s in a[opt]["state"].items():
            for k in s:
                assert torch.equal(s[k], b[opt]["state"][idx][k]), f"{opt}.{idx}.{k}"


@pytest.mark.parametrize("first_stop, ema, conditional",  # stopped inside an epoch, at its end; the default's path
                         [(3, 0.0, False), (4, 0.0, False), (3, 0.9, False), (3, 0.9, True)])
def test_resume_equals_uninterrupted_run(tiny_config, tmp_path, first_stop, ema, conditional):
    more = {"ema": ema, "conditional": conditional}
    straight = train(tiny_config(max_steps=6, **more), out=tmp_path / "straight", **quiet)
    part = train(tiny_config(max_steps=first_stop, **more), out=tmp_path / "split", **quiet)
    assert part.reason == "max_steps"
    resumed = resume(tmp_path / "split", {"max_steps": 6}, **quiet)
    assert resumed.reason == "max_steps"
    a, b = load_checkpoint(straight.run.checkpoint), load_checkpoint(resumed.run.checkpoint)
    assert a["state"]["step"] == b["state"]["step"] == 6
    assert (a["G_ema"] is not None) == (ema > 0)
    _assert_same_state(a, b)
    drop_timing = lambda recs: [{k: v for k, v in r.items() if k not in ("epoch_seconds", "img_per_s")} for r in recs]
    assert drop_timing(straight.run.read_metrics()) == drop_timing(resumed.run.read_metrics())


def test_other_seed_gives_other_weights(tiny_config, tmp_path):
    a = train(tiny_config(max_steps=2, seed=1), out=tmp_path / "a", **quiet)
    b = train(tiny_config(max_steps=2, seed=2), out=tmp_path / "b", **quiet)
    assert not torch.equal(load_checkpoint(a.run.checkpoint)["G"]["0.weight"], load_checkpoint(b.run.checkpoint)["G"]["0.weight"])


def test_nan_stops_cleanly_and_keeps_last_good_checkpoint(tiny_config, tmp_path):
    run = RunDir(tmp_path / "run")
    run.root.mkdir()

    def poison(event):  # after the 5th step (epoch 2 has begun), a weight of G becomes NaN
        if event.step == 5:
            with torch.no_grad():
                next(trainer.G.parameters()).fill_(float("nan"))

    trainer = Trainer(tiny_config(epochs=3), run, callbacks=[Hooks(on_step=poison)], **quiet)
    with pytest.raises(TrainingDiverged) as err:
        trainer.fit()
    assert "epoch 2" in str(err.value) and "\n" not in str(err.value)
    saved = load_checkpoint(run.checkpoint)
    assert saved["state"]["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in saved["G"].values() if v.is_floating_point())
    assert [r["epoch"] for r in run.read_metrics()] == [1]
    assert run.gif.is_file()


def test_stop_request_checkpoints_mid_epoch_and_resumes(tiny_config, tmp_path):
    run = RunDir(tmp_path / "run")
    run.root.mkdir()

    def stop_after_two(event):  # what the Ctrl-C handler does: ask to stop after this step
        if event.step == 2:
            trainer.stop_requested = True

    trainer = Trainer(tiny_config(), run, callbacks=[Hooks(on_step=stop_after_two)], **quiet)
    assert trainer.fit() == "interrupted"
    state = load_checkpoint(run.checkpoint)["state"]
    assert (state["epoch"], state["batch"], state["step"]) == (0, 2, 2)
    assert resume(run.root, **quiet).reason == "done"
    assert load_checkpoint(run.checkpoint)["state"]["step"] == 8


def test_resume_refuses_another_model(tiny_config, tmp_path):
    train(tiny_config(max_steps=1), out=tmp_path / "run", **quiet)
    with pytest.raises(CheckpointError, match="arch='dcgan28'"):
        resume(tmp_path / "run", {"arch": "dcgan32"}, **quiet)
    with pytest.raises(CheckpointError, match="already holds a run"):
        train(tiny_config(), out=tmp_path / "run", **quiet)


def test_cifar_preset_trains_on_cifar_format_files(tmp_path):
    """The Keras CIFAR-10 recipe (3x32x32, D real / D fake / G order) on files in CIFAR's format."""
    from test_data import cifar_files, write_cifar

    from ganforge.config import build_config
    from ganforge.generate import generate

    write_cifar(tmp_path / "data", "folder", cifar_files(num_images=8))
    cfg = build_config("dcgan-cifar10", overrides=dict(data_dir=str(tmp_path / "data"), epochs=1, batch_size=16,
                                                       device="cpu", tensorboard=False))
    result = train(cfg, out=tmp_path / "run", **quiet)
    record = result.records[0]
    assert record["step"] == 3 and all(math.isfinite(record[k]) for k in ("g_loss", "d_loss"))
    generate(result.run.root, n=4, out=tmp_path / "imgs/", seed=0)
    assert Image.open(tmp_path / "imgs" / "0000.png").mode == "RGB"


def test_d_then_g_order_learns_too(tiny_config, tmp_path):
    result = train(tiny_config(step="d_then_g", epochs=1, tensorboard=False), out=tmp_path / "run", **quiet)
    record = result.records[0]
    assert record["d_real"] > record["d_fake"] and math.isfinite(record["g_loss"])


def test_ema_generator_is_what_gets_saved_for_generate(tiny_config, tmp_path):
    from ganforge.run.checkpoint import read_generator

    result = train(tiny_config(epochs=1, ema=0.9, tensorboard=False), out=tmp_path / "run", **quiet)
    saved = load_checkpoint(result.run.checkpoint)
    weights = read_generator(result.run.generator)
    assert torch.equal(weights["0.weight"], saved["G_ema"]["0.weight"])
    assert not torch.equal(saved["G_ema"]["0.weight"], saved["G"]["0.weight"])  # an average lags the live G
