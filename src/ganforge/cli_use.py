"""The commands that use a trained run rather than make one: `info`, `interpolate`, `serve`, `export`.
Registered on the `ganforge` group in cli.py; like every viewer they only read run folders."""

from __future__ import annotations

import click

@click.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--seeds", required=True, metavar="S1,S2[,...]", help="Noise seeds the walk passes through, in order.")
@click.option("--steps", type=int, default=16, metavar="N", help="Frames from one seed to the next, both included.")
@click.option("--out", default="walk.gif", metavar="PATH",
              help="x.gif: animation; x.png: one strip; x.npz: uint8 frames (F,H,W,C); x.mp4: video (needs ffmpeg).")
@click.option("--label", type=int, metavar="K", help="Conditional runs: the class drawn throughout.  [default: 0]")
@click.option("--ms-per-frame", type=click.IntRange(10, 10000), default=100, metavar="MS", help="GIF/MP4 frame time.")
@click.option("--upscale", metavar="SR_RUN", help="Upscale the frames with a super-resolution run's net (as generate).")
@click.option("--device", default="cpu", type=click.Choice(["cpu", "cuda"]))
def interpolate(run_dir, seeds, steps, out, label, ms_per_frame, upscale, device):
    """Walk the latent space from seed to seed (slerp) and write the frames.

    The first and last frames are what `ganforge generate RUN --n 1 --seed S` draws.

    \b
    ganforge interpolate runs/RUN --seeds 1,2 --steps 16 --out walk.gif
    ganforge interpolate runs/RUN --seeds 1,2,3,1 --steps 8 --out loop.png
    ganforge interpolate runs/RUN --seeds 4,9 --label 7 --out sevens.mp4   (conditional runs; mp4 needs ffmpeg)
    """
    from .walk import interpolate as walk, parse_seeds

    what = walk(run_dir, parse_seeds(seeds), steps, out, label=label, ms_per_frame=ms_per_frame, device=device,
                upscale=upscale)
    click.echo(f"wrote {what}")


@click.command()
@click.argument("runs_dir", metavar="RUNS_DIR", default="runs")
@click.option("--host", default="127.0.0.1", metavar="HOST", help="Address to listen on; anything but localhost "
              "lets other machines see your runs.")
@click.option("--port", type=click.IntRange(0, 65535), default=8321, metavar="PORT", help="Port (0: any free one).")
def serve(runs_dir, host, port):
    """A web page to watch runs learn and play with their generators (read-only).

    \b
    ganforge serve                  # the runs/ folder, on http://127.0.0.1:8321/
    ganforge serve ~/gan-runs --port 0
    """
    from .serve import serve as serve_runs

    serve_runs(runs_dir, host=host, port=port, echo=click.echo)


@click.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--onnx", "onnx_out", metavar="FILE.onnx", help="Write the generator as ONNX: inputs noise (and label), or an "
              "image for an image-to-image run; output image in [-1, 1], any batch size; checked against PyTorch "
              "with onnxruntime.")
@click.option("--dataset", "dataset_dir", metavar="DIR", help="Write a synthetic labelled dataset (conditional runs) "
              "and its manifest.json into DIR (new or empty).")
@click.option("--per-class", type=int, default=1000, metavar="N", help="With --dataset: images of each class.")
@click.option("--format", "fmt", type=click.Choice(["idx", "npz", "folder"]), default="npz",
              help="With --dataset: idx (MNIST's files, grayscale), npz (images, labels) or folder (one per class).")
@click.option("--seed", type=int, default=0, metavar="N", help="With --dataset: the noise seed (as generate's --seed).")
@click.option("--card", is_flag=False, flag_value="MODEL_CARD.md", metavar="[FILE]",
              help="Write a model card (data and licence, recipe, metrics, intended use, limits).  "
              "[default FILE: MODEL_CARD.md]")
@click.option("--metrics", "metrics_file", metavar="FILE", help="With --card: the JSON of `ganforge evaluate --json`.")
@click.option("--upscale", metavar="SR_RUN", help="With --onnx or --dataset: the generator upscaled by a super-resolution "
              "run's net, as `generate --upscale` draws (one ONNX graph; the dataset at the SR run's size).")
@click.option("--device", default="cpu", type=click.Choice(["cpu", "cuda"]))
def export(run_dir, onnx_out, dataset_dir, per_class, fmt, seed, card, metrics_file, upscale, device):
    """Take a trained generator elsewhere: ONNX, a synthetic labelled dataset, a model card.

    \b
    ganforge export runs/RUN --onnx generator.onnx
    ganforge export runs/RUN --dataset synthetic/ --per-class 1000 --format idx
    ganforge export runs/RUN --card MODEL_CARD.md --metrics metrics.json
    """
    if not (onnx_out or dataset_dir or card):
        raise click.UsageError("say what to export: --onnx FILE, --dataset DIR and/or --card [FILE]")
    if upscale and card:
        raise click.UsageError("--card describes one run; write it without --upscale (the SR run has a card of its own)")
    from . import export as exporting
    from .export.onnx_model import onnx_path

    if onnx_out:
        done = exporting.export_onnx(run_dir, onnx_path(onnx_out), upscale=upscale)
        check = "not checked (pip install onnxruntime to check it)" if done["max_diff"] is None else \
            f"onnxruntime matches PyTorch to {done['max_diff']:.1e} ({done['checked']})"
        click.echo(f"wrote {done['path']}: inputs {', '.join(done['inputs'])} -> image; {check}")
    if dataset_dir:
        manifest = exporting.export_dataset(run_dir, dataset_dir, per_class, fmt, seed, device, upscale=upscale)
        click.echo(f"wrote {manifest['total']:,} images ({per_class:,} per class, seed {seed}) as {fmt} in "
                   f"{dataset_dir}, with manifest.json")
    if card:
        exporting.write_card(run_dir, card, metrics_file)
        click.echo(f"wrote {card}")


@click.command()
@click.argument("run_dir", metavar="RUN_DIR")
def info(run_dir):
    """Show a run's config, progress and last metrics."""
    from .report import describe_run

    click.echo(describe_run(run_dir))
