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
    .venv/bin/python benchmarks/cohort_leak.py --reps 10 --out benchmarks/results/cohort_leak

Resumable (one JSON per dataset under --out/tasks/). The number of datasets is fixed before the
run: 10 (2026-11-30, session 16). The pinned fits are read from --coverage (the coverage study's
tasks); a dataset missing there is skipped. Writes --out/paired.csv (per estimand: datasets,
mean of pinned − alike with its standard error, the bias of each version against the truth).
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


def main(
    reps: Annotated[int, typer.Option(min=1, help="Datasets: the coverage study's first REPS mats-history keys.")] = 10,
    out: Annotated[Path, typer.Option(help="Study folder (tasks/ and paired.csv).")] = HERE / "results" / "cohort_leak",
    coverage: Annotated[Path, typer.Option(help="The coverage study's folder with the pinned fits' tasks/.")]
    = COVERAGE,
) -> None:
    """Refit the coverage study's mats-history datasets with the cohorts alike; pair the estimates."""
    warnings.simplefilter("ignore")
    from mats_eval.simulation import scenarios
    from mats_eval.studies.calibration import coverage_replication

    scenarios.SCENARIOS[SCENARIO] = cohorts_alike(scenarios.SCENARIOS[SCENARIO])
    (out / "tasks").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(reps):
        key = f"{SCENARIO}-{i:04d}"
        pinned_file, done = coverage / "tasks" / f"{key}.json", out / "tasks" / f"{key}.json"
        if not pinned_file.is_file():
            print(f"{key}: not in {coverage}; skipped", flush=True)
            continue
        pinned = json.loads(pinned_file.read_text())
        if not done.is_file():
            start = time.perf_counter()
            alike = coverage_replication(**pinned["args"])
            row = {"key": key, "args": pinned["args"], "seconds": time.perf_counter() - start,
                   "alike_reliable": alike["reliable"], "pinned_reliable": pinned["result"]["reliable"],
                   "estimands": {name: {"truth": v["truth"], "pinned_mean": pinned["result"]["estimands"][name]["mean"],
                                        "alike_mean": v["mean"], "alike_covered": v["covered"],
                                        "truth_same": v["truth"] == pinned["result"]["estimands"][name]["truth"]}
                                 for name, v in alike["estimands"].items() if name in pinned["result"]["estimands"]}}
            done.write_text(json.dumps(row, indent=1))
            policy = row["estimands"]["mandatory_minus_optional_rating"]
            print(f"{key}: rating policy contrast pinned {policy['pinned_mean']:+.3f}, alike {policy['alike_mean']:+.3f},"
                  f" truth {policy['truth']:+.3f} ({row['seconds']:.0f} s)", flush=True)
        rows.append(json.loads(done.read_text()))
    if rows:
        table = paired_table(rows)
        table.to_csv(out / "paired.csv", index=False)
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))


if __name__ == "__main__":
    script(main)
