"""Where the estimands are evaluated: the reference kind, volume, weeks and scales of a dataset."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from mats_eval.constants import VOLUME_GRID_STEP


@dataclass(frozen=True)
class Reference:
    """Where the estimands are evaluated; derived from the data by `reference_from`.

    kind: most frequent kind among optional sessions; volume: the mean weekly
    programming load (sessions of every kind in a cohort-week, design.session_volume);
    n_weeks: longest programme; session/retro scale: the most common scale;
    element: most rated retrospective element.
    volume_grid: where the volume optimum is searched, the weekly loads the data
    cover (observed minimum to maximum, VOLUME_GRID_STEP apart);
    observed_volumes: (cohort, sessions a week, weeks run at that load), the
    aggregate the volume figure and volume_curve.csv's observed_cohorts show.
    relevant_share: with session topics, the share π of (scholar, session) pairs of a
    cohort in which a session of the reference kind is relevant to the scholar
    (`relevant_share`): the mix of relevant and other sessions a new cohort's estimands
    average over (None without topics); relevant_shares: (kind, π) for every kind (a
    curriculum's discussion groups may concern everyone while seminars each concern a stream).
    observed_policies: (kind, policy) pairs some cohort ran: a plan outside them leans on the
    model's additivity, not on data (decisions.plans.beyond_the_data).
    session_cells: (week, weekly load, weight) of the data's own sessions of the reference kind,
    weighted by their scholar × session pairs: where the averaged contrasts are evaluated
    (average comparisons over the programme as it ran, beside the single reference point).
    """

    kind: str
    volume: float
    n_weeks: int
    rating_week: float
    session_scale: tuple[int, int]
    volume_grid: tuple[float, ...]
    retro_scale: tuple[int, int] | None = None
    element: str | None = None
    observed_volumes: tuple[tuple[str, float, int], ...] = ()
    relevant_share: float | None = None
    relevant_shares: tuple[tuple[str, float], ...] = ()
    observed_policies: tuple[tuple[str, str], ...] = ()
    session_cells: tuple[tuple[float, float, float], ...] = ()

    def __post_init__(self):
        # read back from JSON the triples are lists: keep them tuples (hashable, comparable)
        for name in ("observed_volumes", "relevant_shares", "observed_policies", "session_cells"):
            object.__setattr__(self, name, tuple(tuple(t) for t in getattr(self, name)))

    def relevant_share_of(self, kind: str) -> float | None:
        """π of sessions of `kind` (relevant_shares), the reference kind's π for a kind the data lack."""
        return dict(self.relevant_shares).get(kind, self.relevant_share)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def volume_range(self) -> tuple[float, float]:
        """(lowest, highest) weekly volume of the reference kind any cohort ran; the grid's ends
        when the volumes are not recorded (a reference.json written before they were)."""
        volumes = [v for _, v, _ in self.observed_volumes] or list(self.volume_grid)
        return float(min(volumes)), float(max(volumes))

    @property
    def curve_grid(self) -> tuple[float, ...]:
        """volume_grid widened by up to one session a week below and two above (not below 0.5/week),
        on the same step: volume_curve.csv shows the extrapolated stretch next to the data."""
        lo, hi = self.volume_range
        below = VOLUME_GRID_STEP * np.floor(max(min(1.0, lo - 0.5), 0.0) / VOLUME_GRID_STEP + 1e-9)
        return tuple(sorted(set(volume_grid(lo - below, hi + 2.0)) | set(self.volume_grid)))

    def is_extrapolated(self, volume) -> np.ndarray:
        """True where a weekly volume lies outside the range the data cover."""
        lo, hi = self.volume_range
        volume = np.asarray(volume, dtype=float)
        return (volume < lo - 1e-9) | (volume > hi + 1e-9)

    def cohorts_at(self, volume: float) -> str:
        """'MATS 4.0 (3 weeks); MATS 5.0 (1 week)': the cohorts that ran `volume` sessions a week."""
        return "; ".join(f"{cohort} ({weeks} week{'s' if weeks != 1 else ''})"
                         for cohort, v, weeks in self.observed_volumes if abs(v - volume) < 1e-9)


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
    per_week = sessions.groupby(["cohort", "week"]).size()  # the weekly load, every kind
    volume = float(per_week.mean())
    n_weeks = int(data.cohorts["n_weeks"].max())
    session_scale = _mode(
        zip(data.cohorts["session_scale_min"].astype(int), data.cohorts["session_scale_max"].astype(int))
    )
    observed = per_week.rename("volume").reset_index().groupby(["cohort", "volume"]).size()
    observed_volumes = tuple((str(c), float(v), int(n)) for (c, v), n in observed.items())
    observed_policies = tuple(sorted({(str(k), str(p)) for k, p in zip(sessions["kind"], sessions["policy"])}))
    session_cells = _session_cells(sessions, per_week, data.scholars, kind)
    shares = tuple((str(k), relevant_share(data, str(k))) for k in sorted(sessions["kind"].unique())) \
        if data.has_topics else ()
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
        relevant_share=dict(shares)[str(kind)] if shares else None,
        relevant_shares=shares,
        kind=str(kind),
        volume=volume,
        n_weeks=n_weeks,
        rating_week=(1 + n_weeks) / 2,
        session_scale=tuple(int(x) for x in session_scale),
        volume_grid=volume_grid(float(per_week.min()), float(per_week.max())),
        retro_scale=None if retro_scale is None else tuple(int(x) for x in retro_scale),
        element=element,
        observed_volumes=observed_volumes,
        observed_policies=observed_policies,
        session_cells=session_cells,
    )


def _session_cells(sessions: pd.DataFrame, per_week: pd.Series, scholars: pd.DataFrame, kind) -> tuple:
    """(week, load, weight) over the sessions of `kind`: weight = Σ sessions × the cohort's scholars."""
    own = sessions[sessions["kind"] == kind]
    counts = own.groupby(["cohort", "week"]).size().rename("sessions").reset_index()
    counts["load"] = [float(per_week[(c, w)]) for c, w in zip(counts["cohort"], counts["week"])]
    counts["weight"] = counts["sessions"] * counts["cohort"].map(scholars.groupby("cohort").size()).fillna(0)
    cells = counts.groupby(["week", "load"])["weight"].sum()
    return tuple((float(w), float(v), float(n)) for (w, v), n in cells.items() if n > 0)


def relevant_share(data, kind: str | None = None) -> float:
    """π = Σ_c Σ_t n_sessions(c, t)·n_scholars(c, t relevant to them) / Σ_c n_sessions(c)·n_scholars(c):
    the share of a cohort's (scholar, session) pairs in which the session (of `kind`, default any) is
    relevant to the scholar (topic blank, 'general' or the scholar's stream), counted per cohort and
    topic, never per pair."""
    from mats_eval.data.programdata import GENERAL_TOPIC

    sessions = data.sessions if kind is None else data.sessions[data.sessions["kind"] == kind]
    sessions = sessions.assign(topic=sessions["topic"].astype("string").fillna(GENERAL_TOPIC))
    scholars = data.scholars
    stream = scholars["stream"] if "stream" in scholars else pd.Series(pd.NA, index=scholars.index)
    per_stream = scholars.assign(stream=stream.astype("string")).groupby(["cohort", "stream"]).size()
    cohort_size = scholars.groupby("cohort").size()
    relevant = total = 0.0
    for (cohort, topic), n_sessions in sessions.groupby(["cohort", "topic"]).size().items():
        n_scholars = float(cohort_size.get(cohort, 0))
        n_relevant = n_scholars if topic == GENERAL_TOPIC else float(per_stream.get((cohort, topic), 0))
        relevant += n_sessions * n_relevant
        total += n_sessions * n_scholars
    return relevant / total if total else float("nan")


def volume_grid(low: float, high: float, step: float = VOLUME_GRID_STEP) -> tuple[float, ...]:
    """low, low + step, …, high (high included): the volumes the optimum is searched over."""
    grid = np.arange(low, high + 1e-9, step)
    if grid[-1] < high - 1e-9:
        grid = np.append(grid, high)
    return tuple(np.round(grid, 6).tolist())
