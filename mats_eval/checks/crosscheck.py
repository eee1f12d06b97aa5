"""Frequentist cross-checks of the Bayesian estimates (statsmodels), and a naive comparison.

`crosscheck(data)` returns one row per (estimand, method) with columns
`estimand, method, estimate, se, note`. `note` is empty for a usable row. It
says why a row should not be trusted: the fit did not converge, the
coefficient is not identified (collinear with the cohort/kind/scholar
dummies, for example when policy changes only between cohorts), the se is not
finite, or the estimate is exactly 0.0 (the silent failure of statsmodels
issue 10239).

Methods
- `ordered_logit` (ratings, cohorts on the reference session scale):
  logit P(Y ≤ j) = c_j − (β_m·m + β_V·V + β_w·(w−1) + kind + cohort + speaker
  dummies). It gives `volume_slope_rating` (β_V) and `rating_mandatory_latent`
  (β_m). Scholar effects are left out, because speaker and cohort dummies
  with scholar fixed effects would take minutes. So the coefficients are
  marginal over scholars, attenuated by roughly 1/√(1 + 0.35·σ_r²) against
  the canonical ones.
- `glm_binomial_scholar_fe` (attendance): logit P = α + β_m·m + β_V·V
  + δ·(w−1)·(1−m) + δ_m·(w−1)·m + kind + scholar dummies. Its coefficients
  are conditional on the scholar, like the canonical ones. The se are
  cluster-robust by session, since the session effect is shared by everyone
  who could attend it. Scholars whose attendance never varies carry no
  information and are dropped. It gives `attendance_week_slope` (δ) and
  `volume_slope_attendance` (β_V).
- `naive_raw_means`: mean observed rating of mandatory sessions minus
  optional ones (reference scale), with se √(s²_m/n_m + s²_o/n_o). Self-
  selection into optional sessions biases this comparison; it is shown for
  contrast.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.linalg import solve_triangular
from statsmodels.miscmodels.ordinal_model import OrderedModel
from threadpoolctl import threadpool_limits  # a pymc dependency

from mats_eval.data.design import session_volume
from mats_eval.data.reference import reference_from
from mats_eval.data.programdata import ProgramData

COLUMNS = ["estimand", "method", "estimate", "se", "note"]
RATING_TERMS = {"mandatory": "rating_mandatory_latent", "volume": "volume_slope_rating"}
ATTENDANCE_TERMS = {"week0_optional": "attendance_week_slope", "volume": "volume_slope_attendance"}
_COLLINEAR_TOL = 1e-9


def crosscheck(data: ProgramData) -> pd.DataFrame:
    """All cross-checks the data supports, as rows `estimand, method, estimate, se, note`.

    BLAS is held to one thread: these fits are small dense problems, and
    multi-threaded OpenBLAS on a busy machine made them ~20× slower.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        rows = attendance_check(data) + rating_check(data) + naive_policy_difference(data)
    return pd.DataFrame(rows, columns=COLUMNS)


# --- shared pieces -------------------------------------------------------------


def session_covariates(data: ProgramData) -> pd.DataFrame:
    """sessions plus m (mandatory 0/1), V (volume), week0 = w − 1 and a speaker label."""
    s = data.sessions.copy()
    s["mandatory"] = (s["policy"] == "mandatory").astype(float)
    s["volume"] = session_volume(s)
    s["week0"] = s["week"].astype(float) - 1.0
    speaker = s["speaker"].astype("string") if "speaker" in s else pd.Series(pd.NA, index=s.index, dtype="string")
    s["speaker_label"] = speaker.fillna("").astype(str)
    return s


def dummies(values: pd.Series, prefix: str) -> pd.DataFrame:
    """0/1 indicator columns, one per level (collinear ones are removed later)."""
    return pd.get_dummies(values.astype(str), prefix=prefix, dtype=float)


def independent_columns(X: pd.DataFrame, start: list[str] | None = None) -> list[str]:
    """Columns of X, in order, that are not in the span of the earlier ones (and of `start`).

    Greedy Gram–Schmidt on XᵀX through an incremental Cholesky factor: column j
    is kept when its squared distance to the span of the kept columns,
    G_jj − g_Sjᵀ G_SS⁻¹ g_Sj, exceeds a small tolerance times G_jj.
    """
    cols = list(start or []) + [c for c in X.columns if c not in (start or [])]
    A = X[cols].to_numpy(float)
    gram = A.T @ A
    kept: list[int] = []
    chol = np.zeros((0, 0))
    for j in range(len(cols)):
        gjj = gram[j, j]
        if gjj <= 0:
            continue
        l_vec = solve_triangular(chol, gram[kept, j], lower=True) if kept else np.zeros(0)
        resid = gjj - l_vec @ l_vec
        if resid > _COLLINEAR_TOL * gjj:
            chol = np.block([[chol, np.zeros((len(kept), 1))], [l_vec[None, :], np.sqrt([[resid]])]])
            kept.append(j)
    return [cols[j] for j in kept if cols[j] not in (start or [])]


def coefficient_rows(terms: dict[str, str], method: str, kept: list[str], params, bse,
                     converged: bool) -> list[dict]:
    """One row per term of interest, with a `note` when it must not be trusted."""
    rows = []
    for column, estimand in terms.items():
        if column not in kept:
            rows.append(_row(estimand, method, np.nan, np.nan, "not identified: collinear with other terms"))
            continue
        rows.append(_row(estimand, method, float(params[column]), float(bse[column]),
                         guard_note(float(params[column]), float(bse[column]), converged)))
    return rows


def guard_note(estimate: float, se: float, converged: bool) -> str:
    """Why a fitted coefficient is suspect ('' if it is not)."""
    if not converged:
        return "not converged"
    if not (np.isfinite(estimate) and np.isfinite(se)) or se <= 0:
        return "non-finite estimate or se"
    if estimate == 0.0:
        return "estimate exactly 0.0 (statsmodels issue 10239 pattern)"
    return ""


def _row(estimand: str, method: str, estimate: float, se: float, note: str = "") -> dict:
    return {"estimand": estimand, "method": method, "estimate": estimate, "se": se, "note": note}


def _missing_rows(terms: dict[str, str], method: str, why: str) -> list[dict]:
    return [_row(estimand, method, np.nan, np.nan, why) for estimand in terms.values()]


def reference_scale_ratings(data: ProgramData, sessions: pd.DataFrame) -> pd.DataFrame:
    """Ratings joined to session covariates, restricted to cohorts on the reference session scale."""
    if data.ratings is None or not len(data.ratings):
        return pd.DataFrame()
    lo, hi = reference_from(data).session_scale
    c = data.cohorts
    on_scale = c.loc[(c["session_scale_min"].astype(int) == lo) & (c["session_scale_max"].astype(int) == hi), "cohort"]
    rated = data.ratings.merge(sessions, on="session_id")
    return rated[rated["cohort"].isin(on_scale)].reset_index(drop=True)


# --- ratings: ordered logit ----------------------------------------------------------


def rating_check(data: ProgramData) -> list[dict]:
    """Ordered logit of session ratings (see module docstring): β_V and latent β_m."""
    method = "ordered_logit"
    rated = reference_scale_ratings(data, session_covariates(data))
    if len(rated) == 0 or rated["rating"].nunique() < 2:
        return _missing_rows(RATING_TERMS, method, "fewer than two distinct ratings")
    nuisance = pd.concat([rated[["week0"]], dummies(rated["kind"], "kind"), dummies(rated["cohort"], "cohort"),
                          dummies(rated["speaker_label"][rated["speaker_label"] != ""], "speaker")
                          .reindex(rated.index, fill_value=0.0)], axis=1)
    X = pd.concat([nuisance, rated[list(RATING_TERMS)]], axis=1)
    X["_const"] = 1.0  # thresholds play the intercept: no dummy set may span the constant
    kept = independent_columns(X, start=["_const"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = OrderedModel(rated["rating"].astype(int).to_numpy(), X[kept], distr="logit")
        result = model.fit(method="bfgs", disp=False, maxiter=5000)
    converged = bool(result.mle_retvals.get("converged", False))
    return coefficient_rows(RATING_TERMS, method, kept, result.params, result.bse, converged)


# --- attendance: binomial GLM with scholar fixed effects ----------------------------


def attendance_check(data: ProgramData) -> list[dict]:
    """Binomial GLM of attendance with scholar fixed effects, se clustered by session."""
    method = "glm_binomial_scholar_fe"
    att = data.attendance.merge(session_covariates(data), on="session_id")
    varies = att.groupby("scholar_id")["attended"].transform("nunique") > 1
    att = att[varies].reset_index(drop=True)
    if att.empty:
        return _missing_rows(ATTENDANCE_TERMS, method, "no scholar with varying attendance")
    att["week0_optional"] = att["week0"] * (1 - att["mandatory"])
    att["week0_mandatory"] = att["week0"] * att["mandatory"]
    X = pd.concat([pd.DataFrame({"const": 1.0}, index=att.index), dummies(att["kind"], "kind"),
                   dummies(att["scholar_id"], "scholar"), att[["mandatory", "week0_mandatory"]],
                   att[list(ATTENDANCE_TERMS)]], axis=1)
    kept = independent_columns(X)
    groups = pd.factorize(att["session_id"])[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = sm.GLM(att["attended"].astype(float).to_numpy(), X[kept], family=sm.families.Binomial()).fit(
                cov_type="cluster", cov_kwds={"groups": groups}, maxiter=100)
        except (np.linalg.LinAlgError, ValueError) as exc:
            return _missing_rows(ATTENDANCE_TERMS, method, f"fit failed: {exc}")
    return coefficient_rows(ATTENDANCE_TERMS, method, kept, result.params, result.bse, bool(result.converged))


# --- naive comparison -------------------------------------------------------------------


def naive_policy_difference(data: ProgramData) -> list[dict]:
    """mean(rating | mandatory) − mean(rating | optional) as observed, se √(s²_m/n_m + s²_o/n_o)."""
    method, estimand = "naive_raw_means", "mandatory_minus_optional_rating"
    rated = reference_scale_ratings(data, session_covariates(data))
    if not len(rated):
        return [_row(estimand, method, np.nan, np.nan, "no ratings")]
    by_policy = rated.groupby("policy")["rating"].agg(["mean", "var", "size"])
    if not {"mandatory", "optional"} <= set(by_policy.index) or (by_policy["size"] < 2).any():
        return [_row(estimand, method, np.nan, np.nan, "needs ratings of both policies")]
    m, o = by_policy.loc["mandatory"], by_policy.loc["optional"]
    se = float(np.sqrt(m["var"] / m["size"] + o["var"] / o["size"]))
    estimate = float(m["mean"] - o["mean"])
    return [_row(estimand, method, estimate, se, "" if np.isfinite(se) else "non-finite se")]
