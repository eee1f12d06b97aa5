"""The quick-start notebook runs top to bottom on a tiny fit, so it cannot rot."""
import os

import nbformat
import pytest
from nbclient import NotebookClient

from mats_eval.simulation.scenarios import write_scenario

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    dataset = tmp_path / "data"
    write_scenario("identified", seed=3, out=dataset, scale=0.25)
    monkeypatch.setenv("MATS_EVAL_DATASET", str(dataset))
    monkeypatch.setenv("MATS_EVAL_DRAWS", "100")
    monkeypatch.setenv("MATS_EVAL_CHECKS", "0")  # the checks have their own tests; this one is about the walk-through
    notebook = nbformat.read(os.path.join(ROOT, "examples", "quickstart.ipynb"), as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": os.path.join(ROOT, "examples")}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [o for o in outputs if "text/html" in o.get("data", {})]
    assert html, "result objects should render as HTML tables in a notebook"
