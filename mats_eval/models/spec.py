"""ModelSpec: what a model is, how to build it, and what it gives the estimands.

Each model file exports its spec(s); models/__init__.py collects them in MODELS.
A spec's `canonical` is the only place that reads the model's own parameter
names: it maps a posterior onto the canonical parameters of
estimands/kernels.py, and `provides` follows from its `outputs` and the
registry's `needs`, so no caller guesses what a model can answer.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from mats_eval.estimands import registry


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    build(design, priors=None) -> pm.Model; default_priors: the priors before user overrides;
    canonical(posterior, ref, kind=None) -> {canonical name: array over chain·draw (flattened)},
    at session kind `kind` (default ref.kind); outputs: the canonical names it provides.
    """

    name: str
    build: Callable
    default_priors: Mapping[str, tuple]
    canonical: Callable[..., dict[str, np.ndarray]]
    outputs: tuple[str, ...]

    @property
    def provides(self) -> tuple[str, ...]:
        """The registry's estimands whose `needs` this model's outputs cover (registry order)."""
        have = set(self.outputs)
        return tuple(name for name, entry in registry.ESTIMANDS.items() if set(entry.needs) <= have)


__all__ = ["ModelSpec"]
