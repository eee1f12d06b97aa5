"""Study workers share one JAX compilation cache, locked, and reuse it in later studies."""
from __future__ import annotations

import os

from mats_eval.studies.runner import JAX_CACHE_MAX_BYTES, run_study, worker_environment

HIT = "/jax/compilation_cache/cache_hits"


def jit_once(n: int) -> dict:
    """Compile and run one small jitted function; report how JAX's persistent cache was set and used."""
    import jax
    import jax.numpy as jnp
    from jax._src import config

    hits = []
    jax.monitoring.register_event_listener(lambda event, **_: hits.append(event) if event == HIT else None)
    jax.jit(lambda x: jnp.cumsum(jnp.sin(x) * 2.0))(jnp.ones(n)).block_until_ready()
    return {"hits": len(hits), "dir": config.compilation_cache_dir.value,
            "max_size": config.compilation_cache_max_size.value}


def test_worker_environment_keeps_the_callers_cache_and_sets_a_limit(monkeypatch, tmp_path):
    monkeypatch.setenv("MATS_EVAL_CACHE", str(tmp_path))
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.delenv("JAX_COMPILATION_CACHE_MAX_SIZE", raising=False)
    env = worker_environment()
    assert env["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "jax")
    assert int(env["JAX_COMPILATION_CACHE_MAX_SIZE"]) == JAX_CACHE_MAX_BYTES > 0  # > 0: JAX locks the cache
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "mine"))
    assert worker_environment()["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "mine")


def test_concurrent_workers_share_a_locked_cache_that_the_next_study_reuses(monkeypatch, tmp_path):
    cache = tmp_path / "jax"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(cache))
    monkeypatch.delenv("JAX_COMPILATION_CACHE_MAX_SIZE", raising=False)
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # cache even this tiny function
    tasks = {"a": {"n": 7}, "b": {"n": 7}}
    first = run_study(jit_once, tasks, tmp_path / "first", workers=2, progress=False)
    assert all(r["status"] == "ok" for r in first), first
    assert {r["result"]["dir"] for r in first} == {str(cache)}
    assert {r["result"]["max_size"] for r in first} == {JAX_CACHE_MAX_BYTES}
    assert (cache / ".lockfile").exists()  # JAX took its file lock
    entries = sorted(p.name for p in cache.glob("*-cache"))
    assert entries and all(os.path.getsize(cache / e) > 0 for e in entries)
    # a later study, in fresh processes: every compile is read back, nothing is written anew
    again = run_study(jit_once, tasks, tmp_path / "again", workers=2, progress=False)
    assert all(r["status"] == "ok" and r["result"]["hits"] >= 1 for r in again), again
    assert sorted(p.name for p in cache.glob("*-cache")) == entries
