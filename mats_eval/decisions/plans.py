"""Next cohort's programme: counterfactual plans, expected utility, P(best).

A plan (YAML, see analyses/plans/example.yaml) says, for a new cohort, how many
sessions of each kind run per week, whether each kind is mandatory or optional,
how long they last and how the volume is spread over the weeks.

For each plan and each posterior draw we evaluate, with the population-average
functions of `estimands.py` (they integrate a freshly drawn new cohort, new
scholars and new sessions exactly), per kind k and week w with volume V_kw:

    a_kw = P(attend | k, w, V_kw, m_k)        E[rating]_kw,  v_kw = value(E[rating]_kw) ∈ [0, 1]
    attended hours  H   = Σ_kw V_kw · h_k · a_kw               (per scholar, whole programme)
    valued hours    Q   = Σ_kw V_kw · h_k · a_kw · v_kw
    mandatory hours M   = Σ_kw m_k · V_kw · h_k · a_kw        (research hours mandatory sessions take)
    utility         U   = value_per_attended_hour · Q − research_hour_cost · H

so an attended hour is worth its value on the rating scale (0 at the scale
minimum, 1 at the maximum) and costs `research_hour_cost` hours of research it
displaces; with the defaults (1.0, 0.5) a session pays off when its expected
rating is above the middle of the scale. Across plans, on the same draws:
P(best) = share of draws in which the plan has the highest U; expected loss =
E[max_plans U − U_plan] (in valued hours per scholar).

The draws come from the run folder (decision_draws.nc and reference.json, written
at fit time): `plans_from_run(run_dir, plans_path)`. No PyMC is imported here.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mats_eval.estimands import kernels as estimands
from mats_eval.estimands.intervals import hdi
from mats_eval.errors import UsageError
from mats_eval.data.programdata import POLICIES, SESSION_KINDS

FRONT_LOADED = (1.5, 0.5)  # multiplier of the weekly volume in the first and last week
_PLAN_KEYS = {"name", "weeks", "sessions", "policy", "hours", "schedule"}
_UTILITY_KEYS = {"value_per_attended_hour", "research_hour_cost"}
_TOP_KEYS = {"utility", "plans"}


@dataclass(frozen=True)
class Utility:
    """U = value_per_attended_hour · valued hours − research_hour_cost · attended hours."""

    value_per_attended_hour: float = 1.0
    research_hour_cost: float = 0.5


@dataclass(frozen=True)
class Plan:
    """One programme for a new cohort.

    sessions[kind]: sessions per week (a number, scaled by `schedule`) or an
    explicit per-week list of length `weeks`; policy[kind]: 'mandatory' or
    'optional' (default optional); hours[kind]: hours per session (default 1);
    schedule: 'even', 'front-loaded' (volume × 1.5 → 0.5 linearly, same total)
    or a per-week list of multipliers.
    """

    name: str
    weeks: int
    sessions: Mapping[str, float | Sequence[float]]
    policy: Mapping[str, str] = field(default_factory=dict)
    hours: Mapping[str, float] = field(default_factory=dict)
    schedule: str | Sequence[float] = "even"

    @property
    def kinds(self) -> list[str]:
        return list(self.sessions)

    def is_mandatory(self, kind: str) -> bool:
        return self.policy.get(kind, "optional") == "mandatory"

    def session_hours(self, kind: str) -> float:
        return float(self.hours.get(kind, 1.0))

    def schedule_multipliers(self) -> np.ndarray:
        """Per-week multiplier of the weekly volume, shape (weeks,)."""
        if isinstance(self.schedule, str):
            if self.schedule == "even" or self.weeks == 1:
                return np.ones(self.weeks)
            return np.linspace(*FRONT_LOADED, self.weeks)
        return np.asarray(self.schedule, dtype=float)

    def volume(self, kind: str) -> np.ndarray:
        """V_kw: sessions of `kind` in each week, shape (weeks,)."""
        per_week = self.sessions[kind]
        if np.ndim(per_week):
            return np.asarray(per_week, dtype=float)
        return float(per_week) * self.schedule_multipliers()


# --- loading plans ----------------------------------------------------------

def load_plans(path: Path | str) -> tuple[list[Plan], Utility]:
    """Read a plans YAML file; any problem raises UsageError naming the file and key."""
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: plans file not found") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from None
    return plans_from_dict(doc, source=str(path))


def plans_from_dict(doc, source: str = "<plans>") -> tuple[list[Plan], Utility]:
    """Validate a parsed plans document ({utility: ..., plans: [...]}) into Plans."""
    if not isinstance(doc, dict):
        raise UsageError(f"{source}: expected a mapping with a 'plans' list at the top level")
    _reject_unknown(doc, _TOP_KEYS, source, "")
    utility = _parse_utility(doc.get("utility") or {}, source)
    raw = doc.get("plans")
    if not isinstance(raw, list) or not raw:
        raise UsageError(f"{source}: 'plans' must be a non-empty list")
    plans = [_parse_plan(p, source, f"plans[{i}]") for i, p in enumerate(raw)]
    names = [p.name for p in plans]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise UsageError(f"{source}: plans.name: duplicated plan name(s) {duplicated}")
    return plans, utility


def _fail(source: str, where: str, message: str):
    raise UsageError(f"{source}: {where}: {message}")


def _reject_unknown(mapping: dict, allowed: set, source: str, where: str) -> None:
    for key in mapping:
        if key not in allowed:
            _fail(source, f"{where}{'.' if where else ''}{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _number(value, source: str, where: str, minimum: float = 0.0, strict: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):
        _fail(source, where, f"must be a number {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)


def _parse_utility(raw, source: str) -> Utility:
    if not isinstance(raw, dict):
        _fail(source, "utility", "must be a mapping")
    _reject_unknown(raw, _UTILITY_KEYS, source, "utility")
    return Utility(**{k: _number(v, source, f"utility.{k}") for k, v in raw.items()})


def _kind_mapping(raw, source: str, where: str) -> dict:
    if not isinstance(raw, dict):
        _fail(source, where, "must be a mapping from session kind to a value")
    for kind in raw:
        if kind not in SESSION_KINDS:
            _fail(source, f"{where}.{kind}", f"unknown session kind (allowed: {', '.join(SESSION_KINDS)})")
    return dict(raw)


def _parse_plan(raw, source: str, where: str) -> Plan:
    if not isinstance(raw, dict):
        _fail(source, where, "must be a mapping")
    _reject_unknown(raw, _PLAN_KEYS, source, where)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        _fail(source, f"{where}.name", "every plan needs a non-empty name")
    where = f"{where} ({name!r})"
    weeks = raw.get("weeks")
    if not isinstance(weeks, int) or isinstance(weeks, bool) or not 1 <= weeks <= 52:
        _fail(source, f"{where}.weeks", f"must be an integer 1..52, got {weeks!r}")
    if "sessions" not in raw:
        _fail(source, f"{where}.sessions", "missing (sessions per week per kind)")
    sessions = _kind_mapping(raw["sessions"], source, f"{where}.sessions")
    if not sessions:
        _fail(source, f"{where}.sessions", "must name at least one session kind")
    for kind, value in sessions.items():
        key = f"{where}.sessions.{kind}"
        if isinstance(value, list):
            if len(value) != weeks:
                _fail(source, key, f"a per-week list needs {weeks} entries, got {len(value)}")
            sessions[kind] = tuple(_number(v, source, key) for v in value)
        else:
            sessions[kind] = _number(value, source, key)
    policy = _kind_mapping(raw.get("policy") or {}, source, f"{where}.policy")
    for kind, value in policy.items():
        if value not in POLICIES:
            _fail(source, f"{where}.policy.{kind}", f"must be 'mandatory' or 'optional', got {value!r}")
        if kind not in sessions:
            _fail(source, f"{where}.policy.{kind}", "policy for a kind with no sessions")
    hours = _kind_mapping(raw.get("hours") or {}, source, f"{where}.hours")
    hours = {k: _number(v, source, f"{where}.hours.{k}", strict=True) for k, v in hours.items()}
    return Plan(name.strip(), weeks, sessions, policy, hours, _parse_schedule(raw.get("schedule", "even"), weeks, source, where))


def _parse_schedule(raw, weeks: int, source: str, where: str) -> str | tuple[float, ...]:
    key = f"{where}.schedule"
    if isinstance(raw, str):
        normal = raw.strip().lower().replace("_", "-").replace(" ", "-")
        if normal not in ("even", "front-loaded"):
            _fail(source, key, f"must be 'even', 'front-loaded' or a per-week list, got {raw!r}")
        return normal
    if isinstance(raw, list):
        if len(raw) != weeks:
            _fail(source, key, f"a per-week list needs {weeks} entries, got {len(raw)}")
        return tuple(_number(v, source, key) for v in raw)
    _fail(source, key, f"must be 'even', 'front-loaded' or a per-week list, got {raw!r}")


# --- evaluating plans -------------------------------------------------------

@dataclass
class PlanComparison:
    """Result of `evaluate_plans`.

    table: one row per plan, lowest expected loss (= highest expected utility)
    first; posterior means of expected_attendance (attended / offered
    sessions), expected_rating (E[rating] averaged over attended sessions),
    valued_hours, attended_hours and mandatory_research_hours (per scholar over
    the programme), utility_mean/hdi_low/hdi_high, prob_best, expected_loss. by_week: plan, week, kind ('all' or a kind),
    sessions, attendance_mean, attendance_hdi_low/high. utility: draws × plans (None when
    read back from a run folder's plans.csv, which keeps only the summaries).
    """

    table: pd.DataFrame
    by_week: pd.DataFrame
    utility: pd.DataFrame | None
    settings: Utility

    @property
    def best(self) -> str:
        return str(self.table.iloc[0]["plan"])

    def _repr_html_(self) -> str:
        caption = html.escape(
            f"Plan comparison (utility = {self.settings.value_per_attended_hour:g}·valued hours − "
            f"{self.settings.research_hour_cost:g}·attended hours, per scholar; 90% HDI)"
        )
        return f"<b>{caption}</b>" + self.table.to_html(index=False, float_format=lambda x: f"{x:.3g}")


def _as_draws(p: Mapping) -> dict[str, np.ndarray]:
    return {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in p.items()}


def _params_for(params_by_kind: Mapping[str, Mapping], kind: str, plan: Plan) -> dict:
    if kind not in params_by_kind:
        raise UsageError(
            f"plan {plan.name!r} uses kind {kind!r}, but the posterior has parameters only for "
            f"{sorted(params_by_kind)}"
        )
    p = params_by_kind[kind]
    missing = [k for k in ("attendance_intercept", "rating_mandatory") if k not in p]
    if missing:
        raise UsageError(f"plan evaluation needs attendance and rating parameters; missing {missing} for {kind!r}")
    return p


def kind_week_outcomes(p: Mapping, ref: estimands.Reference, weeks: int, volume: np.ndarray, mandatory: bool):
    """Per-draw attendance a_w and value v_w of one kind over the weeks: two (draws, weeks) arrays.

    value(r) = (r − scale_min) / (scale_max − scale_min) of the population expected rating.
    """
    lo, hi = ref.session_scale
    m = float(mandatory)
    att, val, rating = [], [], []
    for w in range(1, weeks + 1):
        v = volume[w - 1]
        att.append(estimands.attendance_probability(p, w, v, m))
        r = estimands.expected_session_rating(p, ref, w, v, m)
        rating.append(r)
        val.append((r - lo) / (hi - lo))
    return np.stack(att, 1), np.stack(val, 1), np.stack(rating, 1)


def plan_outcomes(params_by_kind: Mapping[str, Mapping], plan: Plan, ref: estimands.Reference, utility: Utility):
    """Per-draw outcomes of one plan: dict of (draws,) arrays and the by-week table.

    Sums run over kinds k and weeks w of V_kw·h_k·a_kw (·v_kw, ·m_k) as in the module docstring.
    """
    sessions_total = attended_sessions = rating_weighted = 0.0
    attended_hours = valued_hours = mandatory_hours = 0.0
    week_rows, week_sessions, week_attended = [], 0.0, 0.0
    for kind in plan.kinds:
        p = _as_draws(_params_for(params_by_kind, kind, plan))
        volume = plan.volume(kind)
        att, val, rating = kind_week_outcomes(p, ref, plan.weeks, volume, plan.is_mandatory(kind))
        hours = plan.session_hours(kind)
        attended = att * volume  # (draws, weeks): sessions attended per scholar
        sessions_total = sessions_total + volume.sum()
        attended_sessions = attended_sessions + attended.sum(1)
        rating_weighted = rating_weighted + (attended * rating).sum(1)
        attended_hours = attended_hours + hours * attended.sum(1)
        valued_hours = valued_hours + hours * (attended * val).sum(1)
        if plan.is_mandatory(kind):
            mandatory_hours = mandatory_hours + hours * attended.sum(1)
        week_sessions = week_sessions + volume
        week_attended = week_attended + attended
        week_rows.append(_week_rows(plan.name, kind, volume, att))
    overall = week_attended / np.where(week_sessions > 0, week_sessions, np.nan)
    week_rows.insert(0, _week_rows(plan.name, "all", week_sessions, overall))
    draws = np.shape(attended_sessions)[0]
    outcomes = {
        "expected_attendance": attended_sessions / sessions_total if sessions_total else np.full(draws, np.nan),
        "expected_rating": rating_weighted / attended_sessions,
        "valued_hours": valued_hours,
        "attended_hours": attended_hours,
        "mandatory_research_hours": np.broadcast_to(mandatory_hours, (draws,)).astype(float),
    }
    outcomes["utility"] = utility.value_per_attended_hour * valued_hours - utility.research_hour_cost * attended_hours
    return outcomes, pd.concat(week_rows, ignore_index=True)


def _week_rows(plan: str, kind: str, sessions: np.ndarray, attendance: np.ndarray) -> pd.DataFrame:
    """Posterior mean and 90% HDI of attendance per week; weeks with no sessions are NaN."""
    offered = np.asarray(sessions) > 0
    mean = np.full(len(offered), np.nan)
    low, high = mean.copy(), mean.copy()
    if offered.any():
        mean[offered] = attendance[:, offered].mean(0)
        low[offered], high[offered] = hdi(attendance[:, offered])
    return pd.DataFrame(
        {
            "plan": plan,
            "week": np.arange(1, len(offered) + 1),
            "kind": kind,
            "sessions": sessions,
            "attendance_mean": mean,
            "attendance_hdi_low": low,
            "attendance_hdi_high": high,
        }
    )


def decision_summary(utility: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From utility (draws, plans): P(best)_j = mean_d[j = argmax U_d], loss_j = mean_d[max U_d − U_dj].

    Ties in a draw share its unit of probability equally, so P(best) sums to 1.
    """
    best = utility.max(axis=1, keepdims=True)
    is_best = np.isclose(utility, best, rtol=1e-12, atol=1e-12)
    prob_best = (is_best / is_best.sum(axis=1, keepdims=True)).mean(axis=0)
    return prob_best, (best - utility).mean(axis=0)


def evaluate_plans(
    params_by_kind: Mapping[str, Mapping],
    plans: Sequence[Plan],
    ref: estimands.Reference,
    utility: Utility | None = None,
) -> PlanComparison:
    """Compare plans on the same posterior draws (see the module docstring for the maths).

    Per draw: U = value_per_attended_hour · Σ V·h·a·value(E[rating]) − research_hour_cost · Σ V·h·a;
    P(best) = share of draws where a plan's U is the largest; expected loss = E[max U − U].

    params_by_kind[kind] is the canonical parameter dict (estimands.py) at that
    kind (its attendance_kind_ref / rating_kind_ref / rating_cutpoints_ref are
    the kind's); every dict must hold the same draws in the same order.
    """
    if not plans:
        raise UsageError("no plans to evaluate")
    utility = utility or Utility()
    results = [plan_outcomes(params_by_kind, plan, ref, utility) for plan in plans]
    sizes = {len(out["utility"]) for out, _ in results}
    if len(sizes) != 1:
        raise UsageError(f"parameter dicts hold different numbers of draws: {sorted(sizes)}")
    names = [plan.name for plan in plans]
    u = np.column_stack([out["utility"] for out, _ in results])
    prob_best, loss = decision_summary(u)
    low, high = hdi(u)
    rows = []
    for j, (out, _) in enumerate(results):
        row = {"plan": names[j]}
        row.update({k: float(np.mean(v)) for k, v in out.items() if k != "utility"})
        row.update(
            utility_mean=float(u[:, j].mean()),
            utility_hdi_low=float(low[j]),
            utility_hdi_high=float(high[j]),
            prob_best=float(prob_best[j]),
            expected_loss=float(loss[j]),
        )
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(["expected_loss", "plan"], kind="stable").reset_index(drop=True)
    by_week = pd.concat([weeks for _, weeks in results], ignore_index=True)
    return PlanComparison(table, by_week, pd.DataFrame(u, columns=names), utility)


def plans_from_params(
    params_by_kind: Mapping[str, Mapping], path: Path | str, ref: estimands.Reference
) -> PlanComparison:
    """load_plans(path) then evaluate_plans with the file's utility settings."""
    plans, utility = load_plans(path)
    return evaluate_plans(params_by_kind, plans, ref, utility)


# --- plans in the run folder ---------------------------------------------------

_SETTING_COLUMNS = ("value_per_attended_hour", "research_hour_cost")


def comparison_tables(comparison: PlanComparison) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(plans.csv, plans_by_week.csv) of a comparison; plans.csv carries the utility settings as columns."""
    table = comparison.table.assign(**{k: getattr(comparison.settings, k) for k in _SETTING_COLUMNS})
    return table, comparison.by_week


def comparison_from_tables(table: pd.DataFrame, by_week: pd.DataFrame) -> PlanComparison:
    """A PlanComparison back from plans.csv and plans_by_week.csv (no per-draw utilities)."""
    settings = Utility(**{k: float(table[k].iloc[0]) for k in _SETTING_COLUMNS})
    return PlanComparison(table.drop(columns=list(_SETTING_COLUMNS)), by_week, None, settings)


def write_plans(run_dir: Path | str, comparison: PlanComparison) -> None:
    """plans.csv and plans_by_week.csv into a run folder (pipeline.run, inside its atomic folder)."""
    table, by_week = comparison_tables(comparison)
    table.to_csv(Path(run_dir) / "plans.csv", index=False)
    by_week.to_csv(Path(run_dir) / "plans_by_week.csv", index=False)


def plans_from_run(run_dir: Path | str, plans_path: Path | str | None = None) -> PlanComparison | None:
    """The plan comparison of a run folder.

    With `plans_path`: that plans file evaluated on the run's decision_draws.nc at its
    reference.json. Without: the comparison stored at fit time (plans.csv), or None.
    """
    from mats_eval.runfolder import (DECISION_DRAWS_FILE, REFERENCE_FILE, read_decision_draws,
                                     read_reference)

    run_dir = Path(run_dir)
    if plans_path is None:
        if not (run_dir / "plans.csv").is_file():
            return None
        return comparison_from_tables(pd.read_csv(run_dir / "plans.csv"), pd.read_csv(run_dir / "plans_by_week.csv"))
    for name in (DECISION_DRAWS_FILE, REFERENCE_FILE):
        if not (run_dir / name).is_file():
            raise UsageError(f"{run_dir} has no {name}: plans need a run of a model with attendance and "
                             "ratings, made by this version of mats_eval")
    return plans_from_params(read_decision_draws(run_dir / DECISION_DRAWS_FILE), plans_path,
                             read_reference(run_dir / REFERENCE_FILE))
