"""The NUTS samplers `fit` offers, by name; free of PyMC so that the CLI can list them at start-up.

nutpie-jax (the default): nutpie's NUTS on a JAX-compiled density. It compiles the
joint model in 12 s (5 s from JAX's on-disk cache) where Numba takes 74 s (15 s
cached), and its cost per gradient grows sublinearly up to 4x the example's
scholars, so its time to the gate grows no faster than the rows (benchmarks/RESULTS.md).
nutpie: the same NUTS on a Numba-compiled density: samples data/example ~25% faster,
4x the scholars ~25% slower, and compiles for 74 s cold.

Large data (benchmarks/HISTORY.md "Real-world size", before the volume truths changed): the ratings model on 75,000 ratings by
3,000 scholars of 1,100 speakers passes the gate with every default (nutpie-jax, 2 x (1000 +
3000)) in 1,321 CPU seconds and 6.2 GB. A shorter run (500 + 1000) costs 2.3x less but fails:
the cohort contrasts mix at ~0.15-0.2 effective draws per draw, because a cohort's effect and
the mean of its scholars' and sessions' effects are informed only through their sum. nutpie's
low-rank mass matrix adapts to such a few correlated directions: `fit(..., nuts={"adaptation":
"low_rank"})` passes it through (pm.sample's `nuts` goes to nutpie.sample).
"""
from __future__ import annotations

# What each sampler name means to pm.sample: (nuts_sampler, compile_kwargs).
PM_SAMPLER = {"nutpie-jax": ("nutpie", {"mode": "JAX", "gradient_backend": "jax"}), "nutpie": ("nutpie", {}),
              "pymc": ("pymc", {}), "numpyro": ("numpyro", {})}
SAMPLERS = tuple(PM_SAMPLER)
DEFAULT_SAMPLER = "nutpie-jax"
SAMPLER_HELP = f"NUTS sampler: {', '.join(SAMPLERS[:-1])} or {SAMPLERS[-1]} (default: {DEFAULT_SAMPLER})."
