"""bench/train_step.py's TensorFlow part: skipped in one line without TF, and, with TF, the
tutorial's nets are the dcgan-mnist preset's nets (nothing here is timed)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def train_step():
    sys.path.insert(0, str(BENCH))
    import train_step

    return train_step


@pytest.mark.parametrize("mode", ["process", "inproc"])
def test_train_step_skips_tensorflow_without_it(train_step, mode, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # import tensorflow now fails, find_spec finds nothing
    train_step.main(["--variants", "joint", "--batch", "8", "--rounds", "1", "--steps", "1", "--json",
                     "--tensorflow", mode])
    out, err = capsys.readouterr()
    skipped = [line for line in out.splitlines() if line.startswith("tensorflow:")]
    assert skipped == ["tensorflow: not installed, skipped (pip install -e '.[bench]' adds it)"]
    result = json.loads(out.splitlines()[-1])
    assert "joint_img_s" in result
    assert not {"tensorflow_img_s", "ratio_vs_tensorflow", "tensorflow"} & set(result)
    assert "tensorflow" not in err  # nor in the per-round lines


def test_tensorflow_nets_are_the_preset_nets(tmp_path):
    """Trainable tensor sizes of the tutorial's Keras nets equal ganforge's dcgan-mnist G and D,
    and the worker process answers a round with one time per step. TF runs in subprocesses:
    loaded into this process, it would break triton for the tests that follow (see train_step.py)."""
    pytest.importorskip("tensorflow")
    import numpy as np

    from ganforge.nets import build_networks
    from reference_step import bench_config

    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import tf_step; tf = tf_step.load(1); "
            "print(json.dumps([[int(np.prod(w.shape)) for w in net.trainable_weights] "
            "for net in (tf_step.generator(tf), tf_step.discriminator(tf))]))")
    out = subprocess.run([sys.executable, "-c", "import numpy as np; " + code, str(BENCH)],
                         capture_output=True, text=True, check=True).stdout
    tf_sizes = json.loads(out.splitlines()[-1])
    G, D = build_networks(bench_config())
    for tf_net, torch_net in zip(tf_sizes, (G, D)):
        assert sorted(tf_net) == sorted(p.numel() for p in torch_net.parameters())

    np.save(tmp_path / "b.npy", np.random.default_rng(0).uniform(-1, 1, (2, 4, 28, 28, 1)).astype(np.float32))
    sys.path.insert(0, str(BENCH))
    import tf_step

    worker = tf_step.TFWorker(tmp_path / "b.npy", threads=1)
    try:
        times = worker.round(3)
    finally:
        worker.close()
    assert len(times) == 3 and all(t > 0 for t in times)
    assert worker.version.count(".") >= 1 and worker.proc.returncode == 0
