"""The `ganforge` command: parse options, call the API, print. No training logic lives here."""

from __future__ import annotations

import atexit
import os
import sys
import threading

import click

from .cores import share_cores
from .errors import ConfigError, GanforgeError


class Group(click.Group):
    """Turns a GanforgeError into one line on stderr and exit code 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GanforgeError as err:
            if _rank0() or getattr(err, "loud", False):  # rank 0 speaks for a distributed run
                click.echo(f"error: {err}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            if _rank0():
                click.echo("aborted (the last complete checkpoint is kept)", err=True)
            ctx.exit(130)


def _rank0() -> bool:
    """False in the workers torchrun (or --nproc) starts, but rank 0's."""
    return os.environ.get("RANK", "0") == "0"


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(package_name="ganforge")
def cli():
    """Train GANs on image datasets and look at, measure and use what they learn.

    \b
    ganforge train                         # offline default: embedded MNIST subset, minutes on a CPU
    ganforge train --preset dcgan-mnist    # the TensorFlow DCGAN tutorial, exactly
    ganforge generate runs/RUN --n 64 --out grid.png
    ganforge evaluate runs/RUN --n 10000
    ganforge info runs/RUN
    ganforge interpolate runs/RUN --seeds 1,2 --out walk.gif
    ganforge serve runs
    """


def _overrides(options: dict, sets: tuple[str, ...]) -> dict:
    from .config import parse_assignment

    values = dict(parse_assignment(s) for s in sets)
    values.update({k: v for k, v in options.items() if v is not None})
    return values


@cli.command()
@click.option("--preset", metavar="NAME", help="Preset to start from (see --list-presets).  [default: default]")
@click.option("--config", "config_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="A YAML file of config fields (copy a preset and edit it).")
@click.option("--dataset", metavar="NAME", help="embedded-mnist | mnist | fashion-mnist | cifar10 | stacked-mnist | folder:PATH")
@click.option("--data-dir", metavar="DIR", help="Folder holding mnist/, fashion-mnist/, cifar-10/ (else $GANFORGE_DATA, then the cache).")
@click.option("--epochs", type=int, metavar="N", help="Epochs to train (when resuming: the new total).")
@click.option("--batch-size", type=int, metavar="N")
@click.option("--seed", type=int, metavar="N", help="Seed for every random stream; the same seed repeats a CPU run exactly.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--max-steps", type=int, metavar="N", help="Stop after N optimiser steps in total (smoke runs).")
@click.option("--max-seconds", type=float, metavar="S", help="Stop after S seconds of training steps in total (a time budget).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override any config field; repeatable.")
@click.option("--out", metavar="DIR", help="Run folder.  [default: runs/DATE_DATASET_ARCH]")
@click.option("--resume", metavar="RUN_DIR", help="Continue the run in RUN_DIR from its last checkpoint.")
@click.option("--nproc", type=click.IntRange(1, 1024), default=1, metavar="N",
              help="Processes on this machine (DDP; batch_size is the global batch); see README for torchrun.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar per epoch.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config, parameter counts and FLOPs, and exit.")
@click.option("--list-presets", is_flag=True, help="List the presets and exit.")
def train(preset, config_file, dataset, data_dir, epochs, batch_size, seed, device, max_steps, max_seconds, sets,
          out, resume, nproc, progress, dry_run, list_presets):
    """Train a GAN; writes samples, metrics, TensorBoard logs and checkpoints to a run folder.

    \b
    ganforge train
    ganforge train --preset dcgan-mnist --dataset mnist --epochs 50
    ganforge train --config my.yaml --set lr_g=2e-4 --set batch_size=128
    ganforge train --resume runs/2026-11-22_mnist_dcgan28
    ganforge train --nproc 2 --batch-size 128          # two processes, 64 images each a step
    torchrun --nproc_per_node 2 -m ganforge train      # the same, started by torchrun
    """
    import yaml

    from . import config as config_mod
    from . import training

    if list_presets:
        for name in config_mod.preset_names():
            click.echo(name)
        return
    overrides = _overrides({"dataset": dataset, "data_dir": data_dir, "epochs": epochs, "batch_size": batch_size,
                            "seed": seed, "device": device, "max_steps": max_steps, "max_seconds": max_seconds}, sets)
    if resume:
        if config_file:
            raise click.UsageError("--config cannot be used with --resume: a run keeps its own config")
        if preset:
            overrides["preset"] = preset
        if dry_run or nproc > 1:
            from .run import open_run

            cfg = training.resume_config(open_run(resume), overrides)
            if dry_run:
                click.echo(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
                return
            _start_workers(cfg, nproc)
        result = training.resume(resume, overrides, progress=progress, echo=click.echo)
    else:
        cfg = config_mod.build_config(preset, config_file, overrides)
        if dry_run:
            from .nets import summary

            if cfg.conditional and not cfg.num_classes:  # the class count comes from the data
                from .training.loop import load_training_data

                cfg = load_training_data(cfg)[1]
            click.echo(yaml.safe_dump(cfg.to_dict(), sort_keys=False) + summary(cfg))
            return
        if nproc > 1:
            _start_workers(cfg, nproc)
        result = training.train(cfg, out=out, progress=progress, echo=click.echo)
    say = click.echo if _rank0() else (lambda *args: None)
    if result.reason == "interrupted" or result.reason in training.BUDGETS:  # resume continues these
        world = int(os.environ.get("WORLD_SIZE", "1"))  # a distributed run resumes with as many processes
        again = f" --nproc {world}" if world > 1 else ""
        say(f"stopped ({result.reason}); checkpoint saved. Resume with: ganforge train --resume {result.run.root}{again}")
        if result.reason == "interrupted":
            sys.exit(130)
    else:
        say(f"done. Run folder: {result.run.root}  (try: ganforge generate {result.run.root} {_try_out(result.run)})")


def _try_out(run) -> str:
    return "--input IMAGE_OR_DIR --out translated/" if run.read_config().task != "gan" else "--out grid.png"


def _start_workers(cfg, nproc: int) -> None:
    """Run this same command (without --nproc) in `nproc` workers (training/launch.py) and exit
    with their code; first refuse here, once, what every worker would refuse."""
    from .training.distributed import check_split, launched
    from .training.launch import launch

    if launched():
        raise click.UsageError("--nproc starts its own workers; under torchrun, leave it out")
    check_split(cfg, nproc)
    params = click.get_current_context().params
    flags = {"config_file": "--config", "sets": "--set"}
    args = ["train"]
    for name, value in params.items():
        if name in ("nproc", "dry_run", "list_presets", "progress") or value in (None, ()):
            continue
        for item in value if name == "sets" else [value]:
            args += [flags.get(name, "--" + name.replace("_", "-")), str(item)]
    sys.exit(launch(nproc, args + ["--progress" if params["progress"] else "--no-progress"]))


@cli.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--n", "n", type=int, default=64, metavar="N", help="How many images.")
@click.option("--out", default="samples.png", metavar="PATH",
              help="x.png: one grid; x.npz: uint8 array (N,H,W,C); dir/: one PNG per image.")
@click.option("--seed", type=int, metavar="N", help="Noise seed; the same seed gives the same images.  [default: random, printed]")
@click.option("--label", type=int, metavar="K", help="Conditional runs only: draw class K (e.g. 7 for sevens).  "
              "[default: every class in turn]")
@click.option("--device", default="cpu", type=click.Choice(["cpu", "cuda"]))
@click.option("--input", "source", metavar="IMAGE_OR_DIR", help="Image-to-image runs (pix2pix): translate this "
              "image, or every image in this folder, into --out (a folder; x.png for one image).")
@click.option("--upscale", metavar="SR_RUN", help="Upscale the images with a super-resolution run's net (--preset sr4, "
              "trained on the same folder at image_size = scale x this run's).")
def generate(run_dir, n, out, seed, label, device, source, upscale):
    """Draw new images from a trained run, or translate your own with an image-to-image run.

    \b
    ganforge generate runs/RUN --n 64 --out grid.png
    ganforge generate runs/RUN --n 1000 --out samples.npz --seed 1
    ganforge generate runs/RUN --n 100 --out images/
    ganforge generate runs/RUN --n 64 --label 7 --out sevens.png   (conditional runs)
    ganforge generate runs/PIX2PIX --input my_emoji/ --out translated/
    ganforge generate runs/RUN16 --upscale runs/SR4 --out grid64.png   (16 px G, x4 SR net)
    """
    from .generate import generate as generate_images

    if source:
        from .generate import translate

        if upscale:
            raise ConfigError("--upscale is for runs that draw from noise; --input runs are image to image already")

        click.echo(f"wrote {translate(run_dir, source, out, device=device, echo=click.echo)}")
        return

    what, used_seed = generate_images(run_dir, n=n, out=out, seed=seed, device=device, label=label, upscale=upscale)
    click.echo(f"wrote {what} (seed {used_seed})")


@cli.command()
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--n", "n", type=int, default=10000, metavar="N", help="Samples to score, against N real test images.")
@click.option("--seed", type=int, default=0, metavar="N", help="Noise seed of the samples.")
@click.option("--json", "json_out", metavar="FILE", help="Also write every number to this JSON file.")
@click.option("--inception-weights", metavar="FILE", help="Local Inception-v3 FID weights for a paper-comparable FID "
              "(else $GANFORGE_INCEPTION_WEIGHTS; skipped without).")
@click.option("--labels", metavar="SPEC", help="Folder runs: the labels the judge learns (folders or csv:FILE:COLUMN), "
              "e.g. to score an unconditional run with a judge that knows the classes.  [default: the run's own]")
@click.option("--cas", is_flag=True, help="Also the classification accuracy score: the judge's network trained on N "
              "generated images, tested on real ones, next to it trained on N real images (conditional runs; cached).")
@click.option("--judge", metavar="DATASET", help="Image-to-image runs: the dataset whose judge gives the FID (e.g. "
              "folder:emoji with --labels csv:labels.csv:category).  [default: the targets' folder or dataset]")
@click.option("--upscale", metavar="SR_RUN", help="Judge the samples upscaled by this super-resolution run (as generate).")
@click.option("--device", default="cpu", type=click.Choice(["cpu", "cuda"]))
def evaluate(run_dir, n, seed, json_out, inception_weights, labels, cas, judge, upscale, device):
    """Score a run's samples: FID, KID, classifier score, class coverage, precision/recall, memorisation.

    Features come from a judge network ganforge trains once per dataset (cached), never downloaded.

    \b
    ganforge evaluate runs/RUN
    ganforge evaluate runs/RUN --n 2000 --json metrics.json
    ganforge evaluate runs/RUN --cas          (conditional runs: are the fakes useful training data?)
    ganforge evaluate runs/PIX2PIX            (image-to-image: every held-out pair, against the baseline)
    """
    from .evaluate import evaluate_run, format_report

    metrics = evaluate_run(run_dir, n=n, seed=seed, device=device, json_out=json_out,
                           inception_weights=inception_weights, labels=labels, cas=cas, judge=judge, upscale=upscale,
                           echo=click.echo)
    click.echo(format_report(metrics))


@cli.group()
def judge():
    """The per-dataset feature network behind the metrics."""


@judge.command("train")
@click.option("--dataset", required=True, metavar="NAME", help="mnist | fashion-mnist | cifar10 (embedded-mnist uses mnist's).")
@click.option("--data-dir", metavar="DIR", help="Folder holding the dataset (else $GANFORGE_DATA, then the cache).")
@click.option("--device", default="cpu", type=click.Choice(["cpu", "cuda"]))
def judge_train(dataset, data_dir, device):
    """Train (or retrain) the judge of a dataset now and cache it; reports its test accuracy."""
    from .metrics import train_judge

    train_judge(dataset, data_dir, device=device, echo=click.echo)


from .cli_use import export, info, interpolate, serve  # noqa: E402  (the group exists above)

for _command in (info, interpolate, serve, export):
    cli.add_command(_command)


def main():
    # The command (not an import of this module: tests, notebooks) fits its CPU threads to the cores
    # other processes leave free; a fitted count that changes mid-run changes the float sums (cores.py).
    share_cores()
    try:
        cli(prog_name="ganforge")
    except SystemExit as done:  # click's way to end, success included
        leave(done.code)


def leave(code) -> None:
    """Exit as Python would (wait for threads, run the exit handlers, flush), minus the C++ teardown.

    On torch's CUDA build the GPU libraries' static destructors page ~130 MB of cuBLASLt and
    cuSPARSELt in at exit, GPU or not: a default run's peak RSS rose from 0.85 to 0.98 GiB in its
    last half second (bench/README.md, "Memory"). Our files are closed by then.
    """
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    join_threads = getattr(threading, "_shutdown", None)
    if run_handlers is None or join_threads is None:  # a Python without them: the usual exit
        raise SystemExit(code)
    # What Python's own exit does first: threading's exit hooks (a ThreadPoolExecutor's workers are
    # told to stop there, or joining them would wait forever), then every non-daemon thread joined.
    join_threads()
    run_handlers()
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): nothing more can be said there
            pass
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


if __name__ == "__main__":
    main()
