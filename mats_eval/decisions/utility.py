"""The decision model: what the programme lead values, in plain units (analyses/plans/example.yaml).

Per scholar, over a plan's weeks w, kinds k and their V_kw sessions of h_k hours:

    U = value · Σ V·h·E[a·worth(Y)] − cost · Σ V·h·E[a]
      = value · valued hours − cost · attended hours          (research hours per scholar)

with a = P(attend), Y the scholar's rating of the session and worth(y) = 0 at or below
`worthless_below` (default: the scale minimum) rising linearly to 1 at the top of the scale.
So `value_per_attended_hour` is what an attended hour rated at the top is worth, and
`research_hour_cost` what any attended hour costs, both in research hours. The expectations
run over a new cohort, scholar and session with the scholar's attendance and rating effects
correlated (estimands/kernels.py `attended_session_moments`): the volume optimum
(optimal_sessions_per_week) is the same utility's argmax over even optional plans of the
reference kind, so the two cannot disagree.

`tie_threshold` is not part of U: plans whose expected utilities are within it (research
hours per scholar over the programme) are reported as practically tied.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from mats_eval.constants import RESEARCH_HOUR_COST, TIE_THRESHOLD_HOURS, VALUE_PER_ATTENDED_HOUR
from mats_eval.errors import UsageError


def research_hours(x: float) -> str:
    """'1 research hour', '0.5 research hours'."""
    return f"{x:g} research hour{'' if x == 1 else 's'}"


@dataclass(frozen=True)
class Utility:
    """The lead's settings (defaults in constants.py). Units: research hours per scholar.

    value_per_attended_hour: what an attended hour rated at the top of the scale is worth;
    research_hour_cost: what an attended hour costs in research time;
    worthless_below: rating (points on the reference scale) at or below which an attended
    session is worth nothing (None: the scale minimum, worth linear over the whole scale);
    tie_threshold: expected-utility gap under which two plans are called practically tied.
    """

    value_per_attended_hour: float = VALUE_PER_ATTENDED_HOUR
    research_hour_cost: float = RESEARCH_HOUR_COST
    worthless_below: float | None = None
    tie_threshold: float = TIE_THRESHOLD_HOURS

    def kernel_args(self) -> dict:
        """The keyword arguments of kernels.valued_attendance_curve for this utility."""
        return {"value": self.value_per_attended_hour, "cost": self.research_hour_cost,
                "worthless_below": self.worthless_below}

    def total(self, valued_hours, attended_hours):
        """U = value · valued hours − cost · attended hours."""
        return self.value_per_attended_hour * np.asarray(valued_hours) - self.research_hour_cost * np.asarray(attended_hours)

    def describe(self) -> str:
        """The utility in one line of plain words."""
        worth = ("its rating's position on the scale" if self.worthless_below is None
                 else f"its rating's position above {self.worthless_below:g}")
        return (f"an attended hour is worth {research_hours(self.value_per_attended_hour)} times {worth} "
                f"(0 to 1) and costs {research_hours(self.research_hour_cost)}; plans whose expected "
                f"utilities are within {research_hours(self.tie_threshold)} per scholar are called tied")

    def to_dict(self) -> dict:
        return asdict(self)


UTILITY_KEYS = tuple(f.name for f in fields(Utility))


def utility_from_dict(raw, source: str = "<plans>") -> Utility:
    """A plans file's `utility:` block, validated: unknown keys are refused naming the valid ones."""
    if raw is None:
        return Utility()
    if not isinstance(raw, dict):
        raise UsageError(f"{source}: utility: must be a mapping with keys {', '.join(UTILITY_KEYS)}")
    settings = {}
    for key, value in raw.items():
        where = f"{source}: utility.{key}"
        if key not in UTILITY_KEYS:
            raise UsageError(f"{where}: unknown key (allowed: {', '.join(UTILITY_KEYS)})")
        if key == "worthless_below" and value is None:
            settings[key] = None
            continue
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) and value >= 0):
            raise UsageError(f"{where}: must be a number >= 0, got {value!r}")
        settings[key] = float(value)
    return Utility(**settings)


__all__ = ["Utility", "UTILITY_KEYS", "utility_from_dict"]
