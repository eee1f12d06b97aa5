"""Run many independent tasks (fits) in parallel, resumably.

A study is a folder and a set of tasks `key -> args` (a small JSON-able dict).
Each task is `fn(**args) -> dict`, where `fn` is a module-level (picklable)
function that pins its own seed from its args. Results land one file per task,

    <folder>/tasks/<key>.json = {key, args, status: "ok"|"error", result | error, seconds, pid, host}

written atomically (temporary file, then rename) by the coordinating process as
each task completes. A rerun skips every task whose file exists, so an
interrupted study loses at most the tasks in flight; a task that raised is
recorded with its traceback (status "error") and is not retried unless
`retry_errors=True`.

Execution: locally on a `ProcessPoolExecutor` with the `spawn` start method and
`workers` processes (default: the machine's cores), `workers=0` runs in this
process (tests, debugging); or on a Dask cluster when `scheduler` is an address
("tcp://host:8786") or a `distributed.Client`. Local workers get single-threaded
BLAS/OpenMP (parallelism comes from processes, not threads) and their own
PyTensor compile directory (worker slot k of the pool reuses it across studies;
PyTensor locks its compile directory, so a shared one serialises compiles),
while the Numba and JAX compile caches are shared (`worker_environment`). A local
worker dies with its coordinator (Linux: PR_SET_PDEATHSIG), so killing a study stops its fits.

The JAX persistent compilation cache (JAX_COMPILATION_CACHE_DIR, the sampler's
compiled density) is shared safely only with a size limit: without one (JAX's
default) `LRUCache.put` writes an entry in place with no lock (jax/_src/lru_cache.py,
jax 0.12), so a worker can read another's half-written entry, and two workers
that compiled the same model can interleave their bytes in one file. With
`jax_compilation_cache_max_size` set, JAX takes a file lock (`<dir>/.lockfile`)
around every read and write (and evicts least-recently-used entries above the
limit), so a reader sees a whole entry or none. What is left: a worker killed
while writing leaves a truncated entry; its zlib checksum fails on every later
read, which JAX turns into a warning and a recompile, never a wrong executable
(delete the folder to clear it). The same folder is reused by every later study
and by `mats-eval fit` from a shell that sourced scripts/env.sh (which sets the
same limit, so both lock).
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import time
import traceback
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from mats_eval.errors import UsageError

TASKS_DIR = "tasks"
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


def cache_root() -> Path:
    """Where compile caches live: $MATS_EVAL_CACHE, else ~/.cache/mats_eval."""
    return Path(os.environ.get("MATS_EVAL_CACHE", Path.home() / ".cache" / "mats_eval"))


def task_seed(base_seed: int, key: str) -> int:
    """A per-task seed, a pure function of (base seed, task key): seeds never depend on scheduling."""
    return int(np.random.SeedSequence([int(base_seed), zlib.crc32(key.encode())]).generate_state(1)[0])


def result_path(folder: Path | str, key: str) -> Path:
    return Path(folder) / TASKS_DIR / f"{key}.json"


def _check_key(key: str) -> str:
    if not key or any(c in key for c in "/\\") or key.startswith("."):
        raise UsageError(f"task key {key!r} must be a plain file name")
    return key


def _jsonable(obj):
    """Numpy scalars/arrays, Paths and non-finite floats into plain JSON."""
    from mats_eval.runfolder import _jsonable as runs_jsonable

    return runs_jsonable(obj)


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write JSON to `path` via a temporary file in the same folder and os.replace (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(_jsonable(payload), handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_task(fn: Callable[..., dict], key: str, args: dict) -> dict:
    """fn(**args) as a record; an exception becomes status "error" with its traceback (never raises)."""
    start = time.perf_counter()
    record = {"key": key, "args": args, "pid": os.getpid(), "host": socket.gethostname()}
    try:
        record.update(status="ok", result=fn(**args))
    except Exception as exc:  # a study records failures; it does not stop for them
        record.update(status="error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    record["seconds"] = time.perf_counter() - start
    return _jsonable(record)


def load_results(folder: Path | str, keys=None) -> list[dict]:
    """Every recorded task of the study (or those in `keys`, in that order, skipping missing ones)."""
    tasks = Path(folder) / TASKS_DIR
    if keys is None:
        paths = sorted(tasks.glob("*.json"))
    else:
        paths = [tasks / f"{k}.json" for k in keys]
    return [json.loads(p.read_text()) for p in paths if p.is_file()]


def pending_tasks(folder: Path | str, tasks: Mapping[str, dict], retry_errors: bool = False) -> dict[str, dict]:
    """Tasks without a result file (and, with retry_errors, those whose file records an error)."""
    out = {}
    for key, args in tasks.items():
        path = result_path(folder, _check_key(key))
        if not path.is_file():
            out[key] = args
        elif retry_errors and json.loads(path.read_text()).get("status") != "ok":
            out[key] = args
    return out


# --- local processes ------------------------------------------------------------

_SLOT = None  # this worker's slot number (set by _init_worker)
TASKS_PER_WORKER = 20  # then the worker process is replaced (see _run_local)


def _init_worker(slots, env: dict, parent: int) -> None:
    """Pool initializer: die with the coordinating process; take a slot no live worker holds;
    per-slot PyTensor compiledir if PyTensor is not yet imported."""
    global _SLOT
    _die_with_parent(parent)
    with slots.get_lock():
        free = [i for i, pid in enumerate(slots) if not _alive(pid)]
        # a replaced worker may not have been reaped yet: share a slot then (its compiles serialise)
        _SLOT = free[0] if free else os.getpid() % len(slots)
        slots[_SLOT] = os.getpid()
    os.environ.update(env)
    if "pytensor" not in sys.modules and "base_compiledir" not in os.environ.get("PYTENSOR_FLAGS", ""):
        compiledir = cache_root() / "pytensor" / f"worker-{_SLOT}"
        flags = os.environ.get("PYTENSOR_FLAGS", "")
        os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, f"base_compiledir={compiledir}"]))


def _die_with_parent(parent: int) -> None:
    """Ask Linux to send this worker SIGTERM when the process that started it dies.

    Without this, killing a study (`kill`, `pkill -f run_coverage.py`, a closed terminal) left its
    workers computing their fits to the end with no one to record them. PR_SET_PDEATHSIG fires when
    the creating thread exits, which for a pool is the coordinator's executor (alive as long as the
    pool). Elsewhere than Linux it is a no-op: workers then finish their task and find the pipe closed.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # pragma: no cover - no prctl in this libc
        return
    if os.getppid() != parent:  # the coordinator died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# JAX locks its compilation cache only when the cache has a size limit (module docstring); the
# entries are 20-300 kB (the models of this package), so 2 GiB holds thousands of compiled densities.
JAX_CACHE_MAX_BYTES = 2 * 1024**3


def jax_cache_environment() -> dict:
    """JAX_COMPILATION_CACHE_DIR (this process's, else <cache_root>/jax; an empty value turns the
    cache off) and a size limit JAX_COMPILATION_CACHE_MAX_SIZE, which makes JAX lock the cache."""
    return {
        "JAX_COMPILATION_CACHE_DIR": os.environ.get("JAX_COMPILATION_CACHE_DIR", str(cache_root() / "jax")),
        "JAX_COMPILATION_CACHE_MAX_SIZE": os.environ.get("JAX_COMPILATION_CACHE_MAX_SIZE", str(JAX_CACHE_MAX_BYTES)),
    }


def worker_environment() -> dict:
    """Environment for worker processes: single-threaded maths libraries, a shared Numba cache and a
    shared, locked JAX compilation cache (jax_cache_environment)."""
    env = dict(SINGLE_THREAD_ENV)
    env["NUMBA_CACHE_DIR"] = os.environ.get("NUMBA_CACHE_DIR", str(cache_root() / "numba"))
    env.update(jax_cache_environment())
    env["MPLBACKEND"] = "Agg"
    return env


@contextmanager
def _environment(env: dict):
    """Set `env` in this process for the duration (spawned children copy it at start), then restore."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_local(fn, tasks: dict[str, dict], workers: int, on_done: Callable[[dict], None]) -> None:
    """Run tasks on a spawn ProcessPoolExecutor, at most `workers` in flight, recording each as it finishes.
    Each worker is replaced after TASKS_PER_WORKER tasks: compiled models pile up in a process
    (~70 MB per joint-model fit), and a study runs hundreds."""
    env = worker_environment()
    ctx = mp.get_context("spawn")
    slots = ctx.Array("i", [0] * workers)
    with _environment(env), ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                                initargs=(slots, env, os.getpid()),
                                                max_tasks_per_child=TASKS_PER_WORKER) as pool:
        queue = list(tasks.items())
        running = {}
        try:
            while queue or running:
                while queue and len(running) < workers:  # submit lazily: an interrupt leaves few in flight
                    key, args = queue.pop(0)
                    running[pool.submit(run_task, fn, key, args)] = key
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    key = running.pop(future)
                    try:
                        on_done(future.result())
                    except Exception as exc:  # the worker died (e.g. out of memory): record, keep going
                        on_done(_lost(key, tasks[key], exc))
        except BaseException:
            for future in running:
                future.cancel()
            raise


def _lost(key: str, args: dict, exc: BaseException) -> dict:
    return {"key": key, "args": args, "status": "error", "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(exc)), "seconds": None}


def _run_inline(fn, tasks: dict[str, dict], on_done: Callable[[dict], None]) -> None:
    for key, args in tasks.items():
        on_done(run_task(fn, key, args))


# --- dask --------------------------------------------------------------------------

def _set_worker_env(env: dict) -> None:
    os.environ.update(env)


@contextmanager
def dask_client(scheduler):
    """A distributed.Client for an address (closed afterwards) or the given Client (left open)."""
    from distributed import Client

    if isinstance(scheduler, Client):
        yield scheduler
        return
    client = Client(scheduler)
    try:
        yield client
    finally:
        client.close()


def _run_dask(fn, tasks: dict[str, dict], scheduler, on_done: Callable[[dict], None]) -> None:
    """Submit every task to the cluster (pure=False: reruns are real reruns); record in completion order."""
    from distributed import as_completed

    with dask_client(scheduler) as client:
        try:
            client.run(_set_worker_env, worker_environment())  # best effort: libraries may be loaded already
        except Exception:
            pass
        futures = {client.submit(run_task, fn, key, args, key=f"mats-eval-{key}-{time.time_ns()}", pure=False): key
                   for key, args in tasks.items()}
        try:
            for future in as_completed(futures):
                key = futures[future]
                try:
                    on_done(future.result())
                except Exception as exc:
                    on_done(_lost(key, tasks[key], exc))
        except BaseException:
            client.cancel(list(futures))
            raise


# --- the study -----------------------------------------------------------------------

def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not Linux
        return max(os.cpu_count() or 1, 1)


def run_study(fn: Callable[..., dict], tasks: Mapping[str, dict], folder: Path | str, *, workers: int | None = None,
              scheduler=None, progress: bool = True, retry_errors: bool = False,
              description: str = "study") -> list[dict]:
    """Run every task of `tasks` not yet recorded under `folder`; return all records in task order.

    fn: module-level function fn(**args) -> dict (JSON-able). tasks: key -> args.
    workers: local processes (default: cores; 0 = in this process). scheduler: Dask
    address or Client (then `workers` is ignored).
    """
    from tqdm.auto import tqdm

    folder = Path(folder)
    tasks = {_check_key(k): dict(v) for k, v in tasks.items()}
    todo = pending_tasks(folder, tasks, retry_errors)
    (folder / TASKS_DIR).mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=description, disable=not progress,
               unit="task", dynamic_ncols=True)

    def record(rec: dict) -> None:
        write_json_atomic(result_path(folder, rec["key"]), rec)
        bar.update(1)
        if rec.get("status") != "ok":
            bar.write(f"task {rec['key']} failed: {rec.get('error')}")

    try:
        if not todo:
            pass
        elif scheduler is not None:
            _run_dask(fn, todo, scheduler, record)
        else:
            n = default_workers() if workers is None else int(workers)
            if n <= 0:
                _run_inline(fn, todo, record)
            else:
                _run_local(fn, todo, min(n, len(todo)), record)
    finally:
        bar.close()
    return load_results(folder, keys=list(tasks))


def ok_results(records: list[dict]) -> list[dict]:
    """The `result` dicts of tasks that succeeded, each with its task key and args."""
    return [{"key": r["key"], **r["args"], **r["result"]} for r in records if r.get("status") == "ok"]
