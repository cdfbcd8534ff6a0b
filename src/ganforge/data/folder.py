"""The `folder:PATH` source: every PNG/JPEG under a folder (searched recursively), as one uint8 array.

Images of any size and mode become `channels` x `image_size` x `image_size`: converted to grayscale
("L") or RGB, center-cropped to a square, then resized with antialiased bilinear filtering.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ganforge.data.locate import bad_file
from ganforge.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
MODES = {1: "L", 3: "RGB"}
DEFAULT_CHANNELS = 3
DEFAULT_IMAGE_SIZE = 64  # the DCGAN recipe's size


def read_folder(folder: Path, channels: int | None = None, image_size: int | None = None) -> np.ndarray:
    """uint8 (N, channels, image_size, image_size), files in sorted path order; None means the default."""
    name = f"folder:{folder}"
    channels = DEFAULT_CHANNELS if channels is None else channels
    image_size = DEFAULT_IMAGE_SIZE if image_size is None else image_size
    if channels not in MODES:
        raise DataError(f"{name}: channels must be 1 (grayscale) or 3 (RGB), not {channels}")
    if image_size < 1:
        raise DataError(f"{name}: image size must be a positive number of pixels, not {image_size}")
    if not folder.is_dir():
        raise DataError(f"{name}: no such folder; give folder:PATH an existing folder of PNG/JPEG images")
    paths = sorted(path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())
    if not paths:
        raise DataError(f"{name}: no .png/.jpg/.jpeg files in it or its subfolders; add images or pick another folder")

    images = np.empty((len(paths), channels, image_size, image_size), dtype=np.uint8)
    for i, path in enumerate(paths):
        images[i] = _read_image(name, path, MODES[channels], image_size)
    return images


def _read_image(name: str, path: Path, mode: str, size: int) -> np.ndarray:
    try:
        with Image.open(path) as image:
            # exif_transpose: phone photos store their rotation as metadata.
            image = ImageOps.exif_transpose(image).convert(mode)
    except Exception as err:  # PIL raises many types for a broken file (OSError, SyntaxError, ValueError...)
        raise bad_file(name, path, f"can't be decoded as an image ({err})", fix="fix or remove that file") from None
    # Crop before resizing (rather than ImageOps.fit) so no cropped-away pixel bleeds into the edges.
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    square = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BILINEAR)
    pixels = np.asarray(square)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
