"""The fused CPU path of the joint step (fused.py, generator.py, spectral.py, fastconv.py, choose.py,
penalty.py).

    fast = build_fast_joint(G, D)          # None when D is not a shape the fused scorer knows
    d_logits, g_logits, fake = fast(z, real, labels)
    fast.add_penalty(real, fake, labels, penalties)  # R1 / R2 into D's .grad, by hand (penalty.py)

Same networks and parameters, same maths as the plain `joint` step through autograd
(tests/test_speed_paths.py holds it against tests/reference_step.py); only the kernels and the
order of work differ. d_logits carry D's loss back to D's weights, g_logits G's loss back to the
fake images, so one backward of (g_loss + d_loss) serves both networks. fake is G's batch, for a
gradient penalty on it.
"""

from __future__ import annotations

import torch
from torch import nn

from . import penalty
from .fused import JointScorer
from .generator import FastGenerator

NAME = "fused CPU kernels"


class FastJoint:
    def __init__(self, generator: FastGenerator, scorer: JointScorer, packs=None):
        self.generator, self.scorer = generator, scorer
        self.packs = packs  # a packed D's (nets/pack.py) images -> packs, stacked as channels; None: unpacked

    def choose_routes(self, route, z_shape, real_shape, labels=None) -> str:
        """Set the route of every layer where the DFT fits, for a step of these shapes: route is a
        choose.ROUTES name, or a choose.Chooser (timed per layer). Returns e.g. 'G.4 dft, D.1 onednn'."""
        chosen = []

        def pick(net):
            def at(i, layer, shape, nhwc):
                name = route if isinstance(route, str) else route.route(layer, shape, nhwc)
                chosen.append(f"{net}.{i} {name}")
                return name
            return at

        self.generator.choose(pick("G"), z_shape, labels)
        real = torch.empty(real_shape, device="meta")
        real = self.packs(real) if self.packs is not None else real
        self.scorer.choose(pick("D"), (2 * real.shape[0], *real.shape[1:]))
        return ", ".join(chosen)

    def __call__(self, z, real, labels=None):
        fake = self.generator(z, labels)
        if self.packs is not None:
            return (*self.scorer(self.packs(real), self.packs(fake), labels), fake)
        return (*self.scorer(real, fake, labels), fake)

    def penalty_by_hand(self, penalties) -> bool:
        """Whether add_penalty can take these penalties: R1 / R2 only, an unpacked D, no dropout."""
        return not penalties.gp and self.packs is None and penalty.fusable(self.scorer)

    def add_penalty(self, real, fake, labels, penalties) -> None:
        """R1 on real and R2 on fake, as `penalties` weighs them, added to D's gradients (penalty.py)."""
        both = None if labels is None else torch.cat([labels, labels])
        weight = penalties.image_weights(len(real), len(fake)).to(real.dtype)
        penalty.add_penalty_grads(self.scorer, torch.cat([real, fake.detach()]), both, weight)


def build_fast_joint(G: nn.Module, D: nn.Module) -> FastJoint | None:
    packs = getattr(D, "packs", None)
    scorer = JointScorer.build(D.net if packs else D)
    return FastJoint(FastGenerator(G), scorer, packs) if scorer else None
