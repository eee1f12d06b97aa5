"""Next cohort's programme: counterfactual plans, expected utility, P(best), ties.

A plan (YAML, see analyses/plans/example.yaml) says, for a new cohort, how many
sessions of each kind run per week, whether each kind is mandatory or optional,
how long they last and how the volume is spread over the weeks; `candidate_plans`
(or a plans file's `grid:` block) makes every combination of a grid of them.

For each plan and each posterior draw, per kind k and week w with V_kw sessions of
h_k hours (estimands/kernels.py `attended_session_moments`: a new cohort, scholar and
session, the scholar's attendance and rating effects correlated), every session of
week w evaluated at the week's whole load L_w = Σ_k V_kw (the models' volume
covariate counts every kind, so adding workshops costs seminar attendance):

    attended hours  H   = Σ_kw V_kw · h_k · E[a_kw]                 (per scholar, whole programme)
    valued hours    Q   = Σ_kw V_kw · h_k · E[a_kw · worth(Y_kw)]
    mandatory hours M   = Σ_kw m_k · V_kw · h_k · E[a_kw]          (research hours mandatory sessions take)
    utility         U   = value_per_attended_hour · Q − research_hour_cost · H   (decisions/utility.py)

H counts every kind: the research time a plan costs is its whole programming load.
A plan whose weekly load leaves the range the cohorts ran, or that runs a kind under a
policy no cohort used, is marked `beyond_the_data` (why, in words): its utility rests on
the models' additive form, not on a cohort that ran anything like it.
Across plans, on the same draws: P(best) = share of draws in which the plan has the
highest U; expected loss = E[max_plans U − U_plan] (research hours per scholar); a
plan is `tied_with_best` when its expected utility is within the utility's
tie_threshold of the best. decisions/recommend.py turns this into the recommendation
and the sensitivity table.

The draws come from the run folder (decision_draws.nc and reference.json, written
at fit time): `plans_from_run(run_dir, plans_path)`. No PyMC is imported here.
"""
from __future__ import annotations

import html
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mats_eval.estimands import kernels as estimands
from mats_eval.estimands.intervals import hdi
from mats_eval.errors import UsageError
from mats_eval.data.programdata import POLICIES, SESSION_KINDS
from mats_eval.decisions.utility import UTILITY_KEYS, Utility, utility_from_dict

FRONT_LOADED = (1.5, 0.5)  # multiplier of the weekly volume in the first and last week
SCHEDULES = ("even", "front-loaded")
_PLAN_KEYS = {"name", "weeks", "sessions", "policy", "hours", "schedule"}
_GRID_KEYS = {"weeks", "sessions", "policy", "hours", "schedule"}
_TOP_KEYS = {"utility", "plans", "grid"}


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

    def load(self) -> np.ndarray:
        """L_w = Σ_k V_kw: sessions of every kind in each week, shape (weeks,) (the models' volume)."""
        return sum((self.volume(kind) for kind in self.kinds), np.zeros(self.weeks))

    def describe(self) -> str:
        """The plan in words, e.g. '2 optional seminars a week (1 h each); the same every week, over 10 weeks'."""
        parts = []
        for kind in self.kinds:
            per_week = self.sessions[kind]
            n = float(np.mean(per_week))
            plural = "s" if n != 1 else ""
            parts.append(f"{n:g}{' on average' if np.ndim(per_week) else ''} {self.policy.get(kind, 'optional')} "
                         f"{kind.replace('_', ' ')}{plural} a week ({self.session_hours(kind):g} h each)")
        schedule = {"even": "the same every week", "front-loaded": "more in the first weeks, fewer later"}.get(
            self.schedule if isinstance(self.schedule, str) else "", "a week-by-week schedule")
        return f"{'; '.join(parts)}; {schedule}, over {self.weeks} weeks"


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
    """Validate a parsed plans document ({utility: ..., plans: [...], grid: {...}}) into Plans.

    `plans` lists plans one by one, `grid` generates every combination (candidate_plans); at
    least one of them is needed, both may be given.
    """
    if not isinstance(doc, dict):
        raise UsageError(f"{source}: expected a mapping with a 'plans' list or a 'grid' at the top level")
    _reject_unknown(doc, _TOP_KEYS, source, "")
    utility = utility_from_dict(doc.get("utility"), source)
    raw = doc.get("plans")
    if raw is None and "grid" not in doc or raw is not None and (not isinstance(raw, list) or not raw):
        raise UsageError(f"{source}: 'plans' must be a non-empty list (or give a 'grid' of candidate plans)")
    plans = [_parse_plan(p, source, f"plans[{i}]") for i, p in enumerate(raw or [])]
    if "grid" in doc:
        plans += _parse_grid(doc["grid"], source)
    names = [p.name for p in plans]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise UsageError(f"{source}: plans.name: duplicated plan name(s) {duplicated}")
    return plans, utility


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _parse_grid(raw, source: str) -> list[Plan]:
    """A `grid:` block: weeks, sessions {kind: [per week, ...]}, policy {kind: [policies]} or one
    policy for all, hours {kind: hours}, schedule [even, front-loaded] (each plan validated as usual)."""
    if not isinstance(raw, dict):
        _fail(source, "grid", f"must be a mapping with keys {', '.join(sorted(_GRID_KEYS))}")
    _reject_unknown(raw, _GRID_KEYS, source, "grid")
    sessions = _kind_mapping(raw.get("sessions"), source, "grid.sessions")
    if not sessions:
        _fail(source, "grid.sessions", "must name at least one session kind with its sessions per week")
    volumes = {k: [_number(v, source, f"grid.sessions.{k}") for v in _as_list(values)] for k, values in sessions.items()}
    policy = raw.get("policy", "optional")
    policies = (_kind_mapping(policy, source, "grid.policy") if isinstance(policy, dict)
                else {k: policy for k in sessions})
    plans = candidate_plans(list(sessions), volumes,
                            {k: _as_list(policies.get(k, "optional")) for k in sessions},
                            _as_list(raw.get("schedule", "even")), raw.get("weeks"), raw.get("hours") or {})
    return [_parse_plan(_plan_as_dict(p), source, f"grid ({p.name!r})") for p in plans]


def _plan_as_dict(plan: Plan) -> dict:
    return {"name": plan.name, "weeks": plan.weeks, "sessions": dict(plan.sessions), "policy": dict(plan.policy),
            "hours": dict(plan.hours), "schedule": plan.schedule}


def candidate_plans(kinds, volumes, policies=("optional",), schedules=("even",), weeks: int = 10,
                    hours=None) -> list[Plan]:
    """Every plan of a grid: for each kind a weekly volume and a policy, and one schedule.

    volumes: {kind: [sessions per week, ...]} or one list for every kind; policies: {kind: [...]}
    or one list for every kind; schedules: 'even' and/or 'front-loaded'; hours: {kind: hours per
    session} (default 1). A kind at 0 sessions a week is left out of that plan; all-zero plans
    are dropped. Names spell the plan out ("seminar 2/week optional + discussion_group 1/week
    mandatory, even").
    """
    kinds = list(kinds)
    per_kind = lambda x: {k: list(x[k]) for k in kinds} if isinstance(x, dict) else {k: list(x) for k in kinds}  # noqa: E731
    volumes, policies = per_kind(volumes), per_kind(policies)
    options = [[(k, v, pol) for v in volumes[k] for pol in (policies[k] if v else policies[k][:1])] for k in kinds]
    plans, seen = [], set()
    for combo in itertools.product(*options):
        offered = [(k, v, pol) for k, v, pol in combo if v]
        kind_hours = {k: float(h) for k, h in (hours or {}).items() if k in {o[0] for o in offered}}
        for schedule in schedules:
            name = " + ".join(f"{k} {v:g}/week {pol}" for k, v, pol in offered) + f", {schedule}"
            if not offered or name in seen:
                continue
            seen.add(name)
            plans.append(Plan(name, weeks, {k: float(v) for k, v, _ in offered}, {k: pol for k, _, pol in offered},
                              kind_hours, schedule))
    return plans


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

    table: one row per plan, highest expected utility (= lowest expected loss) first; posterior
    means of expected_attendance (attended / offered sessions, a new scholar), expected_rating
    (the rating of attended sessions, E[a·Y]/E[a]: weighted towards the scholars who come),
    valued_hours, attended_hours and mandatory_research_hours (per scholar over the programme),
    programming_sessions_per_week and programming_hours_per_week (offered per week, all kinds: the
    load every session's attendance and rating depend on), utility_mean/hdi_low/hdi_high,
    prob_best, expected_loss, utility_gap_to_best (E[U_best] − E[U_plan]) and tied_with_best
    (gap within the utility's tie_threshold). by_week: plan, week, kind ('all' or a kind),
    sessions, attendance_mean, attendance_hdi_low/high. utility, valued, attended: draws × plans
    of U, Q and H (None when read back from a run folder's plans.csv, which keeps the summaries).
    """

    table: pd.DataFrame
    by_week: pd.DataFrame
    utility: pd.DataFrame | None
    settings: Utility
    valued: pd.DataFrame | None = None
    attended: pd.DataFrame | None = None

    @property
    def best(self) -> str:
        return str(self.table.iloc[0]["plan"])

    @property
    def tied(self) -> list[str]:
        """The plans practically tied with the best (the best first)."""
        return [str(p) for p in self.table.loc[self.table["tied_with_best"].astype(bool), "plan"]]

    def _repr_html_(self) -> str:
        caption = html.escape(f"Plan comparison (research hours per scholar; 90% HDI): {self.settings.describe()}")
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


def kind_week_outcomes(p: Mapping, ref: estimands.Reference, weeks: int, load: np.ndarray, mandatory: bool,
                       worthless_below=None) -> dict[str, np.ndarray]:
    """Per draw and week, (draws, weeks) arrays of E[a], E[a·worth(Y)] and E[a·Y] of one session of
    a kind in a week of load[w] sessions (kernels.attended_session_moments: the volume optimum's kernel)."""
    per_week = [estimands.attended_session_moments(p, ref, float(w), float(load[w - 1]), float(mandatory),
                                                   worthless_below) for w in range(1, weeks + 1)]
    return {key: np.stack([m[key] for m in per_week], 1) for key in ("attend", "worth", "rating")}


def plan_outcomes(params_by_kind: Mapping[str, Mapping], plan: Plan, ref: estimands.Reference, utility: Utility):
    """Per-draw outcomes of one plan: dict of (draws,) arrays and the by-week table.

    Sums run over kinds k and weeks w of V_kw·h_k·E[a_kw] (·worth, ·m_k) as in the module docstring.
    """
    sessions_total = attended_sessions = rating_weighted = 0.0
    attended_hours = valued_hours = mandatory_hours = offered_hours = 0.0
    week_rows, week_sessions, week_attended = [], 0.0, 0.0
    load = plan.load()
    for kind in plan.kinds:
        p = _as_draws(_params_for(params_by_kind, kind, plan))
        volume = plan.volume(kind)
        try:
            moments = kind_week_outcomes(p, ref, plan.weeks, load, plan.is_mandatory(kind), utility.worthless_below)
        except ValueError as exc:  # worthless_below off the reference scale
            raise UsageError(f"utility.worthless_below: {exc}") from None
        hours = plan.session_hours(kind)
        attended = moments["attend"] * volume  # (draws, weeks): sessions attended per scholar
        sessions_total = sessions_total + volume.sum()
        offered_hours = offered_hours + hours * volume.sum()
        attended_sessions = attended_sessions + attended.sum(1)
        rating_weighted = rating_weighted + (moments["rating"] * volume).sum(1)
        attended_hours = attended_hours + hours * attended.sum(1)
        valued_hours = valued_hours + hours * (moments["worth"] * volume).sum(1)
        if plan.is_mandatory(kind):
            mandatory_hours = mandatory_hours + hours * attended.sum(1)
        week_sessions = week_sessions + volume
        week_attended = week_attended + attended
        week_rows.append(_week_rows(plan.name, kind, volume, moments["attend"]))
    overall = week_attended / np.where(week_sessions > 0, week_sessions, np.nan)
    week_rows.insert(0, _week_rows(plan.name, "all", week_sessions, overall))
    draws = np.shape(attended_sessions)[0]
    outcomes = {
        "expected_attendance": attended_sessions / sessions_total if sessions_total else np.full(draws, np.nan),
        "expected_rating": rating_weighted / attended_sessions,
        "valued_hours": valued_hours,
        "attended_hours": attended_hours,
        "mandatory_research_hours": np.broadcast_to(mandatory_hours, (draws,)).astype(float),
        "programming_sessions_per_week": np.full(draws, sessions_total / plan.weeks),
        "programming_hours_per_week": np.full(draws, offered_hours / plan.weeks),
    }
    outcomes["utility"] = utility.total(valued_hours, attended_hours)
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


def tied_with_best(utility_means, threshold: float) -> np.ndarray:
    """True for the plans whose expected utility is within `threshold` of the highest."""
    means = np.asarray(utility_means, dtype=float)
    return means.max() - means <= threshold + 1e-12


def comparison_table(names: Sequence[str], utility: np.ndarray, means: Mapping[str, np.ndarray],
                     tie_threshold: float) -> pd.DataFrame:
    """The decision columns from per-draw utilities (draws × plans) plus outcome means per plan, best first."""
    prob_best, loss = decision_summary(utility)
    low, high = hdi(utility)
    expected = utility.mean(axis=0)
    table = pd.DataFrame({"plan": list(names), **means, "utility_mean": expected, "utility_hdi_low": low,
                          "utility_hdi_high": high, "prob_best": prob_best, "expected_loss": loss,
                          "utility_gap_to_best": expected.max() - expected,
                          "tied_with_best": tied_with_best(expected, tie_threshold)})
    return table.sort_values(["expected_loss", "plan"], kind="stable").reset_index(drop=True)


def beyond_the_data(plan: Plan, ref: estimands.Reference) -> str:
    """Why a plan lies beyond what the data cover, in words ('' when it does not): a weekly load
    outside the loads the cohorts ran, or a kind under a policy no cohort ran it under."""
    reasons = []
    if ref.observed_volumes:
        lo, hi = ref.volume_range
        load = plan.load()
        if load.max() > hi + 1e-9 or load.min() < lo - 1e-9:
            reasons.append(f"its weekly load ({_load_words(load)} sessions) leaves the {lo:g}–{hi:g} a week "
                           "the cohorts ran")
    if ref.observed_policies:
        seen = set(ref.observed_policies)
        kinds_seen = {kind for kind, _ in seen}
        for kind in plan.kinds:
            policy = plan.policy.get(kind, "optional")
            name = kind.replace("_", " ") + "s"
            if kind not in kinds_seen:
                reasons.append(f"no cohort ran {name}")
            elif (kind, policy) not in seen:
                reasons.append(f"no cohort ran {policy} {name}")
    return "; ".join(reasons)


def beyond_reason(row) -> str:
    """A plans table row's `beyond_the_data` text ('' when absent or blank, as CSV reads it back)."""
    value = row.get("beyond_the_data", "") if hasattr(row, "get") else ""
    return value.strip() if isinstance(value, str) else ""


def _load_words(load: np.ndarray) -> str:
    lo, hi = float(load.min()), float(load.max())
    return f"{lo:.3g}" if abs(hi - lo) < 1e-9 else f"{lo:.3g}–{hi:.3g}"


def evaluate_plans(
    params_by_kind: Mapping[str, Mapping],
    plans: Sequence[Plan],
    ref: estimands.Reference,
    utility: Utility | None = None,
) -> PlanComparison:
    """Compare plans on the same posterior draws (see the module docstring for the maths).

    Per draw: U = value_per_attended_hour · Σ V·h·E[a·worth(Y)] − research_hour_cost · Σ V·h·E[a];
    P(best) = share of draws where a plan's U is the largest; expected loss = E[max U − U].

    params_by_kind[kind] is the canonical parameter dict (kernels.py) at that kind (its
    attendance_kind_ref / rating_kind_ref / rating_cutpoints_ref are the kind's); every dict must
    hold the same draws in the same order.
    """
    if not plans:
        raise UsageError("no plans to evaluate")
    utility = utility or Utility()
    results = [plan_outcomes(params_by_kind, plan, ref, utility) for plan in plans]
    sizes = {len(out["utility"]) for out, _ in results}
    if len(sizes) != 1:
        raise UsageError(f"parameter dicts hold different numbers of draws: {sorted(sizes)}")
    names = [plan.name for plan in plans]
    per_draw = {key: np.column_stack([out[key] for out, _ in results]) for key in results[0][0]}
    means = {key: values.mean(axis=0) for key, values in per_draw.items() if key != "utility"}
    table = comparison_table(names, per_draw["utility"], means, utility.tie_threshold)
    table["definition"] = table["plan"].map({plan.name: plan.describe() for plan in plans})
    table["beyond_the_data"] = table["plan"].map({plan.name: beyond_the_data(plan, ref) for plan in plans})
    by_week = pd.concat([weeks for _, weeks in results], ignore_index=True)
    frame = lambda key: pd.DataFrame(per_draw[key], columns=names)  # noqa: E731
    return PlanComparison(table, by_week, frame("utility"), utility, frame("valued_hours"), frame("attended_hours"))


def plans_from_params(
    params_by_kind: Mapping[str, Mapping], path: Path | str, ref: estimands.Reference
) -> PlanComparison:
    """load_plans(path) then evaluate_plans with the file's utility settings."""
    plans, utility = load_plans(path)
    return evaluate_plans(params_by_kind, plans, ref, utility)


# --- plans in the run folder ---------------------------------------------------

def comparison_tables(comparison: PlanComparison) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(plans.csv, plans_by_week.csv) of a comparison; plans.csv carries the utility settings as columns."""
    table = comparison.table.assign(**comparison.settings.to_dict())
    return table, comparison.by_week


def comparison_from_tables(table: pd.DataFrame, by_week: pd.DataFrame) -> PlanComparison:
    """A PlanComparison back from plans.csv and plans_by_week.csv (no per-draw utilities)."""
    present = [k for k in UTILITY_KEYS if k in table]
    first = table.iloc[0]
    settings = Utility(**{k: (None if pd.isna(first[k]) else float(first[k])) for k in present})
    table = table.drop(columns=present)
    if "tied_with_best" not in table:  # plans.csv written before ties were reported
        table["tied_with_best"] = tied_with_best(table["utility_mean"], settings.tie_threshold)
    # a blank cell reads back as NaN; plans.csv written before the column existed marks nothing
    table["beyond_the_data"] = [beyond_reason(row) for _, row in table.iterrows()]
    return PlanComparison(table, by_week, None, settings)


def write_plans(run_dir: Path | str, comparison: PlanComparison) -> None:
    """plans.csv and plans_by_week.csv into a run folder (pipeline.run, inside its atomic folder); with
    the per-draw utilities, also plan_sensitivity.csv and recommendation.json (decisions/recommend.py)."""
    from mats_eval.decisions.recommend import write_recommendation

    table, by_week = comparison_tables(comparison)
    table.to_csv(Path(run_dir) / "plans.csv", index=False)
    by_week.to_csv(Path(run_dir) / "plans_by_week.csv", index=False)
    if comparison.valued is not None:
        write_recommendation(run_dir, comparison)


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
