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


@pytest.fixture(scope="module")
def emoji(data_root):
    root = data_root / "emoji"
    if not (root / "labels.csv").is_file():
        pytest.skip("no emoji/ in GANFORGE_DATA")
    return root


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
