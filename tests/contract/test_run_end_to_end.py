"""Contract: `mats-eval run | report` end to end on a tiny fit (`mats_eval.run`, the same pipeline
from Python, backs tests/report's fixture).

One tiny joint fit (module-scoped) backs every promise here: the run folder's
files and columns (data/README.md, "Outputs"), the estimand names of the
registry, the round trip through `load_run`, a report built from the run
folder alone (the dataset deleted first), and one value and one interval per
estimand everywhere it appears.
"""
from __future__ import annotations

import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from mats_eval.cli import app
from mats_eval.estimands.registry import ESTIMANDS
from mats_eval.runfolder import RUN_FILES, load_run
from mats_eval.simulation.scenarios import write_scenario

pytestmark = pytest.mark.slow

CONTRACT_COLUMNS = ["estimand", "scale", "mean", "sd", "hdi_low", "hdi_high", "prob_positive"]
CONTRACT_ESTIMANDS = {  # DATA_CONTRACT.md §4 and §6 that mats-history data inform
    "mandatory_minus_optional_rating", "mandatory_minus_optional_retro", "attendance_week_slope",
    "attendance_first_week", "attendance_last_week", "volume_slope_rating", "volume_slope_attendance",
    "optimal_sessions_per_week", "cohort_sd_rating", "attendance_half_life_weeks",
}
# --no-checks: predictive checks and LOO have their own tests (tests/checks/test_ppc.py)
TINY = ["--draws", "150", "--tune", "150", "--seed", "3", "--no-checks"]


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """(dataset folder, output folder) of `mats-eval run` on small mats-history data."""
    root = tmp_path_factory.mktemp("e2e")
    dataset = write_scenario("mats-history", seed=5, out=root / "data", scale=0.15)
    out = root / "out"
    done = CliRunner().invoke(app, ["run", str(dataset), "--out", str(out), *TINY])
    assert done.exit_code in (0, 3), done.output  # 3: written but flagged (a tiny fit may miss the gate)
    return dataset, out


def test_run_folder_has_the_contract_files_and_columns(pipeline_run):
    _, out = pipeline_run
    for name in RUN_FILES:
        assert (out / "run" / name).is_file(), name
    effects = pd.read_csv(out / "run" / "effects.csv")
    assert effects.columns[: len(CONTRACT_COLUMNS)].tolist() == CONTRACT_COLUMNS
    assert set(effects["estimand"]) <= set(ESTIMANDS)
    assert CONTRACT_ESTIMANDS <= set(effects["estimand"])
    summary = pd.read_csv(out / "run" / "summary.csv")
    assert summary.columns.tolist() == ["parameter", "mean", "sd", "hdi_low", "hdi_high", "ess_bulk", "ess_tail",
                                        "r_hat"]


def test_load_run_round_trip(pipeline_run):
    _, out = pipeline_run
    again = load_run(out / "run")
    on_disk = pd.read_csv(out / "run" / "effects.csv")
    pd.testing.assert_frame_equal(again.effects.drop(columns="note"), on_disk.drop(columns="note"))
    # mats-history's sessions have topics: `run` without --model fits the relevance model
    assert again.manifest["model"]["name"] == "relevance"
    assert {"mandatory_minus_optional_rating_at_equal_relevance", "relevance_part_of_rating_gap"} <= set(on_disk["estimand"])
    assert "posterior" in again.idata.children


def test_report_from_the_run_folder_alone_states_each_estimand_once(pipeline_run, tmp_path):
    dataset, out = pipeline_run
    run_copy = tmp_path / "run"
    shutil.copytree(out / "run", run_copy)
    moved = tmp_path / "dataset-moved"
    shutil.copytree(dataset, moved)
    shutil.rmtree(dataset)  # the report must not need it
    try:
        done = CliRunner().invoke(app, ["report", str(run_copy), "--out", str(tmp_path / "report")])
        assert done.exit_code == 0, done.output
    finally:
        shutil.copytree(moved, dataset)
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    effects = pd.read_csv(run_copy / "effects.csv")
    for row in effects.to_dict("records"):
        sentence = ESTIMANDS[row["estimand"]].sentence(row)
        assert sentence in markdown, f"{row['estimand']}: {sentence!r} not in report.md"
        assert _html_text(sentence) in html, f"{row['estimand']}: not in report.html"


def _html_text(text: str) -> str:
    import html

    return html.escape(text)
