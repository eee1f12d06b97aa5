"""studies.run_study: resumable, failures recorded, local processes and Dask."""
from __future__ import annotations

import json
import os
import sys

import pytest

from mats_eval.studies.runner import load_results, result_path, run_study, task_seed


def square(x: int, fail: bool = False) -> dict:
    """A cheap task: x², raising for fail=True."""
    if fail:
        raise ValueError(f"task {x} was told to fail")
    from mats_eval.studies import runner as studies

    return {"square": x * x, "pid": os.getpid(), "threads": os.environ.get("OMP_NUM_THREADS"), "slot": studies._SLOT}


TASKS = {f"t{i}": {"x": i} for i in range(4)}


def test_rerun_only_runs_missing_tasks(tmp_path):
    first = run_study(square, TASKS, tmp_path, workers=0, progress=False)
    assert [r["result"]["square"] for r in first] == [0, 1, 4, 9]
    mtimes = {k: result_path(tmp_path, k).stat().st_mtime_ns for k in TASKS}
    result_path(tmp_path, "t2").unlink()
    again = run_study(square, TASKS, tmp_path, workers=0, progress=False)
    assert [r["key"] for r in again] == list(TASKS)
    for key in ("t0", "t1", "t3"):  # untouched
        assert result_path(tmp_path, key).stat().st_mtime_ns == mtimes[key]
    assert result_path(tmp_path, "t2").is_file()
    assert not list((tmp_path / "tasks").glob(".*tmp"))  # no temporary files left behind


def test_a_failing_task_is_recorded_and_others_complete(tmp_path):
    tasks = {**TASKS, "t1": {"x": 1, "fail": True}}
    records = run_study(square, tasks, tmp_path, workers=2, progress=False)
    status = {r["key"]: r["status"] for r in records}
    assert status == {"t0": "ok", "t1": "error", "t2": "ok", "t3": "ok"}
    failed = json.loads(result_path(tmp_path, "t1").read_text())
    assert "told to fail" in failed["error"] and "Traceback" in failed["traceback"]
    ok = [r for r in records if r["status"] == "ok"]
    assert all(r["result"]["threads"] == "1" for r in ok)  # single-threaded BLAS in workers
    assert all(r["pid"] != os.getpid() for r in ok)
    # errors are not retried by default, but are with retry_errors
    fixed = {**TASKS}
    assert run_study(square, fixed, tmp_path, workers=0, progress=False)[1]["status"] == "error"
    assert run_study(square, fixed, tmp_path, workers=0, progress=False, retry_errors=True)[1]["status"] == "ok"


def test_workers_are_replaced_and_reuse_their_slots(tmp_path, monkeypatch):
    from mats_eval.studies import runner as studies

    monkeypatch.setattr(studies, "TASKS_PER_WORKER", 1)
    records = run_study(square, {f"t{i}": {"x": i} for i in range(6)}, tmp_path, workers=2, progress=False)
    assert [r["result"]["square"] for r in records] == [0, 1, 4, 9, 16, 25]
    assert len({r["result"]["pid"] for r in records}) == 6  # a fresh process per task
    assert {r["result"]["slot"] for r in records} <= {0, 1}  # compile directories worker-0/1 only


def test_task_seed_is_stable_and_distinct():
    assert task_seed(0, "a") == task_seed(0, "a")
    assert len({task_seed(0, k) for k in "abcdef"} | {task_seed(1, "a")}) == 7


def test_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            records = run_study(square, TASKS, tmp_path, scheduler=client, progress=False)
            assert [r["result"]["square"] for r in records] == [0, 1, 4, 9]
            result_path(tmp_path, "t3").unlink()
            records = run_study(square, TASKS, tmp_path, scheduler=cluster.scheduler_address, progress=False)
    assert len(load_results(tmp_path)) == 4


def sleep_forever(pid_file: str) -> dict:
    """A task that announces its worker's pid, then outlives any test."""
    import time
    from pathlib import Path

    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(600)
    return {}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_killing_the_coordinator_stops_its_workers(tmp_path):
    """`kill` of a study's process (SIGKILL here: no handler can run) must not leave its fits running."""
    import signal
    import subprocess
    import time

    pid_file = tmp_path / "worker.pid"
    script = (f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
              "from test_studies import sleep_forever\n"
              "from mats_eval.studies.runner import run_study\n"
              f"run_study(sleep_forever, {{'t': {{'pid_file': {str(pid_file)!r}}}}}, {str(tmp_path / 'study')!r}, "
              "workers=1, progress=False)\n")
    coordinator = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 120
        while not pid_file.is_file() or not pid_file.read_text():
            assert coordinator.poll() is None, "the study ended before its task started"
            assert time.monotonic() < deadline, "the worker never started"
            time.sleep(0.2)
        worker = int(pid_file.read_text())
        coordinator.send_signal(signal.SIGKILL)
        coordinator.wait()
        deadline = time.monotonic() + 30
        while _running(worker):
            assert time.monotonic() < deadline, f"worker {worker} outlived its killed coordinator"
            time.sleep(0.2)
    finally:
        coordinator.kill()
    assert not list((tmp_path / "study" / "tasks").glob("*.json"))  # nothing recorded for the killed task


def _running(pid: int) -> bool:
    """Alive and not a zombie (a dead worker whose parent is gone is reaped by init, but not at once)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
