"""Your own folder of images: transparency, odd files, labels, and the prepared cache. Real emoji
come from $GANFORGE_DATA/emoji (palette and RGBA PNGs with transparent backgrounds)."""

import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import folder as folder_source
from ganforge.data import load_dataset
from ganforge.errors import DataError


def copy_emoji(emoji, dest, names):
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(emoji / "google" / name, dest / name)


def test_transparent_pixels_become_the_chosen_background(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[2:6, 2:6] = (200, 30, 30, 255)  # an opaque red square
    rgba[0, 0] = (0, 255, 0, 0)  # fully transparent green: its colour must not show
    rgba[7, 7] = (0, 0, 255, 128)  # half-transparent blue
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    white = load_dataset(f"folder:{tmp_path}", channels=3, image_size=8).images[0]
    assert white[:, 0, 0].tolist() == [255, 255, 255] and white[:, 3, 3].tolist() == [200, 30, 30]
    assert white[:, 7, 7].tolist() == [127, 127, 255]  # blue over white at alpha 128/255
    black = load_dataset(f"folder:{tmp_path}", channels=3, image_size=8, background="black").images[0]
    assert black[:, 0, 0].tolist() == [0, 0, 0] and black[:, 7, 7].tolist() == [0, 0, 128]
    teal = load_dataset(f"folder:{tmp_path}", channels=3, image_size=8, background="#008080").images[0]
    assert teal[:, 0, 0].tolist() == [0, 128, 128]


def test_real_emoji_with_transparency_read_cleanly(emoji, tmp_path):
    names = sorted(p.name for p in (emoji / "google").glob("*.png"))[:40]
    copy_emoji(emoji, tmp_path, names)
    modes = {Image.open(tmp_path / n).mode for n in names}
    assert modes & {"P", "RGBA"}  # the real files carry transparency
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PIL's palette-transparency UserWarning is gone
        data = load_dataset(f"folder:{tmp_path}", channels=3, image_size=32)
    assert data.images.shape == (40, 3, 32, 32)
    corners = data.images[:, :, 0, 0]  # emoji leave their corners transparent
    assert (corners == 255).all(dim=1).float().mean() > 0.9


def test_odd_files_are_skipped_with_one_summary_line(tmp_path, capsys):
    Image.new("RGB", (16, 16), (10, 20, 30)).save(tmp_path / "a_good.png")
    (tmp_path / "b_empty.png").write_bytes(b"")
    (tmp_path / "c_text.jpg").write_text("this is not a JPEG")
    full = tmp_path / "d_full.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(full)
    (tmp_path / "d_truncated.png").write_bytes(full.read_bytes()[:60])
    full.unlink()
    Image.new("1", (9000, 8000)).save(tmp_path / "e_bomb.png")  # 72M pixels, a few kB on disk
    sixteen = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)  # 16-bit grayscale ramp
    Image.fromarray(sixteen).save(tmp_path / "f_16bit.png")
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "g_cmyk.jpg")  # red, in CMYK
    data = load_dataset(f"folder:{tmp_path}", channels=3, image_size=16)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "skipped 4 file(s)" in lines[0]
    for shown in ("b_empty.png (empty file)", "c_text.jpg (not a readable image)", "d_truncated.png (damaged"):
        assert shown in lines[0]
    assert "and 1 more" in lines[0]  # e_bomb.png, past the first three
    assert len(data) == 3  # the good one, the 16-bit one and the CMYK one are read
    assert data.images[0, :, 0, 0].tolist() == [10, 20, 30]
    assert data.images[1, 0, 0, 0] == 0 and data.images[1, 0, 15, 15] == 255  # 16 bits scaled to 8
    red = data.images[2, :, 8, 8].int()
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_subfolder_labels_and_conditional_config(tmp_path):
    for label, colour in (("cats", (200, 0, 0)), ("dogs", (0, 0, 200))):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("RGB", (12, 12), colour).save(tmp_path / label / f"{i}.png")
    data = load_dataset(f"folder:{tmp_path}", channels=3, image_size=8, labels="folders")
    assert data.class_names == ["cats", "dogs"] and data.num_classes == 2
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.images[data.labels == 1][:, 2].min() == 200  # the dogs are the blue ones
    Image.new("RGB", (12, 12)).save(tmp_path / "loose.png")
    with pytest.raises(DataError, match="1 are at the top, e.g. loose.png"):
        load_dataset(f"folder:{tmp_path}", channels=3, image_size=8, labels="folders")


def test_csv_labels_on_real_emoji(emoji, tmp_path):
    import csv

    rows = list(csv.DictReader(open(emoji / "labels.csv")))
    picked = [r for r in rows if r["vendor"] == "google" and r["category"] in ("Flags", "Animals & Nature")][::20]
    copy_emoji(emoji, tmp_path / "google", [r["file"].split("/")[1] for r in picked])
    shutil.copy(emoji / "labels.csv", tmp_path / "labels.csv")
    Image.new("RGB", (64, 64)).save(tmp_path / "google" / "unlisted.png")
    data = load_dataset(f"folder:{tmp_path / 'google'}", channels=3, image_size=16, labels="csv:../labels.csv:category")
    assert data.class_names == ["Animals & Nature", "Flags"] and len(data) == len(picked)  # unlisted.png skipped
    want = [data.class_names.index(r["category"]) for r in sorted(picked, key=lambda r: r["file"])]
    assert data.labels.tolist() == want
    with pytest.raises(DataError, match="needs columns 'file' and 'colour'"):
        load_dataset(f"folder:{tmp_path / 'google'}", labels="csv:../labels.csv:colour")


def test_prepared_cache_is_reused_and_keyed_by_files_and_options(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        Image.new("RGB", (20, 20), (i * 60, 0, 0)).save(images / f"{i}.png")
    decodes = []
    real_decode = folder_source.decode_image
    monkeypatch.setattr(folder_source, "decode_image", lambda *a: decodes.append(1) or real_decode(*a))
    first = load_dataset(f"folder:{images}", channels=3, image_size=8)
    again = load_dataset(f"folder:{images}", channels=3, image_size=8)
    assert len(decodes) == 4 and torch.equal(first.images, again.images)  # the second load decoded nothing
    load_dataset(f"folder:{images}", channels=3, image_size=16)  # other options: prepared anew
    assert len(decodes) == 8
    Image.new("RGB", (20, 20), (0, 255, 0)).save(images / "4.png")  # a new file: prepared anew
    assert len(load_dataset(f"folder:{images}", channels=3, image_size=8)) == 5 and len(decodes) == 13
    assert len(list((tmp_path / "cache" / "prepared").glob("*.npz"))) == 3


def test_labelled_folder_gets_a_trained_judge_and_class_metrics(emoji, tmp_path, session_cache):
    """Real emoji of two categories: the judge learns them from the folder's own labels, and the
    metrics then see classes: real images cover both, one category alone covers one."""
    import csv

    from ganforge.metrics import evaluate_images, get_judge

    rows = [r for r in csv.DictReader(open(emoji / "labels.csv")) if r["vendor"] == "google"]
    for category, folder in (("Flags", "flags"), ("Smileys & Emotion", "smileys")):
        names = [r["file"].split("/")[1] for r in rows if r["category"] == category][:100]
        copy_emoji(emoji, tmp_path / "two" / folder, names)
    dataset, shape = f"folder:{tmp_path / 'two'}", (3, 32, 32)
    messages = []
    judge = get_judge(dataset, image_shape=shape, labels="folders", echo=messages.append)
    assert judge.kind == "classifier" and judge.accuracy >= 0.9  # 20 held-out images; seen here: 1.0
    assert "held-out" in messages[-1]
    again = get_judge(dataset, image_shape=shape, labels="folders", echo=messages.append)
    assert again.fingerprint == judge.fingerprint and len(messages) == 2  # cached, not trained again
    data = load_dataset(dataset, channels=3, image_size=32, labels="folders")
    real = evaluate_images(data.images, dataset, n=200, metrics=["classes"], labels="folders", echo=messages.append)
    flags = evaluate_images(data.images[data.labels == 0][:100].repeat(2, 1, 1, 1), dataset, n=200,
                            metrics=["classes"], labels="folders", echo=messages.append)
    assert real["classes_covered"] == 2 and flags["classes_covered"] == 1
    assert "no test split" in real["reference"] and real["judge_accuracy"] == judge.accuracy


@pytest.mark.parametrize("arch", ["dcgan", "lite"])
def test_folder_preset_trains_conditionally_and_generates_a_chosen_class(emoji, tmp_path, arch):
    """The folder32 preset end to end on real emoji in two labelled sub-folders: the general DCGAN
    (or the FastGAN-lite G) with spectral norm, hinge loss and DiffAugment trains, and `generate --label`
    draws class 1."""
    import csv

    from ganforge.config import build_config
    from ganforge.generate import load_generator, sample
    from ganforge.training import train

    rows = [r for r in csv.DictReader(open(emoji / "labels.csv")) if r["vendor"] == "google"]
    for category, folder in (("Flags", "flags"), ("Food & Drink", "food")):
        copy_emoji(emoji, tmp_path / "data" / folder, [r["file"].split("/")[1] for r in rows if r["category"] == category][:24])
    cfg = build_config("folder32", overrides={"dataset": f"folder:{tmp_path / 'data'}", "labels": "folders",
                                               "conditional": True, "max_steps": 3, "batch_size": 16,
                                               "tensorboard": False, "device": "cpu", "arch": arch})
    result = train(cfg, out=tmp_path / "run", progress=False, echo=lambda *a: None)
    assert result.reason == "max_steps"
    G, saved = load_generator(tmp_path / "run")
    assert saved.num_classes == 2 and saved.arch == arch and G.num_classes == 2
    images = sample(G, saved.latent_dim, 6, seed=0, label=1)
    # lite's GLU halves and N(0, 0.02) weights start it near grey: after 3 steps its images vary less, not 0
    assert images.shape == (6, 3, 32, 32) and images.float().std() > (1 if arch == "dcgan" else 0.2)


def test_general_nets_start_as_their_papers_say():
    """init=dcgan reaches spectrally normalised weights (their trainable `original`) and leaves
    conditional BatchNorm at gamma 1, beta 0."""
    from ganforge.config import build_config
    from ganforge.nets import build_networks

    cfg = build_config("folder32", overrides={"conditional": True, "num_classes": 3, "g_width": 64, "d_width": 16})
    G, D = build_networks(cfg)
    originals = [m.parametrizations.weight.original for m in D.modules() if hasattr(m, "parametrizations")]
    assert originals and all(abs(w.std().item() - 0.02) < 0.004 for w in originals if w.numel() > 1000)
    tables = [m.embed.weight for m in G.modules() if type(m).__name__ == "ConditionalBatchNorm2d"]
    assert len(tables) == 3  # after the projection and after each of two upsampling blocks
    assert all((t[:, : t.shape[1] // 2] == 1).all() and (t[:, t.shape[1] // 2:] == 0).all() for t in tables)


def test_evaluate_scores_an_unconditional_folder_run_with_a_labelled_judge(tmp_path):
    """`ganforge evaluate RUN --labels folders`: the run knows no classes, its judge does."""
    from click.testing import CliRunner

    from ganforge.cli import cli

    for label, colour in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(40):
            image = np.zeros((32, 32, 3), np.uint8)
            image[:] = colour
            image[(i * 3) % 28:(i * 3) % 28 + 4] = 255  # a white band, placed differently in each image
            Image.fromarray(image).save(tmp_path / "data" / label / f"{i}.png")
    run = tmp_path / "run"
    args = ["train", "--preset", "folder32", "--dataset", f"folder:{tmp_path / 'data'}", "--max-steps", "2",
            "--batch-size", "16", "--set", "tensorboard=false", "--set", "epochs=1", "--out", str(run), "--no-progress"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    plain = CliRunner().invoke(cli, ["evaluate", str(run), "--n", "40", "--json", str(tmp_path / "a.json")])
    judged = CliRunner().invoke(cli, ["evaluate", str(run), "--n", "40", "--labels", "folders",
                                      "--json", str(tmp_path / "b.json")])
    assert plain.exit_code == 0 and judged.exit_code == 0, judged.output
    import json

    a, b = json.loads((tmp_path / "a.json").read_text()), json.loads((tmp_path / "b.json").read_text())
    assert a["judge_kind"] == "contrastive" and a["classes_covered"] is None
    assert b["judge_kind"] == "classifier" and b["judge_accuracy"] >= 0.75 and 1 <= b["classes_covered"] <= 2


def test_a_conditional_run_is_scored_with_the_real_class_mix(tmp_path):
    """A folder whose classes are 3:1 (emoji: 60% people) is scored against fakes drawn 3:1, not 1:1."""
    import json

    from click.testing import CliRunner

    from ganforge.cli import cli
    from ganforge.generate import load_generator
    from ganforge.metrics import Evaluator
    from ganforge.nets.sampling import sample

    for label, colour, count in (("red", (220, 20, 20), 60), ("blue", (20, 20, 220), 20)):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(count):
            image = np.zeros((32, 32, 3), np.uint8)
            image[:] = colour
            image[(i * 3) % 28:(i * 3) % 28 + 4] = 255
            Image.fromarray(image).save(tmp_path / "data" / label / f"{i}.png")
    dataset, run = f"folder:{tmp_path / 'data'}", tmp_path / "run"
    args = ["train", "--preset", "folder32", "--dataset", dataset, "--set", "labels=folders", "--set",
            "conditional=true", "--max-steps", "2", "--batch-size", "16", "--set", "tensorboard=false", "--out",
            str(run), "--no-progress"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    evaluator = Evaluator(dataset, None, 80, image_shape=(3, 32, 32), labels="folders", echo=lambda line: None)
    mix = evaluator.class_mix(2)
    assert torch.bincount(mix).tolist() == [20, 60]  # blue, red: all 80 real images, sorted class names
    assert evaluator.class_mix(1) is None  # a generator of fewer classes than the judge: no mix to draw
    G = load_generator(run)[0]
    drawn = sample(G, 128, 80, 0, labels=mix)
    assert not torch.equal(drawn, sample(G, 128, 80, 0))  # the classes asked for reach G
    out = tmp_path / "m.json"
    assert CliRunner().invoke(cli, ["evaluate", str(run), "--n", "80", "--json", str(out)]).exit_code == 0
    assert json.loads(out.read_text())["drawn_for"] == "the real images' classes"
