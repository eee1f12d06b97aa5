"""Default priors as named entries, and merging user overrides into them.

A prior is `(distribution name in pymc, {parameter: value})`, e.g.
`("Normal", {"mu": 0, "sigma": 0.5})`. Keys are the canonical parameter names
of estimands.py (plus a few model-specific ones). An override is a full entry
(replaces the default), the same written as a mapping with a `dist` key, or a
bare dict of parameters (merged into the default):

    resolve_priors(ATTENDANCE_PRIORS, {"attendance_week_slope": {"sigma": 1.0},
                                       "attendance_volume": {"dist": "StudentT", "nu": 4, "mu": 0, "sigma": 1},
                                       "attendance_mandatory": ("Normal", {"mu": 0, "sigma": 1})})

A name the model does not have is refused (PriorError, which the CLI turns into
exit code 2) with the valid names. The same mapping, as YAML, is the file of
`mats-eval fit/run --priors FILE` (`read_priors_file`):

    rating_mandatory: {dist: Normal, mu: 0, sigma: 0.5}
    rating_volume: {sigma: 1.0}                  # parameters only: the default family
    rating_cohort_sd: {dist: HalfNormal, sigma: 0.5}

Scales of a few data-rich groups (cohorts; the relevance model's streams): by default
the variance σ² has an InverseGamma prior (`<x>_cohort_var`, `<x>_stream_var`), which
lets cohort_effect integrate σ out. Giving a prior for the sd instead (`<x>_cohort_sd`,
`<x>_stream_sd`: HalfNormal, HalfStudentT, ...) replaces that entry and switches to
non-centred effects a = σ·z (`COHORT_SD_FAMILIES`).

Scales (why these): logit-scale effects rarely exceed ±3, so fixed effects get
sd 1 (kind, mandatory) or less for per-unit slopes (a week or an extra session
moves attendance by a fraction of a log-odds); group sds are half-normal with
the bulk below 1; the cohort deviation of the week slope is small (0.1 per week
is already ±1 log-odds over 10 weeks). Checked by the prior predictive test in
tests/test_models.py (attendance rates and rating means stay spread over the
whole range without piling up at 0 or 1).
"""
from __future__ import annotations

import copy
import inspect
import numbers
from collections.abc import Mapping

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy.special import logit

from mats_eval.errors import UsageError
from mats_eval.models.likelihoods import PAD, cutpoint_table, log_interval_probability


class PriorError(UsageError, ValueError):
    """A prior override that cannot be used (unknown distribution, bad parameters)."""


Prior = tuple[str, dict]

ATTENDANCE_PRIORS: dict[str, Prior] = {
    # intercept at the mean of the (centred) covariates: logit of a typical attendance rate
    "attendance_intercept": ("Normal", {"mu": 0.0, "sigma": 1.5}),
    "attendance_kind": ("ZeroSumNormal", {"sigma": 1.0}),  # zero-sum: the intercept carries the level
    "attendance_mandatory": ("Normal", {"mu": 0.0, "sigma": 1.5}),
    "attendance_volume": ("Normal", {"mu": 0.0, "sigma": 0.5}),
    "attendance_week_slope": ("Normal", {"mu": 0.0, "sigma": 0.5}),
    "attendance_week_slope_mandatory": ("Normal", {"mu": 0.0, "sigma": 0.5}),
    # variance of the cohorts' week slopes (sd attendance_week_slope_cohort_sd; priors.cohort_effect):
    # sd median 0.04, 90% 0.02–0.11 per week, i.e. ±0.4 logits over 10 weeks at most
    "attendance_week_slope_cohort_var": ("InverseGamma", {"alpha": 1.5, "beta": 0.002}),
    # cohort variance σ² (sd σ = attendance_cohort_sd): InverseGamma so that σ can be
    # integrated out (priors.cohort_effect); α = 1.5, β = 0.1 give σ a median of 0.29 and a
    # 90% interval of 0.16–0.75 logits: cohorts do differ, by up to ~15 points of attendance
    "attendance_cohort_var": ("InverseGamma", {"alpha": 1.5, "beta": 0.1}),
    "attendance_scholar_sd": ("HalfNormal", {"sigma": 1.0}),
    "attendance_session_sd": ("HalfNormal", {"sigma": 0.5}),
    # form="floor" only: p_w = p_1·(φ + (1 − φ)·exp(−λ_c (w − 1))), log λ_c = log λ + a_c, a_c ~ N(0, σ_λ²)
    "attendance_floor_fraction": ("Beta", {"alpha": 2.0, "beta": 2.0}),
    # on the fitted cohorts' geometric-mean rate λ·exp(ā) (`attendance_decay_rate_fitted`), which the data
    # pin, not on λ and ā apart (models/attendance.py floor_probability says why)
    "attendance_decay_rate": ("HalfNormal", {"sigma": 0.5}),
    # variance σ_λ² of the cohorts' log decay rates, integrated out (priors.cohort_effect) as the
    # cohort variances are: the non-centred form funnelled (3 divergences on data/example). σ_λ median
    # 0.21, as the former HalfNormal(0.3) sd prior's; `attendance_decay_rate_cohort_sd` selects that form
    "attendance_decay_rate_cohort_var": ("InverseGamma", {"alpha": 1.5, "beta": 0.05}),
}

RATING_PRIORS: dict[str, Prior] = {
    "rating_kind": ("ZeroSumNormal", {"sigma": 1.0}),  # zero-sum: the cutpoints carry the level
    "rating_mandatory": ("Normal", {"mu": 0.0, "sigma": 1.0}),
    "rating_volume": ("Normal", {"mu": 0.0, "sigma": 0.5}),
    "rating_week": ("Normal", {"mu": 0.0, "sigma": 0.25}),
    "rating_cohort_var": ("InverseGamma", {"alpha": 1.5, "beta": 0.1}),  # as attendance_cohort_var
    "rating_scholar_sd": ("HalfNormal", {"sigma": 1.0}),
    # sd of speaker effects. Gamma(2, 4.9), as rating_session_sd below and for the same reason seen
    # from the other side: with ~3 sessions per speaker, session effects can absorb the speaker
    # spread, so under the former HalfNormal(0.5) σ's lower tail stayed open and a chain could
    # wander to σ ≈ 0.002 for ~150 draws while rating_session_sd rose to take its place (data/example
    # on a freshly compiled density: bulk ESS 241, R-hat 1.010, the gate failed; benchmarks/RESULTS.md
    # "The example on a fresh clone"). Same median (0.34) and 95% point (0.97), density 0 at σ = 0.
    "rating_speaker_sd": ("Gamma", {"alpha": 2.0, "beta": 4.9}),
    # sd of session effects on the rating latent (what one session's delivery, topic and room add
    # beyond kind, policy, volume, week, cohort and speaker). Gamma(2, 4.9): median 0.34 and 95%
    # below 0.97 logits, as the half-normal(0.5) of attendance_session_sd (a session 1 logit above
    # its kind raises its mean rating by 1–1.5 points on a 1–10 scale, already a lot), but with
    # density 0 at σ = 0 (5% below 0.07): no two sessions are exactly alike. Why not half-normal:
    # a speaker's sessions share the speaker effect, so with ~3 sessions per speaker the data
    # leave σ's lower tail open down to 0 (mats-history: 1% quantile 0.005), and the sampler
    # crawls along that tail in log σ (bulk ESS 290–370 of 6,000 draws in 4 of 20 full-scale
    # coverage fits); with Gamma(2, 4.9) the same datasets give 780–890 (benchmarks/HISTORY.md
    # "Coverage at full scale: the attempts of sessions 12–16"). A boundary-avoiding prior for a
    # group sd, as Chung et al. (2013).
    "rating_session_sd": ("Gamma", {"alpha": 2.0, "beta": 4.9}),
    # cutpoints: induced Dirichlet (priors.ordered_cutpoints): the category shares at the
    # population-average latent ~ Dirichlet(a, …, a); a = 2 leans mildly towards equal shares
    "rating_cutpoints": ("Dirichlet", {"a": 2.0}),
}


RETRO_PRIORS: dict[str, Prior] = {
    "retro_element": ("ZeroSumNormal", {"sigma": 1.0}),  # zero-sum: the cutpoints carry the level
    "retro_mandatory": ("Normal", {"mu": 0.0, "sigma": 1.0}),
    "retro_cohort_var": ("InverseGamma", {"alpha": 1.5, "beta": 0.1}),  # as attendance_cohort_var
    "retro_scholar_sd": ("HalfNormal", {"sigma": 1.0}),
    "retro_cutpoints": ("Dirichlet", {"a": 2.0}),  # as rating_cutpoints
}

# Joint model only (models/joint.py): the retrospective scholar effect loads on the
# rating trait r_i (t_i = loading·r_i; own_sd only with joint_model(retro_own_term=True)).
JOINT_PRIORS: dict[str, Prior] = {
    "retro_scholar_loading": ("Normal", {"mu": 0.0, "sigma": 1.0}),
    "retro_scholar_own_sd": ("HalfNormal", {"sigma": 0.5}),
}

# Relevance model only (models/relevance.py): the match of a session's topic and a scholar's stream.
RELEVANCE_PRIORS: dict[str, Prior] = {
    # log-odds a relevant session adds to attendance and to the rating latent: N(0, 1) allows a
    # relevant session to be attended from 50% to 85% or rated ~1.5 points higher, and shrinks no
    # more than the policy effect's own prior does (they compete for the same contrast)
    "attendance_relevance": ("Normal", {"mu": 0.0, "sigma": 1.0}),
    "rating_relevance": ("Normal", {"mu": 0.0, "sigma": 1.0}),
    # how much streams differ in it, as a variance σ² (sd `<x>_relevance_stream_sd`): few streams
    # (3–6) with thousands of rows each are a few data-rich groups like cohorts, whose sd funnels
    # in both the centred and the non-centred form (a half-normal sd, non-centred, gave the
    # divergences that failed the gate on mats-history: RESULTS.md), so σ is integrated out
    # (priors.cohort_effect). α = 1.5, β = 0.05 give σ a median of 0.21 and a 90% interval of
    # 0.11–0.53 logits, the median of the former HalfNormal(0.3), which a user can still give as
    # `<x>_relevance_stream_sd` (then non-centred)
    "attendance_relevance_stream_var": ("InverseGamma", {"alpha": 1.5, "beta": 0.05}),
    "rating_relevance_stream_var": ("InverseGamma", {"alpha": 1.5, "beta": 0.05}),
}

def _check_entry(name: str, entry) -> Prior:
    """Validate one prior entry; return it as (dist, params) or raise PriorError."""
    if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
        raise PriorError(f"prior {name!r}: expected (distribution, {{parameters}}), got {entry!r}")
    dist, params = entry
    if not isinstance(dist, str) or not isinstance(getattr(pm, dist, None), type) or not issubclass(
        getattr(pm, dist), pm.Distribution
    ):
        raise PriorError(f"prior {name!r}: {dist!r} is not a PyMC distribution (e.g. 'Normal', 'HalfNormal')")
    if not isinstance(params, Mapping):
        raise PriorError(f"prior {name!r}: parameters must be a dict, got {params!r}")
    for key, value in params.items():
        ok = isinstance(value, numbers.Real) or (
            isinstance(value, (list, tuple, np.ndarray)) and np.issubdtype(np.asarray(value).dtype, np.number)
        )
        if not ok or not np.all(np.isfinite(np.asarray(value, dtype=float))):
            raise PriorError(f"prior {name!r}: parameter {key!r} must be a finite number, got {value!r}")
    return dist, dict(params)


def _check_parameters(name: str, dist: str, params: dict, skip: tuple[str, ...] = ()) -> None:
    """Build the distribution once so misspelt parameter names fail here, not mid-model."""
    if any(k in skip for k in params):
        return
    signature = inspect.signature(getattr(pm, dist).dist)
    known = {n for n, prm in signature.parameters.items() if prm.kind not in (prm.VAR_KEYWORD, prm.VAR_POSITIONAL)}
    unknown = sorted(set(params) - known)
    if unknown:  # PyMC swallows unknown keywords silently, so check the names ourselves
        raise PriorError(f"prior {name!r}: {dist} has no parameter(s) {', '.join(unknown)} "
                         f"(it takes {', '.join(sorted(known - {'cls'}))})")
    try:
        try:
            getattr(pm, dist).dist(**params)
        except ValueError as exc:  # vector-only distributions (ZeroSumNormal) need a shape
            if "shape" not in str(exc):
                raise
            getattr(pm, dist).dist(**params, shape=(2,))
    except Exception as exc:  # PyMC raises TypeError/ValueError for bad parameters
        raise PriorError(f"prior {name!r}: {dist}({params}) is not valid: {exc}") from None


# Families a cohort-level sd may take instead of the integrated InverseGamma variance
# (positive support; the half-t is the usual choice when few groups are seen).
COHORT_SD_FAMILIES = ("HalfNormal", "HalfStudentT", "HalfCauchy", "Exponential", "Gamma", "LogNormal")
_VARIANCE_SUFFIX, _SD_SUFFIX = "_var", "_sd"


def cohort_sd_alternatives(defaults: Mapping[str, Prior]) -> dict[str, str]:
    """{`<x>_sd`: `<x>_var`}: the sd priors a user may give instead of a default group variance
    (`<x>_cohort_var`, `<x>_stream_var`)."""
    return {name[: -len(_VARIANCE_SUFFIX)] + _SD_SUFFIX: name for name in defaults if name.endswith(_VARIANCE_SUFFIX)}


def valid_prior_names(defaults: Mapping[str, Prior]) -> list[str]:
    """Every name an override may use: the defaults' and the cohort-sd alternatives (sorted)."""
    return sorted({*defaults, *cohort_sd_alternatives(defaults)})


def as_entry(name: str, entry, default: Prior | None):
    """An override in any accepted form -> (dist, params): (dist, params), {dist: ..., **params}
    or bare params (merged into `default`)."""
    if isinstance(entry, Mapping):
        params = {k: v for k, v in entry.items() if k != "dist"}
        if "dist" in entry:
            return entry["dist"], params
        if default is None:
            raise PriorError(f"prior {name!r} has no default to take parameters into: name its family, "
                             f"e.g. {{dist: HalfNormal, sigma: 0.5}}")
        return default[0], {**default[1], **params}
    if isinstance(entry, list):  # YAML has no tuples
        return tuple(entry)
    return entry


def resolve_priors(defaults: Mapping[str, Prior], overrides: Mapping | None = None) -> dict[str, Prior]:
    """defaults ⊕ overrides: unknown names and malformed entries raise PriorError (naming the prior).

    An sd override `<x>_cohort_sd` (`<x>_stream_sd`) replaces the default variance `<x>_cohort_var`
    (`<x>_stream_var`; see the module docstring).
    """
    resolved = copy.deepcopy(dict(defaults))
    if not overrides:
        return resolved
    if not isinstance(overrides, Mapping):
        raise PriorError(f"priors must be a mapping of name -> distribution and parameters, "
                         f"got {type(overrides).__name__}")
    alternatives = cohort_sd_alternatives(defaults)
    unknown = sorted(str(n) for n in overrides if n not in defaults and n not in alternatives)
    if unknown:
        raise PriorError(f"unknown prior(s) {', '.join(map(repr, unknown))} for this model; "
                         f"valid names: {', '.join(valid_prior_names(defaults))}")
    for name, entry in overrides.items():
        dist, params = _check_entry(name, as_entry(name, entry, resolved.get(name)))
        if name.endswith("_cutpoints"):
            _check_cutpoint_prior(name, dist, params)
        elif name in alternatives:
            if alternatives[name] in overrides:
                raise PriorError(f"priors {name!r} and {alternatives[name]!r} both set the same spread: "
                                 f"give one of them")
            if dist not in COHORT_SD_FAMILIES:
                raise PriorError(f"prior {name!r}: a cohort or stream sd takes one of {', '.join(COHORT_SD_FAMILIES)}, "
                                 f"got {dist}")
            _check_parameters(name, dist, params)
            del resolved[alternatives[name]]
        else:
            _check_parameters(name, dist, params)
        resolved[name] = (dist, params)
    return resolved


def read_priors_file(path) -> dict:
    """The overrides of a `--priors` YAML file (name -> {dist: ..., params...}); PriorError naming the file."""
    import yaml
    from pathlib import Path

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PriorError(f"priors file {path}: cannot read it as YAML ({exc})") from None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise PriorError(f"priors file {path}: expected a mapping of prior name -> distribution and parameters, "
                         f"e.g. 'rating_mandatory: {{dist: Normal, mu: 0, sigma: 0.5}}'")
    return dict(raw)


def as_priors(priors) -> dict | None:
    """Overrides from a mapping, a YAML file path, or None (what `fit(priors=...)` accepts)."""
    from pathlib import Path

    if isinstance(priors, (str, Path)):
        return read_priors_file(priors)
    return priors


def priors_record(resolved: Mapping[str, Prior], overrides: Mapping | None = None) -> dict:
    """priors.json: {name: {"dist", "params", "set_by": "user" | "default"}} for every prior the model used."""
    given = set(overrides or {})
    return {name: {"dist": dist, "params": {k: (np.asarray(v).tolist() if isinstance(v, (list, tuple, np.ndarray))
                                                 else float(v)) for k, v in params.items()},
                   "set_by": "user" if name in given else "default"}
            for name, (dist, params) in sorted(resolved.items())}


# parameters that fix a distribution's structure (an axis count), kept as constants
_STRUCTURAL_PARAMETERS = frozenset({"n_zerosum_axes"})
# The priors whose parameters are the model's data (prior_parameter): those the prior-sensitivity
# check rescales (checks/identification.py SENSITIVITY_TARGETS; a test keeps the two in step).
# Only these: every data variable is one more input of the compiled density, and with all ~60
# priors as data Numba compiled the example's model in 67 s with a warm cache instead of 27 s
# (it could not reuse its cached functions).
DATA_PRIORS = frozenset({f"{outcome}_{prior}" for outcome in ("attendance", "rating", "retro")
                         for prior in ("mandatory", "cohort_var", "cohort_sd")})


def prior_data_name(prior: str, parameter: str) -> str:
    """The model's data variable holding parameter `parameter` of prior entry `prior`."""
    return f"{prior}__{parameter}"


def prior_parameter(prior: str, parameter: str, value):
    """`value` as the data variable `<prior>__<parameter>` of the current model (pm.Data, one per model)
    when `prior` is one of DATA_PRIORS; else `value` itself, a constant.

    Why data, not a constant: a refit under a rescaled prior (inference/refit.py) then sets new
    values in the already compiled density (nutpie's `with_data`) instead of compiling the model
    again, which costs ~17 s with warm caches and a minute or more with empty ones.
    """
    if prior not in DATA_PRIORS:
        return value
    model = pm.modelcontext(None)
    name = prior_data_name(prior, parameter)
    if name in model.named_vars:
        return model.named_vars[name]
    return pm.Data(name, np.asarray(value, dtype=float))


def prior_data_values(model: pm.Model, built_under: Mapping[str, Prior], wanted: Mapping[str, Prior]) -> dict | None:
    """{data variable: value} that turn `model`, built under the resolved priors `built_under`, into the
    model under `wanted`; None when they differ in more than parameter values (another family, another
    set of priors, or a parameter the model holds as a constant), so that only a new build will do."""
    if set(built_under) != set(wanted):
        return None
    values = {}
    for name, (dist, params) in wanted.items():
        old_dist, old_params = built_under[name]
        if dist != old_dist or set(params) != set(old_params):
            return None
        for parameter, value in params.items():
            if np.array_equal(np.asarray(value, dtype=float), np.asarray(old_params[parameter], dtype=float)):
                continue
            data_name = prior_data_name(name, parameter)
            if data_name not in model.named_vars:
                return None
            values[data_name] = np.asarray(value, dtype=float)
    return values


def has_location(dist: str) -> bool:
    """Whether PyMC's family `dist` has a location `mu` that make_prior's `shift` can move."""
    return "mu" in inspect.signature(getattr(pm, dist).dist).parameters


def make_prior(priors: Mapping[str, Prior], name: str, var_name: str | None = None, shift=None, **kwargs):
    """Create the random variable `var_name` (default `name`) from entry `name` in the current model.

    The numeric parameters of DATA_PRIORS are the model's data variables `<name>__<parameter>` (prior_parameter).
    `shift` moves the location (x ~ D(mu + shift)): used to sample a shifted copy of a
    parameter, x + shift, whose prior is that of x.
    """
    dist, params = priors[name]
    params = {key: value if key in _STRUCTURAL_PARAMETERS else prior_parameter(name, key, value)
              for key, value in params.items()}
    if shift is not None:
        if not has_location(dist):
            raise PriorError(f"prior {name!r}: needs a location family with a 'mu' parameter, not {dist}")
        params["mu"] = params.get("mu", 0.0) + shift
    return getattr(pm, dist)(var_name or name, **params, **kwargs)


def group_effect(priors: Mapping[str, Prior], sd_name: str, effect_name: str, dim: str,
                 deterministic: bool = True, centred: bool = False):
    """Group effect ~ N(0, sd) over `dim`: non-centred effect = sd · z, z ~ N(0, 1) (`<effect>_z`),
    or centred (`centred=True`, the effect itself is sampled).

    Non-centred suits many weakly-informed groups (scholars, sessions, speakers). For a
    few data-rich groups (cohorts) neither form samples well on data/example (centred:
    ~100 divergences; non-centred: intercept ESS ~150); use cohort_effect there.
    """
    sd = make_prior(priors, sd_name)
    if centred:
        return pm.Normal(effect_name, 0.0, sd, dims=dim)
    z = pm.Normal(f"{effect_name}_z", 0.0, 1.0, dims=dim)
    effect = sd * z
    return pm.Deterministic(effect_name, effect, dims=dim) if deterministic else effect


def split_group_effect(priors: Mapping[str, Prior], sd_name: str, effect_name: str, dim: str, n: int,
                       deterministic: bool = True):
    """Group effect a ~ N(0, sd) iid over `dim`, split into its mean and zero-sum deviations.

    a_c = ā + ã_c,  ā = sd·ζ/√n (ζ ~ N(0,1), `<effect>_mean_z`),  ã = sd·z̃
    (z̃ ~ ZeroSumNormal(1) = z − z̄ of iid N(0,1), `<effect>_z`): exactly the iid model.
    Why: only level + ā is identified; models sample that sum directly and let ā
    follow its prior (see models/attendance.py), which removes the intercept–group
    ridge that stalls the sampler. For a few data-rich groups use cohort_effect.
    Returns (sd, ā, ã); the full effect is kept as the Deterministic `effect_name`.
    """
    sd = make_prior(priors, sd_name)
    mean_z = pm.Normal(f"{effect_name}_mean_z", 0.0, 1.0)
    dev = sd * pm.ZeroSumNormal(f"{effect_name}_z", sigma=1.0, dims=dim)
    mean = sd * mean_z / np.sqrt(n)
    if deterministic:
        pm.Deterministic(effect_name, mean + dev, dims=dim)
    return sd, mean, dev


def helmert_basis(n: int) -> np.ndarray:
    """Orthonormal n×n matrix whose first row is 1/√n (the mean); the others span the zero-sum contrasts."""
    basis = np.zeros((n, n))
    basis[0] = 1.0 / np.sqrt(n)
    for j in range(1, n):
        basis[j, :j] = 1.0 / np.sqrt(j * (j + 1))
        basis[j, j] = -j / np.sqrt(j * (j + 1))
    return basis


def cohort_effect(priors: Mapping[str, Prior], var_name: str, sd_name: str, effect_name: str, dim: str, n: int):
    """Effects of a few data-rich groups (cohorts, streams): a_c ~ N(0, σ²) iid, σ² ~ InverseGamma(α, β) (`var_name`),
    or σ ~ the user's prior `sd_name` (then non-centred: cohort_effect_noncentred).

    With ~3 cohorts of thousands of rows each the data pin the a_c, and both the
    centred and the non-centred forms funnel where σ is small (divergences on
    data/example). So σ is integrated out and drawn back exactly:

        x = H·a ~ MvStudentT(ν = 2α, 0, (β/α)·I)     (`<effect>_t`, H = helmert_basis)
        σ² = (β + |x|²/2) / G,  G ~ Gamma(α + n/2, 1)  (`<sd_name>_gamma`)

    which is the same joint distribution as the hierarchy (σ² | a ~ InverseGamma(α + n/2,
    β + |a|²/2)), but G is independent of a a priori and a posteriori (σ touches the
    data only through a). x's first entry is √n·ā, the others the zero-sum contrasts.
    Returns (σ, ā, a − ā); the full effect is the Deterministic `effect_name`.
    """
    if sd_name in priors:
        return cohort_effect_noncentred(priors, sd_name, effect_name, dim)
    dist, params = priors[var_name]
    if dist != "InverseGamma" or set(params) != {"alpha", "beta"}:
        raise PriorError(f"prior {var_name!r}: the cohort variance needs InverseGamma(alpha, beta) "
                         f"(integrated out exactly; see priors.cohort_effect), got {dist}{params}")
    # β, the variance's scale, as data (prior_parameter), so that a refit under a rescaled cohort prior
    # reuses the compiled density; α sets the Student-t's degrees of freedom and stays a constant
    alpha, beta = float(params["alpha"]), prior_parameter(var_name, "beta", params["beta"])
    model = pm.modelcontext(None)
    basis_dim = f"{dim}_basis"
    if basis_dim not in model.coords:
        model.add_coord(basis_dim, ["mean"] + [f"contrast_{j}" for j in range(1, n)])
    x = pm.MvStudentT(f"{effect_name}_t", nu=2 * alpha, mu=np.zeros(n), scale=pt.eye(n) * beta / alpha,
                      dims=basis_dim)
    gamma = pm.Gamma(f"{sd_name}_gamma", alpha=alpha + n / 2, beta=1.0)
    sd = pm.Deterministic(sd_name, pt.sqrt((beta + pt.sum(x**2) / 2) / gamma))
    effect = pt.dot(helmert_basis(n).T, x)
    pm.Deterministic(effect_name, effect, dims=dim)
    mean = x[0] / np.sqrt(n)
    return sd, mean, effect - mean


def cohort_effect_noncentred(priors: Mapping[str, Prior], sd_name: str, effect_name: str, dim: str):
    """a_c = σ·z_c, z_c ~ N(0, 1) (`<effect>_z`), σ ~ the prior `sd_name` (e.g. HalfNormal, HalfStudentT).

    The path a user's cohort-sd prior selects: σ is sampled, not integrated out, so a small σ
    can funnel (watch divergences). Returns (σ, ā, a − ā) as cohort_effect does.
    """
    sd = make_prior(priors, sd_name)
    z = pm.Normal(f"{effect_name}_z", 0.0, 1.0, dims=dim)
    effect = pm.Deterministic(effect_name, sd * z, dims=dim)
    mean = pt.mean(effect)
    return sd, mean, effect - mean


def kind_centred(priors: Mapping[str, Prior], kind_name: str, beta, x: np.ndarray, kind_idx: np.ndarray,
                 n_kinds: int, dim: str = "kind"):
    """Kind effects with a slope β whose covariate x differs mostly between kinds (volume).

    The data pin each kind's level at its typical x, not kind[k] and β apart, which
    leaves a ridge between them (data/example: seminars run 2–8 a week, the other
    kinds 1–2). So the model is written around each kind's own mean x̄_k:

        η = kind'[k] + β·(x − x̄_k),   kind = kind' − β·(x̄_k − m)   (canonical, centre m)

    with m the mean of the x̄_k over kinds. The prior (entry `kind_name`) is on
    kind' (`<kind_name>_at_own_volume`): the effect of a kind at its usual
    volume, which is what a programme lead has a view on; the canonical
    `<kind_name>` (at the common volume m, zero-sum too) is a Deterministic.
    Returns (kind', x̄ per kind, m); callers centre x at x̄_k (rows of kind k).
    """
    xbar = np.array([x[kind_idx == k].mean() if np.any(kind_idx == k) else np.nan for k in range(n_kinds)])
    m = float(np.nanmean(xbar))
    xbar = np.where(np.isnan(xbar), m, xbar)
    own = make_prior(priors, kind_name, f"{kind_name}_at_own_volume", dims=dim)
    pm.Deterministic(kind_name, own - beta * (xbar - m), dims=dim)
    return own, xbar, m


def policy_cohort_direction(policy: np.ndarray, cohort: np.ndarray, n_cohorts: int) -> np.ndarray | None:
    """u_c = m_c − mean(m) over the cohorts with rows, 0 elsewhere, when every cohort's rows share one
    policy m_c that is not the same in all of them (checks/identification.py's `confounded`); else None.

    `policy` and `cohort` are per row (the sessions the likelihood sees).
    """
    present = np.unique(cohort)
    by_cohort = np.zeros(n_cohorts)
    for c in present:
        values = policy[cohort == c]
        if np.ptp(values) > 0:  # policy varies within a cohort: the contrast is identified there
            return None
        by_cohort[c] = values[0]
    if np.ptp(by_cohort[present]) == 0:
        return None
    u = np.zeros(n_cohorts)
    u[present] = by_cohort[present] - by_cohort[present].mean()
    return u


def policy_with_cohort(priors: Mapping[str, Prior], name: str, cohort_dev, direction: np.ndarray):
    """The policy coefficient β_m (entry `name`), sampled along the cohort effects where policy
    changes only between cohorts (`direction` u from policy_cohort_direction, not None).

    The predictor then holds β_m·u_c + ã_c, so the data fix D = β_m + g with g = u·ã / u·u (the
    cohort deviations' part along u), never β_m and ã apart: a ridge whose length only the priors
    set, which a diagonal mass matrix crosses slowly (confounded data: a third of the fits failed
    the gate, benchmarks/RESULTS.md). D is sampled (`<name>_with_cohort`, β_m's prior shifted by g)
    and β_m = D − g is the Deterministic `name`: the same joint density (a shear, Jacobian 1), with
    the ridge along a coordinate axis. Returns β_m.
    """
    if not has_location(priors[name][0]):  # a user's family without `mu`: β_m itself
        return make_prior(priors, name)
    gap = pt.dot(cohort_dev, direction) / float(direction @ direction)
    with_cohort = make_prior(priors, name, f"{name}_with_cohort", shift=gap)
    return pm.Deterministic(name, with_cohort - gap)


def recentre_on_informed(mean, dev, informed: np.ndarray, n: int):
    """(ā, ã) of a cohort effect a = ā + ã split again around its mean over the `informed` cohorts
    (codes) instead of all n; unchanged when every cohort, or none, is informed.

    A cohort with no rows for a term (no optional sessions, say) leaves its a_c to the prior. The
    identified sums the models sample (a total slope, a fitted rate) must then hold the mean over
    the informed cohorts only; with the plain mean they and the uninformed a_c form a ridge.
    """
    if not 0 < len(informed) < n:
        return mean, dev
    shift = pt.mean(dev[informed])
    return mean + shift, dev - shift


def _check_cutpoint_prior(name: str, dist: str, params: dict) -> None:
    if dist != "Dirichlet" or set(params) != {"a"} or not float(params["a"]) > 0:
        raise PriorError(f"prior {name!r}: cutpoints take an induced Dirichlet, ('Dirichlet', {{'a': a > 0}}), "
                         f"got {dist}{params}")


def induced_dirichlet_logp(value, template, a, offset):
    """log density of cutpoints c = value + offset whose category shares p_k = σ(c_k) − σ(c_{k−1}) ~ Dirichlet(a):

        log Dir(p | a) + Σ_k log σ'(c_k)     (Betancourt's induced Dirichlet; σ' is the Jacobian of c → p)
    """
    c = value + offset
    log_p = log_interval_probability(pt.concatenate([pt.as_tensor([-PAD]), c]), pt.concatenate([c, pt.as_tensor([PAD])]))
    n = log_p.shape[0]
    log_norm = pt.gammaln(a * n) - n * pt.gammaln(a)
    return log_norm + (a - 1) * pt.sum(log_p) + pt.sum(-pt.softplus(-c) - pt.softplus(c))


def induced_dirichlet_draws(template, a, offset, rng=None, size=None) -> np.ndarray:
    """Exact draws of c − offset: c = logit(cumulative shares), shares ~ Dirichlet(a, …, a) over the
    len(template) + 1 categories (template: a vector of the cutpoints' length, for PyMC's shape inference)."""
    k = np.shape(template)[-1] + 1
    offset = np.asarray(offset, dtype=float)
    batch = offset.shape if size is None else tuple(size)
    shares = rng.dirichlet(np.full(k, float(np.asarray(a).reshape(-1)[0])), size=batch)
    cumulative = np.clip(np.cumsum(shares, axis=-1)[..., :-1], 1e-15, 1 - 1e-15)
    return np.sort(logit(cumulative), axis=-1) - np.broadcast_to(offset, batch)[..., None]


class MiddleOrdered(pm.distributions.transforms.Transform):
    """Ordered values c_0 < … < c_{n−1} from their middle one: y_m = c_m (m = n // 2) and the
    log-gaps outward, y_k = log(c_{k+1} − c_k) below m and log(c_k − c_{k−1}) above it.

    Why not PyMC's `ordered` (y_0 = c_0, then log-gaps upward): a category the data never use
    at the bottom of a scale (no 0 on a 0–10 retrospective) leaves c_0 free, and every other
    cutpoint is c_0 plus gaps, so c_1 = y_0 + exp(y_1) pinned by the data bends (y_0, y_1) into
    a banana whose tail diverged on mats-history (RESULTS.md). Anchored at the middle, an
    empty end category moves only its own gap.
    """

    name = "middle_ordered"
    ndim_supp = 1

    def backward(self, value, *inputs):
        m = value.shape[-1] // 2
        anchor = pt.shape_padright(value[..., m])
        below = pt.cumsum(pt.exp(value[..., :m])[..., ::-1], axis=-1)[..., ::-1]
        above = pt.cumsum(pt.exp(value[..., m + 1:]), axis=-1)
        return pt.concatenate([anchor - below, anchor, anchor + above], axis=-1)

    def forward(self, value, *inputs):
        m = value.shape[-1] // 2
        gaps = pt.log(value[..., 1:] - value[..., :-1])
        return pt.concatenate([gaps[..., :m], pt.shape_padright(value[..., m]), gaps[..., m:]], axis=-1)

    def log_jac_det(self, value, *inputs):
        m = value.shape[-1] // 2
        return pt.sum(value, axis=-1) - value[..., m]


def ordered_cutpoints(entry: Prior, scales, name_of, dim_prefix: str, level, shift) -> "pt.TensorVariable":
    """Ordered cutpoints per scale as the (n_scales, K_max + 1) table of likelihoods.cutpoint_table.

    Prior: induced Dirichlet on c = c* + level (the category shares of the
    population-average scholar and cohort ~ Dirichlet(a)); it has exact forward
    draws, so prior predictive checks and SBC see ordered cutpoints (iid Normals
    with an ordered transform are only ordered inside the sampler). Sampled: c*
    (`<name>_raw`, through MiddleOrdered), which the data pin; canonical `<name>` = c* + level + shift.
    """
    dist, params = entry
    a = float(params["a"])
    sizes = [hi - lo + 1 for lo, hi in scales]
    rows = []
    for scale, k in zip(scales, sizes):
        dim = f"{dim_prefix}_{int(scale[0])}_{int(scale[1])}"

        raw = pm.CustomDist(
            f"{name_of(scale)}_raw", np.zeros(k - 1), a, level, logp=induced_dirichlet_logp,
            random=induced_dirichlet_draws, signature="(k),(),()->(k)", dims=dim, transform=MiddleOrdered(),
            initval=np.sort(cutpoint_prior_mean(k)),
        )
        pm.Deterministic(name_of(scale), raw + level + shift, dims=dim)
        rows.append(raw)
    return cutpoint_table(rows, max(sizes))


def cutpoint_prior_mean(n_categories: int) -> np.ndarray:
    """logit(j/K), j = 1..K−1: the cutpoints of equal category shares at η = 0."""
    return logit(np.arange(1, n_categories) / n_categories)

