"""Latent walks (`ganforge interpolate`, walk.py): slerp's geometry, the frames written, and ends
that are exactly what `ganforge generate` draws for the same seeds."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.walk import slerp, walk_latents
from test_cli import assert_one_line_error, run_cli


def test_slerp_keeps_to_the_great_circle():
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 2.0, 0.0])
    t = torch.linspace(0, 1, 5)
    path = slerp(a, b, t)
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)
    # the angle to a grows evenly (22.5 degrees a step) and the points stay in the a-b plane
    angles = torch.rad2deg(torch.atan2(path[:, 1], path[:, 0]))
    assert torch.allclose(angles, torch.tensor([0.0, 22.5, 45.0, 67.5, 90.0]), atol=1e-4)
    assert torch.all(path[:, 2] == 0)
    # the length goes evenly from |a| = 1 to |b| = 2, without the dip of a straight line (1.118 halfway)
    assert torch.allclose(path.norm(dim=1), torch.tensor([1.0, 1.25, 1.5, 1.75, 2.0]), atol=1e-6)
    assert ((a + b) / 2).norm() < 1.12


def test_walk_latents_pass_through_each_seed():
    z = walk_latents([3, 8, 1], steps=4, latent_dim=100)
    assert z.shape == (7, 100)
    for row, seed in ((0, 3), (3, 8), (6, 1)):
        assert torch.equal(z[row], torch.randn(1, 100, generator=torch.Generator().manual_seed(seed))[0])


def test_gif_and_strip_frames_and_size(viewer_run, tmp_path):
    code, out, err = run_cli("interpolate", str(viewer_run.root), "--seeds", "1,2,3", "--steps", "5",
                             "--out", str(tmp_path / "walk.gif"))
    assert code == 0, err
    assert "9 frames" in out
    gif = Image.open(tmp_path / "walk.gif")
    assert gif.n_frames == 9  # (3 - 1) seeds' gaps x (5 - 1) steps + the last
    assert gif.size == (140, 140)  # 28 px enlarged 5x: the smallest integer scale to 128 px
    code, _, err = run_cli("interpolate", str(viewer_run.root), "--seeds", "1,2,3", "--steps", "5",
                           "--out", str(tmp_path / "walk.png"))
    assert code == 0, err
    assert Image.open(tmp_path / "walk.png").size == (9 * 30 + 2, 32)  # one row of 28 px tiles, 2 px padding


@pytest.mark.parametrize("label", [None, 7])
def test_ends_equal_generate_and_walk_repeats(viewer_run, tmp_path, label):
    extra = [] if label is None else ["--label", str(label)]
    for name in ("a", "b"):
        code, _, err = run_cli("interpolate", str(viewer_run.root), "--seeds", "4,9", "--steps", "6", *extra,
                               "--out", str(tmp_path / f"{name}.npz"))
        assert code == 0, err
    a, b = (np.load(tmp_path / f"{name}.npz")["images"] for name in "ab")
    assert a.shape == (6, 28, 28, 1) and np.array_equal(a, b)
    for seed, frame in ((4, a[0]), (9, a[-1])):
        code, _, err = run_cli("generate", str(viewer_run.root), "--n", "1", "--seed", str(seed), *extra,
                               "--out", str(tmp_path / f"g{seed}.npz"))
        assert code == 0, err
        assert np.array_equal(np.load(tmp_path / f"g{seed}.npz")["images"][0], frame)
    assert not np.array_equal(a[0], a[-1]) and not np.array_equal(a[1], a[0])  # it moves


def test_gif_frames_are_the_walk(viewer_run, tmp_path):
    run_cli("interpolate", str(viewer_run.root), "--seeds", "2,5", "--steps", "3", "--out", str(tmp_path / "w.gif"))
    run_cli("interpolate", str(viewer_run.root), "--seeds", "2,5", "--steps", "3", "--out", str(tmp_path / "w.npz"))
    frames = np.load(tmp_path / "w.npz")["images"][..., 0]
    gif = Image.open(tmp_path / "w.gif")
    for i, frame in enumerate(frames):
        gif.seek(i)
        assert np.array_equal(np.asarray(gif.convert("L"))[::5, ::5], frame)  # grey GIF: lossless


@pytest.mark.parametrize("args, words", [
    (["--seeds", "1"], ["2 to 32 seeds"]),
    (["--seeds", "1,x"], ["whole numbers"]),
    (["--seeds", "1,1"], ["neighbouring seeds must differ"]),
    (["--seeds", "1,2", "--steps", "1"], ["--steps 1"]),
    (["--seeds", "1,2", "--steps", "3000"], ["at most 2048"]),
    (["--seeds", "1,2", "--label", "10"], ["classes 0 to 9"]),
    (["--seeds", "1,2", "--out", "walk.jpg"], [".gif", ".png"]),
])
def test_bad_walks_are_one_line(viewer_run, tmp_path, args, words):
    code, _, err = run_cli("interpolate", str(viewer_run.root), *args, *(["--out", str(tmp_path / "w.gif")]
                                                                           if "--out" not in args else []))
    assert_one_line_error(code, err, *words)


def test_mp4_where_ffmpeg_is(viewer_run, tmp_path, monkeypatch):
    """With ffmpeg on PATH a real MP4; without, one line that says so (both checked where possible)."""
    out = tmp_path / "walk.mp4"
    args = ("interpolate", str(viewer_run.root), "--seeds", "1,2", "--steps", "4", "--out", str(out))
    if any(os.access(os.path.join(d, "ffmpeg"), os.X_OK) for d in os.environ.get("PATH", "").split(os.pathsep)):
        code, _, err = run_cli(*args)
        assert code == 0, err
        assert out.read_bytes()[4:8] == b"ftyp"  # an MP4 container
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg here
    out.unlink(missing_ok=True)
    code, _, err = run_cli(*args)
    assert_one_line_error(code, err, "ffmpeg")
    assert not out.exists()
