"""The NUTS samplers `fit` offers, by name; free of PyMC so that the CLI can list them at start-up.

nutpie (the default since session 14): nutpie's NUTS on a Numba-compiled density. On the
current models it samples data/example in 38 s where the JAX density takes 120 s, at the same
leapfrog steps per draw (and mats-history at full scale in 37–42 s against 114–123 s): the
gradient costs about a third (benchmarks/RESULTS.md "Speed"). It compiles a new model for about
a minute with empty caches (less from Numba's on-disk cache, scripts/env.sh), which the test
suite pays for every model it fits: CI took 12 min with it against 9.4 min with JAX.
nutpie-jax: the same NUTS on a JAX-compiled density; compiles in ~12 s. It was the default
from 2026-11-27, when the joint model had no session effects and JAX sampled the example about
as fast as Numba (41–46 s against 33 s); its cost per gradient grew faster with the models.

Large data (benchmarks/HISTORY.md "Real-world size", before the volume truths changed): the ratings model on 75,000 ratings by
3,000 scholars of 1,100 speakers passes the gate with every default of that time (nutpie-jax, 2 x (1000 +
3000)) in 1,321 CPU seconds and 6.2 GB. A shorter run (500 + 1000) costs 2.3x less but fails:
the cohort contrasts mix at ~0.15-0.2 effective draws per draw, because a cohort's effect and
the mean of its scholars' and sessions' effects are informed only through their sum. nutpie's
low-rank mass matrix adapts to such a few correlated directions: `fit(..., nuts={"adaptation":
"low_rank"})` passes it through (pm.sample's `nuts` goes to nutpie.sample).
"""
from __future__ import annotations

# nutpie's samplers: the compile options of nutpie.compile_pymc_model. The package compiles and samples
# them itself (inference/fitting.py), not through pm.sample, to keep the compiled density: a refit under
# another prior, or SBC under other data, sets new data values in it instead of compiling again.
NUTPIE_BACKENDS = {"nutpie-jax": {"backend": "jax", "gradient_backend": "jax"}, "nutpie": {"backend": "numba"}}
# The others, as pm.sample's nuts_sampler.
PM_SAMPLER = {"pymc": "pymc", "numpyro": "numpyro"}
SAMPLERS = (*NUTPIE_BACKENDS, *PM_SAMPLER)
DEFAULT_SAMPLER = "nutpie"
SAMPLER_HELP = f"NUTS sampler: {', '.join(SAMPLERS[:-1])} or {SAMPLERS[-1]} (default: {DEFAULT_SAMPLER})."
