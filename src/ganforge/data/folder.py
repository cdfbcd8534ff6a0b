"""The `folder:PATH` source: every image under a folder (searched recursively), prepared once into
a cached uint8 array, with labels from sub-folder names or a CSV column.

    images, labels, class_names = read_folder(Path("emoji/google"), FolderOptions(3, 64, labels="folders"))

Each image: EXIF rotation applied; transparency composited onto `background` (before resizing, so
colours hidden under transparent pixels never bleed into the edges); converted to grayscale or
RGB (16-bit and CMYK included); centre-cropped to a square; resized with a Lanczos filter.
Files that cannot be used (empty, truncated, not an image, too many pixels, no label) are
skipped, with one summary line; a folder with nothing usable fails in one line.

The prepared array is cached under <cache>/prepared/, keyed by the files' names, sizes and
modification times and by the options, so epochs never decode images and a second run reuses it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import DataError
from ..fileio import atomic_write, cache_root

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
MODES = {1: "L", 3: "RGB"}
DEFAULT_CHANNELS = 3
DEFAULT_IMAGE_SIZE = 64  # the DCGAN recipe's size
BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0), "gray": (128, 128, 128)}
MAX_PIXELS = 64_000_000  # more than this is a decompression bomb or not meant for a GAN at 128 px
PREPARE_VERSION = 1  # bump when decoding changes, so old prepared arrays are not reused
SHOWN_SKIPPED = 3


@dataclass(frozen=True)
class FolderOptions:
    channels: int = DEFAULT_CHANNELS
    image_size: int = DEFAULT_IMAGE_SIZE  # 0: each image at its own size, uncropped (super-resolution's inputs)
    labels: str = ""  # "" (none) | "folders" (first sub-folder's name) | "csv:FILE:COLUMN" (FILE has a `file` column)
    background: str = "white"  # white | black | gray | #rrggbb: what transparent pixels become


def image_files(folder: Path, name: str) -> list[Path]:
    """The image files in `folder` and its sub-folders, sorted; one line naming `name` if there are none."""
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise DataError(f"{name}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in it or its subfolders; "
                        "add images or pick another folder")
    return paths


def read_folder(folder: Path, options: FolderOptions = FolderOptions(), echo=None):
    """(uint8 images (N, C, S, S), int64 labels (N,) or None, class names or None), files in path order."""
    echo = echo or (lambda line: print(line, file=sys.stderr))
    name = f"folder:{folder}"
    _check_options(name, folder, options)
    paths, labels, class_names, skipped = _labelled(name, folder, image_files(folder, name), options.labels)
    cached = _prepared_path(folder, paths, options)
    if cached.is_file():
        with np.load(cached, allow_pickle=False) as saved:
            return saved["images"], _labels_or_none(saved["labels"]), _names_or_none(saved["class_names"])
    images, keep = _decode_all(paths, options, skipped)
    if not len(images):
        raise DataError(f"{name}: none of its {len(paths)} image files could be used ({_summary(skipped)}); "
                        "check the files or pick another folder")
    if skipped:
        echo(f"{name}: skipped {len(skipped)} file(s): {_summary(skipped)}")
    labels = None if labels is None else labels[keep]
    _save_prepared(cached, images, labels, class_names)
    return images, labels, class_names


def _check_options(name: str, folder: Path, options: FolderOptions) -> None:
    if options.channels not in MODES:
        raise DataError(f"{name}: channels must be 1 (grayscale) or 3 (RGB), not {options.channels}")
    if options.image_size < 1:
        raise DataError(f"{name}: image size must be a positive number of pixels, not {options.image_size}")
    background_rgb(options.background)
    if not folder.is_dir():
        raise DataError(f"{name}: no such folder; give folder:PATH an existing folder of images")


def background_rgb(text: str) -> tuple[int, int, int]:
    if text in BACKGROUNDS:
        return BACKGROUNDS[text]
    digits = text.removeprefix("#")
    if len(digits) == 6 and all(c in "0123456789abcdefABCDEF" for c in digits):
        return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))
    raise DataError(f"background={text!r}: use white, black, gray or a colour like #808080")


# ---- labels -------------------------------------------------------------------------------------
def _labelled(name, folder, paths, spec):
    """(paths kept, labels or None, class names or None, skipped [(path, why)]) for a labels spec."""
    if not spec:
        return paths, None, None, []
    if spec == "folders":
        outside = [p for p in paths if p.parent == folder]
        if outside:
            raise DataError(f"{name}: labels=folders needs every image in a sub-folder named by its class, but "
                            f"{len(outside)} are at the top, e.g. {outside[0].name}; move them or drop labels")
        names = [p.relative_to(folder).parts[0] for p in paths]
        return _as_classes(paths, names, [])
    if spec.startswith("csv:"):
        return _csv_labels(name, folder, paths, spec)
    raise DataError(f"labels={spec!r}: use folders (sub-folder names) or csv:FILE:COLUMN")


def _csv_spec(folder: Path, spec: str) -> tuple[Path, str]:
    """csv:FILE:COLUMN -> (the CSV's path, a relative FILE being in the folder; the column)."""
    file, sep, column = spec[len("csv:"):].rpartition(":")
    if not sep or not file or not column:
        raise DataError(f"labels={spec!r}: write csv:FILE:COLUMN, e.g. csv:labels.csv:category")
    return (Path(file) if Path(file).is_absolute() else folder / file), column


def _csv_labels(name, folder, paths, spec):
    table, column = _csv_spec(folder, spec)
    if not table.is_file():
        raise DataError(f"labels={spec!r}: {table} not found (a relative FILE is looked for in the folder)")
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "file" not in rows[0] or column not in rows[0]:
        found = ", ".join(rows[0]) if rows else "nothing"
        raise DataError(f"labels={spec!r}: {table} needs columns 'file' and {column!r}; it has {found}")
    # `file` is a path relative to the CSV's own folder
    by_path = {(table.parent / row["file"]).resolve(): row[column] for row in rows if row[column]}
    kept = [p for p in paths if p.resolve() in by_path]
    skipped = [(p, "no label in the CSV") for p in paths if p.resolve() not in by_path]
    if not kept:
        raise DataError(f"{name}: none of its images is listed in {table}; check the CSV's file column")
    return _as_classes(kept, [by_path[p.resolve()] for p in kept], skipped)


def _as_classes(paths, names, skipped):
    class_names = sorted(set(names))
    index = {c: i for i, c in enumerate(class_names)}
    return paths, np.array([index[n] for n in names], dtype=np.int64), class_names, skipped


# ---- decoding -----------------------------------------------------------------------------------
def _decode_all(paths, options, skipped):
    """The images that decode, and the indices (into paths) of those kept; the rest join skipped."""
    images = np.empty((len(paths), options.channels, options.image_size, options.image_size), dtype=np.uint8)
    keep = []
    for i, path in enumerate(paths):
        try:
            images[len(keep)] = decode_image(path, options)
            keep.append(i)
        except Unusable as why:
            skipped.append((path, str(why)))
    return images[: len(keep)], np.array(keep, dtype=np.int64)


class Unusable(Exception):
    pass


def decode_image(path: Path | io.BytesIO, options: FolderOptions) -> np.ndarray:
    """One image (a file, or bytes already read: an upload) as uint8 (C, S, S); raises Unusable
    with a few words on why not."""
    if (path.stat().st_size if isinstance(path, Path) else path.getbuffer().nbytes) == 0:
        raise Unusable("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise Unusable(f"{image.width}x{image.height} pixels, over {MAX_PIXELS:,}")
                image.load()
                image = ImageOps.exif_transpose(image)  # phone photos store their rotation as metadata
                image = _to_mode(image, MODES[options.channels], background_rgb(options.background))
    except Unusable:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Unusable("decompression bomb") from None
    except Exception as err:  # PIL raises many types for a broken file (OSError, SyntaxError, ValueError...)
        raise Unusable("not a readable image" if isinstance(err, Image.UnidentifiedImageError)
                        else f"damaged ({str(err).split(chr(10))[0][:60]})") from None
    if options.image_size == 0:
        pixels = np.asarray(image)
        return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    # Crop before resizing (rather than ImageOps.fit) so no cropped-away pixel bleeds into the edges.
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    size = options.image_size
    square = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
    pixels = np.asarray(square)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def _to_mode(image: Image.Image, mode: str, background) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grayscale: keep the top 8 bits
        image = Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).clip(0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (*background, 255))
        image = Image.alpha_composite(flat, rgba).convert("RGB")
    return image.convert(mode)


# ---- the prepared cache -------------------------------------------------------------------------
def _prepared_path(folder: Path, paths, options: FolderOptions) -> Path:
    digest = hashlib.sha256(repr((PREPARE_VERSION, options)).encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    if options.labels.startswith("csv:"):
        digest.update(_csv_spec(folder, options.labels)[0].read_bytes())
    return cache_root() / "prepared" / f"{folder.name or 'root'}-{digest.hexdigest()[:16]}.npz"


def _save_prepared(path: Path, images, labels, class_names) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, images=images, labels=np.array([], np.int64) if labels is None else labels,
             class_names=np.array(class_names or [], dtype=np.str_))
    try:
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))
    except OSError:  # a read-only or full cache only costs the next run a decode
        pass


def _labels_or_none(labels: np.ndarray):
    return labels if len(labels) else None


def _names_or_none(names: np.ndarray):
    return [str(n) for n in names] if len(names) else None


def _summary(skipped) -> str:
    shown = "; ".join(f"{p.name} ({why})" for p, why in skipped[:SHOWN_SKIPPED])
    return shown + (f"; and {len(skipped) - SHOWN_SKIPPED} more" if len(skipped) > SHOWN_SKIPPED else "")
