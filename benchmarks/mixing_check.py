"""Which parameters mix slowest? Refit simulated datasets as `mats-eval fit` fits them and print, per
dataset, the parameters with the lowest bulk ESS (with their R-hat and tail ESS), the sampling time
and the leapfrog steps per draw; optionally under a priors file, to compare parametrisations or priors
on the same datasets.

    .venv/bin/python benchmarks/mixing_check.py --seeds 2142049661,1376192420,1081972499
    .venv/bin/python benchmarks/mixing_check.py --seeds 2142049661 --priors old.yaml --sampler nutpie-jax
    .venv/bin/python benchmarks/mixing_check.py --scenario confounded --seeds 1091406573 --adaptation low_rank

The model `mats-eval fit` chooses for the data, the default chains and draws, sampler seed = dataset
seed (as the coverage study's fits). With --out, one JSON row per fit is appended to that file.
"""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from mats_eval.cli_options import PriorsFile, Sampler, Scale, TargetAccept, script
from mats_eval.inference.samplers import DEFAULT_SAMPLER


def slowest(posterior, k: int) -> list[dict]:
    """The k variables with the lowest bulk ESS over their elements, with their worst R-hat and tail ESS."""
    from mats_eval.inference.diagnostics import convergence

    rows = [{"variable": name, "rhat_max": float(np.nanmax(s["rhat"])), "ess_bulk_min": float(np.nanmin(s["ess_bulk"])),
             "ess_tail_min": float(np.nanmin(s["ess_tail"]))} for name, s in convergence(posterior).items()]
    return sorted(rows, key=lambda r: r["ess_bulk_min"])[:k]


def main(
    seeds: Annotated[str, typer.Option(help="Dataset seeds, comma-separated (the sampler's seed is the same).")],
    scenario: Annotated[str, typer.Option(help="Simulator scenario of the datasets.")] = "mats-history",
    scale: Scale = 1.0,
    sampler: Sampler = DEFAULT_SAMPLER,
    target_accept: TargetAccept = None,
    priors: PriorsFile = None,
    adaptation: Annotated[str, typer.Option(help="nutpie's mass matrix adaptation: diag (the default) or "
                                                 "low_rank (nutpie samplers only).")] = "diag",
    top: Annotated[int, typer.Option(min=1, help="How many of the slowest parameters to print.")] = 5,
    out: Annotated[Optional[Path], typer.Option(help="JSON-lines file to append one row per fit to.")] = None,
) -> None:
    warnings.simplefilter("ignore")
    from mats_eval.constants import DEFAULT_CHAINS, DEFAULT_DRAWS, DEFAULT_TUNE
    from mats_eval.data.design import build_design
    from mats_eval.inference.diagnostics import diagnose
    from mats_eval.inference.fitting import sample_posterior
    from mats_eval.models import build_model, default_model_for
    from mats_eval.models.priors import read_priors_file
    from mats_eval.simulation.scenarios import simulate

    overrides = read_priors_file(priors) if priors else None
    for seed in (int(s) for s in seeds.split(",")):
        program = simulate(scenario, seed=seed, scale=scale).program_data()
        model_name = default_model_for(program)
        model = build_model(model_name, build_design(program), overrides)
        start = time.perf_counter()
        idata, timings = sample_posterior(model, sampler=sampler, draws=DEFAULT_DRAWS, tune=DEFAULT_TUNE,
                                          chains=DEFAULT_CHAINS, seed=seed, progress=False,
                                          target_accept=target_accept,
                                          nuts=None if adaptation == "diag" else {"adaptation": adaptation})
        row = {"scenario": scenario, "seed": seed, "scale": scale, "model": model_name, "sampler": sampler,
               "priors": str(priors) if priors else None, "target_accept": target_accept, "adaptation": adaptation,
               "wall": time.perf_counter() - start, "sampling": timings["sampling"],
               "leapfrog_steps_per_draw": float(idata["sample_stats"]["n_steps"].mean()),
               "divergences": int(diagnose(idata)["divergences"]), "slowest": slowest(idata["posterior"], top)}
        print(f"{scenario} seed {seed} ({model_name}, {sampler}, {adaptation}{', ' + str(priors) if priors else ''}): "
              f"sampling {row['sampling']:.0f} s, {row['leapfrog_steps_per_draw']:.1f} steps per draw, "
              f"{row['divergences']} divergences", flush=True)
        for r in row["slowest"]:
            print(f"  {r['variable']:<45} R-hat {r['rhat_max']:.4f}  bulk ESS {r['ess_bulk_min']:6.0f}  "
                  f"tail ESS {r['ess_tail_min']:6.0f}", flush=True)
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    script(main, __doc__)
