"""Simulator: determinism, contract-shaped tables, truth.json, and the validate round trip."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mats_eval.data.io
from mats_eval.estimands import kernels as estimands
from mats_eval.errors import UsageError
from mats_eval.data.programdata import POLICIES, RETRO_ELEMENTS, SESSION_KINDS
from mats_eval.simulation.scenarios import SCENARIOS, canonical_parameters, simulate, write_scenario

SCALE = 0.3  # a third of the scholars: fast, still every code path
TOPIC_SCENARIOS = {"mats-history", "relevance", "relevance-penalty"}  # sessions with topics
RATINGS_ONLY = {"large-ratings"}  # only ratings recorded: tests/simulation/test_large_ratings.py
CONTRACT_ESTIMANDS = {
    "mandatory_minus_optional_rating", "mandatory_minus_optional_retro", "attendance_week_slope",
    "attendance_first_week", "attendance_last_week", "volume_slope_rating", "volume_slope_attendance",
    "optimal_sessions_per_week", "cohort_sd_rating",
    # DATA_CONTRACT.md section 6 (defined on every scenario: they come from the attendance parameters)
    "attendance_half_life_weeks", "mandatory_minus_optional_attendance",
    # the registry's own additions
    "cohort_spread_rating_points", "mandatory_minus_optional_rating_averaged",
    "mandatory_minus_optional_attendance_averaged",
}
COLUMNS = {
    "cohorts": ["cohort", "n_weeks", "start_date", "session_scale_min", "session_scale_max",
                "retro_scale_min", "retro_scale_max"],
    "scholars": ["scholar_id", "cohort", "archetype", "stream"],
    "sessions": ["session_id", "cohort", "week", "kind", "policy", "speaker", "hours"],
    "attendance": ["session_id", "scholar_id", "attended"],
    "ratings": ["session_id", "scholar_id", "rating"],
    "retrospective": ["scholar_id", "element", "policy", "rating"],
}


def sim_canonical(d) -> dict:
    """The canonical parameters of a simulated dataset's truth, as one-draw arrays."""
    params = {k: (np.asarray(v) if isinstance(v, list) else v) for k, v in d.parameters.items()}
    return {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in canonical_parameters(params, d.reference).items()}


@pytest.fixture(scope="module")
def datasets():
    return {name: simulate(name, seed=7, scale=SCALE) for name in SCENARIOS}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("sims")
    return {name: write_scenario(name, seed=3, out=root / name, scale=SCALE) for name in SCENARIOS}


def read_folder(folder) -> dict[str, pd.DataFrame]:
    return {stem: pd.read_csv(folder / f"{stem}.csv") for stem in COLUMNS}


def test_same_seed_same_tables_other_seed_differs():
    a, b = simulate("identified", seed=11, scale=SCALE), simulate("identified", seed=11, scale=SCALE)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    assert a.truth == b.truth and a.parameters == b.parameters
    c = simulate("identified", seed=12, scale=SCALE)
    assert not a.tables["attendance"].equals(c.tables["attendance"])


def test_scale_changes_only_the_number_of_scholars():
    small, full = simulate("mats-history", seed=1, scale=SCALE), simulate("mats-history", seed=1)
    assert len(small.tables["scholars"]) < len(full.tables["scholars"])
    pd.testing.assert_frame_equal(small.tables["sessions"], full.tables["sessions"])
    assert small.parameters["rating_cohort"] == full.parameters["rating_cohort"]


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n not in RATINGS_ONLY])
def test_written_tables_follow_the_contract(written, name):
    t = read_folder(written[name])
    for stem, cols in COLUMNS.items():
        # sessions gain the optional topic column (contract §6) in the scenarios with topics only
        with_topics = stem == "sessions" and name in TOPIC_SCENARIOS
        assert list(t[stem].columns) == cols + (["topic"] if with_topics else []), stem
    cohorts = t["cohorts"].set_index("cohort")
    assert cohorts.index.is_unique
    assert (cohorts["session_scale_min"] < cohorts["session_scale_max"]).all()
    assert t["scholars"]["scholar_id"].is_unique and t["sessions"]["session_id"].is_unique
    assert t["scholars"]["cohort"].isin(cohorts.index).all()

    sessions = t["sessions"].merge(cohorts, left_on="cohort", right_index=True)
    assert sessions["week"].between(1, sessions["n_weeks"]).all()
    assert sessions["kind"].isin(SESSION_KINDS).all() and sessions["policy"].isin(POLICIES).all()
    assert (sessions["hours"] > 0).all()

    att = t["attendance"]
    assert not att.duplicated(["session_id", "scholar_id"]).any()
    assert att["attended"].isin([0, 1]).all()
    same = att.merge(t["sessions"][["session_id", "cohort"]], on="session_id").merge(
        t["scholars"][["scholar_id", "cohort"]], on="scholar_id", suffixes=("", "_scholar"))
    assert len(same) == len(att) and (same["cohort"] == same["cohort_scholar"]).all()
    n_pairs = sum((t["scholars"]["cohort"] == c).sum() * (t["sessions"]["cohort"] == c).sum() for c in cohorts.index)
    assert 0 < n_pairs - len(att) < 0.05 * n_pairs  # a few unrecorded pairs, not many

    ratings = t["ratings"].merge(sessions[["session_id", "cohort", "session_scale_min", "session_scale_max"]],
                                 on="session_id")
    assert len(ratings) == len(t["ratings"]) and not t["ratings"].duplicated(["session_id", "scholar_id"]).any()
    assert ratings["rating"].between(ratings["session_scale_min"], ratings["session_scale_max"]).all()
    absent = t["ratings"].merge(att[att["attended"] == 0], on=["session_id", "scholar_id"])
    assert absent.empty, "a rating from a pair recorded as absent"

    retro = t["retrospective"].merge(t["scholars"], on="scholar_id").merge(cohorts, left_on="cohort", right_index=True)
    assert not t["retrospective"].duplicated(["scholar_id", "element"]).any()
    assert retro["element"].isin(RETRO_ELEMENTS).all() and retro["policy"].isin(POLICIES).all()
    assert retro["rating"].between(retro["retro_scale_min"], retro["retro_scale_max"]).all()


def test_rating_response_and_attendance_look_realistic(datasets):
    d = datasets["mats-history"]
    att, ratings = d.tables["attendance"], d.tables["ratings"]
    attended = att.merge(ratings, on=["session_id", "scholar_id"], how="left", indicator=True)
    attended = attended[attended["attended"] == 1]
    assert 0.55 < (attended["_merge"] == "both").mean() < 0.75
    assert 0.3 < att["attended"].mean() < 0.85


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_truth_json_holds_every_estimand(written, name):
    truth = json.loads((written[name] / "truth.json").read_text())
    assert truth["scenario"] == name and truth["seed"] == 3 and truth["scale"] == SCALE
    relevance = {"mandatory_minus_optional_rating_at_equal_relevance", "relevance_part_of_rating_gap"}
    expected = CONTRACT_ESTIMANDS | (relevance if name in TOPIC_SCENARIOS else set())
    if name in RATINGS_ONLY:  # no retrospective survey, no retrospective estimand
        expected = expected - {"mandatory_minus_optional_retro"}
    assert set(truth["estimands"]) == expected  # the relevance ones only on data with topics
    assert all(np.isfinite(v) for v in truth["estimands"].values())
    ref = estimands.Reference(**{k: tuple(v) if isinstance(v, list) else v for k, v in truth["reference"].items()})
    assert ref.kind in truth["parameters"]["attendance_kind"]
    assert set(truth["parameters"]["rating_cutpoints"]) >= {"1_10"}


def test_truth_matches_parameters(datasets):
    d = datasets["mats-history"]
    assert d.truth["volume_slope_rating"] == d.parameters["rating_volume"]
    assert d.truth["attendance_week_slope"] == d.parameters["attendance_week_slope"]
    assert d.truth["mandatory_minus_optional_rating"] < 0 and d.truth["mandatory_minus_optional_retro"] < 0
    assert d.truth["attendance_first_week"] > d.truth["attendance_last_week"]
    assert d.truth["mandatory_minus_optional_attendance"] > 0  # mandatory sessions are attended more
    # the truth's half-life solves P(1 + t) = P(1)/2 on the same curve as attendance_first_week
    half = estimands.attendance_probability(sim_canonical(d), 1 + d.truth["attendance_half_life_weeks"],
                                            d.reference.volume)
    assert half == pytest.approx(d.truth["attendance_first_week"] / 2, rel=1e-6)
    grid = d.reference.volume_grid
    assert grid[0] < d.truth["optimal_sessions_per_week"] < grid[-1], "the valued-attendance optimum is interior"


def test_null_has_no_policy_volume_or_week_effects(datasets):
    truth = datasets["null"].truth
    for name in ("mandatory_minus_optional_rating", "mandatory_minus_optional_retro", "attendance_week_slope",
                 "volume_slope_rating", "volume_slope_attendance"):
        assert truth[name] == 0.0, name
    assert truth["attendance_first_week"] == pytest.approx(truth["attendance_last_week"])
    assert truth["mandatory_minus_optional_attendance"] == pytest.approx(0.0, abs=1e-9)
    # flat attendance never halves: censored at the search horizon
    assert truth["attendance_half_life_weeks"] == estimands.half_life_horizon(datasets["null"].reference)


def test_selection_makes_raw_optional_ratings_flattering(datasets):
    d = simulate("selection", seed=7)
    assert d.truth["mandatory_minus_optional_rating"] == 0.0
    assert d.parameters["scholar_corr"] >= 0.6
    r = d.tables["ratings"].merge(d.tables["sessions"], on="session_id")
    means = r.groupby("policy")["rating"].mean()
    assert means["optional"] - means["mandatory"] > 0.3


def test_confounded_policy_varies_only_between_cohorts(datasets):
    s = datasets["confounded"].tables["sessions"]
    assert (s.groupby("cohort")["policy"].nunique() == 1).all()
    assert s["policy"].nunique() == 2


def test_identified_policy_varies_within_cohort_and_kind(datasets):
    s = datasets["identified"].tables["sessions"]
    assert (s[s["kind"] == "seminar"].groupby("cohort")["policy"].nunique() == 2).sum() >= 2
    assert len(s["cohort"].unique()) >= 3


def test_unknown_scenario_and_existing_folder_are_refused(tmp_path):
    with pytest.raises(UsageError, match="mats-history"):
        write_scenario("no-such-scenario", seed=1, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UsageError):
        write_scenario("null", seed=1, out=out, scale=SCALE)
    assert (out / "keep.txt").read_text() == "mine"
    write_scenario("null", seed=1, out=out, scale=SCALE, force=True)
    assert not (out / "keep.txt").exists() and (out / "truth.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ds"], "no temporary folders left behind"


def test_simulated_dataset_validates(tmp_path):
    from typer.testing import CliRunner

    from mats_eval.cli import app

    runner = CliRunner()
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--scenario", "mats-history", "--seed", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["validate", str(out)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_scenario_loads(written, name):
    data = mats_eval.data.io.load(written[name])
    assert len(data.attendance) > 0 and data.implied_attendance >= 0


def test_ratings_carry_a_session_effect_of_the_true_sd_and_nothing_else_moves(datasets, monkeypatch):
    """e′_s ~ N(0, rating_session_sd) per session, in every scenario; it has its own random stream,
    so removing it changes the ratings and nothing else of the dataset."""
    from dataclasses import replace

    from mats_eval.simulation import scenarios

    for name, d in datasets.items():
        assert d.parameters["rating_session_sd"] == 0.3, name
        effects = d.latent["session_rating"]
        assert list(effects.index) == list(d.tables["sessions"]["session_id"])
        # sd of n normal draws: standard error ≈ σ/√(2n)
        assert abs(effects.std() - 0.3) < 4 * 0.3 / np.sqrt(2 * len(effects)), (name, effects.std())
    make = SCENARIOS["identified"]

    def without_session_effects(rng):
        scenario = make(rng)
        return replace(scenario, params={**scenario.params, "rating_session_sd": 0.0})

    monkeypatch.setitem(SCENARIOS, "identified", without_session_effects)
    without = simulate("identified", seed=7, scale=SCALE)
    with_effects = datasets["identified"]
    assert (without.latent["session_rating"] == 0).all()
    for table in ("sessions", "scholars", "attendance", "retrospective"):
        pd.testing.assert_frame_equal(without.tables[table], with_effects.tables[table])
    assert not without.tables["ratings"]["rating"].equals(with_effects.tables["ratings"]["rating"])
    assert without.truth["mandatory_minus_optional_rating"] != with_effects.truth["mandatory_minus_optional_rating"]
    assert scenarios.BASE_PARAMS["rating_session_sd"] == 0.3


@pytest.mark.parametrize("name", ["relevance", "relevance-penalty"])
def test_relevance_scenarios_put_sessions_on_streams(name):
    data = simulate(name, seed=2, scale=SCALE)
    sessions = data.tables["sessions"]
    topics, streams = sessions["topic"], set(data.tables["scholars"]["stream"])
    assert set(topics) <= streams | {"general"}
    assert (topics[sessions["kind"] == "seminar"] == "general").mean() < 0.4  # most seminars are on a stream
    assert (topics[sessions["kind"] == "social"] == "general").all()
    assert data.program_data().has_topics and 0.2 < data.reference.relevant_share < 0.6
    truth = data.truth
    # no own penalty in `relevance`, one in `relevance-penalty`; the session mix lowers mandatory ratings in both
    own = truth["mandatory_minus_optional_rating_at_equal_relevance"]
    assert (own == 0.0) if name == "relevance" else (own < -0.3)
    assert truth["relevance_part_of_rating_gap"] < -0.2
    # relevant sessions are attended more: the optional attendees are on their own stream more often
    pairs = data.tables["attendance"].merge(data.tables["sessions"], on="session_id").merge(
        data.tables["scholars"][["scholar_id", "stream"]], on="scholar_id")
    optional = pairs[pairs["policy"] == "optional"]
    on_stream = (optional["topic"] == optional["stream"]) | (optional["topic"] == "general")
    assert optional.loc[on_stream, "attended"].mean() > optional.loc[~on_stream, "attended"].mean() + 0.25


def test_scenarios_without_topics_have_no_topic_column_and_no_relevance_truth():
    data = simulate("identified", seed=2, scale=SCALE)
    assert "topic" not in data.tables["sessions"] and data.reference.relevant_share is None
    assert "relevance_part_of_rating_gap" not in data.truth
