"""The generator as an ONNX graph: inputs `noise` float32 (N, latent_dim) and, for a conditional
run, `label` int64 (N,) (an image-to-image run: `input`, an image batch); output `image` float32
(N, C, H, W) in [-1, 1], N free (a dynamic batch).
A pixel is round((image + 1) * 127.5), as `ganforge generate` writes it.

Exported with torch.export (torch.onnx.export(dynamo=True), PyTorch's maintained exporter), then
run once with onnxruntime, where installed, against PyTorch on batch 1, batch 64 and every class:
an export that draws other images than the run is refused, not written.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, GanforgeError
from ..fileio import atomic_write
from ..generate import load_generator
from ..nets.sampling import seed_noise

TOLERANCE = 1e-4  # the largest pixel difference (images in [-1, 1]) allowed between onnxruntime and PyTorch
CHECK_BATCHES = (1, 64)
INSTALL_HINT = "pip install 'ganforge[export]' (onnx, onnxscript and onnxruntime)"


class OnnxGenerator(nn.Module):
    """G with the inputs an ONNX user passes: noise, and the labels of a conditional G."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.G, self.num_classes = G, getattr(G, "num_classes", 0)

    def forward(self, noise: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        return self.G(noise) if label is None else self.G(noise, label)


def export_onnx(run_dir: str | Path, out: str | Path, check: bool = True, upscale: str | Path | None = None) -> dict:
    """Write the run's generator to `out` as ONNX; returns what was written and, when onnxruntime is
    installed and check is on, the largest difference to PyTorch it measured. An image-to-image
    run's graph takes `input`, an image batch (N, C, S, S) in [-1, 1], instead of noise. upscale: an
    SR run whose net follows G in the same graph (nets/cascade.py), as `generate --upscale` draws."""
    G, cfg = load_generator(run_dir, upscale=upscale)
    net = (G if cfg.task != "gan" else OnnxGenerator(G)).eval()
    num_classes = getattr(net, "num_classes", 0)
    examples = list(_examples(cfg, num_classes))
    names = ["input"] if cfg.task != "gan" else ["noise", "label"][: 1 + bool(num_classes)]
    model = _to_onnx(net, examples[0], names)
    inputs = f"input float32 (N, {'x'.join(map(str, cfg.input_shape))}) in [-1, 1]" if cfg.task != "gan" else \
        "noise float32 (N, latent_dim)" + (", label int64 (N,)" if num_classes else "")
    meta = {"ganforge.config": json.dumps(cfg.to_dict()), "ganforge.image_range": "[-1, 1]", "ganforge.inputs": inputs}
    if upscale is not None:  # the config is the noise run's, at the SR run's image size
        meta["ganforge.upscaled_by"] = str(Path(upscale).resolve())
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    data = model.SerializeToString()
    result = {"path": str(out), "inputs": names, "latent_dim": cfg.latent_dim, "num_classes": num_classes,
              "bytes": len(data), "max_diff": None,
              "checked": "batch 1 and 8 of seeded images" if cfg.task != "gan" else "batch 1, 64 and each class"}
    if check:
        result["max_diff"] = check_onnx(data, net, examples[1:], names)
    atomic_write(out, lambda tmp: Path(tmp).write_bytes(data))
    return result


def _examples(cfg, num_classes: int):
    """Input tuples: first the one the export traces (batch 2), then those the check runs."""
    if cfg.task != "gan":
        gen = torch.Generator().manual_seed(0)
        for n in (2, 1, 8):
            yield (torch.rand(n, *cfg.input_shape, generator=gen) * 2 - 1,)
        return
    yield (seed_noise(0, 2, cfg.latent_dim),) + ((torch.arange(2) % num_classes,) if num_classes else ())
    for noise, labels in check_inputs(cfg.latent_dim, num_classes):
        yield (noise,) if labels is None else (noise, labels)


def _to_onnx(net: nn.Module, args: tuple, names: list[str]):
    """The ModelProto of `net`, its batch dimension left free."""
    try:
        import onnx  # noqa: F401  (the exporter needs both; say so here, in one line, rather than deep inside torch)
        import onnxscript  # noqa: F401
    except ImportError:
        raise GanforgeError(f"ONNX export needs onnx and onnxscript: {INSTALL_HINT}") from None
    batch = torch.export.Dim("batch", min=1, max=65536)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the exporter's progress and deprecation notes are not the user's business
        program = torch.onnx.export(net, args, None, input_names=names,
                                    output_names=["image"], dynamic_shapes=tuple({0: batch} for _ in args),
                                    dynamo=True, verbose=False, optimize=True)
    return program.model_proto


def check_onnx(model: bytes, net: nn.Module, examples: list[tuple], names: list[str]) -> float | None:
    """The largest |onnxruntime - PyTorch| over the example inputs; None without onnxruntime.
    Raises when it is above TOLERANCE."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    worst = 0.0
    for args in examples:
        feed = {name: arg.numpy() for name, arg in zip(names, args)}
        with torch.no_grad():
            expected = net(*args).numpy()
        got = session.run(["image"], feed)[0]
        if got.shape != expected.shape:
            raise GanforgeError(f"the ONNX graph draws {got.shape} for {expected.shape}; it was not written")
        worst = max(worst, float(np.abs(got - expected).max()))
    if worst > TOLERANCE:
        raise GanforgeError(f"onnxruntime's images differ from PyTorch's by up to {worst:.2g} (> {TOLERANCE:g}); "
                            "the ONNX file was not written")
    return worst


def check_inputs(latent_dim: int, num_classes: int):
    """(noise, labels) pairs: batch 1, batch 64 (every class in turn), and 8 images of each class."""
    for seed, n in enumerate(CHECK_BATCHES):
        yield seed_noise(seed, n, latent_dim), (torch.arange(n) % num_classes if num_classes else None)
    for k in range(num_classes):
        yield seed_noise(100 + k, 8, latent_dim), torch.full((8,), k, dtype=torch.long)


def onnx_path(out: str | Path) -> Path:
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ConfigError(f"--onnx {out}: give a file name ending in .onnx")
    return out
