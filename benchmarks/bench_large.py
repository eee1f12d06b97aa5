"""Real-world size (issue 19): the ratings model, with its default checks, on ratings-only data of
about 3,000 scholars, 1,100 speakers and 75,000 ratings: time per stage, peak memory, the gate.

    source scripts/env.sh
    .venv/bin/python benchmarks/bench_large.py [--variants default,large] [--seed 1] [--scale 1]
        [--out benchmarks/results/large.json]

Data: the simulator's `large-ratings` scenario (mats_eval/simulation/scenarios.py), regenerated
into a temporary folder (never committed; at --scale 1 the same as `mats-eval simulate --scenario
large-ratings --seed SEED --out DATA`). Each variant runs the command a user types,

    mats-eval fit DATA --model ratings --out RUN [the variant's flags]

in a fresh process under `/usr/bin/time -v` (its maximum resident set size is the peak memory),
with the shell's persistent compile caches (scripts/env.sh), one variant after another (the machine
has 2 cores). Recorded per variant: the command, wall seconds, manifest.json's time per stage
(build, compile, sampling and every post-fit stage), the gate (diagnostics.json: verdict, failures,
R-hat, ESS, divergences), post_fit_limits, peak RSS, the run folder's size, and the machine's
1-minute load average before and after (other work shares the cores). Results merge into --out by
variant, so variants can be run one at a time.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from mats_eval.cli_options import script
from mats_eval.simulation.scenarios import write_scenario

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MATS_EVAL = str(Path(sys.executable).with_name("mats-eval"))
DEFAULT_OUT = HERE / "results" / "large.json"
# name -> extra `mats-eval fit` flags. default: every default (2 chains x (1000 tune + 3000 draws)).
# large: the shorter run a large dataset tempts one to, 2 x (500 tune + 1000 draws): 2.3x less CPU
# than the default here, but it misses the gate (benchmarks/RESULTS.md "Real-world size": the 40
# cohort contrasts mix at ~0.15 effective draws per draw).
VARIANTS = {
    "default": [],
    "large": ["--tune", "500", "--draws", "1000"],
}
STAGES = ("build", "compile", "sampling", "summaries", "volume_curve", "estimands", "identification",
          "crosscheck", "predictive_checks", "log_likelihood", "sensitivity", "loo", "run_tables")


def load_average() -> float:
    """The machine's 1-minute load average (other processes share the cores)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def peak_rss_mb(time_v_output: str) -> float | None:
    """Maximum resident set size in MB from `/usr/bin/time -v`'s report (None if absent)."""
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", time_v_output)
    return int(match.group(1)) / 1024 if match else None


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def data_size(folder: Path) -> dict:
    """Rows and distinct units of the dataset (the size the benchmark claims)."""
    import pandas as pd

    sessions = pd.read_csv(folder / "sessions.csv")
    ratings = pd.read_csv(folder / "ratings.csv")
    return {"scholars": int(ratings["scholar_id"].nunique()), "speakers": int(sessions["speaker"].nunique()),
            "sessions": int(len(sessions)), "cohorts": int(sessions["cohort"].nunique()), "ratings": int(len(ratings)),
            "attendance_rows": sum(1 for _ in open(folder / "attendance.csv")) - 1}


def cpu_seconds(time_v_output: str) -> float | None:
    """User + system CPU seconds from `/usr/bin/time -v` (comparable across machine loads, unlike wall)."""
    found = [re.search(rf"{kind} time \(seconds\): ([\d.]+)", time_v_output) for kind in ("User", "System")]
    return sum(float(m.group(1)) for m in found) if all(found) else None


def run_variant(name: str, data: Path, work: Path, timeout: float | None) -> dict:
    """`mats-eval fit` of one variant under /usr/bin/time -v; its timings, gate and peak memory."""
    run = work / f"run_{name}"
    command = [MATS_EVAL, "fit", str(data), "--model", "ratings", "--out", str(run), *VARIANTS[name]]
    load_before = load_average()
    start = time.perf_counter()
    try:
        proc = subprocess.run(["/usr/bin/time", "-v", *command], cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"variant": name, "error": f"did not finish within {timeout:.0f} s"}
    return run_record(name, run, proc.stderr, time.perf_counter() - start, load_before, proc.returncode)


def run_record(name: str, run: Path, time_v_output: str, wall: float, load_before: float, exit_code: int) -> dict:
    """One variant's row from its run folder and `/usr/bin/time -v`'s report."""
    row = {"variant": name, "command": "mats-eval fit DATA --model ratings --out RUN " + " ".join(VARIANTS[name]),
           "wall": wall, "load_before": load_before, "load_after": load_average(),
           "peak_rss_mb": peak_rss_mb(time_v_output), "cpu_seconds": cpu_seconds(time_v_output),
           "exit_code": exit_code}
    if not (run / "manifest.json").is_file():
        return {**row, "error": (time_v_output.strip().splitlines() or ["failed"])[-30:]}
    manifest = json.loads((run / "manifest.json").read_text())
    diag = json.loads((run / "diagnostics.json").read_text())
    timings = manifest["timings_seconds"]
    row.update(
        stages={k: round(timings[k], 1) for k in STAGES if k in timings},
        post_fit_seconds=round(sum(timings.get(k, 0.0) for k in STAGES[3:]), 1),
        settings={k: manifest.get(k) for k in ("sampler", "draws", "tune", "chains", "seed") if k in manifest},
        passed=diag["passed"], failures=diag["failures"], rhat_max=diag["rhat_max"],
        ess_bulk_min=diag["ess_bulk_min"], ess_tail_min=diag["ess_tail_min"], divergences=diag["divergences"],
        ess_bulk_per_sampling_s=(diag["ess_bulk_min"] or 0) / timings["sampling"],
        post_fit_limits=diag.get("post_fit_limits", {}), run_folder_mb=round(folder_mb(run), 1),
    )
    return row


def markdown(rows: list[dict]) -> str:
    head = ("| variant | wall s | compile s | sampling s | post-fit s | peak RSS MB | min bulk ESS | ESS/s | "
            "R-hat | div | gate | load |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['variant']} | error: {str(r['error'])[-200:]} |" + " |" * 10)
            continue
        s = r["stages"]
        lines.append(f"| {r['variant']} | {r['wall']:.0f} | {s['compile']:.0f} | {s['sampling']:.0f} | "
                     f"{r['post_fit_seconds']:.0f} | {r['peak_rss_mb']:.0f} | {r['ess_bulk_min']:.0f} | "
                     f"{r['ess_bulk_per_sampling_s']:.2f} | {r['rhat_max']:.3f} | {r['divergences']} | "
                     f"{'pass' if r['passed'] else 'FAIL'} | {r['load_before']:.1f}–{r['load_after']:.1f} |")
    return "\n".join(lines)


def merged(out: Path, rows: list[dict]) -> list[dict]:
    """Earlier rows of --out for other variants, then this run's rows."""
    earlier = json.loads(out.read_text())["runs"] if out.is_file() else []
    names = {r["variant"] for r in rows}
    return [r for r in earlier if r["variant"] not in names] + rows


def main(
    variants: Annotated[str, typer.Option(help=f"Comma-separated, of {', '.join(VARIANTS)}.")] = "default,large",
    seed: Annotated[int, typer.Option(min=0, help="Simulator seed of the dataset.")] = 1,
    scale: Annotated[float, typer.Option(help="Scholars-per-cohort multiplier (1 = the real-world size).")] = 1.0,
    timeout: Annotated[float, typer.Option(help="Seconds per fit before giving up.")] = 4 * 3600.0,
    out: Annotated[Path, typer.Option(help="JSON of the results (merged by variant).")] = DEFAULT_OUT,
    keep: Annotated[Path | None, typer.Option(help="Keep the data and run folders here.")] = None,
) -> None:
    names = variants.split(",")
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise typer.BadParameter(f"unknown variants {sorted(unknown)}", param_hint="--variants")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(keep) if keep is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        data = write_scenario("large-ratings", seed=seed, out=work / "data", force=True, scale=scale)
        size = data_size(data)
        print(f"data: {size}", flush=True)
        rows = []
        for name in names:
            rows.append({**run_variant(name, data, work, timeout), "data": size, "seed": seed, "scale": scale,
                         "cpus": os.cpu_count()})
            print(markdown(rows[-1:]), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"generated": time.strftime("%Y-%m-%d %H:%M"), "runs": merged(out, rows)}, indent=1)
                   + "\n")
    print(markdown(json.loads(out.read_text())["runs"]))


if __name__ == "__main__":
    script(main, __doc__)
