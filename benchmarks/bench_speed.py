"""Speed benchmark: the package's default joint fit against a naive baseline, at 1x, 2x, 4x scholars;
and `mats-eval run data/example` end to end, stage by stage.

    .venv/bin/python benchmarks/bench_speed.py [--scales 1,2,4] [--timeout 1200]
        [--variants package_jax,package,baseline] [--seed 0] [--out benchmarks/results/speed.json]
    .venv/bin/python benchmarks/bench_speed.py --scales 1 --variants run,run_warm --out benchmarks/results/speed_run.json

- run: `mats-eval run data/example --out <tmp> --seed S` in a fresh process with empty
  compile caches (a fresh clone after installation), through the CLI's own entry point; the
  wall time is the process's, from interpreter start to exit. Every stage's time comes from
  the run's manifest.json (fit's stages, including the sampler's own sampling time) plus
  validation, writing the run folder, the plans and the report (timed around those calls in the
  child), and start-up = everything before the CLI starts (interpreter and imports). The
  process's CPU seconds (every thread, and compilers it starts) and the load average are
  recorded too: on a shared machine the wall times are longer than on an idle one.
- run_warm: the same in a fresh process after a first, discarded run filled the caches.
  fit's stages also record their CPU seconds (all threads): what a stage costs whatever the load.

Datasets: data/example (1x) and simulate("mats-history", seed=2024, scale=2 and 4):
the same three cohorts and programme with 2x and 4x the scholars.

- package_jax: mats_eval.fit(data, "joint", checks=False) with every other default
  (2 chains x (1000 tune + 3000 draws), target_accept 0.8) and sampler="nutpie-jax"
  (JAX-compiled density; the default from 2026-11-27 to session 14);
- package: the same with sampler="nutpie" (Numba-compiled density; the default before and since);
- baseline: benchmarks/naive_joint.py (the same likelihood and priors written
  the obvious way: centred effects, raw row-level covariates, pm.Bernoulli and
  pm.OrderedLogistic) sampled by PyMC's own NUTS with PyMC's defaults
  (2 chains x (1000 tune + 1000 draws), target_accept 0.8).

Each fit runs in a fresh process with empty PyTensor/Numba caches, so compile
time is the cold cost; `package_warm` is the package's fit in a fresh process
whose on-disk caches a previous fit of the same dataset filled (what a user
sees from the second run on, with scripts/env.sh's persistent caches; `package_jax_warm`
likewise with JAX's compilation cache). time_to_gate = model build + compile + sampling +
diagnostics when the gate passes (else the gate is reported as failed).
ESS/s = min bulk ESS / sampling seconds, over (a) every variable of that model
(the gate's own set) and (b) the canonical parameters both models carry under
the same name and meaning (CANONICAL in the child), so the ratio compares like
with like.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from _child import run_child

from mats_eval.cli_options import Seed, script

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import numpy as np
import arviz as az
import pymc as pm
from mats_eval.data.design import build_design
from mats_eval.inference.diagnostics import diagnose
from mats_eval.data.io import load
from mats_eval.simulation.scenarios import simulate

variant, scale, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
data = load("data/example") if scale == 1 else simulate("mats-history", seed=2024, scale=scale).program_data()
design = build_design(data)
rows = len(design.att_y) + len(design.rating_code) + (len(design.retro.code) if design.retro is not None else 0)
t0 = time.perf_counter()
if variant.startswith("package"):
    import mats_eval
    sampler = "nutpie-jax" if "jax" in variant else "nutpie"  # package is the default sampler
    result = mats_eval.fit(data, model="joint", checks=False, progress=False, seed=seed, sampler=sampler)
    idata, t = result.idata, result.manifest["timings_seconds"]
    build, compile_, sampling = t["build"], t["compile"], t["sampling"]
else:
    from benchmarks.naive_joint import naive_joint_model  # the child runs in the repository's root
    model = naive_joint_model(design)
    build = time.perf_counter() - t0
    s0 = time.perf_counter()
    with model:
        idata = pm.sample(nuts_sampler="pymc", random_seed=seed, progressbar=False, compute_convergence_checks=False)
    wall = time.perf_counter() - s0
    sampling = float(idata["posterior"].attrs.get("sampling_time", wall))
    compile_ = wall - sampling
d0 = time.perf_counter()
diag = diagnose(idata)
diag_s = time.perf_counter() - d0
ess = az.ess(idata, method="bulk")
post = idata["posterior"]
def min_ess(names):
    return float(min(np.nanmin(np.asarray(ess[n])) for n in names))
names = list(post.data_vars)
# canonical parameters both models carry under the same name and meaning
CANONICAL = ["attendance_intercept", "attendance_kind", "attendance_mandatory", "attendance_volume",
             "attendance_week_slope", "attendance_week_slope_mandatory", "attendance_week_slope_cohort",
             "attendance_cohort", "attendance_session", "rating_kind", "rating_mandatory", "rating_volume",
             "rating_week", "rating_cohort", "rating_speaker", "rating_cutpoints_1_10", "retro_element",
             "retro_mandatory", "retro_cohort", "retro_scholar_loading"]
shared = [n for n in CANONICAL if n in names]
out = dict(variant=variant, scale=scale, seed=seed, scholars=len(design.coords["scholar"]), rows=rows,
           draws=int(post.sizes["draw"]), chains=int(post.sizes["chain"]), build=build, compile=compile_,
           sampling=sampling, diagnostics=diag_s, passed=diag["passed"], failures=diag["failures"],
           divergences=diag["divergences"], rhat_max=diag["rhat_max"], ess_bulk_min=min_ess(names),
           mean_steps=float(np.asarray(idata["sample_stats"]["n_steps"]).mean()) if "n_steps" in idata["sample_stats"] else
                      float(np.asarray(idata["sample_stats"]["tree_depth"]).mean()),
           ess_shared_min=min_ess(shared), shared=shared)
out["time_to_gate"] = build + compile_ + sampling + diag_s if diag["passed"] else None
out["ess_per_s"] = out["ess_bulk_min"] / sampling
out["ess_shared_per_s"] = out["ess_shared_min"] / sampling
print("RESULT" + json.dumps(out))
"""

# `mats-eval run data/example` as a user runs it, with every stage's time (module docstring)
RUN_CHILD = r"""
import time
started = time.perf_counter()
import contextlib, json, resource, sys, tempfile
from pathlib import Path
import mats_eval.data.io, mats_eval.inference.fitting, mats_eval.pipeline, mats_eval.report.build
from mats_eval.cli import app

seed = sys.argv[1]
extra = {}

def timed(module, name, label):
    inner = getattr(module, name)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            extra[label] = extra.get(label, 0.0) + time.perf_counter() - t
    setattr(module, name, wrapper)

timed(mats_eval.data.io, "load", "validate")
cpu_of = {}
stage = mats_eval.inference.fitting.stage

outer = []  # the run's own timings dict (a refit inside it keeps its own)

@contextlib.contextmanager
def stage_with_cpu(name, timings, progress=False):  # fit's stages, with their CPU seconds (all threads)
    outer.append(timings) if not outer else None
    start = time.process_time()
    with stage(name, timings, progress):
        yield
    if timings is outer[0]:
        cpu_of[name] = time.process_time() - start

mats_eval.inference.fitting.stage = stage_with_cpu
timed(mats_eval.inference.fitting, "write_run", "write_run")
timed(mats_eval.pipeline, "_add_plans", "plans")
timed(mats_eval.report.build, "build_report", "report")
with tempfile.TemporaryDirectory() as tmp:
    cli_start = time.perf_counter()
    try:
        app(["run", "data/example", "--out", f"{tmp}/out", "--seed", seed], standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = exc.code
    finished = time.perf_counter()
    manifest = json.loads(Path(f"{tmp}/out/run/manifest.json").read_text())
    size = sum(f.stat().st_size for f in Path(f"{tmp}/out/run").rglob("*") if f.is_file())
cpu = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
          for f in ("ru_utime", "ru_stime"))  # every thread, and compilers run as child processes
out = dict(exit_code=code, timings=manifest["timings_seconds"], extra=extra, imports=cli_start - started, cpu=cpu,
           stage_cpu=cpu_of,
           in_process=finished - started, model=manifest["model"]["name"], passed=manifest["reliable"],
           failures=manifest["diagnostics"]["failures"], run_folder_mb=size / 2**20)
print("RESULT" + json.dumps(out))
"""

# manifest.json timings_seconds (fit) in pipeline order; sample_wall = compile + sampling
FIT_STAGES = ("build", "compile", "sampling", "summaries", "volume_curve", "estimands", "identification",
              "prior_refit", "crosscheck", "predictive_checks", "log_likelihood", "sensitivity", "loo", "run_tables")
POST_FIT = ("summaries", "volume_curve", "estimands", "identification", "prior_refit", "crosscheck",
            "predictive_checks", "log_likelihood", "sensitivity", "loo", "run_tables", "write_run", "plans", "report")


def run_end_to_end(variant: str, timeout: float, seed: int = 0) -> dict:
    """`mats-eval run data/example` in a fresh process with empty (run) or filled (run_warm) caches:
    {wall, stages: {name: seconds}} with stages summing to the wall (`other`: what no stage covers)."""
    payload, error, wall = run_child(RUN_CHILD, [str(seed)], timeout, warm=variant.endswith("_warm"))
    if error:
        return dict(variant=variant, scale=1.0, seed=seed, error=error)
    t = payload["timings"]
    stages = {"start-up (interpreter, imports)": wall - payload["in_process"] + payload["imports"]}
    stages["validate"] = payload["extra"].get("validate", 0.0)
    stages.update({name: t.get(name, 0.0) for name in FIT_STAGES})
    stages.update({name: t[name] for name in t if name not in stages and name != "sample_wall"})  # stages added later
    stages.update({name: payload["extra"].get(name, 0.0) for name in ("write_run", "plans", "report")})
    stages["other"] = wall - sum(stages.values())
    return dict(variant=variant, scale=1.0, seed=seed, wall=wall, stages=stages, timings=t, sampling=t["sampling"],
                compile=t["compile"], post_fit=sum(stages[n] for n in POST_FIT), model=payload["model"],
                passed=payload["passed"], failures=payload["failures"], exit_code=payload["exit_code"],
                run_folder_mb=payload["run_folder_mb"], cpu=payload["cpu"], stage_cpu=payload["stage_cpu"],
                load=_load_average())


def _load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages when the run ended (2 cores: above 2 means
    other work shared them and the wall times are longer than on an idle machine)."""
    import os

    return [round(x, 2) for x in os.getloadavg()]


def run_markdown(rows: list[dict]) -> str:
    """One column per end-to-end run: every stage's seconds and share of the wall."""
    rows = [r for r in rows if r["variant"].startswith("run") and "error" not in r]
    if not rows:
        return ""
    head = "| stage | " + " | ".join(f"{r['variant']} seed {r['seed']}: s (share)" for r in rows) + " |"
    lines = [head, "|---|" + "---|" * len(rows)]
    for stage in rows[0]["stages"]:
        lines.append(f"| {stage} | " + " | ".join(
            f"{r['stages'].get(stage, 0.0):.1f} ({r['stages'].get(stage, 0.0) / r['wall']:.0%})"
            + (f", CPU {r['stage_cpu'][stage]:.1f}" if stage in r.get("stage_cpu", {}) else "") for r in rows) + " |")
    for label, key in (("**post-fit** (summaries … report)", "post_fit"), ("**total wall**", "wall")):
        lines.append(f"| {label} | " + " | ".join(f"**{r[key]:.1f}** ({r[key] / r['wall']:.0%})" for r in rows) + " |")
    lines.append("| CPU seconds of the process (all threads) | " + " | ".join(f"{r['cpu']:.0f}" for r in rows) + " |")
    lines.append("| load average at the end (1/5/15 min) | " + " | ".join(
        "/".join(f"{x:.1f}" for x in r["load"]) for r in rows) + " |")
    lines.append("| gate, run folder | " + " | ".join(
        f"{'pass' if r['passed'] else 'FAIL'} ({r['model']}), {r['run_folder_mb']:.1f} MB" for r in rows) + " |")
    return "\n".join(lines)


def run_one(variant: str, scale: float, timeout: float, seed: int = 0) -> dict:
    """One fit in a fresh process with empty (or, for *_warm, pre-filled) compile caches."""
    if variant.startswith("run"):
        return run_end_to_end(variant, timeout, seed)
    payload, error, wall = run_child(CHILD, [variant, str(scale), str(seed)], timeout, warm=variant.endswith("_warm"))
    if error:
        return dict(variant=variant, scale=scale, seed=seed, error=error)
    return {**payload, "process_wall": wall}


def markdown(rows: list[dict]) -> str:
    head = ("| scholars (x) | rows | variant | seed | draws | compile s | sampling s | time to gate s | min bulk ESS | "
            "ESS/s | ESS/s shared | steps/draw | div | gate |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        if r["variant"].startswith("run"):
            continue
        if "error" in r:
            lines.append(f"| {r['scale']:g}x | | {r['variant']} | {r.get('seed', 0)} | | | | | | | | | | {r['error']} |")
            continue
        ttg = f"{r['time_to_gate']:.0f}" if r["time_to_gate"] is not None else "not reached"
        lines.append(
            f"| {r['scholars']} ({r['scale']:g}x) | {r['rows']} | {r['variant']} | {r.get('seed', 0)} | {r['chains']}x{r['draws']} | "
            f"{r['compile']:.0f} | {r['sampling']:.0f} | {ttg} | {r['ess_bulk_min']:.0f} | {r['ess_per_s']:.1f} | "
            f"{r['ess_shared_per_s']:.1f} | "
            f"{r['mean_steps']:.0f} | {r['divergences']} | {'pass' if r['passed'] else 'FAIL: ' + '; '.join(r['failures'])} |")
    return "\n".join(lines)


def main(
    scales: Annotated[str, typer.Option(help="Scholar multipliers, comma-separated.")] = "1,2,4",
    variants: Annotated[str, typer.Option(help="Variants, comma-separated.")] = "package_jax,package,baseline",
    timeout: Annotated[float, typer.Option(min=1, help="Seconds per fit before it is recorded as unfinished.")]
    = 1200.0,
    seed: Seed = 0,
    out: Annotated[Path, typer.Option(help="JSON file of the rows (resumed).")] = Path("benchmarks/results/speed.json"),
) -> None:
    """The sampler's seed is --seed; the datasets are fixed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(out.read_text()) if out.exists() else []
    key = lambda r: (r["variant"], r["scale"], r.get("seed", 0))  # noqa: E731  (rows before --seed are seed 0)
    done = {key(r) for r in rows if "error" not in r}
    for scale in (float(s) for s in scales.split(",")):
        for variant in variants.split(","):
            if (variant, scale, seed) in done:  # resumable: one row per (variant, scale, seed)
                continue
            start = time.perf_counter()
            row = run_one(variant, scale, timeout, seed)
            rows = [r for r in rows if key(r) != (variant, scale, seed)] + [row]
            print(f"{variant} {scale:g}x: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
            out.write_text(json.dumps(rows, indent=2))
    order = {"package_jax": 0, "package_jax_warm": 1, "package": 2, "package_warm": 3, "baseline": 4, "run": 5,
             "run_warm": 6}
    rows.sort(key=lambda r: (r["scale"], order.get(r["variant"], 4), r.get("seed", 0)))
    print(markdown(rows))
    print(run_markdown(rows))


if __name__ == "__main__":
    script(main, __doc__)
