"""The unlabelled folder's judge (metrics/contrastive.py): its loss, its views, and that it learns."""

from __future__ import annotations

import math

import torch
from PIL import Image

from ganforge.data import load_dataset
from ganforge.metrics.contrastive import nt_xent, random_views
from ganforge.metrics.judge import JudgeNet, get_judge
from ganforge.seeding import private_rng


def test_nt_xent_matches_the_hand_computed_value():
    # Two images, one view each side: view 0's twin is view 2, its rivals views 1 and 3 (cosine 0).
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # the loss normalises: lengths do not matter
    t = 0.2
    by_hand = -1 / t + math.log(2 * math.exp(0) + math.exp(1 / t))  # the same for all four views
    assert abs(nt_xent(z1, z2, t).item() - by_hand) < 1e-5
    swapped = nt_xent(z1, z2.flip(0), t).item()  # each view's twin now points elsewhere
    assert swapped > by_hand + 4


def test_views_keep_shape_and_range_and_differ_per_image_and_repeat_with_a_seed():
    x = load_dataset("embedded-mnist").images[:16].float() / 127.5 - 1
    with private_rng(3):
        a = random_views(x)
    with private_rng(3):
        b = random_views(x)
    with private_rng(4):
        c = random_views(x)
    assert a.shape == x.shape and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    # a crop moves each digit: no view equals its source, and the ink stays (most of it) in the view
    assert all((a[i] - x[i]).abs().max() > 0.5 for i in range(16))
    ink = lambda images: (images > 0).float().mean().item()  # noqa: E731
    assert 0.5 * ink(x) < ink(a) < 3 * ink(x)


def test_features_learned_without_labels_put_digits_near_their_own_kind(metrics_cache, data_root, tmp_path):
    test = load_dataset("mnist", "test", data_root)
    for i, image in enumerate(test.images[:600]):
        Image.fromarray(image[0].numpy()).save(tmp_path / f"{i:03d}.png")
    judge = get_judge(f"folder:{tmp_path}", image_shape=(1, 28, 28), echo=lambda line: None)
    assert judge.kind == "contrastive" and judge.info["final_loss"] > 0
    with private_rng(0):  # the same network as the judge starts from, untrained
        untrained = JudgeNet(1, 0).eval()

    def nearest_neighbour_accuracy(features: torch.Tensor) -> float:
        distances = torch.cdist(features, features).fill_diagonal_(float("inf"))
        return (test.labels[:600][distances.argmin(1)] == test.labels[:600]).double().mean().item()

    with torch.no_grad():
        before = nearest_neighbour_accuracy(untrained(test.images[:600])[0])
    after = nearest_neighbour_accuracy(judge.embed(test.images[:600]).features)
    # seen here: untrained 0.63, trained 0.76 (10 digit classes, chance 0.1; the labels never seen)
    assert after > before + 0.05, (before, after)
    again = get_judge(f"folder:{tmp_path}", image_shape=(1, 28, 28), echo=lambda line: None)
    assert again.fingerprint == judge.fingerprint  # cached by the folder's fingerprint, not trained twice
