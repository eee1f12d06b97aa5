"""Relevance model: the joint selection model plus the match of a session's topic and a scholar's stream.

Under an optional policy scholars pick the sessions on their own track; under a mandatory one
they sit through all of them. So mandatory sessions can be rated lower without mandating costing
anything by itself. The joint model corrects for selection by scholar (keen scholars attend and
rate more); this model adds selection by session. For a scholar i of stream k and a session s
relevant to i (topic blank, 'general' or k: data/design.py `is_relevant`), rel_is = 1, else 0, and

    attendance logit += β_k · rel_is,   β_k = attendance_relevance + a_k,  a_k ~ N(0, attendance_relevance_stream_sd²)
    rating latent    += γ_k · rel_is,   γ_k = rating_relevance + a′_k,     a′_k ~ N(0, rating_relevance_stream_sd²)

over the dim "stream", with the stream variances integrated out (`match_term`). rating_mandatory is then the policy's own
effect at equal relevance; the kernels (estimands/kernels.py `over_relevance`) average a new
cohort's sessions over relevance with the data's relevant share π (Reference.relevant_share), and
`relevance_part_of_rating_gap` is the part of the attended mandatory–optional gap that comes from
which sessions scholars sit through. The match term enters uncentred (rel = 0 is the base), so
every canonical parameter of the joint model keeps its meaning, at an irrelevant session.
"""
from __future__ import annotations

import numpy as np
import pymc as pm

from mats_eval.data.design import Design
from mats_eval.errors import UsageError
from mats_eval.estimands import registry
from mats_eval.models.attendance import attendance_canonical
from mats_eval.models.canonical import canonical_from
from mats_eval.models.joint import JOINT_SPEC, joint_model, joint_retro_canonical
from mats_eval.models.ratings import rating_canonical
from mats_eval.models.priors import RELEVANCE_PRIORS, cohort_effect, make_prior
from mats_eval.models.spec import ModelSpec


def match_term(design: Design, pr: dict, outcome: str, scholar_of_row, relevant_of_row):
    """β_k(row's scholar) · rel_row for `outcome` ('attendance' or 'rating'): see the module docstring.

    β_k = β + a_k, a_k ~ N(0, σ²) iid: a few data-rich streams, so σ is integrated out as for
    cohorts (priors.cohort_effect); the sampler sees the identified β + ā
    (`<outcome>_relevance_total`), and β = total − ā keeps its own prior.
    """
    _, stream_mean, stream_dev = cohort_effect(pr, f"{outcome}_relevance_stream_var", f"{outcome}_relevance_stream_sd",
                                               f"{outcome}_relevance_stream_deviation", "stream",
                                               len(design.relevance.streams))
    total = make_prior(pr, f"{outcome}_relevance", f"{outcome}_relevance_total", shift=stream_mean)
    pm.Deterministic(f"{outcome}_relevance", total - stream_mean)
    by_stream = pm.Deterministic(f"{outcome}_relevance_stream", total + stream_dev, dims="stream")
    return by_stream[design.relevance.scholar_stream[scholar_of_row]] * relevant_of_row


def relevance_terms(design: Design, pr: dict) -> tuple:
    """(attendance term, rating term) per observation, for joint_model's `pair_terms`."""
    rel = design.relevance
    pm.modelcontext(None).add_coord("stream", list(rel.streams))
    return (match_term(design, pr, "attendance", design.att_scholar, rel.att_relevant),
            match_term(design, pr, "rating", design.rating_scholar, rel.rating_relevant))


def relevance_model(design: Design, priors: dict | None = None, retro: bool | None = None) -> pm.Model:
    """The joint model of `design` with the match terms (module docstring); needs session topics."""
    if design.relevance is None:
        raise UsageError("the relevance model needs session topics (sessions.csv `topic`: a stream of "
                         "scholars.csv or 'general'); without them use the joint model")
    return joint_model(design, priors, retro, pair_terms=relevance_terms, default_priors=RELEVANCE_SPEC.default_priors)


def relevance_canonical(post, p: dict, ref, kind: str) -> dict:
    """The data's relevant share π of sessions of `kind`, which the kernels mix relevance with (a
    constant over draws)."""
    share = ref.relevant_share_of(kind)
    if share is None:
        return {}
    return {"relevant_share": np.full(len(p["attendance_intercept"]), float(share))}


RELEVANCE_SPEC = ModelSpec(
    name="relevance",
    build=relevance_model,
    default_priors={**JOINT_SPEC.default_priors, **RELEVANCE_PRIORS},
    canonical=canonical_from(attendance_canonical, rating_canonical, joint_retro_canonical, relevance_canonical),
    outputs=JOINT_SPEC.outputs + registry.RELEVANCE + ("attendance_relevance_stream_sd", "rating_relevance_stream_sd"),
)

__all__ = ["relevance_model", "relevance_terms", "RELEVANCE_SPEC"]
