"""Classes in your own data: drawing rare classes more often while training (class_balance), and
measuring whether a conditional G draws the class it is asked for (label accuracy)."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from ganforge.cli import cli
from ganforge.config import build_config
from ganforge.data import ImageData
from ganforge.errors import ConfigError
from ganforge.metrics.classes import class_variety, label_accuracy
from ganforge.run import RunDir
from ganforge.training.loop import Trainer


def coloured_folder(root, counts):
    """Sub-folders of plain-colour 32x32 images with a white band, `counts` images each (one class each)."""
    for (label, colour), count in zip((("red", (220, 20, 20)), ("blue", (20, 20, 220))), counts):
        (root / label).mkdir(parents=True)
        for i in range(count):
            image = np.zeros((32, 32, 3), np.uint8)
            image[:] = colour
            image[(i * 3) % 28:(i * 3) % 28 + 4] = 255
            Image.fromarray(image).save(root / label / f"{i}.png")
    return f"folder:{root}"


def folder_config(dataset, **overrides):
    values = {"dataset": dataset, "labels": "folders", "conditional": True, "batch_size": 16, "tensorboard": False,
              "device": "cpu", "epochs": 1} | overrides
    return build_config("folder32", overrides=values)


def test_draw_weights_follow_the_class_counts():
    labels = torch.tensor([0] * 6 + [1] * 3 + [2])  # 6 : 3 : 1
    data = ImageData(torch.zeros(10, 1, 4, 4, dtype=torch.uint8), labels, 3, "t", "train", "t", None)
    assert data.draw_weights(0.0) is None
    per_class = lambda w: [w[labels == k].sum().item() for k in range(3)]  # noqa: E731
    assert per_class(data.draw_weights(1.0)) == pytest.approx([1.0, 1.0, 1.0])  # every class equally
    assert per_class(data.draw_weights(0.5)) == pytest.approx([6 ** 0.5, 3 ** 0.5, 1.0])  # in between


def test_class_balance_draws_a_rare_class_as_often_as_a_common_one(tmp_path):
    dataset = coloured_folder(tmp_path / "data", (300, 100))  # blue is class 0 (sorted names), 1 in 4 images
    plain = Trainer(folder_config(dataset), RunDir(tmp_path / "a"), progress=False, echo=lambda *a: None)
    order = plain.epoch_order(0)
    assert sorted(order.tolist()) == list(range(400))  # without balance: a permutation, the data's own mix
    balanced = Trainer(folder_config(dataset, class_balance=1.0), RunDir(tmp_path / "b"), progress=False,
                       echo=lambda *a: None)
    drawn = balanced.data.labels[balanced.epoch_order(0)]
    blue = (drawn == 0).sum().item()
    assert len(drawn) == 400 and 160 <= blue <= 240, blue  # 200 expected; the data's mix would give 100
    assert torch.equal(balanced.epoch_order(0), balanced.epoch_order(0))  # seeded: a resumed epoch repeats
    assert not torch.equal(balanced.epoch_order(0), balanced.epoch_order(1))


def test_class_balance_is_checked_and_left_to_conditional_runs(tmp_path):
    with pytest.raises(ConfigError, match=r"class_balance=1.5 must be in \[0, 1\]"):
        build_config("folder32", overrides={"class_balance": 1.5})
    dataset = coloured_folder(tmp_path / "data", (30, 10))
    plain = Trainer(folder_config(dataset, conditional=False, class_balance=1.0), RunDir(tmp_path / "r"),
                    progress=False, echo=lambda *a: None)  # a preset's setting, for when it runs with classes
    assert sorted(plain.epoch_order(0).tolist()) == list(range(40))  # unconditional: the data as it is


def test_label_accuracy_counts_each_class_once():
    drawn = torch.tensor([0, 0, 1, 1, 1, 1])
    predicted = torch.tensor([0, 1, 1, 1, 1, 0])
    result = label_accuracy(torch.nn.functional.one_hot(predicted, 2).float(), drawn)
    assert result["label_accuracy_per_class"] == [0.5, 0.75]
    assert result["label_accuracy"] == pytest.approx(0.625)  # not the pooled 4/6: a rare class weighs as much


def test_evaluate_reports_label_accuracy_per_class(tmp_path):
    dataset, run = coloured_folder(tmp_path / "data", (60, 20)), tmp_path / "run"
    args = ["train", "--preset", "folder32", "--dataset", dataset, "--set", "labels=folders", "--set",
            "conditional=true", "--max-steps", "2", "--batch-size", "16", "--set", "tensorboard=false", "--out",
            str(run), "--no-progress"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    out = tmp_path / "m.json"
    result = CliRunner().invoke(cli, ["evaluate", str(run), "--n", "80", "--json", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    per_class = metrics["label_accuracy_per_class"]
    assert len(per_class) == 2 and metrics["label_accuracy"] == pytest.approx(sum(per_class) / 2)
    assert metrics["class_names"] == ["blue", "red"] and len(metrics["judge_class_accuracy"]) == 2
    assert "label accuracy" in result.output and "(real " in result.output
    variety = metrics["class_variety_per_class"]  # every class has samples and reference images here
    assert len(variety) == 2 and all(v > 0 for v in variety) and "class variety" in result.output


def test_class_variety_against_hand_computed_distances():
    # class 0: fakes at 0 and 3 (distance 3), reals at 0, 1 and 2 (pairwise 1, 1, 2: mean 4/3)
    fake = torch.tensor([[0.0, 0.0], [3.0, 0.0], [5.0, 5.0], [5.0, 5.0]])
    drawn = torch.tensor([0, 0, 1, 1])
    real = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [9.0, 9.0], [9.0, 13.0]])
    real_labels = torch.tensor([0, 0, 0, 1, 1])
    result = class_variety(fake, drawn, real, real_labels, 3)
    # class 1 collapsed (both fakes alike: 0), class 2 has no images
    assert result["class_variety_per_class"] == [pytest.approx(3 / (4 / 3)), 0.0, None]
    assert result["class_variety"] == pytest.approx((3 / (4 / 3) + 0.0) / 2)
