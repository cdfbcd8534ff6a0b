"""What a ganforge process holds in memory: TensorBoard's writer must not pull in TensorFlow (+520 MB of
RSS) when it happens to be installed, nor the sample grid torchvision, and the command must not end in
the interpreter's teardown (+130 MB of CUDA libraries paged in, bench/README.md "Memory")."""

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


LEAVE = """
import atexit, sys, threading, time
from pathlib import Path
out = Path(sys.argv[1])

class Torn:
    def __del__(self):  # runs only in the interpreter's teardown, which the CLI skips
        out.joinpath("teardown").write_text("ran")

kept = Torn()
atexit.register(lambda: out.joinpath("handler").write_text("ran"))
threading.Thread(target=lambda: (time.sleep(0.3), out.joinpath("thread").write_text("done"))).start()
from concurrent.futures import ThreadPoolExecutor  # idle workers, as the dropout masks' pool leaves them:
pool = ThreadPoolExecutor(2)                        # joined only after threading's exit hooks stop them
pool.submit(time.sleep, 0.1).result()
print("said before exiting", end="")  # no newline: only an explicit flush gets it out
sys.argv = ["ganforge"] + sys.argv[2:]
from ganforge.cli import main
main()
"""


@pytest.mark.parametrize("args, code", [(["--version"], 0), (["train", "--set", "nonsense=1"], 2)])
def test_the_command_ends_like_python_without_the_teardown(tmp_path, args, code):
    # cli.leave: threads joined (a thread pool's idle workers too), exit handlers run, output flushed,
    # the exit code kept; the teardown that pages ~130 MB of CUDA libraries in at exit is skipped.
    done = subprocess.run([sys.executable, "-c", LEAVE, str(tmp_path)] + args, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == code, done.stderr[-2000:]
    assert done.stdout.startswith("said before exiting")
    assert (tmp_path / "handler").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "done"
    assert not (tmp_path / "teardown").exists()
    assert ("unknown config field 'nonsense'" in done.stderr) == (code == 2)
