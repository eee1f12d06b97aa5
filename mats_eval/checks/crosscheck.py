"""Frequentist cross-checks of the Bayesian estimates, and a naive comparison: seconds at any size.

`crosscheck(data, params=None)` returns one row per (estimand, method) with columns
`estimand, method, estimate, se, note` (and, given the posterior's canonical draws
`params`, `model_mean, model_sd`: the posterior of the same quantity on the check's
scale). `note` is empty for a usable row. It says why a row should not be trusted:
the fit did not converge, the coefficient is not identified (collinear with the
cohort/kind dummies or the scholar effects, for example when policy changes only
between cohorts), the se is not finite, or the estimate is exactly 0.0.

No dummy column per scholar or speaker anywhere: both fits below are maximised by
Newton/quasi-Newton steps with analytic gradients, and their cost is O(rows ×
covariates) per step, so 75,000 ratings by 3,000 scholars take seconds.

Methods
- `glm_binomial_scholar_fe` (attendance): the fixed-effects logit
  logit P = α_i + β_m·m + β_V·V + δ·(w−1)·(1−m) + δ_m·(w−1)·m + kind, one α_i per scholar.
  The α_i are never put in a design matrix: Newton's step solves the block-arrow system
  [[D, B], [Bᵀ, C]] through the Schur complement S = C − Bᵀ D⁻¹ B (D diagonal over
  scholars), and cov(β) is S⁻¹ M S⁻¹ with M the meat of the scores with the scholar
  effects concentrated out, summed by session (the session effect is shared by
  everyone who could attend it). Scholars whose attendance never varies carry no
  information and are dropped. Its coefficients are conditional on the scholar, like
  the canonical ones, but marginal over the session effects the model also has.
  It gives `attendance_week_slope` (δ) and `volume_slope_attendance` (β_V).
- `ordered_logit` (ratings, cohorts on the reference session scale):
  logit P(Y ≤ j) = c_j − (β_m·m + β_V·V + β_w·(w−1) + kind + cohort). Scholar, speaker and
  session effects are left out and the se are cluster-robust by scholar, so the
  coefficients are population-averaged (marginal) ones. It gives `volume_slope_rating`
  (β_V) and `rating_mandatory_latent` (β_m).
- `naive_raw_means`: mean observed rating of mandatory sessions minus optional ones
  (reference scale), se √(s²_m/n_m + s²_o/n_o). Self-selection into optional sessions
  biases this comparison; it is shown for contrast.

Like with like. A logit coefficient β conditional on a normal effect of sd σ that a
fit leaves out shrinks, marginally, to about β/√(1 + c²σ²), c² = (16√3/(15π))² ≈ 0.346
(Zeger, Liang & Albert 1988). So `model_mean`/`model_sd` are the posterior mean and sd of
β/√(1 + c²·Σσ²) over the effects each check leaves out: scholar, speaker and session
rating sds for the ordered logit, the attendance session sd for the fixed-effects logit.
These are what `estimate` should agree with, within a few `se`.

Size: `within_size(data, max_rows)` keeps a seeded random subset of whole scholars when
the attendance and rating rows together exceed `max_rows`, and says so in a note
(inference/fitting.py records it in diagnostics.json `post_fit_limits`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy.linalg import solve_triangular
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from mats_eval.data.design import session_volume
from mats_eval.data.reference import reference_from
from mats_eval.data.programdata import ProgramData

COLUMNS = ["estimand", "method", "estimate", "se", "note"]
MODEL_COLUMNS = ["model_mean", "model_sd"]
RATING_TERMS = {"mandatory": "rating_mandatory_latent", "volume": "volume_slope_rating"}
ATTENDANCE_TERMS = {"week0_optional": "attendance_week_slope", "volume": "volume_slope_attendance"}
# canonical parameter each cross-check term estimates, and the sds of the effects the check leaves out
CANONICAL = {"rating_mandatory_latent": "rating_mandatory", "volume_slope_rating": "rating_volume",
             "attendance_week_slope": "attendance_week_slope", "volume_slope_attendance": "attendance_volume"}
LEFT_OUT = {"ordered_logit": ("rating_scholar_sd", "rating_speaker_sd", "rating_session_sd"),
            "glm_binomial_scholar_fe": ("attendance_session_sd",)}
ATTENUATION_C2 = (16 * np.sqrt(3) / (15 * np.pi)) ** 2  # ≈ 0.346
# Above this many attendance + rating rows the checks run on a random subset of scholars:
# at ~1 µs per row and Newton step, 2 million rows stay well under a minute
MAX_ROWS = 2_000_000
_COLLINEAR_TOL = 1e-9
_NEWTON_TOL = 1e-8
_MAX_NEWTON = 100


def crosscheck(data: ProgramData, params: Mapping | None = None) -> pd.DataFrame:
    """All cross-checks the data supports, as rows `estimand, method, estimate, se, note`;
    with the canonical draws `params`, also `model_mean, model_sd` (module docstring)."""
    rows = attendance_check(data) + rating_check(data) + naive_policy_difference(data)
    table = pd.DataFrame(rows, columns=COLUMNS)
    if params is not None:
        table[MODEL_COLUMNS] = [model_on_check_scale(params, r.estimand, r.method) for r in table.itertuples()]
    return table


def model_on_check_scale(params: Mapping, estimand: str, method: str) -> tuple[float, float]:
    """(mean, sd) over draws of β/√(1 + c²·Σσ²_left-out): the posterior on the check's scale (NaN if none)."""
    name = CANONICAL.get(estimand)
    if name is None or name not in params or method not in LEFT_OUT:
        return float("nan"), float("nan")
    beta = np.asarray(params[name], dtype=float)
    var = sum(np.asarray(params.get(sd, 0.0), dtype=float) ** 2 for sd in LEFT_OUT[method])
    draws = beta / np.sqrt(1 + ATTENUATION_C2 * var)
    return float(np.mean(draws)), float(np.std(draws, ddof=1)) if draws.size > 1 else 0.0


def within_size(data: ProgramData, max_rows: int = MAX_ROWS, seed: int = 0) -> tuple[ProgramData, str]:
    """(data, '') when its attendance and rating rows number at most `max_rows`; else the data of a
    seeded random subset of whole scholars holding about `max_rows` rows, and a note saying so."""
    n_ratings = 0 if data.ratings is None else len(data.ratings)
    total = len(data.attendance) + n_ratings
    if total <= max_rows:
        return data, ""
    scholars = data.scholars["scholar_id"].to_numpy()
    n_keep = max(2, int(len(scholars) * max_rows / total))
    keep = set(np.random.default_rng(seed).choice(scholars, size=n_keep, replace=False))

    def of_kept(table):
        return None if table is None else table[table["scholar_id"].isin(keep)].reset_index(drop=True)

    subset = replace(data, scholars=of_kept(data.scholars), attendance=of_kept(data.attendance),
                     ratings=of_kept(data.ratings), retrospective=of_kept(data.retrospective))
    return subset, (f"cross-checks on a random {n_keep} of {len(scholars)} scholars: the data have {total} "
                    f"attendance and rating rows, more than the {max_rows} the checks are run on")


# --- shared pieces -------------------------------------------------------------


def session_covariates(data: ProgramData) -> pd.DataFrame:
    """sessions plus m (mandatory 0/1), V (volume), week0 = w − 1."""
    s = data.sessions.copy()
    s["mandatory"] = (s["policy"] == "mandatory").astype(float)
    s["volume"] = session_volume(s)
    s["week0"] = s["week"].astype(float) - 1.0
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


def group_sums(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Σ of the rows of `values` (n,) or (n, p) within each group: (n_groups,) or (n_groups, p)."""
    if values.ndim == 1:
        return np.bincount(group, weights=values, minlength=n_groups)
    return np.column_stack([np.bincount(group, weights=values[:, j], minlength=n_groups)
                            for j in range(values.shape[1])]).reshape(n_groups, values.shape[1])


def cluster_sandwich(bread: np.ndarray, scores: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """bread · Σ_g s_g s_gᵀ · bread · G/(G−1), s_g the summed scores of cluster g."""
    codes, n_groups = pd.factorize(clusters)[0], len(np.unique(clusters))
    by_cluster = group_sums(codes, scores, n_groups)
    meat = by_cluster.T @ by_cluster * (n_groups / max(n_groups - 1, 1))
    return bread @ meat @ bread


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


# --- ratings: ordered logit, cluster-robust by scholar -------------------------------


def ordinal_loglik(theta: np.ndarray, X: np.ndarray, y: np.ndarray, n_cats: int):
    """(Σ log-lik, per-row scores (n, p + K − 1)) of the ordered logit, θ = (β, c₁, log(c_j − c_{j−1})).

    With a = c_{y−1} − η, b = c_y − η (c₀ = −∞, c_K = ∞) and σ(b) − σ(a) = σ(b)σ(−a)(1 − e^{a−b}):
    log P = log σ(b) + log σ(−a) + log(1 − e^{a−b}); ∂/∂c_y = σ(−b)/((1 − e^{a−b})σ(−a)),
    ∂/∂c_{y−1} = −σ(a)/((1 − e^{a−b})σ(b)), ∂/∂η = −(both).
    """
    p = X.shape[1]
    beta, raw = theta[:p], theta[p:]
    cuts = np.concatenate([[-np.inf], np.cumsum(np.concatenate([raw[:1], np.exp(raw[1:])])), [np.inf]])
    eta = X @ beta
    a, b = cuts[y] - eta, cuts[y + 1] - eta
    gap = -np.expm1(a - b)
    loglik = log_expit(b) + log_expit(-a) + np.log(gap)
    d_upper = expit(-b) / (gap * expit(-a))
    d_lower = -expit(a) / (gap * expit(b))
    d_cut = np.zeros((len(y), n_cats + 1))
    rows = np.arange(len(y))
    d_cut[rows, y + 1] = d_upper
    d_cut[rows, y] += d_lower
    d_cut = d_cut[:, 1:-1]  # ∂/∂c_1..c_{K−1}
    # c_j = θ₁ + Σ_{k=2..j} e^{θ_k}: ∂/∂θ₁ = Σ_j ∂/∂c_j, ∂/∂θ_k = e^{θ_k} Σ_{j≥k} ∂/∂c_j
    tail = np.cumsum(d_cut[:, ::-1], axis=1)[:, ::-1]
    d_raw = np.column_stack([tail[:, 0], tail[:, 1:] * np.exp(raw[1:])])
    scores = np.column_stack([-(d_upper + d_lower)[:, None] * X, d_raw])
    return float(loglik.sum()), scores


def fit_ordered_logit(X: np.ndarray, y: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(β, cluster-robust se of β, converged) of the ordered logit; y coded 0..K−1 (all observed)."""
    n_cats = int(y.max()) + 1
    share = np.bincount(y, minlength=n_cats).cumsum()[:-1] / len(y)
    start_cuts = np.log(share / (1 - share))
    theta0 = np.concatenate([np.zeros(X.shape[1]), start_cuts[:1], np.log(np.maximum(np.diff(start_cuts), 1e-3))])

    def negative(theta):
        value, scores = ordinal_loglik(theta, X, y, n_cats)
        return -value, -scores.sum(axis=0)

    opt = minimize(negative, theta0, jac=True, method="BFGS", options={"gtol": 1e-6, "maxiter": 2000})
    theta = opt.x
    # observed information by central differences of the analytic gradient
    step = 1e-5 * np.maximum(1.0, np.abs(theta))
    hessian = np.column_stack([(negative(theta + e)[1] - negative(theta - e)[1]) / (2 * h)
                               for e, h in zip(np.diag(step), step)])
    bread = np.linalg.pinv((hessian + hessian.T) / 2)
    cov = cluster_sandwich(bread, ordinal_loglik(theta, X, y, n_cats)[1], clusters)
    p = X.shape[1]
    converged = bool(opt.success or np.max(np.abs(opt.jac)) < 1e-4 * len(y) ** 0.5)
    return theta[:p], np.sqrt(np.maximum(np.diag(cov)[:p], 0.0)), converged


def rating_check(data: ProgramData) -> list[dict]:
    """Ordered logit of session ratings (see module docstring): β_V and latent β_m."""
    method = "ordered_logit"
    rated = reference_scale_ratings(data, session_covariates(data))
    if len(rated) == 0 or rated["rating"].nunique() < 2:
        return _missing_rows(RATING_TERMS, method, "fewer than two distinct ratings")
    X = pd.concat([rated[["week0"]], dummies(rated["kind"], "kind"), dummies(rated["cohort"], "cohort"),
                   rated[list(RATING_TERMS)]], axis=1)
    X["_const"] = 1.0  # cutpoints play the intercept: no dummy set may span the constant
    kept = independent_columns(X, start=["_const"])
    # categories no one used carry no information: code the ratings used 0..K−1
    y = np.unique(rated["rating"].astype(int).to_numpy(), return_inverse=True)[1].ravel()
    with np.errstate(all="ignore"):
        beta, se, converged = fit_ordered_logit(X[kept].to_numpy(float), y, rated["scholar_id"].to_numpy())
    return coefficient_rows(RATING_TERMS, method, kept, dict(zip(kept, beta)), dict(zip(kept, se)), converged)


# --- attendance: logit with scholar fixed effects, by Newton on the Schur complement ----


def fit_fixed_effects_logit(X: np.ndarray, y: np.ndarray, group: np.ndarray,
                            clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(β, se clustered by `clusters`, converged) of logit P(y) = α_group + Xβ (module docstring).

    Every group must have both outcomes (else its α_g is infinite).
    """
    n_groups = int(group.max()) + 1
    mean_y = group_sums(group, y, n_groups) / np.bincount(group, minlength=n_groups)
    alpha, beta = np.log(mean_y / (1 - mean_y)), np.zeros(X.shape[1])

    def loglik(alpha, beta):
        eta = alpha[group] + X @ beta
        return float(np.sum(y * eta + log_expit(-eta)))

    current, converged = loglik(alpha, beta), False
    for _ in range(_MAX_NEWTON):
        mu = expit(alpha[group] + X @ beta)
        w = mu * (1 - mu)
        g_alpha, g_beta = group_sums(group, y - mu, n_groups), X.T @ (y - mu)
        D = group_sums(group, w, n_groups)
        B = group_sums(group, w[:, None] * X, n_groups)
        schur = X.T @ (w[:, None] * X) - B.T @ (B / D[:, None])
        d_beta = np.linalg.solve(schur, g_beta - B.T @ (g_alpha / D))
        d_alpha = (g_alpha - B @ d_beta) / D
        step = 1.0
        while step > 1e-4:  # step-halving keeps each Newton step an ascent
            trial = loglik(alpha + step * d_alpha, beta + step * d_beta)
            if trial >= current - 1e-10:
                break
            step /= 2
        alpha, beta, current = alpha + step * d_alpha, beta + step * d_beta, trial
        if max(np.max(np.abs(d_beta)), np.max(np.abs(d_alpha))) * step < _NEWTON_TOL:
            converged = True
            break
    mu = expit(alpha[group] + X @ beta)
    w = mu * (1 - mu)
    D, B = group_sums(group, w, n_groups), group_sums(group, w[:, None] * X, n_groups)
    bread = np.linalg.inv(X.T @ (w[:, None] * X) - B.T @ (B / D[:, None]))
    # scores with the scholar effects concentrated out: (y − μ)·(x − the scholar's w-weighted mean of x)
    scores = (y - mu)[:, None] * (X - (B / D[:, None])[group])
    cov = cluster_sandwich(bread, scores, clusters)
    return beta, np.sqrt(np.maximum(np.diag(cov), 0.0)), converged


def attendance_check(data: ProgramData) -> list[dict]:
    """Logit of attendance with scholar fixed effects, se clustered by session."""
    method = "glm_binomial_scholar_fe"
    att = data.attendance.merge(session_covariates(data), on="session_id")
    varies = att.groupby("scholar_id")["attended"].transform("nunique") > 1
    att = att[varies].reset_index(drop=True)
    if att.empty:
        return _missing_rows(ATTENDANCE_TERMS, method, "no scholar with varying attendance")
    att["week0_optional"] = att["week0"] * (1 - att["mandatory"])
    att["week0_mandatory"] = att["week0"] * att["mandatory"]
    group = pd.factorize(att["scholar_id"])[0]
    X = pd.concat([dummies(att["kind"], "kind"), att[["mandatory", "week0_mandatory"]],
                   att[list(ATTENDANCE_TERMS)]], axis=1)
    # identification is judged within scholars: a column is dropped when the scholar effects and the
    # earlier columns span it (the scholar-demeaned columns are collinear)
    within = X - X.groupby(group).transform("mean")
    kept = independent_columns(within)
    try:
        with np.errstate(all="ignore"):
            beta, se, converged = fit_fixed_effects_logit(X[kept].to_numpy(float), att["attended"].to_numpy(float),
                                                          group, att["session_id"].to_numpy())
    except np.linalg.LinAlgError as exc:
        return _missing_rows(ATTENDANCE_TERMS, method, f"fit failed: {exc}")
    return coefficient_rows(ATTENDANCE_TERMS, method, kept, dict(zip(kept, beta)), dict(zip(kept, se)), converged)


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
