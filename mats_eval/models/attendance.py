"""Attendance model: did scholar i attend session s (Bernoulli), two forms of the week trend.

form="linear" (the canonical model of estimands.py):
    logit p = α + kind[k] + β_m·m + β_V·V + (δ + d_c)·(w−1)·(1−m) + δ_m·(w−1)·m
              + a_c + u_i + e_s
form="floor" (decay to a floor, optional sessions only):
    p = p₁ · (φ + (1 − φ)·exp(−λ_c (w−1))),  logit p₁ = α + kind[k] + β_V·V + a_c + u_i + e_s,
    log λ_c = log λ + r_c, r_c ~ N(0, σ_λ²) (σ_λ integrated out as the cohort effects' σ);  φ ∈ (0, 1) is the share of week-1 attendance kept in the long run,
    so the floor φ·p₁ sits below p₁ for every scholar. Mandatory sessions keep the
    linear logit form (β_m + δ_m·(w−1)). In the canonical parameters this is the
    unified attendance curve of estimands/kernels.py with δ = attendance_week_slope = 0
    (and no cohort slope spread); the attendance_week_slope estimand is then the
    secant slope of the population curve.

Each form exports its spec (ATTENDANCE_SPEC "attendance", ATTENDANCE_FLOOR_SPEC
"attendance_floor"; models/spec.py).

Group effects are non-centred (`<name>_z` raw variables times an sd). Two exact
reparametrisations keep the sampler away from ridges (why: data/example has 3
cohorts with thousands of rows each, and the naive form failed the gate):
- fixed-effect columns are centred at their observation means (volume within
  kind: priors.kind_centred puts the kind effects at each kind's own volume,
  so that kind and volume do not trade off); the
  canonical intercept α = α' − Σ β_j·x̄_j is the Deterministic
  `attendance_intercept` (its prior is on α', the logit at the covariate centre);
- scholar and session effects are split into their mean and zero-sum
  deviations (priors.split_group_effect), cohort effects and cohort week-slope
  deviations likewise, with their variance integrated out (priors.cohort_effect:
  a few data-rich cohorts otherwise funnel); the sampler sees the identified sums
  L = α' + ā + ū + ē + d̄·x̄ (`attendance_level`) and S = δ + d̄
  (`attendance_week_slope_total`; d̄ over the cohorts with optional sessions), and
  α', δ follow from the priors of ā, d̄;
- where policy changes only between cohorts, the policy coefficient is sampled
  as its sum with the cohort effects' part along policy
  (`attendance_mandatory_with_cohort`, priors.policy_with_cohort).

Every covariate lives on the session, so the predictor is built per session
and each row adds its scholar's effect (models/likelihoods.py).

`attendance_likelihood(design, pr, scholar, scholar_mean)` adds everything but
the scholar effect to the model in context; the joint model (models/joint.py)
calls it with its correlated scholar effects.
"""
from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from mats_eval.data.design import Design
from mats_eval.errors import UsageError
from mats_eval.estimands import registry
from mats_eval.estimands.kernels import NO_DECAY
from mats_eval.models.canonical import canonical_from, select
from mats_eval.models.likelihoods import bernoulli_logit
from mats_eval.models.spec import ModelSpec
from mats_eval.models.priors import (
    ATTENDANCE_PRIORS, kind_centred, make_prior, cohort_effect, policy_cohort_direction, policy_with_cohort,
    recentre_on_informed, resolve_priors, split_group_effect,
)

FORMS = ("linear", "floor")
SLOPE = "attendance_week_slope"
POLICY = "attendance_mandatory"


def attendance_columns(design: Design, form: str) -> dict[str, np.ndarray]:
    """Fixed-effect covariates per session, keyed by their coefficient name."""
    m, v, w0 = design.session_mandatory, design.session_volume, design.session_week0
    cols = {"attendance_mandatory": m, "attendance_volume": v, "attendance_week_slope_mandatory": w0 * m}
    if form == "linear":
        cols["attendance_week_slope"] = w0 * (1 - m)
    return cols


def attendance_coords(design: Design) -> dict[str, list]:
    """Coords the attendance likelihood needs."""
    return design.coords_for("cohort", "scholar", "session", "kind", "attendance_obs")


def attendance_model(design: Design, priors: dict | None = None, form: str = "linear") -> pm.Model:
    """The attendance model of `design` (see module docstring); observed variable `attended`."""
    pr = resolve_priors(ATTENDANCE_PRIORS, priors)
    _check(design, form)
    with pm.Model(coords=attendance_coords(design)) as model:
        _, scholar_mean, scholar = split_group_effect(pr, "attendance_scholar_sd", "attendance_scholar", "scholar",
                                                      len(design.coords["scholar"]))
        attendance_likelihood(design, pr, scholar, scholar_mean, form=form)
    return model


def _check(design: Design, form: str) -> None:
    if form not in FORMS:
        raise UsageError(f"unknown attendance form {form!r}; choose one of {', '.join(FORMS)}")
    if len(design.att_y) == 0:
        raise UsageError("the dataset has no attendance rows to fit")


def attendance_likelihood(design: Design, pr: dict, scholar, scholar_mean=0.0, form: str = "linear",
                          pair_term=0.0) -> None:
    """Add every attendance parameter but the scholar effect, and the observed `attended`, to the model
    in context.

    `scholar` is the zero-sum deviation part of the scholar effect over dim "scholar"
    and `scholar_mean` its mean (absorbed by the level; see the module docstring): the
    attendance model passes its own split effect, the joint model the attendance half of
    its correlated scholar effects. (Centred cohort deviations were tried for the
    joint model on data/example: 3 divergences; non-centred, as here: 0.)
    """
    _check(design, form)
    s, i = design.att_session, design.att_scholar
    kind_of_session, cohort_of_session = design.session_kind, design.session_cohort
    cols = attendance_columns(design, form)  # per session; centred at their means over the rows
    n_cohorts = len(design.coords["cohort"])
    # policy changing only between cohorts: β_m is sampled along the cohort effects, after them
    # (priors.policy_with_cohort)
    direction = policy_cohort_direction(design.session_mandatory[s], cohort_of_session[s], n_cohorts)
    betas = {name: make_prior(pr, name) for name in cols
             if name != SLOPE and not (name == POLICY and direction is not None)}
    # volume differs mostly between kinds: kind effects sit at the kind's own volume (priors.kind_centred)
    volume = "attendance_volume"
    kind, volume_of_kind, volume_centre = kind_centred(pr, "attendance_kind", betas[volume], cols[volume][s],
                                                       kind_of_session[s], len(design.coords["kind"]))
    centre = {n: (volume_centre if n == volume else cols[n][s].mean()) for n in cols}
    offset = {n: cols[n] - (volume_of_kind[kind_of_session] if n == volume else centre[n]) for n in cols}
    _, cohort_mean, cohort_dev = cohort_effect(pr, "attendance_cohort_var", "attendance_cohort_sd",
                                               "attendance_cohort", "cohort", n_cohorts)
    if direction is not None:
        betas[POLICY] = policy_with_cohort(pr, POLICY, cohort_dev, direction)
    _, session_mean, session = split_group_effect(pr, "attendance_session_sd", "attendance_session", "session",
                                                  len(design.coords["session"]), deterministic=False)
    fixed = sum(b * offset[n] for n, b in betas.items())
    level_shift = cohort_mean + scholar_mean + session_mean
    if form == "linear":
        # S = δ + d̄ is what the data pin (d̄ over the cohorts with optional sessions); δ = S − d̄ keeps its own prior
        _, slope_mean, slope_dev = cohort_effect(pr, "attendance_week_slope_cohort_var",
                                                 "attendance_week_slope_cohort_sd", "attendance_week_slope_cohort",
                                                 "cohort", n_cohorts)
        slope_mean, slope_dev = recentre_on_informed(slope_mean, slope_dev, optional_cohorts(design, s), n_cohorts)
        slope_total = make_prior(pr, SLOPE, f"{SLOPE}_total", shift=slope_mean)
        betas[SLOPE] = pm.Deterministic(SLOPE, slope_total - slope_mean)
        fixed = fixed + slope_total * offset[SLOPE] + slope_dev[cohort_of_session] * cols[SLOPE]
        level_shift = level_shift + slope_mean * centre[SLOPE]
    # L = α' + ā + ū + ē (+ d̄·x̄): the level of the observed units, sampled directly
    level = make_prior(pr, "attendance_intercept", "attendance_level", shift=level_shift)
    pm.Deterministic("attendance_intercept", level - level_shift - sum(b * centre[n] for n, b in betas.items()))
    session_eta = level + fixed + kind[kind_of_session] + cohort_dev[cohort_of_session] + session
    # likelihoods: every covariate lives on the session, but for `pair_term` (per row: the relevance
    # model's match of session and scholar, models/relevance.py)
    eta = session_eta[s] + scholar[i] + pair_term
    if form == "linear":
        bernoulli_logit("attended", eta, design.att_y, dims="attendance_obs")
    else:
        p = floor_probability(pr, eta, design.session_week0, design.session_mandatory, cohort_of_session, s,
                              optional_cohorts(design, s), n_cohorts)
        pm.Bernoulli("attended", p=p, observed=design.att_y, dims="attendance_obs")


def optional_cohorts(design: Design, s: np.ndarray) -> np.ndarray:
    """Codes of the cohorts with optional sessions among the rows' sessions `s`: only they inform
    the optional sessions' week trend (slope deviations d_c, decay rates λ_c)."""
    return np.unique(design.session_cohort[s][design.session_mandatory[s] == 0])


def floor_probability(pr: dict, eta, w0: np.ndarray, m: np.ndarray, cohort_of_session: np.ndarray, s: np.ndarray,
                      informed: np.ndarray, n_cohorts: int):
    """p = m·logit⁻¹(η) + (1−m)·logit⁻¹(η)·(φ + (1−φ)·exp(−λ_c (w−1))) (η already has δ_m·(w−1)·m).

    w0, m, cohort_of_session are per session; s maps rows to sessions; `informed`: the cohorts with
    optional sessions (optional_cohorts), whose rates the data inform.
    """
    floor = make_prior(pr, "attendance_floor_fraction")
    # log λ_c = log λ + ā + ã_c: the data pin the fitted cohorts' rates, so λ·exp(ā) and the
    # deviations ã, never λ and ā apart (a ridge the sampler crawls along). The prior therefore
    # goes on the geometric-mean rate λ·exp(ā) (sampled as `attendance_decay_rate_fitted`; the mean over
    # the cohorts with optional sessions where some have none), ā follows
    # its own prior, and the population rate λ of a new cohort is the Deterministic `attendance_decay_rate`
    _, log_rate_mean, log_rate_dev = cohort_effect(pr, "attendance_decay_rate_cohort_var",
                                                   "attendance_decay_rate_cohort_sd", "attendance_decay_rate_log_cohort",
                                                   "cohort", n_cohorts)
    log_rate_mean, log_rate_dev = recentre_on_informed(log_rate_mean, log_rate_dev, informed, n_cohorts)
    fitted = make_prior(pr, "attendance_decay_rate", "attendance_decay_rate_fitted")
    pm.Deterministic("attendance_decay_rate", fitted * pt.exp(-log_rate_mean))
    rate_c = pm.Deterministic("attendance_decay_rate_cohort", fitted * pt.exp(log_rate_dev), dims="cohort")
    decay = m + (1 - m) * (floor + (1 - floor) * pt.exp(-rate_c[cohort_of_session] * w0))
    p1 = pm.math.sigmoid(eta)
    # clip: a product of probabilities can underflow to 0 and give log(0) for an attended row
    return pt.clip(p1 * decay[s], 1e-12, 1 - 1e-12)


# --- canonical parameters and the specs ------------------------------------------------

OUTPUTS = registry.ATTENDANCE + ("attendance_mandatory", "attendance_week_slope_mandatory",
                                 "attendance_week_slope_cohort_sd")
FLOOR_OUTPUTS = OUTPUTS + tuple(NO_DECAY)


def attendance_canonical(post, p: dict, ref, kind: str) -> dict:
    """The attendance kind effect at `kind` (attendance_kind_ref)."""
    return {"attendance_kind_ref": select(post, "attendance_kind", "kind", kind)}


def floor_canonical(post, p: dict, ref, kind: str) -> dict:
    """The floor form has no logit week slope: δ = 0 and no cohort spread of it (its decay is λ, φ, σ_λ)."""
    zero = np.zeros(len(p["attendance_intercept"]))
    return {SLOPE: zero, "attendance_week_slope_cohort_sd": zero}


ATTENDANCE_SPEC = ModelSpec(
    name="attendance",
    build=attendance_model,
    default_priors=ATTENDANCE_PRIORS,
    canonical=canonical_from(attendance_canonical),
    outputs=OUTPUTS,
)
ATTENDANCE_FLOOR_SPEC = ModelSpec(
    name="attendance_floor",
    build=lambda design, priors=None: attendance_model(design, priors, form="floor"),
    default_priors=ATTENDANCE_PRIORS,
    canonical=canonical_from(attendance_canonical, floor_canonical),
    outputs=FLOOR_OUTPUTS,
)
