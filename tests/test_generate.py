import numpy as np
import pytest
from PIL import Image

from ganforge.errors import ConfigError
from ganforge.generate import generate
from ganforge.training import train


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, data_root):
    from ganforge.config import build_config

    cfg = build_config("dcgan-mnist", overrides=dict(data_dir=str(data_root), subset=128, batch_size=64, epochs=1,
                                                     device="cpu", tensorboard=False))
    return train(cfg, out=tmp_path_factory.mktemp("gen") / "run", progress=False, echo=lambda *a: None).run


def test_png_grid(trained_run, tmp_path):
    what, seed = generate(trained_run.root, n=64, out=tmp_path / "grid.png", seed=3)
    image = Image.open(tmp_path / "grid.png")
    assert image.format == "PNG" and seed == 3 and "64" in what
    assert image.size == (8 * 28 + 9 * 2, 8 * 28 + 9 * 2)  # 8x8 tiles with 2-pixel padding


def test_folder_of_pngs(trained_run, tmp_path):
    generate(trained_run.root, n=12, out=str(tmp_path / "imgs") + "/", seed=1)
    files = sorted((tmp_path / "imgs").glob("*.png"))
    assert len(files) == 12
    assert Image.open(files[0]).size == (28, 28) and Image.open(files[0]).mode == "L"


def test_npz_is_repeatable_by_seed(trained_run, tmp_path):
    generate(trained_run.root, n=20, out=tmp_path / "a.npz", seed=5)
    generate(trained_run.root, n=20, out=tmp_path / "b.npz", seed=5)
    generate(trained_run.root, n=20, out=tmp_path / "c.npz", seed=6)
    a, b, c = (np.load(tmp_path / f"{x}.npz")["images"] for x in "abc")
    assert a.shape == (20, 28, 28, 1) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.std() > 1  # real variation, not a blank image


def test_bad_output_name(trained_run, tmp_path):
    with pytest.raises(ConfigError, match=r"\.png \(grid\)"):
        generate(trained_run.root, n=4, out=tmp_path / "x.jpg")
