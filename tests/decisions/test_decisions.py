"""Plans: YAML validation, ranking of a dominated plan, probabilities (no model fits)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mats_eval.decisions import plans as decisions

from mats_eval.estimands import kernels as estimands
from mats_eval.errors import UsageError

EXAMPLE = Path(__file__).resolve().parents[2] / "analyses" / "plans" / "example.yaml"
REF = estimands.Reference(
    kind="seminar",
    volume=3.0,
    n_weeks=10,
    rating_week=5.5,
    session_scale=(1, 10),
    volume_grid=tuple(np.arange(0.5, 12.01, 0.5)),
)


def synthetic_params(draws: int = 200, seed: int = 0, **means) -> dict[str, np.ndarray]:
    """Canonical parameter draws around plausible values (mandatory rated much lower).

    Keyword arguments override the centre of any scalar parameter.
    """
    rng = np.random.default_rng(seed)
    centre = {
        "attendance_intercept": 1.0,
        "attendance_kind_ref": 0.0,
        "attendance_mandatory": 2.0,
        "attendance_volume": -0.15,
        "attendance_week_slope": -0.12,
        "attendance_week_slope_mandatory": 0.0,
        "attendance_cohort_sd": 0.3,
        "attendance_scholar_sd": 0.6,
        "attendance_session_sd": 0.3,
        "rating_kind_ref": 0.8,
        "rating_mandatory": -1.2,
        "rating_volume": -0.1,
        "rating_week": 0.0,
        "rating_cohort_sd": 0.3,
        "rating_scholar_sd": 0.5,
        "rating_speaker_sd": 0.3,
    }
    centre.update(means)
    p = {k: v + 0.05 * rng.standard_normal(draws) for k, v in centre.items()}
    for k in p:
        if k.endswith("_sd"):
            p[k] = np.abs(p[k])
    p["rating_cutpoints_ref"] = np.linspace(-4, 4, 9) + 0.05 * rng.standard_normal((draws, 9))
    p["rating_cutpoints_ref"].sort(axis=1)
    return p


def synthetic_params_by_kind(draws: int = 200, seed: int = 0) -> dict[str, dict]:
    return {
        "seminar": synthetic_params(draws, seed),
        "discussion_group": synthetic_params(draws, seed, rating_kind_ref=0.5, attendance_kind_ref=-0.2),
    }


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plans.yaml"
    path.write_text(text)
    return path


def test_example_plans_load_and_dominated_anchor_ranks_last():
    plans, utility = decisions.load_plans(EXAMPLE)
    assert len(plans) == 5 and utility.research_hour_cost == 0.5
    result = decisions.evaluate_plans(synthetic_params_by_kind(), plans, REF, utility)
    table = result.table
    anchor = table[table["plan"].str.startswith("anchor")]
    assert table.iloc[-1]["plan"] == anchor.iloc[0]["plan"]
    assert anchor["prob_best"].iloc[0] < 0.01
    assert anchor["mandatory_research_hours"].iloc[0] > 50
    assert np.isclose(table["prob_best"].sum(), 1.0)
    assert (table["expected_loss"] >= 0).all()
    assert table.loc[table["prob_best"].idxmax(), "expected_loss"] == table["expected_loss"].min()
    assert "<table" in result._repr_html_()


def test_mandatory_plan_takes_research_hours_and_optional_none():
    plans, utility = decisions.plans_from_dict(
        {
            "plans": [
                {"name": "opt", "weeks": 4, "sessions": {"seminar": 2}},
                {"name": "mand", "weeks": 4, "sessions": {"seminar": 2}, "policy": {"seminar": "mandatory"}},
            ]
        }
    )
    result = decisions.evaluate_plans({"seminar": synthetic_params()}, plans, REF, utility)
    t = result.table.set_index("plan")
    assert t.loc["opt", "mandatory_research_hours"] == 0
    # 2 sessions × 4 weeks × 1 hour × attendance (high when mandatory)
    assert 4 < t.loc["mand", "mandatory_research_hours"] <= 8
    assert t.loc["mand", "expected_rating"] < t.loc["opt", "expected_rating"]
    assert t.loc["mand", "expected_attendance"] > t.loc["opt", "expected_attendance"]


def test_utility_matches_documented_formula_for_one_kind():
    p = synthetic_params(50)
    plan = decisions.Plan("p", 3, {"seminar": 2.0}, hours={"seminar": 1.5})
    u = decisions.Utility(value_per_attended_hour=2.0, research_hour_cost=0.25)
    out, _ = decisions.plan_outcomes({"seminar": p}, plan, REF, u)
    expected = 0.0
    for w in (1, 2, 3):
        att = estimands.attendance_probability(p, w, 2.0)
        value = (estimands.expected_session_rating(p, REF, w, 2.0) - 1) / 9
        expected = expected + 2.0 * 1.5 * att * (2.0 * value - 0.25)
    np.testing.assert_allclose(out["utility"], expected)



def test_every_kind_counts_towards_the_load_each_session_sees():
    """Adding workshops lowers seminar attendance: a session's volume is its week's whole load."""
    params = synthetic_params_by_kind(100)
    params["workshop"] = params["discussion_group"]
    seminars = decisions.Plan("s", 4, {"seminar": 2.0})
    with_workshops = decisions.Plan("sw", 4, {"seminar": 2.0, "workshop": (3.0, 0.0, 3.0, 0.0)})
    np.testing.assert_array_equal(with_workshops.load(), [5, 2, 5, 2])
    alone = decisions.evaluate_plans(params, [seminars], REF).by_week
    crowded = decisions.evaluate_plans(params, [with_workshops], REF).by_week
    seminar_alone = alone[alone["kind"] == "seminar"].set_index("week")["attendance_mean"]
    seminar_crowded = crowded[crowded["kind"] == "seminar"].set_index("week")["attendance_mean"]
    # weeks with 3 extra sessions: lower seminar attendance; weeks without: the same
    assert (seminar_crowded[[1, 3]] < seminar_alone[[1, 3]] - 0.02).all()
    np.testing.assert_allclose(seminar_crowded[[2, 4]], seminar_alone[[2, 4]])

def test_front_loaded_keeps_total_volume_and_decays():
    plan = decisions.Plan("p", 10, {"seminar": 2.0}, schedule="front-loaded")
    v = plan.volume("seminar")
    assert np.isclose(v.sum(), 20) and v[0] == 3.0 and v[-1] == 1.0
    explicit = decisions.Plan("q", 3, {"seminar": (3.0, 0.0, 1.0)})
    np.testing.assert_array_equal(explicit.volume("seminar"), [3, 0, 1])


def test_by_week_has_overall_and_per_kind_rows():
    plans, _ = decisions.load_plans(EXAMPLE)
    result = decisions.evaluate_plans(synthetic_params_by_kind(), plans[:1], REF)
    weeks = result.by_week
    assert set(weeks["kind"]) == {"all", "seminar", "discussion_group"}
    overall = weeks[weeks["kind"] == "all"]
    assert len(overall) == 10
    assert (overall["attendance_hdi_low"] <= overall["attendance_mean"]).all()
    # optional attendance decays over the weeks
    assert overall["attendance_mean"].iloc[0] > overall["attendance_mean"].iloc[-1]


def test_ties_share_probability():
    u = np.array([[1.0, 1.0, 0.0], [2.0, 1.0, 0.0]])
    prob, loss = decisions.decision_summary(u)
    np.testing.assert_allclose(prob, [0.75, 0.25, 0.0])
    np.testing.assert_allclose(loss, [0.0, 0.5, 1.5])


@pytest.mark.parametrize(
    "text, key",
    [
        ("plans:\n  - name: a\n    weeks: 10\n    sessions: {seminar: 2}\n    polcy: {seminar: optional}\n", "polcy"),
        ("plans:\n  - name: a\n    weeks: 10\n    sessions: {seminars: 2}\n", "sessions.seminars"),
        ("plans:\n  - name: a\n    weeks: 10\n    sessions: {seminar: 2}\n    policy: {seminar: sometimes}\n", "policy.seminar"),
        ("plans:\n  - name: a\n    weeks: ten\n    sessions: {seminar: 2}\n", "weeks"),
        ("plans:\n  - name: a\n    weeks: 3\n    sessions: {seminar: 2}\n    schedule: [1, 2]\n", "schedule"),
        ("plans:\n  - name: a\n    weeks: 3\n    sessions: {seminar: -1}\n", "sessions.seminar"),
        ("utility: {value_per_hour: 1}\nplans:\n  - name: a\n    weeks: 3\n    sessions: {seminar: 1}\n", "utility.value_per_hour"),
        ("plans: [\n", "YAML"),
        ("plans: []\n", "plans"),
    ],
)
def test_bad_yaml_names_file_and_key(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as err:
        decisions.load_plans(path)
    assert str(path) in str(err.value) and key in str(err.value)


def test_plan_kind_without_parameters_is_a_usage_error():
    plans, _ = decisions.plans_from_dict({"plans": [{"name": "w", "weeks": 2, "sessions": {"workshop": 1}}]})
    with pytest.raises(UsageError, match="workshop"):
        decisions.evaluate_plans({"seminar": synthetic_params()}, plans, REF)


def test_plans_from_a_run_folder_are_the_plans_of_its_draws(tmp_path):
    """decision_draws.nc and reference.json, written by the run folder's own writers, give the same
    comparison as the draws in memory; without a plans file, the comparison stored at fit time."""
    import json

    from mats_eval.runfolder import DECISION_DRAWS_FILE, REFERENCE_FILE, write_decision_draws

    draws = synthetic_params_by_kind()
    write_decision_draws(draws, tmp_path / DECISION_DRAWS_FILE)
    (tmp_path / REFERENCE_FILE).write_text(json.dumps(REF.to_dict()))
    from_run = decisions.plans_from_run(tmp_path, EXAMPLE)
    in_memory = decisions.plans_from_params(draws, EXAMPLE, REF)
    pd.testing.assert_frame_equal(from_run.table, in_memory.table)
    assert decisions.plans_from_run(tmp_path) is None
    table, by_week = decisions.comparison_tables(in_memory)
    table.to_csv(tmp_path / "plans.csv", index=False)
    by_week.to_csv(tmp_path / "plans_by_week.csv", index=False)
    stored = decisions.plans_from_run(tmp_path)
    pd.testing.assert_frame_equal(stored.table, in_memory.table, check_dtype=False)
    assert stored.settings == in_memory.settings


def test_plans_need_the_run_folders_decision_draws(tmp_path):
    with pytest.raises(UsageError, match="decision_draws.nc"):
        decisions.plans_from_run(tmp_path, EXAMPLE)
