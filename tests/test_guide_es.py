"""docs/es/README.md: every command in its ```bash blocks runs, in order, as a reader types it, on a
small subset. Convention the guide keeps: a command line starts with `ganforge` (run here, with the
shrinking options of SMALL appended, the last value of an option winning) or `pip install -e` (its
extras must exist in pyproject.toml); anything else fails this test, so the guide cannot show a
command nobody ran."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

from test_cli import run_cli

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "es" / "README.md"
SMALL = {  # command -> options appended so it runs in seconds
    "train": ["--set", "subset=256", "--epochs", "2", "--no-progress", "--set", "tensorboard=false",
              "--set", "eval_n=200"],
    "evaluate": ["--n", "200"],
    "serve": ["--port", "0"],
}


def guide_commands() -> list[list[str]]:
    blocks = re.findall(r"^```bash\n(.*?)^```", GUIDE.read_text(), flags=re.S | re.M)
    return [shlex.split(line, comments=True) for block in blocks for line in block.splitlines() if line.strip()]


def check_pip(args: list[str]) -> None:
    assert args[:3] == ["pip", "install", "-e"] and len(args) == 4, args
    extras = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", args[3])
    assert extras, f"pip install -e {args[3]}: install the repository itself"
    known = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in (extras.group(1) or "").split(","):
        assert not extra or extra in known, f"the guide installs extra {extra!r}, which pyproject.toml lacks"


def run_serve(args: list[str], cwd: Path) -> None:
    """`ganforge serve` as the reader starts it: the page and the runs list answer, Ctrl-C stops it."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    server = subprocess.Popen([sys.executable, "-m", "ganforge", *args], cwd=cwd, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = server.stdout.readline()
        assert "http://127.0.0.1:" in line, line + server.stderr.read()
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200
        with urllib.request.urlopen(url + "api/runs", timeout=30) as runs:
            names = {run["name"] for run in json.load(runs)}
        assert {"primera", "tutorial"} <= names, names
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0


def test_every_command_of_the_spanish_guide_runs(data_root, judge, tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_DATA", str(data_root.resolve()))  # the tutorial's MNIST files, as the guide says
    monkeypatch.chdir(tmp_path)  # after resolving: data_root may be relative
    commands = guide_commands()
    assert len(commands) >= 12 and any(c[:2] == ["ganforge", "serve"] for c in commands)
    for args in commands:
        if args[0] == "pip":
            check_pip(args)
            continue
        assert args[0] == "ganforge", f"the guide shows a command this test cannot run: {shlex.join(args)}"
        args = args[1:] + SMALL.get(args[1], [])
        if args[0] == "export" and "--per-class" in args:
            args += ["--per-class", "5"]
        if args[0] == "serve":
            run_serve(args, tmp_path)
            continue
        code, out, err = run_cli(*args)
        assert code == 0, f"ganforge {shlex.join(args)}\n{out}\n{err}"
    # what the guide says the commands leave behind
    assert (tmp_path / "runs" / "primera" / "losses.png").is_file()
    assert (tmp_path / "runs" / "primera" / "samples" / "epoch_0002.png").is_file()
    assert (tmp_path / "sietes.png").is_file() and (tmp_path / "generador.onnx").is_file()
    assert json.loads((tmp_path / "sinteticos" / "manifest.json").read_text())["total"] == 50
    assert "CC BY-SA 3.0" in (tmp_path / "MODEL_CARD.md").read_text()
    watched = [json.loads(line) for line in (tmp_path / "runs" / "vigilada" / "metrics.jsonl").read_text().splitlines()]
    assert watched[-1]["eval_classes_covered"] is not None  # eval_every evaluates at the end too
