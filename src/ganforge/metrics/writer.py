"""EvalWriter: the evaluate metrics, on a smaller sample, every cfg.eval_every epochs of training.

It adds eval_* fields to the epoch record, so metrics.jsonl and TensorBoard store them with the
losses; put it before the writers that store the record. It samples the same fixed noise every
time (epochs compare like with like) and never draws from the global torch stream, so a run that
evaluates as it trains ends with the same weights as one that does not.
"""

from __future__ import annotations

import torch

from . import Evaluator
from .judge import rng_devices

EVAL_SEED = 0
RECORDED = ("fid", "kid_mean", "kid_std", "classifier_score", "classes_covered", "class_kl", "class_hist",
            "precision", "recall", "memorisation_ratio", "seconds")


class EvalWriter:
    """every: evaluate after every this many epochs and after the last (0: never); n: samples each time.
    Both default to the run config's eval_every and eval_n."""

    def __init__(self, every: int | None = None, n: int | None = None):
        self.every, self.n, self.evaluator = every, n, None

    def on_start(self, trainer):
        """Load (or build, once) the judge and reference now: a missing test split fails before epoch 1."""
        cfg = trainer.cfg
        self.every = cfg.eval_every if self.every is None else self.every
        self.n = cfg.eval_n if self.n is None else self.n
        if self.every > 0:
            with torch.random.fork_rng(devices=rng_devices(trainer.device)):  # training's stream is seeded already
                self.evaluator = Evaluator(cfg.dataset, cfg.data_dir, self.n, image_shape=cfg.image_shape,
                                           device=trainer.device, echo=_echo(trainer))

    def on_epoch_end(self, trainer, record):
        cfg, epoch = trainer.cfg, record["epoch"]
        if self.evaluator is None or not (epoch % self.every == 0 or epoch == cfg.epochs):
            return
        from ..generate import sample  # here, not at the top: generate imports the training package

        G = trainer.sample_generator()  # the generator `generate` will use: the EMA when the run keeps one
        was_training = G.training
        G.eval()
        try:
            with torch.random.fork_rng(devices=rng_devices(trainer.device)):
                images = sample(G, cfg.latent_dim, self.n, EVAL_SEED, device=trainer.device)
                metrics = self.evaluator(images, seed=EVAL_SEED)
        finally:
            G.train(was_training)
        record.update({f"eval_{key}": metrics[key] for key in RECORDED})
        _echo(trainer)(f"eval  epoch {epoch}: FID {metrics['fid']:.3g}  KID {metrics['kid_mean']:.3g}  "
                       f"classes {metrics['classes_covered']}  precision {metrics['precision']:.2f}  "
                       f"recall {metrics['recall']:.2f}  (N={self.n}, judge {metrics['judge_kind']})")


def _echo(trainer):
    return getattr(trainer, "echo", print)
