"""Image-to-image (task pix2pix, issue 17): pairing by name, the seeded split, the networks' shapes,
and a real run on emoji twitter -> google pairs (from $GANFORGE_DATA/emoji): its run folder, an
exact resume, and `generate --input`."""

import json
import shutil
from collections import Counter

import pytest
import torch
from click.testing import CliRunner

from ganforge.cli import cli
from ganforge.config import build_config
from ganforge.data import to_float
from ganforge.data.folder import FolderOptions
from ganforge.data.pairs import load_pairs, pair_names, split_of
from ganforge.errors import ConfigError, DataError, RequestError
from ganforge.nets.translate import PatchGAN, UNet, unet_depth
from ganforge.run.checkpoint import read_generator
from ganforge.serve.playground import Playground
from ganforge.evaluate import evaluate_run
from ganforge.run import RunDir
from ganforge.training import make_trainer, resume, train
from ganforge.training.cycle import ImagePool, cycle_terms
from ganforge.metrics.translate import psnr


@pytest.fixture()
def small_pairs(emoji, tmp_path):
    """40 real twitter/google pairs (the first 40 names), plus one unpaired file on each side."""
    names, _, _ = pair_names(emoji / "twitter", emoji / "google")
    a, b = tmp_path / "twitter", tmp_path / "google"
    a.mkdir()
    b.mkdir()
    for name in names[:40]:
        shutil.copy(emoji / "twitter" / name, a / name)
        shutil.copy(emoji / "google" / name, b / name)
    shutil.copy(emoji / "twitter" / names[40], a / names[40])
    shutil.copy(emoji / "google" / names[41], b / names[41])
    return a, b, names[:42]


def test_the_emoji_vendors_pair_by_name(emoji):
    names, only_a, only_b = pair_names(emoji / "twitter", emoji / "google")
    assert len(names) == 3786 and not only_a and not only_b
    test = [n for n in names if split_of(n) == "test"]
    assert 0.08 < len(test) / len(names) < 0.12  # the hash's 10%
    assert [split_of(n) for n in test] == ["test"] * len(test)  # a pure function of the name
    assert split_of(test[0], seed=1) in ("train", "test") and {split_of(n, seed=1) for n in names} == {"train", "test"}


def test_missing_partners_are_named_in_one_line(small_pairs):
    a, b, names = small_pairs
    lines = []
    pairs = load_pairs(f"pairs:{a},{b}", "train", FolderOptions(3, 32), echo=lines.append)
    assert len(lines) == 1 and "\n" not in lines[0]
    assert f"1 file(s) in {a} with no partner in {b} ({names[40]})" in lines[0]
    assert f"1 file(s) in {b} with no partner in {a} ({names[41]})" in lines[0] and "using 40 pairs" in lines[0]
    test = load_pairs(f"pairs:{a},{b}", "test", FolderOptions(3, 32), echo=lambda line: None)
    assert sorted(pairs.names + test.names) == sorted(names[:40])  # every pair in one split, none in both
    assert pairs.a.shape == (len(pairs.names), 3, 32, 32) and pairs.a.dtype == pairs.b.dtype
    # a pair is the same drawing by two vendors: closer to its partner than to the other pairs, on the whole
    a32, b32 = (torch.from_numpy(x).float().flatten(1) for x in (pairs.a, pairs.b))
    distance = torch.cdist(a32, b32)
    assert (distance.diagonal() < distance.median(1).values).float().mean() > 0.8


def test_pairs_that_cannot_be_made_fail_in_one_line(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"")
    (tmp_path / "b" / "y.png").write_bytes(b"")
    with pytest.raises(DataError, match="no file name is in both folders"):
        load_pairs(f"pairs:{tmp_path / 'a'},{tmp_path / 'b'}", "train")
    with pytest.raises(DataError, match="pairs:DIR_A,DIR_B"):
        load_pairs(f"pairs:{tmp_path / 'a'}", "train")
    with pytest.raises(ConfigError, match="paired dataset"):
        build_config("default", overrides={"dataset": f"pairs:{tmp_path / 'a'},{tmp_path / 'b'}"})
    with pytest.raises(ConfigError, match="learns from pairs"):
        build_config("pix2pix", overrides={"dataset": "mnist"})


@pytest.mark.parametrize("size, patches", [(32, 2), (64, 6)])
def test_network_shapes(size, patches):
    G, D = UNet(3, size, 16), PatchGAN(3, 16)
    x = torch.randn(2, 3, size, size)
    y = G(x)
    assert y.shape == x.shape and y.abs().max() <= 1  # tanh out
    assert D(x, y).shape == (2, 1, patches, patches)
    assert unet_depth(size) == {32: 3, 64: 4}[size]
    with pytest.raises(ValueError, match="power of two"):
        UNet(3, 48)


def test_psnr_in_db():
    x = torch.zeros(2, 3, 8, 8)
    assert psnr(x, x + 0.1).tolist() == pytest.approx([26.0206] * 2, abs=1e-3)  # 10 log10(2^2 / 0.01)


def _config(a, b, tmp_path, **overrides):
    values = dict(dataset=f"pairs:{a},{b}", image_size=32, g_width=8, d_width=8, batch_size=4, epochs=2,
                  seed=3, device="cpu")
    return build_config("pix2pix", overrides={**values, **overrides})


def test_a_run_writes_its_folder_resumes_exactly_and_translates_a_folder(small_pairs, tmp_path):
    a, b, names = small_pairs
    whole = train(_config(a, b, tmp_path), out=tmp_path / "whole", progress=False, echo=lambda *x: None)
    assert whole.reason == "done" and [r["epoch"] for r in whole.records] == [1, 2]
    record = whole.records[-1]
    assert 0 < record["test_l1"] < 2 and record["test_psnr"] > 0 and record["d_loss"] > 0
    run = whole.run
    assert run.sample_path(2).is_file() and run.generator.is_file() and len(run.read_metrics()) == 2
    # Stopped after 3 steps (inside epoch 1) and resumed: the same weights as the run straight through.
    cut = train(_config(a, b, tmp_path, max_steps=3), out=tmp_path / "cut", progress=False, echo=lambda *x: None)
    assert cut.reason == "max_steps"
    again = resume(tmp_path / "cut", {"max_steps": 0}, progress=False, echo=lambda *x: None)
    assert again.reason == "done" and [r["epoch"] for r in again.records] == [1, 2]
    for key, value in read_generator(run.generator).items():
        assert torch.equal(read_generator(again.run.generator)[key], value), key
    # generate --input: one PNG per input image, with its name
    result = CliRunner().invoke(cli, ["generate", str(run.root), "--input", str(a), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(n.removesuffix(".png") + ".png"
                                                                        for n in names[:41])
    result = CliRunner().invoke(cli, ["generate", str(run.root), "--out", str(tmp_path / "x.png")])
    assert result.exit_code != 0 and "pix2pix run" in result.output and result.output.count("\n") == 1
    # evaluate: every held-out pair, the run beside the input itself, judged by the targets' folder
    result = CliRunner().invoke(cli, ["evaluate", str(run.root), "--json", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    test = load_pairs(f"pairs:{a},{b}", "test", FolderOptions(3, 32), echo=lambda line: None)
    inputs, targets = (to_float(torch.from_numpy(x)).double() for x in (test.a, test.b))
    assert metrics["n"] == len(test.names) and metrics["baseline_name"] == "the input itself"
    assert metrics["baseline"]["l1"] == pytest.approx((inputs - targets).abs().mean().item(), rel=1e-9)
    assert metrics["model"]["l1"] == pytest.approx(record["test_l1"], abs=0.01)  # uint8 outputs vs float
    assert metrics["judge"].startswith(f"folder:{b.resolve()}") and metrics["judge_kind"] == "contrastive"
    assert all(v >= 0 for v in (metrics["model"]["fid"], metrics["baseline"]["fid"], metrics["real_fid"]))
    assert "FID of two real sets" in result.output and "the input itself" in result.output
    with pytest.raises(RequestError, match="pix2pix run: it turns images into images"):  # the web page's playground
        Playground().draw(run, seed=0, count=1, label=None)


def test_l1_only_baseline_has_no_discriminator(small_pairs, tmp_path):
    a, b, _ = small_pairs
    result = train(_config(a, b, tmp_path, adv_weight=0.0, epochs=1), out=tmp_path / "l1", progress=False,
                   echo=lambda *x: None)
    record = result.records[-1]
    assert record["d_loss"] == 0 and record["g_adv"] == 0 and record["l1"] > 0
    assert "PatchGAN" not in record["step_path"]


def test_cycle_terms_vanish_for_identity_generators():
    a, b = torch.rand(2, 4, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    same = torch.nn.Identity()
    cycle, identity = cycle_terms(same, same, a, b, same(a), same(b))
    assert cycle.item() == 0 and identity.item() == 0
    flip = lambda x: -x  # its own inverse: no cycle loss, but it changes images already on the right side
    cycle, identity = cycle_terms(flip, flip, a, b, flip(a), flip(b))
    assert cycle.item() == 0 and identity.item() == pytest.approx(2 * (b.abs().mean() + a.abs().mean()).item())


def test_image_pool_hands_d_past_translations_and_resumes_its_draws():
    """Images are numbered by their value. What comes out is the image passed in or an earlier one;
    once the pool is full about half are earlier ones, each handed out once (the first `size`
    once as they came in too), and what never came out is what the pool still holds."""
    pool, outputs = ImagePool(5, seed=0), []
    for step in range(200):
        batch = torch.arange(step * 4, step * 4 + 4, dtype=torch.float32).view(4, 1, 1, 1)
        out = pool(batch).flatten().tolist()
        assert all(got <= new for new, got in zip(batch.flatten().tolist(), out))  # itself or an earlier one
        if step == 0:
            assert out == [0, 1, 2, 3]  # filling up: everything passes on
        outputs += out
    handed_back = sum(got != new for new, got in zip(range(800), outputs))
    assert 0.4 < handed_back / 795 < 0.6
    times = Counter(outputs)
    assert all(times[v] <= (2 if v < 5 else 1) for v in times)
    assert 0 < len(set(range(800)) - set(outputs)) <= 5
    # a copy restored from the state dict draws exactly what the original draws next
    twin = ImagePool(5, seed=99)
    twin.load_state_dict(pool.state_dict())
    nxt = torch.arange(1000, 1008, dtype=torch.float32).view(8, 1, 1, 1)
    assert torch.equal(twin(nxt), pool(nxt))
    assert torch.equal(ImagePool(0, seed=0)(nxt), nxt)


def test_a_cycle_run_ignores_the_pairing_resumes_exactly_and_is_evaluated(small_pairs, tmp_path):
    a, b, _ = small_pairs
    values = dict(dataset=f"pairs:{a},{b}", image_size=32, g_width=8, d_width=8, batch_size=4, epochs=2, seed=3,
                  pool_size=3)  # small, so the pool swaps before the cut and after
    whole = train(build_config("cycle", overrides=values), out=tmp_path / "whole", progress=False, echo=lambda *x: None)
    record = whole.records[-1]
    assert [r["epoch"] for r in whole.records] == [1, 2] and "CycleGAN" in record["step_path"]
    assert record["cycle"] > 0 and record["identity"] > 0 and record["d_loss"] > 0 and 0 < record["test_l1"] < 2
    trainer = make_trainer(build_config("cycle", overrides=values), RunDir(tmp_path / "look"), progress=False)
    order_a, order_b = trainer.epoch_order(0)
    assert not torch.equal(order_a, order_b) and sorted(order_a.tolist()) == sorted(order_b.tolist())
    cut = train(build_config("cycle", overrides={**values, "max_steps": 3}), out=tmp_path / "cut", progress=False,
                echo=lambda *x: None)
    again = resume(cut.run.root, {"max_steps": 0}, progress=False, echo=lambda *x: None)
    assert again.reason == "done"
    for key, value in read_generator(whole.run.generator).items():
        assert torch.equal(read_generator(again.run.generator)[key], value), key
    metrics = evaluate_run(whole.run.root, echo=lambda *x: None)
    assert metrics["task"] == "cycle" and metrics["baseline_name"] == "the input itself"
    card = CliRunner().invoke(cli, ["export", str(whole.run.root), "--card", str(tmp_path / "card.md")])
    assert card.exit_code == 0, card.output
    text = (tmp_path / "card.md").read_text()
    assert "CycleGAN, unpaired; this is the A -> B net" in text and "Generator: `UNet`" in text
    assert "cycle L1 x10, identity L1 x5, image pool 3" in text and "--input IMAGE_OR_FOLDER" in text
    assert metrics["model"]["l1"] == pytest.approx(record["test_l1"], abs=0.01)
