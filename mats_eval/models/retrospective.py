"""Retrospective (end-of-programme survey) model: ordered logistic of element ratings.

    latent = retro_element[e] + retro_mandatory·m + c_c + t_i
    P(code ≤ j) = logit⁻¹(κ_{scale, j} − latent),  code = rating − retro_scale_min

e is the rated element (zero-sum effects: the cutpoints carry the level), m = 1
when the element was mandatory for the scholar's cohort, c_c the cohort effect
(sd retro_cohort_sd), t_i the scholar effect (sd retro_scholar_sd). Cutpoints
belong to a retro scale (`retro_cutpoints_<min>_<max>`, dim
`retro_cut_<min>_<max>`), shared by cohorts on that scale. The policy effect is
identified by within-cohort differences in policy across elements (each
respondent rates mandatory and optional elements of her own cohort), under the
assumption that element effects are the same in every cohort
(mats_eval.checks.identification).

As in the session-rating model the mandatory column is centred for the sampler
and the cohort and scholar effects are split into mean and zero-sum deviations
(priors.cohort_effect, priors.split_group_effect), so the cutpoints absorb the means: canonical
κ = κ* + c̄ + t̄ + β_m·m̄ (Deterministic), sampled `retro_cutpoints_<min>_<max>_raw`
(priors.ordered_cutpoints, shared with the session-rating model).

`retro_likelihood(design, pr, scholar)` adds the likelihood (observed variable
`retro`) to the model in context given a scholar-effect vector, so the joint
model reuses it with a scholar effect shared with the session ratings.
"""
from __future__ import annotations

import numpy as np
import pymc as pm

from mats_eval.data.design import Design, RetroDesign, scale_label
from mats_eval.errors import UsageError
from mats_eval.estimands import registry
from mats_eval.models.canonical import canonical_from, select
from mats_eval.models.likelihoods import ordered_logistic
from mats_eval.models.spec import ModelSpec
from mats_eval.models.priors import (
    RETRO_PRIORS, cohort_effect, make_prior, ordered_cutpoints, resolve_priors, split_group_effect,
)


def retro_cutpoint_name(scale: tuple[int, int]) -> str:
    """Canonical retro cutpoints of a (min, max) scale, e.g. 'retro_cutpoints_1_10'."""
    return f"retro_cutpoints_{scale_label(scale)}"


def retro_of(design: Design) -> RetroDesign:
    """The design's retrospective arrays, or a UsageError when the data has none."""
    retro = getattr(design, "retro", None)
    if retro is None or len(retro.code) == 0:
        raise UsageError("the dataset has no retrospective ratings (retrospective.csv) to fit")
    return retro


def retro_coords(design: Design) -> dict[str, list]:
    """Coords the retrospective likelihood needs (element, retro_obs, cut dims; plus cohort)."""
    retro = retro_of(design)
    coords = {"cohort": design.coords["cohort"], "element": list(retro.elements),
              "retro_obs": list(range(len(retro.code)))}
    for scale, k in zip(retro.scales, retro.n_categories):
        coords[f"retro_cut_{scale_label(scale)}"] = [f"{j}|{j + 1}" for j in range(scale[0], scale[0] + k - 1)]
    return coords


def retro_likelihood(design: Design, pr: dict, scholar, scholar_mean=0.0) -> None:
    """Add retro_element, retro_mandatory, the cohort effect, cutpoints and the observed `retro`.

    `scholar` is the zero-sum deviation part of the scholar effect over dim
    "scholar", `scholar_mean` its mean (absorbed by the cutpoints). Its sd is the
    caller's business: retro_scholar_sd must exist in the model, as a random
    variable (retrospective_model) or a Deterministic (joint model).
    """
    retro = retro_of(design)
    m = retro.mandatory
    element = make_prior(pr, "retro_element", dims="element")
    beta = make_prior(pr, "retro_mandatory")
    _, cohort_mean, cohort_dev = cohort_effect(pr, "retro_cohort_var", "retro_cohort_sd", "retro_cohort", "cohort",
                                               len(design.coords["cohort"]))
    eta = element[retro.element] + beta * (m - m.mean()) + cohort_dev[retro.cohort] + scholar[retro.scholar]
    cuts = ordered_cutpoints(pr["retro_cutpoints"], retro.scales, retro_cutpoint_name, "retro_cut",
                             level=cohort_mean + scholar_mean, shift=beta * m.mean())
    ordered_logistic("retro", eta, cuts, retro.scale, retro.code, dims="retro_obs")


def retrospective_model(design: Design, priors: dict | None = None) -> pm.Model:
    """The retrospective model of `design` (see module docstring); observed variable `retro`."""
    pr = resolve_priors(RETRO_PRIORS, priors)
    coords = {**retro_coords(design), "scholar": design.coords["scholar"]}
    with pm.Model(coords=coords) as model:
        _, scholar_mean, scholar = split_group_effect(pr, "retro_scholar_sd", "retro_scholar", "scholar",
                                                      len(design.coords["scholar"]))
        retro_likelihood(design, pr, scholar, scholar_mean)
    return model


def retro_canonical(post, p: dict, ref, kind: str) -> dict:
    """The reference element's effect and the reference retro scale's cutpoints, when the data have them."""
    cut = retro_cutpoint_name(ref.retro_scale) if ref.retro_scale is not None else None
    if ref.element is None or cut not in p or "retro_element" not in post:
        return {}  # no reference element or scale in this fit: the retro contrast is not defined
    return {"retro_element_ref": select(post, "retro_element", "element", ref.element),
            "retro_cutpoints_ref": p[cut]}


RETROSPECTIVE_SPEC = ModelSpec(name="retrospective", build=retrospective_model, default_priors=RETRO_PRIORS,
                               canonical=canonical_from(retro_canonical), outputs=registry.RETRO)

__all__ = ["retrospective_model", "retro_likelihood", "retro_coords", "retro_cutpoint_name", "retro_canonical",
           "RETROSPECTIVE_SPEC", "RETRO_PRIORS"]
