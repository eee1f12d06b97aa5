"""Does NUTS give back the joint model's scholar-effect prior? (benchmarks/RESULTS.md, session 18)

Samples the prior of the two scholar sds and their correlation alone (no data) with NUTS and
compares the sds' quantiles with the half-normal they are given, in two parametrisations of the
same prior:

- `lkj_cholesky`: pm.LKJCholeskyCov(n=2, η=2, sd_dist=HalfNormal(1)), the joint model's form
  until session 18 (the sampler moves the Cholesky entries);
- `package`: mats_eval.models.joint.correlated_scholars, σ_u and σ_r from their own priors and
  (ρ + 1)/2 ~ Beta(2, 2).

    .venv/bin/python benchmarks/scholar_prior_nuts.py            # the table in RESULTS.md
    .venv/bin/python benchmarks/scholar_prior_nuts.py --draws 5000  # quicker

Writes benchmarks/results/scholar_prior_nuts.csv.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import pymc as pm
from arviz_stats.base import array_stats
import typer
from scipy import stats

from mats_eval.cli_options import script
from mats_eval.models.joint import LKJ_ETA, SCHOLAR_SDS, correlated_scholars, joint_priors

OUT = Path(__file__).parent / "results" / "scholar_prior_nuts.csv"
RUNS = [("lkj_cholesky", "nutpie", 3), ("lkj_cholesky", "nutpie", 4), ("lkj_cholesky", "pymc", 5),
        ("package", "nutpie", 3), ("package", "nutpie", 4), ("package", "pymc", 5)]


def prior_model(form: str) -> pm.Model:
    """The scholar block alone, for 3 scholars, with its sds as Deterministics or free variables."""
    with pm.Model(coords={"scholar_effect": ["attendance", "rating"], "scholar": ["a", "b", "c"]}) as model:
        if form == "lkj_cholesky":
            packed = pm.LKJCholeskyCov("scholar_cov", n=2, eta=LKJ_ETA, compute_corr=False,
                                       sd_dist=pm.HalfNormal.dist(sigma=np.ones(2), shape=2))
            chol = pm.math.expand_packed_triangular(2, packed, lower=True)
            sds = pm.math.sqrt((chol @ chol.T).diagonal())
            pm.Deterministic(SCHOLAR_SDS[0], sds[0])
            pm.Deterministic(SCHOLAR_SDS[1], sds[1])
        else:
            correlated_scholars(joint_priors(), 3)
    return model


def one_run(form: str, sampler: str, seed: int, draws: int) -> list[dict]:
    with prior_model(form):
        idata = pm.sample(draws=draws, tune=2000, chains=4, random_seed=seed, progressbar=False,
                          nuts_sampler=sampler, target_accept=0.9)
    rows = []
    for name in SCHOLAR_SDS:
        x = np.asarray(idata["posterior"][name].values)  # (chain, draw)
        rows.append({"form": form, "sampler": sampler, "seed": seed, "parameter": name,
                     "draws": x.size, "ess_bulk": float(array_stats.ess(x, chain_axis=0, draw_axis=1)),
                     "q01": np.quantile(x, 0.01), "q10": np.quantile(x, 0.10), "median": np.median(x),
                     "q01_prior": stats.halfnorm.ppf(0.01), "q10_prior": stats.halfnorm.ppf(0.10),
                     "median_prior": stats.halfnorm.ppf(0.5)})
    return rows


def main(draws: Annotated[int, typer.Option(min=100, help="Draws per chain (4 chains).")] = 25_000) -> None:
    table = pd.DataFrame([row for run in RUNS for row in one_run(*run, draws)])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT, index=False, float_format="%.4g")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    script(main, __doc__)
