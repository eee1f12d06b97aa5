"""Registry kernels on hand-made canonical parameter dicts: shapes, closed forms, censoring, signs."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import expit, logit
from scipy.stats import norm

from mats_eval.data.reference import Reference
from mats_eval.estimands import kernels as k
from mats_eval.estimands import registry
from mats_eval.estimands.summary import effects_from_draws

N = 4  # draws
REF = Reference(kind="seminar", volume=3.0, n_weeks=10, rating_week=5.5, session_scale=(1, 10),
                volume_grid=tuple(np.arange(0.5, 12.01, 0.25)), retro_scale=(1, 5), element="seminars",
                session_cells=((2.0, 2.0, 10.0), (5.5, 3.0, 30.0), (9.0, 6.0, 20.0)))


def canonical(n: int = N, **overrides) -> dict:
    """A canonical parameter dict of the linear form, every value an array over `n` draws."""
    p = {
        "attendance_intercept": 0.5, "attendance_kind_ref": 0.2, "attendance_mandatory": 1.5,
        "attendance_volume": -0.1, "attendance_week_slope": -0.15, "attendance_week_slope_mandatory": -0.02,
        "attendance_week_slope_cohort_sd": 0.03, "attendance_cohort_sd": 0.3, "attendance_scholar_sd": 0.8,
        "attendance_session_sd": 0.3,
        "rating_kind_ref": 0.1, "rating_mandatory": -0.5, "rating_volume": -0.15, "rating_week": 0.01,
        "rating_cohort_sd": 0.3, "rating_scholar_sd": 0.7, "rating_speaker_sd": 0.3, "rating_session_sd": 0.25,
        "retro_element_ref": 0.2, "retro_mandatory": -0.4, "retro_cohort_sd": 0.2, "retro_scholar_sd": 0.6,
    }
    p.update(overrides)
    out = {name: np.full(n, float(v)) if np.ndim(v) == 0 else np.asarray(v, dtype=float) for name, v in p.items()}
    out["rating_cutpoints_ref"] = np.tile(np.linspace(-3, 3, 9), (n, 1))
    out["retro_cutpoints_ref"] = np.tile(np.linspace(-2, 2, 4), (n, 1))
    return out


def floor_form(n: int = N, **overrides) -> dict:
    """The floor form's canonical dict: δ = 0 and no cohort slope spread, decay λ to a floor φ."""
    return canonical(n, **{"attendance_week_slope": 0.0, "attendance_week_slope_cohort_sd": 0.0,
                           "attendance_floor_fraction": 0.3, "attendance_decay_rate": 0.2,
                           "attendance_decay_rate_cohort_sd": 0.3, **overrides})


RELEVANCE = {"relevant_share": 0.4, "attendance_relevance": 1.5, "attendance_relevance_stream_sd": 0.3,
             "rating_relevance": 1.0, "rating_relevance_stream_sd": 0.2}


def with_relevance(p: dict, **overrides) -> dict:
    """p plus the relevance model's canonical parameters (every value over p's draws)."""
    n = len(p["attendance_intercept"])
    return p | {name: np.full(n, float(v)) for name, v in (RELEVANCE | overrides).items()}


def no_group_effects(**overrides) -> dict:
    sds = ("attendance_cohort_sd", "attendance_scholar_sd", "attendance_session_sd", "attendance_week_slope_cohort_sd")
    return {name: 0.0 for name in sds} | overrides


@pytest.mark.parametrize("form", [canonical, floor_form])
@pytest.mark.parametrize("name", list(registry.ESTIMANDS))
def test_every_kernel_gives_one_finite_value_per_draw(name, form):
    p = with_relevance(form())
    entry = registry.ESTIMANDS[name]
    assert entry.defined_by(p, REF)
    draws = np.asarray(entry.kernel(p, REF))
    assert draws.shape == (N,) and np.all(np.isfinite(draws)), (name, draws)


def test_registry_draws_and_rows_cover_every_estimand():
    draws = registry.estimand_draws(with_relevance(canonical()), REF)
    assert list(draws) == list(registry.ESTIMANDS)
    without = registry.estimand_draws(canonical(), REF)  # data without topics: those estimands are absent
    assert set(draws) - set(without) == {"mandatory_minus_optional_rating_at_equal_relevance",
                                         "relevance_part_of_rating_gap"}
    table = effects_from_draws(draws, REF)
    assert list(table["estimand"]) == list(registry.ESTIMANDS)
    assert table.set_index("estimand").loc["attendance_half_life_weeks", "interval"] == "90% equal-tailed"


# --- the unified attendance curve keeps the numbers of both forms ----------------------

def test_linear_form_week_slope_is_delta():
    p = canonical(attendance_week_slope=[-0.3, -0.1, 0.0, 0.2])
    np.testing.assert_array_equal(k.attendance_week_slope(p, REF), p["attendance_week_slope"])


def test_floor_form_week_slope_is_the_secant_of_the_population_curve():
    p = floor_form()
    first, last = k.attendance_first_week(p, REF), k.attendance_last_week(p, REF)
    secant = (logit(last) - logit(first)) / (REF.n_weeks - 1)
    np.testing.assert_allclose(k.attendance_week_slope(p, REF), secant, rtol=1e-12)
    assert np.all(secant < 0)


def test_floor_form_last_week_is_first_week_times_the_kept_share():
    """P_W = P_1 · E_z[φ + (1−φ)exp(−λ e^{σz}(W−1))], the z-integral done by scipy quad."""
    p = floor_form(n=1)
    phi, lam, sig = (float(p[n][0]) for n in ("attendance_floor_fraction", "attendance_decay_rate",
                                             "attendance_decay_rate_cohort_sd"))
    kept, _ = quad(lambda z: (phi + (1 - phi) * np.exp(-lam * np.exp(sig * z) * (REF.n_weeks - 1))) * norm.pdf(z),
                   -np.inf, np.inf)
    np.testing.assert_allclose(k.attendance_last_week(p, REF), k.attendance_first_week(p, REF) * kept, rtol=1e-9)


# --- attendance_half_life_weeks -------------------------------------------------------

def test_half_life_matches_the_closed_form_of_the_linear_curve():
    """No group effects: P(w) = logit⁻¹(a + δ(w−1)); t solves logit⁻¹(a + δt) = logit⁻¹(a)/2 (brentq)."""
    slopes = np.array([-0.5, -0.2, -0.08, -0.03])
    p = canonical(**no_group_effects(attendance_week_slope=slopes))
    a = float(p["attendance_intercept"][0] + p["attendance_kind_ref"][0] + p["attendance_volume"][0] * REF.volume)
    expected = [brentq(lambda t, d=d: expit(a + d * t) - expit(a) / 2, 0, k.half_life_horizon(REF)) for d in slopes]
    np.testing.assert_allclose(k.attendance_half_life_weeks(p, REF), expected, rtol=1e-8)


def test_half_life_of_the_floor_form_matches_its_closed_form():
    """δ = 0, no spread: P(1+t) = P₁(φ + (1−φ)e^{−λt}) = P₁/2  ⇔  t = −ln((1/2 − φ)/(1 − φ))/λ (φ < 1/2)."""
    phi, lam = np.array([0.0, 0.2, 0.4, 0.45]), np.array([0.3, 0.1, 0.5, 0.2])
    p = floor_form(attendance_floor_fraction=phi, attendance_decay_rate=lam, attendance_decay_rate_cohort_sd=0.0,
                   attendance_cohort_sd=0.5)  # group effects on the logit cancel in the ratio P(w)/P₁
    expected = -np.log((0.5 - phi) / (1 - phi)) / lam
    np.testing.assert_allclose(k.attendance_half_life_weeks(p, REF), expected, rtol=1e-8)


def test_half_life_with_group_effects_and_a_spread_decay_rate_matches_quadrature():
    """Logit noise and a log-normal cohort decay rate: the population curve by scipy quad, solved by brentq."""
    p = floor_form(n=1, attendance_week_slope=-0.05, attendance_floor_fraction=0.2, attendance_decay_rate=0.1)
    mean = float(p["attendance_intercept"][0] + p["attendance_kind_ref"][0] + p["attendance_volume"][0] * REF.volume)
    sd = float(np.sqrt(sum(p[n][0] ** 2 for n in ("attendance_cohort_sd", "attendance_scholar_sd",
                                                 "attendance_session_sd"))))
    phi, lam, sig = 0.2, 0.1, float(p["attendance_decay_rate_cohort_sd"][0])

    def curve(w):
        logit_part = quad(lambda z: expit(mean - 0.05 * (w - 1) + sd * z) * norm.pdf(z), -np.inf, np.inf)[0]
        kept = quad(lambda z: (phi + (1 - phi) * np.exp(-lam * np.exp(sig * z) * (w - 1))) * norm.pdf(z),
                    -np.inf, np.inf)[0]
        return logit_part * kept

    expected = brentq(lambda t: curve(1 + t) - curve(1) / 2, 0, k.half_life_horizon(REF))
    np.testing.assert_allclose(k.attendance_half_life_weeks(p, REF), [expected], rtol=1e-6)


def test_half_life_is_censored_at_the_horizon_for_a_flat_curve_and_the_note_says_so():
    p = canonical(attendance_week_slope=[0.0, 0.0, 0.1, -0.2], attendance_week_slope_cohort_sd=0.0)
    draws = k.attendance_half_life_weeks(p, REF)
    horizon = k.half_life_horizon(REF)
    assert horizon == 10 * REF.n_weeks
    np.testing.assert_array_equal(draws[:3], horizon)  # flat or rising: never halves
    assert 0 < draws[3] < REF.n_weeks - 1
    note = registry.ESTIMANDS["attendance_half_life_weeks"].note(draws, REF)
    assert "censored: in 75% of draws" in note and f"set to {horizon:g}" in note
    assert "extrapolated: in 75% of draws" in note


def test_half_life_within_the_programme_has_no_note():
    p = canonical(**no_group_effects(attendance_week_slope=-0.5))
    draws = k.attendance_half_life_weeks(p, REF)
    assert np.all(draws < REF.n_weeks - 1)
    assert registry.ESTIMANDS["attendance_half_life_weeks"].note(draws, REF) == ""


# --- mandatory_minus_optional_attendance ----------------------------------------------

def test_mandatory_minus_optional_attendance_sign_and_size():
    """No group effects: 100·(logit⁻¹(a + β_m + δ_m(w−1)) − logit⁻¹(a + δ(w−1))) at the middle week."""
    beta_m = np.array([1.0, 0.0, -1.0, 2.0])
    p = canonical(**no_group_effects(attendance_mandatory=beta_m))
    a = p["attendance_intercept"] + p["attendance_kind_ref"] + p["attendance_volume"] * REF.volume
    w0 = REF.rating_week - 1
    expected = 100 * (expit(a + beta_m + p["attendance_week_slope_mandatory"] * w0)
                      - expit(a + p["attendance_week_slope"] * w0))
    gap = k.mandatory_minus_optional_attendance(p, REF)
    np.testing.assert_allclose(gap, expected, rtol=1e-10)
    assert gap[0] > 0 and gap[2] < 0 and gap[3] > gap[0]


def test_mandatory_attendance_does_not_decay_to_the_floor():
    """Under the floor form only optional sessions lose attendance: the gap grows with the decay."""
    slow, fast = floor_form(attendance_decay_rate=0.01), floor_form(attendance_decay_rate=1.0)
    assert np.all(k.mandatory_minus_optional_attendance(fast, REF) > k.mandatory_minus_optional_attendance(slow, REF))


def test_a_new_sessions_rating_effect_is_integrated_like_any_other_group_effect():
    """Speaker and session effects are independent normals on the rating latent: only
    speaker_sd² + session_sd² matters for a new session, in the contrast and the decision kernel."""
    with_session = canonical(rating_speaker_sd=0.3, rating_session_sd=0.6)
    folded = canonical(rating_speaker_sd=float(np.hypot(0.3, 0.6)), rating_session_sd=0.0)
    without = canonical(rating_speaker_sd=0.3, rating_session_sd=0.0)
    np.testing.assert_allclose(k.rating_latent_sd(with_session), np.sqrt(0.3**2 + 0.7**2 + 0.3**2 + 0.6**2))
    contrast = {name: k.mandatory_minus_optional_rating(p, REF) for name, p in
                (("with", with_session), ("folded", folded), ("without", without))}
    np.testing.assert_allclose(contrast["with"], contrast["folded"], rtol=1e-12)
    # more latent spread flattens the population contrast in points (the cutpoints are evenly spread)
    assert np.all(np.abs(contrast["with"]) < np.abs(contrast["without"]) - 1e-3)
    moments = {name: k.attended_session_moments(p, REF, 3.0, 3.0) for name, p in
               (("with", with_session), ("folded", folded), ("without", without))}
    for key in ("attend", "worth", "rating"):
        np.testing.assert_allclose(moments["with"][key], moments["folded"][key], rtol=1e-10)
    assert np.all(np.abs(moments["with"]["worth"] - moments["without"]["worth"]) > 1e-4)


# --- relevance: a new session is relevant to a new scholar with probability π -------------

def test_without_relevance_terms_the_kernels_are_unchanged():
    p = canonical()
    np.testing.assert_array_equal(k.attendance_probability(p, 3, 4.0), k.attendance_probability.unmixed(p, 3, 4.0))
    # relevance terms of 0 with no stream spread change nothing either
    zero = with_relevance(p, attendance_relevance=0.0, rating_relevance=0.0, attendance_relevance_stream_sd=0.0,
                          rating_relevance_stream_sd=0.0)
    for name in ("attendance_first_week", "mandatory_minus_optional_rating", "optimal_sessions_per_week"):
        np.testing.assert_allclose(registry.ESTIMANDS[name].kernel(zero, REF), registry.ESTIMANDS[name].kernel(p, REF))
    np.testing.assert_allclose(k.relevance_part_of_rating_gap(zero, REF), 0.0, atol=1e-12)


def _simulated_pairs(p: dict, mandatory: float, n: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(relevant, attended, rating) for n new (cohort, scholar, session) pairs at REF's week and volume,
    drawn from the generative model with independent scholar effects (ρ = 0)."""
    g = {name: float(v[0]) for name, v in p.items() if np.ndim(v) == 1}
    week, volume = REF.rating_week, REF.volume
    rel = rng.random(n) < g["relevant_share"]
    normal = lambda sd: sd * rng.standard_normal(n)  # noqa: E731
    logit_a = (g["attendance_intercept"] + g["attendance_kind_ref"] + g["attendance_mandatory"] * mandatory
               + g["attendance_volume"] * volume + (1 - mandatory) * g["attendance_week_slope"] * (week - 1)
               + mandatory * g["attendance_week_slope_mandatory"] * (week - 1)
               + (1 - mandatory) * (week - 1) * normal(g["attendance_week_slope_cohort_sd"])
               + normal(g["attendance_cohort_sd"]) + normal(g["attendance_scholar_sd"]) + normal(g["attendance_session_sd"])
               + rel * (g["attendance_relevance"] + normal(g["attendance_relevance_stream_sd"])))
    attended = rng.random(n) < expit(logit_a)
    eta = (g["rating_kind_ref"] + g["rating_mandatory"] * mandatory + g["rating_volume"] * volume
           + g["rating_week"] * (week - 1) + normal(g["rating_cohort_sd"]) + normal(g["rating_scholar_sd"])
           + normal(g["rating_speaker_sd"]) + normal(g["rating_session_sd"])
           + rel * (g["rating_relevance"] + normal(g["rating_relevance_stream_sd"])))
    cuts = p["rating_cutpoints_ref"][0]
    rating = REF.session_scale[0] + ((eta + rng.logistic(size=n))[:, None] > cuts[None, :]).sum(1)
    return rel, attended, rating


def test_relevance_kernels_match_brute_force_simulation():
    """Attendance, the policy's own effect and the relevance part of the attended gap, against
    400,000 simulated pairs per policy (Monte Carlo se ≈ 0.001 for attendance, ≈ 0.01 points)."""
    p = with_relevance(canonical(1))
    rng = np.random.default_rng(7)
    sims = {m: _simulated_pairs(p, m, 400_000, rng) for m in (0.0, 1.0)}
    for m, (_, attended, _) in sims.items():
        assert k.attendance_probability(p, REF.rating_week, REF.volume, m)[0] == pytest.approx(attended.mean(), abs=0.004)
    at_equal = sims[1.0][2].mean() - sims[0.0][2].mean()  # every pair rated: no selection
    assert k.mandatory_minus_optional_rating_at_equal_relevance(p, REF)[0] == pytest.approx(at_equal, abs=0.03)
    attended_gap = sims[1.0][2][sims[1.0][1]].mean() - sims[0.0][2][sims[0.0][1]].mean()
    part = k.relevance_part_of_rating_gap(p, REF)[0]
    assert part < -0.1  # optional attendees sit in on relevant sessions, which rate higher
    assert part == pytest.approx(attended_gap - at_equal, abs=0.04)


def test_policy_rows_state_the_tipping_point_of_unobserved_selection():
    """A gap of −0.5 with upper end −0.2: selection of 0.2 points reaches zero, of 0.5 cancels it."""
    rng = np.random.default_rng(0)
    draws = -0.5 + 0.18 * rng.standard_normal(20_000)
    note = registry.ESTIMANDS["mandatory_minus_optional_rating"].note(draws, REF)
    high = registry.ESTIMANDS["mandatory_minus_optional_rating"].interval
    assert high == registry.HDI
    assert "rate it 0.20 points higher" in note and "at 0.50 points the estimate would vanish" in note
    assert "already includes zero" in registry.ESTIMANDS["mandatory_minus_optional_rating"].note(draws + 0.4, REF)
    assert "larger still" in registry.ESTIMANDS["mandatory_minus_optional_rating"].note(-draws, REF)


def test_cohort_spread_in_points_follows_the_cohort_sd():
    """0 without cohort spread; about 2σ_b times the slope of E[rating] in η for a small σ_b."""
    flat = canonical(rating_cohort_sd=0.0)
    np.testing.assert_allclose(k.cohort_spread_rating_points(flat, REF), 0.0, atol=1e-12)
    small = canonical(rating_cohort_sd=0.01)
    eta_shift = canonical(rating_cohort_sd=0.0, rating_kind_ref=0.1 + 0.01)
    slope = (k.expected_session_rating(eta_shift, REF, REF.rating_week, REF.volume)
             - k.expected_session_rating(flat, REF, REF.rating_week, REF.volume)) / 0.01
    np.testing.assert_allclose(k.cohort_spread_rating_points(small, REF), 2 * 0.01 * slope, rtol=1e-3)
    assert (k.cohort_spread_rating_points(canonical(rating_cohort_sd=0.6), REF)
            > k.cohort_spread_rating_points(canonical(rating_cohort_sd=0.3), REF)).all()


@pytest.mark.parametrize("name, point", [("mandatory_minus_optional_rating_averaged", "mandatory_minus_optional_rating"),
                                         ("mandatory_minus_optional_attendance_averaged",
                                          "mandatory_minus_optional_attendance")])
def test_averaged_contrasts_are_the_pair_weighted_mean_of_the_point_contrasts_over_the_data_sessions(name, point):
    """The average comparison = Σ w_c · (the reference-point contrast evaluated at cell c's week and load) / Σ w_c;
    with the reference point as its only cell it is the point contrast itself; without cells it does not apply."""
    from dataclasses import replace

    p = with_relevance(canonical(rating_volume=-0.4, attendance_volume=-0.3))
    averaged, at_point = registry.ESTIMANDS[name].kernel, registry.ESTIMANDS[point].kernel
    weights = np.array([w for *_, w in REF.session_cells])
    by_cell = [at_point(p, replace(REF, rating_week=week, volume=load)) for week, load, _ in REF.session_cells]
    np.testing.assert_allclose(averaged(p, REF), np.average(by_cell, axis=0, weights=weights), rtol=1e-10)
    assert not np.allclose(averaged(p, REF), at_point(p, REF), rtol=1e-3)  # the cells' loads differ from 3
    alone = replace(REF, session_cells=((REF.rating_week, REF.volume, 7.0),))
    np.testing.assert_allclose(averaged(p, alone), at_point(p, alone), rtol=1e-12)
    assert not registry.ESTIMANDS[name].defined_by(p, replace(REF, session_cells=()))
