"""`ganforge export`: take a trained generator somewhere else. A viewer: it reads the run folder
(config.yaml and generator.safetensors, the EMA weights when the run has EMA) and never the trainer.

    export_onnx(run_dir, "g.onnx")                       # onnx_model.py: noise (+ label) -> image
    export_dataset(run_dir, "synth/", per_class=1000)    # dataset.py: labelled images + manifest.json
    write_card(run_dir, "MODEL_CARD.md")                 # card.py: data, licence, recipe, metrics, limits
"""

from __future__ import annotations

from .card import write_card
from .dataset import FORMATS, export_dataset
from .onnx_model import export_onnx

__all__ = ["export_onnx", "export_dataset", "write_card", "FORMATS"]
