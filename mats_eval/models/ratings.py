"""Session-rating model: ordered logistic on each cohort's own rating scale.

    η = kind[k] + γ_m·m + γ_V·V + γ_w·(w−1) + b_c + r_i + g_speaker + e_s
    P(code ≤ j) = logit⁻¹(c_{scale, j} − η),  code = rating − scale_min ∈ 0..K−1

Cutpoints belong to a scale, not a cohort: cohorts on the same scale share
them, so cohort effects b_c are identified against each other. One variable
per scale, `rating_cutpoints_<min>_<max>` (dim `rating_cut_<min>_<max>`);
`cutpoint_name(scale)` gives the name. kind is zero-sum, so the cutpoints
carry the overall level. As in the attendance model, covariates are centred
for the sampler, and cohort effects are split into mean b̄ and zero-sum deviations
(priors.cohort_effect, which integrates the cohort variance out) so that the
cutpoints absorb b̄; the canonical
cutpoints c = c* + b̄ + Σ γ_j·x̄_j are Deterministics, the sampled ones
`rating_cutpoints_<min>_<max>_raw`.

Scales of different length share one likelihood: shorter scales' cutpoint
rows are padded with a huge constant, which gives their non-existent top
categories probability exactly 0 (priors.ordered_cutpoints, shared with the
retrospective model). Volume is centred within kind (priors.kind_centred).
The predictor is built per session, each row adding its scholar's effect,
and each row's likelihood uses only its two cutpoints (models/likelihoods.py).

Session effects e_s ~ N(0, rating_session_sd) (dim "session", every session
of the data, as attendance_session_sd in the attendance model): the ratings of
one session share whatever that session was like beyond its covariates, so
they are not independent evidence about policy, volume or week, which vary
only between sessions. Without e_s their intervals come out too narrow.
They are split into mean and zero-sum deviations (priors.split_group_effect,
non-centred); the cutpoints absorb the mean ē as they absorb b̄ and r̄.
Where policy changes only between cohorts, γ_m is sampled as its sum with the
cohort effects' part along policy (`rating_mandatory_with_cohort`,
priors.policy_with_cohort), as in the attendance model.

`rating_likelihood(design, pr, scholar, scholar_mean)` adds everything but the
scholar effect to the model in context; the joint model (models/joint.py)
calls it with its correlated scholar effects.
"""
from __future__ import annotations

import numpy as np
import pymc as pm

from mats_eval.data.design import Design, scale_label
from mats_eval.errors import UsageError
from mats_eval.models.priors import (
    RATING_PRIORS, cohort_effect, cutpoint_prior_mean, group_effect, kind_centred, make_prior, ordered_cutpoints,
    policy_cohort_direction, policy_with_cohort, resolve_priors, split_group_effect,
)
from mats_eval.models.likelihoods import ordered_logistic
from mats_eval.estimands import registry
from mats_eval.models.canonical import canonical_from, select
from mats_eval.models.spec import ModelSpec

__all__ = ["ratings_model", "rating_likelihood", "rating_coords", "cutpoint_name", "cutpoint_prior_mean",
           "rating_canonical", "RATINGS_SPEC"]

POLICY = "rating_mandatory"


def cutpoint_name(scale: tuple[int, int]) -> str:
    """The canonical cutpoints variable of a (min, max) scale, e.g. 'rating_cutpoints_1_10'."""
    return f"rating_cutpoints_{scale_label(scale)}"


def rating_columns(design: Design) -> dict[str, np.ndarray]:
    """Fixed-effect covariates per session, keyed by their coefficient name."""
    return {
        "rating_mandatory": design.session_mandatory,
        "rating_volume": design.session_volume,
        "rating_week": design.session_week0,
    }


def rating_coords(design: Design) -> dict[str, list]:
    """Coords the rating likelihood needs (speaker only when sessions name speakers)."""
    coords = design.coords_for("cohort", "scholar", "session", "kind", "rating_obs")
    if design.has_speakers:
        coords["speaker"] = design.coords["speaker"]
    for scale, k in zip(design.scales, design.n_categories):
        coords[f"rating_cut_{scale_label(scale)}"] = [f"{j}|{j + 1}" for j in range(scale[0], scale[0] + k - 1)]
    return coords


def ratings_model(design: Design, priors: dict | None = None) -> pm.Model:
    """The session-rating model of `design` (see module docstring); observed variable `rating`."""
    _check(design)
    pr = resolve_priors(RATING_PRIORS, priors)
    with pm.Model(coords=rating_coords(design)) as model:
        _, scholar_mean, scholar = split_group_effect(pr, "rating_scholar_sd", "rating_scholar", "scholar",
                                                      len(design.coords["scholar"]))
        rating_likelihood(design, pr, scholar, scholar_mean)
    return model


def _check(design: Design) -> None:
    if len(design.rating_code) == 0:
        raise UsageError("the dataset has no session ratings (ratings.csv) to fit")


def rating_likelihood(design: Design, pr: dict, scholar, scholar_mean=0.0, pair_term=0.0) -> None:
    """Add every rating parameter but the scholar effect, and the observed `rating`, to the model in context.

    `scholar` is the zero-sum deviation part of the scholar effect over dim "scholar",
    `scholar_mean` its mean (absorbed by the cutpoints): the ratings model passes its
    own split effect, the joint model the rating half of its correlated scholar effects.
    """
    _check(design)
    s, i = design.rating_session, design.rating_scholar
    kind_of_session = design.session_kind
    cols = rating_columns(design)  # per session; centred at their means over the rated rows
    # policy changing only between cohorts: γ_m is sampled along the cohort effects, after them
    # (priors.policy_with_cohort)
    direction = policy_cohort_direction(design.session_mandatory[s], design.session_cohort[s],
                                        len(design.coords["cohort"]))
    gammas = {name: make_prior(pr, name) for name in cols if not (name == POLICY and direction is not None)}
    volume = "rating_volume"
    kind, volume_of_kind, volume_centre = kind_centred(pr, "rating_kind", gammas[volume], cols[volume][s],
                                                       kind_of_session[s], len(design.coords["kind"]))
    centre = {n: (volume_centre if n == volume else cols[n][s].mean()) for n in cols}
    offset = {n: cols[n] - (volume_of_kind[kind_of_session] if n == volume else centre[n]) for n in cols}
    _, cohort_mean, cohort_dev = cohort_effect(pr, "rating_cohort_var", "rating_cohort_sd", "rating_cohort",
                                               "cohort", len(design.coords["cohort"]))
    if direction is not None:
        gammas[POLICY] = policy_with_cohort(pr, POLICY, cohort_dev, direction)
    shift = sum(g * centre[n] for n, g in gammas.items())
    _, session_mean, session = split_group_effect(pr, "rating_session_sd", "rating_session", "session",
                                                  len(design.coords["session"]), deterministic=False)
    session_eta = kind[kind_of_session] + sum(g * offset[n] for n, g in gammas.items()) \
        + cohort_dev[design.session_cohort] + session
    if design.has_speakers:
        speaker = group_effect(pr, "rating_speaker_sd", "rating_speaker", "speaker")
        session_eta = session_eta + speaker[design.session_speaker] * design.session_has_speaker
    table = ordered_cutpoints(pr["rating_cutpoints"], design.scales, cutpoint_name, "rating_cut",
                              level=cohort_mean + scholar_mean + session_mean, shift=shift)
    ordered_logistic("rating", session_eta[s] + scholar[i] + pair_term, table, design.rating_scale,
                     design.rating_code, dims="rating_obs")


# --- canonical parameters and the spec ----------------------------------------------------

OUTPUTS = registry.RATING + ("rating_speaker_sd", "rating_session_sd")


def rating_canonical(post, p: dict, ref, kind: str) -> dict:
    """The rating kind effect at `kind` and the cutpoints of the reference scale (draws, K−1)."""
    out = {"rating_kind_ref": select(post, "rating_kind", "kind", kind)}
    cut = cutpoint_name(ref.session_scale)
    if cut in p:  # else the reference scale was not fitted and the rating estimands are not defined
        out["rating_cutpoints_ref"] = p[cut]
    return out


RATINGS_SPEC = ModelSpec(name="ratings", build=ratings_model, default_priors=RATING_PRIORS,
                         canonical=canonical_from(rating_canonical), outputs=OUTPUTS)
