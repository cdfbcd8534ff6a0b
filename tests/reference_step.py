"""The plain oracle: the tutorial's joint step as idiomatic PyTorch, which ganforge's fast paths
are held against (tests/test_speed_paths.py) and timed against (bench/train_step.py).

The nn.Sequential nets are called as modules, D once on the real and once on the fake batch,
BCEWithLogitsLoss, one autograd.grad per network (the tutorial's two tapes), torch.optim.Adam
with its defaults, default memory format and threads.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.config import build_config
from ganforge.data import load_dataset, to_float
from ganforge.training import accel as accel_mod
from ganforge.training.step import make_step


class ReferenceStep:
    def __init__(self, G, D, lr_g, lr_d, betas, latent_dim, noise_gen, noise_dtype=None):
        self.G, self.D, self.latent_dim, self.noise_gen = G, D, latent_dim, noise_gen
        self.noise_dtype = noise_dtype  # draw z in this dtype (default: torch's), then cast to the batch's
        self.opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=betas)
        self.bce = nn.BCEWithLogitsLoss()

    def __call__(self, real):
        z = torch.randn(len(real), self.latent_dim, generator=self.noise_gen, device=real.device,
                        dtype=self.noise_dtype).to(real.dtype)
        fake = self.G(z)
        real_out, fake_out = self.D(real), self.D(fake)
        g_loss = self.bce(fake_out, torch.ones_like(fake_out))
        d_loss = self.bce(real_out, torch.ones_like(real_out)) + self.bce(fake_out, torch.zeros_like(fake_out))
        g_grads = torch.autograd.grad(g_loss, list(self.G.parameters()), retain_graph=True)
        d_grads = torch.autograd.grad(d_loss, list(self.D.parameters()))
        for p, g in zip(self.G.parameters(), g_grads):
            p.grad = g
        for p, g in zip(self.D.parameters(), d_grads):
            p.grad = g
        self.opt_g.step()
        self.opt_d.step()
        return torch.stack([g_loss.detach(), d_loss.detach()])


def bench_config(**overrides):
    """The tutorial preset on the embedded data (always there, no download)."""
    return build_config("dcgan-mnist", overrides={"device": "cpu", "dataset": "embedded-mnist", **overrides})


def make_reference(cfg, G, D, device, noise_dtype=None):
    G, D = G.to(device), D.to(device)
    return ReferenceStep(G, D, cfg.lr_g, cfg.lr_d, (cfg.beta1, cfg.beta2), cfg.latent_dim,
                         torch.Generator(device).manual_seed(1), noise_dtype)


def make_ganforge(cfg, G, D, device, accel=None):
    """ganforge's step as the Trainer builds it (training.step.make_step), same noise seed as the reference."""
    accel = accel or accel_mod.setup(cfg)
    G, D = accel.prepare(G), accel.prepare(D)
    step, _ = make_step(cfg, G, D, accel, torch.Generator(device).manual_seed(1))
    return step


def real_batches(batch: int, count: int, device) -> list[torch.Tensor]:
    images = load_dataset("embedded-mnist").images
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    return [to_float(images[order[i * batch:(i + 1) * batch]]).to(device) for i in range(count)]
