"""Report figures: small functions from tidy tables to matplotlib Figures.

They use `matplotlib.figure.Figure` directly (no pyplot): no global state, no
GUI backend, nothing to close, and the figures still display in notebooks.
Intervals are the 90% intervals of the tables they are given.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

BAND_ALPHA = 0.25
NO_ZERO_LINE = ("probability", "sessions")  # scales on which 0 is not a reference value
WIDTH = 7.0


def to_png(fig: Figure, dpi: int = 110) -> bytes:
    """PNG bytes of a figure (no software/URL metadata in the file)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _axes(height: float = 3.6, ncols: int = 1) -> tuple[Figure, object]:
    fig = Figure(figsize=(WIDTH, height), layout="constrained")
    return fig, fig.subplots(1, ncols)


def attendance_decay(observed: pd.DataFrame, band: pd.DataFrame | None = None) -> Figure:
    """Observed weekly attendance of optional sessions per cohort, with the model's band.

    observed: cohort, week, rate; band (optional, attendance_curve.csv): week, mean, hdi_low, hdi_high
    for a new cohort.
    """
    fig, ax = _axes()
    if band is not None and len(band):
        ax.fill_between(band["week"], band["hdi_low"], band["hdi_high"], color="0.6", alpha=BAND_ALPHA,
                        label="model, new cohort (90%)")
        ax.plot(band["week"], band["mean"], color="0.3", lw=2, label="model mean")
    for cohort, rows in observed.groupby("cohort", sort=True):
        ax.plot(rows["week"], rows["rate"], marker="o", ms=4, lw=1.2, label=str(cohort))
    ax.set(xlabel="programme week", ylabel="share of scholars attending", ylim=(0, 1), title="Attendance of optional sessions")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8, ncols=2, loc="best")
    return fig


def ratings_by_policy(ratings: pd.DataFrame) -> Figure:
    """Mean rating (0 = scale minimum, 1 = maximum) by kind, bars side by side per policy.

    ratings: kind, policy, value (the normalised mean rating).
    """
    fig, ax = _axes()
    kinds = sorted(ratings["kind"].unique())
    policies = ["mandatory", "optional"]
    width = 0.38
    x = np.arange(len(kinds))
    for j, (policy, colour) in enumerate(zip(policies, ("tab:red", "tab:blue"))):
        rows = ratings[ratings["policy"] == policy].set_index("kind").reindex(kinds)
        ax.bar(x + (j - 0.5) * width, rows["value"], width, color=colour, label=policy)
    ax.set_xticks(x, [k.replace("_", " ") for k in kinds])
    ax.set(ylabel="mean rating (scale mapped to 0–1)", ylim=(0, 1), title="Observed session ratings by kind and policy")
    ax.legend(fontsize=8)
    return fig


def forest(effects: pd.DataFrame) -> Figure:
    """One row per estimand: posterior mean and 90% HDI, each on its own scale."""
    n = len(effects)
    fig = Figure(figsize=(WIDTH, 0.75 * n + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(n, 1))
    for ax, (_, row) in zip(axes, effects.iterrows()):
        ax.errorbar([row["mean"]], [0], xerr=[[row["mean"] - row["hdi_low"]], [row["hdi_high"] - row["mean"]]],
                    fmt="o", color="tab:blue", capsize=4)
        if row["scale"] not in NO_ZERO_LINE:  # contrasts, slopes, spreads: 0 means "no effect"
            ax.axvline(0, color="0.6", lw=0.8, ls="--")
        ax.set_yticks([0], [f"{row['estimand']}\n({row['scale']})"], fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_ylim(-1, 1)
    axes[0].set_title("Effects: posterior mean and 90% interval")
    return fig


def volume_curve(grid, mean, low, high, optimum: tuple[float, float, float] | None = None) -> Figure:
    """U(V), expected valued attendance per scholar-week, with its band and the optimum V*.

    optimum: (value, low, high) of V*, as in its effects.csv row.
    """
    fig, ax = _axes()
    ax.fill_between(grid, low, high, color="tab:green", alpha=BAND_ALPHA, label="90% interval")
    ax.plot(grid, mean, color="tab:green", lw=2, label="posterior mean")
    if optimum is not None:
        mid, lo, hi = optimum
        ax.axvspan(lo, hi, color="tab:orange", alpha=0.15, label="V* 90% interval")
        ax.axvline(mid, color="tab:orange", lw=1.5, label=f"V* ≈ {mid:.1f}")
    ax.set(xlabel="sessions per week (V)", ylabel="valued attendance per scholar-week",
           title="Returns to volume: U(V) = V · P(attend) · value(E[rating])")
    ax.legend(fontsize=8)
    return fig


def plan_utility(table: pd.DataFrame) -> Figure:
    """Utility per scholar of each plan (mean and 90% interval), best at the top."""
    rows = table.iloc[::-1]
    fig, ax = _axes(height=0.55 * len(rows) + 1.2)
    y = np.arange(len(rows))
    ax.errorbar(rows["utility_mean"], y,
                xerr=[rows["utility_mean"] - rows["utility_hdi_low"], rows["utility_hdi_high"] - rows["utility_mean"]],
                fmt="o", color="tab:purple", capsize=4)
    ax.set_yticks(y, [_short(name) for name in rows["plan"]], fontsize=8)
    ax.axvline(0, color="0.6", lw=0.8, ls="--")
    ax.set(xlabel="utility per scholar (valued hours − cost of attended hours)", title="Plans compared")
    return fig


def plan_attendance(by_week: pd.DataFrame) -> Figure:
    """Expected attendance (all kinds) per week for each plan, with 90% bands."""
    fig, ax = _axes()
    overall = by_week[by_week["kind"] == "all"]
    for plan, rows in overall.groupby("plan", sort=False):
        line, = ax.plot(rows["week"], rows["attendance_mean"], marker="o", ms=3, label=_short(plan))
        ax.fill_between(rows["week"], rows["attendance_hdi_low"], rows["attendance_hdi_high"],
                        color=line.get_color(), alpha=0.12)
    ax.set(xlabel="programme week", ylabel="expected attendance", ylim=(0, 1), title="Expected attendance by plan")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7)
    return fig


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
