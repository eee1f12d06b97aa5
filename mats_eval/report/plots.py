"""Report figures: small functions from tidy tables to matplotlib Figures.

They use `matplotlib.figure.Figure` directly (no pyplot): no global state, no
GUI backend, nothing to close, and the figures still display in notebooks.
Intervals are the 90% intervals of the tables they are given.

Sized to be read on a phone: a figure is WIDTH inches at DPI (about 600 px) with
FONT_SIZE-point text, so shrunk to a 400 px screen its text stays about 12 px.
Titles and axes are in words, with units.
"""
from __future__ import annotations

import functools
import io

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

BAND_ALPHA = 0.25
NO_ZERO_LINE = ("probability", "sessions", "weeks")  # scales on which 0 is not a reference value
WIDTH, DPI, FONT_SIZE = 5.5, 110, 13
STYLE = {"font.size": FONT_SIZE, "axes.titlesize": FONT_SIZE + 1, "axes.labelsize": FONT_SIZE,
         "xtick.labelsize": FONT_SIZE - 1, "ytick.labelsize": FONT_SIZE - 1, "legend.fontsize": FONT_SIZE - 2,
         "axes.titlelocation": "left", "axes.spines.top": False, "axes.spines.right": False}


def styled(make):
    """Build the figure with the report's fonts (rcParams are read when artists are created)."""
    @functools.wraps(make)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return make(*args, **kwargs)
    return wrapper


def to_png(fig: Figure, dpi: int = DPI) -> bytes:
    """PNG bytes of a figure (no software/URL metadata in the file)."""
    buffer = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _axes(height: float = 4.0, ncols: int = 1) -> tuple[Figure, object]:
    fig = Figure(figsize=(WIDTH, height), layout="constrained")
    return fig, fig.subplots(1, ncols)


def _percent_axis(axis) -> None:
    axis.set_major_formatter(PercentFormatter(1.0, decimals=0))


@styled
def attendance_decay(observed: pd.DataFrame, band: pd.DataFrame | None = None) -> Figure:
    """Observed weekly attendance of optional sessions per cohort, with the model's band.

    observed: cohort, week, rate; band (optional, attendance_curve.csv): week, mean, hdi_low, hdi_high
    for a new cohort.
    """
    fig, ax = _axes(height=4.8)
    if band is not None and len(band):
        ax.fill_between(band["week"], band["hdi_low"], band["hdi_high"], color="0.6", alpha=BAND_ALPHA,
                        label="model: new cohort (90% interval)")
        ax.plot(band["week"], band["mean"], color="0.25", lw=2.5, label="model: new cohort")
    for cohort, rows in observed.groupby("cohort", sort=True):
        ax.plot(rows["week"], rows["rate"], marker="o", ms=4, lw=1.2, label=f"observed: {cohort}")
    ax.set(xlabel="programme week", ylabel="scholars attending (%)", ylim=(0, 1),
           title="Attendance of optional sessions, by week")
    _percent_axis(ax.yaxis)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(loc="outside lower center", ncols=2, frameon=False)
    return fig


@styled
def ratings_by_policy(ratings: pd.DataFrame, column: str = "value", label: str = "mean rating (0 = scale minimum, 1 = maximum)",
                      limits: tuple[float, float] = (0, 1)) -> Figure:
    """Mean rating by kind, bars side by side per policy (observed, unadjusted).

    ratings: kind, policy and `column` (the mean rating on the scale `limits`).
    """
    fig, ax = _axes()
    kinds = sorted(ratings["kind"].unique())
    width = 0.38
    x = np.arange(len(kinds))
    for j, (policy, colour) in enumerate(zip(("mandatory", "optional"), ("tab:red", "tab:blue"))):
        rows = ratings[ratings["policy"] == policy].set_index("kind").reindex(kinds)
        ax.bar(x + (j - 0.5) * width, rows[column], width, color=colour, label=policy)
    ax.set_xticks(x, [k.replace("_", " ") for k in kinds], rotation=30, ha="right")
    ax.set(ylabel=label, ylim=limits, title="Observed session ratings, by kind and policy")
    ax.legend(frameon=False, ncols=2, loc="upper left")
    return fig


@styled
def forest(effects: pd.DataFrame, labels: list[str] | None = None) -> Figure:
    """One row per estimand: posterior mean and 90% interval, each on its own scale.

    labels: one label per row (default: estimand and scale).
    """
    n = len(effects)
    labels = labels or [f"{r['estimand']} ({r['scale']})" for _, r in effects.iterrows()]
    fig = Figure(figsize=(WIDTH, 1.05 * n + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(n, 1))
    for ax, (_, row), label in zip(axes, effects.iterrows(), labels):
        ax.errorbar([row["mean"]], [0], xerr=[[row["mean"] - row["hdi_low"]], [row["hdi_high"] - row["mean"]]],
                    fmt="o", color="tab:blue", capsize=4)
        if row["scale"] not in NO_ZERO_LINE:  # contrasts, slopes, spreads: 0 means "no effect"
            ax.axvline(0, color="0.6", lw=0.8, ls="--")
        ax.set_yticks([])
        ax.set_title(label, fontsize=FONT_SIZE - 2, loc="left")
        ax.set_ylim(-1, 1)
        ax.spines["left"].set_visible(False)
        ax.xaxis.set_major_locator(MaxNLocator(5))
    fig.suptitle("Every estimate: posterior mean and 90% interval", x=0.02, ha="left", fontsize=FONT_SIZE + 1)
    return fig


@styled
def volume_curve(grid, mean, low, high, optimum: tuple[float, float, float] | None = None,
                 observed: dict[str, float] | None = None, extrapolated=None,
                 ylabel: str = "utility per scholar-week") -> Figure:
    """The volume curve with its band, the optimum V*, the volumes cohorts ran, and where data end.

    optimum: (value, low, high) of V*, as in its effects.csv row. observed: {cohort: sessions/week}.
    extrapolated: one bool per grid point, True outside the volumes the data cover (shaded grey).
    """
    grid = np.asarray(grid, dtype=float)
    fig, ax = _axes(height=4.8)
    ax.fill_between(grid, low, high, color="tab:green", alpha=BAND_ALPHA, label="90% interval")
    ax.plot(grid, mean, color="tab:green", lw=2.5, label="posterior mean")
    for k, (start, stop) in enumerate(_stretches(grid, extrapolated)):
        ax.axvspan(start, stop, color="0.85", alpha=0.6, lw=0, label=None if k else "beyond the data")
    if optimum is not None:
        mid, lo, hi = optimum
        ax.axvspan(lo, hi, color="tab:orange", alpha=0.15, lw=0)
        ax.axvline(mid, color="tab:orange", lw=2, label=f"best volume ≈ {mid:.1f} (90% interval shaded)")
    by_volume: dict[float, list[str]] = {}
    for cohort, volume in (observed or {}).items():
        by_volume.setdefault(volume, []).append(str(cohort))
    for volume, cohorts in by_volume.items():
        ax.axvline(volume, color="0.3", lw=1, ls=":")
        ax.annotate(", ".join(cohorts), (volume, 1.0), xycoords=("data", "axes fraction"), rotation=90,
                    ha="right", va="top", fontsize=FONT_SIZE - 3, color="0.3")
    ax.set(xlabel="sessions per week (all kinds)", ylabel=ylabel, title="Returns to the number of sessions a week")
    fig.legend(loc="outside lower center", ncols=2, frameon=False)
    return fig


def _stretches(grid: np.ndarray, flags) -> list[tuple[float, float]]:
    """(start, stop) of each run of True in `flags` over `grid`, widened by half a step on each side."""
    if flags is None or not np.any(flags):
        return []
    flags = np.asarray(flags, dtype=bool)
    half = (grid[1] - grid[0]) / 2 if len(grid) > 1 else 0.5
    edges = np.flatnonzero(np.diff(np.r_[False, flags, False].astype(int)))
    return [(max(grid[a] - half, grid[0]), min(grid[b - 1] + half, grid[-1])) for a, b in zip(edges[::2], edges[1::2])]


@styled
def plan_utility(table: pd.DataFrame, unit: str = "hours per scholar") -> Figure:
    """Utility per scholar of each plan (mean and 90% interval), best at the top, each plan named above
    its interval (names get the figure's full width rather than a margin)."""
    rows = table.iloc[::-1]
    fig, ax = _axes(height=0.75 * len(rows) + 1.4)
    y = np.arange(len(rows))
    ax.errorbar(rows["utility_mean"], y,
                xerr=[rows["utility_mean"] - rows["utility_hdi_low"], rows["utility_hdi_high"] - rows["utility_mean"]],
                fmt="o", color="tab:purple", capsize=4)
    for j, name in zip(y, rows["plan"]):
        ax.annotate(_short(name, 60), (0, j + 0.22), xycoords=("axes fraction", "data"), fontsize=FONT_SIZE - 2,
                    va="bottom")
    ax.set_yticks([])
    ax.set_ylim(-0.5, len(rows) - 0.1)
    ax.spines["left"].set_visible(False)
    ax.axvline(0, color="0.6", lw=0.8, ls="--")
    ax.set(xlabel=f"expected utility ({unit})", title="Plans compared: utility and 90% interval")
    return fig


@styled
def plan_attendance(by_week: pd.DataFrame) -> Figure:
    """Expected attendance (all kinds) per week for each plan, with 90% bands."""
    overall = by_week[by_week["kind"] == "all"]
    fig, ax = _axes(height=4.0 + 0.3 * overall["plan"].nunique())
    for plan, rows in overall.groupby("plan", sort=False):
        line, = ax.plot(rows["week"], rows["attendance_mean"], marker="o", ms=3, label=_short(plan, 48))
        ax.fill_between(rows["week"], rows["attendance_hdi_low"], rows["attendance_hdi_high"],
                        color=line.get_color(), alpha=0.12)
    ax.set(xlabel="programme week", ylabel="sessions attended (%)", ylim=(0, 1),
           title="Expected attendance under each plan")
    _percent_axis(ax.yaxis)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(loc="outside lower center", frameon=False, fontsize=FONT_SIZE - 3)
    return fig


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
