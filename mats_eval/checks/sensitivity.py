"""Power-scaling prior and likelihood sensitivity of every estimand: sensitivity.csv.

The priorsense method (Kallioinen et al. 2024, Stat Comput 34:57): raise the prior, or
the likelihood, to a power α near 1,

    p_α(θ | y) ∝ p(θ)^α · p(y | θ)        (prior scaling; likelihood scaling alike)

and measure how far each estimand's posterior moves. Nothing is refitted: the posterior
draws are importance-weighted by p(θ)^(α−1) (Pareto-smoothed), and the move is the
cumulative Jensen–Shannon distance between weighted and unweighted draws, taken as a
derivative in log₂ α over α = 0.99 and 1.01 (arviz-stats `power_scale_sense`, the code
behind `az.psense`).

Which priors are scaled: those of the prior table (models/priors.py), the ones a user can
set with --priors. In the model these are every free variable but the standardised group
effects (`*_z`, whose N(0, 1) is the hierarchy, not a prior: priorsense's advice for
hierarchical models) and the integrated-out coordinates of a cohort variance (`*_t`,
`*_gamma`, priors.cohort_effect); that variance's InverseGamma prior is evaluated at the
posterior draws of σ² instead (the weight p(σ²)^(α−1) is a function of σ² alone).

Noise: with a few thousand draws the weighted and unweighted draws differ by chance too,
and for the likelihood (whose log density spreads widely over draws) that chance part is
of the order of the threshold itself: on a small ratings fit, estimands shuffled against
the weights, so that no real sensitivity was left, still scored 0.04–0.35 (heavy-tailed
ones, such as a cohort sd, the most). So each sensitivity is also set against chance: its
`*_noise` column is the 95th percentile of the sensitivity of the same draws randomly
permuted (NOISE_PERMUTATIONS times), and a component counts as influential only when its
sensitivity reaches both the threshold and that chance level (a permutation test at 5%).

Diagnosis per estimand (priorsense's rule, threshold 0.05, beyond chance as above):
- prior and likelihood both influential: "prior-data conflict";
- the prior influential, the likelihood not: "prior dominates / weak likelihood" (`prior_dominated`);
- otherwise "no concern".
The importance weights are trustworthy only while their Pareto k ≤ 0.7; above it the row
says "unreliable (Pareto k …)" (a refit with the power-scaled prior would be needed).

Cost: on at most CURVE_DRAWS evenly spaced draws (the same draws the volume optimum uses), the
pointwise log likelihood the predictive checks compile (summed), and a small compiled function of the
log prior (both vectorised over draws and compiled with JAX); the sensitivities of an estimand and of its permutations are taken all at once.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from mats_eval.estimands.kernels import CURVE_DRAWS

THRESHOLD = 0.05
ALPHAS = (0.99, 1.01)
PARETO_K_MAX = 0.7
SENSITIVITY_DRAWS = CURVE_DRAWS  # so the volume optimum's own thinned draws line up (kernels.thinned)
# free variables that are not priors of the table: standardised group effects and the
# integrated-out cohort variance's coordinates (priors.cohort_effect)
NOT_PRIOR_SUFFIXES = ("_z", "_t", "_gamma")
VARIANCE_SUFFIX, SD_SUFFIX = "_var", "_sd"

NOISE_PERMUTATIONS = 40
NOISE_QUANTILE = 0.95

SENSITIVITY_COLUMNS = ["estimand", "prior_sensitivity", "likelihood_sensitivity", "diagnosis", "prior_dominated",
                       "prior_pareto_k", "likelihood_pareto_k", "prior_noise", "likelihood_noise", "draws"]
DIAGNOSES = {"conflict": "prior-data conflict", "prior": "prior dominates / weak likelihood", "ok": "no concern"}


# --- log densities at the posterior draws ----------------------------------------------

def prior_logpdf(dist: str, params: Mapping, x: np.ndarray) -> np.ndarray:
    """log density of the prior entry (dist, params) at the values x (scipy for the usual families)."""
    from scipy import stats

    mu, sigma = float(params.get("mu", 0.0)), float(params.get("sigma", 1.0))
    if dist == "Normal":
        return stats.norm.logpdf(x, mu, sigma)
    if dist == "HalfNormal":
        return stats.halfnorm.logpdf(x, 0.0, sigma)
    if dist == "StudentT":
        return stats.t.logpdf(x, float(params["nu"]), mu, sigma)
    if dist == "Exponential":
        return stats.expon.logpdf(x, scale=1 / float(params["lam"]))
    if dist == "InverseGamma":
        return stats.invgamma.logpdf(x, float(params["alpha"]), scale=float(params["beta"]))
    import pymc as pm

    return np.asarray(pm.logp(getattr(pm, dist).dist(**params), x).eval())


def thin_index(n: int, max_draws: int = SENSITIVITY_DRAWS) -> np.ndarray:
    """Evenly spaced draw indices, as kernels.thinned picks them (all draws when there are fewer)."""
    from mats_eval.checks.predictive import draw_index

    return draw_index(n, max_draws)


def flat_draws(post, name: str) -> np.ndarray:
    """post[name] as an array (chain·draw, ...)."""
    values = np.asarray(post[name].transpose("chain", "draw", ...).values)
    return values.reshape((-1,) + values.shape[2:])


def prior_variables(model) -> list[str]:
    """Free variables of `model` that carry a prior of the table (see the module docstring)."""
    return [rv.name for rv in model.free_RVs if not rv.name.endswith(NOT_PRIOR_SUFFIXES)]


def log_densities(model, idata, priors: Mapping, keep: np.ndarray,
                  log_lik: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(log prior, log likelihood) summed over terms, at the posterior draws `keep` (chain·draw order).

    The log likelihood is the sum of the pointwise one the predictive checks and LOO use
    (checks/predictive.py `observed_functions`, compiled once per model); pass it as `log_lik`
    when it is at hand (e.g. summed from LOO's pointwise_log_likelihood at the same draws). The log
    prior is a function of its own (`log_prior_at`).
    """
    post = idata["posterior"]
    if log_lik is None:  # summed draw by draw: (draws, observations) is never held
        from mats_eval.checks.predictive import observed_functions, posterior_values

        functions = observed_functions(model)
        log_lik = functions.total_log_likelihood(posterior_values(idata, functions.free, keep))
    log_prior = log_prior_at(model, post, keep)
    for sd, (dist, params) in integrated_variances(priors, post, [rv.name for rv in model.free_RVs]).items():
        log_prior = log_prior + prior_logpdf(dist, params, flat_draws(post, sd)[keep] ** 2)
    return log_prior, np.asarray(log_lik, dtype=float)


def log_prior_at(model, post, keep: np.ndarray) -> np.ndarray:
    """Σ log p(θ) over the priors of the table (`prior_variables`) at the posterior draws `keep`
    (a prior's parameters may be other free variables: all of them are the function's inputs)."""
    from mats_eval.checks.predictive import constrained_model, draw_function

    names = prior_variables(model)
    if not names:
        return np.zeros(len(keep))
    umodel = constrained_model(model)  # the posterior holds constrained values
    fn = draw_function(umodel, umodel.logp(vars=[umodel[n] for n in names], jacobian=False, sum=False))
    values = {name: flat_draws(post, name)[keep] for name in fn.inputs}
    return np.concatenate([sum(term.reshape(len(term), -1).sum(axis=1) for term in terms)
                           for _, _, terms in fn.blocks(values)])


def integrated_variances(priors: Mapping, post, free: list[str]) -> dict[str, tuple[str, dict]]:
    """{`<x>_sd`: prior of `<x>_var`} for the variances cohort_effect integrates out: σ is in the
    posterior as a Deterministic, not a free variable."""
    out = {}
    for name, entry in priors.items():
        if not name.endswith(VARIANCE_SUFFIX):
            continue
        sd = name[: -len(VARIANCE_SUFFIX)] + SD_SUFFIX
        if sd in post and sd not in free:
            out[sd] = entry
    return out


# --- power-scaling -----------------------------------------------------------------------

def scaled_weights(log_component: np.ndarray, alphas=ALPHAS) -> tuple[list[np.ndarray], float]:
    """Normalised PSIS weights of p^(α−1) for each α, and the largest Pareto k among them."""
    from arviz_stats.base.array import array_stats

    ary = np.asarray(log_component, dtype=float)[None, :]  # one "chain" of thinned draws
    weights, ks = [], []
    for alpha in alphas:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lw = np.asarray(array_stats.power_scale_lw(ary, alpha=alpha, axis=(-2, -1)))
            ks.append(float(np.asarray(array_stats.pareto_khat((alpha - 1) * ary, log_weights=True))))
        w = np.exp(lw - lw.max())
        weights.append(w / w.sum())
    return weights, max(ks)


def cjs_distance(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Cumulative Jensen–Shannon distance between the unweighted and the weighted ECDF of each row of
    x (rows, S), weights (S,) or (rows, S): arviz-stats' _cjs_dist (Nielsen 2013), a row at a time there."""
    order = np.argsort(x, axis=1)
    x = np.take_along_axis(x, order, axis=1)
    w = np.broadcast_to(weights, x.shape)
    w = np.take_along_axis(w, order, axis=1)
    n = x.shape[1]
    binwidth = np.diff(x, axis=1)
    cdf_p = np.linspace(1 / n, 1 - 1 / n, n - 1)
    cdf_q = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)[:, :-1]
    p_int, q_int = binwidth @ cdf_p, (binwidth * cdf_q).sum(axis=1)

    def log2(a):
        return np.log2(a, out=np.zeros_like(a), where=a != 0)

    denom = log2(0.5 * (cdf_p + cdf_q))
    cjs_pq = (binwidth * (cdf_p * (log2(cdf_p) - denom))).sum(axis=1) + 0.5 / np.log(2) * (q_int - p_int)
    cjs_qp = (binwidth * (cdf_q * (log2(cdf_q) - denom))).sum(axis=1) + 0.5 / np.log(2) * (p_int - q_int)
    return np.sqrt((np.maximum(cjs_pq, 0) + np.maximum(cjs_qp, 0)) / (p_int + q_int))


def sensitivities(rows: np.ndarray, weights: list[np.ndarray], alphas=ALPHAS) -> np.ndarray:
    """Power-scaling sensitivity of each row of draws (rows, S): the CJS distance (the larger of x and −x)
    per log₂ α, averaged over the two α (arviz-stats' power_scale_sense, all rows at once)."""
    rows = np.asarray(rows, dtype=float)
    lower, upper = (np.maximum(cjs_distance(rows, w), cjs_distance(-rows, w)) for w in weights)
    return (-lower / np.log2(alphas[0]) + upper / np.log2(alphas[1])) / 2


def sensitivity(draws: np.ndarray, weights: list[np.ndarray], alphas=ALPHAS) -> float:
    """Power-scaling sensitivity of one estimand's draws (CJS distance per log₂ α, priorsense)."""
    x = np.asarray(draws, dtype=float)
    if not np.all(np.isfinite(x)) or np.ptp(x) == 0:
        return float("nan")
    return float(sensitivities(x[None, :], weights, alphas)[0])


def noise_floor(draws: np.ndarray, weights: list[np.ndarray], permutations: int = NOISE_PERMUTATIONS,
                seed: int = 0) -> float:
    """The NOISE_QUANTILE quantile of the sensitivity of `draws` shuffled against the weights:
    what chance alone scores."""
    x = np.asarray(draws, dtype=float)
    if not np.all(np.isfinite(x)) or np.ptp(x) == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    scores = sensitivities(np.stack([rng.permutation(x) for _ in range(permutations)]), weights)
    return float(np.quantile(scores, NOISE_QUANTILE))


def influential(value: float, noise: float, threshold: float = THRESHOLD) -> bool:
    """Does a component move the estimand by the threshold, and by more than chance does?"""
    return bool(np.isfinite(value) and value >= threshold and not value <= noise)


def diagnose(prior: bool, likelihood: bool, pareto_k: float) -> str:
    """Plain words for one row from whether prior and likelihood are influential (module docstring)."""
    if pareto_k > PARETO_K_MAX:
        return f"unreliable (Pareto k {pareto_k:.2f} > {PARETO_K_MAX}: refit with the scaled prior to be sure)"
    if prior and likelihood:
        return DIAGNOSES["conflict"]
    if prior:
        return DIAGNOSES["prior"]
    return DIAGNOSES["ok"]


def aligned(draws: np.ndarray, n: int, keep: np.ndarray) -> np.ndarray | None:
    """An estimand's draws at the draws `keep` of n: from all n draws, or already thinned to len(keep)."""
    draws = np.asarray(draws, dtype=float).ravel()
    if len(draws) == n:
        return draws[keep]
    if len(draws) == len(keep):
        return draws
    return None


def sensitivity_table(estimand_draws: Mapping[str, np.ndarray], log_prior: np.ndarray, log_lik: np.ndarray,
                      n: int, keep: np.ndarray) -> pd.DataFrame:
    """sensitivity.csv from estimand draws (over n draws) and the log densities at the draws `keep`."""
    try:
        prior_w, prior_k = scaled_weights(log_prior)
        lik_w, lik_k = scaled_weights(log_lik)
    except ValueError as exc:  # Pareto smoothing needs a tail of at least 5 draws (tiny runs)
        return pd.DataFrame([{"estimand": name, "diagnosis": f"not computed ({exc})", "prior_dominated": False,
                              "draws": len(keep)} for name in estimand_draws], columns=SENSITIVITY_COLUMNS)
    rows = []
    for name, draws in estimand_draws.items():
        x = aligned(draws, n, keep)
        if x is None:
            continue
        prior, lik = sensitivity(x, prior_w), sensitivity(x, lik_w)
        prior_noise, lik_noise = noise_floor(x, prior_w), noise_floor(x, lik_w)
        by_prior, by_lik = influential(prior, prior_noise), influential(lik, lik_noise)
        reliable = max(prior_k, lik_k) <= PARETO_K_MAX
        rows.append({"estimand": name, "prior_sensitivity": prior, "likelihood_sensitivity": lik,
                     "diagnosis": diagnose(by_prior, by_lik, max(prior_k, lik_k)),
                     "prior_dominated": bool(reliable and by_prior and not by_lik),
                     "prior_pareto_k": prior_k, "likelihood_pareto_k": lik_k, "prior_noise": prior_noise,
                     "likelihood_noise": lik_noise, "draws": len(keep)})
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def power_scaling_sensitivity(model, idata, priors: Mapping, estimand_draws: Mapping[str, np.ndarray],
                              log_lik: np.ndarray | None = None) -> pd.DataFrame:
    """sensitivity.csv of a fit: `model` the pm.Model, `priors` the resolved priors it was built with,
    `estimand_draws` the fit's {estimand: draws over chain·draw} (FitResult.estimand_draws); `log_lik`
    the total log likelihood at the draws thin_index(chain·draw) when the caller has it."""
    post = idata["posterior"]
    n = post.sizes["chain"] * post.sizes["draw"]
    keep = thin_index(n)
    log_prior, log_lik = log_densities(model, idata, priors, keep, log_lik)
    return sensitivity_table(estimand_draws, log_prior, log_lik, n, keep)


def prior_dominated(table: pd.DataFrame) -> list[str]:
    """The estimands the prior dominates (for the report)."""
    if table is None or not len(table):
        return []
    return [str(e) for e, flag in zip(table["estimand"], table["prior_dominated"]) if bool(flag)]


# Rows whose prior is influential beyond chance, with trustworthy weights: the prior dominates, or
# it and the data pull against each other. Either way the prior noticeably moves the estimate,
# which is what the report says. Why the report does not use `prior_dominated` alone: telling
# those two apart rests on the likelihood's sensitivity against its permutation noise, which is
# of the same size for heavy-tailed estimands (a cohort sd: 0.37 against 0.36 at 2 × 1000 draws),
# so the same fit can read either way from one seed to the next, while the prior's own
# sensitivity (0.35 against a noise of 0.04) does not.
PRIOR_INFLUENTIAL = (DIAGNOSES["prior"], DIAGNOSES["conflict"])


def prior_influential(table: pd.DataFrame) -> list[str]:
    """The estimands the prior noticeably moves: diagnosis 'prior dominates' or 'prior-data conflict'."""
    if table is None or not len(table) or "diagnosis" not in table:
        return []
    return list(dict.fromkeys(str(e) for e, d in zip(table["estimand"], table["diagnosis"]) if d in PRIOR_INFLUENTIAL))


def prior_influence(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(clearly, slightly): the estimands the prior noticeably moves (`prior_influential`), split by
    whether their prior sensitivity still reaches THRESHOLD after its chance level (`prior_noise`) is
    taken off. Those that do not lie near the threshold, where one run of the sampler can read them
    either way: on data/example the volume slopes scored 0.032–0.038 in one run and 0.056–0.057 in
    the next, against chance levels of 0.034–0.042, while the cohort sd scored 0.38 and 0.35 (benchmarks/RESULTS.md,
    "The example on a fresh clone"). A table without `prior_noise` counts every such estimand as clear."""
    moved = prior_influential(table)
    if not moved:
        return [], []
    rows = table.drop_duplicates("estimand").set_index("estimand")
    noise = rows["prior_noise"].fillna(0.0) if "prior_noise" in rows else 0.0
    beyond_chance = rows["prior_sensitivity"] - noise
    clear = [name for name in moved if beyond_chance[name] >= THRESHOLD]
    return clear, [name for name in moved if name not in clear]


__all__ = ["power_scaling_sensitivity", "sensitivity_table", "log_densities", "prior_logpdf", "prior_dominated",
           "prior_influential", "prior_influence", "PRIOR_INFLUENTIAL",
           "SENSITIVITY_COLUMNS", "THRESHOLD", "ALPHAS", "PARETO_K_MAX"]
