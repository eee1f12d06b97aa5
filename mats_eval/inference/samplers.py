"""The NUTS samplers `fit` offers, by name; free of PyMC so that the CLI can list them at start-up.

nutpie-jax (the default): nutpie's NUTS on a JAX-compiled density. It compiles the
joint model in 12 s (5 s from JAX's on-disk cache) where Numba takes 74 s (15 s
cached), and its cost per gradient grows sublinearly up to 4x the example's
scholars, so its time to the gate grows no faster than the rows (benchmarks/RESULTS.md).
nutpie: the same NUTS on a Numba-compiled density: samples data/example ~25% faster,
4x the scholars ~25% slower, and compiles for 74 s cold.
"""
from __future__ import annotations

# What each sampler name means to pm.sample: (nuts_sampler, compile_kwargs).
PM_SAMPLER = {"nutpie-jax": ("nutpie", {"mode": "JAX", "gradient_backend": "jax"}), "nutpie": ("nutpie", {}),
              "pymc": ("pymc", {}), "numpyro": ("numpyro", {})}
SAMPLERS = tuple(PM_SAMPLER)
DEFAULT_SAMPLER = "nutpie-jax"
SAMPLER_HELP = f"NUTS sampler: {', '.join(SAMPLERS[:-1])} or {SAMPLERS[-1]} (default: {DEFAULT_SAMPLER})."
