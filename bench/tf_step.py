"""The TensorFlow DCGAN tutorial's own training step, timed for bench/train_step.py (issue 11).

Written from the tutorial's public description (tensorflow.org/tutorials/generative/dcgan), with
the settings of ganforge's `dcgan-mnist` preset, which is that tutorial:

    G: Dense(7*7*256, no bias) BN LeakyReLU -> 7x7x256 -> ConvT(128, 5, stride 1) BN LeakyReLU
       -> ConvT(64, 5, stride 2) BN LeakyReLU -> ConvT(1, 5, stride 2, tanh)     (all 'same', no bias)
    D: Conv(64, 5, stride 2) LeakyReLU Dropout(0.3) -> Conv(128, 5, stride 2) LeakyReLU Dropout(0.3)
       -> Flatten -> Dense(1)
    BinaryCrossentropy(from_logits=True); Adam(1e-4, beta_1 0.5) for each net; batch 256, noise 100;
    one joint step: two GradientTapes over one forward, under @tf.function.

Keras defaults are the preset's too: LeakyReLU slope 0.3, BatchNormalization momentum 0.99 and
epsilon 1e-3, Glorot-uniform kernels. TensorFlow is an optional bench extra
(`pip install -e ".[bench]"`): `load()` returns None without it.

    python bench/tf_step.py --serve BATCHES.npy --threads 2     # a worker process (see TFWorker)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's start-up banner would bury the benchmark's lines


def load(threads: int):
    """tensorflow with `threads` intra-op and inter-op threads, or None when it is not installed.
    The thread counts must be set before TF runs its first op, so call this first."""
    try:
        import tensorflow as tf
    except ImportError:
        return None
    # TF's default is one thread per core for both pools; set them so the comparison with torch's
    # thread count is explicit rather than a coincidence of the machine.
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    return tf


def generator(tf, noise_dim: int = 100):
    L = tf.keras.layers
    return tf.keras.Sequential([
        tf.keras.Input((noise_dim,)),
        L.Dense(7 * 7 * 256, use_bias=False), L.BatchNormalization(), L.LeakyReLU(),
        L.Reshape((7, 7, 256)),
        L.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),  # 7x7x128
        L.BatchNormalization(), L.LeakyReLU(),
        L.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),  # 14x14x64
        L.BatchNormalization(), L.LeakyReLU(),
        L.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False, activation="tanh"),  # 28x28x1
    ])


def discriminator(tf):
    L = tf.keras.layers
    return tf.keras.Sequential([
        tf.keras.Input((28, 28, 1)),
        L.Conv2D(64, 5, strides=2, padding="same"), L.LeakyReLU(), L.Dropout(0.3),  # 14x14x64
        L.Conv2D(128, 5, strides=2, padding="same"), L.LeakyReLU(), L.Dropout(0.3),  # 7x7x128
        L.Flatten(), L.Dense(1),
    ])


def make_step(tf, noise_dim: int = 100, lr: float = 1e-4, beta1: float = 0.5, seed: int = 0):
    """One joint training step (a tf.function): G's and D's losses from the same D scores."""
    tf.keras.utils.set_random_seed(seed)
    G, D = generator(tf, noise_dim), discriminator(tf)
    bce = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    opt_g = tf.keras.optimizers.Adam(lr, beta_1=beta1)
    opt_d = tf.keras.optimizers.Adam(lr, beta_1=beta1)

    @tf.function
    def step(images):
        noise = tf.random.normal([images.shape[0], noise_dim])
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = G(noise, training=True)
            real_logits = D(images, training=True)
            fake_logits = D(fake, training=True)
            g_loss = bce(tf.ones_like(fake_logits), fake_logits)
            d_loss = bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits)
        opt_g.apply_gradients(zip(g_tape.gradient(g_loss, G.trainable_variables), G.trainable_variables))
        opt_d.apply_gradients(zip(d_tape.gradient(d_loss, D.trainable_variables), D.trainable_variables))
        return g_loss, d_loss

    return step


class TFSteps:
    """The TF step on fixed batches (NHWC float32 in [-1, 1]); round(n) times n steps."""

    def __init__(self, tf, batches, warmup: int = 2):
        self.tf, self.step, self.version = tf, make_step(tf), tf.__version__
        self.batches = [tf.constant(b) for b in batches]
        self.done = 0
        for _ in range(warmup):  # tracing and oneDNN primitive creation are not timed
            self._one()

    def _one(self) -> float:
        t = time.perf_counter()
        g_loss, _ = self.step(self.batches[self.done % len(self.batches)])
        g_loss.numpy()  # wait for the step's ops before stopping the clock
        self.done += 1
        return time.perf_counter() - t

    def round(self, steps: int) -> list[float]:
        return [self._one() for _ in range(steps)]


class TFWorker:
    """The TF step in its own process, serving timed rounds over a pipe: torch and TF each keep
    their thread pools to themselves (bench/README.md, "Against the tutorial's TensorFlow")."""

    def __init__(self, batches_file: Path, threads: int):
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(batches_file), "--threads", str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready, _, self.version = self.proc.stdout.readline().strip().partition(" ")
        if ready != "ready":
            raise RuntimeError("the TensorFlow worker did not start")

    def round(self, steps: int) -> list[float]:
        self.proc.stdin.write(f"{steps}\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def serve(batches_file: str, threads: int) -> None:
    import numpy as np

    tf = load(threads)
    steps = TFSteps(tf, list(np.load(batches_file)))
    print(f"ready {tf.__version__}", flush=True)
    for line in sys.stdin:  # one line per round: how many steps to time
        print(json.dumps(steps.round(int(line))), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", metavar="BATCHES.npy", required=True, help="batches, shape (count, B, 28, 28, 1)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    serve(args.serve, args.threads)
