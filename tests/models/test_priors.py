"""Priors as user configuration: --priors YAML, unknown names refused, priors.json, the cohort-sd path."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mats_eval.cli import app
from mats_eval.models import MODELS, PriorError, get_spec, model_priors
from mats_eval.models.priors import (
    RATING_PRIORS, priors_record, read_priors_file, resolve_priors, valid_prior_names,
)
from mats_eval.simulation.scenarios import simulate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_sampling(monkeypatch):
    """Sampling started by a command fails the test: refusals must come before it."""
    import mats_eval.inference.fitting as fitting

    def started(*args, **kwargs):
        raise AssertionError("sampling started although the priors were invalid")

    monkeypatch.setattr(fitting, "sample_posterior", started)


@pytest.fixture(scope="module")
def tiny():
    return simulate("mats-history", seed=3, scale=0.15).program_data()


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_forms_resolve_like_the_python_ones(tmp_path):
    path = write_yaml(tmp_path / "priors.yaml", """
rating_mandatory: {dist: Normal, mu: 0, sigma: 0.5}   # family and parameters
rating_volume: {sigma: 1.0}                           # parameters only: the default family
rating_week: [StudentT, {nu: 4, mu: 0, sigma: 0.3}]   # the (dist, params) pair
rating_cohort_sd: {dist: HalfStudentT, nu: 3, sigma: 0.5}
""")
    pr = resolve_priors(RATING_PRIORS, read_priors_file(path))
    assert pr["rating_mandatory"] == ("Normal", {"mu": 0, "sigma": 0.5})
    assert pr["rating_volume"] == ("Normal", {"mu": 0.0, "sigma": 1.0})
    assert pr["rating_week"] == ("StudentT", {"nu": 4, "mu": 0, "sigma": 0.3})
    # the sd prior replaces the integrated variance prior
    assert pr["rating_cohort_sd"] == ("HalfStudentT", {"nu": 3, "sigma": 0.5}) and "rating_cohort_var" not in pr


def test_unknown_name_is_refused_with_the_models_valid_names():
    with pytest.raises(PriorError) as err:
        model_priors("ratings", {"rating_mandatroy": {"sigma": 1.0}})
    message = str(err.value)
    assert "rating_mandatroy" in message
    for name in valid_prior_names(get_spec("ratings").default_priors):
        assert name in message
    assert "attendance_volume" not in message  # names of another model are not offered
    with pytest.raises(PriorError, match="attendance_volume"):  # nor accepted
        model_priors("ratings", {"attendance_volume": {"sigma": 1.0}})


@pytest.mark.parametrize("entry, words", [
    ({"dist": "Nromal", "sigma": 1}, "not a PyMC distribution"),
    ({"dist": "Normal", "sgima": 1}, "no parameter"),
    ({"sigma": "wide"}, "finite number"),
])
def test_bad_entries_are_refused_naming_the_prior(entry, words):
    with pytest.raises(PriorError, match=f"rating_mandatory.*{words}"):
        model_priors("ratings", {"rating_mandatory": entry})


@pytest.mark.parametrize("overrides, words", [
    ({"rating_cohort_sd": {"dist": "Normal", "sigma": 1}}, "HalfNormal"),      # not a scale family
    ({"rating_cohort_sd": {"sigma": 0.5}}, "name its family"),                 # no default to merge into
    ({"rating_cohort_sd": {"dist": "HalfNormal", "sigma": 0.5},
      "rating_cohort_var": {"beta": 0.2}}, "give one of them"),                # both set the same spread
])
def test_cohort_sd_alternative_is_checked(overrides, words):
    with pytest.raises(PriorError, match=words):
        model_priors("ratings", overrides)


def test_every_model_lists_its_cohort_sd_alternatives():
    for name, spec in MODELS.items():
        names = valid_prior_names(spec.default_priors)
        for var in (n for n in spec.default_priors if n.endswith("_cohort_var")):
            assert var.replace("_cohort_var", "_cohort_sd") in names, name
    relevance = valid_prior_names(get_spec("relevance").default_priors)
    assert {"attendance_relevance_stream_var", "attendance_relevance_stream_sd",
            "rating_relevance_stream_var", "rating_relevance_stream_sd"} <= set(relevance)


def test_stream_spread_is_integrated_by_default_and_non_centred_under_an_sd_prior():
    """The relevance model's stream spread: InverseGamma variance integrated out (no raw sd or z
    sampled), or, given `<x>_relevance_stream_sd`, a sampled sd with non-centred stream effects;
    either way the canonical `<x>_relevance_stream_sd` and the per-stream effects are in the model."""
    from mats_eval.data.design import build_design
    from mats_eval.models import build_model

    design = build_design(simulate("relevance", seed=0, scale=0.2).program_data())
    integrated = build_model("relevance", design, None)
    sampled = {v.name for v in integrated.free_RVs}
    assert "attendance_relevance_stream_deviation_t" in sampled and "attendance_relevance_stream_sd" not in sampled
    non_centred = build_model("relevance", design, {"attendance_relevance_stream_sd": {"dist": "HalfNormal",
                                                                                       "sigma": 0.3}})
    sampled = {v.name for v in non_centred.free_RVs}
    assert {"attendance_relevance_stream_sd", "attendance_relevance_stream_deviation_z"} <= sampled
    assert "rating_relevance_stream_deviation_t" in sampled  # the other outcome keeps its default
    for model in (integrated, non_centred):
        for outcome in ("attendance", "rating"):
            assert f"{outcome}_relevance_stream_sd" in model.named_vars
            assert model.named_vars_to_dims[f"{outcome}_relevance_stream"] == ("stream",)
    with pytest.raises(PriorError, match="give one of them"):
        model_priors("relevance", {"rating_relevance_stream_sd": {"dist": "HalfNormal", "sigma": 0.3},
                                   "rating_relevance_stream_var": {"beta": 0.1}})


def test_bad_priors_file_exits_2_before_sampling(no_sampling, tmp_path):
    bad = write_yaml(tmp_path / "bad.yaml", "rating_mandatory: {sigma: 0.5}\nrating_cohort_spread: {sigma: 1}\n")
    for command in ("fit", "run"):
        out = tmp_path / f"out-{command}"
        done = CliRunner().invoke(app, [command, str(ROOT / "data" / "example"), "--out", str(out),
                                        "--model", "ratings", "--priors", str(bad)])
        assert done.exit_code == 2, done.output
        assert "rating_cohort_spread" in done.output and "rating_mandatory" in done.output  # valid names listed
        assert not out.exists()
    not_yaml = write_yaml(tmp_path / "list.yaml", "- rating_mandatory\n")
    done = CliRunner().invoke(app, ["fit", str(ROOT / "data" / "example"), "--out", str(tmp_path / "o"),
                                    "--priors", str(not_yaml)])
    assert done.exit_code == 2 and "mapping" in done.output


def test_priors_json_holds_the_resolved_priors(tiny, tmp_path):
    import mats_eval
    from mats_eval.runfolder import load_run

    overrides = {"rating_mandatory": {"dist": "Normal", "mu": 0.0, "sigma": 0.3}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mats_eval.fit(tiny, model="ratings", out=tmp_path / "run", draws=100, tune=100, chains=2,
                               seed=1, progress=False, checks=False, priors=overrides)
    written = json.loads((tmp_path / "run" / "priors.json").read_text())
    resolved = model_priors("ratings", overrides)
    assert set(written) == set(resolved)
    for name, (dist, params) in resolved.items():
        assert written[name]["dist"] == dist
        assert written[name]["params"] == pytest.approx({k: float(v) for k, v in params.items()})
    assert written["rating_mandatory"]["set_by"] == "user" and written["rating_week"]["set_by"] == "default"
    assert written == priors_record(resolved, overrides) == result.priors
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["model"]["priors_used"] == "priors.json"
    assert load_run(tmp_path / "run", posterior=False).priors == written


def test_half_normal_cohort_sd_builds_and_samples(tiny):
    import mats_eval

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = mats_eval.fit(tiny, model="ratings", draws=100, tune=150, chains=2, seed=2, progress=False,
                               checks=False, priors={"rating_cohort_sd": {"dist": "HalfNormal", "sigma": 0.5}})
    free = {rv.name for rv in result.model.free_RVs}
    assert "rating_cohort_sd" in free and "rating_cohort_z" in free  # sampled, non-centred
    assert "rating_cohort_sd_gamma" not in free  # not the integrated path
    sd = result.idata["posterior"]["rating_cohort_sd"].values
    assert np.all(sd > 0) and np.all(np.isfinite(sd))
    row = result.effects.set_index("estimand").loc["cohort_sd_rating"]
    assert 0 < row["mean"] < 3
    assert result.priors["rating_cohort_sd"]["dist"] == "HalfNormal"


def test_rating_session_sd_prior_is_set_by_name_in_every_model_with_ratings(tiny, tmp_path):
    """The session-effect sd has a documented default and is configurable like every other prior:
    by name in Python and in a --priors YAML file, and the built model uses what was given."""
    import pymc as pm

    from mats_eval.data.design import build_design
    from mats_eval.models import build_model

    assert RATING_PRIORS["rating_session_sd"] == ("Gamma", {"alpha": 2.0, "beta": 4.9})
    design = build_design(tiny)
    given = read_priors_file(write_yaml(tmp_path / "priors.yaml",
                                        "rating_session_sd: {dist: HalfStudentT, nu: 3, sigma: 0.2}\n"))
    for name in ("ratings", "joint"):
        assert "rating_session_sd" in valid_prior_names(get_spec(name).default_priors)
        assert model_priors(name, {"rating_session_sd": {"beta": 10.0}})["rating_session_sd"] == (
            "Gamma", {"alpha": 2.0, "beta": 10.0})
        assert model_priors(name, given)["rating_session_sd"] == ("HalfStudentT", {"nu": 3, "sigma": 0.2})
        built = build_model(name, design, given)
        assert built.named_vars_to_dims["rating_session_z"] == ("session",)
        at = np.array([0.05, 0.5, 2.0])
        used = pm.logp(built["rating_session_sd"], at).eval()
        np.testing.assert_allclose(used, pm.logp(pm.HalfStudentT.dist(nu=3, sigma=0.2), at).eval())
        assert not np.allclose(used, pm.logp(pm.Gamma.dist(alpha=2.0, beta=4.9), at).eval())
        record = priors_record(model_priors(name, given), given)
        assert record["rating_session_sd"] == {"dist": "HalfStudentT", "params": {"nu": 3.0, "sigma": 0.2},
                                               "set_by": "user"}


@pytest.mark.parametrize("name", ["rating_speaker_sd", "rating_session_sd"])
def test_speaker_and_session_sds_keep_away_from_zero_a_priori(name):
    """Speaker and session effects trade off (~3 sessions per speaker), so either sd's default
    prior must not leave the sampler a free path to σ ≈ 0 (a chain of data/example sat at
    rating_speaker_sd ≈ 0.002 for ~150 draws under HalfNormal(0.5)); the scale it expects stays
    that of HalfNormal(0.5): median ≈ 0.34, 95% below ≈ 0.98."""
    import pymc as pm

    dist, params = RATING_PRIORS[name]
    prior = getattr(pm, dist).dist(**params)
    half_normal = pm.HalfNormal.dist(sigma=0.5)
    # density in log σ (the sampler's space) at σ = 0.002 relative to σ = 0.34: the half-normal's
    # ratio is about 0.007 (log −5.0); Gamma(2, ·)'s, about its square times e^(β·0.34): 20 times smaller
    log_ratio = lambda d: float(pm.logp(d, 0.002).eval() - pm.logp(d, 0.34).eval() + np.log(0.002 / 0.34))  # noqa: E731
    assert log_ratio(half_normal) > -5.5
    assert log_ratio(prior) < log_ratio(half_normal) - 3.0
    draws = pm.draw(prior, 200_000, random_seed=1)
    assert np.quantile(draws, 0.5) == pytest.approx(0.34, abs=0.02)
    assert np.quantile(draws, 0.95) == pytest.approx(0.98, abs=0.03)
