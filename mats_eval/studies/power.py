"""Design of the next cohort's experiment: how likely is each candidate design to find the effect?

For a candidate design d (allocation, cohort size, weeks) and assumed true
effects θ*, repeat R times: simulate a dataset of d under θ*, fit, and record
whether the posterior puts more than 97.5% of its mass on the side of the truth
(the two-sided 5% rule):
    power(d) = P(P(sign(θ) = sign(θ*) | y) > 0.975 | d, θ*) ≈ (1/R) Σ_r 1[...]
reported with a Wilson interval, and the expected 90% HDI width E[hi − lo].
Assurance: with a prior on the assumed effects (`effect_prior`, name → (mean, sd), normal), each
replication draws its own θ* from it (the same draws for every design), and the same share is
    assurance(d) = E_θ*[power(d, θ*)] ≈ (1/R) Σ_r 1[detected_r | θ*_r ~ prior],
the chance of a convincing result averaged over what we believe about the effect, not at one guess.
With a true effect of exactly 0 the same share is the false-positive rate: the
rule "the 90% HDI excludes 0" would be wrong ~10% of the time by construction
(12 of 100 null datasets in the 2026-11-27 study, benchmarks/HISTORY.md), this one ~5% (7 of 100).

Allocations (the policy manipulated is that of seminars; discussion groups and
socials stay optional):
- between-cohort: two cohorts of `scholars` each (the new one and a comparison
  cohort with the same programme); seminars mandatory in one, optional in the
  other. Policy is confounded with cohort, so only the cohort-sd prior separates them.
- alternate-weeks: one cohort; seminar policy alternates week by week.
- randomise-sessions: one cohort; each week's seminars are split at random, half
  mandatory and half optional (an odd one goes either way), so policy varies within
  the week and every session is run once (an earlier scholar-randomised design ran
  each seminar twice, one copy per arm, and the copies counted twice towards the
  weekly load).
The model fitted is the package's default for the simulated data (the joint model:
selection by scholar corrected), unless one is named; a model that corrects nothing
overstates power when keen scholars choose optional sessions.
The generator reuses simulate.py's building blocks (parameters, sessions,
scholars, attendance and rating draws), so the data follow the same model.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mats_eval.errors import UsageError
from mats_eval.inference.samplers import DEFAULT_SAMPLER
from mats_eval.studies.runner import ok_results, run_study, task_seed

ALLOCATIONS = ("between-cohort", "alternate-weeks", "randomise-sessions")
DEFAULT_ESTIMAND = "mandatory_minus_optional_rating"
POWER_COLUMNS = ["design", "allocation", "scholars", "weeks", "seminars_per_week", "estimand", "truth", "reps",
                 "power", "power_low", "power_high", "mean_width", "mean_estimate", "reliable_share", "failed",
                 "effect_prior"]


@dataclass(frozen=True)
class ExperimentDesign:
    """A candidate experiment: allocation of the seminar policy, scholars per cohort, weeks, seminars a week."""

    allocation: str
    scholars: int = 40
    weeks: int = 8
    seminars_per_week: int = 3

    def __post_init__(self):
        if self.allocation not in ALLOCATIONS:
            raise UsageError(f"unknown allocation {self.allocation!r}; choose from {', '.join(ALLOCATIONS)}")
        if self.scholars < 4 or self.weeks < 2 or self.seminars_per_week < 1:
            raise UsageError(f"need scholars >= 4, weeks >= 2 and seminars_per_week >= 1 (got {self})")

    @property
    def label(self) -> str:
        return f"{self.allocation}-n{self.scholars}-w{self.weeks}-s{self.seminars_per_week}"


# --- assumed effects ------------------------------------------------------------------

def default_effects(scenario: str = "mats-history") -> dict[str, float]:
    """The scalar true parameters of a simulator scenario (BASE_PARAMS for mats-history)."""
    from mats_eval.simulation.scenarios import get_scenario

    params = get_scenario(scenario)(np.random.default_rng(0)).params
    return {k: float(v) for k, v in params.items() if isinstance(v, (int, float))}


def parse_effect_prior(items) -> dict[str, tuple[float, float]]:
    """['rating_mandatory=-0.5,0.25', ...] -> {'rating_mandatory': (-0.5, 0.25)}: a normal prior (mean, sd > 0)
    on a scalar simulator parameter, for assurance."""
    known = default_effects()
    out = {}
    for item in items or ():
        name, sep, value = str(item).partition("=")
        name, parts = name.strip(), value.split(",")
        if not sep or name not in known or len(parts) != 2:
            raise UsageError(f"--effect-prior {item!r}: expected NAME=MEAN,SD with NAME one of {', '.join(sorted(known))}")
        try:
            mean, sd = (float(x) for x in parts)
        except ValueError:
            raise UsageError(f"--effect-prior {item!r}: {value!r} is not two numbers") from None
        if not sd > 0:
            raise UsageError(f"--effect-prior {item!r}: the sd must be > 0")
        out[name] = (mean, sd)
    return out


def prior_words(effect_prior: dict | None) -> str:
    """'rating_mandatory ~ Normal(-0.5, 0.25)' ('' without a prior)."""
    return "; ".join(f"{n} ~ Normal({m:g}, {sd:g})" for n, (m, sd) in sorted((effect_prior or {}).items()))


def parse_effects(items) -> dict[str, float]:
    """['rating_mandatory=-0.5', ...] -> {'rating_mandatory': -0.5}; names must be scalar simulator parameters."""
    known = default_effects()
    out = {}
    for item in items or ():
        name, sep, value = str(item).partition("=")
        name = name.strip()
        if not sep or name not in known:
            raise UsageError(f"--effect {item!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(known))}")
        try:
            out[name] = float(value)
        except ValueError:
            raise UsageError(f"--effect {item!r}: {value!r} is not a number") from None
    return out


# --- the design-parametrised generator -----------------------------------------------

def seminar_counts(design: ExperimentDesign) -> tuple[int, ...]:
    """Seminars a week: one extra in the first third (front-loaded, so volume varies within the cohort)."""
    return tuple(design.seminars_per_week + (1 if w < max(design.weeks // 3, 1) else 0) for w in range(design.weeks))


def experiment_plans(design: ExperimentDesign):
    """The cohorts of the experiment (simulate.CohortPlan); randomise-sessions' policies are drawn later."""
    from mats_eval.simulation.scenarios import CohortPlan, alternating, constant, programme

    n = design.weeks

    def plan(name: str, code: str, seminar_policy) -> CohortPlan:
        return CohortPlan(name, code, design.scholars, n, retro_scale=None, programme=(
            programme("seminar", seminar_counts(design), seminar_policy, 1.0, True),
            programme("discussion_group", constant(n, 1), "optional", 1.5),
            programme("social", constant(n, 1), "optional", 2.0),
        ))

    if design.allocation == "between-cohort":
        return (plan("Next cohort", "sn", "mandatory"), plan("Comparison cohort", "sp", "optional"))
    if design.allocation == "alternate-weeks":
        return (plan("Next cohort", "sn", alternating(n, "mandatory")),)
    return (plan("Next cohort", "sn", "mandatory"),)


def randomise_seminar_policy(sessions: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """randomise-sessions: in each week, a random half of the seminars mandatory, the rest optional
    (with an odd count, the middle one mandatory or optional at random)."""
    sessions = sessions.copy()
    for _, rows in sessions[sessions["kind"] == "seminar"].groupby(["cohort", "week"]):
        order = rng.permutation(rows.index.to_numpy())
        n_mandatory = len(order) // 2 + (rng.random() < 0.5 if len(order) % 2 else 0)
        sessions.loc[order, "policy"] = np.where(np.arange(len(order)) < n_mandatory, "mandatory", "optional")
    return sessions


def simulate_experiment(design: ExperimentDesign, effects: dict | None = None, seed: int = 0):
    """A SimulatedDataset of `design` with true parameters BASE_PARAMS ⊕ effects (simulate.py's generative model)."""
    from mats_eval.estimands import kernels as estimands
    from mats_eval.simulation import scenarios as sim
    from mats_eval.data.design import session_volume

    plans = experiment_plans(design)
    scenario = sim.Scenario(plans, {**sim.BASE_PARAMS, **(effects or {})})
    groups, sessions_rng, scholars_rng, outcomes = (np.random.default_rng(s) for s in
                                                    np.random.SeedSequence(int(seed)).spawn(4))
    p = sim.draw_parameters(scenario, groups)
    sessions = sim.build_sessions(plans, {"all": sorted(p["rating_speaker"])}, sessions_rng)
    scholars, latent = sim.build_scholars(plans, p, scholars_rng)
    if design.allocation == "randomise-sessions":
        sessions = randomise_seminar_policy(sessions, sessions_rng)
    pairs, _ = sim.draw_attendance(sessions.assign(volume=session_volume(sessions)), scholars, latent, p, outcomes)
    ratings = sim.draw_ratings(pairs, {c.name: c.session_scale for c in plans}, p, outcomes)
    recorded = pairs[outcomes.random(len(pairs)) >= p["obs_missing_rate"]]
    tables = {
        "cohorts": sim.cohorts_table(plans), "scholars": scholars, "sessions": sessions,
        "attendance": recorded[["session_id", "scholar_id", "attended"]].reset_index(drop=True),
        "ratings": ratings, "retrospective": None,
    }
    ref = estimands.reference_from(sim.program_data_from_tables(tables))
    truth = {k: v for k, v in sim.true_estimands(p, ref).items()}
    return sim.SimulatedDataset(scenario=f"power:{design.label}", seed=int(seed), scale=1.0, tables=tables,
                                parameters={}, truth=truth, reference=ref)


# --- one replication and the study ---------------------------------------------------------

def model_for(estimand: str, data=None) -> str:
    """The package's default model for `data` (models.default_model_for) when it reports `estimand`,
    else the smallest registered model (fewest canonical outputs) whose spec provides it."""
    from mats_eval.models import MODELS, default_model_for

    if data is not None and estimand in MODELS[default_model_for(data)].provides:
        return default_model_for(data)
    candidates = [spec for spec in MODELS.values() if estimand in spec.provides]
    if not candidates:
        raise UsageError(f"no registered model provides {estimand!r}")
    return min(candidates, key=lambda spec: len(spec.outputs)).name


DETECTION_PROBABILITY = 0.975  # two-sided 5%: P(effect on one side) beyond 0.975


def detected(truth: float, prob_positive: float) -> bool:
    """P(effect > 0 | y) beyond DETECTION_PROBABILITY on the side of the truth (either side when the truth is 0)."""
    positive, negative = prob_positive > DETECTION_PROBABILITY, prob_positive < 1 - DETECTION_PROBABILITY
    if truth > 0:
        return positive
    if truth < 0:
        return negative
    return positive or negative


def power_replication(allocation: str, scholars: int, weeks: int, seminars_per_week: int, effects: dict, seed: int,
                      estimand: str = DEFAULT_ESTIMAND, model: str | None = None, draws: int = 500, tune: int = 500,
                      chains: int = 2, sampler: str = DEFAULT_SAMPLER) -> dict:
    """Simulate the design, fit, and summarise the target estimand: truth, mean, HDI, width, prob_positive,
    detected. Predictive checks and LOO are skipped: they do not change the posterior."""
    from mats_eval.inference.fitting import study_fit

    design = ExperimentDesign(allocation, scholars, weeks, seminars_per_week)
    data = simulate_experiment(design, effects, seed)
    program = data.program_data()
    model = model or model_for(estimand, program)
    result = study_fit(program, model, draws=draws, tune=tune, chains=chains, seed=seed, sampler=sampler)
    row = result.effects.set_index("estimand")
    if estimand not in row.index:
        raise UsageError(f"model {model!r} does not report {estimand!r}")
    low, high, truth = float(row.at[estimand, "hdi_low"]), float(row.at[estimand, "hdi_high"]), data.truth[estimand]
    prob_positive = float(row.at[estimand, "prob_positive"])
    return {"truth": truth, "mean": float(row.at[estimand, "mean"]), "hdi_low": low, "hdi_high": high,
            "width": high - low, "prob_positive": prob_positive, "detected": detected(truth, prob_positive),
            "reliable": result.reliable}


def power_tasks(designs, effects: dict, reps: int, seed: int = 0, effect_prior: dict | None = None,
                **settings) -> dict[str, dict]:
    """<design label>-r000 ..: each design's reps share seeds across designs (common random numbers); with an
    effect prior, replication i's effects are drawn from it once, the same for every design."""
    per_rep = []
    for i in range(reps):
        rng = np.random.default_rng(task_seed(seed, f"prior-r{i:03d}") % 2**31)
        per_rep.append({**effects, **{name: float(rng.normal(mean, sd))
                                      for name, (mean, sd) in sorted((effect_prior or {}).items())}})
    return {f"{d.label}-r{i:03d}": {**asdict(d), "effects": per_rep[i],
                                    "seed": task_seed(seed, f"r{i:03d}") % 2**31, **settings}
            for d in designs for i in range(reps)}


def summarise_power(records: list[dict], designs, estimand: str, effect_prior: dict | None = None) -> pd.DataFrame:
    """One row per design: power (with Wilson interval; assurance under an effect prior, and `truth` is then
    the mean of the drawn truths), mean HDI width and estimate, share reliable, failures."""
    from mats_eval.studies.calibration import wilson_interval

    ok = pd.DataFrame(ok_results(records))
    failed = pd.Series([r["key"].rsplit("-r", 1)[0] for r in records if r["status"] != "ok"]).value_counts()
    rows = []
    for d in designs:
        g = ok[(ok["allocation"] == d.allocation) & (ok["scholars"] == d.scholars) & (ok["weeks"] == d.weeks)
               & (ok["seminars_per_week"] == d.seminars_per_week)] if len(ok) else ok
        n, hits = len(g), int(g["detected"].sum()) if len(g) else 0
        lo, hi = wilson_interval(hits, n)
        rows.append({**asdict(d), "design": d.label, "estimand": estimand,
                     "truth": float(g["truth"].mean()) if n else np.nan, "reps": n,
                     "power": hits / n if n else np.nan, "power_low": lo, "power_high": hi,
                     "mean_width": float(g["width"].mean()) if n else np.nan,
                     "mean_estimate": float(g["mean"].mean()) if n else np.nan,
                     "reliable_share": float(g["reliable"].mean()) if n else np.nan,
                     "failed": int(failed.get(d.label, 0)), "effect_prior": prior_words(effect_prior)})
    return pd.DataFrame(rows, columns=POWER_COLUMNS)


def power(designs, reps: int, out: Path | str, *, effects: dict | None = None, scenario: str = "mats-history",
          estimand: str = DEFAULT_ESTIMAND, model: str | None = None, draws: int = 500, tune: int = 500,
          chains: int = 2, sampler: str = DEFAULT_SAMPLER, seed: int = 0, workers: int | None = None, scheduler=None,
          progress: bool = True, effect_prior: dict | None = None) -> pd.DataFrame:
    """Run (or resume) the power study into `out` and write power.csv; effects = scenario's parameters ⊕ `effects`,
    with the parameters of `effect_prior` (name → (mean, sd)) drawn per replication (assurance)."""
    designs = list(designs)
    assumed = {**default_effects(scenario), **(effects or {})}
    tasks = power_tasks(designs, assumed, reps, seed, effect_prior=effect_prior, estimand=estimand, model=model,
                        draws=draws, tune=tune, chains=chains, sampler=sampler)
    records = run_study(power_replication, tasks, out, workers=workers, scheduler=scheduler, progress=progress,
                        description="power")
    table = summarise_power(records, designs, estimand, effect_prior)
    table.to_csv(Path(out) / "power.csv", index=False)
    return table


def design_grid(allocations, scholars, weeks, seminars_per_week=(3,)) -> list[ExperimentDesign]:
    """Every combination of the candidate allocations, cohort sizes, weeks and seminar counts."""
    return [ExperimentDesign(a, int(n), int(w), int(s))
            for a in allocations for n in scholars for w in weeks for s in seminars_per_week]
