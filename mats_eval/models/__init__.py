"""Model registry: name -> ModelSpec (models/spec.py), the one list of models.

Models: attendance (and its decay-to-a-floor form), ratings, retrospective, the
joint selection model (the default) and the relevance model (the joint model plus
the match of session topics and scholar streams; the default on data with topics). Each model file exports its spec:
builder, default priors, the map of its posterior to the canonical parameters
of estimands/kernels.py, and the canonical names it provides. `fit`, the CLI
and the studies look models up here.
"""
from __future__ import annotations

import warnings

import numpy as np
import pymc as pm

from mats_eval.estimands import registry
from mats_eval.models.attendance import ATTENDANCE_FLOOR_SPEC, ATTENDANCE_SPEC, attendance_model
from mats_eval.models.joint import JOINT_SPEC, joint_model, joint_priors
from mats_eval.models.priors import (
    ATTENDANCE_PRIORS, JOINT_PRIORS, RATING_PRIORS, RETRO_PRIORS, PriorError, resolve_priors,
)
from mats_eval.models.ratings import RATINGS_SPEC, ratings_model
from mats_eval.models.relevance import RELEVANCE_SPEC, relevance_model
from mats_eval.models.retrospective import RETROSPECTIVE_SPEC, retrospective_model
from mats_eval.models.spec import ModelSpec

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    ATTENDANCE_SPEC, ATTENDANCE_FLOOR_SPEC, RATINGS_SPEC, RETROSPECTIVE_SPEC, JOINT_SPEC, RELEVANCE_SPEC,
)}

# The model `mats-eval fit` uses without --model: the joint selection model, the only
# one that gives every contract estimand and is not fooled by self-selected attendance.
DEFAULT_MODEL = "joint"


def default_model_for(data) -> str:
    """The model `fit` uses without one named: relevance when sessions have topics (ProgramData.has_topics:
    selection by session matters there), else the joint model."""
    return "relevance" if data.has_topics else DEFAULT_MODEL


def get_spec(name: str) -> ModelSpec:
    """MODELS[name], with a UsageError naming the valid models for an unknown one."""
    from mats_eval.errors import UsageError

    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def build_model(name: str, design, priors: dict | None = None) -> pm.Model:
    """The PyMC model `name` of `design` under `priors` (overrides of its defaults)."""
    return get_spec(name).build(design, priors=priors)


def model_priors(name: str, overrides: dict | None = None) -> dict:
    """The resolved priors model `name` is built with under `overrides`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # build_model already warned about unknown keys
        return resolve_priors(get_spec(name).default_priors, overrides)


def canonical_parameters(idata, data, kind: str | None = None, model: str = DEFAULT_MODEL) -> dict[str, np.ndarray]:
    """get_spec(model).canonical(idata, data, kind): canonical parameter draws at session kind `kind`."""
    return get_spec(model).canonical(idata, data, kind)


def estimand_draws(model_name: str, idata, ref, kind: str | None = None, costly: bool = True) -> dict[str, np.ndarray]:
    """Every registered estimand the fit of `model_name` defines, as draws (registry order).

    = registry.estimand_draws(get_spec(model_name).canonical(idata, ref, kind), ref, costly);
    `ref` may be a Reference, Design or ProgramData; costly=False leaves out the costly ones.
    """
    from mats_eval.estimands.summary import reference_of

    ref = reference_of(ref)
    return registry.estimand_draws(get_spec(model_name).canonical(idata, ref, kind), ref, costly=costly)


__all__ = ["MODELS", "DEFAULT_MODEL", "default_model_for", "ModelSpec", "get_spec", "build_model", "model_priors",
           "canonical_parameters", "estimand_draws", "attendance_model", "ratings_model", "retrospective_model",
           "joint_model", "joint_priors", "relevance_model", "resolve_priors", "ATTENDANCE_PRIORS", "RATING_PRIORS", "RETRO_PRIORS",
           "JOINT_PRIORS", "PriorError"]
