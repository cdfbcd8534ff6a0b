"""The image-to-image loop (issue 17): G maps an input image to its target, a PatchGAN D judges
(input, image) pairs patch by patch; G's loss is D's verdict plus l1_weight times the L1 distance to
the target (pix2pix, Isola et al. 2017). adv_weight=0 trains the same G by L1 alone (the baseline
the GAN term has to beat), without D. task=pix2pix: a U-Net on pairs of folders; task=sr: SRGAN's
residual net on downscaled copies of any dataset, D seeing the input upscaled bicubically.

The run folder is the same contract as a noise-to-image run's (run/__init__.py): config.yaml,
metrics.jsonl (one record per epoch: losses, and L1 / PSNR on the held-out pairs),
samples/epoch_NNNN.png (held-out triptychs: input | output | target), checkpoints/last.pt and
previous.pt (atomic, plain data), generator.safetensors. One process; resumable at any step.
"""

from __future__ import annotations

import math
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..config import Config, save_config
from ..data import batch_bounds, to_float
from ..data.folder import FolderOptions
from ..data.tasks import task_pairs
from ..data.superres import upscale
from ..errors import ConfigError, TrainingDiverged
from ..metrics.translate import psnr
from ..nets import build_generator
from ..nets.translate import PatchGAN
from ..run import RunDir
from ..run import checkpoint as ckpt
from ..run.jsonl import jsonl_text
from ..seeding import derive_seed
from ..viz import grid_image, save_png
from .accel import resolve_device
from .distributed import SOLO
from .stopping import Budget, stop_on_ctrl_c

N_SHOWN = 8  # held-out pairs in each epoch's triptych grid


def build_translator(cfg: Config) -> tuple[nn.Module, PatchGAN | None]:
    """G and (unless adv_weight is 0) D, initialised N(0, 0.02) as pix2pix, from the run's seed."""
    gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "init"))
    G = build_generator(cfg)
    D = PatchGAN(cfg.channels, cfg.d_width) if cfg.adv_weight > 0 else None
    for net in (G, D):
        if net is not None:
            init_normal(net, gen)
    return G, D


def init_normal(net: nn.Module, gen: torch.Generator) -> None:
    """pix2pix's and CycleGAN's: conv weights N(0, 0.02), BatchNorm scales N(1, 0.02), biases 0."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)):
            nn.init.normal_(module.weight, 1.0 if isinstance(module, nn.BatchNorm2d) else 0.0, 0.02, generator=gen)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def adam(params, cfg: Config, lr: float | None = None) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=cfg.lr_g if lr is None else lr, betas=(cfg.beta1, cfg.beta2))


class TranslateTrainer:
    """Trainer's interface (fit, load, state, history, run, world) for task=pix2pix and task=sr."""

    LOSSES = ("g_adv", "l1", "d_loss")  # train_step's numbers, averaged per epoch into metrics.jsonl

    def __init__(self, cfg: Config, run: RunDir, callbacks=(), progress: bool = True, echo=print, world=SOLO):
        if world.world > 1 or callbacks:
            raise ConfigError(f"task={cfg.task} trains in one process and takes no callbacks yet; drop --nproc")
        self.cfg, self.run, self.progress, self.echo, self.world = cfg, run, progress, echo, world
        self.device = resolve_device(cfg.device)
        options = FolderOptions(cfg.channels, cfg.image_size, background=cfg.background)
        train, test = (task_pairs(cfg.task, cfg.dataset, split, options, cfg.scale, cfg.data_dir, echo)
                       for split in ("train", "test"))
        limit = cfg.subset or None
        self.a, self.b = (torch.from_numpy(x[:limit]).to(self.device) for x in (train.a, train.b))
        self.test_a, self.test_b = (to_float(torch.from_numpy(x)).to(self.device) for x in (test.a, test.b))
        self.batches = batch_bounds(len(self.a), cfg.batch_size, cfg.drop_last)
        if not self.batches:
            raise ConfigError(f"{cfg.dataset}: {len(self.a)} training pairs, fewer than one batch of {cfg.batch_size}")
        torch.manual_seed(cfg.seed)  # the global stream drives G's dropout
        self.build()
        self.epoch = self.batch = self.step = 0
        self.seconds, self.budget = 0.0, Budget(cfg)  # seconds of training steps in total (max_seconds)
        self.sums = torch.zeros(len(self.LOSSES))  # over the unfinished epoch
        self.history, self.stop_requested = [], False
        # D reads the input beside the image, at the image's size (super-resolution: upscaled bicubically)
        self.source = (lambda a: upscale(a, cfg.scale)) if cfg.task == "sr" else (lambda a: a)
        self.step_path = self.describe()

    state = property(lambda self: self)  # Trainer's interface: trainer.state.epoch, trainer.state.step

    def describe(self) -> str:
        cfg = self.cfg
        net = f"super-resolution x{cfg.scale}, SRNet" if cfg.task == "sr" else "pix2pix, U-Net"
        return f"{net} {cfg.image_size} px, {'PatchGAN + ' if self.D else ''}L1 x{cfg.l1_weight:g}"

    def build(self) -> None:
        cfg = self.cfg
        self.G, self.D = (None if net is None else net.to(self.device) for net in build_translator(cfg))
        self.opt_g = adam(self.G.parameters(), cfg)
        self.opt_d = adam(self.D.parameters(), cfg, cfg.lr_d) if self.D is not None else None

    # ---- one step ---------------------------------------------------------------------------
    def train_step(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        fake = self.G(a)
        d_loss = torch.zeros(())
        if self.D is not None:  # D: real pairs 1, translated pairs 0, per patch
            source = self.source(a)
            real_logits, fake_logits = self.D(source, b), self.D(source, fake.detach())
            d_loss = 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
        g_adv = torch.zeros(())
        if self.D is not None:  # G: fool the updated D, and stay near the target
            logits = self.D(source, fake)
            g_adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        l1 = (fake - b).abs().mean()
        self.opt_g.zero_grad(set_to_none=True)
        (self.cfg.adv_weight * g_adv + self.cfg.l1_weight * l1).backward()
        self.opt_g.step()
        return torch.stack([g_adv.detach(), l1.detach(), d_loss.detach()])

    # ---- the loop ---------------------------------------------------------------------------
    def fit(self) -> str:
        save_config(self.cfg, self.run.config)
        self.echo(f"step: {self.step_path}, {len(self.a)} training pairs, {len(self.test_a)} held out")
        reason = "epoch"
        with stop_on_ctrl_c(self):
            for epoch in range(self.epoch, self.cfg.epochs):
                reason = self.run_epoch(epoch)
                if reason != "epoch":
                    break
        return "done" if reason == "epoch" or self.epoch >= self.cfg.epochs else reason

    def epoch_order(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The order of the inputs and of the targets this epoch: the same, pairs stay pairs."""
        order = torch.randperm(len(self.a), generator=torch.Generator().manual_seed(
            derive_seed(self.cfg.seed, "shuffle", epoch))).to(self.device)
        return order, order

    def run_epoch(self, epoch: int) -> str:
        cfg = self.cfg
        order, order_b = self.epoch_order(epoch)
        bar = tqdm(total=len(self.batches), initial=self.batch, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=not (self.progress and sys.stderr.isatty()), unit="step")
        started = time.perf_counter()
        for start, end in self.batches[self.batch:]:
            step_started = time.perf_counter()
            self.sums += self.train_step(to_float(self.a[order[start:end]]), to_float(self.b[order_b[start:end]]))
            self.batch, self.step = self.batch + 1, self.step + 1
            self.seconds += time.perf_counter() - step_started
            bar.update(1)
            spent = self.budget.spent(self.step, self.seconds)
            if (self.stop_requested or spent) and self.batch < len(self.batches):
                bar.close()
                self.save()
                return "interrupted" if self.stop_requested else spent
        bar.close()
        self.end_epoch(epoch, time.perf_counter() - started)
        if self.stop_requested:
            return "interrupted"
        return self.budget.spent(self.step, self.seconds) or "epoch"

    def end_epoch(self, epoch: int, seconds: float) -> None:
        losses = dict(zip(self.LOSSES, (self.sums / max(self.batch, 1)).tolist()))
        if not all(math.isfinite(v) for v in losses.values()):
            raise TrainingDiverged(f"training diverged in epoch {epoch + 1} (a loss became NaN/Inf); the last good "
                                   f"checkpoint is kept in {self.run.checkpoint}; lower lr_g/lr_d and resume or restart")
        test = self.held_out()
        record = {"epoch": epoch + 1, "step": self.step, **losses, "test_l1": test["l1"], "test_psnr": test["psnr"], "epoch_seconds": seconds,
                  "img_per_s": len(self.a) / max(seconds, 1e-9), "step_path": self.step_path}
        self.epoch, self.batch, self.sums = epoch + 1, 0, torch.zeros(len(self.LOSSES))
        self.history.append(record)
        self.run.append_metrics(record)
        self.run.samples.mkdir(exist_ok=True)
        save_png(grid_image(test["triptychs"], nrow=3, min_side=0), self.run.sample_path(epoch + 1))
        self.save()
        shown = "  ".join(f"{name} {value:.4f}" for name, value in losses.items())
        self.echo(f"epoch {epoch + 1:3d}/{self.cfg.epochs}  {shown}  held-out L1 {test['l1']:.4f}  "
                  f"PSNR {test['psnr']:.2f} dB  {seconds:.1f}s")

    @torch.no_grad()
    def held_out(self) -> dict:
        """L1 and PSNR on every held-out pair (G in eval mode: BatchNorm statistics, no dropout)."""
        self.G.eval()
        out = torch.cat([self.G(chunk) for chunk in self.test_a.split(64)])
        self.G.train()
        seen = F.interpolate(self.test_a[:N_SHOWN], size=out.shape[-2:], mode="nearest")  # sr: the input's pixels
        shown = torch.stack([seen, out[:N_SHOWN], self.test_b[:N_SHOWN]], 1).flatten(0, 1)
        return {"l1": (out - self.test_b).abs().mean().item(), "psnr": psnr(out, self.test_b).mean().item(),
                "triptychs": shown}

    # ---- checkpoints ------------------------------------------------------------------------
    def save(self) -> None:
        state = {"config": self.cfg.to_dict(), **{name: part.state_dict() if part is not None else {}
                                                   for name, part in self.parts().items()},
                 "state": {"epoch": self.epoch, "batch": self.batch, "step": self.step, "sums": self.sums,
                           "seconds": self.seconds},
                 "rng": {"cpu": torch.get_rng_state()}, "records": {"metrics.jsonl": jsonl_text(self.history), "diagnosis.jsonl": ""}}
        ckpt.save_checkpoint(self.run.checkpoint, state, previous=self.run.previous_checkpoint)
        ckpt.save_generator(self.run.generator, self.G, self.cfg.to_dict())

    def parts(self) -> dict:
        """What a checkpoint holds besides the counters: nets (G first: the one generate uses) and optimisers."""
        return {"G": self.G, "D": self.D, "opt_g": self.opt_g, "opt_d": self.opt_d}

    def load(self, saved: dict) -> None:
        for name, part in self.parts().items():
            if isinstance(part, nn.Module):
                ckpt.load_into(part, saved[name], f"the checkpoint's {name}")
            elif part is not None:
                part.load_state_dict(saved.get(name, {}))
        s = saved["state"]
        self.epoch, self.batch, self.step, self.sums = s["epoch"], s["batch"], s["step"], s["sums"]
        self.seconds = s.get("seconds", 0.0)  # older checkpoints: none counted
        torch.set_rng_state(saved["rng"]["cpu"])
        self.history, _ = self.run.restore_records(self.epoch, saved.get("records"), self.echo)
