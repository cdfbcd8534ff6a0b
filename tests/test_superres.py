"""Super-resolution (task sr, issue 17) and the image-to-image metrics: the fixed degradation,
SRNet's shapes and its start near bicubic, metrics on images with known answers, and a real x4 run
on MNIST digits (7 -> 28 px) scored against bicubic by `ganforge evaluate`."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganforge.cli import cli
from ganforge.config import build_config
from ganforge.data import load_dataset, to_float, to_uint8
from ganforge.data.superres import downscale, upscale
from ganforge.errors import ConfigError, DataError
from ganforge.evaluate import evaluate_run
from ganforge.generate import load_generator
from ganforge.metrics.translate import psnr, translation_metrics
from ganforge.nets.translate import SRNet
from ganforge.training import train
from ganforge.training.translate import build_translator


def test_the_degradation_is_fixed_and_antialiased(data_root):
    digits = load_dataset("mnist", "test", data_root).images[:256]
    small = downscale(digits, 4)
    assert small.shape == (256, 1, 7, 7) and small.dtype == torch.uint8
    assert torch.equal(small, downscale(digits.clone(), 4))  # the same bytes every time
    # antialiased: each small pixel is close to its 4x4 block's mean, unlike picking one pixel of it
    means = digits.double().unflatten(2, (7, 4)).unflatten(4, (7, 4)).mean((3, 5))
    assert (small.double() - means).abs().mean() < 0.5 * (digits[..., ::4, ::4].double() - means).abs().mean()
    flat = torch.full((1, 3, 64, 64), 200, dtype=torch.uint8)
    assert torch.equal(downscale(flat, 4), torch.full((1, 3, 16, 16), 200, dtype=torch.uint8))
    with pytest.raises(DataError, match="multiple of scale"):
        downscale(torch.zeros(1, 1, 30, 30, dtype=torch.uint8), 4)


@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32), (3, 64)])
def test_srnet_shapes_and_an_untrained_net_is_near_bicubic(channels, size):
    cfg = build_config("sr4", overrides=dict(dataset="mnist", channels=channels, image_size=size, g_width=16, d_width=8))
    G, D = build_translator(cfg)  # pix2pix's N(0, 0.02) initialisation
    x = torch.rand(4, channels, size // 4, size // 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
    y = G(x)
    assert y.shape == (4, channels, size, size) and y.abs().max() <= 1
    assert (y - upscale(x, 4)).abs().mean() < 0.05  # the detail starts small
    assert D(upscale(x, 4), y).shape[:2] == (4, 1)
    with pytest.raises(ValueError, match="power of two"):
        SRNet(3, 3)


def test_translation_metrics_on_known_images():
    targets = torch.randint(0, 200, (8, 3, 16, 16), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    same = translation_metrics(targets, targets.clone())
    assert same["l1"] == 0 and same["ssim"] == pytest.approx(1.0) and same["psnr"] > 100
    brighter = translation_metrics(targets + 51, targets)  # 51 grey levels = 0.4 in [-1, 1] units
    assert brighter["l1"] == pytest.approx(0.4) and brighter["psnr"] == pytest.approx(10 * torch.log10(
        torch.tensor(4 / 0.16)).item()) and brighter["ssim"] < 1
    assert psnr(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.1)).item() == pytest.approx(26.0206, abs=1e-3)
    with pytest.raises(ValueError, match="differ in shape"):
        translation_metrics(targets, targets[:, :, :8])


def test_sr_config_checks():
    with pytest.raises(ConfigError, match="scale 2, 4 or 8"):
        build_config("sr4", overrides={"dataset": "mnist", "channels": 1, "image_size": 28, "scale": 3})
    with pytest.raises(ConfigError, match="task=sr upscales one dataset"):
        build_config("sr4", overrides={"dataset": "pairs:a,b"})
    with pytest.raises(ConfigError, match="conditioned on its input image"):
        build_config("sr4", overrides={"dataset": "mnist", "channels": 1, "image_size": 28, "conditional": True})


def test_an_sr_run_on_digits_is_scored_against_bicubic(data_root, judge, tmp_path):
    cfg = build_config("sr4", overrides=dict(dataset="mnist", data_dir=str(data_root), channels=1, image_size=28,
                                             g_width=8, d_width=8, subset=512, batch_size=32, epochs=1, seed=5))
    result = train(cfg, out=tmp_path / "sr", progress=False, echo=lambda *x: None)
    record = result.records[-1]
    assert "super-resolution x4" in record["step_path"] and record["test_psnr"] > 10
    assert Image.open(result.run.sample_path(1)).size[0] == 3 * 28 + 4 * 2  # input | output | target, padded
    metrics = evaluate_run(result.run.root, echo=lambda *x: None)
    real = load_dataset("mnist", "test", data_root).images
    bicubic = upscale(to_float(downscale(real, 4)), 4)
    expected = psnr(to_float(to_uint8(bicubic)).double(), to_float(real).double()).mean().item()
    assert metrics["n"] == 10_000 and metrics["baseline_name"] == "bicubic upscaling"
    assert metrics["baseline"]["psnr"] == pytest.approx(expected, abs=1e-6)
    assert metrics["judge"] == judge.name and 0 <= metrics["real_fid"] < metrics["baseline"]["fid"]
    # generate --input: each image at its own size, 4x larger, under its own name; a too large one skipped
    inputs = tmp_path / "in"
    inputs.mkdir()
    small = downscale(real[:2], 4)
    for i in range(2):
        Image.fromarray(small[i, 0].numpy()).save(inputs / f"d{i}.png")
    Image.fromarray(real[2, 0].numpy()).resize((28, 21)).save(inputs / "wide.png")
    Image.new("L", (300, 20)).save(inputs / "huge.png")
    out = CliRunner().invoke(cli, ["generate", str(result.run.root), "--input", str(inputs), "--out", str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    assert "skipped 1 input(s)" in out.output and "huge.png (300x20: super-resolution takes up to 256 px" in out.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["d0.png", "d1.png", "wide.png"]
    assert Image.open(tmp_path / "o" / "d0.png").size == (28, 28) and Image.open(tmp_path / "o" / "wide.png").size == (112, 84)
    upscaled = torch.from_numpy(np.array(Image.open(tmp_path / "o" / "d0.png")))  # the same as the run's own output
    G, _ = load_generator(result.run.root)
    with torch.no_grad():
        assert torch.equal(upscaled, to_uint8(G(to_float(small[:1])))[0, 0])
    # export: the ONNX graph takes a 7 px image batch and upscales it as PyTorch does; the card says so
    out = CliRunner().invoke(cli, ["export", str(result.run.root), "--onnx", str(tmp_path / "sr.onnx"),
                                   "--card", str(tmp_path / "card.md")])
    assert out.exit_code == 0, out.output
    assert "inputs input -> image; onnxruntime matches PyTorch" in out.output
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp_path / "sr.onnx"), providers=["CPUExecutionProvider"])
    batch = to_float(small)
    with torch.no_grad():
        expected = G(batch).numpy()
    assert np.abs(session.run(["image"], {"input": batch.numpy()})[0] - expected).max() < 1e-4
    card = (tmp_path / "card.md").read_text()
    assert "An image-to-image generator (super-resolution)" in card and "a 1x7x7 image in, a 1x28x28 image out" in card
    assert "PatchGAN BCE x1, L1 to the target x100" in card and "rpgan" not in card.split("## Config")[0]
    out = CliRunner().invoke(cli, ["export", str(result.run.root), "--dataset", str(tmp_path / "ds")])
    assert out.exit_code != 0 and "turns images into images" in out.output and not (tmp_path / "ds").exists()


def test_sr_reads_a_folder_and_its_subfolders(emoji, tmp_path):
    """A folder of sub-folders (as emoji/ is: twitter/, google/) gives SR every image in them, as a GAN
    run on the same folder reads them; the two splits share none and hold them all."""
    from ganforge.data.folder import FolderOptions
    from ganforge.data.superres import sr_pairs

    root = tmp_path / "icons"
    for vendor in ("twitter", "google"):
        (root / vendor).mkdir(parents=True)
        for path in sorted((emoji / vendor).glob("*.png"))[:12]:
            (root / vendor / path.name).write_bytes(path.read_bytes())
    options = FolderOptions(3, 64)
    train, test = (sr_pairs(f"folder:{root}", split, 4, options, echo=lambda line: None) for split in ("train", "test"))
    assert sorted(train.names + test.names) == sorted(f"{v}/{p.name}" for v in ("twitter", "google")
                                                      for p in (root / v).iterdir())
    assert train.a.shape[1:] == (3, 16, 16) and train.b.shape[1:] == (3, 64, 64) and len(test.names) >= 1
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match="no image files"):
        sr_pairs(f"folder:{empty}", "train", 4, options)
