"""One training step of G and D, in the three orders the tutorials use.

joint          TF DCGAN tutorial: G makes fakes; D scores real and fake once; both losses come
               from those scores; each net's gradient comes from its own loss; both step.
d_then_g       pytorch/examples dcgan: D steps on real + detached fake, then G's loss goes
               through the updated D.
d_real_fake_g  Keras CIFAR-10 tutorial: D steps on a real batch, then on a fake batch, then G
               steps on fresh noise through D.
A conditional run (nets/conditional.py) passes the real batch's labels: the fakes of a step are
drawn for those same labels, so G learns the data's own class mix. With an auxiliary classifier
(AC-GAN, `d_then_g` only), D also learns to classify the reals, and G to have its fakes classified
as the labels they were drawn for; with D's decoder (`d_recon`, nets/lite.py, `d_then_g` only), D
also learns to rebuild the reals at half size. The stats keep the adversarial losses alone.
Every step returns one detached vector of STAT_NAMES (run/records.py), so the loop can sum stats
on the device without a host sync per step.

How the nets run comes from an Accel (accel.py): compiled and/or under autocast on CUDA. A fast
joint path (kernels/cpu) is passed in by whoever builds the step (make_step below, which says
so in the run header); given one, `joint` runs as `joint_fast`, the same maths.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..fileio import cache_root
from ..kernels import cpu as cpu_kernels
from ..kernels.cpu import choose
from ..losses import Penalties, get_loss, step_stats
from ..nets.dcgan_general import MinibatchStd
from ..nets.pack import PackedDiscriminator
from .distributed import SOLO


def _has_batch_stats(net: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


class _Run:
    """A network as the step calls it: compiled or not, under autocast or not, fp32 logits out."""

    def __init__(self, net, accel, compiled: bool = True):
        self.fn = accel.forward_fn(net) if accel and compiled else net
        self.autocast = accel.autocast if accel and accel.dtype is not None else None  # fp32: no autocast, no casts

    def __call__(self, *args):
        if self.autocast is None:
            return self.fn(*args)
        with self.autocast():
            out = self.fn(*args)
            return tuple(t.float() for t in out) if isinstance(out, tuple) else out.float()


class TrainStep:
    def __init__(self, G, D, opt_g, opt_d, loss, latent_dim: int, order: str, noise_gen: torch.Generator,
                 accel=None, fast_joint=None, augment=None, penalties: Penalties | None = None,
                 aux_weight: float = 0.0, rank_gen: torch.Generator | None = None, rows: tuple[int, int] = (0, 1),
                 d_for_g=None, recon_weight: float = 0.0):
        self.opt_g, self.opt_d, self.loss = opt_g, opt_d, loss
        self.aux_weight = aux_weight  # AC-GAN's class loss weight; 0: none
        self.recon_weight = recon_weight  # FastGAN's: D rebuilding the reals (nets/lite.py); 0: none
        self.latent_dim, self.noise_gen = latent_dim, noise_gen
        # Data-parallel runs (distributed.py): the noise of a step is the global batch's, drawn alike on
        # every rank, which keeps its own rows (rank, world); penalties draw from the rank's own stream.
        self.rank_gen, self.rows = rank_gen or noise_gen, rows
        self.augment = augment  # DiffAugment: applied to every image D sees, real or fake
        self.penalties = penalties or Penalties()
        self.count = 0  # steps taken (the Trainer restores it on resume): when lazy penalties are due
        self.g_params, self.d_params = list(G.parameters()), list(D.parameters())
        self.G, self.D = _Run(G, accel), _Run(D, accel)
        # G's phase needs only G's gradients, so D runs there as the bare module: under DDP, its
        # forward then sets up no gradient reduction, and backward(inputs=G's) gives D none to reduce.
        self.D_for_g = self.D if d_for_g is None else _Run(d_for_g, accel)
        # Gradient penalties differentiate D's input gradient (a double backward), which compiled
        # graphs refuse: they run D eagerly, on the same parameters.
        self.D_eager = _Run(D, accel, compiled=False)
        # Scoring real and fake in one D call is the same maths only when D has no batch statistics,
        # and when no pack (nets/pack.py) or minibatch-stddev group of D would straddle the two: the
        # reals must fill whole ones (TrainStep.score).
        self.score_together = not _has_batch_stats(D)
        pack = max((m.pack for m in D.modules() if isinstance(m, PackedDiscriminator)), default=1)
        group = max((m.group for m in D.modules() if isinstance(m, MinibatchStd)), default=1)
        self.whole = pack * group  # packs of images, then stddev groups of packs
        if fast_joint is not None and order != "joint":
            raise ValueError(f"a fast joint path was given for the {order} order")
        self.fast_joint = fast_joint
        # R1 / R2 differentiated by hand on the fused kernels (kernels/cpu/penalty.py), else autograd's
        self.penalty_by_hand = bool(fast_joint and self.penalties and fast_joint.penalty_by_hand(self.penalties))
        orders = {"joint": self.joint_fast if fast_joint else self.joint, "d_then_g": self.d_then_g,
                  "d_real_fake_g": self.d_real_fake_g}
        self.run = orders[order]

    def __call__(self, real: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        stats = self.run(real, labels)
        self.count += 1
        return stats

    def noise(self, n: int, device) -> torch.Tensor:
        rank, world = self.rows
        z = torch.randn(n * world, self.latent_dim, device=device, generator=self.noise_gen)
        return z[rank * n:(rank + 1) * n]

    def fake(self, labels, n: int, device):
        z = self.noise(n, device)
        return self.G(z) if labels is None else self.G(z, labels)

    def d(self, x, labels, augment: bool = True, classes: bool = False, for_g: bool = False, eager: bool = False,
          recon: int = 0):
        """D's logits (N,) of x, augmented as D always sees images; with classes, also its class logits.
        for_g: in G's phase (D_for_g); eager: never compiled (gradient penalties). recon=n: (logits,
        class logits or None, mean L1 of D's rebuilt first n images against them as D saw them, at half size)."""
        if augment and self.augment is not None:
            x = self.augment(x)
        D = self.D_eager if eager else self.D_for_g if for_g else self.D
        if recon:
            *out, rebuilt = D(x, labels, classes, recon)
            return out[0].view(-1), out[1] if classes else None, (rebuilt - F.avg_pool2d(x[:recon], 2)).abs().mean()
        if classes:
            logits, class_logits = D(x, labels, True)
            return logits.view(-1), class_logits
        return (D(x) if labels is None else D(x, labels)).view(-1)

    def class_loss(self, class_logits, labels):
        """AC-GAN's term: the weighted cross-entropy of D's class logits against the labels."""
        return self.aux_weight * F.cross_entropy(class_logits, labels)

    def penalty(self, real, fake, labels):
        """D's gradient penalty when one is due, else None; on augmented images, as D sees them."""
        if not self.penalties.due(self.count):
            return None
        if self.augment is not None:
            real, fake = self.augment(real), self.augment(fake)
        d = lambda x, y=None: self.d(x, y, augment=False, eager=True)  # noqa: E731
        return self.penalties(d, real, fake, labels, self.count, self.rank_gen)

    def with_penalty(self, d_loss, real, fake, labels):
        found = self.penalty(real, fake, labels)  # D's loss plus its gradient penalty when one is due
        return d_loss if found is None else d_loss + found

    def score(self, real, fake, labels, classes: bool = False, recon: bool = False):
        """D's logits of real and of fake; with classes its class logits of the reals, with recon its
        mean rebuild error of the reals (each None when not asked for)."""
        def scored(x, y):  # d's answer as (logits, class logits or None, rebuild error or None)
            out = self.d(x, y, classes=classes, recon=len(real) if recon else 0)
            return out if recon else (*out, None) if classes else (out, None, None)

        if self.score_together and len(real) % self.whole == 0:
            both = None if labels is None else torch.cat([labels, labels])
            logits, class_logits, error = scored(torch.cat([real, fake]), both)
            n_real = len(logits) * len(real) // (len(real) + len(fake))  # a packed D: packs, not images
            real_logits, fake_logits = logits.split([n_real, len(logits) - n_real])
            return real_logits, fake_logits, None if class_logits is None else class_logits[:n_real], error
        real_logits, class_logits, error = scored(real, labels)
        return real_logits, self.d(fake, labels), class_logits, error

    def joint(self, real, labels=None):
        fake = self.fake(labels, len(real), real.device)
        real_logits, fake_logits, _, _ = self.score(real, fake, labels)
        d_loss = self.loss.d(real_logits, fake_logits)
        g_loss = self.loss.g(fake_logits, real_logits)
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        # `inputs=` keeps each loss's gradient to its own network, as the tutorial's two tapes do.
        g_loss.backward(inputs=self.g_params, retain_graph=True)
        self.with_penalty(d_loss, real, fake, labels).backward(inputs=self.d_params)
        self.opt_g.step()
        self.opt_d.step()
        return step_stats(self.loss, g_loss, d_loss, real_logits, fake_logits)

    def joint_fast(self, real, labels=None):
        """`joint` on the fast path: one backward serves both losses, because each set of D logits
        carries only its own loss back (D's to D's weights, G's to the fake images). A due penalty adds its
        own gradient to D's before Adam (R1 / R2 by hand on the fused kernels, else a plain backward):
        the same sum as `joint`'s."""
        d_logits, g_logits, fake = self.fast_joint(self.noise(len(real), real.device), real, labels)
        real_logits, fake_logits = d_logits.split([len(d_logits) - len(g_logits), len(g_logits)])  # packs, if packed
        d_loss = self.loss.d(real_logits, fake_logits)
        # A relativistic G loss pairs each fake with its real's logit, a constant for G (detached, so
        # it sends nothing to D's weights), and the gradient to the fakes stays one scalar per image.
        g_loss = self.loss.g(g_logits, None if self.loss.separable else real_logits.detach())
        self.opt_g.zero_grad(set_to_none=True)
        self.opt_d.zero_grad(set_to_none=True)
        (g_loss + d_loss).backward()
        if self.penalty_by_hand and self.penalties.due(self.count):
            self.fast_joint.add_penalty(real, fake, labels, self.penalties)
        elif (owed := self.penalty(real, fake, labels)) is not None:
            owed.backward(inputs=self.d_params)
        self.opt_g.step()
        self.opt_d.step()
        return step_stats(self.loss, g_loss, d_loss, real_logits, fake_logits)

    def d_then_g(self, real, labels=None):
        fake = self.fake(labels, len(real), real.device)
        aux = self.aux_weight > 0
        # D on real and detached fake (and, with an auxiliary classifier, on the reals' classes; with a
        # decoder, rebuilding the reals)
        real_logits, fake_logits, real_classes, rebuilt = self.score(real, fake.detach(), labels, classes=aux,
                                                                     recon=self.recon_weight > 0)
        d_loss = self.loss.d(real_logits, fake_logits)
        d_total = d_loss + self.class_loss(real_classes, labels) if aux else d_loss
        d_total = d_total if rebuilt is None else d_total + self.recon_weight * rebuilt
        self.opt_d.zero_grad(set_to_none=True)
        self.with_penalty(d_total, real, fake, labels).backward()
        self.opt_d.step()
        # G through the updated D (a relativistic loss pairs the fakes with the reals, scored anew)
        paired = None if self.loss.separable else self.d(real, labels, for_g=True).detach()
        fake_out = self.d(fake, labels, classes=aux, for_g=True)
        g_loss = self.loss.g(fake_out[0] if aux else fake_out, paired)
        g_total = g_loss + self.class_loss(fake_out[1], labels) if aux else g_loss
        self.opt_g.zero_grad(set_to_none=True)
        g_total.backward(inputs=self.g_params)
        self.opt_g.step()
        return step_stats(self.loss, g_loss, d_loss, real_logits, fake_logits)

    def d_real_fake_g(self, real, labels=None):
        # D on a real batch, then on a fake batch: two optimiser steps, as two train_on_batch calls
        real_logits = self.d(real, labels)
        d_loss_real = self.loss.d_real(real_logits)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss_real.backward()
        self.opt_d.step()
        with torch.no_grad():
            fake = self.fake(labels, len(real), real.device)
        fake_logits = self.d(fake, labels)
        d_loss_fake = self.loss.d_fake(fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        self.with_penalty(d_loss_fake, real, fake, labels).backward()
        self.opt_d.step()
        # G on fresh noise through D (D's weights untouched by this step)
        g_loss = self.loss.g(self.d(self.fake(labels, len(real), real.device), labels, for_g=True))
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward(inputs=self.g_params)
        self.opt_g.step()
        return step_stats(self.loss, g_loss, d_loss_real + d_loss_fake, real_logits, fake_logits)


def make_step(cfg, G, D, accel, noise_gen: torch.Generator, world=None,
              rank_gen: torch.Generator | None = None) -> tuple[TrainStep, str]:
    """The step a run of `cfg` trains with, its Adam optimisers, and a line saying how it runs.
    The fused CPU kernels are taken where accel allows them (CPU, eager; fp32 or bf16) and the order is
    `joint`; they need a D of plain conv blocks (the tutorial's), else the step runs plainly.
    world (distributed.py): G and D wrapped in DDP there; rank_gen: the rank's own stream."""
    world = world or SOLO
    rank_gen = rank_gen or noise_gen
    opt_g = accel.adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = accel.adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    loss = get_loss(cfg.loss)
    penalties = Penalties(cfg.r1, cfg.r2, cfg.gp if cfg.loss == "wgan-gp" else 0.0, cfg.penalty_every)
    augment = None
    if cfg.augment:
        from ..augment import DiffAugment

        augment = DiffAugment(cfg.augment, rank_gen)
    # The fused scorer returns logits only: no augmentation in between (a penalty is a backward of
    # its own, run plainly).
    plain_only = augment is not None
    fast, kernels, routes = None, "plain autograd", ""
    if accel.fused_cpu and cfg.step == "joint" and not plain_only:
        if world.fused_ok:
            fast = cpu_kernels.build_fast_joint(G, D)
            routes = _choose_routes(fast, cfg, bf16=accel.dtype == torch.bfloat16) if fast else ""
        else:
            kernels = f"plain autograd ({cpu_kernels.NAME}: one process only)"
    G_run, D_run = world.wrap(G), world.wrap(D)
    step = TrainStep(G_run, D_run, opt_g, opt_d, loss, cfg.latent_dim, cfg.step, noise_gen, accel=accel,
                     fast_joint=fast, augment=augment, penalties=penalties,
                     aux_weight=cfg.aux_classifier if cfg.conditional else 0.0,
                     rank_gen=rank_gen, rows=(world.rank, world.world), d_for_g=None if D_run is D else D,
                     recon_weight=cfg.d_recon)
    if fast:
        every = "every step" if cfg.penalty_every == 1 else f"every {cfg.penalty_every} steps"
        lazy = f", penalties {'by hand' if step.penalty_by_hand else 'plain'} ({every})" if penalties else ""
        kernels = f"{cpu_kernels.NAME}{f' ({routes})' if routes else ''}{lazy}"
    return step, f"{cfg.step}, {kernels}, {accel.describe()}{world.describe()}"


def _choose_routes(fast, cfg, bf16: bool = False) -> str:
    """The fused step's big convolutions: DFT or oneDNN per layer, by cfg.cpu_kernels; `auto` times
    each on this machine once (kernels/cpu/choose.py; cached under the user cache, so a seed repeats),
    a bf16 run among oneDNN's bf16 routes too."""
    route = cfg.cpu_kernels
    if route.endswith("-bf16") and not bf16:  # bf16-if-native on a CPU without bf16 hardware
        raise ConfigError(f"cpu_kernels={route} computes in bf16, but precision={cfg.precision} runs fp32 on this "
                          "CPU (no AVX512-BF16 or AMX); set precision=bf16 to emulate bf16, or pick an fp32 route")
    routes = choose.BF16_ROUTES if bf16 else choose.ROUTES
    chooser = choose.Chooser(cache_root() / "kernels.json", routes=routes) if route == "auto" else route
    labels = torch.zeros(cfg.batch_size, dtype=torch.long) if cfg.conditional else None
    chosen = fast.choose_routes(chooser, (cfg.batch_size, cfg.latent_dim),
                                (cfg.batch_size, cfg.channels, cfg.image_size, cfg.image_size), labels)
    if route != "auto" or not chosen:
        return chosen
    return f"{chosen}; {'timed now' if chooser.timed else 'timed before, cached'}"
