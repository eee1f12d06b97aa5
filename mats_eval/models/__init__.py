"""Model registry: name -> builder(design, priors=None) -> pm.Model with named dims.

Models: attendance (and its decay-to-a-floor form), ratings, retrospective, and
the joint selection model (the default); `fit` and the CLI look models up here.
"""
from __future__ import annotations

from collections.abc import Callable

import pymc as pm

from mats_eval.models.attendance import attendance_model
from mats_eval.models.joint import joint_model, joint_priors
from mats_eval.models.priors import (
    ATTENDANCE_PRIORS, JOINT_PRIORS, RATING_PRIORS, RETRO_PRIORS, PriorError, resolve_priors,
)
from mats_eval.models.ratings import ratings_model
from mats_eval.models.retrospective import retrospective_model

ModelBuilder = Callable[..., pm.Model]

MODELS: dict[str, ModelBuilder] = {
    "attendance": attendance_model,
    "attendance_floor": lambda design, priors=None: attendance_model(design, priors, form="floor"),
    "ratings": ratings_model,
    "retrospective": retrospective_model,
    "joint": joint_model,
}

# The model `mats-eval fit` uses without --model: the joint selection model, the only
# one that gives every contract estimand and is not fooled by self-selected attendance.
DEFAULT_MODEL = "joint"

# Default priors of each model (before user overrides), e.g. for prior sensitivity.
MODEL_PRIORS = {
    "attendance": ATTENDANCE_PRIORS,
    "attendance_floor": ATTENDANCE_PRIORS,
    "ratings": RATING_PRIORS,
    "retrospective": RETRO_PRIORS,
    "joint": {**ATTENDANCE_PRIORS, **RATING_PRIORS, **RETRO_PRIORS, **JOINT_PRIORS},
}


def model_priors(name: str, overrides: dict | None = None) -> dict:
    """The resolved priors model `name` is built with under `overrides`."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # build_model already warned about unknown keys
        return resolve_priors(MODEL_PRIORS.get(name, {}), overrides)


def build_model(name: str, design, priors: dict | None = None) -> pm.Model:
    """MODELS[name](design, priors), with a clear error for an unknown name."""
    from mats_eval.errors import UsageError

    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](design, priors=priors)


__all__ = ["MODELS", "DEFAULT_MODEL", "MODEL_PRIORS", "build_model", "model_priors", "attendance_model",
           "ratings_model", "retrospective_model", "joint_model", "joint_priors", "resolve_priors",
           "ATTENDANCE_PRIORS", "RATING_PRIORS", "RETRO_PRIORS", "JOINT_PRIORS", "PriorError"]
