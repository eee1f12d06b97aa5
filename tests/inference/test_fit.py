"""fit(): run folders (atomic, reproducible, readable back), the gate and CLI exit codes."""
from __future__ import annotations

import importlib
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mats_eval
from datasets import edit_cell, write_valid_dataset
from mats_eval.cli import app
from mats_eval.inference.diagnostics import bfmi_per_chain, count_divergences, diagnose
from mats_eval.estimands.intervals import equal_tailed, hdi
from mats_eval.estimands.summary import EFFECT_COLUMNS, summarise_draws
from mats_eval.errors import UsageError
from mats_eval.runfolder import (CHECKS_DIR, DECISION_DRAWS_FILE, OBSERVED_DIR, OPTIONAL_TABLES, PRIORS_FILE, REFERENCE_FILE,
                                 RUN_FILES, SUMMARY_COLUMNS)
from mats_eval.inference.samplers import DEFAULT_SAMPLER
from mats_eval.constants import DEFAULT_TARGET_ACCEPT
from mats_eval.simulation.scenarios import simulate

fit_module = importlib.import_module("mats_eval.inference.fitting")
TINY = dict(draws=60, tune=60, chains=2, progress=False)


@pytest.fixture(scope="module")
def tiny_data():
    return simulate("identified", seed=5, scale=0.1).program_data()


@pytest.fixture(scope="module")
def dataset_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ds") / "valid"
    write_valid_dataset(folder)
    return folder


def test_hdi_is_the_narrowest_interval():
    draws = np.concatenate([np.zeros(95), np.full(5, 100.0)])
    assert hdi(draws, 0.9) == (0.0, 0.0)
    x = np.random.default_rng(0).normal(size=20000)
    low, high = hdi(x, 0.9)
    assert low == pytest.approx(-1.645, abs=0.05) and high == pytest.approx(1.645, abs=0.05)


def test_skewed_optimum_row_holds_its_equal_tailed_interval():
    """V* is skewed (~1/|slope|): the registry gives its row the equal-tailed interval, which sits to
    the right of the HDI, and the row's `interval` column names it; other rows keep the HDI."""
    slope = np.random.default_rng(1).normal(-0.2, 0.05, size=4000)
    optimum = np.round(np.clip(1.3 / np.abs(slope), 0.5, 12.0) * 4) / 4  # on the 0.25 grid
    row = summarise_draws("optimal_sessions_per_week", optimum)
    assert (row["hdi_low"], row["hdi_high"]) == equal_tailed(optimum)
    assert row["interval"] == "90% equal-tailed"
    assert hdi(optimum)[1] < row["hdi_high"]  # the HDI would cut the long right tail
    other = summarise_draws("volume_slope_rating", slope)
    assert other["interval"] == "90% HDI" and (other["hdi_low"], other["hdi_high"]) == hdi(slope)


@pytest.mark.slow
def test_run_folder_contents_and_load_run(tiny_data, tmp_path):
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="diagnostics gate failed"):
        result = mats_eval.fit(tiny_data, model="ratings", out=out, seed=1, **TINY)
    names = {p.name for p in out.iterdir()}
    assert set(RUN_FILES) | {REFERENCE_FILE, PRIORS_FILE, OBSERVED_DIR} <= names  # plus the optional files runfolder.py lists
    assert names - set(RUN_FILES) <= ({f"{t}.csv" for t in OPTIONAL_TABLES}
                                      | {REFERENCE_FILE, PRIORS_FILE, DECISION_DRAWS_FILE, OBSERVED_DIR, CHECKS_DIR})
    assert DECISION_DRAWS_FILE not in names  # plans need attendance and ratings; this model has ratings only
    # the draws after tuning only, as pm.sample keeps them (the warm-up would multiply posterior.nc's size)
    assert {"posterior", "sample_stats", "observed_data"} <= set(result.idata.children)
    assert not any(group.startswith("warmup") for group in result.idata.children)
    assert result.idata["posterior"].sizes["draw"] == TINY["draws"]
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert "rating_mandatory" in set(summary["parameter"])
    assert not summary["parameter"].str.contains("_z").any()
    effects = pd.read_csv(out / "effects.csv")
    assert list(effects.columns) == EFFECT_COLUMNS
    assert {"mandatory_minus_optional_rating", "volume_slope_rating", "cohort_sd_rating"} <= set(effects["estimand"])
    assert set(effects["scale"]) == {"rating points", "log-odds per session/week", "log-odds"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["reliable"] is False and manifest["seed"] == 1 and manifest["sampler"] == DEFAULT_SAMPLER
    assert manifest["model"]["name"] == "ratings"
    # the target acceptance actually used, also when the caller left it to the default
    assert manifest["settings"]["target_accept"] == DEFAULT_TARGET_ACCEPT
    assert {"pymc", "pytensor", "arviz", "nutpie", "mats_eval"} <= set(manifest["versions"])
    assert {"compile", "sampling"} <= set(manifest["timings_seconds"])
    diag = json.loads((out / "diagnostics.json").read_text())
    assert diag["passed"] is False and diag["failures"]
    assert {"rhat_max", "ess_bulk_min", "ess_tail_min", "divergences", "bfmi"} <= set(diag)

    back = mats_eval.load_run(out)
    assert back.reference == result.reference and back.observed.keys() == result.observed.keys()
    # an empty note is '' in memory and a blank cell (NaN to read_csv) on disk
    pd.testing.assert_frame_equal(back.effects, effects.assign(note=effects["note"].fillna("").astype(str)))
    assert back.diagnostics == diag
    np.testing.assert_allclose(back.idata["posterior"]["rating_mandatory"].values,
                               result.idata["posterior"]["rating_mandatory"].values)
    # posterior.nc: every free variable; per-unit Deterministics left out; per-unit draws to 13 bits
    stored = back.idata["posterior"]
    assert {rv.name for rv in result.model.free_RVs} <= set(stored.data_vars)
    assert "rating_scholar" in result.idata["posterior"] and "rating_scholar" not in stored
    z = result.idata["posterior"]["rating_scholar_z"].values
    np.testing.assert_allclose(stored["rating_scholar_z"].values, z, rtol=2e-4, atol=1e-6)
    assert "Diagnostics gate FAILED" in back._repr_html_()


@pytest.mark.slow
def test_same_seed_same_summary(tiny_data, tmp_path):
    for name in ("a", "b"):
        with pytest.warns(UserWarning):
            mats_eval.fit(tiny_data, model="attendance", out=tmp_path / name, seed=7, **TINY)
    assert (tmp_path / "a" / "summary.csv").read_bytes() == (tmp_path / "b" / "summary.csv").read_bytes()


def test_crash_during_sampling_leaves_no_folder(tiny_data, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("sampler crashed")

    monkeypatch.setattr(fit_module, "sample_posterior", boom)
    with pytest.raises(RuntimeError, match="sampler crashed"):
        mats_eval.fit(tiny_data, model="ratings", out=tmp_path / "run", **TINY)
    assert not (tmp_path / "run").exists()
    assert list(tmp_path.iterdir()) == []


def test_crash_while_writing_leaves_no_folder(tiny_data, tmp_path, monkeypatch):
    runs = importlib.import_module("mats_eval.runfolder")

    def fail_write(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runs, "write_posterior", fail_write)
    with pytest.raises(OSError, match="disk full"):
        mats_eval.fit(tiny_data, model="ratings", out=tmp_path / "run", seed=1, draws=10, tune=10, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_narrow_miss_is_sampled_again_with_twice_the_draws(tiny_data, tmp_path, monkeypatch):
    """`extend`: when the first run misses the gate narrowly (here: said so), the model is sampled
    once more with twice the draws and the same seed, and the run folder says so; `extend=False`
    keeps the first run."""
    calls = []
    sample_posterior = fit_module.sample_posterior

    def recording(*args, **kwargs):
        calls.append(kwargs["draws"])
        return sample_posterior(*args, **kwargs)

    monkeypatch.setattr(fit_module, "sample_posterior", recording)
    monkeypatch.setattr(fit_module, "narrow_mixing_miss", lambda diag: len(calls) == 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mats_eval.fit(tiny_data, model="ratings", out=tmp_path / "run", seed=3, checks=False, **TINY)
    assert calls == [TINY["draws"], 2 * TINY["draws"]]
    assert result.idata["posterior"].sizes["draw"] == 2 * TINY["draws"]
    extended = json.loads((tmp_path / "run" / "diagnostics.json").read_text())["extended"]
    assert (extended["draws_before"], extended["draws"]) == (TINY["draws"], 2 * TINY["draws"])
    assert extended["failures_before"] == result.diagnostics["extended"]["failures_before"]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert (manifest["settings"]["draws"], manifest["settings"]["extend"]) == (2 * TINY["draws"], True)

    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = mats_eval.fit(tiny_data, model="ratings", seed=3, checks=False, extend=False, **TINY)
    assert calls == [TINY["draws"]] and "extended" not in kept.diagnostics


def test_existing_folder_refused_before_sampling(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setattr(fit_module, "sample_posterior", lambda *a, **k: pytest.fail("sampled"))
    (tmp_path / "run").mkdir()
    with pytest.raises(UsageError, match="--force"):
        mats_eval.fit(tiny_data, model="ratings", out=tmp_path / "run", **TINY)


@pytest.mark.slow
def test_nutpie_on_jax_samples_the_same_posterior_as_on_numba(tiny_data):
    """The sampler 'nutpie-jax' only changes how the density is compiled: same estimands within
    Monte Carlo error (0.25 posterior sd is ~4 Monte Carlo standard errors of the difference here)."""
    settings = dict(model="ratings", draws=500, tune=500, chains=2, seed=2, progress=False, checks=False)
    numba = mats_eval.fit(tiny_data, sampler="nutpie", **settings)
    jax = mats_eval.fit(tiny_data, sampler="nutpie-jax", **settings)
    assert jax.manifest["sampler"] == "nutpie-jax" and jax.diagnostics["divergences"] == 0
    a, b = (r.effects.set_index("estimand") for r in (numba, jax))
    assert len(a) == len(b) >= 3
    assert ((a["mean"] - b["mean"]).abs() < 0.25 * a["sd"]).all()
    assert ((b["sd"] / a["sd"]).between(0.8, 1.25)).all()


def test_unknown_model_and_sampler(tiny_data):
    with pytest.raises(UsageError, match="unknown model"):
        mats_eval.fit(tiny_data, model="nope")
    with pytest.raises(UsageError, match="unknown sampler"):
        mats_eval.fit(tiny_data, model="ratings", sampler="gibbs")


def test_cli_exit_2_on_existing_folder_without_force(dataset_folder, tmp_path):
    (tmp_path / "run").mkdir()
    res = CliRunner().invoke(app, ["fit", str(dataset_folder), "--model", "ratings", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert "--force" in res.output


def test_cli_exit_2_on_invalid_input(dataset_folder, tmp_path):
    bad = tmp_path / "bad"
    write_valid_dataset(bad)
    edit_cell(bad, "sessions", line=2, column="week", value="99")
    res = CliRunner().invoke(app, ["fit", str(bad), "--model", "ratings", "--out", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert "sessions" in res.output
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_cli_exit_3_on_gate_failure(dataset_folder, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["fit", str(dataset_folder), "--model", "ratings", "--out", str(out),
                                   "--draws", "20", "--tune", "20", "--no-progress"])
    assert res.exit_code == 3, res.output
    assert "diagnostics gate failed" in res.output and "try" in res.output
    assert json.loads((out / "manifest.json").read_text())["reliable"] is False


@pytest.mark.slow
def test_gate_counts_divergences_and_bfmi(tiny_data):
    with pytest.warns(UserWarning):
        result = mats_eval.fit(tiny_data, model="ratings", seed=2, **TINY)
    idata = result.idata
    assert count_divergences(idata) == int(idata["sample_stats"]["diverging"].values.sum())
    assert len(bfmi_per_chain(idata)) == 2
    diag = diagnose(idata)
    # the fit adds advice, identification and LOO beside the gate's own numbers
    assert diag == {k: result.diagnostics[k] for k in diag}
    assert any("ESS" in f for f in diag["failures"])  # 60 draws cannot reach ESS 400


@pytest.mark.slow
def test_loo_compare_linear_and_floor_forms(tiny_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = {form: mats_eval.fit(tiny_data, model=model, seed=4, **TINY)
                for form, model in [("linear", "attendance"), ("floor", "attendance_floor")]}
        table = fit_module.compare(fits)
    assert set(table.index) == {"linear", "floor"}
    assert table["weight"].sum() == pytest.approx(1.0)
    floor_effects = fits["floor"].effects.set_index("estimand")
    assert {"attendance_week_slope", "attendance_first_week", "attendance_last_week"} <= set(floor_effects.index)
