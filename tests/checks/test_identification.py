"""Identification of the policy effect from the design, effects notes, refit-free prior sensitivity."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mats_eval.checks.identification import (
    VOLUME_WITHIN_SHARE_MIN, add_notes, identification, judge, prior_sensitivity, volume_identification,
)
from mats_eval.simulation.scenarios import simulate


@pytest.mark.parametrize("scenario", ["identified", "null", "selection"])
def test_within_cohort_variation_is_identified(scenario):
    ident = identification(simulate(scenario, seed=1, scale=0.2).program_data())
    assert ident["sessions"]["verdict"] == "identified"
    assert ident["retro"]["verdict"] == "identified"
    assert ident["verdict"] == "identified"
    assert ident["confounded"] is False
    assert "within_cohort" in ident["sessions"]["by_kind"].values()


def test_confounded_scenario_is_flagged():
    ident = identification(simulate("confounded", seed=1, scale=0.2).program_data())
    assert ident["confounded"] is True
    assert ident["verdict"] == "confounded"
    assert ident["sessions"]["verdict"] == "confounded"
    assert set(ident["sessions"]["by_kind"].values()) == {"between_cohorts"}
    assert ident["retro"]["verdict"] == "confounded"
    assert ident["needs_sensitivity"] is True
    assert ident["sessions"]["note"].startswith("confounded with cohort")


def test_mats_history_is_only_weakly_identified():
    """Seminars mandatory in one cohort, optional later: each kind changes only between cohorts."""
    ident = identification(simulate("mats-history", seed=1, scale=0.2).program_data())
    assert ident["sessions"]["verdict"] == "identified_across_kinds"
    assert ident["sessions"]["by_kind"]["seminar"] == "between_cohorts"
    assert ident["confounded"] is False and ident["needs_sensitivity"] is True
    assert ident["sessions"]["note"].startswith("weakly identified")


def test_judge_edge_cases():
    rows = pd.DataFrame({"cohort": ["A", "A", "B"], "kind": ["x", "y", "x"], "policy": ["optional"] * 3})
    assert judge(rows, "kind")["verdict"] == "no_variation"
    # policy follows kind, not cohort: x always mandatory, y always optional -> confounded with kind
    rows = pd.DataFrame({"cohort": ["A", "A", "B", "B"], "kind": ["x", "y", "x", "y"],
                         "policy": ["mandatory", "optional", "mandatory", "optional"]})
    assert judge(rows, "kind")["verdict"] == "confounded"


def test_notes_on_policy_rows_only():
    ident = identification(simulate("confounded", seed=1, scale=0.2).program_data())
    effects = pd.DataFrame({"estimand": ["mandatory_minus_optional_rating", "attendance_week_slope",
                                         "mandatory_minus_optional_retro"], "mean": [0.0, 0.0, 0.0],
                            "hdi_low": [-0.1] * 3, "hdi_high": [0.1] * 3, "scale": ["rating points"] * 3})
    noted = add_notes(effects, ident).set_index("estimand")["note"]
    assert noted["mandatory_minus_optional_rating"].startswith("confounded with cohort")
    assert noted["mandatory_minus_optional_retro"].startswith("confounded with cohort")
    assert noted["attendance_week_slope"] == ""
    # a row's own note survives; policy rows get their verdict first, then their own note
    effects["note"] = ["", "kept", "own note"]
    noted = add_notes(effects, ident).set_index("estimand")["note"]
    assert noted["attendance_week_slope"] == "kept"
    assert noted["mandatory_minus_optional_retro"].startswith("confounded with cohort")
    assert noted["mandatory_minus_optional_retro"].endswith("; own note")
    assert add_notes(add_notes(effects, ident), ident).equals(add_notes(effects, ident))  # not said twice


class _FakeTree(dict):
    """Just enough of a DataTree for a model's canonical parameters: tree['posterior'][name]."""


def test_prior_sensitivity_reweighting_matches_the_prior_when_data_are_silent(monkeypatch):
    """With a flat likelihood the posterior is the prior; reweighting to sd×2 must give sd×2."""
    import mats_eval.models as models

    rng = np.random.default_rng(0)
    beta = rng.normal(0.0, 1.0, 8000)
    monkeypatch.setattr(models, "estimand_draws", lambda model, idata, ref, **kw: {"mandatory_minus_optional_rating": beta})
    monkeypatch.setattr(models, "canonical_parameters", lambda idata, data, **kw: {"rating_mandatory": beta})
    priors = {"rating_mandatory": ("Normal", {"mu": 0.0, "sigma": 1.0})}
    table = prior_sensitivity(None, None, priors, factors=(0.5, 2.0)).set_index("scale_factor")
    assert table.loc[1.0, "sd"] == pytest.approx(1.0, abs=0.05)
    assert table.loc[0.5, "sd"] == pytest.approx(0.5, abs=0.05)
    assert bool(table.loc[0.5, "reliable"])
    assert table.loc[0.5, "pareto_k"] < 0.5
    # widening: the weights exp(3x²/8) have infinite variance (true k = 3/4); the estimate moves
    # the right way but the diagnostic must show the strain
    assert table.loc[2.0, "sd"] > 1.1
    assert table.loc[2.0, "pareto_k"] > 0.5


# --- confounding labels and volume ------------------------------------------------------

def test_tipping_point_of_an_assumed_contrast():
    """Confounded: a cohort gap of |upper end| points brings the interval to zero, |mean| cancels it."""
    ident = identification(simulate("confounded", seed=1, scale=0.2).program_data())
    effects = pd.DataFrame({"estimand": ["mandatory_minus_optional_rating", "mandatory_minus_optional_attendance"],
                            "scale": ["rating points", "percentage points"], "mean": [-0.6, 12.0],
                            "hdi_low": [-1.0, -3.0], "hdi_high": [-0.25, 25.0]})
    noted = add_notes(effects, ident).set_index("estimand")["note"]
    assert noted["mandatory_minus_optional_rating"].startswith("confounded with cohort")
    assert "a cohort difference of 0.25 rating points would bring the interval to zero" in noted.iloc[0]
    assert "one of 0.60 would cancel the estimate" in noted.iloc[0]
    assert "the interval already includes zero" in noted["mandatory_minus_optional_attendance"]
    identified = identification(simulate("identified", seed=1, scale=0.2).program_data())
    assert "tipping point" not in add_notes(effects, identified)["note"].iloc[0]


def test_unidentified_policy_notes_make_prob_positive_conditional():
    confounded = identification(simulate("confounded", seed=1, scale=0.2).program_data())
    weak = identification(simulate("mats-history", seed=1, scale=0.2).program_data())
    assert "prob_positive is conditional" in confounded["sessions"]["note"]
    assert "prob_positive holds only if" in weak["sessions"]["note"]
    identified = identification(simulate("identified", seed=1, scale=0.2).program_data())
    assert "prob_positive" not in identified["sessions"]["note"]


def test_volume_between_cohorts_is_weakly_identified():
    """mats-history: seminars run ~7 a week in one cohort and ~2.5 in the others."""
    ident = identification(simulate("mats-history", seed=1, scale=0.2).program_data())
    volume = ident["volume"]
    assert volume["verdict"] == "weakly_identified"
    assert volume["within_share"] < VOLUME_WITHIN_SHARE_MIN and volume["sd_between"] > volume["sd_within"]
    assert volume["note"].startswith("weakly identified") and "prob_positive" in volume["note"]
    assert ident["verdict"] == "identified_across_kinds"  # the policy verdict is unchanged by volume
    effects = pd.DataFrame({"estimand": ["volume_slope_rating", "optimal_sessions_per_week", "cohort_sd_rating"],
                            "note": ["", "in 10% of draws the optimum is at the largest volume", ""]})
    noted = add_notes(effects, ident).set_index("estimand")["note"]
    assert noted["volume_slope_rating"] == volume["note"]
    assert noted["optimal_sessions_per_week"].startswith("in 10% of draws")  # its own note is kept ...
    assert noted["optimal_sessions_per_week"].endswith(volume["note"])        # ... and the verdict added
    assert noted["cohort_sd_rating"] == ""


@pytest.mark.parametrize("scenario", ["identified", "null"])
def test_volume_varying_within_cohorts_is_identified(scenario):
    ident = identification(simulate(scenario, seed=1, scale=0.2).program_data())
    assert ident["volume"]["verdict"] == "identified" and ident["volume"]["note"] == ""
    effects = pd.DataFrame({"estimand": ["volume_slope_rating"], "note": [""]})
    assert add_notes(effects, ident)["note"].iloc[0] == ""


def test_volume_verdict_edge_cases():
    def sessions(weekly: dict[str, list[int]]) -> pd.DataFrame:
        """One kind; cohort c runs weekly[c][w] sessions in week w + 1 (so that is their volume)."""
        return pd.DataFrame([{"session_id": f"{c}-{w}-{i}", "cohort": c, "week": w + 1, "kind": "seminar"}
                             for c, counts in weekly.items() for w, v in enumerate(counts) for i in range(v)])

    assert volume_identification(sessions({"A": [2, 2], "B": [2, 2]}))["verdict"] == "no_variation"
    assert volume_identification(sessions({"A": [2, 2], "B": [5, 5]}))["verdict"] == "confounded"
    assert volume_identification(sessions({"A": [1, 3], "B": [1, 3]}))["verdict"] == "identified"
    weak = volume_identification(sessions({"A": [2, 3], "B": [7, 8]}))
    assert weak["verdict"] == "weakly_identified" and 0 < weak["within_share"] < VOLUME_WITHIN_SHARE_MIN


# --- the cohort prior's possible bias, in effects.csv's note ------------------------------------

ACROSS_KINDS = {"sessions": {"verdict": "identified_across_kinds"}, "retro": {"verdict": "identified"}}


def _sensitivity_rows(estimand: str, default: float, cohort: dict, reliable=True, note="",
                      method="reweighted") -> list[dict]:
    label = "cohort sd prior sd x{:g} (rating_cohort_sd)"
    rows = [{"estimand": estimand, "prior": "default", "scale_factor": 1.0, "mean": default, "reliable": True,
             "note": ""},
            {"estimand": estimand, "prior": "policy effect prior sd x2 (rating_mandatory)", "scale_factor": 2.0,
             "mean": default - 5.0, "reliable": True, "note": ""}]  # not the cohort prior: never in the clause
    rows += [{"estimand": estimand, "prior": label.format(f), "scale_factor": f, "mean": m, "reliable": reliable,
              "method": method, "note": note} for f, m in cohort.items()]
    return rows


def test_cohort_prior_note_states_the_estimates_and_the_largest_shift():
    from mats_eval.checks.identification import add_cohort_prior_notes

    effects = pd.DataFrame({"estimand": ["mandatory_minus_optional_rating", "mandatory_minus_optional_attendance",
                                         "attendance_week_slope"],
                            "scale": ["rating points", "percentage points", "logit per week"],
                            "note": ["weakly identified: policy changes only between cohorts", "", ""]})
    table = pd.DataFrame(_sensitivity_rows("mandatory_minus_optional_rating", -0.78, {0.5: -0.89, 2.0: -0.73})
                         + _sensitivity_rows("mandatory_minus_optional_attendance", 52.8, {0.5: 51.4, 2.0: 55.9}))
    out = add_cohort_prior_notes(effects, table, ACROSS_KINDS)
    rating, attendance, other = out["note"]
    assert rating.startswith("weakly identified: policy changes only between cohorts; cohort prior: ")
    assert "assumed to differ half or twice as much (cohort-sd prior x0.5 or x2), the estimate is -0.89 or -0.73 " \
           "rather than -0.78" in rating
    assert rating.endswith("may alone move it by up to 0.11 rating points")  # |−0.89 − (−0.78)| > |−0.73 − (−0.78)|
    assert "51 or 56 rather than 53" in attendance and attendance.endswith("up to 3 percentage points")
    assert other == ""  # no sensitivity rows: no clause
    assert add_cohort_prior_notes(out, table, ACROSS_KINDS)["note"].tolist() == out["note"].tolist()  # said once
    assert add_cohort_prior_notes(effects, None, ACROSS_KINDS) is effects
    # a contrast identified within cohorts does not rest on the cohort prior: no clause
    within = {"sessions": {"verdict": "identified"}, "retro": {"verdict": "identified"}}
    assert add_cohort_prior_notes(effects, table, within)["note"].tolist() == effects["note"].tolist()


def test_cohort_prior_note_uses_only_rows_that_can_be_trusted():
    from mats_eval.checks.identification import add_cohort_prior_notes

    effects = pd.DataFrame({"estimand": ["mandatory_minus_optional_rating"], "scale": ["rating points"], "note": [""]})
    unreliable = pd.DataFrame(_sensitivity_rows("mandatory_minus_optional_rating", -0.78, {0.5: -2.0},
                                                reliable=False, note="Pareto k > 0.7: reweighting unreliable"))
    assert add_cohort_prior_notes(effects, unreliable, ACROSS_KINDS)["note"].iloc[0] == ""  # a guess is not stated as a bias
    refitted = pd.DataFrame(_sensitivity_rows("mandatory_minus_optional_rating", -0.78, {0.5: -0.9}, reliable=False,
                                              note="refitted under this prior (Pareto k 0.95 > 0.7)", method="refitted"))
    note = add_cohort_prior_notes(effects, refitted, ACROSS_KINDS)["note"].iloc[0]
    assert "differ half as much (cohort-sd prior x0.5), the estimate is -0.90 rather than -0.78" in note and "up to 0.12 rating points" in note
    assert note.endswith("(in part from a refit that failed the diagnostics gate: indicative)")
