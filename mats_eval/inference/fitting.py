"""Fit a registered model: sample, gate on diagnostics, summarise, write the run folder.

    fit(data, model) = write_run(gate(sample(MODELS[model](build_design(data)))))

Everything the report and the decisions show is computed here, once, and
stored in the run folder (runfolder.py lists the files): the reference point,
the volume and attendance curves, the canonical parameter draws per kind that
plans are evaluated from and the observed-data tables (pipeline.run adds the
plan comparison, a later stage).

Sampling is reproducible by `seed` (the same seed, data, sampler and versions
give the same draws) as long as the compiled density is the same machine code: a
density compiled afresh and the same density found in PyTensor's cache can differ
in the last bits of the gradient, and chains then part ways, as two seeds would
(benchmarks/RESULTS.md, "Coverage at full scale", selection).

The gate never hides results: a failing fit is returned (and written) with
diagnostics["passed"] = False and manifest["reliable"] = False; the CLI turns
that into exit code 3. A crash before the run folder is complete leaves no folder.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
import warnings
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm

from mats_eval import __version__
from mats_eval.data.design import build_design
from mats_eval.inference.diagnostics import advice, convergence, diagnose, narrow_mixing_miss, summary_table
from mats_eval.estimands.summary import curve_draws, effects_from_draws, estimand_draws_with_curve
from mats_eval.constants import DEFAULT_CHAINS, DEFAULT_DRAWS, DEFAULT_TARGET_ACCEPT, DEFAULT_TUNE
from mats_eval.errors import UsageError
from mats_eval.models import MODELS, build_model, default_model_for, get_spec, model_priors
from mats_eval.models.priors import as_priors, priors_record
from mats_eval.data.programdata import ProgramData
from mats_eval.runfolder import PRIORS_FILE, FitResult, write_run
from mats_eval.data.reference import Reference
from mats_eval.estimands import kernels, registry
from mats_eval.estimands.summary import INTERVALS
from mats_eval.inference.samplers import DEFAULT_SAMPLER, NUTPIE_BACKENDS, PM_SAMPLER, SAMPLERS

# Sampler options applied unless overridden by `nuts=`. target_accept 0.8 (nutpie's own).
# Session 12 raised it to 0.85 because the relevance model failed the gate on about half of
# full-scale mats-history fits with one or a few divergences; session 13 located them (in
# nutpie's own parameter order, benchmarks/HISTORY.md "Coverage at full scale: the attempts of
# sessions 12–16") in two funnels that a higher target acceptance only made rarer: the
# streams' match-term sd (a few data-rich groups, now integrated out like the cohort variances)
# and the bottom cutpoint of a scale whose lowest category nobody uses (now anchored at the
# middle cutpoint, priors.MiddleOrdered).
# Without them the divergent datasets refitted at 0.8 with 0 divergences and ~16 leapfrog steps
# per draw (20 before, 30 at 0.85). What then failed the gate at 0.8 on some datasets was slow
# mixing (rating_session_sd, attendance_volume), which 0.85 did not cure either; the session sd's
# was its prior's open lower tail (now Gamma(2, 4.9), models/priors.py). The cohort
# variances are integrated out (priors.cohort_effect), so no funnel is left there;
# 0.9–0.95 doubled the tree depth. 2 × 3000
# draws after 1000 tuning steps: the slowest parameters of the joint model on
# data/example (scholar sds, cohort contrasts) mix at ~15% efficiency, and with
# 2 × 2000 (ESS ~570) one of ~1000 R-hats still crossed 1.01 by chance in 1 of 4 seeds;
# with 600 tuning steps max R-hat was 1.011–1.013 in 2 of 3 runs.
# Measured in benchmarks/RESULTS.md.
# (the numbers live in constants.py)
_VERSIONED = ("pymc", "pytensor", "arviz", "arviz-base", "arviz-stats", "nutpie", "numba", "numpy", "scipy",
              "pandas", "xarray", "netCDF4", "h5netcdf", "numpyro", "jax")


def versions() -> dict[str, str | None]:
    """Versions of the package, Python and every library that shapes the result."""
    out = {"mats_eval": __version__, "python": platform.python_version()}
    for dist in _VERSIONED:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def as_program_data(data) -> ProgramData:
    """A ProgramData, or a dataset folder loaded (and validated) by io.load."""
    if isinstance(data, ProgramData):
        return data
    from mats_eval.data.io import load

    return load(Path(data))


def nuts_options(target_accept: float | None, nuts: dict | None) -> dict:
    """The NUTS options a fit uses: the defaults, then `nuts=`, then an explicit target_accept."""
    options = {"target_accept": DEFAULT_TARGET_ACCEPT, **(nuts or {})}
    if target_accept is not None:
        options["target_accept"] = target_accept
    return options


def compile_density(model: pm.Model, sampler: str):
    """nutpie's compiled log density and gradient of `model` for a nutpie sampler (None for the others,
    which pm.sample compiles). Its data variables (pm.Data: observations, the priors' parameters) take
    new values without compiling again (`.with_data`), as the prior refits (inference/refit.py) and SBC do."""
    if sampler not in NUTPIE_BACKENDS:
        return None
    import nutpie

    return nutpie.compile_pymc_model(model, **NUTPIE_BACKENDS[sampler])


def sample_nutpie(compiled, model: pm.Model, *, draws: int, tune: int, chains: int, seed: int, progress: bool,
                  nuts: dict):
    """nutpie.sample of a compiled density, as pm.sample(nuts_sampler="nutpie") runs it (same seeds and
    progress bar; the DataTree patched with the model's data and sampling time)."""
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata
    from pymc.progress_bar import NutpieProgressBarManager, default_progress_theme
    from pymc.util import get_random_generator

    nuts = dict(nuts)
    if "max_treedepth" in nuts:
        nuts["maxdepth"] = nuts.pop("max_treedepth")
    chain_seed = int(get_random_generator(seed).spawn(chains)[0].integers(2**30))  # pm.sample's first chain seed
    bar = NutpieProgressBarManager(chains=chains, draws=draws, progressbar=progress,
                                   progressbar_theme=default_progress_theme)
    start = time.time()
    with bar:
        idata = nutpie.sample(compiled, draws=draws, tune=max(tune, 1), chains=chains,
                              cores=min(chains, os.cpu_count() or 1), seed=chain_seed, save_warmup=False,
                              store_unconstrained=False, progress_bar=False, progress_callback=bar.update, **nuts)
    patch_nutpie_idata(idata, model, sampling_time=time.time() - start)
    return idata


def sample_posterior(model: pm.Model, *, sampler: str, draws: int, tune: int, chains: int, seed: int,
                     progress: bool, target_accept: float | None = None,
                     nuts: dict | None = None, compiled=None) -> tuple[object, dict]:
    """Posterior draws of `model` with the named sampler; returns (DataTree, timings in seconds).

    A nutpie sampler samples `compiled` (compile_density of `model`; compiled here when not given),
    the others run pm.sample. compile = wall time − the sampler's own sampling_time.
    """
    if sampler not in SAMPLERS:
        raise UsageError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if sampler == "numpyro" and "jax" not in sys.modules:
        # JAX runs chains in parallel only if it sees that many devices at import time
        os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={chains}")
    nuts = nuts_options(target_accept, nuts)
    start = time.perf_counter()
    if sampler in NUTPIE_BACKENDS:
        compiled = compiled if compiled is not None else compile_density(model, sampler)
        idata = sample_nutpie(compiled, model, draws=draws, tune=tune, chains=chains, seed=seed, progress=progress,
                              nuts=nuts)
    else:
        with model:
            idata = pm.sample(
                draws=draws, tune=tune, chains=chains, cores=min(chains, os.cpu_count() or 1), random_seed=seed,
                nuts_sampler=PM_SAMPLER[sampler], progressbar=progress, nuts=nuts, compute_convergence_checks=False,
            )
    wall = time.perf_counter() - start
    sampling = float(idata["posterior"].attrs.get("sampling_time", wall))
    return idata, {"sample_wall": wall, "sampling": sampling, "compile": max(wall - sampling, 0.0)}


def sample_and_gate(pm_model: pm.Model, draws: int, sampling: dict, timings: dict, progress: bool):
    """(DataTree, R-hat/ESS per variable, gate verdict) of one sampling run; its times are added to `timings`."""
    idata, sample_timings = sample_posterior(pm_model, draws=draws, **sampling)
    for name, seconds in sample_timings.items():
        timings[name] = timings.get(name, 0.0) + seconds
    with stage("summaries", timings, progress):  # the gate's numbers, before anything is thinned
        stats_of = convergence(idata["posterior"].to_dataset())  # R-hat and ESS once, for the gate and summary.csv
        diagnostics = diagnose(idata, stats_of=stats_of)
    return idata, stats_of, diagnostics


def fit(
    data,
    model: str | None = None,
    out: Path | str | None = None,
    draws: int = DEFAULT_DRAWS,
    tune: int = DEFAULT_TUNE,
    chains: int = DEFAULT_CHAINS,
    seed: int = 0,
    sampler: str = DEFAULT_SAMPLER,
    force: bool = False,
    progress: bool = True,
    priors: dict | None = None,
    target_accept: float | None = None,
    nuts: dict | None = None,
    checks: bool = True,
    extend: bool = True,
) -> FitResult:
    """Fit `model` to `data` (ProgramData or dataset folder); write the run folder `out` if given.

    `model` None: the relevance model when the sessions have topics, else the joint model
    (models.default_model_for).
    Returns a FitResult whatever the gate says; check `.reliable` (a failing gate also warns).
    Always: identification of the policy effect (effects `note`, diagnostics
    `identification`/`confounded`, prior_sensitivity.csv when it is not identified
    within cohorts) and volume_curve.csv (models with attendance and ratings).
    With `checks` (default): statsmodels cross-checks (crosscheck.csv), prior and
    posterior predictive checks (checks/) and PSIS-LOO (loo.csv, diagnostics `loo`).
    Also always: reference.json, attendance_curve.csv, decision_draws.nc and observed/
    (see `attach_run_tables`), and priors.json (every prior the model used).
    `priors`: overrides of the model's default priors, a mapping or a YAML file
    (models/priors.py); an unknown name or a bad entry raises PriorError before anything runs.
    With `checks` also power-scaling prior/likelihood sensitivity (sensitivity.csv).
    `extend`: when the gate fails only narrowly on R-hat or ESS (diagnostics.narrow_mixing_miss),
    sample once more with twice the draws (same seed) and gate that; diagnostics `extended` says so.
    """
    if model is not None and model not in MODELS:
        raise UsageError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    if sampler not in SAMPLERS:
        raise UsageError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if draws < 1 or chains < 1 or tune < 0:
        raise UsageError(f"need draws >= 1, chains >= 1 and tune >= 0 (got {draws}, {chains}, {tune})")
    if out is not None and Path(out).exists() and not force:  # refuse before spending minutes sampling
        raise UsageError(f"{out} already exists; pass --force to replace it")
    priors = as_priors(priors)
    timings = {}
    start = time.perf_counter()
    # the data say which model when none is named (relevance with session topics, else joint); a named
    # model's priors are checked before the data are read (PriorError, exit 2)
    program = as_program_data(data) if model is None else None
    model = model or default_model_for(program)
    resolved_priors = model_priors(model, priors)
    program = program or as_program_data(data)
    design = build_design(program)
    pm_model = build_model(model, design, priors)
    timings["build"] = time.perf_counter() - start
    compile_start = time.perf_counter()
    compiled = compile_density(pm_model, sampler)  # kept: the prior refits reuse it (inference/refit.py)
    compiling = time.perf_counter() - compile_start
    sampling = dict(sampler=sampler, tune=tune, chains=chains, seed=seed, progress=progress,
                    target_accept=target_accept, nuts=nuts, compiled=compiled)
    idata, stats_of, diagnostics = sample_and_gate(pm_model, draws, sampling, timings, progress)
    if extend and narrow_mixing_miss(diagnostics):
        first = diagnostics
        draws *= 2
        if progress:
            print(f"  gate failed narrowly ({'; '.join(first['failures'])}): sampling again with {draws} draws "
                  "per chain", file=sys.stderr, flush=True)
        idata, stats_of, diagnostics = sample_and_gate(pm_model, draws, sampling, timings, progress)
        diagnostics["extended"] = {"draws_before": draws // 2, "draws": draws, "failures_before": first["failures"]}
    timings["compile"] += compiling  # sample_wall = compile + sampling, as before
    timings["sample_wall"] += compiling
    if not diagnostics["passed"]:
        diagnostics["advice"] = advice(diagnostics)
    ref = design.reference
    with stage("summaries", timings, progress):  # summary.csv, before anything is thinned
        summary = summary_table(idata, stats_of)
        by_kind = canonical_by_kind(model, idata, design)
    with stage("volume_curve", timings, progress):  # U(V) once: the optimum's draws and volume_curve.csv
        p = by_kind[ref.kind] if ref.kind in by_kind else get_spec(model).canonical(idata, ref)
        curve = curve_draws(p, ref)
    with stage("estimands", timings, progress):
        draws_of = estimand_draws_with_curve(p, ref, curve)
    result = FitResult(
        idata=idata,
        effects=effects_from_draws(draws_of, ref),
        estimand_draws=draws_of,
        summary=summary,
        diagnostics=diagnostics,
        model=pm_model,
        compiled=compiled,
        priors=priors_record(resolved_priors, priors),
    )
    attach_checks(result, program, design, model, priors, seed, timings, predictive=checks, progress=progress,
                  sampler=sampler)
    attach_run_tables(result, program, design, model, timings, by_kind=by_kind, curve=curve, progress=progress)
    used_target_accept = nuts_options(target_accept, nuts)["target_accept"]
    result.manifest = manifest(program, model, dict(draws=draws, tune=tune, chains=chains, seed=seed,
                               sampler=sampler, target_accept=used_target_accept, nuts=nuts, priors=priors,
                               extend=extend), timings,
                               diagnostics)
    if out is not None:
        write_run(result, out, force=force)
    if not diagnostics["passed"]:
        warnings.warn("diagnostics gate failed: " + "; ".join(diagnostics["failures"]) + ". "
                      + diagnostics["advice"], UserWarning, stacklevel=2)
    return result


def study_fit(program: ProgramData, model: str, *, draws: int, tune: int, chains: int, seed: int,
              sampler: str) -> FitResult:
    """One fit of a coverage or power study: no progress bar, no warnings, and
    no predictive checks or LOO, which do not change the posterior."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(program, model=model, draws=draws, tune=tune, chains=chains, seed=seed, sampler=sampler,
                   progress=False, checks=False)


def synthetic_provenance(source) -> dict | None:
    """{scenario, seed, scale} when the dataset folder holds the simulator's truth.json, else None."""
    truth = Path(source) / "truth.json" if source is not None else None
    if truth is None or not truth.is_file():
        return None
    try:
        written = json.loads(truth.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {key: written.get(key) for key in ("scenario", "seed", "scale")}


def manifest(data: ProgramData, model: str, settings: dict, timings: dict, diagnostics: dict) -> dict:
    """manifest.json: versions, input hashes, model and settings, seed, sampler, timings, verdict."""
    return {
        "package": "mats_eval",
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "input": {
            "source": str(data.source) if data.source is not None else None,
            "sha256": dict(data.input_hashes),
            "synthetic": synthetic_provenance(data.source),
        },
        "model": {"name": model, **{k: settings[k] for k in ("priors",)}, "priors_used": PRIORS_FILE},
        "settings": {k: v for k, v in settings.items() if k != "priors"},
        "seed": settings["seed"],
        "sampler": settings["sampler"],
        "timings_seconds": timings,
        "reliable": bool(diagnostics["passed"]),
        "diagnostics": {"passed": diagnostics["passed"], "failures": diagnostics["failures"]},
        "identification": diagnostics.get("identification", {}).get("verdict"),
        "confounded": diagnostics.get("confounded"),
    }


@contextmanager
def stage(name: str, timings: dict | None, progress: bool = False):
    """Time the block as timings[name] (seconds, manifest.json; added up when a stage runs twice); with
    `progress`, say so on stderr."""
    start = time.perf_counter()
    if progress:
        print(f"  {name} ...", end="", file=sys.stderr, flush=True)
    yield
    elapsed = time.perf_counter() - start
    if timings is not None:
        timings[name] = timings.get(name, 0.0) + elapsed
    if progress:
        print(f" {elapsed:.1f} s", file=sys.stderr, flush=True)


def note_limit(result: FitResult, stage_name: str, note: str) -> None:
    """Record in diagnostics.json `post_fit_limits` that a post-fit step ran on less than everything."""
    if note:
        result.diagnostics.setdefault("post_fit_limits", {})[stage_name] = note


def attach_checks(result: FitResult, program: ProgramData, design, model: str, priors: dict | None, seed: int,
                  timings: dict, predictive: bool = True, progress: bool = False,
                  sampler: str = DEFAULT_SAMPLER) -> FitResult:
    """Identification, prior sensitivity and (with `predictive`) refits of its untrustworthy rows
    (inference/refit.py, with `sampler`), cross-checks, predictive checks and LOO, attached to
    `result` (see `fit`). Timings go into `timings`.

    Every step has a size above which it runs on part of the data or of the draws
    (crosscheck.MAX_ROWS, predictive.MAX_PPC_VALUES, predictive.MAX_LOO_VALUES); when it
    does, diagnostics.json `post_fit_limits` says so.
    """
    from mats_eval.checks.crosscheck import crosscheck, within_size
    from mats_eval.checks.identification import add_cohort_prior_notes, add_notes, identification, prior_sensitivity
    from mats_eval.inference.refit import refit_unreliable
    from mats_eval.models import get_spec, model_priors

    with stage("identification", timings, progress):
        ident = identification(program)
        result.diagnostics["identification"] = ident
        result.diagnostics["confounded"] = ident["confounded"]
        result.effects = add_notes(result.effects, ident)
        if ident["needs_sensitivity"]:
            result.prior_sensitivity = prior_sensitivity(result.idata, design, model_priors(model, priors), model=model,
                                                         draws=result.estimand_draws)
    sensitivity_table = result.prior_sensitivity
    if predictive and sensitivity_table is not None and not sensitivity_table["reliable"].astype(bool).all():
        with stage("prior_refit", timings, progress):  # reweighting failed (Pareto k > 0.7): fit again
            result.prior_sensitivity = refit_unreliable(sensitivity_table, program, model, priors,
                                                        seed=seed, sampler=sampler, fitted=result)
    # the possible bias the cohort prior alone can cause, from the rows that can be trusted (after refits)
    result.effects = add_cohort_prior_notes(result.effects, result.prior_sensitivity, ident)
    if not predictive:
        return result
    from mats_eval.checks import predictive as ppc
    from mats_eval.checks.sensitivity import power_scaling_sensitivity, prior_dominated, thin_index

    with stage("crosscheck", timings, progress):
        checked, note = within_size(program)
        note_limit(result, "crosscheck", note)
        result.crosscheck = crosscheck(checked, get_spec(model).canonical(result.idata, design.reference))
    n_obs = ppc.n_observations(result.model)
    with stage("predictive_checks", timings, progress):
        post = result.idata["posterior"]
        draws, note = ppc.draws_within(post.sizes["chain"] * post.sizes["draw"], n_obs, ppc.PPC_DRAWS,
                                       ppc.MAX_PPC_VALUES)
        note_limit(result, "predictive_checks", note)
        result.checks = ppc.check_tables(result.model, design, result.idata, draws=draws, seed=seed)
        result.diagnostics["predictive_coverage"] = {name: ppc.coverage(t) for name, t in result.checks.items()}
    with stage("log_likelihood", timings, progress):  # once, for LOO and (summed) the sensitivity check
        draws, note = ppc.loo_draws(result.model, result.idata)
        note_limit(result, "loo", note)
        post = result.idata["posterior"]
        keep = ppc.draw_index(post.sizes["chain"] * post.sizes["draw"], draws)
        pointwise = ppc.pointwise_log_likelihood(result.model, result.idata, keep)
    with stage("sensitivity", timings, progress):
        same_draws = np.array_equal(keep, thin_index(post.sizes["chain"] * post.sizes["draw"]))
        total = sum(values.sum(axis=1) for values in pointwise.values()) if same_draws else None
        result.sensitivity = power_scaling_sensitivity(result.model, result.idata, model_priors(model, priors),
                                                       result.estimand_draws, log_lik=total)
        result.diagnostics["prior_dominated"] = prior_dominated(result.sensitivity)
    with stage("loo", timings, progress):
        result.loo, result.loo_pointwise = ppc.loo_tables(result.model, result.idata, draws=draws, log_lik=pointwise)
        result.diagnostics["loo"] = result.loo.to_dict(orient="records")
        warnings_ = [w for w in result.loo["warning"] if w]
        if warnings_:
            result.diagnostics["loo_warnings"] = warnings_
    return result


def canonical_by_kind(model: str, idata, design) -> dict[str, dict[str, np.ndarray]]:
    """{kind: canonical parameter draws at that kind} for every session kind of the data."""
    from mats_eval.models import get_spec

    spec = get_spec(model)
    ref = design.reference
    kinds = [str(k) for k in design.coords.get("kind", [])] or [ref.kind]
    return {kind: spec.canonical(idata, ref, kind) for kind in kinds}


def attendance_curve(p: dict, ref: Reference) -> pd.DataFrame:
    """attendance_curve.csv: P(attend) of an optional session of the reference kind and volume per
    week, for a new cohort, scholar and session: week, mean, hdi_low, hdi_high, interval.

    Week 1 and week W are the attendance_first_week and attendance_last_week rows of
    effects.csv (same kernel, same draws, the same registered interval).
    """
    weeks = np.arange(1, ref.n_weeks + 1)
    draws = np.column_stack([kernels.attendance_probability(p, w, ref.volume) for w in weeks])
    entry = registry.ESTIMANDS["attendance_first_week"]
    low, high = INTERVALS[entry.interval](draws)
    return pd.DataFrame({"week": weeks, "mean": draws.mean(axis=0), "hdi_low": low, "hdi_high": high,
                         "interval": registry.INTERVAL_LABELS[entry.interval]})


def attach_run_tables(result: FitResult, program: ProgramData, design, model: str,
                      timings: dict | None = None, by_kind: dict | None = None, curve: np.ndarray | None = None,
                      progress: bool = False) -> FitResult:
    """What the report and the decisions read, computed once and attached to `result`:
    reference, volume_curve, attendance_curve, decision_draws and observed.

    `by_kind` (canonical_by_kind) and `curve` (summary.curve_draws at the reference kind) are
    reused when the caller has them, so U(V) is evaluated once per fit.
    """
    from mats_eval.data.observed import observed_tables
    from mats_eval.estimands.summary import volume_curve

    with stage("run_tables", timings, progress):
        ref = design.reference
        result.reference = ref
        result.observed = observed_tables(program)
        by_kind = by_kind or canonical_by_kind(model, result.idata, design)
        p = by_kind.get(ref.kind) or next(iter(by_kind.values()))
        if registry.ESTIMANDS["attendance_first_week"].defined_by(p, ref):
            result.attendance_curve = attendance_curve(p, ref)
        # the volume optimum and the plans need attendance and ratings; both use the CURVE_DRAWS
        # draws optimal_sessions_per_week is computed from, so curve, optimum and plans agree
        if registry.ESTIMANDS["optimal_sessions_per_week"].defined_by(p, ref):
            result.volume_curve = volume_curve(p, ref, curve)
            result.decision_draws = {kind: decision_parameters(kernels.thinned(q, kernels.CURVE_DRAWS), ref)
                                     for kind, q in by_kind.items()}
    return result


def decision_parameters(p: dict, ref: Reference) -> dict:
    """The canonical parameters the plans' kernel reads (decisions/plans.py evaluates
    kernels.attended_session_moments per kind, week and load): decision_draws.nc keeps these only."""
    return {name: p[name] for name in read_by_plans(p, ref)}


def read_by_plans(p: dict, ref: Reference) -> list[str]:
    """Names of `p` the plans' kernel (kernels.attended_session_moments) depends on: those without which it
    fails or moves, on a few draws at both policies in the first and last week. Found by leaving each out
    rather than listed, so a parameter the kernel comes to read is kept without an edit here."""
    sample = {name: np.asarray(v)[:3] for name, v in p.items()}
    settings = [(float(week), mandatory) for week in (1, ref.n_weeks) for mandatory in (0.0, 1.0)]

    def moments(q: dict) -> list[dict]:
        return [kernels.attended_session_moments(q, ref, week, float(ref.volume), mandatory)
                for week, mandatory in settings]

    full = moments(sample)

    def unchanged_without(name: str) -> bool:
        try:
            rest = moments({k: v for k, v in sample.items() if k != name})
        except Exception:  # noqa: BLE001 - the kernel cannot do without it
            return False
        return all(np.array_equal(a[key], b[key], equal_nan=True) for a, b in zip(full, rest) for key in a)

    return [name for name in p if name in PLANS_REQUIRE or not unchanged_without(name)]


# decisions/plans.py checks these are present before evaluating a plan
PLANS_REQUIRE = ("attendance_intercept", "rating_mandatory")


def compare(results: dict[str, FitResult], var_name: str | None = None):
    """PSIS-LOO comparison (az.compare, stacking weights) of fits of the same observations,
    e.g. {"linear": fit(data, "attendance"), "floor": fit(data, "attendance_floor")}.

    Log-likelihoods are computed on demand (PyMC does not store them), so each result
    must come from this session (FitResult.model set).
    """
    import arviz as az

    trees = {}
    for name, result in results.items():
        if "log_likelihood" not in result.idata.children:
            if result.model is None:
                raise UsageError(f"{name}: no log-likelihood stored and no model to compute it (refit in this session)")
            from mats_eval.checks.predictive import log_likelihood

            result.idata.update(log_likelihood(result.model, result.idata))
        trees[name] = result.idata
    return az.compare(trees, var_name=var_name)
