"""Classification Accuracy Score: a generator that draws real digits of the asked class scores like
real training data; one that collapsed to a single image per class scores far lower; results are
cached; `ganforge evaluate --cas` reports both numbers."""

import json

import pytest
import torch
from torch import nn

from ganforge.data import load_dataset, to_float
from ganforge.errors import ConfigError
from ganforge.metrics.cas import cas_epochs, classification_accuracy_score

from test_cli import run_cli

N, EPOCHS = 1000, 8  # small enough for a test (seconds), large enough that real data reaches ~90%


class RealDigits(nn.Module):
    """A 'generator' that draws MNIST training images of the asked class (from the second half of the
    set, which the real reference rarely picks); collapsed: always the same image for a class."""

    def __init__(self, train, collapsed=False):
        super().__init__()
        self.images, self.num_classes, self.collapsed = train.images, 10, collapsed
        half = len(train) // 2
        self.pools = [torch.nonzero(train.labels[half:] == k).squeeze(1) + half for k in range(10)]
        self.tag = nn.Parameter(torch.tensor([float(collapsed)]))  # two 'generators', two cache keys

    def forward(self, z, labels):
        pick = torch.zeros(len(z), dtype=torch.long) if self.collapsed else (z[:, 0].abs() * 1e6).long()
        index = torch.stack([self.pools[k][p % len(self.pools[k])] for k, p in zip(labels.tolist(), pick.tolist())])
        return to_float(self.images[index])


@pytest.fixture(scope="module")
def mnist_train(data_root):
    return load_dataset("mnist", "train", data_root)


def cas(G, data_root, echo=lambda *a: None, **kw):
    return classification_accuracy_score(G, 100, "mnist", data_root, n=N, seed=0, epochs=EPOCHS, echo=echo, **kw)


def test_real_digits_score_like_real_data_and_a_collapsed_generator_far_lower(mnist_train, data_root):
    good = cas(RealDigits(mnist_train), data_root)
    collapsed = cas(RealDigits(mnist_train, collapsed=True), data_root)
    real = good["cas_real_accuracy"]
    assert real > 0.85 and collapsed["cas_real_accuracy"] == real  # one reference, whichever generator
    assert abs(good["cas_fake_accuracy"] - real) < 0.03
    # measured: real 0.920, real digits 0.921, one digit per class 0.414
    assert collapsed["cas_fake_accuracy"] < real - 0.3
    assert good["cas_n"] == N and good["cas_epochs"] == EPOCHS and good["cas_test"] == "mnist test (10,000 images)"


def test_cached_and_seeded(mnist_train, data_root):
    G, said = RealDigits(mnist_train), []
    first = cas(G, data_root)  # trained above (same key) or now
    again = cas(G, data_root, echo=said.append)
    assert again == first and said == []  # from the cache: nothing trained
    other_seed = classification_accuracy_score(G, 100, "mnist", data_root, n=N, seed=1, epochs=EPOCHS,
                                               echo=said.append)
    assert len(said) == 2 and other_seed["cas_fake_accuracy"] != first["cas_fake_accuracy"]


def test_epochs_follow_the_judge_and_grow_for_small_n():
    assert cas_epochs("embedded-mnist", 60000) == 4  # the MNIST judge's own
    assert cas_epochs("mnist", 10000) == 20 and cas_epochs("mnist", 100) == 60


def test_unconditional_and_folder_runs_are_refused(mnist_train, data_root):
    G = RealDigits(mnist_train)
    G.num_classes = 0
    with pytest.raises(ConfigError, match="needs a conditional run"):
        cas(G, data_root)
    with pytest.raises(ConfigError, match="a folder has none"):
        classification_accuracy_score(RealDigits(mnist_train), 100, "folder:/x", n=N)


def test_evaluate_cas_command(viewer_run, judge, tmp_path):
    code, out, err = run_cli("evaluate", str(viewer_run.root), "--n", "200", "--cas", "--json", str(tmp_path / "m.json"))
    assert code == 0, err
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["cas_n"] == 200 and 0 <= metrics["cas_fake_accuracy"] <= 1 and metrics["cas_real_accuracy"] > 0.6
    assert f"trained on 200 fakes: {metrics['cas_fake_accuracy']:.2%}   on 200 real: " \
           f"{metrics['cas_real_accuracy']:.2%}" in out
