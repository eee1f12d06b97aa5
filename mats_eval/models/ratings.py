"""Session-rating model: ordered logistic on each cohort's own rating scale.

    η = kind[k] + γ_m·m + γ_V·V + γ_w·(w−1) + b_c + r_i + g_speaker
    P(code ≤ j) = logit⁻¹(c_{scale, j} − η),  code = rating − scale_min ∈ 0..K−1

Cutpoints belong to a scale, not a cohort: cohorts on the same scale share
them, so cohort effects b_c are identified against each other. One variable
per scale, `rating_cutpoints_<min>_<max>` (dim `rating_cut_<min>_<max>`);
`cutpoint_name(scale)` gives the name. kind is zero-sum, so the cutpoints
carry the overall level. As in the attendance model, covariates are centred
for the sampler, and cohort effects are split into mean b̄ and zero-sum deviations
(priors.split_group_effect) so that the cutpoints absorb b̄; the canonical
cutpoints c = c* + b̄ + Σ γ_j·x̄_j are Deterministics, the sampled ones
`rating_cutpoints_<min>_<max>_raw`.

Scales of different length share one likelihood: shorter scales' cutpoint
rows are padded with a huge constant, which gives their non-existent top
categories probability exactly 0.
"""
from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy.special import logit

from mats_eval.design import Design, scale_label
from mats_eval.errors import UsageError
from mats_eval.models.priors import RATING_PRIORS, group_effect, make_prior, resolve_priors, split_group_effect

_PAD = 1e6  # sigmoid(1e6 − η) == 1.0 exactly in float64


def cutpoint_name(scale: tuple[int, int]) -> str:
    """The canonical cutpoints variable of a (min, max) scale, e.g. 'rating_cutpoints_1_10'."""
    return f"rating_cutpoints_{scale_label(scale)}"


def cutpoint_prior_mean(n_categories: int) -> np.ndarray:
    """logit(j/K), j = 1..K−1: the cutpoints of equal category shares at η = 0."""
    return logit(np.arange(1, n_categories) / n_categories)


def rating_columns(design: Design) -> dict[str, np.ndarray]:
    """Fixed-effect covariates per rating observation, keyed by their coefficient name."""
    s = design.rating_session
    return {
        "rating_mandatory": design.session_mandatory[s],
        "rating_volume": design.session_volume[s],
        "rating_week": design.session_week0[s],
    }


def ratings_model(design: Design, priors: dict | None = None) -> pm.Model:
    """The session-rating model of `design` (see module docstring); observed variable `rating`."""
    if len(design.rating_code) == 0:
        raise UsageError("the dataset has no session ratings (ratings.csv) to fit")
    pr = resolve_priors(RATING_PRIORS, priors)
    coords = design.coords_for("cohort", "scholar", "kind", "rating_obs")
    if design.has_speakers:
        coords["speaker"] = design.coords["speaker"]
    for scale, k in zip(design.scales, design.n_categories):
        coords[f"rating_cut_{scale_label(scale)}"] = [f"{j}|{j + 1}" for j in range(scale[0], scale[0] + k - 1)]
    s, i = design.rating_session, design.rating_scholar
    cols = rating_columns(design)
    with pm.Model(coords=coords) as model:
        kind = make_prior(pr, "rating_kind", dims="kind")
        gammas = {name: make_prior(pr, name) for name in cols}
        shift = sum(g * cols[n].mean() for n, g in gammas.items())
        centred = sum(g * (cols[n] - cols[n].mean()) for n, g in gammas.items())
        # centred deviations: rating cohort effects are pinned by the data (non-centred: ESS ~180 on data/example)
        _, cohort_mean, cohort_dev = split_group_effect(pr, "rating_cohort_sd", "rating_cohort", "cohort",
                                                        len(design.coords["cohort"]), centred_deviations=True)
        _, scholar_mean, scholar = split_group_effect(pr, "rating_scholar_sd", "rating_scholar", "scholar",
                                                      len(design.coords["scholar"]))
        eta = kind[design.session_kind[s]] + centred + cohort_dev[design.session_cohort[s]] + scholar[i]
        if design.has_speakers:
            speaker = group_effect(pr, "rating_speaker_sd", "rating_speaker", "speaker")
            eta = eta + speaker[design.session_speaker[s]] * design.session_has_speaker[s]
        cut_matrix = scale_cutpoints(design, pr, shift, cohort_mean + scholar_mean)
        pm.OrderedLogistic("rating", eta=eta, cutpoints=cut_matrix[design.rating_scale], compute_p=False,
                           observed=design.rating_code, dims="rating_obs")
    return model


def scale_cutpoints(design: Design, pr: dict, shift, cohort_mean) -> pt.TensorVariable:
    """Ordered cutpoints per scale, stacked into (n_scales, K_max−1) with padding.

    Sampled: c* = c − b̄ (`<name>_raw`, prior N(μ − b̄, σ) ⇔ c ~ N(μ, σ)), which the
    data pin; canonical c_canon = c* + b̄ + Σ γ_j·x̄_j.
    """
    dist, params = pr["rating_cutpoints"]
    k_max = max(design.n_categories)
    rows = []
    for scale, k in zip(design.scales, design.n_categories):
        mu = cutpoint_prior_mean(k)
        dim = f"rating_cut_{scale_label(scale)}"
        raw = getattr(pm, dist)(
            f"{cutpoint_name(scale)}_raw", **{**params, "mu": params.get("mu", mu) - cohort_mean}, dims=dim,
            transform=pm.distributions.transforms.ordered, initval=np.sort(mu),
        )
        pm.Deterministic(cutpoint_name(scale), raw + cohort_mean + shift, dims=dim)
        rows.append(pt.concatenate([raw, pt.full((k_max - k,), _PAD)]) if k < k_max else raw)
    return pt.stack(rows)
