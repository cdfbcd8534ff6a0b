"""One picture of image-to-image runs side by side on the same held-out inputs (bench/translate.md).

    python bench/translate_figure.py --runs runs/p2p-l1 runs/p2p runs/cycle --out docs/emoji-translate.png
    python bench/translate_figure.py --runs runs/sr-l1 runs/sr --out docs/emoji-sr4.png --baseline

Each row is one held-out pair of the first run's dataset: its input, (with --baseline, bicubic
upscaling), each run's output in the order given, and the real target. Reads run folders only.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from ganforge.data import to_float
from ganforge.data.folder import FolderOptions
from ganforge.data.tasks import task_pairs
from ganforge.data.superres import upscale
from ganforge.generate import load_generator
from ganforge.viz import grid_image, save_png


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="which held-out pairs are shown")
    parser.add_argument("--baseline", action="store_true", help="add a bicubic column (super-resolution)")
    args = parser.parse_args()

    nets = [load_generator(run) for run in args.runs]
    cfg = nets[0][1]
    options = FolderOptions(cfg.channels, cfg.image_size, background=cfg.background)
    test = task_pairs(cfg.task, cfg.dataset, "test", options, cfg.scale, cfg.data_dir, echo=lambda line: None)
    pick = torch.randperm(len(test.names), generator=torch.Generator().manual_seed(args.seed))[:args.rows]
    inputs, targets = (to_float(torch.from_numpy(x))[pick] for x in (test.a, test.b))
    size = targets.shape[-2:]
    columns = [F.interpolate(inputs, size=size, mode="nearest")]
    if args.baseline:
        columns.append(upscale(inputs, cfg.scale))
    with torch.no_grad():
        columns += [G(inputs) for G, _ in nets]
    columns.append(targets)
    save_png(grid_image(torch.stack(columns, 1).flatten(0, 1), nrow=len(columns), min_side=0), args.out)
    print(f"{args.out}: {args.rows} held-out rows; columns: input, {'bicubic, ' if args.baseline else ''}"
          f"{', '.join(args.runs)}, target")


if __name__ == "__main__":
    main()
