"""From a plan comparison to a recommendation a programme lead can act on.

U = value · Q − cost · H per draw (decisions/utility.py) is linear in the lead's two settings,
so every other setting is re-scored from the per-draw valued hours Q and attended hours H
without re-evaluating the plans. Dividing by the value shows that the ranking depends only on
cost/value, the research hours an attended hour costs per research hour a top-rated hour is
worth: `cost_switches` finds where along it the best plan changes, `what_would_change` says
it in a sentence, `sensitivity_table` tabulates best plan and P(best) over a grid of both
settings (plan_sensitivity.csv). Plans within the tie threshold of the best are reported as
tied, not ranked (`recommendation_sentence`). `worthless_below` changes Q itself and is not
varied here (re-run the plans with another utility block to see its effect).
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from mats_eval.decisions.plans import PlanComparison, beyond_reason, decision_summary, tied_with_best
from mats_eval.decisions.utility import Utility, research_hours
from mats_eval.errors import UsageError

# The sensitivity grid (plan_sensitivity.csv): research hours an attended hour costs, and research
# hours an attended top-rated hour is worth; the lead's own setting is always added.
SENSITIVITY_COSTS = (0.0, 0.25, 0.5, 0.75, 1.0)
SENSITIVITY_VALUES = (0.5, 1.0, 2.0)
# Where the best plan is traced along the cost axis (cost_switches): research hours per attended hour,
# from 0 to twice the lead's setting (at least to 2), on this step.
SWITCH_STEP = 0.01


def switch_costs(utility: Utility) -> np.ndarray:
    """0, 0.01, …, max(2, 2 × the lead's research_hour_cost)."""
    top = max(2.0, 2 * utility.research_hour_cost)
    return np.round(np.arange(0.0, top + 1e-9, SWITCH_STEP), 2)

SENSITIVITY_FILE = "plan_sensitivity.csv"
RECOMMENDATION_FILE = "recommendation.json"
UNITS = "research hours per scholar over the programme"


def _per_draw(comparison: PlanComparison) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if comparison.valued is None or comparison.attended is None:
        raise UsageError("the sensitivity of a plan comparison needs its per-draw hours (evaluate the plans "
                         "on the run's decision draws, not from plans.csv)")
    return comparison.valued.to_numpy(), comparison.attended.to_numpy(), list(comparison.valued.columns)


def scored(comparison: PlanComparison, utility: Utility) -> dict:
    """Best plan, P(best), its expected loss and the tied plans under another utility setting."""
    valued, attended, names = _per_draw(comparison)
    u = utility.total(valued, attended)
    prob_best, loss = decision_summary(u)
    means = u.mean(axis=0)
    best = int(np.argmax(means))
    tied = [names[j] for j in np.flatnonzero(tied_with_best(means, utility.tie_threshold)) if j != best]
    return {"best_plan": names[best], "prob_best": float(prob_best[best]), "expected_loss": float(loss[best]),
            "expected_utility": float(means[best]), "tied_plans": "; ".join(tied), "n_tied": len(tied)}


def sensitivity_table(comparison: PlanComparison, values=SENSITIVITY_VALUES, costs=SENSITIVITY_COSTS) -> pd.DataFrame:
    """plan_sensitivity.csv: one row per (value_per_attended_hour, research_hour_cost) of the grid plus
    the lead's setting (lead_setting True): best plan, its P(best), expected loss and expected utility,
    and the plans practically tied with it (tie threshold unchanged)."""
    lead = comparison.settings
    values = sorted(set(map(float, values)) | {lead.value_per_attended_hour})
    costs = sorted(set(map(float, costs)) | {lead.research_hour_cost})
    rows = []
    for value in values:
        for cost in costs:
            setting = replace(lead, value_per_attended_hour=value, research_hour_cost=cost)
            rows.append({"value_per_attended_hour": value, "research_hour_cost": cost,
                         "lead_setting": setting == lead, **scored(comparison, setting)})
    return pd.DataFrame(rows)


def cost_switches(comparison: PlanComparison, costs=None) -> pd.DataFrame:
    """Along research_hour_cost (value fixed at the lead's), the stretches where each plan has the
    highest expected utility: columns plan, cost_from, cost_to (grid points of `costs`, default
    switch_costs, in order)."""
    valued, attended, names = _per_draw(comparison)
    costs = switch_costs(comparison.settings) if costs is None else costs
    value = comparison.settings.value_per_attended_hour
    expected = value * valued.mean(axis=0)[None, :] - np.asarray(costs)[:, None] * attended.mean(axis=0)[None, :]
    best = expected.argmax(axis=1)
    starts = np.flatnonzero(np.r_[True, best[1:] != best[:-1]])
    ends = np.r_[starts[1:] - 1, len(costs) - 1]
    return pd.DataFrame({"plan": [names[best[s]] for s in starts], "cost_from": np.asarray(costs)[starts],
                         "cost_to": np.asarray(costs)[ends]})


def what_would_change(comparison: PlanComparison, costs=None) -> str:
    """'“A” stays best while an attended hour costs between 0.3 and 0.8 research hours (now 0.5);
    below 0.3 “B” would be best, above 0.8 “C”.' (value per top-rated hour fixed at the lead's)."""
    lead = comparison.settings
    runs = cost_switches(comparison, costs)
    here = int(np.searchsorted(runs["cost_to"].to_numpy(), lead.research_hour_cost - 1e-9))
    here = min(here, len(runs) - 1)
    plan, low, high = runs.loc[here, ["plan", "cost_from", "cost_to"]]
    worth = f"an attended top-rated hour being worth {research_hours(lead.value_per_attended_hour)}"
    if len(runs) == 1:
        return (f"“{plan}” stays the best plan whatever an attended hour costs, from {low:g} to {high:g} "
                f"research hours ({worth}).")
    parts = [f"“{plan}” stays the best plan while an attended hour costs between {low:g} and {high:g} research "
             f"hours (set now to {lead.research_hour_cost:g}, {worth})"]
    if here > 0:
        parts.append(f"if it costs less than {low:g}, “{runs.loc[here - 1, 'plan']}” would be best")
    if here < len(runs) - 1:
        parts.append(f"if it costs more than {high:g}, “{runs.loc[here + 1, 'plan']}” would be")
    return "; ".join(parts) + "."


def recommendation_sentence(comparison: PlanComparison) -> str:
    """What to do, in plain words: the best plan with its margin and P(best), or the tie when the best
    plans are within the tie threshold of each other."""
    table, settings = comparison.table, comparison.settings
    best = table.iloc[0]
    tied = [str(p) for p in table.loc[table["tied_with_best"].astype(bool), "plan"]]
    if len(tied) > 1:
        names = ", ".join(f"“{p}”" for p in tied[:-1]) + f" and “{tied[-1]}”"
        gap = float(table.loc[table["tied_with_best"].astype(bool), "utility_gap_to_best"].max())
        sentence = (f"{names} are practically tied: their expected utilities differ by at most {gap:.2f} {UNITS}, "
                    f"less than the tie threshold of {settings.tie_threshold:g}, so choose between them on other "
                    f"grounds (“{best['plan']}” is ahead, best in {best['prob_best']:.0%} of posterior draws).")
    else:
        runner_up = table.iloc[1] if len(table) > 1 else None
        margin = ("" if runner_up is None else
                  f", {runner_up['utility_gap_to_best']:.2f} more than the next plan, “{runner_up['plan']}”")
        sentence = (f"Run “{best['plan']}”: it nets a scholar {best['utility_mean']:.2f} {UNITS} "
                    f"(90% HDI {best['utility_hdi_low']:.2f} to {best['utility_hdi_high']:.2f}){margin}, and it is "
                    f"the best plan in {best['prob_best']:.0%} of posterior draws.")
    if best["utility_mean"] < 0:
        sentence += " Under these settings every plan costs more research time than its sessions are worth."
    return sentence + beyond_words(table)


def beyond_words(table: pd.DataFrame) -> str:
    """' “A” goes beyond the data (why) …; the best plan within them is “B” …' when the best plan of a
    plans table (best first) is marked beyond_the_data, '' otherwise."""
    best = table.iloc[0]
    reason = beyond_reason(best)
    if not reason:
        return ""
    text = (f" “{best['plan']}” goes beyond the data ({reason}), so its utility rests on the model's assumptions "
            "rather than on a cohort that ran anything like it: treat it as a pilot")
    within = [row for _, row in table.iterrows() if not beyond_reason(row)]
    if not within:
        return text + "; every plan compared goes beyond the data."
    alternative = within[0]
    return (text + f". The best plan within the data is “{alternative['plan']}”, "
            f"{alternative['utility_mean'] - best['utility_mean']:+.2f} {UNITS} against it.")


def recommendation(comparison: PlanComparison) -> dict:
    """recommendation.json: best plan, tie status, the sentences and the utility settings used."""
    best = comparison.table.iloc[0]
    out = {"best_plan": str(best["plan"]), "tied_plans": comparison.tied, "tie": len(comparison.tied) > 1,
           "beyond_the_data": beyond_reason(best),
           "prob_best": float(best["prob_best"]), "expected_utility": float(best["utility_mean"]),
           "expected_loss": float(best["expected_loss"]), "units": UNITS,
           "sentence": recommendation_sentence(comparison), "utility": comparison.settings.to_dict(),
           "utility_words": comparison.settings.describe()}
    if comparison.valued is not None:
        out["what_would_change"] = what_would_change(comparison)
    return out


def write_recommendation(run_dir: Path | str, comparison: PlanComparison) -> None:
    """plan_sensitivity.csv and recommendation.json into a run folder (from decisions.write_plans)."""
    run_dir = Path(run_dir)
    sensitivity_table(comparison).to_csv(run_dir / SENSITIVITY_FILE, index=False)
    (run_dir / RECOMMENDATION_FILE).write_text(json.dumps(recommendation(comparison), indent=2, ensure_ascii=False))


__all__ = ["SENSITIVITY_FILE", "RECOMMENDATION_FILE", "scored", "sensitivity_table", "cost_switches",
           "what_would_change", "recommendation_sentence", "beyond_words", "recommendation", "write_recommendation"]
