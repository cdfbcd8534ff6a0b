"""Two runs as one generator (`generate --upscale`, `evaluate --upscale`; nets/cascade.py): a 16 px
DCGAN drawn on real emoji, upscaled x4 by a super-resolution run trained on the same folder."""

import shutil

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from ganforge import evaluate as evaluate_module
from ganforge.cli import cli
from ganforge.config import build_config
from ganforge.errors import ConfigError
from ganforge.generate import apply_translation, load_generator
from ganforge.nets import build_discriminator, build_generator
from ganforge.nets.sampling import sample


def test_the_dcgan_family_makes_16_px_images():
    cfg = build_config("folder32", overrides=dict(image_size=16, g_width=32, d_width=16))
    G, D = build_generator(cfg), build_discriminator(cfg)
    images = G(torch.randn(5, cfg.latent_dim))
    assert images.shape == (5, 3, 16, 16) and images.abs().max() <= 1
    assert D(images).shape == (5, 1)
    with pytest.raises(ConfigError, match="image_size=16"):
        build_config("folder32", overrides=dict(image_size=16, arch="lite"))


@pytest.fixture()
def two_runs(cascade_runs):
    return cascade_runs


def test_generate_upscale_is_the_sr_net_on_the_small_images(two_runs, tmp_path):
    g16, sr4 = two_runs
    out = CliRunner().invoke(cli, ["generate", str(g16), "--upscale", str(sr4), "--n", "6", "--seed", "11",
                                   "--label", "3", "--out", str(tmp_path / "x.npz")])
    assert out.exit_code == 0, out.output
    with np.load(tmp_path / "x.npz") as saved:
        drawn = torch.from_numpy(saved["images"]).permute(0, 3, 1, 2)
    assert drawn.shape == (6, 3, 64, 64)
    # by hand: the 16 px run's own samples (same seed, class 3) as uint8, through the SR run as `--input` does
    G, cfg = load_generator(g16)
    SR, _ = load_generator(sr4)
    small = sample(G, cfg.latent_dim, 6, 11, label=3)
    assert torch.equal(drawn, apply_translation(SR, small))
    assert not torch.equal(drawn[0], drawn[1])  # six different draws


def test_upscale_checks_the_two_runs_fit(two_runs, tmp_path):
    g16, sr4 = two_runs
    out = CliRunner().invoke(cli, ["generate", str(sr4), "--upscale", str(g16), "--out", str(tmp_path / "a.png")])
    assert out.exit_code != 0 and "is a sr run" in out.output and "Traceback" not in out.output
    other = tmp_path / "sr2"
    shutil.copytree(sr4, other)
    config = yaml.safe_load((other / "config.yaml").read_text())
    (other / "config.yaml").write_text(yaml.safe_dump(config | {"scale": 2}))
    out = CliRunner().invoke(cli, ["generate", str(g16), "--upscale", str(other), "--out", str(tmp_path / "b.png")])
    assert out.exit_code != 0 and "upscales 3-channel 32 px images x2" in out.output
    assert "image_size=32" in out.output and not (tmp_path / "b.png").exists()


def test_evaluate_upscale_judges_the_large_images(two_runs, monkeypatch):
    """The judge is the folder's at 64 px, and it is given the upscaled samples, drawn for its class mix."""
    g16, sr4 = two_runs
    seen = {}

    class Recorder:
        def __init__(self, dataset, data_dir, n, *, image_shape, labels, **kwargs):
            seen.update(dataset=dataset, image_shape=image_shape, labels=labels)

        def class_mix(self, num_classes):
            return torch.arange(8) % num_classes

        def __call__(self, images, seed):
            seen["images"] = images
            return {"fid": float(images.float().mean())}

        def label_accuracy(self, fake, drawn):
            seen["label_images"] = fake
            return {}

    monkeypatch.setattr(evaluate_module, "Evaluator", Recorder)
    metrics = evaluate_module.evaluate_run(g16, n=8, upscale=sr4, echo=lambda *a: None)
    assert seen["image_shape"] == (3, 64, 64) and seen["labels"] == "csv:labels.csv:category"
    assert seen["images"].shape == (8, 3, 64, 64) and metrics["upscaled_by"] == str(sr4)
    G, cfg = load_generator(g16, upscale=sr4)
    assert cfg.image_size == 64 and torch.equal(seen["images"], sample(G, cfg.latent_dim, 8, 0, labels=torch.arange(8) % 10))
    assert seen["label_images"].shape == (8, 3, 64, 64)  # label accuracy: every class in turn, upscaled too


def test_upscale_is_not_for_image_to_image_inputs(two_runs, tmp_path):
    g16, sr4 = two_runs
    out = CliRunner().invoke(cli, ["generate", str(sr4), "--input", str(tmp_path), "--upscale", str(sr4),
                                   "--out", str(tmp_path / "o")])
    assert out.exit_code != 0 and "--upscale is for runs that draw from noise" in out.output
    assert "Traceback" not in out.output and not (tmp_path / "o").exists()


def test_interpolate_and_export_take_the_upscaled_generator(two_runs, tmp_path):
    """The viewers that draw from a run draw the same images with --upscale as generate does."""
    g16, sr4 = two_runs
    run = lambda *args: CliRunner().invoke(cli, [*map(str, args)])  # noqa: E731
    out = run("interpolate", g16, "--upscale", sr4, "--seeds", "5,6", "--steps", "3", "--label", "2",
              "--out", tmp_path / "walk.npz")
    assert out.exit_code == 0, out.output
    out = run("generate", g16, "--upscale", sr4, "--n", "1", "--seed", "6", "--label", "2", "--out", tmp_path / "one.npz")
    assert out.exit_code == 0, out.output
    with np.load(tmp_path / "walk.npz") as walk, np.load(tmp_path / "one.npz") as one:
        frames, last = walk["images"], one["images"]
    assert frames.shape == (3, 64, 64, 3) and np.array_equal(frames[-1], last[0])  # the walk ends on seed 6's image
    # a synthetic dataset at the SR run's size: image i is image i of `generate --n 20 --seed 4 --upscale`
    out = run("export", g16, "--upscale", sr4, "--dataset", tmp_path / "synth", "--per-class", "2", "--seed", "4")
    assert out.exit_code == 0, out.output
    manifest = yaml.safe_load((tmp_path / "synth" / "manifest.json").read_text())
    assert manifest["image_shape"] == [3, 64, 64] and manifest["upscaled_by"] == str(sr4.resolve())
    assert "--upscale SR_RUN" in manifest["order"]
    G, cfg = load_generator(g16, upscale=sr4)
    with np.load(tmp_path / "synth" / manifest["files"][0]) as synth:
        assert np.array_equal(synth["images"], sample(G, cfg.latent_dim, 20, 4).permute(0, 2, 3, 1).numpy())
    out = run("export", g16, "--upscale", sr4, "--card", tmp_path / "card.md")
    assert out.exit_code != 0 and "--card describes one run" in out.output and not (tmp_path / "card.md").exists()


def test_export_onnx_upscale_is_one_graph_from_noise_to_64_px(two_runs, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    g16, sr4 = two_runs
    out = CliRunner().invoke(cli, ["export", str(g16), "--upscale", str(sr4), "--onnx", str(tmp_path / "g.onnx")])
    assert out.exit_code == 0, out.output
    session = onnxruntime.InferenceSession(str(tmp_path / "g.onnx"))
    noise, labels = torch.randn(3, 128, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 4, 9])
    image = session.run(None, {"noise": noise.numpy(), "label": labels.numpy()})[0]
    assert image.shape == (3, 3, 64, 64)
    G, _ = load_generator(g16, upscale=sr4)
    with torch.no_grad():
        expected = G(noise, labels)
    assert np.abs(image - expected.numpy()).max() < 0.02  # a uint8 level (0.008) either side of G's rounding
