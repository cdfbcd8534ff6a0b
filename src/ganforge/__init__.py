"""ganforge: train GANs on image datasets, and see, measure and use what they learn.

Public API (the CLI calls exactly these):
    build_config(preset, file, overrides, **fields) -> Config
    train(cfg, out=None, callbacks=()) -> TrainResult     resume(run_dir, overrides) -> TrainResult
    generate(run_dir, n, out, seed)              load_generator(run_dir) -> (G, cfg)
    sample_grid(run_dir, n, seed, label) -> PIL image     loss_figure(records) -> matplotlib Figure
    Hooks(on_epoch_end=fn): a callback from plain functions, for train(callbacks=[...])
    load_dataset(name, split, data_dir) -> ImageData
    load_run(run_dir) -> RunDir

Names are imported when first used, so `import ganforge.generate` (a viewer) never loads the
trainer, and `import ganforge` stays cheap.
"""

from importlib import import_module

__version__ = "0.1.0"

_HOMES = {
    "Config": "config", "build_config": "config",
    "ImageData": "data", "load_dataset": "data",
    "generate": "generate", "load_generator": "generate", "sample": "generate", "sample_grid": "generate",
    "loss_figure": "viz", "Hooks": "training.callbacks",
    "RunDir": "run", "load_run": "run",
    "TrainResult": "training", "resume": "training", "train": "training",
}
__all__ = list(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'ganforge' has no attribute {name!r}")
    module = import_module(f".{_HOMES[name]}", __name__)
    value = getattr(module, "open_run" if name == "load_run" else name)
    globals()[name] = value
    return value
