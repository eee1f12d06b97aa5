"""The report: built from a real run folder alone (a tiny joint fit shared by the module),
the verdict first, one value per estimand, privacy, and no PyMC in the report or decisions."""
from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import mats_eval
from mats_eval.checks.crosscheck import crosscheck
from mats_eval.data.io import load
from mats_eval.data.observed import SUPPRESSED
from mats_eval.decisions.plans import plans_from_run
from mats_eval.errors import UsageError
from mats_eval.estimands.registry import ESTIMANDS
from mats_eval.report import build_report
from mats_eval.runfolder import DECISION_DRAWS_FILE, OBSERVED_DIR, REFERENCE_FILE, load_run
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


@pytest.fixture(scope="module")
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
                           forbidden=raw["scholars"] + raw["speakers"] + pseudonyms)


def test_report_builds_self_contained_from_the_run_folder_alone(built):
    assert not (built.root / "data").exists()
    html = built.html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<link" not in html and "<script" not in html
    verdict = "Passed the diagnostics gate" if built.result.reliable else "FAILED the diagnostics gate"
    assert verdict in html and html.index("Diagnostics verdict") < html.index("Headline findings")
    for section in ("Attendance over the programme", "Ratings by policy and kind", "Returns to volume",
                    "Plans for the next cohort", "Groups (archetype, stream, speaker)"):
        assert section in html and "Skipped" not in html.split(section, 1)[1].split("<h2>", 1)[0]
    assert "grey band" in html and "P(best)" in html and "anchor" in html
    for name in re.findall(r"\(figures/([^)]+)\)", built.md):
        assert (built.out / "figures" / name).exists()
    assert not list(built.root.glob(".out.tmp-*"))
    # the pipeline's report, built while the dataset still existed, is the same report
    assert built.pipeline_report.with_suffix(".md").read_text() == built.md


def test_report_does_not_open_the_posterior(built, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(built.run, run)
    (run / "posterior.nc").unlink()
    html = build_report(run, tmp_path / "out").read_text()
    assert "Returns to volume" in html and "Highest expected utility" in html


def test_every_estimand_has_one_value_and_one_interval(built):
    """Each effects.csv row is told by its registry sentence, with the numbers of effects.csv;
    the volume section gives V* as that same row."""
    effects = pd.read_csv(built.run / "effects.csv", keep_default_na=False)
    assert "optimal_sessions_per_week" in set(effects["estimand"])
    for _, row in effects.iterrows():
        sentence = ESTIMANDS[row["estimand"]].sentence(row)
        assert sentence in built.md and html_lib.escape(sentence) in built.html
    optimum = effects.set_index("estimand").loc["optimal_sessions_per_week"]
    assert optimum["interval"] == "90% equal-tailed"
    words = f"{optimum['hdi_low']:.1f} to {optimum['hdi_high']:.1f}"
    volume = built.md.split("## Returns to volume", 1)[1].split("\n## ", 1)[0]
    assert f"{optimum['mean']:.1f} sessions a week" in volume and words in volume
    # V* is mentioned nowhere with other numbers (the report no longer recomputes it)
    assert len(re.findall(r"peaks at about", built.md)) == 2  # headline and volume section, one sentence


def test_caveats_are_said_once(built):
    effects = pd.read_csv(built.run / "effects.csv", keep_default_na=False)
    for note in {n for n in effects["note"] if n}:
        assert built.md.count(note) == 1
    assert built.md.count("self-selected") == 1


def test_volume_curve_and_optimum_are_one_computation(built):
    """P(V > V*) in volume_curve.csv is exactly the share of the optimum's draws below V."""
    curve = pd.read_csv(built.run / "volume_curve.csv")
    optimum = built.result.estimand_draws["optimal_sessions_per_week"]
    expected = (curve["volume"].to_numpy()[None, :] > optimum[:, None]).mean(axis=0)
    np.testing.assert_allclose(curve["prob_above_optimum"], expected)


def test_attendance_curve_ends_are_the_effects_rows(built):
    curve = pd.read_csv(built.run / "attendance_curve.csv").set_index("week")
    effects = pd.read_csv(built.run / "effects.csv").set_index("estimand")
    for week, name in ((1, "attendance_first_week"), (WEEKS, "attendance_last_week")):
        np.testing.assert_allclose(curve.loc[week, ["mean", "hdi_low", "hdi_high"]].to_numpy(float),
                                   effects.loc[name, ["mean", "hdi_low", "hdi_high"]].to_numpy(float))
        assert curve.loc[week, "interval"] == effects.loc[name, "interval"]


def test_run_folder_round_trip_of_the_report_inputs(built):
    back = load_run(built.run, posterior=False)
    assert back.idata is None and back.reference == built.result.reference
    assert json.loads((built.run / REFERENCE_FILE).read_text())["kind"] == back.reference.kind
    assert set(back.decision_draws) == {"seminar", "discussion_group"}
    for kind, p in built.result.decision_draws.items():
        for name, draws in p.items():
            np.testing.assert_array_equal(back.decision_draws[kind][name], draws)
    assert len(back.decision_draws["seminar"]["attendance_intercept"]) == 200  # 2 chains × 100 draws
    assert set(back.observed) == set(built.result.observed)


def test_decisions_evaluate_plans_from_the_run_folder(built):
    stored = plans_from_run(built.run)
    fresh = plans_from_run(built.run, EXAMPLE)
    assert stored.table["plan"].tolist() == fresh.table["plan"].tolist()
    pd.testing.assert_frame_equal(stored.table, fresh.table, check_dtype=False)
    assert stored.settings == fresh.settings and fresh.utility.shape == (200, 5)


def test_report_with_another_plans_file(built, tmp_path):
    plans = tmp_path / "plans.yaml"
    plans.write_text("plans:\n  - name: two seminars\n    weeks: 4\n    sessions: {seminar: 2}\n"
                     "  - name: no programme but a social\n    weeks: 4\n    sessions: {social: 1}\n")
    html = build_report(built.run, tmp_path / "out", plans_path=plans).read_text()
    assert "Skipped: the plans could not be evaluated" in html and "social" in html
    plans.write_text("plans:\n  - name: two seminars\n    weeks: 4\n    sessions: {seminar: 2}\n")
    html = build_report(built.run, tmp_path / "out2", plans_path=plans).read_text()
    assert "Highest expected utility: two seminars" in html


def test_small_groups_are_suppressed(built):
    assert SUPPRESSED in built.html
    streams = pd.read_csv(built.run / OBSERVED_DIR / "groups_stream.csv").set_index("stream")
    assert streams.loc[RARE_STREAM, "note"] == SUPPRESSED and np.isnan(streams.loc[RARE_STREAM, "scholars"])
    assert np.isnan(streams.loc[RARE_STREAM, "optional_attendance"])
    assert pd.isna(streams.loc["interpretability", "note"])
    speakers = pd.read_csv(built.run / OBSERVED_DIR / "groups_speaker.csv")
    assert len(speakers) == 4 and (speakers["note"] == SUPPRESSED).sum() == 1


def test_no_raw_or_pseudonymised_ids_in_the_report_or_its_inputs(built):
    files = [p for p in built.out.rglob("*") if p.is_file()]
    files += [p for p in (built.run / OBSERVED_DIR).rglob("*") if p.is_file()]
    files += [built.run / f for f in ("effects.csv", "volume_curve.csv", "attendance_curve.csv", "plans.csv",
                                      "plans_by_week.csv", REFERENCE_FILE, DECISION_DRAWS_FILE)]
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="ignore")
        leaked = [x for x in built.forbidden if x in text]
        assert not leaked, f"{path.name} contains {leaked[:3]}"


def test_failed_and_passed_gate(built, tmp_path):
    for passed in (False, True):
        run = tmp_path / f"run_{passed}"
        shutil.copytree(built.run, run)
        diagnostics = json.loads((run / "diagnostics.json").read_text())
        diagnostics.update(passed=passed, failures=[] if passed else ["R-hat 1.200 > 1.01 (u[sch_0123456789ab])"])
        (run / "diagnostics.json").write_text(json.dumps(diagnostics))
        html = build_report(run, tmp_path / f"out_{passed}").read_text()
        if passed:
            assert 'class="callout pass"' in html and "R-hat ≤ 1.01, bulk and tail ESS ≥ 400" in html
        else:
            assert 'class="callout fail"' in html and html.index("FAILED") < html.index("Headline findings")
            assert "sch_0123456789ab" not in html and "⛔" in (tmp_path / "out_False" / "report.md").read_text()


def test_crosscheck_section_from_the_run_folders_table(built, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(built.run, run)
    built.crosscheck.to_csv(run / "crosscheck.csv", index=False)  # as write_run writes it
    md = (build_report(run, tmp_path / "out").parent / "report.md").read_text()
    assert "## Naive comparison versus the model" in md and "naive_raw_means estimate" in md


def test_missing_optional_parts_degrade_to_a_note(built, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(built.run, run)
    for name in ("volume_curve.csv", "attendance_curve.csv", "plans.csv", "plans_by_week.csv", DECISION_DRAWS_FILE):
        (run / name).unlink()
    shutil.rmtree(run / OBSERVED_DIR)
    html = build_report(run, tmp_path / "out").read_text()
    assert "Skipped: the model has no attendance and rating parts" in html
    assert "Skipped: the dataset has no session ratings" in html
    assert "Plans for the next cohort" not in html
    (run / "effects.csv").unlink()
    with pytest.raises(UsageError, match="effects.csv"):
        build_report(run, tmp_path / "out2")


def test_existing_output_is_not_overwritten_without_force(built):
    with pytest.raises(UsageError):
        build_report(built.run, built.out)


def test_report_and_decisions_do_not_import_pymc():
    code = "import sys, mats_eval.report.build, mats_eval.decisions.plans; print('pymc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
