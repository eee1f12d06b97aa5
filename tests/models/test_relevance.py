"""The relevance model (#17): it recovers the policy's own effect and the part of the gap that comes from
which sessions scholars sit through; data without topics are fitted exactly as before."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mats_eval
from mats_eval.data.design import build_design
from mats_eval.errors import UsageError
from mats_eval.models import build_model
from mats_eval.simulation.scenarios import simulate

FIT = dict(draws=300, tune=300, chains=2, seed=5, progress=False, checks=False)


def _fit(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains may miss the gate; recovery is what is tested
        return mats_eval.fit(data, **(FIT | kw))


def test_relevance_model_needs_topics():
    design = build_design(simulate("identified", seed=1, scale=0.1).program_data())
    with pytest.raises(UsageError, match="topics"):
        build_model("relevance", design)


def test_relevance_model_has_a_match_term_per_stream():
    data = simulate("relevance", seed=1, scale=0.1)
    with build_model("relevance", build_design(data.program_data())) as model:
        assert model.named_vars_to_dims["rating_relevance_stream"] == ("stream",)
        assert len(model.coords["stream"]) == len(set(data.tables["scholars"]["stream"]))


@pytest.mark.slow
def test_relevance_model_recovers_the_split_of_the_gap():
    """relevance-penalty: the policy's own effect (−0.56 points) and the relevance part (−0.36) within 3 sd."""
    data = simulate("relevance-penalty", seed=4, scale=0.35)
    result = _fit(data.program_data())  # the default model for data with topics
    assert result.manifest["model"]["name"] == "relevance"
    effects = result.effects.set_index("estimand")
    for name in ("mandatory_minus_optional_rating_at_equal_relevance", "relevance_part_of_rating_gap",
                 "mandatory_minus_optional_attendance", "volume_slope_rating"):
        row, truth = effects.loc[name], data.truth[name]
        assert abs(row["mean"] - truth) <= 3 * row["sd"], (name, row["mean"], row["sd"], truth)
    assert effects.loc["relevance_part_of_rating_gap", "hdi_high"] < 0  # the session mix is seen, not guessed


@pytest.mark.slow
def test_data_without_topics_fit_exactly_as_before():
    """No topic column, or only 'general' and blank topics: the joint model, and the same draws."""
    data = simulate("identified", seed=2, scale=0.12).program_data()
    before = _fit(data, draws=100, tune=100, chains=1)
    data.sessions["topic"] = np.where(np.arange(len(data.sessions)) % 2, "general", None)
    general = _fit(data, draws=100, tune=100, chains=1)
    assert before.manifest["model"]["name"] == general.manifest["model"]["name"] == "joint"
    assert "relevance_part_of_rating_gap" not in set(general.effects["estimand"])
    np.testing.assert_array_equal(before.effects["mean"].to_numpy(), general.effects["mean"].to_numpy())
