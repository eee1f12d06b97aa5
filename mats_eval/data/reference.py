"""Where the estimands are evaluated: the reference kind, volume, weeks and scales of a dataset."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Reference:
    """Where the estimands are evaluated; derived from the data by `reference_from`.

    kind: most frequent kind among optional sessions; volume: its mean weekly
    volume where offered; n_weeks: longest programme; session/retro scale: the
    most common scale; element: most rated retrospective element.
    """

    kind: str
    volume: float
    n_weeks: int
    rating_week: float
    session_scale: tuple[int, int]
    volume_grid: tuple[float, ...]
    retro_scale: tuple[int, int] | None = None
    element: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _mode(values) -> object:
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[0][0]


def reference_from(data) -> Reference:
    """The evaluation point of every estimand, computed from a ProgramData."""
    sessions = data.sessions
    optional = sessions[sessions["policy"] == "optional"]
    kind = _mode((optional if len(optional) else sessions)["kind"])
    per_week = sessions[sessions["kind"] == kind].groupby(["cohort", "week"]).size()
    volume = float(per_week.mean())
    n_weeks = int(data.cohorts["n_weeks"].max())
    session_scale = _mode(
        zip(data.cohorts["session_scale_min"].astype(int), data.cohorts["session_scale_max"].astype(int))
    )
    max_volume = float(sessions.groupby(["cohort", "week", "kind"]).size().max())
    grid = tuple(np.round(np.arange(0.5, max(12.0, 2 * max_volume) + 1e-9, 0.25), 2).tolist())
    retro_scale = element = None
    retro = data.retrospective
    if retro is not None and len(retro):
        cohorts = data.cohorts.dropna(subset=["retro_scale_min", "retro_scale_max"])
        if len(cohorts):
            retro_scale = _mode(
                zip(cohorts["retro_scale_min"].astype(int), cohorts["retro_scale_max"].astype(int))
            )
        element = _mode(retro["element"])
    return Reference(
        kind=str(kind),
        volume=volume,
        n_weeks=n_weeks,
        rating_week=(1 + n_weeks) / 2,
        session_scale=tuple(int(x) for x in session_scale),
        volume_grid=grid,
        retro_scale=None if retro_scale is None else tuple(int(x) for x in retro_scale),
        element=element,
    )
