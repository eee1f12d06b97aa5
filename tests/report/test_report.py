"""The report: builds from a fabricated run folder, shows the verdict, protects privacy (no fits)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mats_eval import runfolder as runs
from mats_eval.errors import UsageError
from mats_eval.data.io import load
from mats_eval.report import build_report
from mats_eval.report.build import SUPPRESSED, suppress_small_groups
from test_decisions import EXAMPLE, synthetic_params

WEEKS = 4
RARE_STREAM = "quantum_alignment"  # only 3 scholars: must be suppressed
RARE_SPEAKER = "Prof Rarely Attended"  # sessions recorded for only 3 scholars


def write_dataset(folder: Path) -> dict[str, list[str]]:
    """A small raw dataset (3 cohorts × 8 scholars); returns its raw ids."""
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
            for j in range(per_week[cohort]):
                rare = c == 2 and w == 1 and j == 0
                sess = f"raw_session_{c}_{w}_{j}"
                speaker = RARE_SPEAKER if rare else speakers[j % 3]
                sessions.append({"session_id": sess, "cohort": cohort, "week": w, "kind": "seminar",
                                 "policy": policy[cohort], "speaker": speaker, "hours": 1.0})
                for sid in ids[:3] if rare else ids:
                    p = 0.9 if policy[cohort] == "mandatory" else 0.8 - 0.1 * w
                    went = int(rng.random() < p)
                    attendance.append({"session_id": sess, "scholar_id": sid, "attended": went})
                    if went:
                        ratings.append({"session_id": sess, "scholar_id": sid, "rating": int(rng.integers(3, 10))})
    for name, rows in [("scholars", scholars), ("sessions", sessions), ("attendance", attendance), ("ratings", ratings)]:
        pd.DataFrame(rows).to_csv(folder / f"{name}.csv", index=False)
    return {"scholars": [s["scholar_id"] for s in scholars], "speakers": speakers + [RARE_SPEAKER]}


EFFECTS = pd.DataFrame(
    [
        ("mandatory_minus_optional_rating", "rating points", -0.6, 0.2, -0.9, -0.3, 0.01, "policy changes only between cohorts"),
        ("attendance_week_slope", "log-odds per week", -0.15, 0.04, -0.22, -0.08, 0.0, ""),
        ("attendance_first_week", "probability", 0.72, 0.03, 0.67, 0.77, 1.0, ""),
        ("attendance_last_week", "probability", 0.41, 0.04, 0.35, 0.48, 1.0, ""),
        ("optimal_sessions_per_week", "sessions", 3.2, 0.8, 2.0, 4.5, 1.0, ""),
    ],
    columns=["estimand", "scale", "mean", "sd", "hdi_low", "hdi_high", "prob_positive", "note"],
)


def write_run(folder: Path, dataset: Path, passed: bool = True) -> Path:
    folder.mkdir()
    manifest = {"model": "joint", "seed": 1, "sampler": "nutpie", "dataset": str(dataset), "reliable": passed}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    diagnostics = {"passed": passed, "max_r_hat": 1.002 if passed else 1.08, "divergences": 0 if passed else 12,
                   "confounded": ["policy and cohort for seminars"]}
    (folder / "diagnostics.json").write_text(json.dumps(diagnostics))
    EFFECTS.to_csv(folder / "effects.csv", index=False)
    pd.DataFrame({"estimand": ["mandatory_minus_optional_rating"] * 2, "method": ["naive", "model"],
                  "estimate": [-1.1, -0.6], "se": [0.2, 0.2]}).to_csv(folder / "crosscheck.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    raw = write_dataset(root / "data")
    run = write_run(root / "run", root / "data")
    html_path = build_report(run, root / "out", plans_path=EXAMPLE,
                             params_by_kind={"seminar": synthetic_params(), "discussion_group": synthetic_params(seed=1)})
    return root, raw, html_path


def test_report_builds_self_contained_with_verdict(built):
    root, _, html_path = built
    out = root / "out"
    assert html_path == out / "report.html" and (out / "report.md").exists()
    html = html_path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<link" not in html and "<script" not in html
    assert "Passed the diagnostics gate" in html
    assert html.index("Diagnostics verdict") < html.index("Headline findings")
    assert "Mandatory sessions are rated 0.6 points lower than optional ones" in html
    assert "policy changes only between cohorts" in html  # effects note and data-driven caveat
    assert "P(best)" in html and "anchor" in html  # plans table
    md = (out / "report.md").read_text()
    for name in re.findall(r"\(figures/([^)]+)\)", md):
        assert (out / "figures" / name).exists()
    assert not list(root.glob(".out.tmp-*"))


def markdown_table(md: str, caption: str) -> pd.DataFrame:
    """The Markdown table printed under `*caption*` in report.md."""
    lines = md.split(f"*{caption}*\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]
    return pd.DataFrame(cells[2:], columns=cells[0])


def test_small_groups_are_suppressed(built):
    root, _, html_path = built
    assert SUPPRESSED in html_path.read_text()
    md = (root / "out" / "report.md").read_text()
    streams = markdown_table(md, "By stream").set_index("stream")
    assert streams.loc[RARE_STREAM, "note"] == SUPPRESSED and streams.loc[RARE_STREAM, "scholars"] == "<5"
    assert streams.loc[RARE_STREAM, "optional_attendance"] == ""
    assert streams.loc["interpretability", "note"] == ""
    speakers = markdown_table(md, "By speaker")
    assert len(speakers) == 4 and (speakers["note"] == SUPPRESSED).sum() == 1


def test_no_raw_or_pseudonymised_ids_in_any_written_file(built):
    root, raw, _ = built
    data = load(root / "data")
    forbidden = raw["scholars"] + raw["speakers"] + list(data.scholars["scholar_id"])
    for path in (root / "out").rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="ignore")
            leaked = [x for x in forbidden if x in text]
            assert not leaked, f"{path.name} contains {leaked[:3]}"


def test_failed_gate_shows_red_warning_and_missing_parts_degrade(tmp_path):
    run = write_run(tmp_path / "run", tmp_path / "no-such-dataset", passed=False)
    (run / "effects.csv").unlink()
    html = build_report(run, tmp_path / "out").read_text()
    assert 'class="callout fail"' in html and "FAILED the diagnostics gate" in html
    assert html.index("FAILED") < html.index("Headline findings")
    assert "Skipped: the run folder has no effects.csv" in html
    assert "Skipped: the dataset is not available" in html
    assert "⛔" in (tmp_path / "out" / "report.md").read_text()


def test_existing_output_is_not_overwritten_without_force(built, tmp_path):
    root, _, _ = built
    with pytest.raises(UsageError):
        build_report(root / "run", root / "out")


def test_suppress_small_groups_blanks_values():
    frame = pd.DataFrame({"stream": ["a", "b"], "scholars": [7, 2], "optional_attendance": [0.5, 0.9]})
    out = suppress_small_groups(frame)
    assert out.loc[1, "optional_attendance"] == "" and out.loc[1, "note"] == SUPPRESSED
    assert out.loc[0, "optional_attendance"] == 0.5 and out.loc[0, "note"] == ""


def write_posterior(path: Path, kinds=("seminar",), draws: int = 100) -> None:
    """A hand-made posterior.nc with the canonical variable names (2 chains)."""
    import xarray as xr

    p = synthetic_params(2 * draws)
    dims = ("chain", "draw")
    shape = (2, draws)
    data = {k: (dims, v.reshape(shape)) for k, v in p.items() if v.ndim == 1 and not k.endswith("_ref")}
    data["attendance_kind"] = (dims + ("kind",), np.repeat(p["attendance_kind_ref"].reshape(shape)[..., None], len(kinds), -1))
    data["rating_kind"] = (dims + ("kind",), np.repeat(p["rating_kind_ref"].reshape(shape)[..., None], len(kinds), -1))
    data["rating_cutpoints_1_10"] = (dims + ("cutpoint",), p["rating_cutpoints_ref"].reshape(shape + (9,)))
    posterior = xr.Dataset(data, coords={"kind": list(kinds)})
    runs.write_posterior(xr.DataTree.from_dict({"posterior": posterior}), path)


def test_model_sections_come_from_posterior_nc_with_fit_style_manifest(tmp_path):
    write_dataset(tmp_path / "data")
    run = write_run(tmp_path / "run", tmp_path / "data", passed=False)
    manifest = {"model": {"name": "joint"}, "seed": 3, "sampler": "nutpie", "reliable": False,
                "input": {"source": str(tmp_path / "data")}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    (run / "diagnostics.json").write_text(json.dumps(
        {"passed": False, "failures": ["R-hat 1.200 > 1.01 (u[sch_0123456789ab])"], "rhat_max": 1.2,
         "advice": "try more draws"}))
    write_posterior(run / "posterior.nc", kinds=("seminar", "discussion_group"))
    (run / "checks").mkdir()
    (run / "checks" / "ppc_attendance.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    html = build_report(run, tmp_path / "out", plans_path=EXAMPLE).read_text()
    assert "FAILED the diagnostics gate" in html and "sch_0123456789ab" not in html
    assert "joint model" in html and "Returns to volume" in html and "V* ≈" in html
    assert "model, new cohort" in html or "grey band" in html
    # plans use discussion groups: absent from the data, but in the posterior
    assert "Highest expected utility" in html and "anchor" in html
    assert "Predictive checks" in html and (tmp_path / "out" / "figures" / "check_ppc_attendance.png").exists()
