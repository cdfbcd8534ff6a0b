"""examples/tutorial.ipynb runs from top to bottom (nbclient, a real kernel) on a small subset, shows a
grid per epoch, the loss plot and new digits, and is stored without outputs."""

import ast
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "tutorial.ipynb"
SMALL = dict(DATASET="mnist", SUBSET=256, TUTORIAL_EPOCHS=2, DEFAULT_EPOCHS=2)


def parameters_cell(nb):
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "the notebook needs one cell tagged 'parameters'"
    return cells[0]


def images(cell) -> list[str]:
    return [o["data"]["image/png"] for o in cell.outputs if o.get("data", {}).get("image/png")]


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


def test_notebook_runs_on_a_small_subset(data_root, tmp_path, monkeypatch):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cell = parameters_cell(nb)
    names = {t.id for node in ast.parse(cell.source).body for t in node.targets}
    assert names == {*SMALL, "RUNS"}  # the test sets every parameter the notebook has
    cell.source = "\n".join(f"{k} = {v!r}" for k, v in {**SMALL, "RUNS": str(tmp_path / "runs")}.items())
    monkeypatch.setenv("GANFORGE_DATA", str(data_root.resolve()))  # the kernel inherits it; its folder is tmp_path
    src = str(NOTEBOOK.parents[1] / "src")  # the kernel imports this checkout's ganforge, whatever its folder
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    tutorial, default = (next(c for c in nb.cells if c.cell_type == "code" and f'build_config("{preset}"' in c.source)
                         for preset in ("dcgan-mnist", "default"))
    text = "".join(o.get("text", "") for o in tutorial.outputs)
    assert "epoch   1/2" in text and "epoch   2/2" in text and "D acc real" in text
    assert len(images(tutorial)) == 2  # the grid after each epoch
    assert len(images(default)) == 3  # two grids and the loss plot
    plots = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(("loss_figure", "sample_grid"))]
    assert len(plots) == 3 and all(len(images(c)) == 1 for c in plots)  # losses, 64 digits, 64 sevens
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all((r / "generator.safetensors").is_file() for r in runs)
