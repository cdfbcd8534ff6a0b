"""The unpaired image-to-image loop (task=cycle; CycleGAN, Zhu et al. 2017; issue 17).

Two generators, A -> B (G, the one the run folder's generator.safetensors holds) and B -> A (F),
and a PatchGAN per side that sees one image, not a pair: nothing tells G which B image an input
should become, only that its outputs look like B's and that F can take them back. Losses per step:
    adversarial  least squares (CycleGAN's), G and F against D_B and D_A
    cycle        cycle_weight * (|F(G(a)) - a| + |G(F(b)) - b|), L1
    identity     identity_weight * (|G(b) - b| + |F(a) - a|): an image already of the target side
                 should pass through unchanged (keeps colours from drifting)
D's fakes come through an image pool per side (ImagePool, pool_size): half of them, on average,
are translations of earlier steps, so D does not chase G's latest outputs (CycleGAN, after
Shrivastava et al. 2017).
The data are pairs:DIR_A,DIR_B with the pairing thrown away: each epoch draws the A images and the
B images in two independent orders. The held-out pairs still score G against each input's real
partner (metrics.jsonl, `ganforge evaluate`), which is how the paired model is judged too.
"""

from __future__ import annotations

import itertools

import torch

from ..nets import build_generator
from ..nets.translate import PatchGAN
from ..seeding import derive_seed
from .translate import TranslateTrainer, adam, init_normal


def lsgan(logits: torch.Tensor, real: bool) -> torch.Tensor:
    return (logits - (1.0 if real else 0.0)).square().mean()


def cycle_terms(G, F, a, b, fake_b, fake_a, with_identity: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(cycle, identity) L1 terms for generators G: A -> B and F: B -> A, given fake_b = G(a), fake_a = F(b)."""
    cycle = (F(fake_b) - a).abs().mean() + (G(fake_a) - b).abs().mean()
    identity = (G(b) - b).abs().mean() + (F(a) - a).abs().mean() if with_identity else torch.zeros(())
    return cycle, identity


class ImagePool:
    """The last `size` translations G made. Each new image, once the pool is full, is swapped with
    a stored one at random with probability 1/2 (D gets the stored one) or passed on. Its own
    random stream and the stored images go in the checkpoint (state_dict), so a resumed run draws
    the same as one never stopped. size 0: every image is passed on."""

    def __init__(self, size: int, seed: int):
        self.size, self.count, self.images = size, 0, None
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, fakes: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return fakes
        fakes = fakes.detach()
        if self.images is None:
            self.images = fakes.new_zeros((self.size, *fakes.shape[1:]))
        self.images = self.images.to(fakes.device)  # a checkpoint keeps them on the CPU
        out = fakes.clone()
        for i, image in enumerate(fakes):
            if self.count < self.size:  # filling up: store and pass on
                self.images[self.count] = image
                self.count += 1
            elif torch.rand((), generator=self.gen) < 0.5:
                j = int(torch.randint(self.size, (), generator=self.gen))
                out[i] = self.images[j]
                self.images[j] = image
        return out

    def state_dict(self) -> dict:
        # a copy: the pool keeps changing after the checkpoint is taken
        return {"count": self.count, "gen": self.gen.get_state(),
                "images": self.images.cpu().clone() if self.images is not None else torch.zeros(0)}

    def load_state_dict(self, saved: dict) -> None:
        if not saved:  # a checkpoint from before pools: start with an empty one
            return
        self.count = int(saved["count"])
        self.gen.set_state(saved["gen"])
        self.images = saved["images"].clone() if saved["images"].numel() else None


class CycleTrainer(TranslateTrainer):
    LOSSES = ("g_adv", "cycle", "identity", "d_loss")

    def build(self) -> None:
        cfg = self.cfg
        gen = torch.Generator().manual_seed(derive_seed(cfg.seed, "init"))
        self.G, self.F = build_generator(cfg), build_generator(cfg)
        self.D_a, self.D_b = (PatchGAN(cfg.channels, cfg.d_width, paired=False) for _ in range(2))
        for net in (self.G, self.F, self.D_a, self.D_b):
            init_normal(net, gen)
            net.to(self.device)
        self.D = self.D_b
        self.pool_a, self.pool_b = (ImagePool(cfg.pool_size, derive_seed(cfg.seed, f"pool_{side}")) for side in "ab")
        self.opt_g = adam(itertools.chain(self.G.parameters(), self.F.parameters()), cfg)
        self.opt_d = adam(itertools.chain(self.D_a.parameters(), self.D_b.parameters()), cfg, cfg.lr_d)

    def describe(self) -> str:
        cfg = self.cfg
        return (f"CycleGAN, two U-Nets {cfg.image_size} px, two PatchGANs (least squares), cycle x{cfg.cycle_weight:g}, "
                f"identity x{cfg.identity_weight:g}")

    def epoch_order(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Two independent orders: a batch of A images and a batch of unrelated B images."""
        orders = (torch.randperm(len(self.a), generator=torch.Generator().manual_seed(
            derive_seed(self.cfg.seed, "shuffle", epoch, side))) for side in ("a", "b"))
        return tuple(order.to(self.device) for order in orders)

    def train_step(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        fake_b, fake_a = self.G(a), self.F(b)
        # G and F: fool both D's, come back by the cycle, leave the other side's images alone
        g_adv = lsgan(self.D_b(fake_b), True) + lsgan(self.D_a(fake_a), True)
        cycle, identity = cycle_terms(self.G, self.F, a, b, fake_b, fake_a, with_identity=cfg.identity_weight > 0)
        self.opt_g.zero_grad(set_to_none=True)
        (cfg.adv_weight * g_adv + cfg.cycle_weight * cycle + cfg.identity_weight * identity).backward()
        self.opt_g.step()
        # D_A and D_B: real images 1, translations from the pools 0 (half weight, as CycleGAN)
        d_loss = 0.5 * sum(lsgan(D(real), True) + lsgan(D(pool(fake)), False)
                           for D, real, fake, pool in ((self.D_b, b, fake_b, self.pool_b), (self.D_a, a, fake_a, self.pool_a)))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        return torch.stack([g_adv.detach(), cycle.detach(), identity.detach(), d_loss.detach()])

    def parts(self) -> dict:
        return {"G": self.G, "F": self.F, "D": self.D_b, "D_a": self.D_a, "opt_g": self.opt_g, "opt_d": self.opt_d,
                "pool_a": self.pool_a, "pool_b": self.pool_b}
