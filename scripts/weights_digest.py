"""Train a few fixed short runs on CPU and print a digest of each one's final weights.

    GANFORGE_DATA=../shared/data python scripts/weights_digest.py > before.json
    (change the code)
    GANFORGE_DATA=../shared/data python scripts/weights_digest.py > after.json; diff before.json after.json

A refactor that must not change behaviour leaves every digest as it was, bit for bit: the default
recipe, the tutorial's joint step (fused CPU path), d_then_g with EMA, and a conditional
d_real_fake_g run. About two minutes on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

from ganforge.config import build_config
from ganforge.run.checkpoint import load_checkpoint
from ganforge.training import train

MNIST = {"dataset": "mnist", "data_dir": os.environ.get("GANFORGE_DATA"), "seed": 5, "device": "cpu"}
RUNS = {
    "default-2ep": ("default", {"epochs": 2, "seed": 3, "device": "cpu"}),
    "dcgan-mnist": ("dcgan-mnist", {**MNIST, "subset": 1024, "epochs": 2}),
    "dcgan-mnist-dtg-ema": ("dcgan-mnist", {**MNIST, "subset": 512, "epochs": 2, "step": "d_then_g", "ema": 0.9}),
    "cond-rfg": ("dcgan-mnist", {**MNIST, "subset": 512, "epochs": 1, "step": "d_real_fake_g", "conditional": True}),
}


def digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        h.update(key.encode())
        h.update(tensors[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def main() -> None:
    if not os.environ.get("GANFORGE_DATA"):
        sys.exit("set GANFORGE_DATA to the folder holding mnist/ (e.g. ../shared/data)")
    out = {}
    for name, (preset, overrides) in RUNS.items():
        with tempfile.TemporaryDirectory() as tmp:
            result = train(build_config(preset, overrides=overrides), out=Path(tmp) / "run", progress=False,
                           echo=lambda *a: None)
            saved = load_checkpoint(result.run.checkpoint)
            out[name] = {"generator_file": digest(load_file(str(result.run.generator))), "G": digest(saved["G"]),
                         "D": digest(saved["D"]), "g_loss": [r["g_loss"] for r in result.records]}
        print(name, out[name], file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
