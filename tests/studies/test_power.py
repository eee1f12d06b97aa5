"""power: the experiment generator, a tiny power study, and the sbc/power commands against a Dask cluster."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mats_eval.cli import app
from mats_eval.errors import UsageError
from mats_eval.studies.power import (ALLOCATIONS, POWER_COLUMNS, ExperimentDesign, design_grid, detected, parse_effects,
                             power, simulate_experiment)


@pytest.mark.parametrize("allocation", ALLOCATIONS)
def test_generator_allocates_policy_as_designed(allocation):
    data = simulate_experiment(ExperimentDesign(allocation, scholars=8, weeks=4), {"rating_mandatory": -0.5}, seed=1)
    sessions, att = data.tables["sessions"], data.tables["attendance"]
    seminars = sessions[sessions["kind"] == "seminar"]
    policy_by = {"between-cohort": "cohort", "alternate-weeks": "week", "randomise-sessions": "session_id"}
    assert seminars.groupby(policy_by[allocation])["policy"].nunique().max() == 1
    assert set(seminars["policy"]) == {"mandatory", "optional"}
    assert data.truth["mandatory_minus_optional_rating"] < 0
    assert sessions["session_id"].is_unique  # every session runs once
    if allocation == "randomise-sessions":  # policy varies within each week, half and half
        per_week = seminars.groupby("week")["policy"].agg(lambda p: (p == "mandatory").sum() - (p == "optional").sum())
        assert per_week.abs().max() <= 1 and seminars.groupby("week")["policy"].nunique().min() == 2
        assert att["scholar_id"].nunique() == 8


def test_power_fits_the_packages_default_model_which_corrects_selection():
    from mats_eval.studies.power import model_for

    data = simulate_experiment(ExperimentDesign("alternate-weeks", scholars=8, weeks=4), {}, seed=1).program_data()
    assert model_for("mandatory_minus_optional_rating", data) == "joint"
    assert model_for("mandatory_minus_optional_rating") == "ratings"  # without data: the smallest that reports it


def test_detected_needs_the_right_side():
    assert detected(-0.5, 0.01) and not detected(-0.5, 0.99) and not detected(-0.5, 0.05)
    assert detected(0.5, 0.99) and not detected(0.5, 0.96)
    assert detected(0.0, 0.99) and detected(0.0, 0.01) and not detected(0.0, 0.9)


def test_parse_effects():
    assert parse_effects(["rating_mandatory=-0.5"]) == {"rating_mandatory": -0.5}
    for bad in (["nonsense=1"], ["rating_mandatory"], ["rating_mandatory=abc"]):
        with pytest.raises(UsageError):
            parse_effects(bad)


@pytest.mark.slow
def test_tiny_power_run_writes_power_csv(tmp_path):
    designs = design_grid(["alternate-weeks", "randomise-sessions"], [8], [4])
    table = power(designs, reps=1, out=tmp_path, effects={"rating_mandatory": -0.8}, draws=60, tune=100, chains=1,
                  workers=0, progress=False)
    written = pd.read_csv(tmp_path / "power.csv")
    assert list(written.columns) == POWER_COLUMNS
    assert len(written) == 2 and (written["reps"] == 1).all() and (table["failed"] == 0).all()
    assert written["power"].between(0, 1).all() and (written["mean_width"] > 0).all()


@pytest.mark.slow
def test_cli_sbc_and_power_on_a_dask_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    runner = CliRunner()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        res = runner.invoke(app, ["power", "--designs", "alternate-weeks", "--scholars", "8", "--weeks", "4",
                                  "--reps", "1", "--draws", "60", "--tune", "100", "--chains", "1",
                                  "--effect", "rating_mandatory=-0.8", "--out", str(tmp_path / "power"),
                                  "--scheduler", address, "--no-progress"])
        assert res.exit_code == 0, res.output
        assert "alternate-weeks-n8-w4-s3" in res.output and (tmp_path / "power" / "power.csv").is_file()
        res = runner.invoke(app, ["sbc", "--model", "ratings", "--reps", "2", "--draws", "60", "--tune", "100",
                                  "--chains", "1", "--thin", "50", "--out", str(tmp_path / "sbc"),
                                  "--scheduler", address, "--no-progress"])
        assert res.exit_code == 0, res.output
        assert (tmp_path / "sbc" / "uniformity.csv").is_file()


def test_cli_power_rejects_bad_input(tmp_path):
    res = CliRunner().invoke(app, ["power", "--designs", "coin-flip", "--out", str(tmp_path / "p")])
    assert res.exit_code == 2 and "unknown allocation" in res.output


def test_assurance_draws_each_replications_effect_from_the_prior_the_same_for_every_design():
    from mats_eval.studies.power import parse_effect_prior, power_tasks

    prior = parse_effect_prior(["rating_mandatory=-0.5,0.25"])
    assert prior == {"rating_mandatory": (-0.5, 0.25)}
    designs = design_grid(["between-cohort", "alternate-weeks"], [8], [4])
    tasks = power_tasks(designs, {"rating_mandatory": -0.5, "rating_volume": -0.2}, reps=400, effect_prior=prior)
    drawn = {key: t["effects"]["rating_mandatory"] for key, t in tasks.items()}
    first = [drawn[f"{designs[0].label}-r{i:03d}"] for i in range(400)]
    assert first == [drawn[f"{designs[1].label}-r{i:03d}"] for i in range(400)]  # common random numbers
    assert abs(np.mean(first) + 0.5) < 4 * 0.25 / np.sqrt(400) and abs(np.std(first) - 0.25) < 0.03
    assert all(t["effects"]["rating_volume"] == -0.2 for t in tasks.values())  # the others stay fixed
    fixed = power_tasks(designs, {"rating_mandatory": -0.5}, reps=3)
    assert {t["effects"]["rating_mandatory"] for t in fixed.values()} == {-0.5}
    for bad in (["rating_mandatory=-0.5"], ["rating_mandatory=-0.5,0"], ["nonsense=0,1"], ["rating_mandatory=a,b"]):
        with pytest.raises(UsageError):
            parse_effect_prior(bad)
