"""Where does mats-history's policy bias come from? The same datasets with the three cohorts made alike.

Every mats-history dataset has the same realised cohort effects (scenarios._mats_history `pinned`):
on the rating scale MATS 3.0, the one cohort with mandatory seminars and discussion groups, sits at
−0.10 and the optional cohorts at −0.20 and +0.30, so the mandatory cohort is 0.15 latent units
(0.18 rating points) below the optional cohorts' mean. Where policy changes between cohorts, partial
pooling of the cohort effects can leave part of that difference in the policy coefficient. This study
refits the full-scale coverage study's first datasets with every pinned cohort effect set to 0 and
nothing else changed (the simulator draws the pinned effects' random stand-ins and then overrides
them, so every other draw is the same), fitted exactly as the coverage study fits them (same
dataset seed, sampler seed, model, chains and draws). The paired difference of each estimand's
posterior mean, pinned minus alike, is the part of the coverage study's bias that the cohort
configuration causes; its mean over datasets has a small Monte Carlo error because everything else
is shared.

    source scripts/env.sh
    .venv/bin/python benchmarks/cohort_leak.py --reps 50 --workers 2 --out benchmarks/results/cohort_leak_v2

Resumable (one JSON per dataset under --out/tasks/; a rerun skips the finished ones). The number of
datasets is fixed before a run: 10 for the first (2026-11-30, session 16, `results/cohort_leak/`,
paired with session 16's fits: --coverage benchmarks/results/coverage_full_s16/mats-history), 50
for the second (2026-12-01, session 24, `results/cohort_leak_v2/`, paired with the rerun of the
coverage study on main's models). The pinned fits are read from --coverage (the coverage study's
tasks); a dataset missing there is skipped. Writes --out/paired.csv (per estimand: datasets, mean
of pinned − alike with its standard error, the bias of each version against the truth).
"""
from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from mats_eval.cli_options import script

HERE = Path(__file__).resolve().parent
COVERAGE = HERE / "results" / "coverage_full" / "mats-history"
SCENARIO = "mats-history"


def cohorts_alike(make):
    """The scenario builder `make` with every pinned realised cohort effect set to 0."""
    def alike(rng):
        scenario = make(rng)
        pinned = {name: {cohort: 0.0 for cohort in values} for name, values in scenario.pinned.items()}
        return dataclasses.replace(scenario, pinned=pinned)
    alike.alike = True
    return alike


def paired_table(rows: list[dict]) -> pd.DataFrame:
    """Per estimand: datasets, mean and SE of (pinned − alike) posterior means, each version's bias and SE."""
    long = pd.DataFrame([{"key": r["key"], "estimand": name, "truth": v["truth"], "pinned": v["pinned_mean"],
                          "alike": v["alike_mean"]} for r in rows for name, v in r["estimands"].items()])
    out = []
    for name, g in long.groupby("estimand", sort=True):
        n = len(g)
        diff = g["pinned"] - g["alike"]
        se = lambda x: float(x.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")  # noqa: E731
        out.append({"estimand": name, "datasets": n, "pinned_minus_alike": float(diff.mean()),
                    "pinned_minus_alike_se": se(diff),
                    "bias_pinned": float((g["pinned"] - g["truth"]).mean()), "bias_pinned_se": se(g["pinned"] - g["truth"]),
                    "bias_alike": float((g["alike"] - g["truth"]).mean()), "bias_alike_se": se(g["alike"] - g["truth"])})
    return pd.DataFrame(out)


def alike_task(coverage: str, key: str) -> dict:
    """Refit `key`'s dataset with the cohorts alike, fitted as the coverage study fitted it; pair the means."""
    from mats_eval.simulation import scenarios
    from mats_eval.studies.calibration import coverage_replication

    warnings.simplefilter("ignore")
    if not getattr(scenarios.SCENARIOS[SCENARIO], "alike", False):  # once per worker process
        scenarios.SCENARIOS[SCENARIO] = cohorts_alike(scenarios.SCENARIOS[SCENARIO])
    pinned = json.loads((Path(coverage) / "tasks" / f"{key}.json").read_text())
    start = time.perf_counter()
    alike = coverage_replication(**pinned["args"])
    return {"key": key, "args": pinned["args"], "seconds": time.perf_counter() - start,
            "alike_reliable": alike["reliable"], "pinned_reliable": pinned["result"]["reliable"],
            "estimands": {name: {"truth": v["truth"], "pinned_mean": pinned["result"]["estimands"][name]["mean"],
                                 "alike_mean": v["mean"], "alike_covered": v["covered"],
                                 "truth_same": v["truth"] == pinned["result"]["estimands"][name]["truth"]}
                          for name, v in alike["estimands"].items() if name in pinned["result"]["estimands"]}}


def pair_row(record: dict) -> dict:
    """A task file's paired row: run_study's record holds it under "result" (session 16's files are the row)."""
    return record.get("result", record)


def main(
    reps: Annotated[int, typer.Option(min=1, help="Datasets: the coverage study's first REPS mats-history keys.")] = 10,
    out: Annotated[Path, typer.Option(help="Study folder (tasks/ and paired.csv).")] = HERE / "results" / "cohort_leak",
    coverage: Annotated[Path, typer.Option(help="The coverage study's folder with the pinned fits' tasks/.")]
    = COVERAGE,
    workers: Annotated[int, typer.Option(min=0, help="Fits side by side (0: in this process).")] = 1,
) -> None:
    """Refit the coverage study's mats-history datasets with the cohorts alike; pair the estimates."""
    from mats_eval.studies.runner import run_study

    keys = [f"{SCENARIO}-{i:04d}" for i in range(reps)]
    missing = [k for k in keys if not (coverage / "tasks" / f"{k}.json").is_file()]
    for key in missing:
        print(f"{key}: not in {coverage}; skipped", flush=True)
    tasks = {k: {"coverage": str(coverage), "key": k} for k in keys if k not in missing}
    records = run_study(alike_task, tasks, out, workers=workers, description="cohorts alike")
    failed = [r["key"] for r in records if r.get("status", "ok") != "ok"]
    rows = [pair_row(r) for r in records if r.get("status", "ok") == "ok"]
    for key in failed:
        print(f"{key}: the alike fit failed (see {out / 'tasks' / (key + '.json')})", flush=True)
    for row in rows:
        policy = row["estimands"]["mandatory_minus_optional_rating"]
        print(f"{row['key']}: rating policy contrast pinned {policy['pinned_mean']:+.3f}, alike {policy['alike_mean']:+.3f},"
              f" truth {policy['truth']:+.3f} ({row['seconds']:.0f} s)", flush=True)
    if rows:
        table = paired_table(rows)
        table.to_csv(out / "paired.csv", index=False)
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))


if __name__ == "__main__":
    script(main)
