"""The predictive check on the spread of per-session mean ratings (checks/predictive.session_mean_spread)."""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

import mats_eval
from mats_eval.checks import predictive as ppc
from mats_eval.data.design import build_design
from mats_eval.simulation.scenarios import SCENARIOS, simulate

STRONG_SESSION_SD = 1.0  # on the rating latent: a session one sd up rates ~1.5 points higher on 1–10
# a model "without" session effects: the same model with their sd pinned near 0 by its prior
NO_SESSION_EFFECTS = {"rating_session_sd": {"dist": "HalfNormal", "sigma": 0.001}}


def test_spread_is_the_sd_of_session_means_on_a_toy_design():
    # scale 0 (1..5): session 0 has codes 0, 2 (mean 1), session 1 codes 3, 3, 3 (mean 3), session 2 one rating
    session = np.array([0, 0, 1, 1, 1, 2])
    observed = np.array([0, 2, 3, 3, 3, 4])
    simulated = np.array([[1, 1, 1, 1, 1, 0],    # both session means 1: spread 0
                          [0, 0, 4, 4, 4, 0]])   # means 0 and 4: spread sd(0, 4) = 2√2
    table = ppc.session_mean_spread(observed, simulated, session, np.zeros(6, int), [(1, 5)], min_ratings=2)
    row = table.iloc[0]
    assert (row["n_sessions"], row["n"]) == (2, 5)  # session 2 has too few ratings
    assert row["observed"] == pytest.approx(np.std([1, 3], ddof=1))
    assert row["predicted_mean"] == pytest.approx(np.sqrt(8) / 2)
    assert row["p_value"] == 0.5  # one draw of two at least as spread as the data


@pytest.fixture(scope="module")
def strong_sessions():
    """The identified scenario with strong session effects on ratings (sd 1.0), a fifth of its scholars."""
    make = SCENARIOS["identified"]

    def strong(rng):
        scenario = make(rng)
        return replace(scenario, params={**scenario.params, "rating_session_sd": STRONG_SESSION_SD})

    SCENARIOS["strong-sessions"] = strong
    try:
        return simulate("strong-sessions", seed=4, scale=0.2).program_data()
    finally:
        del SCENARIOS["strong-sessions"]


def _spread(program, priors=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains may fail the gate; the check is what is tested
        result = mats_eval.fit(program, model="ratings", draws=200, tune=200, chains=2, seed=1, progress=False,
                               priors=priors, checks=False)
    design = build_design(program)
    simulated = ppc.predictive_draws(result.model, result.idata, draws=200, seed=2)
    return ppc.summarise(design, simulated)["session_mean_spread"].iloc[0]


@pytest.mark.slow
def test_check_flags_a_model_without_session_effects_and_passes_the_model_with_them(strong_sessions):
    with_effects = _spread(strong_sessions)
    assert with_effects["n_sessions"] >= 100
    assert with_effects["predicted_low"] <= with_effects["observed"] <= with_effects["predicted_high"], with_effects
    assert 0.05 < with_effects["p_value"] < 0.95
    without = _spread(strong_sessions, NO_SESSION_EFFECTS)
    assert without["observed"] > without["predicted_high"], without  # too little spread predicted
    assert without["p_value"] < 0.05
    assert without["observed"] == with_effects["observed"]
