"""Identification of the policy effect from the design, effects notes, refit-free prior sensitivity."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mats_eval.checks.identification import add_notes, identification, judge, prior_sensitivity
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
                                         "mandatory_minus_optional_retro"], "mean": [0.0, 0.0, 0.0]})
    noted = add_notes(effects, ident).set_index("estimand")["note"]
    assert noted["mandatory_minus_optional_rating"].startswith("confounded with cohort")
    assert noted["mandatory_minus_optional_retro"].startswith("confounded with cohort")
    assert noted["attendance_week_slope"] == ""
    # a row's own note (effects.interval_note) survives; policy rows get their verdict
    effects["note"] = ["", "kept", "replaced"]
    noted = add_notes(effects, ident).set_index("estimand")["note"]
    assert noted["attendance_week_slope"] == "kept"
    assert noted["mandatory_minus_optional_retro"].startswith("confounded with cohort")


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
