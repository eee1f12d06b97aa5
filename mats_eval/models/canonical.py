"""Posterior -> canonical parameters: the pieces every model's `canonical` is made of.

`canonical_from(*parts)` makes a spec's `canonical(posterior, ref, kind=None)`:
the posterior's own draws (chain·draw flattened; raw `_z` vectors and
per-scholar, per-session or per-observation vectors left out) under their own
names, plus what each part adds — the parameters at the reference kind, scale
and element, or the neutral value of a parameter the model's form fixes. The
parts live in the model files, next to the names they read.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mats_eval.estimands.summary import reference_of

# Per-unit vectors that are not parameters of the estimands (kept in posterior.nc only).
_UNIT_DIMS = {"scholar", "session", "attendance_obs", "rating_obs", "retro_obs", "stream"}

# part(post, p, ref, kind) -> {canonical name: draws} to add to p
Part = Callable[..., dict]


def posterior_of(idata):
    """The posterior group of a DataTree (or a mapping with a 'posterior' entry), or `idata` itself."""
    try:
        return idata["posterior"]
    except KeyError:
        return idata


def posterior_draws(post) -> dict[str, np.ndarray]:
    """Posterior variables as arrays (chain·draw, ...), skipping `_z` raw effects and per-unit vectors."""
    out = {}
    for name, da in post.data_vars.items():
        if name.endswith("_z") or _UNIT_DIMS & set(da.dims):
            continue
        values = np.asarray(da.transpose("chain", "draw", ...).values, dtype=float)
        out[name] = values.reshape((-1,) + values.shape[2:])
    return out


def select(post, var: str, dim: str, label: str) -> np.ndarray:
    """Draws of post[var] at dim=label, flattened over chain and draw."""
    da = post[var]
    if label not in [str(x) for x in da[dim].values]:
        raise KeyError(f"{dim} {label!r} is not in the fitted data ({var} has {list(map(str, da[dim].values))})")
    return np.asarray(da.sel({dim: label}).transpose("chain", "draw").values, dtype=float).reshape(-1)


def canonical_from(*parts: Part) -> Callable[..., dict[str, np.ndarray]]:
    """A spec's canonical(posterior, ref, kind=None): the posterior's draws plus each part's additions.

    `ref` may be a Reference, a Design or a ProgramData; `kind` defaults to ref.kind.
    """
    def canonical(posterior, ref, kind: str | None = None) -> dict[str, np.ndarray]:
        post, ref = posterior_of(posterior), reference_of(ref)
        p = posterior_draws(post)
        for part in parts:
            p.update(part(post, p, ref, kind or ref.kind))
        return p
    return canonical


__all__ = ["posterior_of", "posterior_draws", "select", "canonical_from"]
