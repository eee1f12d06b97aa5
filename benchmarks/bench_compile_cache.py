"""Compile once: what the shared JAX compilation cache saves study workers (issue 19, item 4).

    source scripts/env.sh
    .venv/bin/python benchmarks/bench_compile_cache.py [--reps 4] [--workers 2] [--scale 0.1]
        [--out benchmarks/results/compile_cache.json]

The same study runs twice through mats_eval.studies.runner (spawned workers, as SBC, coverage
and power run): `reps` coverage-style fits of the `identified` scenario (the joint model,
nutpie-jax, checks off, 2 chains x (200 tune + 200 draws)), first with an empty JAX cache folder,
then again in fresh worker processes with the cache the first run left (a rerun or resumed study).
Per fit it records manifest.json's `compile` and `sampling` seconds (wall: they move with the
machine's load), JAX's own clock of its XLA compilations and cache reads (jax.monitoring), the
cache hits, and the cache's entries;
a third run on different datasets (other seeds) shows whether anything carries across datasets.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from mats_eval.cli_options import script

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "compile_cache.json"


# JAX's own clock of its compile pipeline (jax/_src/dispatch.py, compiler.py): XLA compilation,
# reading an executable from the persistent cache, and the compile time a cache hit saved
JAX_DURATIONS = {"/jax/core/compile/backend_compile_duration": "xla_compile",
                 "/jax/compilation_cache/cache_retrieval_time_sec": "cache_read",
                 "/jax/compilation_cache/compile_time_saved_sec": "saved"}


def one_fit(seed: int, scale: float) -> dict:
    """A study fit of simulate('identified', seed, scale): its compile and sampling seconds, and
    how long JAX spent compiling (XLA) or reading its cache, with the cache hits."""
    import jax.monitoring

    from mats_eval.inference.fitting import study_fit
    from mats_eval.simulation.scenarios import simulate

    jax_seconds = dict.fromkeys(JAX_DURATIONS.values(), 0.0)
    hits = []

    def on_duration(event: str, seconds: float, **_) -> None:
        if event in JAX_DURATIONS:
            jax_seconds[JAX_DURATIONS[event]] += seconds

    jax.monitoring.register_event_duration_secs_listener(on_duration)
    jax.monitoring.register_event_listener(
        lambda event, **_: hits.append(1) if event == "/jax/compilation_cache/cache_hits" else None)
    data = simulate("identified", seed=seed, scale=scale).program_data()
    result = study_fit(data, "joint", draws=200, tune=200, chains=2, seed=seed, sampler="nutpie-jax")
    t = result.manifest["timings_seconds"]
    return {"compile": t["compile"], "sampling": t["sampling"], "build": t["build"], "cache_hits": len(hits),
            **jax_seconds}


def run(folder: Path, seeds: list[int], scale: float, workers: int) -> dict:
    from mats_eval.studies.runner import ok_results, run_study

    start = time.perf_counter()
    records = run_study(one_fit, {f"fit-{s}": {"seed": s, "scale": scale} for s in seeds}, folder,
                        workers=workers, progress=False)
    fits = ok_results(records)
    cache = Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    return {"wall": time.perf_counter() - start, "fits": len(fits), "failed": len(records) - len(fits),
            **{k: [round(f[k], 1) for f in fits] for k in ("compile", "sampling", "xla_compile", "cache_read",
                                                          "saved", "cache_hits")},
            "cache_entries": len(list(cache.glob("*-cache"))), "load": os.getloadavg()[0]}


def main(
    reps: Annotated[int, typer.Option(min=1)] = 4,
    workers: Annotated[int, typer.Option(min=1)] = 2,
    scale: Annotated[float, typer.Option()] = 0.1,
    out: Annotated[Path, typer.Option(help="JSON of the three runs.")] = DEFAULT_OUT,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(Path(tmp) / "jax")  # empty: the first run is cold
        same = list(range(reps))
        rows = {"cold": run(Path(tmp) / "cold", same, scale, workers),
                "warm_same_datasets": run(Path(tmp) / "warm", same, scale, workers),
                "warm_other_datasets": run(Path(tmp) / "other", [reps + s for s in same], scale, workers)}
    for name, row in rows.items():
        mean = sum(row["compile"]) / max(len(row["compile"]), 1)
        print(f"{name}: wall {row['wall']:.0f} s, compile per fit {row['compile']} (mean {mean:.1f} s), "
              f"of which XLA {row['xla_compile']}, cache reads {row['cache_read']} ({row['cache_hits']} hits), "
              f"sampling {row['sampling']}, cache entries {row['cache_entries']}, load {row['load']:.1f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"generated": time.strftime("%Y-%m-%d %H:%M"), "reps": reps, "workers": workers,
                               "scale": scale, "runs": rows}, indent=1) + "\n")


if __name__ == "__main__":
    script(main, __doc__)
