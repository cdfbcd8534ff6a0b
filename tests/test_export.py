"""`ganforge export`: the ONNX graph draws PyTorch's images, the synthetic dataset reads back with
ganforge's and torchvision's readers, the model card holds what it promises, bad folders fail in one line."""

import json
import shutil

import numpy as np
import onnxruntime
import pytest
import torch
from torchvision.datasets.mnist import read_image_file, read_label_file

from ganforge.config import build_config, save_config
from ganforge.data.idx import read_idx_images, read_idx_labels
from ganforge.export import export_dataset, export_onnx
from ganforge.generate import load_generator
from ganforge.nets import build_generator
from ganforge.nets.sampling import sample, seed_noise
from ganforge.run import RunDir
from ganforge.run.checkpoint import save_generator

from test_cli import assert_one_line_error, run_cli


def onnx_matches_torch(path, run_dir):
    """Largest |onnxruntime - PyTorch| over batch 1, batch 64 and 16 images of each class."""
    G, cfg = load_generator(run_dir)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    k = getattr(G, "num_classes", 0)
    cases = [(1, None), (64, None)] + [(16, label) for label in range(k)]
    worst = 0.0
    for seed, (n, label) in enumerate(cases):
        noise = seed_noise(1000 + seed, n, cfg.latent_dim)
        labels = (torch.arange(n) % k if label is None else torch.full((n,), label)) if k else None
        feed = {"noise": noise.numpy()} | ({"label": labels.numpy()} if k else {})
        got = session.run(None, feed)[0]
        with torch.no_grad():
            expected = (G(noise, labels) if k else G(noise)).numpy()
        assert got.shape == expected.shape == (n, *cfg.image_shape)
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def made_run(tmp_path, name, **overrides):
    """A run folder holding a config and a generator with non-trivial BatchNorm statistics (no training:
    export reads only these two files)."""
    cfg = build_config("default", overrides=overrides)
    G = build_generator(cfg)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name_, buffer in G.named_buffers():
            if name_.endswith("running_mean"):
                buffer.copy_(torch.randn(buffer.shape, generator=gen) * 0.3)
            elif name_.endswith("running_var"):
                buffer.copy_(torch.rand(buffer.shape, generator=gen) + 0.5)
    run = RunDir(tmp_path / name)
    run.root.mkdir()
    save_config(cfg, run.config)
    save_generator(run.generator, G, cfg.to_dict())
    return run


def test_cli_exports_onnx_dataset_and_card(viewer_run, tmp_path):
    """One command, the three exports of a trained conditional run."""
    code, out, err = run_cli("export", str(viewer_run.root), "--onnx", str(tmp_path / "g.onnx"), "--dataset",
                             str(tmp_path / "synth"), "--per-class", "7", "--format", "idx", "--seed", "4", "--card",
                             str(tmp_path / "card.md"))
    assert code == 0, err
    assert "inputs noise, label -> image; onnxruntime matches PyTorch" in out and "70 images" in out
    assert onnx_matches_torch(tmp_path / "g.onnx", viewer_run.root) < 1e-4
    session = onnxruntime.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in session.get_inputs()] == [("noise", "tensor(float)"), ("label", "tensor(int64)")]
    assert isinstance(session.get_inputs()[0].shape[0], str)  # the batch dimension is free
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["ganforge.config"])["latent_dim"] == 100
    card = (tmp_path / "card.md").read_text()
    assert "CC BY-SA 3.0" in card and "## Intended use" in card and "## Limits" in card
    assert "Trained 2 of 2 epochs" in card and "lr G 0.0008" in card


@pytest.mark.parametrize("overrides", [
    dict(preset="dcgan-mnist"),  # the tutorial: unconditional, BatchNorm1d after the Dense layer
    dict(arch="resnet", image_size=32, channels=3, g_width=32, num_classes=5),  # conditional BatchNorm, colour
    dict(arch="lite", image_size=64, channels=3, g_width=32, num_classes=5),  # GLU, nearest x2, SLE's pooled gates
], ids=["tutorial-unconditional", "resnet32-conditional", "lite64-conditional"])
def test_onnx_equals_pytorch(tmp_path, overrides):
    preset = overrides.pop("preset", None)
    if preset:
        overrides = dict(build_config(preset).to_dict(), preset=preset)
    run = made_run(tmp_path, "run", **overrides)
    result = export_onnx(run.root, tmp_path / "g.onnx")
    assert result["max_diff"] < 1e-4  # export's own check
    assert onnx_matches_torch(tmp_path / "g.onnx", run.root) < 1e-4


def test_idx_reads_back_with_ganforge_and_torchvision(viewer_run, tmp_path):
    manifest = export_dataset(viewer_run.root, tmp_path / "d", per_class=5, fmt="idx", seed=2)
    d = tmp_path / "d"
    ours = read_idx_images("synthetic", d / "train-images-idx3-ubyte.gz")
    our_labels = read_idx_labels("synthetic", d / "train-labels-idx1-ubyte.gz")
    theirs, their_labels = read_image_file(str(d / "train-images-idx3-ubyte")), read_label_file(str(d / "train-labels-idx1-ubyte"))
    assert ours.shape == (50, 1, 28, 28) and tuple(theirs.shape) == (50, 28, 28)
    assert np.array_equal(ours[:, 0], theirs.numpy()) and np.array_equal(our_labels, their_labels.numpy())
    assert np.bincount(our_labels).tolist() == [5] * 10 and our_labels[:12].tolist() == [*range(10), 0, 1]
    # image i is image i of `ganforge generate RUN --n 50 --seed 2`
    G, cfg = load_generator(viewer_run.root)
    assert np.array_equal(ours, sample(G, cfg.latent_dim, 50, 2).numpy())
    assert manifest["counts"] == {str(k): 5 for k in range(10)} and manifest["seed"] == 2 and manifest["ema"]
    assert json.loads((d / "manifest.json").read_text())["generator"]["sha256"] == manifest["generator"]["sha256"]


def test_idx_export_is_mnists_train_split_for_the_loader(viewer_run, tmp_path):
    """Exported into ROOT/mnist/, the files are what load_dataset("mnist", "train", ROOT) reads, every
    check included: the judge's and CAS's classifier training take them as they take MNIST."""
    export_dataset(viewer_run.root, tmp_path / "synth" / "mnist", per_class=4, fmt="idx", seed=9)
    from ganforge.data import load_dataset

    data = load_dataset("mnist", "train", tmp_path / "synth")
    G, cfg = load_generator(viewer_run.root)
    assert data.source == str(tmp_path / "synth" / "mnist") and len(data) == 40
    assert torch.equal(data.images, sample(G, cfg.latent_dim, 40, 9)) and data.labels.tolist() == [k % 10 for k in range(40)]


def test_npz_and_folder(viewer_run, tmp_path):
    export_dataset(viewer_run.root, tmp_path / "n", per_class=3, fmt="npz", seed=1)
    export_dataset(viewer_run.root, tmp_path / "f", per_class=3, fmt="folder", seed=1)
    arrays = np.load(tmp_path / "n" / "dataset.npz")
    assert arrays["images"].shape == (30, 28, 28, 1) and arrays["labels"].tolist() == [k % 10 for k in range(30)]
    assert arrays["class_names"].tolist() == [str(k) for k in range(10)]
    from ganforge.data import load_dataset

    folder = load_dataset(f"folder:{tmp_path / 'f'}", channels=1, image_size=28, labels="folders")
    assert len(folder) == 30 and folder.class_names == [str(k) for k in range(10)]
    assert np.bincount(folder.labels.numpy()).tolist() == [3] * 10
    # same pixels, whichever way they were written (both sorted by class, then by index)
    by_class = np.argsort(arrays["labels"], kind="stable")
    assert np.array_equal(folder.images.numpy(), arrays["images"][by_class].transpose(0, 3, 1, 2))


def test_damaged_and_foreign_run_folders_are_one_line(viewer_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(viewer_run.root, run, ignore=shutil.ignore_patterns("checkpoints", "tensorboard"))
    data = (run / "generator.safetensors").read_bytes()
    (run / "generator.safetensors").write_bytes(data[: len(data) // 2])
    code, _, err = run_cli("export", str(run), "--onnx", str(tmp_path / "g.onnx"))
    assert_one_line_error(code, err, "generator.safetensors", "damaged")
    other = build_config("default", overrides=dict(g_width=32, num_classes=10))  # another model's weights
    save_generator(run / "generator.safetensors", build_generator(other), other.to_dict())
    code, _, err = run_cli("export", str(run), "--onnx", str(tmp_path / "g.onnx"))
    assert_one_line_error(code, err, "does not fit this network")
    code, _, err = run_cli("export", str(tmp_path), "--onnx", str(tmp_path / "g.onnx"))
    assert_one_line_error(code, err, "not a ganforge run folder")
    assert not (tmp_path / "g.onnx").exists()


@pytest.mark.parametrize("args, words", [
    (["--onnx", "g.pt"], ["ending in .onnx"]),
    (["--dataset", "{tmp}/full"], ["must be new or empty"]),
    (["--dataset", "{tmp}/d", "--per-class", "0"], ["at least one image"]),
    (["--card", "{tmp}/c.md", "--metrics", "{tmp}/full/x.txt"], ["not a `ganforge evaluate --json` file"]),
])
def test_bad_export_options_are_one_line(viewer_run, tmp_path, args, words):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("{}")
    code, _, err = run_cli("export", str(viewer_run.root), *[a.format(tmp=tmp_path) for a in args])
    assert_one_line_error(code, err, *words)


def test_unconditional_or_colour_runs_refuse_what_they_cannot_hold(tmp_path):
    tutorial = made_run(tmp_path, "tutorial", **dict(build_config("dcgan-mnist").to_dict(), preset="dcgan-mnist"))
    code, _, err = run_cli("export", str(tutorial.root), "--dataset", str(tmp_path / "d"))
    assert_one_line_error(code, err, "needs a conditional run")
    colour = made_run(tmp_path, "colour", arch="dcgan", image_size=32, channels=3, g_width=32, num_classes=3)
    code, _, err = run_cli("export", str(colour.root), "--dataset", str(tmp_path / "d"), "--format", "idx")
    assert_one_line_error(code, err, "grayscale")
    export_dataset(colour.root, tmp_path / "c", per_class=2, fmt="npz")
    assert np.load(tmp_path / "c" / "dataset.npz")["images"].shape == (6, 32, 32, 3)


def test_card_quotes_the_data_readme_and_shows_metrics(data_root, tmp_path):
    data = tmp_path / "data"
    (data / "mnist").mkdir(parents=True)
    for f in (data_root / "mnist").glob("*.gz"):
        (data / "mnist" / f.name).symlink_to(f.resolve())
    (data / "README.md").write_text("# Datasets\n\n## fashion-mnist/ (Zalando)\n\nLicence: MIT\n\n"
                                    "## mnist/  (MNIST)\n\nLicence: CC BY-SA 3.0, keep the attribution.\n\n## emoji/\n\nOther.\n")
    run = made_run(tmp_path, "run", dataset="mnist", data_dir=str(data), num_classes=10)
    metrics = {"run": str(run.root), "dataset": "mnist", "reference": "mnist test", "n": 2000, "seed": 0,
               "judge": "mnist/classifier/x", "judge_kind": "classifier", "judge_accuracy": 0.99, "feature_dim": 128,
               "fid": 6.5, "classes_covered": 10, "cas_n": 2000, "cas_seed": 0, "cas_epochs": 20,
               "cas_test": "mnist test (10,000 images)", "cas_fake_accuracy": 0.9512, "cas_real_accuracy": 0.9733}
    (tmp_path / "m.json").write_text(json.dumps(metrics))
    code, out, err = run_cli("export", str(run.root), "--card", str(tmp_path / "card.md"), "--metrics",
                             str(tmp_path / "m.json"))
    assert code == 0, err
    card = (tmp_path / "card.md").read_text()
    # the mnist/ section of the data's README, quoted, and not its neighbours
    assert f"From the data's own README (`{data / 'README.md'}`):\n\n> Licence: CC BY-SA 3.0, keep the attribution.\n\n" in card
    assert "MIT" not in card and "Other." not in card
    assert "trained on 2,000 fakes: 95.12%   on 2,000 real: 97.33%" in card  # CAS next to its reference
    assert "FID (judge features)       6.500" in card and "noise-0.1" in card  # FID next to calibrated references
    assert "reaches 95.12% on real test images, against 97.33%" in card
