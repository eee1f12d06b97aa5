"""The report's shared fixture: a tiny real joint fit, made once for tests/report (package scope),
its dataset deleted, then the report built from the run folder alone."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import mats_eval
from mats_eval.checks.crosscheck import crosscheck
from mats_eval.data.io import load
from mats_eval.report import build_report

EXAMPLE = Path(__file__).resolve().parents[2] / "analyses" / "plans" / "example.yaml"

WEEKS = 4
RARE_STREAM = "quantum_alignment"  # only 3 scholars: must be suppressed
RARE_SPEAKER = "Prof Rarely Attended"  # sessions recorded for only 3 scholars


def write_dataset(folder: Path) -> dict[str, list[str]]:
    """A small raw dataset (3 cohorts × 8 scholars, seminars and discussion groups); returns its raw ids."""
    rng = np.random.default_rng(1)
    folder.mkdir()
    policy = {"MATS 3.0": "mandatory", "MATS 4.0": "optional", "MATS 5.0": "optional"}
    per_week = {"MATS 3.0": 2, "MATS 4.0": 4, "MATS 5.0": 2}
    pd.DataFrame({"cohort": list(policy), "n_weeks": WEEKS, "session_scale_min": 1, "session_scale_max": 10}).to_csv(
        folder / "cohorts.csv", index=False
    )
    scholars, sessions, attendance, ratings = [], [], [], []
    speakers = ["Dr Alice Speaker", "Dr Bob Speaker", "Dr Carol Speaker"]
    for c, cohort in enumerate(policy):
        ids = [f"raw_scholar_{c}_{i}_zq" for i in range(8)]
        for i, sid in enumerate(ids):
            stream = RARE_STREAM if (c == 1 and i < 3) else "interpretability"
            scholars.append({"scholar_id": sid, "cohort": cohort, "archetype": "iterator", "stream": stream})
        for w in range(1, WEEKS + 1):
            week_sessions = [("seminar", policy[cohort], j) for j in range(per_week[cohort])]
            week_sessions.append(("discussion_group", "optional", per_week[cohort]))
            for kind, how, j in week_sessions:
                rare = c == 2 and w == 1 and j == 0
                sess = f"raw_session_{c}_{w}_{j}"
                speaker = RARE_SPEAKER if rare else speakers[j % 3]
                sessions.append({"session_id": sess, "cohort": cohort, "week": w, "kind": kind,
                                 "policy": how, "speaker": speaker, "hours": 1.0})
                for sid in ids[:3] if rare else ids:
                    p = 0.9 if how == "mandatory" else 0.8 - 0.1 * w
                    went = int(rng.random() < p)
                    attendance.append({"session_id": sess, "scholar_id": sid, "attended": went})
                    if went:
                        ratings.append({"session_id": sess, "scholar_id": sid, "rating": int(rng.integers(3, 10))})
    for name, rows in [("scholars", scholars), ("sessions", sessions), ("attendance", attendance), ("ratings", ratings)]:
        pd.DataFrame(rows).to_csv(folder / f"{name}.csv", index=False)
    return {"scholars": [s["scholar_id"] for s in scholars], "speakers": speakers + [RARE_SPEAKER]}


@pytest.fixture(scope="package")
def built(tmp_path_factory):
    """A tiny real joint fit (plans evaluated at fit time), its dataset deleted, then the report."""
    root = tmp_path_factory.mktemp("report")
    raw = write_dataset(root / "data")
    program = load(root / "data")
    pseudonyms = list(program.scholars["scholar_id"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 100 draws fail the gate, on purpose of speed
        # checks=False: no predictive checks or LOO (2/3 of the time); crosscheck.csv is tested below
        done = mats_eval.run(root / "data", root / "pipeline", plans=EXAMPLE, model="joint", draws=100, tune=100,
                             chains=2, seed=1, progress=False, checks=False)
    shutil.rmtree(root / "data")  # the report reads the run folder alone
    html_path = build_report(done.run_dir, root / "out")
    return SimpleNamespace(root=root, run=done.run_dir, out=root / "out", html=html_path.read_text(),
                           md=(root / "out" / "report.md").read_text(), result=done.fit,
                           pipeline_report=done.report_html, crosscheck=crosscheck(program),
                           forbidden=raw["scholars"] + raw["speakers"] + pseudonyms, weeks=WEEKS,
                           rare_stream=RARE_STREAM, plans=EXAMPLE)
