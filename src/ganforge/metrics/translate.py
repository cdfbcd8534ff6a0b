"""Image-to-image quality on held-out pairs (pix2pix, super-resolution; issue 17): how close each
output is to its own target (L1, PSNR, SSIM), and how real the outputs look as a set (the judge's
FID against the real targets), so a blurry average and a sharp guess can be told apart.

    scores = translation_metrics(outputs_u8, targets_u8, judge)   # {"l1", "psnr", "ssim", "fid"}

Every number is on uint8 images as a user gets them (outputs rounded), L1 in [-1, 1] units (as the
training records), PSNR in dB, SSIM by torchmetrics (its Gaussian 11x11 window, on [0, 1]).
"""

from __future__ import annotations

import torch
from torchmetrics.functional.image import structural_similarity_index_measure

from ..data import to_float
from .fid import frechet
from .judge import Judge

CHUNK = 256


def psnr(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per image, in dB, for float images in [-1, 1] (peak-to-peak 2)."""
    mse = (output - target).square().flatten(1).mean(1)
    return 10 * torch.log10(4 / mse.clamp_min(1e-12))


def translation_metrics(outputs: torch.Tensor, targets: torch.Tensor, judge: Judge | None = None,
                        device="cpu", real: torch.Tensor | None = None) -> dict:
    """outputs, targets: uint8 (N, C, H, W), row i the output for target i. real: the judge's features
    of the targets, when the caller has them already (they are the same for every set scored)."""
    if outputs.shape != targets.shape:
        raise ValueError(f"outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)} differ in shape")
    out, target = to_float(outputs).double(), to_float(targets).double()
    ssim = torch.cat([structural_similarity_index_measure((o + 1) / 2, (t + 1) / 2, data_range=1.0, reduction="none")
                      for o, t in zip(out.split(CHUNK), target.split(CHUNK))])  # per image; chunks bound the memory
    scores = {"l1": (out - target).abs().mean().item(), "psnr": psnr(out, target).mean().item(),
              "ssim": ssim.mean().item()}
    if judge is not None:
        if real is None:
            real = judge.embed(targets, device, logits=False).features
        scores["fid"] = frechet(real, judge.embed(outputs, device, logits=False).features)
    return scores
