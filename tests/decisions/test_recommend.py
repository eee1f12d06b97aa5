"""One objective for V* and the plans; ties, sensitivity, the candidate grid, the utility block."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mats_eval.decisions import plans as decisions
from mats_eval.decisions import recommend
from mats_eval.decisions.utility import Utility
from mats_eval.errors import UsageError
from mats_eval.estimands import kernels, registry
from mats_eval.estimands.summary import volume_curve
from mats_eval.simulation import scenarios

from tests.decisions.test_decisions import REF, synthetic_params

EXAMPLE = Path(__file__).resolve().parents[2] / "analyses" / "plans" / "example.yaml"
SMALL_REF = kernels.Reference(kind="seminar", volume=3.0, n_weeks=4, rating_week=2.5, session_scale=(1, 10),
                              volume_grid=tuple(np.arange(1.0, 8.01, 0.5)))


def keen_params(draws: int = 40) -> dict:
    """Synthetic draws with correlated scholars and a volume optimum inside the grid."""
    p = synthetic_params(draws, attendance_volume=-0.3, rating_volume=-0.25)
    p["scholar_corr"] = np.full(draws, 0.5)
    return p


def test_volume_optimum_is_the_argmax_of_the_plan_comparison_on_the_same_draws():
    """V* (the registry, default utility) per draw = the best of the even optional one-kind plans at
    each grid volume; the plan comparison's best = the volume curve's best_expected volume."""
    p = keen_params()
    grid = SMALL_REF.volume_grid
    plans = [decisions.Plan(f"{v:g}", SMALL_REF.n_weeks, {"seminar": v}) for v in grid]
    comparison = decisions.evaluate_plans({"seminar": p}, plans, SMALL_REF, Utility())
    per_draw_best = np.asarray(grid)[comparison.utility.to_numpy().argmax(axis=1)]
    optimum = registry.estimand_draws(p, SMALL_REF, names=("optimal_sessions_per_week",))["optimal_sessions_per_week"]
    np.testing.assert_array_equal(per_draw_best, optimum)
    assert len(set(optimum)) > 1  # the draws disagree, so the check is not trivial
    assert 1.0 < optimum.mean() < 8.0
    curve = volume_curve(p, SMALL_REF)
    assert float(comparison.best) == curve.loc[curve["best_expected"], "volume"].iloc[0]
    # and U(V) · weeks is the plans' expected utility
    means = comparison.table.set_index("plan")["utility_mean"]
    inside = curve[~curve["extrapolated"]].set_index("volume")["mean"]
    np.testing.assert_allclose([means[f"{v:g}"] for v in grid], inside.loc[list(grid)] * SMALL_REF.n_weeks)


def _comparison(valued: dict, attended: dict, draws: int = 1, **settings) -> decisions.PlanComparison:
    """A comparison from per-draw valued and attended hours (the sensitivity's only inputs)."""
    names = list(valued)
    q = pd.DataFrame({n: np.broadcast_to(np.asarray(valued[n], dtype=float), (draws,)) for n in names})
    h = pd.DataFrame({n: np.broadcast_to(np.asarray(attended[n], dtype=float), (draws,)) for n in names})
    utility = Utility(**settings)
    u = utility.total(q.to_numpy(), h.to_numpy())
    table = decisions.comparison_table(names, u, {"valued_hours": q.mean().to_numpy()}, utility.tie_threshold)
    return decisions.PlanComparison(table, pd.DataFrame(), pd.DataFrame(u, columns=names), utility, q, h)


def test_practically_tied_plans_are_reported_as_a_tie_not_a_winner():
    tied = _comparison({"A": 10.0, "B": 9.9}, {"A": 10.0, "B": 9.9})  # U 5.0 and 4.95
    assert tied.tied == ["A", "B"] and tied.table["tied_with_best"].all()
    sentence = recommend.recommendation_sentence(tied)
    assert "practically tied" in sentence and "“A” and “B”" in sentence
    clear = _comparison({"A": 10.0, "B": 6.0}, {"A": 10.0, "B": 10.0}, tie_threshold=0.25)
    assert clear.tied == ["A"]
    assert recommend.recommendation_sentence(clear).startswith("Run “A”")
    # the same gap is a tie under a wider threshold the lead sets
    assert _comparison({"A": 10.0, "B": 6.0}, {"A": 10.0, "B": 10.0}, tie_threshold=5).tied == ["A", "B"]


def test_what_would_change_finds_the_break_even_research_cost():
    """A: Q 10, H 10; B: Q 6, H 4. E[U_A − U_B] = 4v − 6c: B wins when an attended hour costs more than 2/3."""
    comparison = _comparison({"A": 10.0, "B": 6.0}, {"A": 10.0, "B": 4.0}, research_hour_cost=0.5)
    runs = recommend.cost_switches(comparison)
    assert runs["plan"].tolist() == ["A", "B"] and runs["cost_to"].iloc[0] == 0.66
    sentence = recommend.what_would_change(comparison)
    assert "between 0 and 0.66" in sentence and "more than 0.66, “B”" in sentence


def test_sensitivity_table_covers_the_grid_and_the_leads_setting():
    rng = np.random.default_rng(1)
    comparison = _comparison({"A": 10 + rng.normal(0, 1, 200), "B": 6 + rng.normal(0, 1, 200)},
                             {"A": 10.0, "B": 4.0}, draws=200, research_hour_cost=0.6)
    table = recommend.sensitivity_table(comparison, values=(1.0, 2.0), costs=(0.0, 1.0))
    assert len(table) == 2 * 3 and table["lead_setting"].sum() == 1
    lead = table[table["lead_setting"]].iloc[0]
    assert lead["best_plan"] == comparison.best and lead["research_hour_cost"] == 0.6
    best = table.set_index(["value_per_attended_hour", "research_hour_cost"])["best_plan"]
    # the ranking follows cost/value: B (fewer attended hours) wins once cost/value > 2/3
    assert best[(1.0, 0.0)] == best[(2.0, 0.0)] == best[(2.0, 1.0)] == "A" and best[(1.0, 1.0)] == "B"
    assert table["prob_best"].between(0, 1).all()


def test_write_plans_adds_sensitivity_and_recommendation(tmp_path):
    plans, utility = decisions.load_plans(EXAMPLE)
    from tests.decisions.test_decisions import synthetic_params_by_kind

    comparison = decisions.evaluate_plans(synthetic_params_by_kind(60), plans, REF, utility)
    decisions.write_plans(tmp_path, comparison)
    rec = json.loads((tmp_path / recommend.RECOMMENDATION_FILE).read_text())
    assert rec["best_plan"] == comparison.best and rec["utility"]["research_hour_cost"] == 0.5
    assert rec["sentence"] and rec["what_would_change"] and isinstance(rec["tie"], bool)
    assert (tmp_path / recommend.SENSITIVITY_FILE).is_file()
    stored = decisions.plans_from_run(tmp_path)
    assert stored.settings == utility and stored.tied == comparison.tied
    assert stored.table["expected_rating"].notna().all()


def test_candidate_grid_is_every_combination():
    plans = decisions.candidate_plans(["seminar", "discussion_group"], {"seminar": [1, 2], "discussion_group": [0, 1]},
                                      {"seminar": ["optional", "mandatory"], "discussion_group": ["optional"]},
                                      ["even", "front-loaded"], weeks=8, hours={"discussion_group": 1.5})
    assert len(plans) == 2 * 2 * 2 * 2  # seminar volume × policy × discussion group on/off × schedule
    assert len({p.name for p in plans}) == len(plans)
    without_dg = [p for p in plans if "discussion_group" not in p.sessions]
    assert len(without_dg) == 8 and all(p.hours == {} for p in without_dg)
    one = next(p for p in plans if p.name == "seminar 2/week mandatory + discussion_group 1/week optional, front-loaded")
    assert one.weeks == 8 and one.is_mandatory("seminar") and one.session_hours("discussion_group") == 1.5
    assert one.volume("seminar")[0] == 3.0


def test_grid_block_in_yaml_adds_candidates():
    doc = {"grid": {"weeks": 4, "sessions": {"seminar": [1, 3]}, "schedule": ["even", "front-loaded"]},
           "plans": [{"name": "mine", "weeks": 4, "sessions": {"seminar": 2}}]}
    plans, _ = decisions.plans_from_dict(doc)
    assert [p.name for p in plans][0] == "mine" and len(plans) == 5
    with pytest.raises(UsageError, match="grid.sesions"):
        decisions.plans_from_dict({"grid": {"sesions": {"seminar": [1]}}})
    with pytest.raises(UsageError, match="grid.sessions.seminar: must be a number"):
        decisions.plans_from_dict({"grid": {"weeks": 4, "sessions": {"seminar": [1, "two"]}}})
    with pytest.raises(UsageError, match="policy.seminar"):
        decisions.plans_from_dict({"grid": {"weeks": 4, "sessions": {"seminar": [1]}, "policy": "sometimes"}})


@pytest.mark.parametrize("utility, message", [
    ({"research_cost": 0.5}, "utility.research_cost: unknown key (allowed: value_per_attended_hour, research_hour_cost, "
                             "worthless_below, tie_threshold)"),
    ({"research_hour_cost": -1}, "utility.research_hour_cost: must be a number >= 0"),
    ({"tie_threshold": "small"}, "utility.tie_threshold: must be a number >= 0"),
    ("cheap", "utility: must be a mapping"),
])
def test_utility_block_is_validated_with_the_valid_names(utility, message):
    with pytest.raises(UsageError) as err:
        decisions.plans_from_dict({"utility": utility, "plans": [{"name": "a", "weeks": 2, "sessions": {"seminar": 1}}]})
    assert message in str(err.value)


def test_utility_block_settings_reach_the_comparison():
    plans, utility = decisions.plans_from_dict({
        "utility": {"value_per_attended_hour": 2, "research_hour_cost": 0.25, "worthless_below": 5, "tie_threshold": 1},
        "plans": [{"name": "a", "weeks": 2, "sessions": {"seminar": 1}}]})
    assert utility == Utility(2.0, 0.25, 5.0, 1.0)
    floored = decisions.evaluate_plans({"seminar": synthetic_params(20)}, plans, REF, utility)
    linear = decisions.evaluate_plans({"seminar": synthetic_params(20)}, plans, REF, Utility(2.0, 0.25))
    assert floored.table["valued_hours"].iloc[0] < linear.table["valued_hours"].iloc[0]
    with pytest.raises(UsageError, match="worthless_below"):
        decisions.evaluate_plans({"seminar": synthetic_params(20)}, plans, REF, Utility(worthless_below=10))


@pytest.mark.parametrize("scenario", list(scenarios.SCENARIOS))
def test_every_scenarios_true_optimum_is_its_best_even_optional_plan(scenario):
    """On each simulator scenario's truth: the registry's V* (truth.json) = the best of the plan comparison
    over even optional plans of the reference kind at the grid's volumes (one objective)."""
    sim = scenarios.simulate(scenario, seed=3, scale=0.1)
    ref = sim.reference
    p = scenarios.canonical_parameters(sim.parameters, ref)
    plans = [decisions.Plan(f"{v:g}", ref.n_weeks, {ref.kind: v}) for v in ref.volume_grid]
    best = decisions.evaluate_plans({ref.kind: p}, plans, ref).best
    assert float(best) == sim.truth["optimal_sessions_per_week"]
    assert not ref.is_extrapolated(sim.truth["optimal_sessions_per_week"])


def test_plans_beyond_the_data_are_marked_and_the_recommendation_says_so():
    """A plan whose load leaves the cohorts' range, or that mandates a kind no cohort mandated, is
    marked with why; when it is the best, the sentence names the best plan within the data."""
    ref = dataclasses.replace(
        SMALL_REF, observed_volumes=(("A", 3.0, 2), ("B", 6.0, 2)),
        observed_policies=(("discussion_group", "optional"), ("seminar", "mandatory"), ("seminar", "optional")))
    inside = decisions.Plan("inside", 4, {"seminar": 3, "discussion_group": 1},
                            {"seminar": "mandatory", "discussion_group": "optional"})
    heavy = decisions.Plan("heavy", 4, {"seminar": 8}, {"seminar": "optional"})
    mandated = decisions.Plan("mandated dg", 4, {"seminar": 2, "discussion_group": 1},
                              {"discussion_group": "mandatory"})
    unseen = decisions.Plan("socials", 4, {"seminar": 2, "social": 1})
    assert decisions.beyond_the_data(inside, ref) == ""
    assert "weekly load (8 sessions) leaves the 3–6 a week" in decisions.beyond_the_data(heavy, ref)
    assert decisions.beyond_the_data(mandated, ref) == "no cohort ran mandatory discussion groups"
    assert decisions.beyond_the_data(unseen, ref) == "no cohort ran socials"
    # without the record (a reference.json written before it), nothing is marked
    assert decisions.beyond_the_data(heavy, SMALL_REF) == ""

    comparison = decisions.evaluate_plans({"seminar": keen_params(), "discussion_group": keen_params(),
                                           "social": keen_params()}, [inside, heavy, mandated], ref)
    table = comparison.table.set_index("plan")
    assert table.loc["inside", "beyond_the_data"] == "" and table.loc["heavy", "beyond_the_data"]
    # force the heavy plan to the top: the sentence names it as beyond the data and gives the alternative
    top = pd.concat([comparison.table[comparison.table["plan"] == "heavy"],
                     comparison.table[comparison.table["plan"] != "heavy"]], ignore_index=True)
    words = recommend.beyond_words(top)
    best_inside = top[top["beyond_the_data"] == ""].iloc[0]
    assert "“heavy” goes beyond the data (its weekly load" in words
    assert f"The best plan within the data is “{best_inside['plan']}”" in words
    assert recommend.beyond_words(top[top["plan"] == "inside"].reset_index(drop=True)) == ""
