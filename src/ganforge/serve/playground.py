"""The page's generator playground: draw images from a run's generator.safetensors, have the
dataset's judge name each one, and walk between seeds; or, for an image-to-image run, apply it to
an uploaded image. On CPU, one request at a time, each bounded.

Image k of a draw with seed s is what `ganforge generate RUN --n 1 --seed s+k` draws (with
`--label`, its class), so any image on the page can be remade, or walked from, by its seed.

The judge is only ever loaded from the cache (`ganforge judge train`, or an earlier `evaluate`):
building one takes minutes, far too long for a request, so without it the page says how to build
it and draws without verdicts.
"""

from __future__ import annotations

import base64
import io
import threading
from collections import OrderedDict

import torch

from ..data import CLASS_NAMES
from ..errors import CheckpointError, ConfigError, GanforgeError, RequestError
from ..data.folder import Unusable
from ..generate import apply_translation, load_generator, read_input
from ..nets.sampling import render, sample_labels, seed_noise
from ..run import RunDir
from ..walk import check_walk, gif_bytes, strip_image, walk_images

MAX_COUNT = 64  # images in one draw
MAX_PIXELS = 64 * 64 * 64  # pixels in one draw or walk: 64 images of 64x64, 16 of 128x128
MAX_SEEDS = 8  # points of a walk
MAX_STEPS = 64  # frames from one point to the next
MAX_SEED = 2**31 - 1
CACHED_GENERATORS = 4


def png_data_url(image: torch.Tensor) -> str:
    """One uint8 (C, H, W) image as a data: URL, small enough to send inline."""
    from PIL import Image

    array = image.permute(1, 2, 0).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class Playground:
    def __init__(self, echo=lambda *a: None):
        self._generators: OrderedDict[tuple, tuple] = OrderedDict()
        self._judges: dict[tuple, object] = {}
        self._lock = threading.Lock()  # one sampling at a time: CPU work never piles up
        self.echo = echo

    def generator(self, run: RunDir, inputs: bool = False, upscale: RunDir | None = None):
        """(G, cfg), loaded once per version of the run's generator file (a running run rewrites it).
        inputs: the caller has an image for G (an image-to-image run); else G draws from noise.
        upscale: a super-resolution run whose net takes G's images (`generate --upscale`)."""
        key = (str(run.root), *self._version(run))
        if upscale is not None:
            key += (str(upscale.root), *self._version(upscale))
        if key not in self._generators:
            self._generators[key] = load_generator(run.root, upscale=None if upscale is None else upscale.root)
            while len(self._generators) > CACHED_GENERATORS:
                self._generators.popitem(last=False)
        self._generators.move_to_end(key)
        G, cfg = self._generators[key]
        if inputs and cfg.task == "gan":
            raise RequestError(f"{run.root.name} draws images from noise; it takes no input image")
        if not inputs and cfg.task != "gan":
            raise RequestError(f"{run.root.name} is a {cfg.task} run: it turns images into images; give it an image "
                               f"(or ganforge generate {run.root.name} --input IMAGE_OR_FOLDER --out OUT)")
        return G, cfg

    @staticmethod
    def _version(run: RunDir) -> tuple[int, int]:
        try:
            stat = run.generator.stat()
        except OSError:
            raise CheckpointError(f"{run.root.name} has no generator.safetensors yet; it appears after the first "
                                  "epoch") from None
        return stat.st_mtime_ns, stat.st_size

    def draw(self, run: RunDir, seed: int, count: int, label: int | None, upscale: RunDir | None = None) -> dict:
        """`count` images, image k from seed `seed + k`; label None: every class in turn."""
        if not 1 <= count <= MAX_COUNT:
            raise RequestError(f"n={count}: draw 1 to {MAX_COUNT} images")
        if not 0 <= seed <= MAX_SEED - count:
            raise RequestError(f"seed={seed}: use 0 to {MAX_SEED - count} (images take seeds seed..seed+n-1)")
        with self._lock:
            G, cfg = self.generator(run, upscale=upscale)
            self._check_budget(count, cfg)
            classes = self._labels(G, count, label)
            noise = torch.cat([seed_noise(seed + k, 1, cfg.latent_dim) for k in range(count)])
            images = render(G, noise, classes)
            verdicts, judge = self._verdicts(cfg, images)
        out = []
        for k, image in enumerate(images):
            out.append({"seed": seed + k, "label": None if classes is None else int(classes[k]),
                        "png": png_data_url(image), "verdict": verdicts[k] if verdicts else None})
        return {"run": run.root.name, "images": out, "judge": judge}

    def translate(self, run: RunDir, data: bytes) -> dict:
        """An image-to-image run on one uploaded image: the image as the run reads it, and G's output
        (what `ganforge generate RUN --input IMAGE` writes)."""
        if not data:
            raise RequestError("no image came with the request: send an image file's bytes as its body")
        with self._lock:
            G, cfg = self.generator(run, inputs=True)
            try:
                image = read_input(io.BytesIO(data), cfg)
            except Unusable as why:
                raise RequestError(f"that file cannot be used: {why}") from None
            scale = cfg.scale if cfg.task == "sr" else 1
            if image.shape[-1] * image.shape[-2] * scale ** 2 > MAX_PIXELS:  # sr reads an image at its own size
                raise RequestError(f"a {image.shape[-1]}x{image.shape[-2]} image is more than one request may upscale "
                                   f"here (up to {int(MAX_PIXELS ** 0.5) // scale} px square); crop or shrink it, "
                                   f"or use ganforge generate {run.root.name} --input IMAGE")
            output = apply_translation(G, image)
        return {"run": run.root.name, "task": cfg.task, "input": png_data_url(image[0]), "output": png_data_url(output[0]),
                "input_size": list(image.shape[:-3:-1]), "output_size": list(output.shape[:-3:-1])}

    def walk(self, run: RunDir, seeds: list[int], steps: int, label: int | None, form: str,
             upscale: RunDir | None = None) -> bytes:
        """The walk through `seeds` as a PNG strip or a GIF."""
        if len(seeds) > MAX_SEEDS or steps > MAX_STEPS:
            raise RequestError(f"a walk here has at most {MAX_SEEDS} seeds and {MAX_STEPS} steps; "
                               "use `ganforge interpolate` for longer ones")
        if any(not 0 <= s <= MAX_SEED for s in seeds):
            raise RequestError(f"seeds: use 0 to {MAX_SEED}")
        with self._lock:
            G, cfg = self.generator(run, upscale=upscale)
            self._check_budget(check_walk(seeds, steps), cfg)
            frames = walk_images(G, cfg.latent_dim, seeds, steps, label)
        if form == "gif":
            return gif_bytes(frames)
        buffer = io.BytesIO()
        strip_image(frames).save(buffer, format="PNG")
        return buffer.getvalue()

    @staticmethod
    def _check_budget(count: int, cfg) -> None:
        pixels = count * cfg.image_size ** 2
        if pixels > MAX_PIXELS:
            most = MAX_PIXELS // cfg.image_size ** 2
            raise RequestError(f"{count} images of {cfg.image_size}x{cfg.image_size} is more than one request may "
                               f"draw here ({most}); ask for fewer")

    @staticmethod
    def _labels(G, count: int, label: int | None) -> torch.Tensor | None:
        """The classes of a draw, as `generate` picks them (nets/sampling.py), refused as a bad request."""
        try:
            return sample_labels(G, count, label)
        except ConfigError as err:
            raise RequestError(str(err).replace("--label", "label")) from None

    def _verdicts(self, cfg, images: torch.Tensor) -> tuple[list[dict] | None, dict]:
        """Per image: the judge's class and its confidence; and what judge spoke (or why none)."""
        judge, note = self._judge(cfg)
        if judge is None:
            return None, {"available": False, "note": note}
        probabilities = torch.softmax(judge.embed(images).logits, 1)
        confidence, predicted = probabilities.max(1)
        names = judge.info.get("class_names") or CLASS_NAMES.get(judge.info.get("dataset"), [])
        verdicts = [{"class": int(c), "name": names[c] if c < len(names) else str(int(c)), "confidence": float(p)}
                    for c, p in zip(predicted.tolist(), confidence)]
        accuracy = judge.accuracy
        return verdicts, {"available": True, "name": judge.name, "accuracy": accuracy,
                          "note": f"judge {judge.name}" + ("" if accuracy is None else f", accuracy {accuracy:.2%}")}

    def _judge(self, cfg):
        """The dataset's judge from the cache, or (None, why not)."""
        from ..metrics import get_judge

        if cfg.dataset.startswith("folder:") and not cfg.labels:
            return None, "this folder has no labels, so no judge can name the classes of its images"
        key = (cfg.dataset, cfg.data_dir, cfg.image_shape, cfg.labels, cfg.background)
        if key not in self._judges:
            try:
                judge = get_judge(cfg.dataset, cfg.data_dir, image_shape=cfg.image_shape, train_if_missing=False,
                                  labels=cfg.labels, background=cfg.background, echo=self.echo)
            except GanforgeError as err:  # not built yet, or the dataset is not on this machine
                return None, f"no verdicts: {err}"
            if judge.net.head is None:
                return None, "this dataset's judge has no classes to name"
            self._judges[key] = judge
        return self._judges[key], ""
