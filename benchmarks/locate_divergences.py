"""Where does a fit diverge? Refit one simulated dataset with nutpie's `store_divergences` and name
the coordinates and model terms of every divergent trajectory.

    .venv/bin/python benchmarks/locate_divergences.py --scenario mats-history --seed 1567960361
    .venv/bin/python benchmarks/locate_divergences.py --seed 1451521115 --target-accept 0.8 --out DIR

Fits the model `mats-eval fit` chooses for the data, with the default chains and draws, on the
same JAX backend, sampler seed = dataset seed. For each divergence it prints the coordinates
furthest from the posterior mean at the trajectory's start (in posterior sds), the gradient there
times the posterior sd (a Gaussian gives |value| ≈ the distance in sds; far more means a funnel or
a banana), and the log density of every model term at the end minus the start (which term blew
up). Coordinates are read in nutpie's own order (`unconstrained_draw`'s labels), which is not
the order of `model.free_RVs`.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from mats_eval.cli_options import Scale, Seed, TargetAccept, script


def value_var_of(label: str, value_names: list[str]) -> str:
    """The value variable an unconstrained label (`<name>`, `<name>_3`, `<name>_1.7`) belongs to."""
    for name in sorted(value_names, key=len, reverse=True):
        suffix = label[len(name) + 1:]
        if label == name or (label.startswith(name + "_") and suffix.replace(".", "").isdigit()):
            return name
    raise KeyError(label)


def point_maker(model, labels: list[str]):
    """unconstrained vector (nutpie's order) -> {value var name: array} for model.compile_fn."""
    initial = model.initial_point()
    owner = np.array([value_var_of(label, list(initial)) for label in labels])
    index = {name: np.flatnonzero(owner == name) for name in initial}
    return lambda vec: {name: np.asarray(vec)[idx].reshape(np.shape(initial[name])) for name, idx in index.items()}


def top(values: np.ndarray, labels: list[str], k: int = 6) -> dict[str, float]:
    order = np.argsort(-np.abs(values))[:k]
    return {labels[i]: round(float(values[i]), 2) for i in order}


def main(
    seed: Seed,
    scenario: Annotated[str, typer.Option(help="Simulator scenario of the dataset.")] = "mats-history",
    scale: Scale = 1.0,
    target_accept: TargetAccept = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for <scenario>-<seed>.json.")] = None,
) -> None:
    warnings.simplefilter("ignore")
    import nutpie

    from mats_eval.constants import DEFAULT_CHAINS, DEFAULT_DRAWS, DEFAULT_TARGET_ACCEPT, DEFAULT_TUNE
    from mats_eval.data.design import build_design
    from mats_eval.models import build_model, default_model_for
    from mats_eval.simulation.scenarios import simulate

    target_accept = target_accept or DEFAULT_TARGET_ACCEPT
    program = simulate(scenario, seed=seed, scale=scale).program_data()
    model_name = default_model_for(program)
    model = build_model(model_name, build_design(program), None)
    compiled = nutpie.compile_pymc_model(model, backend="jax", gradient_backend="jax")
    trace = nutpie.sample(compiled, draws=DEFAULT_DRAWS, tune=DEFAULT_TUNE, chains=DEFAULT_CHAINS, seed=seed,
                          target_accept=target_accept, progress_bar=False, store_divergences=True,
                          store_unconstrained=True)
    stats = trace["sample_stats"].to_dataset()
    draws = stats["unconstrained_draw"]
    labels = [str(v) for v in draws.coords[draws.dims[-1]].values]
    flat = draws.values.reshape(-1, len(labels))
    mean, sd = flat.mean(0), flat.std(0)
    point = point_maker(model, labels)
    terms = model.basic_RVs + list(model.potentials)
    term_logp = model.compile_fn(model.logp(vars=terms, sum=False, jacobian=True), point_fn=True)

    def logp_by_term(vec) -> np.ndarray:
        return np.array([float(np.sum(v)) for v in term_logp(point(vec))])

    diverging = stats["diverging"].values
    report = {"scenario": scenario, "seed": seed, "scale": scale, "model": model_name,
              "target_accept": target_accept, "draws": DEFAULT_DRAWS, "tune": DEFAULT_TUNE, "chains": DEFAULT_CHAINS,
              "divergences": int(diverging.sum()), "leapfrog_steps_per_draw": float(stats["n_steps"].mean()),
              "trajectories": []}
    print(f"{scenario} seed {seed}, {model_name} model, target_accept {target_accept}: "
          f"{report['divergences']} divergences, {report['leapfrog_steps_per_draw']:.1f} leapfrog steps per draw")
    for chain, draw in zip(*np.nonzero(diverging)):
        start = stats["divergence_start"].values[chain, draw]
        end = stats["divergence_end"].values[chain, draw]
        gradient = stats["divergence_start_gradient"].values[chain, draw]
        change = logp_by_term(end) - logp_by_term(start)
        by_term = {terms[i].name: round(float(change[i]), 1) for i in np.argsort(-np.abs(change))[:5]}
        entry = {"chain": int(chain), "draw": int(draw), "start_in_sds": top((start - mean) / sd, labels),
                 "gradient_times_sd": top(gradient * sd, labels), "logp_end_minus_start": by_term}
        report["trajectories"].append(entry)
        print(f"chain {chain} draw {draw}")
        for key in ("start_in_sds", "gradient_times_sd", "logp_end_minus_start"):
            print(f"  {key}: " + ", ".join(f"{k}={v}" for k, v in entry[key].items()))
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{scenario}-{seed}.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    script(main, __doc__)
