"""What a training process loads: TensorBoard's writer must not pull in TensorFlow (+520 MB of RSS)
when it happens to be installed, nor the sample grid torchvision."""

import subprocess
import sys

import pytest

SCRIPT = """
import sys
from ganforge.config import build_config
from ganforge.training import train
train(build_config("default", overrides={"max_steps": 2, "epochs": 1, "device": "cpu"}), out=sys.argv[1],
      progress=False, echo=lambda *a: None)
assert "torch.utils.tensorboard" in sys.modules, "TensorBoard was not used"
print("tensorflow" in sys.modules, "torchvision" in sys.modules)
"""


def test_a_training_run_loads_neither_tensorflow_nor_torchvision(tmp_path):
    pytest.importorskip("tensorflow", reason="only telling where TensorFlow is installed (pip install -e .[bench])")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "run")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False"]
    assert any((tmp_path / "run" / "tensorboard").iterdir())  # the event file was written without TF
