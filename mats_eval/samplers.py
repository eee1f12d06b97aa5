"""The NUTS samplers `fit` offers, by name; free of PyMC so that the CLI can list them at start-up.

nutpie: fastest to pass the gate on data/example once its Numba caches exist.
nutpie-jax: nutpie's NUTS on a JAX-compiled density; compiles the joint model in 12 s
where Numba takes 74 s, samples ~35% slower on data/example and faster at 4x the
scholars: the cheaper choice for one-off runs and studies (benchmarks/RESULTS.md).
"""
from __future__ import annotations

# What each sampler name means to pm.sample: (nuts_sampler, compile_kwargs).
PM_SAMPLER = {"nutpie": ("nutpie", {}), "nutpie-jax": ("nutpie", {"mode": "JAX", "gradient_backend": "jax"}),
              "pymc": ("pymc", {}), "numpyro": ("numpyro", {})}
SAMPLERS = tuple(PM_SAMPLER)
DEFAULT_SAMPLER = "nutpie"
SAMPLER_HELP = f"NUTS sampler: {', '.join(SAMPLERS[:-1])} or {SAMPLERS[-1]} (default: {DEFAULT_SAMPLER})."
