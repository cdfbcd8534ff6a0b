"""GAN objectives on D's logits, and the gradient penalties that keep D smooth.

A loss gives D's loss from the logits of a real and a fake batch, and G's loss from the fake
logits (and, for the relativistic pairing, the real ones). `separable` losses split D's loss
into a real and a fake term, which the Keras order (d_real_fake_g) steps on one at a time.

bce      the tutorial: binary cross-entropy from the logit (softplus form, numerically stable);
         G's loss is BCE(D(G(z)), 1), the non-saturating one (Goodfellow et al. 2014)
ns       another name for bce (the non-saturating logistic loss, as StyleGAN calls it)
minimax  the original saturating G loss, -BCE(D(G(z)), 0): for teaching why ns is used
hinge    SNGAN / BigGAN: D max(0, 1 - D(x)) + max(0, 1 + D(G(z))); G -D(G(z))
lsgan    least squares (Mao et al. 2017): D to 1 on real, 0 on fake; G to 1
wgan-gp  Wasserstein critic (Gulrajani et al. 2017): D(G(z)) - D(x), with the gradient penalty
rpgan    relativistic pairing (R3GAN, Huang et al. 2024): softplus(-(D(x) - D(G(z)))); G swapped

Each loss also says how to read its logits: `threshold`, the logit that splits "real" from
"fake" (None: a relative loss has no fixed zero, so the batch's midpoint between the real and
the fake mean), and `chance`, D's loss when it gives real and fake the same output (None: no
such level, the critic's loss is not bounded). `step_stats` and the health checks use them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class BCELoss:
    name, separable = "bce", True
    threshold, chance = 0.0, 2 * math.log(2)  # D outputs 0.5 for both: log 4

    @staticmethod
    def d_real(real_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real_logits).mean()  # BCE(D(x), 1)

    @staticmethod
    def d_fake(fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(fake_logits).mean()  # BCE(D(G(z)), 0)

    def d(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return self.d_real(real_logits) + self.d_fake(fake_logits)

    @staticmethod
    def g(fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        return F.softplus(-fake_logits).mean()  # BCE(D(G(z)), 1): the non-saturating G loss


class MinimaxLoss(BCELoss):
    name = "minimax"

    @staticmethod
    def g(fake_logits, real_logits=None):
        return -F.softplus(fake_logits).mean()  # -BCE(D(G(z)), 0) = E[log(1 - D(G(z)))]: flat where G is bad


class HingeLoss(BCELoss):
    name, chance = "hinge", 2.0  # logit 0 for both: 1 + 1

    @staticmethod
    def d_real(real_logits):
        return F.relu(1 - real_logits).mean()

    @staticmethod
    def d_fake(fake_logits):
        return F.relu(1 + fake_logits).mean()

    @staticmethod
    def g(fake_logits, real_logits=None):
        return -fake_logits.mean()


class LSGANLoss(BCELoss):
    name, threshold, chance = "lsgan", 0.5, 0.25  # targets 1 and 0: halfway; 0.5 for both costs 1/8 + 1/8

    @staticmethod
    def d_real(real_logits):
        return 0.5 * (real_logits - 1).square().mean()

    @staticmethod
    def d_fake(fake_logits):
        return 0.5 * fake_logits.square().mean()

    @staticmethod
    def g(fake_logits, real_logits=None):
        return 0.5 * (fake_logits - 1).square().mean()


class WGANLoss(BCELoss):
    name, threshold, chance = "wgan-gp", None, None  # a critic's scores only mean something apart

    @staticmethod
    def d_real(real_logits):
        return -real_logits.mean()

    @staticmethod
    def d_fake(fake_logits):
        return fake_logits.mean()

    @staticmethod
    def g(fake_logits, real_logits=None):
        return -fake_logits.mean()


class RpGANLoss:
    """Each fake is judged against the real image of the same index: the pairs must line up."""
    name, separable = "rpgan", False
    threshold, chance = None, math.log(2)  # only differences count; equal scores: softplus(0)

    @staticmethod
    def d(real_logits, fake_logits):
        return F.softplus(-(real_logits - fake_logits)).mean()

    @staticmethod
    def g(fake_logits, real_logits):
        return F.softplus(-(fake_logits - real_logits)).mean()


LOSSES = {"bce": BCELoss, "ns": BCELoss, "minimax": MinimaxLoss, "hinge": HingeLoss, "lsgan": LSGANLoss,
          "wgan-gp": WGANLoss, "rpgan": RpGANLoss}


def get_loss(name: str):
    return LOSSES[name]()


def step_stats(loss, g_loss, d_loss, real_logits, fake_logits) -> torch.Tensor:
    """One step's STAT_NAMES (run/records.py) as a detached vector: the two losses, D's accuracy on
    real and on fake images, and D(x), D(G(z)): the sigmoid of each logit, both read from the
    loss's threshold (so a relativistic D whose logits all sit at +5 is not called 'sure every
    fake is real'). No host sync: the midpoint stays a tensor."""
    real, fake = real_logits.detach(), fake_logits.detach()
    cut = (real.mean() + fake.mean()) / 2 if loss.threshold is None else loss.threshold
    real, fake = real - cut, fake - cut
    return torch.stack([
        g_loss.detach(), d_loss.detach(),
        (real > 0).float().mean(), (fake < 0).float().mean(),  # D's accuracy
        torch.sigmoid(real).mean(), torch.sigmoid(fake).mean(),  # D(x), D(G(z))
    ])


# ---- gradient penalties -------------------------------------------------------------------------
def input_gradient_penalty(D, images: torch.Tensor, labels=None) -> torch.Tensor:
    """E ||dD(x)/dx||^2 over the batch: R1 on real images, R2 on fakes (Mescheder et al. 2018;
    R3GAN uses both). The caller weighs it by gamma / 2."""
    return _input_gradient(D, images.detach(), labels).square().flatten(1).sum(1).mean()


def wgan_gradient_penalty(D, real: torch.Tensor, fake: torch.Tensor, labels=None,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """E (||dD(x_hat)/dx_hat|| - 1)^2 at random points between real and fake images (Gulrajani et
    al. 2017); the caller weighs it by lambda (10 in the paper)."""
    eps = torch.rand(len(real), 1, 1, 1, device=real.device, generator=generator, dtype=real.dtype)
    mixed = eps * real.detach() + (1 - eps) * fake.detach()
    return (_input_gradient(D, mixed, labels).flatten(1).norm(dim=1) - 1).square().mean()


def _input_gradient(D, images: torch.Tensor, labels) -> torch.Tensor:
    """dD/dx per image, kept in the graph (create_graph) so a penalty on it trains D."""
    images = images.requires_grad_(True)
    logits = D(images) if labels is None else D(images, labels)
    (grad,) = torch.autograd.grad(logits.sum(), images, create_graph=True)
    return grad


class Penalties:
    """D's gradient penalties, applied every `every` steps and weighted by `every` (lazy
    regularisation, StyleGAN2): r1 and r2 are gamma (the penalty is gamma/2 E||grad||^2, on real
    and on fake images); gp is WGAN-GP's lambda."""

    def __init__(self, r1: float = 0.0, r2: float = 0.0, gp: float = 0.0, every: int = 1):
        self.r1, self.r2, self.gp, self.every = r1, r2, gp, every

    def __bool__(self) -> bool:
        return bool(self.r1 or self.r2 or self.gp)

    def due(self, step_index: int) -> bool:
        return bool(self) and step_index % self.every == 0

    def __call__(self, d, real, fake, labels, step_index: int, generator=None):
        """The penalty to add to D's loss at this step (d: D on already-augmented images), or None."""
        if not self.due(step_index):
            return None
        total = 0.0
        if self.r1:
            total = total + self.r1 / 2 * input_gradient_penalty(d, real, labels)
        if self.r2:
            total = total + self.r2 / 2 * input_gradient_penalty(d, fake, labels)
        if self.gp:
            total = total + self.gp * wgan_gradient_penalty(d, real, fake, labels, generator)
        return total * self.every

    def image_weights(self, n_real: int, n_fake: int) -> torch.Tensor:
        """Each image's weight c_i in sum_i c_i ||dD_i/dx_i||^2, the R1 + R2 penalty as this object
        applies it (reals then fakes; lazy weight included): for a hand-written gradient of it."""
        return torch.cat([torch.full((n_real,), self.every * self.r1 / 2 / n_real),
                          torch.full((n_fake,), self.every * self.r2 / 2 / n_fake)])
