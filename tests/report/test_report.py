"""The report: built from a real run folder alone (the tiny joint fit of conftest.py), decision first,
one value per estimand, caveats once, privacy, and no PyMC in the report or decisions."""
from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from mats_eval.checks.sensitivity import DIAGNOSES
from mats_eval.data.observed import SUPPRESSED
from mats_eval.decisions.plans import plans_from_run
from mats_eval.errors import UsageError
from mats_eval.estimands.registry import ESTIMANDS
from mats_eval.report import build_report
from mats_eval.runfolder import DECISION_DRAWS_FILE, OBSERVED_DIR, REFERENCE_FILE, load_run

QUESTIONS = ("Mandatory or optional sessions?", "Does attendance fall over the programme?",
             "How many sessions a week?", "How much do cohorts differ?")


def section_of(md: str, title: str) -> str:
    """The Markdown under a heading (appendix letters ignored), up to the next heading of the same or a
    higher level."""
    level, rest = re.search(rf"^(#+) (?:[A-Z]\. )?{re.escape(title)}\n(.*)", md, re.S | re.M).groups()
    return re.split(rf"^#{{1,{len(level)}}} ", rest, maxsplit=1, flags=re.M)[0]


def copy_run(built, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(built.run, run)
    return run


def test_report_builds_self_contained_from_the_run_folder_alone(built):
    assert not (built.root / "data").exists()
    html = built.html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<link" not in html and "<script" not in html
    for title in QUESTIONS + ("The plans compared", "Appendix", "Glossary"):
        assert title in html
    assert "grey band" in html.lower() and "P(best)" in html and "anchor" in html
    for name in re.findall(r"\(figures/([^)]+)\)", built.md):
        assert (built.out / "figures" / name).exists()
    assert not list(built.root.glob(".out.tmp-*"))
    # the pipeline's report, built while the dataset still existed, is the same report
    assert built.pipeline_report.with_suffix(".md").read_text() == built.md


def test_the_first_screen_says_what_to_do_and_how_sure(built):
    """Decision first: the recommendation (plans.csv's best plan, P(best), expected loss, what would
    change it), then the gate in one line, then the data's provenance; no raw diagnostics dump."""
    first = section_of(built.md, "What to do next cohort")
    assert built.md.index("## What to do next cohort") < built.md.index("## " + QUESTIONS[0])
    plans = pd.read_csv(built.run / "plans.csv")
    best = plans.sort_values("expected_loss").iloc[0]
    recommendation = json.loads((built.run / "recommendation.json").read_text())
    assert f"“{best['plan']}”" in first and recommendation["sentence"] in first
    assert f"{best['expected_loss']:.2f} research hours per scholar" in first
    assert "What would change the answer: " + recommendation["what_would_change"] in first
    verdict = "Passed the diagnostics gate" if built.result.reliable else "FAILED the diagnostics gate"
    assert verdict in first and "hb_sim" not in first
    assert "the dataset folder “data”" in first  # provenance: the folder's name, never its path
    for raw in ("confounded", "bfmi_min", "False", "True"):
        assert raw not in first


def test_practically_tied_plans_are_not_ranked(built, tmp_path):
    run = copy_run(built, tmp_path)
    plans = pd.read_csv(run / "plans.csv")
    plans["tied_with_best"] = [True, True] + [False] * (len(plans) - 2)
    plans.to_csv(run / "plans.csv", index=False)
    (run / "recommendation.json").unlink()
    (run / "plan_sensitivity.csv").unlink()
    md = (build_report(run, tmp_path / "out").parent / "report.md").read_text()
    first = section_of(md, "What to do next cohort")
    assert "practically tied" in first and f"“{plans['plan'][1]}”" in first
    assert "the run folder has no plan_sensitivity.csv" in first
    assert "tied with the best" in section_of(md, "The plans compared")


def test_plan_definitions_and_sensitivity_when_the_run_folder_has_them(built, tmp_path):
    run = copy_run(built, tmp_path)
    plans = pd.read_csv(run / "plans.csv")
    written = build_report(run, tmp_path / "as-written").parent / "report.md"
    assert f"is {plans['definition'].iloc[0]}" in written.read_text()  # plans.csv's own words (Plan.describe)
    plans = plans.drop(columns="definition")  # the column form, as other writers may give it
    plans["sessions_per_week_seminar"] = 2.0
    plans["policy_seminar"] = "optional"
    plans["schedule"] = "front-loaded"
    plans.to_csv(run / "plans.csv", index=False)
    md = (build_report(run, tmp_path / "out").parent / "report.md").read_text()
    assert "is 2 optional seminars a week, more in the first weeks, fewer later" in md
    grid = section_of(md, "The plans in full")
    assert "The best plan under other utility settings" in grid and "worth 0.5" in grid


def test_synthetic_data_are_called_synthetic(built, tmp_path):
    run = copy_run(built, tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["input"]["synthetic"] = {"scenario": "mats-history", "seed": 1, "scale": 0.3}
    (run / "manifest.json").write_text(json.dumps(manifest))
    md = (build_report(run, tmp_path / "out").parent / "report.md").read_text()
    assert "Synthetic data: simulated by mats-eval (scenario “mats-history”, seed 1, scale 0.3)" in \
        section_of(md, "What to do next cohort")


def test_prior_dominated_estimands_are_named_in_the_main_text(built, tmp_path):
    """Every estimand the prior moves beyond chance is named: 'prior dominates' and 'prior-data conflict'
    alike (which of the two turns on the likelihood's noisy sensitivity; checks/sensitivity.py)."""
    run = copy_run(built, tmp_path)
    pd.DataFrame({"estimand": ["mandatory_minus_optional_rating", "attendance_week_slope", "cohort_sd_rating",
                               "volume_slope_rating"],
                  "prior_sensitivity": [0.2, 0.01, 0.35, 0.3], "likelihood_sensitivity": [0.01, 0.2, 0.37, 0.2],
                  "diagnosis": [DIAGNOSES["prior"], DIAGNOSES["ok"], DIAGNOSES["conflict"],
                                "unreliable (Pareto k 0.90 > 0.7: refit with the scaled prior to be sure)"],
                  "prior_dominated": [True, False, False, False]}).to_csv(run / "sensitivity.csv", index=False)
    md = (build_report(run, tmp_path / "out").parent / "report.md").read_text()
    first = section_of(md, "What to do next cohort")
    assert ("The prior noticeably moves these estimates: mandatory minus optional rating, cohort sd rating "
            "(appendix") in first
    assert "With 3 cohorts, how much a new cohort can differ from them is set mostly by the prior" in first
    assert "The prior noticeably moves mandatory minus optional rating" in section_of(md, QUESTIONS[0])
    assert "Power-scaling sensitivity" in section_of(md, "Sensitivity to the priors")


def test_estimands_the_prior_moves_only_near_the_threshold_are_named_as_such(built, tmp_path):
    """A sensitivity that chance alone could nearly reach is reported apart, in words a lead reads
    as 'do not lean on this flag': another run of the sampler may read it either way."""
    run = copy_run(built, tmp_path)
    pd.DataFrame({"estimand": ["cohort_sd_rating", "volume_slope_rating", "mandatory_minus_optional_rating"],
                  "prior_sensitivity": [0.35, 0.057, 0.02], "prior_noise": [0.066, 0.036, 0.04],
                  "likelihood_sensitivity": [0.15, 0.14, 0.1],
                  "diagnosis": [DIAGNOSES["prior"], DIAGNOSES["prior"], DIAGNOSES["ok"]],
                  "prior_dominated": [True, True, False]}).to_csv(run / "sensitivity.csv", index=False)
    md = (build_report(run, tmp_path / "out").parent / "report.md").read_text()
    first = " ".join(section_of(md, "What to do next cohort").split())
    assert ("The prior noticeably moves these estimates: cohort sd rating (appendix, “Sensitivity to the priors”). "
            "It also moves these, by little more than chance, so another run of the sampler may read them either "
            "way: volume slope rating.") in first
    assert "mandatory minus optional rating" not in first.split("The prior noticeably")[1]


def test_figures_have_alt_text_that_states_the_finding(built):
    alts = re.findall(r'<img alt="([^"]*)"', built.html)
    assert len(alts) >= 5 and all(len(a) > 20 and not a.startswith(("check_", "figures/")) for a in alts)
    curve = pd.read_csv(built.run / "attendance_curve.csv")
    first, last = curve.iloc[0], curve.iloc[-1]
    assert (f"expected to attend {first['mean']:.0%} of optional seminars in week 1 and {last['mean']:.0%} in "
            f"week {built.weeks}") in html_lib.unescape(built.html)


def test_report_does_not_open_the_posterior(built, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(built.run, run)
    (run / "posterior.nc").unlink()
    html = build_report(run, tmp_path / "out").read_text()
    assert "How many sessions a week?" in html and "ext cohort: " in html


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
    volume = section_of(built.md, "How many sessions a week?")
    assert ESTIMANDS["optimal_sessions_per_week"].sentence(optimum) in volume and words in volume
    # each registry sentence is said once, in its question's section (the report never recomputes V*)
    assert built.md.count(ESTIMANDS["optimal_sessions_per_week"].sentence(optimum)) == 1


def test_caveats_are_said_once(built):
    effects = pd.read_csv(built.run / "effects.csv", keep_default_na=False)
    present = set(effects["estimand"])
    twin = effects["estimand"].map(lambda e: ESTIMANDS[e].twin_of in present)
    assert twin.any()  # the averaged contrasts sit beside their reference-point versions
    clauses = {c for n in effects.loc[~twin, "note"] if n for c in n.split("; ")}  # notes share clauses
    for clause in clauses:
        assert built.md.lower().count(clause.lower()) == 1, clause  # once, in its question's caveats
    # an averaged twin's caveats are its reference-point row's up to rounding: not said a second time
    for clause in {c for n in effects.loc[twin, "note"] if n for c in n.split("; ")} - clauses:
        assert clause.lower() not in built.md.lower(), clause
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
    for week, name in ((1, "attendance_first_week"), (built.weeks, "attendance_last_week")):
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
    fresh = plans_from_run(built.run, built.plans)
    assert stored.table["plan"].tolist() == fresh.table["plan"].tolist()
    pd.testing.assert_frame_equal(stored.table, fresh.table, check_dtype=False)
    assert stored.settings == fresh.settings and fresh.utility.shape == (200, 5)


def test_report_with_another_plans_file(built, tmp_path):
    plans = tmp_path / "plans.yaml"
    plans.write_text("plans:\n  - name: two seminars\n    weeks: 4\n    sessions: {seminar: 2}\n"
                     "  - name: no programme but a social\n    weeks: 4\n    sessions: {social: 1}\n")
    html = build_report(built.run, tmp_path / "out", plans_path=plans).read_text()
    assert "could not be evaluated" in html and "social" in html and "No recommendation" in html
    plans.write_text("plans:\n  - name: two seminars\n    weeks: 4\n    sessions: {seminar: 2}\n")
    html = build_report(built.run, tmp_path / "out2", plans_path=plans).read_text()
    assert re.search("[Nn]ext cohort: two seminars", html)


def test_small_groups_are_suppressed(built):
    assert SUPPRESSED in built.html
    streams = pd.read_csv(built.run / OBSERVED_DIR / "groups_stream.csv").set_index("stream")
    rare = built.rare_stream
    assert streams.loc[rare, "note"] == SUPPRESSED and np.isnan(streams.loc[rare, "scholars"])
    assert np.isnan(streams.loc[rare, "optional_attendance"])
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
            assert 'class="callout fail"' in html and html.index("FAILED") < html.index(QUESTIONS[0])
            assert "Do not act on this yet" in html
            assert "sch_0123456789ab" not in html and "⛔" in (tmp_path / "out_False" / "report.md").read_text()


def test_a_fit_sampled_twice_says_so_without_ids(built, tmp_path):
    run = copy_run(built, tmp_path)
    diagnostics = json.loads((run / "diagnostics.json").read_text())
    diagnostics["extended"] = {"draws_before": 3000, "draws": 6000,
                               "failures_before": ["bulk ESS 366 < 400 (u[sch_0123456789ab])"]}
    (run / "diagnostics.json").write_text(json.dumps(diagnostics))
    md = (build_report(run, tmp_path / "out").parent / "report.md").read_text()
    text = section_of(md, "Sampler diagnostics")
    assert "first run of 3000 draws per chain missed the gate narrowly" in text
    assert "sampled again with 6000 draws per chain" in text and "sch_0123456789ab" not in md


def test_crosscheck_section_from_the_run_folders_table(built, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(built.run, run)
    built.crosscheck.to_csv(run / "crosscheck.csv", index=False)  # as write_run writes it
    md = (build_report(run, tmp_path / "out").parent / "report.md").read_text()
    section = section_of(md, "Naive and frequentist estimates versus the model")
    assert "| naive raw means |" in section and "model estimate" in section


def test_missing_optional_parts_degrade_to_a_note(built, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(built.run, run)
    for name in ("volume_curve.csv", "attendance_curve.csv", "plans.csv", "plans_by_week.csv", DECISION_DRAWS_FILE,
                 "recommendation.json", "plan_sensitivity.csv"):
        (run / name).unlink()
    shutil.rmtree(run / OBSERVED_DIR)
    html = build_report(run, tmp_path / "out").read_text()
    assert "No volume curve: the run folder has no volume_curve.csv" in html
    assert "No observed ratings to show" in html
    assert "The plans compared" not in html and "No recommendation" in html
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


def test_the_gap_is_split_into_the_policy_and_the_sessions_sat_through(built, tmp_path):
    """With the relevance model's rows in effects.csv, the policy section splits the gap and advises."""
    run = copy_run(built, tmp_path)
    effects = pd.read_csv(run / "effects.csv")
    extra = pd.DataFrame({"estimand": ["mandatory_minus_optional_rating_at_equal_relevance",
                                       "relevance_part_of_rating_gap"],
                          "scale": "rating points", "mean": [-0.05, -0.31], "sd": [0.12, 0.05],
                          "hdi_low": [-0.25, -0.39], "hdi_high": [0.15, -0.23], "prob_positive": [0.34, 0.0],
                          "interval": "90% HDI", "note": ""})
    pd.concat([effects, extra]).to_csv(run / "effects.csv", index=False)
    policy = section_of((build_report(run, tmp_path / "out").parent / "report.md").read_text(), QUESTIONS[0])
    assert "mandatory–optional gap is about -0.36 points, in two parts" in policy
    assert "The policy itself: -0.05 points (90% HDI -0.25 to +0.15)" in policy
    assert "Which sessions people sit through: -0.31 points (90% HDI -0.39 to -0.23)" in policy
    assert "mandatory core of sessions relevant to every stream" in policy
    assert "Why mandatory sessions rate lower" not in section_of(built.md, QUESTIONS[0])  # no topics: no split


def test_caveat_bullets_start_at_labelled_clauses():
    from mats_eval.report.build import labelled_bullets

    clauses = ["weakly identified: policy changes between cohorts", "the contrast rests on kinds",
               "tipping point: 0.3 points", "unobserved selection: 0.3 points", "in 24% of draws the optimum"]
    assert labelled_bullets(clauses) == ["weakly identified: policy changes between cohorts; the contrast rests on kinds",
                                         "tipping point: 0.3 points",
                                         "unobserved selection: 0.3 points; in 24% of draws the optimum"]


def test_the_prior_sensitivity_table_says_how_each_row_was_computed():
    """A refitted row is not a reweighting that needs a refit: the appendix names the method and the verdict."""
    from mats_eval.report.build import how_computed

    assert how_computed({"prior": "default", "scale_factor": 1.0, "reliable": True, "method": "reweighted"}) \
        == "the fit itself"
    assert how_computed({"prior": "cohort sd prior sd x2", "scale_factor": 2.0, "reliable": True,
                         "method": "reweighted"}) == "reweighted"
    assert "refit to be sure" in how_computed({"prior": "cohort sd prior sd x2", "scale_factor": 2.0,
                                               "reliable": False, "method": "reweighted"})
    assert how_computed({"prior": "x", "scale_factor": 0.5, "reliable": "True", "method": "refitted"}) \
        == "refitted under this prior"
    assert "indicative" in how_computed({"prior": "x", "scale_factor": 0.5, "reliable": False, "method": "refitted"})
