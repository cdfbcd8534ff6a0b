"""GAN objectives on D's logits. Each is a small object with the three terms a step needs.

bce: the tutorial's binary cross-entropy. BCE(x, 1) = softplus(-x) and BCE(x, 0) = softplus(x),
computed from the logit for numerical stability (the tutorial's `from_logits=True`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class BCELoss:
    name = "bce"

    @staticmethod
    def d_real(real_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real_logits).mean()  # BCE(D(x), 1)

    @staticmethod
    def d_fake(fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(fake_logits).mean()  # BCE(D(G(z)), 0)

    @staticmethod
    def g(fake_logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake_logits).mean()  # BCE(D(G(z)), 1): the non-saturating G loss


LOSSES = {"bce": BCELoss}


def get_loss(name: str):
    return LOSSES[name]()
