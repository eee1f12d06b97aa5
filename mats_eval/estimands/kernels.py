"""The contract's estimands as plain array functions of model parameters.

Used twice, so that truth and estimate are always the same quantity: the
registry (registry.py) applies them to a model's posterior draws mapped onto the
canonical names (`mats_eval.models.get_spec(name).canonical`), and the simulator
(simulation/scenarios.py) to the true parameters (written to truth.json).

Every function takes arrays whose leading axis is "draw" (a true parameter is
one draw) and returns an array over draws. Population averages ("a new cohort,
a new scholar, a new session") integrate the normal group effects exactly with
Gauss–Hermite quadrature instead of Monte Carlo.

Canonical parameters (the names models and the simulator use):

attendance  logit P(attend) = attendance_intercept + attendance_kind[k]
            + attendance_mandatory·m + attendance_volume·V
            + (attendance_week_slope + cohort deviation)·(w−1)·(1−m)
            + attendance_week_slope_mandatory·(w−1)·m
            + cohort (sd attendance_cohort_sd) + scholar (attendance_scholar_sd)
            + session (attendance_session_sd) effects; optional sessions may in
            addition decay to a floor: P(w) = E[logit⁻¹(…)] · K(w), with
            K(w) = E_z[φ + (1−φ)·exp(−λ e^{σ_λ z}(w−1))] (attendance_floor_fraction φ,
            attendance_decay_rate λ, attendance_decay_rate_cohort_sd σ_λ). The
            linear form is the case φ = 1 (K ≡ 1, the default when they are
            absent); the floor form has δ = attendance_week_slope = 0.
ratings     latent η = rating_kind[k] + rating_mandatory·m + rating_volume·V
            + rating_week·(w−1) + cohort (rating_cohort_sd) + scholar
            (rating_scholar_sd) + speaker (rating_speaker_sd) + session
            (rating_session_sd) effects;
            rating = scale_min + OrderedLogistic(η, rating_cutpoints[scale]).
relevance   (data with topics; the relevance model) both latents add a match term for a
            session relevant to the scholar (topic general or the scholar's stream):
            + attendance_relevance·rel (stream sd attendance_relevance_stream_sd) and
            + rating_relevance·rel (rating_relevance_stream_sd). Population averages mix
            rel = 1 with weight relevant_share (π, the data's share of relevant pairs) and
            rel = 0 with 1 − π (`over_relevance`); without these parameters rel plays no part.
retro       latent = retro_element[e] + retro_mandatory·m + cohort
            (retro_cohort_sd) + scholar (retro_scholar_sd) effects, ordered
            logistic on the cohort's retro scale (retro_cutpoints[scale]).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import expit, logit

from mats_eval.constants import RESEARCH_HOUR_COST, VALUE_PER_ATTENDED_HOUR
from mats_eval.data.reference import Reference, reference_from  # noqa: F401 - re-exported

# Probabilists' Gauss–Hermite: E[f(Z)] ≈ Σ w_j f(z_j) / √(2π) for Z ~ N(0, 1).
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_GH_WEIGHTS = _GH_WEIGHTS / np.sqrt(2 * np.pi)


def _col(x) -> np.ndarray:
    """Draw-vector as a column so quadrature nodes broadcast along the last axis."""
    return np.asarray(x, dtype=float)[..., None]


def population_attendance(logit_mean, logit_sd) -> np.ndarray:
    """E[logit⁻¹(μ + σZ)], Z ~ N(0,1): attendance averaged over the group effects."""
    x = _col(logit_mean) + _col(logit_sd) * _GH_NODES
    return (expit(x) * _GH_WEIGHTS).sum(-1)


def category_probs(eta, cutpoints) -> np.ndarray:
    """Ordered-logistic P(Y = k), k = 0..K−1, from η (...,) and cutpoints (..., K−1)."""
    eta = np.asarray(eta, dtype=float)[..., None]
    cdf = expit(np.asarray(cutpoints, dtype=float) - eta)  # P(Y <= k)
    ones = np.ones(cdf.shape[:-1] + (1,))
    upper = np.concatenate([cdf, ones], axis=-1)
    lower = np.concatenate([0 * ones, cdf], axis=-1)
    return upper - lower


def population_expected_rating(eta_mean, eta_sd, cutpoints, scale_min) -> np.ndarray:
    """E[rating] = scale_min + Σ_j P(Y > j) = scale_min + Σ_j logit⁻¹(η − c_j), averaged over η = μ + σZ.

    `cutpoints` has shape (draws, K−1); eta_mean and eta_sd lead with the draw axis
    (extra axes broadcast, e.g. (draws, weeks)); the result is in rating points.
    """
    eta = _col(eta_mean) + _col(eta_sd) * _GH_NODES  # (draws, ..., nodes)
    cuts = np.asarray(cutpoints, dtype=float)
    cuts = cuts.reshape(cuts.shape[:1] + (1,) * (eta.ndim - 1) + cuts.shape[1:])
    exceed = expit(eta[..., None] - cuts).sum(-1)  # E[code | η]
    return scale_min + (exceed * _GH_WEIGHTS).sum(-1)


# --- relevance: a new session is relevant to a new scholar with probability π ----------

RELEVANCE_SHIFTS = {"attendance_relevance": ("attendance_intercept", "attendance_session_sd",
                                             "attendance_relevance_stream_sd"),
                    "rating_relevance": ("rating_kind_ref", "rating_session_sd", "rating_relevance_stream_sd")}


def has_relevance(p: Mapping) -> bool:
    return "relevant_share" in p and any(name in p for name in RELEVANCE_SHIFTS)


def at_relevance(p: Mapping, relevant: float) -> dict:
    """p for sessions of relevance `relevant` (0 or 1): the match terms folded into the level, and a new
    stream's deviation of them (sd …_stream_sd) into the session sd, so the other kernels need not know."""
    q = dict(p)
    if not relevant:
        return q
    for name, (level, session_sd, stream_sd) in RELEVANCE_SHIFTS.items():
        if name in p:
            q[level] = p[level] + p[name]
            q[session_sd] = np.sqrt(p.get(session_sd, 0.0) ** 2 + p.get(stream_sd, 0.0) ** 2)
    return q


def over_relevance(kernel):
    """kernel(p, ...) averaged over relevance: π·kernel(p at rel 1) + (1 − π)·kernel(p at rel 0); the
    kernel itself when p has no relevance terms. Exact for expectations (they are linear in the mix);
    `kernel.unmixed` stays available for the decomposition of the rating gap."""
    def mixed(p, *args, **kwargs):
        if not has_relevance(p):
            return kernel(p, *args, **kwargs)
        share = np.asarray(p["relevant_share"], dtype=float)
        parts = [(share, kernel(at_relevance(p, 1.0), *args, **kwargs)),
                 (1 - share, kernel(at_relevance(p, 0.0), *args, **kwargs))]
        if isinstance(parts[0][1], dict):
            return {key: sum(_times(w, part[key]) for w, part in parts) for key in parts[0][1]}
        return sum(_times(w, part) for w, part in parts)
    mixed.__doc__, mixed.__name__, mixed.unmixed = kernel.__doc__, kernel.__name__, kernel
    return mixed


def _times(weight, values) -> np.ndarray:
    """weight (draws,) times values (draws, ...)."""
    values = np.asarray(values, dtype=float)
    weight = np.asarray(weight, dtype=float)
    return weight.reshape(weight.shape + (1,) * (values.ndim - weight.ndim)) * values


# --- attendance -------------------------------------------------------------

def attendance_logit_sd(p: dict, week, mandatory=0.0) -> np.ndarray:
    """sd of the attendance logit over a new cohort, scholar and session at `week`."""
    var = p["attendance_cohort_sd"] ** 2 + p["attendance_scholar_sd"] ** 2 + p["attendance_session_sd"] ** 2
    slope_sd = p.get("attendance_week_slope_cohort_sd", 0.0)
    var = var + (1 - mandatory) * (np.asarray(week) - 1) ** 2 * np.asarray(slope_sd) ** 2
    return np.sqrt(var)


def attendance_logit_mean(p: dict, week, volume, mandatory=0.0) -> np.ndarray:
    """Population-mean attendance logit at the reference kind (p['attendance_kind_ref'])."""
    slope_mand = p.get("attendance_week_slope_mandatory", 0.0)
    return (
        p["attendance_intercept"]
        + p["attendance_kind_ref"]
        + p["attendance_mandatory"] * mandatory
        + p["attendance_volume"] * volume
        + (1 - mandatory) * p["attendance_week_slope"] * (week - 1)
        + mandatory * slope_mand * (week - 1)
    )


# The linear form is the floor form that keeps everything (φ = 1): the decay parameters' neutral values.
NO_DECAY = {"attendance_floor_fraction": 1.0, "attendance_decay_rate": 0.0, "attendance_decay_rate_cohort_sd": 0.0}


def _decay_parameter(p: dict, name: str) -> np.ndarray:
    return np.asarray(p.get(name, NO_DECAY[name]), dtype=float)


def attendance_kept(p: dict, week) -> np.ndarray:
    """K(w) = E_z[φ + (1−φ)·exp(−λ e^{σ_λ z}(w−1))]: the share of its logit-curve attendance an optional
    session keeps under decay to a floor, averaged over a new cohort's decay rate (1 when φ = 1)."""
    rate = _col(_decay_parameter(p, "attendance_decay_rate")) \
        * np.exp(_col(_decay_parameter(p, "attendance_decay_rate_cohort_sd")) * _GH_NODES)
    floor = _col(_decay_parameter(p, "attendance_floor_fraction"))
    kept = floor + (1 - floor) * np.exp(-rate * (_col(week) - 1))
    return (kept * _GH_WEIGHTS).sum(-1)


@over_relevance
def attendance_probability(p: dict, week, volume, mandatory=0.0) -> np.ndarray:
    """Expected attendance of a session for a new cohort, scholar and session.

    P(w) = E[logit⁻¹(mean + noise)] · (m + (1−m)·K(w)): only optional sessions decay to a floor.
    """
    logit_curve = population_attendance(
        attendance_logit_mean(p, week, volume, mandatory), attendance_logit_sd(p, week, mandatory)
    )
    return logit_curve * (mandatory + (1 - mandatory) * attendance_kept(p, week))


# --- session ratings --------------------------------------------------------

def rating_latent_sd(p: dict) -> np.ndarray:
    """sd of the rating latent over a new cohort, scholar, speaker and session (speaker and session
    sds are 0 for models without them)."""
    return np.sqrt(p["rating_cohort_sd"] ** 2 + p["rating_scholar_sd"] ** 2 + p.get("rating_speaker_sd", 0.0) ** 2
                   + p.get("rating_session_sd", 0.0) ** 2)


@over_relevance
def expected_session_rating(p: dict, ref: Reference, week, volume, mandatory=0.0) -> np.ndarray:
    """E[session rating] in points on the reference scale for a new cohort, scholar, speaker, session.

    Uses p['rating_kind_ref'] and p['rating_cutpoints_ref'] (draws, K−1).
    """
    eta = (
        p["rating_kind_ref"]
        + p["rating_mandatory"] * mandatory
        + p["rating_volume"] * volume
        + p["rating_week"] * (week - 1)
    )
    return population_expected_rating(eta, rating_latent_sd(p), p["rating_cutpoints_ref"], ref.session_scale[0])


def _rating_gap_at(p: dict, ref: Reference, week, volume) -> np.ndarray:
    """E[rating | mandatory] − E[rating | optional] of a session in `week` at weekly load `volume` (points)."""
    return (expected_session_rating(p, ref, week, volume, mandatory=1.0)
            - expected_session_rating(p, ref, week, volume, mandatory=0.0))


def mandatory_minus_optional_rating(p: dict, ref: Reference) -> np.ndarray:
    """E[rating | mandatory] − E[rating | optional], same kind, volume and week (points)."""
    return _rating_gap_at(p, ref, ref.rating_week, ref.volume)


def over_data_sessions(ref: Reference, contrast) -> np.ndarray:
    """Σ_c w_c · contrast(week_c, load_c) / Σ_c w_c over ref.session_cells, the data's own sessions of the
    reference kind weighted by scholar × session pairs (an average comparison, as marginaleffects' are);
    the reference point (middle week, mean load) alone when the cells are not recorded."""
    cells = ref.session_cells or ((ref.rating_week, ref.volume, 1.0),)
    weights = np.array([weight for *_, weight in cells], dtype=float)
    weights = weights / weights.sum()
    return sum(w * contrast(week, load) for (week, load, _), w in zip(cells, weights))


def mandatory_minus_optional_rating_averaged(p: dict, ref: Reference) -> np.ndarray:
    """mandatory_minus_optional_rating averaged over the data's sessions of the reference kind (their weeks
    and weekly loads, weighted by scholar × session pairs) rather than at one reference point (points)."""
    return over_data_sessions(ref, lambda week, load: _rating_gap_at(p, ref, week, load))


@over_relevance
def _rating_with_cohort_shift(p: dict, ref: Reference, shift) -> np.ndarray:
    """E[rating] of an optional session of the reference kind (middle week, reference load) in a cohort
    whose effect is `shift` (in units of rating_cohort_sd), the other group effects integrated out."""
    other = np.sqrt(np.maximum(rating_latent_sd(p) ** 2 - p["rating_cohort_sd"] ** 2, 0.0))
    eta = (p["rating_kind_ref"] + p["rating_volume"] * ref.volume + p["rating_week"] * (ref.rating_week - 1)
           + shift * p["rating_cohort_sd"])
    return population_expected_rating(eta, other, p["rating_cutpoints_ref"], ref.session_scale[0])


def cohort_spread_rating_points(p: dict, ref: Reference) -> np.ndarray:
    """cohort_sd_rating in the unit a lead reads: E[rating | cohort effect +σ_b] − E[rating | −σ_b] (points),
    an optional session of the reference kind; a cohort 1 sd above the typical one against 1 sd below."""
    return _rating_with_cohort_shift(p, ref, 1.0) - _rating_with_cohort_shift(p, ref, -1.0)


def mandatory_minus_optional_rating_at_equal_relevance(p: dict, ref: Reference) -> np.ndarray:
    """The policy's own effect: the rating contrast for sessions equally relevant to the scholar (the
    mix π of both), = mandatory_minus_optional_rating of a model with relevance terms (points)."""
    return mandatory_minus_optional_rating(p, ref)


def relevance_part_of_rating_gap(p: dict, ref: Reference) -> np.ndarray:
    """The part of the mandatory–optional gap among attended sessions that comes from which sessions
    scholars sit through (points): with Y_r(m), A_r(m) the rating and attendance at relevance r,
    π_m = π·A_1(m) / (π·A_1(m) + (1−π)·A_0(m)) the relevant share of attended sessions, it is
    (π_1 − π)·(Y_1(1) − Y_0(1)) − (π_0 − π)·(Y_1(0) − Y_0(0)): the attended gap minus the gap at equal relevance.
    """
    share = np.asarray(p["relevant_share"], dtype=float)
    week, volume = ref.rating_week, ref.volume
    rel, other = at_relevance(p, 1.0), at_relevance(p, 0.0)
    part = 0.0
    for mandatory, sign in ((1.0, 1.0), (0.0, -1.0)):
        attend = [attendance_probability.unmixed(q, week, volume, mandatory) for q in (other, rel)]
        attended_share = share * attend[1] / (share * attend[1] + (1 - share) * attend[0])
        rating = [expected_session_rating.unmixed(q, ref, week, volume, mandatory) for q in (other, rel)]
        part = part + sign * (attended_share - share) * (rating[1] - rating[0])
    return part


# --- retrospective ----------------------------------------------------------

def mandatory_minus_optional_retro(p: dict, ref: Reference) -> np.ndarray:
    """The same contrast for end-of-programme ratings of the reference element."""
    sd = np.sqrt(p["retro_cohort_sd"] ** 2 + p["retro_scholar_sd"] ** 2)
    lo = ref.retro_scale[0]
    mand = population_expected_rating(p["retro_element_ref"] + p["retro_mandatory"], sd, p["retro_cutpoints_ref"], lo)
    opt = population_expected_rating(p["retro_element_ref"], sd, p["retro_cutpoints_ref"], lo)
    return mand - opt


# --- volume and the ceiling -------------------------------------------------

# --- what attended sessions are worth: the decision model's kernel ---------------
#
# One utility serves the volume optimum (optimal_sessions_per_week, here) and the plan
# comparison (decisions/plans.py): per scholar, an attended hour of a session the scholar
# rates y is worth value · worth(y) research hours and costs `cost` research hours, so
#     net(session) = E[a · (value · worth(Y) − cost)]
# averaged over a new cohort, a new scholar and a new session. The scholar's effects (u, r)
# on attendance and rating are correlated (scholar_corr, the joint model's ρ): keen scholars
# attend more and rate higher, so E[a·worth] is not E[a]·E[worth].

# Scholar trait z (outer, 12 nodes) and the remaining group effects (inner, 8 nodes): U(V) within
# 2e-8 of 60×60 nodes at mats-history's truth and 5e-5 at scholar sds 2.5/1.5, cohort sds 1, ρ 0.9,
# at 1/37 of the cost.
_SCHOLAR_NODES, _SCHOLAR_WEIGHTS = np.polynomial.hermite_e.hermegauss(12)
_SCHOLAR_WEIGHTS = _SCHOLAR_WEIGHTS / np.sqrt(2 * np.pi)
_INNER_NODES, _INNER_WEIGHTS = np.polynomial.hermite_e.hermegauss(8)
_INNER_WEIGHTS = _INNER_WEIGHTS / np.sqrt(2 * np.pi)


def rating_worth(scale, worthless_below=None) -> np.ndarray:
    """worth(y) for y = scale_min..scale_max: 0 at or below `worthless_below` (default the scale
    minimum), rising linearly to 1 at the top: worth(y) = clip((y − t)/(max − t), 0, 1)."""
    lo, hi = scale
    threshold = lo if worthless_below is None else float(worthless_below)
    if not lo <= threshold < hi:
        raise ValueError(f"worthless_below must lie in [{lo}, {hi}) on the {lo}–{hi} scale, got {threshold}")
    return np.clip((np.arange(lo, hi + 1) - threshold) / (hi - threshold), 0.0, 1.0)


@over_relevance
def attended_session_moments(p: dict, ref: Reference, week, volume, mandatory=0.0,
                             worthless_below=None) -> dict[str, np.ndarray]:
    """Per draw, one session of the reference kind in `week` at weekly `volume`, a new cohort,
    scholar, session and speaker: attend = E[a], worth = E[a·worth(Y)], rating = E[a·Y]
    (Y the scholar's rating, in points), with a = P(attend) and worth() of `rating_worth`.

    Scholar effects u = σ_u z, r = σ_r(ρz + √(1−ρ²)z′) give
    E[a·g(Y)] = E_z[A(z)·G(z)],  A(z) = E[logit⁻¹(μ_a + σ_u z + s_a ε)]·(m + (1−m)K(w)),
    G(z) = E[g(Y) | η = μ_r + σ_r ρ z + √(σ_r²(1−ρ²) + s_r²) ε′]: s_a the other attendance sds
    (cohort, session, cohort slope), s_r the other rating sds (cohort, speaker, session); ρ = 0 without
    scholar_corr (models that do not estimate it).

    `week` and `volume` may be arrays that broadcast together (a column of weeks and a row of
    volumes give every point of that grid at once): each moment is then (draws, *their shape).
    Draws are taken a block at a time so that memory stays bounded whatever the number of points.
    """
    draws = np.size(p["attendance_intercept"])
    points = np.broadcast_shapes(np.shape(week), np.shape(volume))
    per_block = max(1, _BLOCK_VALUES // (int(np.prod(points)) * _VALUES_PER_POINT))
    blocks = [_session_moments(_draw_block(p, draws, slice(start, start + per_block)), ref, week, volume,
                               mandatory, worthless_below) for start in range(0, draws, per_block)]
    return {key: np.concatenate([block[key] for block in blocks]) for key in blocks[0]}


# Values per draw and point of the rating part's largest array (scholar × inner nodes × cutpoints, on a
# 10-point scale), and how many of them a block of draws may hold (8 MB): enough to keep NumPy's
# per-call overhead small, few enough to stay in memory at any number of points
_VALUES_PER_POINT = len(_SCHOLAR_NODES) * len(_INNER_NODES) * 9
_BLOCK_VALUES = 2 ** 20


def _draw_block(p: dict, draws: int, block: slice) -> dict:
    """The draws `block` of every parameter that has a leading draw axis (scalars kept as they are)."""
    return {name: np.asarray(v)[block] if np.ndim(v) and np.shape(v)[0] == draws else v for name, v in p.items()}


def _session_moments(p: dict, ref: Reference, week, volume, mandatory, worthless_below) -> dict[str, np.ndarray]:
    """attended_session_moments for one block of draws, every point of (week, volume) at once.

    Arrays are (draws, *points, scholar nodes[, inner nodes × cutpoints]); every per-draw parameter is
    laid out as (draws, 1, …, 1) so that the population kernels broadcast it against the points.
    """
    week, volume = np.asarray(week, dtype=float), np.asarray(volume, dtype=float)
    draws = np.size(p["attendance_intercept"])
    ndim = len(np.broadcast_shapes(week.shape, volume.shape))
    q = {name: np.broadcast_to(np.asarray(v, dtype=float), (draws,)).reshape((draws,) + (1,) * ndim)
         for name, v in p.items() if np.shape(v) in ((), (draws,))}
    nodes = lambda x: x[..., None, None]  # noqa: E731  (…) -> (…, 1, 1): room for two node axes

    # A(z) = E_ε[logit⁻¹(μ_a + σ_u z + s_a ε)]·kept, μ_a split into its volume term and the rest
    sd_u = q["attendance_scholar_sd"]
    other_a = np.sqrt(np.maximum(attendance_logit_sd(q, week, mandatory) ** 2 - sd_u ** 2, 0))
    kept = mandatory + (1 - mandatory) * attendance_kept(q, week)
    attend_terms = (nodes(attendance_logit_mean(q, week, 0.0, mandatory)) + nodes(sd_u) * _SCHOLAR_NODES[:, None]
                    + nodes(other_a) * _INNER_NODES)  # (draws, *points, scholar, inner)
    attend = kept[..., None] * _expected_logistic(nodes(q["attendance_volume"] * volume), attend_terms,
                                                  _INNER_WEIGHTS)  # (draws, *points, scholar)

    # G(z) = Σ_j step_j·P(Y > j | z) and Σ_j P(Y > j | z), P(Y > j | z) = E_ε′[logit⁻¹(η − c_j)]
    rho = q.get("scholar_corr", np.zeros_like(sd_u))
    sd_r = q["rating_scholar_sd"]
    other_r = np.sqrt(rating_latent_sd(q) ** 2 - sd_r ** 2 * rho ** 2)
    n_cuts = len(rating_worth(ref.session_scale)) - 1
    cuts = np.broadcast_to(np.asarray(p["rating_cutpoints_ref"], dtype=float), (draws, n_cuts))
    cuts = cuts.reshape((draws,) + (1,) * ndim + (1, 1, n_cuts))
    level = q["rating_kind_ref"] + q["rating_mandatory"] * mandatory
    rating_terms = (nodes(level) + nodes(sd_r * rho) * _SCHOLAR_NODES[:, None] + nodes(other_r) * _INNER_NODES)
    rating_terms = (rating_terms[..., None] - cuts).reshape(rating_terms.shape[:-1] + (-1,))  # (…, scholar, inner·cut)
    step = np.diff(rating_worth(ref.session_scale, worthless_below))  # worth(Y) = Σ_j step_j · 1[Y > j]
    weights = np.stack([np.outer(_INNER_WEIGHTS, step).ravel(), np.repeat(_INNER_WEIGHTS, n_cuts)], axis=1)
    shift = q["rating_volume"] * volume + q["rating_week"] * (week - 1)
    worth, exceed = np.moveaxis(_expected_logistic(nodes(shift), rating_terms, weights), -1, 0)

    lo, _ = ref.session_scale
    return {"attend": attend @ _SCHOLAR_WEIGHTS, "worth": (attend * worth) @ _SCHOLAR_WEIGHTS,
            "rating": (attend * (lo + exceed)) @ _SCHOLAR_WEIGHTS}


# e^{±x} stays finite for |x| below this (and logit⁻¹ is 0 or 1 to 1e-130 beyond it)
_EXP_SAFE = 300.0


def _expected_logistic(shift, terms, weights) -> np.ndarray:
    """Σ_j weights[j]·logit⁻¹(shift + terms[…, j]) over the last axis of `terms` (weights (J,) or (J, C)).

    logit⁻¹(s + t) = 1 / (1 + e^{−s}·e^{−t}): exponentials of the shift (one per point) and of the
    terms (one per node) replace one per point and node, the dearest step of the decision kernel.
    """
    shift, terms = np.asarray(shift, dtype=float), np.asarray(terms, dtype=float)
    if max(np.abs(shift).max(initial=0), np.abs(terms).max(initial=0)) >= _EXP_SAFE:
        return expit(shift + terms) @ weights  # the product would overflow: the plain form
    odds = np.exp(-shift) * np.exp(-terms)
    odds += 1.0
    return np.reciprocal(odds, out=odds) @ weights


def net_session_value(moments: Mapping, value: float, cost: float) -> np.ndarray:
    """E[a·(value·worth(Y) − cost)] per draw: research hours one attended-or-not session hour nets a scholar."""
    return value * moments["worth"] - cost * moments["attend"]


def valued_attendance_curve(p: dict, ref: Reference, grid=None, value: float = VALUE_PER_ATTENDED_HOUR,
                            cost: float = RESEARCH_HOUR_COST, worthless_below=None) -> np.ndarray:
    """U(V) = V · mean_w E[a·(value·worth(Y) − cost)]: research hours a scholar nets per week from V
    one-hour optional sessions of the reference kind a week, evenly spread (the plan comparison's
    utility of that plan, divided by its weeks). Returns (draws, len(grid)); grid default ref.volume_grid.
    Every (week, V) point in one evaluation of the kernel: weeks a column, volumes a row.
    """
    grid = np.asarray(ref.volume_grid if grid is None else grid, dtype=float)
    weeks = np.arange(1, ref.n_weeks + 1, dtype=float)[:, None]
    moments = attended_session_moments(p, ref, weeks, grid[None, :], 0.0, worthless_below)  # (draws, weeks, V)
    return grid * net_session_value(moments, value, cost).mean(axis=1)


def thinned(p: dict, max_draws: int) -> dict:
    """Every max_draws-th-spaced draw of each parameter (all of them when there are fewer)."""
    n = len(np.atleast_1d(p["attendance_intercept"]))
    if n <= max_draws:
        return p
    keep = np.linspace(0, n - 1, max_draws).round().astype(int)
    return {k: np.asarray(v)[keep] for k, v in p.items()}


# U(V) is a smooth functional summarised by its mean and 90% band: 2000 draws give it with
# Monte Carlo error well under the band's width, at a third of the cost of 6000
CURVE_DRAWS = 2000


def optimal_sessions_per_week(p: dict, ref: Reference) -> np.ndarray:
    """argmax_V U(V) per draw, with the default utility (constants.py), over ref.volume_grid: the
    volumes the data cover, so V* is never beyond them (registry note: at their edge)."""
    grid = np.asarray(ref.volume_grid)
    return grid[np.argmax(valued_attendance_curve(thinned(p, CURVE_DRAWS), ref, grid), axis=1)]


# --- one-line kernels of the registry (registry.py) ------------------------------

def attendance_week_slope(p: dict, ref: Reference) -> np.ndarray:
    """Optional-session attendance log-odds change per programme week: δ + (logit(P₁·K_W) − logit P₁)/(W−1).

    The linear form (K ≡ 1) gives δ itself; the floor form (δ = 0) the secant slope of its
    population curve between the first and the last week.
    """
    first = attendance_probability(p, 1, ref.volume)
    decay_secant = (logit(first * attendance_kept(p, ref.n_weeks)) - logit(first)) / max(ref.n_weeks - 1, 1)
    return p["attendance_week_slope"] + decay_secant


def attendance_first_week(p: dict, ref: Reference) -> np.ndarray:
    """P(attend) of an optional session of the reference kind and volume in week 1, new cohort/scholar/session."""
    return attendance_probability(p, 1, ref.volume)


def attendance_last_week(p: dict, ref: Reference) -> np.ndarray:
    """The same in the programme's last week."""
    return attendance_probability(p, ref.n_weeks, ref.volume)


def volume_slope_attendance(p: dict, ref: Reference) -> np.ndarray:
    """β_V: attendance log-odds per extra session (of any kind) in the week."""
    return p["attendance_volume"]


def volume_slope_rating(p: dict, ref: Reference) -> np.ndarray:
    """γ_V: rating latent per extra session (of any kind) in the week."""
    return p["rating_volume"]


def cohort_sd_rating(p: dict, ref: Reference) -> np.ndarray:
    """σ_b: the sd of cohort effects on the rating latent."""
    return p["rating_cohort_sd"]


def mandatory_minus_optional_attendance(p: dict, ref: Reference) -> np.ndarray:
    """100·(P(attend | mandatory) − P(attend | optional)) in percentage points, same kind and volume,
    at the programme's middle week (ref.rating_week), new cohort/scholar/session."""
    return _attendance_gap_at(p, ref.rating_week, ref.volume)


def _attendance_gap_at(p: dict, week, volume) -> np.ndarray:
    """100·(P(attend | mandatory) − P(attend | optional)) of a session in `week` at weekly load `volume`."""
    return 100 * (attendance_probability(p, week, volume, mandatory=1.0)
                  - attendance_probability(p, week, volume, mandatory=0.0))


def mandatory_minus_optional_attendance_averaged(p: dict, ref: Reference) -> np.ndarray:
    """mandatory_minus_optional_attendance averaged over the data's sessions of the reference kind
    (over_data_sessions), in percentage points."""
    return over_data_sessions(ref, lambda week, load: _attendance_gap_at(p, week, load))


# --- half-life of optional attendance -------------------------------------------

# The half-life is searched up to this many programme lengths; a draw whose attendance has
# not halved by then is given the horizon (censored: its note says how many)
HALF_LIFE_HORIZON_PROGRAMMES = 10
_HALF_LIFE_GRID = 100  # coarse grid steps over the horizon, before bisection
_BISECTIONS = 40


def half_life_horizon(ref: Reference) -> float:
    """The longest half-life searched, in weeks (the censoring value)."""
    return float(HALF_LIFE_HORIZON_PROGRAMMES * ref.n_weeks)


def attendance_half_life_weeks(p: dict, ref: Reference) -> np.ndarray:
    """The first t > 0 with P(1 + t) = P(1)/2, optional sessions of the reference kind and volume, per draw.

    P is the population curve of attendance_first_week (a new cohort, scholar and session),
    linear or decaying to a floor alike. Found on a coarse grid of t, then by bisection in
    the first grid step where P falls to half; half_life_horizon(ref) where it never does.
    """
    horizon = half_life_horizon(ref)
    half = attendance_first_week(p, ref) / 2

    def halved(t) -> np.ndarray:
        return attendance_probability(p, 1 + t, ref.volume) <= half

    grid = np.linspace(0.0, horizon, _HALF_LIFE_GRID + 1)
    below = np.stack(np.broadcast_arrays(*[halved(t) for t in grid[1:]]), axis=-1)  # (draws, grid steps)
    crossed = below.any(axis=-1)
    step = below.argmax(axis=-1)  # first step whose end is at or below half
    low, high = grid[step], grid[step + 1]
    for _ in range(_BISECTIONS):
        mid = (low + high) / 2
        at_or_below = halved(mid)
        low, high = np.where(at_or_below, low, mid), np.where(at_or_below, mid, high)
    return np.where(crossed, (low + high) / 2, horizon)
