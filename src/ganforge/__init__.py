"""ganforge: train GANs on image datasets, and see, measure and use what they learn.

Public API (the CLI calls exactly these):
    build_config(preset, file, overrides) -> Config
    train(cfg, out=None) -> TrainResult          resume(run_dir, overrides) -> TrainResult
    generate(run_dir, n, out, seed)              load_generator(run_dir) -> (G, cfg)
    load_dataset(name, split, data_dir) -> ImageData
"""

from .config import Config, build_config
from .data import ImageData, load_dataset
from .generate import generate, load_generator, sample
from .rundir import RunDir, open_run as load_run
from .training import TrainResult, resume, train

__version__ = "0.1.0"
__all__ = ["Config", "build_config", "ImageData", "load_dataset", "generate", "load_generator", "sample",
           "RunDir", "load_run", "TrainResult", "resume", "train"]
