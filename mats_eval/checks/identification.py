"""Is the policy effect identified by the design, or confounded with cohort?

Read from the design alone (which sessions / retrospective elements were
mandatory in which cohort), before any fit. Two outcomes are judged
separately: session ratings and attendance ("sessions", by kind) and the
end-of-programme survey ("retro", by element).

Per kind (or element) the verdict is
- ``within_cohort``: some cohort offered that kind under both policies, so the
  policy contrast is made inside one cohort and one kind (identified);
- ``between_cohorts``: the kind's policy changes only from one cohort to the
  next, so for that kind policy and cohort are confounded;
- ``constant``: the kind always had the same policy (it carries no contrast).

Overall, per outcome:
- ``identified``: at least one kind varies within a cohort;
- ``identified_across_kinds``: no kind varies within a cohort, but inside some
  cohort one kind was mandatory while another was optional, and that pattern
  is not explained by cohort and kind alone (the policy indicator is not in the
  span of cohort and kind dummies). The contrast then rests on an assumption:
  kind effects are the same in every cohort (policy is confounded with a
  kind × cohort interaction). Reported as weakly identified, with a prior
  sensitivity analysis. The retrospective survey has one policy per cohort and
  element, so a within-element contrast cannot exist there; for it this
  pattern (each respondent rates mandatory and optional elements of her own
  cohort: the within-cohort differences in policy across elements)
  is the design's identification and is reported as ``identified``, with the
  assumption in the note;
- ``confounded``: policy varies, but only in step with cohort (and kind): the
  indicator lies in the span of the cohort and kind dummies. The data cannot
  separate a policy effect from a cohort effect; only the priors can;
- ``no_variation``: every kind had the same policy everywhere.

``identification(data)`` returns a dict
``{"sessions": {...}, "retro": {...} or None, "volume": {...}, "verdict": ..., "confounded": bool,
"needs_sensitivity": bool}`` where each outcome holds ``{"verdict", "by_kind",
"note"}``. ``confounded`` is True when any outcome is ``confounded``;
``needs_sensitivity`` when any outcome is neither ``identified`` nor
``no_variation``. Where a policy contrast is not identified within cohorts, its
note also says that its `prob_positive` holds only under the assumption that
identifies it.

Volume (the weekly number of sessions of every kind, design.session_volume) is judged
too, under the key ``"volume"``: the models centre it within kind, so what informs
the volume slopes (and the volume optimum built on them) is how volume varies
inside a kind, split into its spread between cohorts and within cohorts
(`volume_identification`). When most of it lies between cohorts (within-cohort
share of the variance below VOLUME_WITHIN_SHARE_MIN) the slopes rest on cohort
effects being unrelated to volume, and their effects rows say so.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

VERDICTS = ("identified", "identified_across_kinds", "confounded", "no_variation")
# worst first: the overall verdict is the worst of the outcomes'
_SEVERITY = {"confounded": 3, "identified_across_kinds": 2, "no_variation": 1, "identified": 0}
_TOL = 1e-8

NOTES = {
    "identified": "identified: policy varies within a cohort for the same {unit}",
    "identified_across_kinds": (
        "weakly identified: policy of each {unit} changes only between cohorts; the contrast rests on "
        "{unit} effects being equal across cohorts, and prob_positive holds only if they are "
        "(see prior_sensitivity.csv)"
    ),
    "confounded": (
        "confounded with cohort: policy varies only between cohorts; the estimate reflects the priors, "
        "not the data, and prob_positive is conditional on the priors' assumption that cohorts differ "
        "little (see prior_sensitivity.csv)"
    ),
    "no_variation": "not identified: every {unit} had the same policy in every cohort",
    "identified_across_elements": (
        "identified within cohorts across elements (assumes element effects are equal across cohorts)"
    ),
}

# effects.csv estimand -> the outcome whose identification it inherits
POLICY_ESTIMANDS = {"mandatory_minus_optional_rating": "sessions", "mandatory_minus_optional_retro": "retro",
                    "mandatory_minus_optional_attendance": "sessions",
                    "mandatory_minus_optional_rating_averaged": "sessions",
                    "mandatory_minus_optional_attendance_averaged": "sessions"}
# prior_sensitivity.csv's rows: the reference-point contrasts (the averaged ones move with them)
PRIOR_SENSITIVITY_ESTIMANDS = ("mandatory_minus_optional_rating", "mandatory_minus_optional_retro",
                               "mandatory_minus_optional_attendance")
# verdicts whose contrast rests on an assumption about cohorts: their notes add the tipping point
ASSUMED = ("confounded", "identified_across_kinds")


def _by_unit(table: pd.DataFrame, unit: str) -> dict[str, str]:
    """{kind: within_cohort | between_cohorts | constant} from rows (cohort, unit, policy)."""
    out = {}
    for level, rows in table.groupby(unit, sort=True):
        per_cohort = rows.groupby("cohort")["policy"].nunique()
        if (per_cohort > 1).any():
            out[str(level)] = "within_cohort"
        elif rows["policy"].nunique() > 1:
            out[str(level)] = "between_cohorts"
        else:
            out[str(level)] = "constant"
    return out


def in_span(y: np.ndarray, X: np.ndarray) -> bool:
    """Is y (numerically) a linear combination of the columns of X?"""
    if X.size == 0:
        return not np.any(y)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    return float(resid @ resid) <= _TOL * max(float(y @ y), 1.0)


def judge(table: pd.DataFrame, unit: str, within_unit_possible: bool = True) -> dict:
    """Verdict for rows (cohort, `unit`, policy): see the module docstring.

    `within_unit_possible=False` (the retrospective survey): a contrast across
    units within a cohort is the best design there is and counts as identified.
    """
    label = "kind" if unit == "kind" else "element"
    cells = table[["cohort", unit, "policy"]].astype(str).drop_duplicates()
    by_unit = _by_unit(cells, unit)
    if cells["policy"].nunique() < 2:
        verdict = "no_variation"
    elif "within_cohort" in by_unit.values():
        verdict = "identified"
    else:
        y = (cells["policy"] == "mandatory").to_numpy(float)
        X = pd.concat([pd.get_dummies(cells["cohort"], dtype=float), pd.get_dummies(cells[unit], dtype=float)],
                      axis=1).to_numpy(float)
        verdict = "confounded" if in_span(y, X) else "identified_across_kinds"
    note = NOTES[verdict].format(unit=label)
    if verdict == "identified_across_kinds" and not within_unit_possible:
        verdict, note = "identified", NOTES["identified_across_elements"]
    return {"verdict": verdict, "by_" + label: by_unit, "note": note}


def identification(data) -> dict:
    """Identification of the policy effect in `data` (a ProgramData); see the module docstring."""
    sessions = judge(data.sessions, "kind")
    retro = None
    r = data.retrospective
    if r is not None and len(r):
        rows = r.merge(data.scholars[["scholar_id", "cohort"]], on="scholar_id")
        retro = judge(rows, "element", within_unit_possible=False)
    outcomes = [o for o in (sessions, retro) if o is not None]
    worst = max(outcomes, key=lambda o: _SEVERITY[o["verdict"]])["verdict"]
    return {
        "sessions": sessions,
        "retro": retro,
        "volume": volume_identification(data.sessions),
        "verdict": worst,
        "confounded": any(o["verdict"] == "confounded" for o in outcomes),
        "needs_sensitivity": any(o["verdict"] in ("confounded", "identified_across_kinds") for o in outcomes),
    }


def effect_notes(ident: dict) -> dict[str, str]:
    """{effects.csv estimand: note} for the policy contrasts (the outcome's verdict in words)."""
    out = {}
    for estimand, outcome in POLICY_ESTIMANDS.items():
        o = ident.get(outcome)
        if o is None:
            continue
        out[estimand] = o["note"]
    return out


def volume_notes(ident: dict) -> dict[str, str]:
    """{volume estimand: note} when volume is not identified within cohorts ('' otherwise: no note)."""
    volume = ident.get("volume")
    if not volume or not volume["note"] or volume["verdict"] == "identified":
        return {}
    return dict.fromkeys(VOLUME_ESTIMANDS, volume["note"])


def note_digits(scale) -> int:
    """Decimals of a number in a note: whole percentage points; rating points to 0.01."""
    return 0 if "percentage" in str(scale) else 2


def tipping_point(row) -> str:
    """How large a cohort difference, mistaken for the policy, would undo a contrast (effects.csv row).

    Confounded, the estimate is (raw gap) − (cohort gap the priors allow), so a cohort gap of |mean|
    in the estimate's direction cancels it, and one of the distance from zero to the interval's nearer
    end brings that end to zero.
    """
    mean, low, high, scale = float(row["mean"]), float(row["hdi_low"]), float(row["hdi_high"]), row["scale"]
    digits = note_digits(scale)
    if low <= 0 <= high:
        return (f"tipping point: the interval already includes zero; a cohort difference of {abs(mean):.{digits}f} "
                f"{scale} would cancel the estimate")
    nearer = min(abs(low), abs(high))
    side = "lower" if mean < 0 else "higher"
    return (f"tipping point: if the mandatory cohorts' {side} values came from the cohorts rather than the "
            f"policy, a cohort difference of {nearer:.{digits}f} {scale} would bring the interval to zero and one "
            f"of {abs(mean):.{digits}f} would cancel the estimate")


def assumed_contrasts(ident: dict) -> set[str]:
    """The policy contrasts that rest on cohorts being alike (their outcome's verdict is in ASSUMED)."""
    return {e for e, outcome in POLICY_ESTIMANDS.items() if ident.get(outcome) and ident[outcome]["verdict"] in ASSUMED}


def add_notes(effects: pd.DataFrame, ident: dict) -> pd.DataFrame:
    """effects.csv with a `note` column: each policy row's identification (with its tipping point when the
    contrast rests on cohorts being alike) comes first, then the note the row had (the registry's, e.g.
    unobserved selection); the volume rows' identification is added after theirs (e.g. the optimum's
    extrapolation); other rows keep theirs, or ''."""
    policy, volume = effect_notes(ident), volume_notes(ident)
    assumed = assumed_contrasts(ident)
    out = effects.copy()
    existing = out["note"] if "note" in out else pd.Series("", index=out.index)
    notes = []
    for (_, row), old in zip(out.iterrows(), existing.fillna("").astype(str)):
        name = row["estimand"]
        parts = (policy.get(name, ""), tipping_point(row) if name in assumed else "", old, volume.get(name, ""))
        # clause by clause, each once: notes added twice (or a verdict already in `old`) are said once
        clauses = [c for part in parts if part for c in part.split("; ")]
        notes.append("; ".join(dict.fromkeys(clauses)))
    out["note"] = notes
    return out


# --- volume: within or between cohorts ----------------------------------------------------

VOLUME_ESTIMANDS = ("volume_slope_rating", "volume_slope_attendance", "optimal_sessions_per_week")
# "varies mostly between cohorts": less than half of volume's within-kind variance is within cohorts
VOLUME_WITHIN_SHARE_MIN = 0.5
VOLUME_NOTES = {
    "identified": "",
    "weakly_identified": (
        "weakly identified: weekly volume varies mostly between cohorts ({share:.0%} of its spread within "
        "kinds is within cohorts); the estimate rests on cohort effects being unrelated to volume, and "
        "prob_positive holds only if they are"
    ),
    "confounded": (
        "confounded with cohort: the number of sessions a week changes only between cohorts; the estimate "
        "reflects the priors on cohort effects, not the data"
    ),
    "no_variation": "not identified: every week of every cohort had the same number of sessions",
}


def volume_spread(sessions: pd.DataFrame) -> dict[str, float]:
    """Weekly volume V (design.session_volume) per session, its within-kind variance split as

        Σ (V − V̄_kind)² = Σ (V̄_cohort,kind − V̄_kind)² + Σ (V − V̄_cohort,kind)²    (between + within)

    over sessions; returns the two as variances (sums / number of sessions) and the within share."""
    from mats_eval.data.design import session_volume

    v = pd.Series(session_volume(sessions), index=sessions.index)
    kind_mean = v.groupby(sessions["kind"]).transform("mean")
    cell_mean = v.groupby([sessions["cohort"], sessions["kind"]]).transform("mean")
    between = float(((cell_mean - kind_mean) ** 2).mean())
    within = float(((v - cell_mean) ** 2).mean())
    total = between + within
    return {"between": between, "within": within, "within_share": within / total if total > _TOL else float("nan")}


def volume_identification(sessions: pd.DataFrame) -> dict:
    """{"verdict", "within_share", "sd_between", "sd_within", "note"} for the volume slopes (module docstring)."""
    spread = volume_spread(sessions)
    share = spread["within_share"]
    if not np.isfinite(share):
        verdict = "no_variation"
    elif spread["within"] <= _TOL:
        verdict = "confounded"
    elif share < VOLUME_WITHIN_SHARE_MIN:
        verdict = "weakly_identified"
    else:
        verdict = "identified"
    return {"verdict": verdict, "within_share": share, "sd_between": float(np.sqrt(spread["between"])),
            "sd_within": float(np.sqrt(spread["within"])),
            "note": VOLUME_NOTES[verdict].format(share=share if np.isfinite(share) else 0.0)}


__all__ = ["identification", "judge", "effect_notes", "add_notes", "volume_identification", "volume_spread",
           "VERDICTS", "POLICY_ESTIMANDS", "VOLUME_ESTIMANDS"]


# --- prior sensitivity (refit-free) ---------------------------------------------------

SENSITIVITY_FACTORS = (0.5, 2.0)
# Priors a policy contrast leans on when the data cannot separate policy from cohort:
# the policy coefficient itself and the spread of cohort effects it trades off against.
# Each target: (prior entry, parameter, power): the prior is on parameter**power (cohort
# variances σ², so scaling the sd by f scales the variance prior by f²).
SENSITIVITY_TARGETS = {
    "policy effect prior": (("rating_mandatory", "rating_mandatory", 1), ("retro_mandatory", "retro_mandatory", 1),
                            ("attendance_mandatory", "attendance_mandatory", 1)),
    "cohort sd prior": (("rating_cohort_var", "rating_cohort_sd", 2), ("retro_cohort_var", "retro_cohort_sd", 2),
                        ("attendance_cohort_var", "attendance_cohort_sd", 2),
                        # a user's sd prior (priors.cohort_effect_noncentred) is on σ itself
                        ("rating_cohort_sd", "rating_cohort_sd", 1), ("retro_cohort_sd", "retro_cohort_sd", 1),
                        ("attendance_cohort_sd", "attendance_cohort_sd", 1)),
}
UNRELIABLE_NOTE = "Pareto k > 0.7: reweighting unreliable; refit with this prior to be sure"
SENSITIVITY_COLUMNS = ["estimand", "prior", "scale_factor", "mean", "sd", "hdi_low", "hdi_high", "prob_positive",
                       "pareto_k", "reliable", "method", "note"]
# how a row's numbers were obtained: the default fit's draws reweighted (PSIS), or a refit under that
# prior (inference/refit.py) where the reweighting could not be trusted
REWEIGHTED, REFITTED = "reweighted", "refitted"


def _scaled(entry, factor: float):
    """The prior entry with its scale multiplied by `factor` (sigma, or 1/lam)."""
    dist, params = entry
    params = dict(params)
    if "sigma" in params or dist in ("Normal", "HalfNormal", "StudentT"):
        params["sigma"] = float(params.get("sigma", 1.0)) * factor
    elif "lam" in params:
        params["lam"] = float(params["lam"]) / factor
    elif dist == "InverseGamma":  # beta is its scale
        params["beta"] = float(params["beta"]) * factor
    else:
        return None
    return dist, params


def scaled_priors(priors: dict, label: str, factor: float) -> dict:
    """{prior name: entry} of the priors SENSITIVITY_TARGETS[label] names (those in `priors`), each with
    its scale multiplied by factor**power: the alternative prior a prior_sensitivity.csv row stands for."""
    out = {}
    for key, _, power in SENSITIVITY_TARGETS[label]:
        if key in priors and (new := _scaled(priors[key], factor**power)) is not None:
            out[key] = new
    return out


def _weighted_row(name: str, label: str, factor: float, draws: np.ndarray, log_ratio: np.ndarray | None,
                  seed: int = 0) -> dict:
    """Summary of `draws` reweighted by PSIS-smoothed exp(log_ratio) (None: unweighted)."""
    from arviz_stats.base.array import array_stats

    from mats_eval.estimands.intervals import hdi

    k = float("nan")
    if log_ratio is None:
        weights = np.full(len(draws), 1 / len(draws))
    else:
        # psislw takes a log-likelihood and smooths the weights 1/likelihood: pass −log ratio
        try:
            lw, k = array_stats.psislw(-(log_ratio - log_ratio.max()))
            k = float(np.asarray(k))
        except ValueError:  # too few distinct tail draws to fit the Pareto tail (tiny runs)
            lw, k = log_ratio - log_ratio.max(), float("inf")
        weights = np.exp(lw - np.max(lw))
        weights /= weights.sum()
    mean = float(weights @ draws)
    sd = float(np.sqrt(weights @ (draws - mean) ** 2))
    resampled = np.random.default_rng(seed).choice(draws, size=4000, p=weights)
    low, high = hdi(resampled)
    reliable = bool(log_ratio is None or k <= 0.7)
    return {"estimand": name, "prior": label, "scale_factor": factor, "mean": mean, "sd": sd, "hdi_low": low,
            "hdi_high": high, "prob_positive": float(weights @ (draws > 0)), "pareto_k": k, "reliable": reliable,
            "method": REWEIGHTED, "note": "" if reliable else UNRELIABLE_NOTE}


def row_label(label: str, factor: float, names: str) -> str:
    """'cohort sd prior sd x0.5 (rating_cohort_sd, …)': a row's `prior` column; parsed back by `label_of`."""
    return f"{label} sd x{factor:g} ({names})"


def label_of(prior_column: str) -> str:
    """The SENSITIVITY_TARGETS key of a row's `prior` column (row_label's inverse, up to the factor)."""
    return next(label for label in SENSITIVITY_TARGETS if prior_column.startswith(f"{label} sd x"))


def prior_sensitivity(idata, design, priors: dict, estimands=PRIOR_SENSITIVITY_ESTIMANDS,
                      factors=SENSITIVITY_FACTORS, model: str | None = None,
                      draws: dict | None = None) -> pd.DataFrame:
    """The policy contrasts under priors whose scale is multiplied by each factor (prior_sensitivity.csv).

    Refit-free: posterior draws are importance-reweighted by p_new(θ)/p_old(θ)
    for the changed priors (policy coefficients; cohort sds), Pareto-smoothed
    (PSIS); `pareto_k` > 0.7 marks a reweighting that cannot be trusted (the
    new prior puts mass where the posterior has no draws). Why this instead of
    `az.psense_summary`: that reports a sensitivity index for tiny power-scalings
    of *all* priors at once, while a decision needs the contrast itself under
    named alternative priors. A policy effect that moves with these priors is
    driven by them, not by the data. `model` names the fitted model (default: the default model);
    `draws`: the fit's estimand draws when at hand (FitResult.estimand_draws), else computed here.
    """
    from mats_eval import models
    from mats_eval.checks.sensitivity import prior_logpdf

    model = model or models.DEFAULT_MODEL
    if draws is None:
        draws = models.estimand_draws(model, idata, design, costly=False)
    params = models.canonical_parameters(idata, design, model=model)
    rows = []
    for name in estimands:
        if name not in draws:
            continue
        x = np.asarray(draws[name], dtype=float)
        rows.append(_weighted_row(name, "default", 1.0, x, None))
        for label, targets in SENSITIVITY_TARGETS.items():
            present = [(key, par, power) for key, par, power in targets if par in params and key in priors]
            if not present:
                continue
            for factor in factors:
                log_ratio = np.zeros(len(x))
                for key, par, power in present:
                    new = _scaled(priors[key], factor**power)
                    if new is None:
                        continue
                    theta = np.asarray(params[par], dtype=float).reshape(len(x)) ** power
                    log_ratio += prior_logpdf(*new, theta) - prior_logpdf(*priors[key], theta)
                names = ", ".join(par for _, par, _ in present)
                rows.append(_weighted_row(name, row_label(label, factor, names), factor, x, log_ratio))
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


__all__ += ["prior_sensitivity", "SENSITIVITY_FACTORS", "scaled_priors", "label_of", "UNRELIABLE_NOTE", "REWEIGHTED",
            "REFITTED"]


# --- what the cohort prior alone can do to a weakly identified contrast ------------------------

COHORT_PRIOR = "cohort sd prior"


def cohort_prior_estimates(table: pd.DataFrame, estimand: str) -> tuple[float, dict[float, float], bool] | None:
    """(mean under the default priors, {scale factor: mean under the cohort-sd prior so scaled}, whether one
    of those comes from a refit that failed the gate) from the prior_sensitivity.csv rows that can be
    trusted (reweighting reliable, or refitted); None without them."""
    rows = table[table["estimand"] == estimand]
    default = rows[rows["prior"] == "default"]
    scaled = rows[rows["prior"].astype(str).str.startswith(f"{COHORT_PRIOR} sd x")]
    trusted = scaled[scaled["reliable"].astype(bool) | (scaled["method"] == REFITTED)]
    if default.empty or trusted.empty:
        return None
    failed_refit = bool((~trusted["reliable"].astype(bool)).any())
    return (float(default["mean"].iloc[0]), {float(f): float(m) for f, m in zip(trusted["scale_factor"], trusted["mean"])},
            failed_refit)


def cohort_prior_note(default: float, scaled: dict[float, float], failed_refit: bool, scale: str) -> str:
    """The possible bias a weakly identified contrast owes to the cohort-sd prior, in words.

    With policy changing only between cohorts, the contrast is (raw gap) − (the part of it the cohort
    effects absorb), and how much they absorb is set by the cohort-sd prior, which a handful of cohorts
    cannot check: the largest shift of the estimate under that prior halved or doubled is the size of
    that possible bias."""
    digits = note_digits(scale)
    factors = sorted(scaled)
    values = " or ".join(f"{scaled[f]:.{digits}f}" for f in factors)
    words = " or ".join({0.5: "half", 2.0: "twice"}.get(f, f"{f:g} times") for f in factors)
    widths = " or ".join(f"x{f:g}" for f in factors)
    shift = max(abs(v - default) for v in scaled.values())
    return (f"cohort prior: if cohorts are assumed to differ {words} as much (cohort-sd prior {widths}), the "
            f"estimate is {values} rather than {default:.{digits}f}, so that assumption, which the data's few "
            f"cohorts cannot check, may alone move it by up to {shift:.{digits}f} {scale}"
            + (" (in part from a refit that failed the diagnostics gate: indicative)" if failed_refit else ""))


def add_cohort_prior_notes(effects: pd.DataFrame, table: pd.DataFrame | None, ident: dict) -> pd.DataFrame:
    """effects.csv with the cohort-prior clause (cohort_prior_note) added, once, to each contrast that rests
    on cohorts being alike (assumed_contrasts) and has trustworthy cohort-sd rows in prior_sensitivity.csv."""
    if table is None or not len(table):
        return effects
    out = effects.copy()
    notes = out["note"].fillna("").astype(str) if "note" in out else pd.Series("", index=out.index)
    assumed = assumed_contrasts(ident)
    for index, row in out.iterrows():
        found = cohort_prior_estimates(table, row["estimand"]) if row["estimand"] in assumed else None
        if found is None:
            continue
        clause = cohort_prior_note(*found, row["scale"])
        clauses = [c for c in notes[index].split("; ") if c and not c.startswith("cohort prior:")]
        notes[index] = "; ".join([*clauses, clause])
    out["note"] = notes
    return out


__all__ += ["cohort_prior_estimates", "cohort_prior_note", "add_cohort_prior_notes", "assumed_contrasts"]
