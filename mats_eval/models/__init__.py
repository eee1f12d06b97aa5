"""Model registry: name -> builder(design, priors=None) -> pm.Model with named dims.

Later models (joint selection, retrospective) register themselves by adding an
entry to MODELS; `fit` and the CLI look models up here.
"""
from __future__ import annotations

from collections.abc import Callable

import pymc as pm

from mats_eval.models.attendance import attendance_model
from mats_eval.models.priors import ATTENDANCE_PRIORS, RATING_PRIORS, PriorError, resolve_priors
from mats_eval.models.ratings import ratings_model

ModelBuilder = Callable[..., pm.Model]

MODELS: dict[str, ModelBuilder] = {
    "attendance": attendance_model,
    "attendance_floor": lambda design, priors=None: attendance_model(design, priors, form="floor"),
    "ratings": ratings_model,
}

# The model `mats-eval fit` uses without --model. "ratings" until the joint model lands.
DEFAULT_MODEL = "ratings"


def build_model(name: str, design, priors: dict | None = None) -> pm.Model:
    """MODELS[name](design, priors), with a clear error for an unknown name."""
    from mats_eval.errors import UsageError

    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](design, priors=priors)


__all__ = ["MODELS", "DEFAULT_MODEL", "build_model", "attendance_model", "ratings_model", "resolve_priors",
           "ATTENDANCE_PRIORS", "RATING_PRIORS", "PriorError"]
