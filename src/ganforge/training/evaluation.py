"""Quality metrics during training: the `evaluate` numbers on a smaller sample, every
cfg.eval_every epochs and after the last, as eval_* fields of the epoch record.

It samples the same noise every time (epochs compare like with like) and draws nothing from the
training streams, so a run that evaluates as it trains ends with the same weights as one that
does not.
"""

from __future__ import annotations

import torch

from ..metrics import Evaluator
from ..nets.sampling import sample
from ..run.records import eval_fields
from ..seeding import private_rng

EVAL_SEED = 0


class TrainingEval:
    def __init__(self, cfg, device: torch.device, echo=print):
        """Loads (or builds, once) the judge and the real reference now: a missing test split fails before epoch 1."""
        self.cfg, self.device, self.echo = cfg, device, echo
        with private_rng(device=device):
            self.evaluator = Evaluator(cfg.dataset, cfg.data_dir, cfg.eval_n, image_shape=cfg.image_shape,
                                       device=device, labels=cfg.labels, background=cfg.background, echo=echo)

    def due(self, epoch: int) -> bool:
        return epoch % self.cfg.eval_every == 0 or epoch == self.cfg.epochs

    def __call__(self, G: torch.nn.Module, epoch: int) -> dict:
        """eval_* fields for the generator that `generate` will use (the EMA when the run keeps one)."""
        was_training = G.training
        G.eval()
        try:
            with private_rng(device=self.device):
                labels = self.evaluator.class_mix(getattr(G, "num_classes", 0))  # the real images' classes
                images = sample(G, self.cfg.latent_dim, self.cfg.eval_n, EVAL_SEED, device=self.device, labels=labels)
                metrics = self.evaluator(images, seed=EVAL_SEED)
        finally:
            G.train(was_training)
        self.echo(f"eval  epoch {epoch}: FID {metrics['fid']:.3g}  KID {metrics['kid_mean']:.3g}  "
                  f"classes {metrics['classes_covered']}  precision {metrics['precision']:.2f}  "
                  f"recall {metrics['recall']:.2f}  (N={self.cfg.eval_n}, judge {metrics['judge_kind']})")
        return eval_fields(metrics)
