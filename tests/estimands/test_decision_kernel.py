"""The decision model's kernel: E[a·worth] over correlated scholar effects, and V* within the data's volumes."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mats_eval.estimands import kernels as k
from mats_eval.estimands import registry
from mats_eval.estimands.summary import volume_curve
from mats_eval.simulation import scenarios

REF = k.Reference(kind="seminar", volume=3.0, n_weeks=6, rating_week=3.5, session_scale=(1, 10),
                  volume_grid=tuple(np.arange(1.0, 6.01, 0.5)),
                  observed_volumes=(("A", 1.0, 3), ("A", 2.0, 3), ("B", 6.0, 6)))


def truth(**changes) -> dict:
    """mats-history's true canonical parameters at the seminar (one draw), with `changes`."""
    sim = scenarios.simulate("mats-history", seed=3, scale=0.1)
    p = scenarios.canonical_parameters(sim.parameters, replace(REF, kind="seminar"))
    return {**p, **changes}


@pytest.mark.parametrize("mandatory", [0.0, 1.0])
def test_attended_worth_exceeds_product_of_averages_when_keen_scholars_attend(mandatory):
    """E[a·worth(Y)] > E[a]·E[worth(Y)] for ρ > 0, equal at ρ = 0; the rating of attended sessions likewise."""
    lo, hi = REF.session_scale
    for rho, compare in ((0.6, np.greater), (0.0, np.isclose)):
        p = truth(scholar_corr=rho)
        m = k.attended_session_moments(p, REF, 4.0, 3.0, mandatory)
        attend = k.attendance_probability(p, 4.0, 3.0, mandatory)
        rating = k.expected_session_rating(p, REF, 4.0, 3.0, mandatory)
        np.testing.assert_allclose(m["attend"], attend, rtol=1e-6)
        assert compare(m["worth"], attend * (rating - lo) / (hi - lo)).all()
        assert compare(m["rating"] / m["attend"], rating).all()


def test_worthless_below_threshold_lowers_worth_and_is_checked_against_the_scale():
    np.testing.assert_allclose(k.rating_worth((1, 5)), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(k.rating_worth((1, 5), worthless_below=3), [0, 0, 0, 0.5, 1])
    p = truth()
    linear = k.attended_session_moments(p, REF, 1.0, 2.0)
    floored = k.attended_session_moments(p, REF, 1.0, 2.0, worthless_below=6)
    assert (floored["worth"] < linear["worth"]).all() and np.allclose(floored["attend"], linear["attend"])
    with pytest.raises(ValueError, match="worthless_below"):
        k.rating_worth((1, 10), worthless_below=10)


def test_curve_is_net_of_research_time():
    """U(V) = V · mean_w E[a·(value·worth − cost)]: free sessions only add, costly ones can lose."""
    p = truth()
    free = k.valued_attendance_curve(p, REF, cost=0.0)
    costly = k.valued_attendance_curve(p, REF, cost=1.0)
    assert (free > 0).all() and (costly < free).all() and (costly < 0).all()


def test_optimum_never_outside_the_data_and_the_note_says_so_at_its_edge():
    sim = scenarios.simulate("mats-history", seed=3, scale=0.1)
    ref = sim.reference
    lo, hi = ref.volume_range
    assert min(ref.volume_grid) == lo and max(ref.volume_grid) == hi
    # returns that never turn down within the data: the optimum sits at the edge, and the note says so
    p = scenarios.canonical_parameters(sim.parameters, ref) | {"attendance_volume": 0.3, "rating_volume": 0.3}
    optimum = k.optimal_sessions_per_week(p, ref)
    assert optimum[0] == hi
    note = registry.ESTIMANDS["optimal_sessions_per_week"].note(optimum, ref)
    assert "edge of the data" in note and "extrapolation" in note
    # a V* beyond the data (a reference.json whose grid is wider) is marked extrapolated
    assert "extrapolated" in registry.ESTIMANDS["optimal_sessions_per_week"].note(np.array([hi + 2.0]), ref)
    assert registry.ESTIMANDS["optimal_sessions_per_week"].note(np.array([(lo + hi) / 2]), ref) == ""


def test_volume_curve_marks_extrapolation_and_the_cohorts_that_ran_each_volume():
    p = {n: np.atleast_1d(v) for n, v in truth().items()}
    curve = volume_curve(p, REF)
    assert curve["extrapolated"].tolist() == [not 1.0 <= v <= 6.0 for v in curve["volume"]]
    assert curve["extrapolated"].any()  # the stretch beyond the data is shown, and marked
    at = curve.set_index("volume")["observed_cohorts"]
    assert at[6.0] == "B (6 weeks)" and at[1.0] == "A (3 weeks)" and at[1.5] == ""
    best = curve.loc[curve["best_expected"], "volume"]
    assert len(best) == 1 and not REF.is_extrapolated(best.iloc[0])
    assert best.iloc[0] == k.optimal_sessions_per_week(truth(), REF)[0]  # one draw: the mean is the draw


def test_reference_keeps_observed_volumes_through_json():
    import json

    back = k.Reference(**{n: tuple(v) if isinstance(v, list) else v
                          for n, v in json.loads(json.dumps(REF.to_dict())).items()})
    assert back == REF and back.cohorts_at(2.0) == "A (3 weeks)"


def _per_point_curve(p: dict, ref, grid) -> np.ndarray:
    """U(V) the long way: the kernel at one (week, V) at a time, V·mean over weeks."""
    curve = np.zeros((len(p["attendance_intercept"]), len(grid)))
    for j, volume in enumerate(grid):
        for week in range(1, ref.n_weeks + 1):
            curve[:, j] += k.net_session_value(k.attended_session_moments(p, ref, float(week), volume), 1.0, 0.2)
        curve[:, j] *= volume / ref.n_weeks
    return curve


def random_draws(n: int, seed: int, **extra) -> dict:
    """n draws scattered ±20% around mats-history's truth, ρ across (−0.5, 0.8), and `extra` terms."""
    rng = np.random.default_rng(seed)
    p = {name: np.asarray(v, dtype=float) * (1 + 0.2 * rng.standard_normal((n,) + np.shape(v)[1:]))
         for name, v in (truth() | extra).items()}
    p["rating_cutpoints_ref"] = np.sort(p["rating_cutpoints_ref"], axis=1)
    p["scholar_corr"] = rng.uniform(-0.5, 0.8, n)
    return p


@pytest.mark.parametrize("extra", [{}, {"relevant_share": 0.4},
                                   {"relevant_share": 0.6, "attendance_floor_fraction": 0.3,
                                    "attendance_decay_rate": 0.2, "attendance_decay_rate_cohort_sd": 0.3}],
                         ids=["no relevance", "relevance", "relevance and decay"])
def test_curve_over_all_points_at_once_equals_the_point_by_point_kernel(extra, monkeypatch):
    """Weeks as a column and volumes as a row give U(V) in one evaluation, equal to the kernel at one
    point at a time (relevance mixed or not, linear or decaying attendance), in blocks of any size."""
    p = random_draws(7, seed=len(extra), **extra)
    monkeypatch.setattr(k, "_BLOCK_VALUES", 3 * 16 * 6 * k._VALUES_PER_POINT)  # blocks of 3 draws: 3 + 3 + 1
    assert k.has_relevance(p) == bool(extra)
    grid = np.arange(0.5, 8.01, 0.5)
    together = k.valued_attendance_curve(p, REF, grid, value=1.0, cost=0.2)
    assert together.shape == (7, len(grid))
    np.testing.assert_allclose(together, _per_point_curve(p, REF, grid), rtol=0, atol=1e-12)
    # and a grid of points keeps its shape, each point the scalar call's value
    moments = k.attended_session_moments(p, REF, np.array([[1.0], [4.0]]), np.array([[2.0, 5.5]]), 1.0, 6)
    assert moments["worth"].shape == (7, 2, 2)
    single = k.attended_session_moments(p, REF, 4.0, 5.5, 1.0, 6)
    for key, values in single.items():
        np.testing.assert_allclose(moments[key][:, 1, 1], values, rtol=0, atol=1e-12)
