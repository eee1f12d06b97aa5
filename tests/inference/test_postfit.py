"""Post-fit work in seconds and run folders of a sensible size: U(V) once, decision draws holding only
what the plans read, shared draws stored once, stages timed."""
from __future__ import annotations

import importlib
from dataclasses import replace

import numpy as np
import pytest

from mats_eval.data.reference import reference_from
from mats_eval.decisions.plans import candidate_plans, evaluate_plans
from mats_eval.estimands import kernels
from mats_eval.estimands.summary import curve_draws, optimum_draws, volume_curve
from mats_eval.runfolder import read_decision_draws, write_decision_draws
from mats_eval.simulation.scenarios import canonical_parameters, simulate

fitting = importlib.import_module("mats_eval.inference.fitting")
DRAWS = 40


@pytest.fixture(scope="module")
def world():
    """(canonical draws at each kind, Reference): the identified scenario's truth, jittered into DRAWS draws,
    plus two parameters no kernel reads."""
    data = simulate("identified", seed=3, scale=0.2)
    ref = reference_from(data.program_data())
    rng = np.random.default_rng(0)
    by_kind = {}
    shared_noise = {}
    for kind in data.parameters["attendance_kind"]:
        p = canonical_parameters(data.parameters, replace(ref, kind=kind))
        draws = {}
        for name, value in p.items():
            value = np.asarray(value, dtype=float)
            base = np.broadcast_to(value if value.ndim else value[None], (DRAWS,) + value.shape[1:] if value.ndim > 1
                                   else (DRAWS,))
            noise = shared_noise.setdefault(name, 0.05 * rng.normal(size=base.shape))
            jittered = base + noise
            draws[name] = np.abs(jittered) if name.endswith("_sd") else jittered
            if name == "rating_cutpoints_ref":
                draws[name] = np.sort(jittered, axis=1)
        draws["rating_cohort_t"] = shared_noise.setdefault("t", rng.normal(size=(DRAWS, 3)))  # read by no kernel
        draws["attendance_level"] = shared_noise.setdefault("level", rng.normal(size=DRAWS))
        by_kind[kind] = draws
    return by_kind, ref


def test_optimum_and_volume_curve_come_from_one_evaluation_of_u(world):
    by_kind, ref = world
    p = by_kind[ref.kind]
    curve = curve_draws(p, ref, threads=2)
    assert curve.shape == (DRAWS, len(ref.curve_grid))
    np.testing.assert_array_equal(optimum_draws(curve, ref), kernels.optimal_sessions_per_week(p, ref))
    np.testing.assert_array_equal(curve, curve_draws(p, ref, threads=1))  # threads split draws, nothing else
    assert volume_curve(p, ref).equals(volume_curve(p, ref, curve))


def test_decision_draws_hold_exactly_the_parameters_the_plans_read(world):
    by_kind, ref = world
    kept = {kind: fitting.decision_parameters(p, ref) for kind, p in by_kind.items()}
    names = set(kept[ref.kind])
    assert {"rating_cohort_t", "attendance_level"}.isdisjoint(names)
    assert {"attendance_intercept", "attendance_volume", "rating_mandatory", "rating_cutpoints_ref",
            "attendance_scholar_sd", "rating_scholar_sd"} <= names
    # every name kept matters to the kernel: without it the plans' moments fail or move somewhere
    p = kept[ref.kind]
    settings = [(float(week), mandatory) for week in (1, ref.n_weeks) for mandatory in (0.0, 1.0)]

    def moments(q):
        return [kernels.attended_session_moments(q, ref, week, float(ref.volume), m) for week, m in settings]

    full = moments(p)
    for name in names - set(fitting.PLANS_REQUIRE):
        try:
            moved = moments({k: v for k, v in p.items() if k != name})
        except KeyError:
            continue
        assert any(not np.array_equal(a[k], b[k]) for a, b in zip(full, moved) for k in a), name
    # and the plans come out the same as from every parameter
    plans = candidate_plans(list(by_kind), {k: [1, 3] for k in by_kind}, policies=("optional", "mandatory"),
                            weeks=ref.n_weeks)[:4]
    full, reduced = evaluate_plans(by_kind, plans, ref), evaluate_plans(kept, plans, ref)
    np.testing.assert_array_equal(full.table["utility_mean"], reduced.table["utility_mean"])


def test_decision_draws_file_stores_shared_draws_once(world, tmp_path):
    by_kind, ref = world
    kept = {kind: fitting.decision_parameters(p, ref) for kind, p in by_kind.items()}
    write_decision_draws(kept, tmp_path / "all.nc")
    back = read_decision_draws(tmp_path / "all.nc")
    assert back.keys() == kept.keys()
    for kind, p in kept.items():
        assert back[kind].keys() == p.keys()
        for name, draws in p.items():
            np.testing.assert_array_equal(back[kind][name], draws)
    one = next(iter(kept))
    write_decision_draws({one: kept[one]}, tmp_path / "one.nc")
    # only the kind effects differ between kinds: several kinds cost little more than one
    size = lambda name: (tmp_path / name).stat().st_size  # noqa: E731
    assert len(kept) >= 3 and size("all.nc") < 1.5 * size("one.nc")


def test_stage_times_and_reports_progress(capsys):
    timings = {}
    with fitting.stage("loo", timings, progress=True):
        pass
    assert set(timings) == {"loo"} and timings["loo"] >= 0
    assert "loo" in capsys.readouterr().err


def test_posterior_file_keeps_stored_draws_every_kth_of_each_chain(tmp_path):
    import xarray as xr

    from mats_eval.runfolder import STORED_DRAWS, read_posterior, write_posterior

    rng = np.random.default_rng(2)
    chains, draws, scholars = 2, 3 * STORED_DRAWS // 2, 50
    post = xr.Dataset({"sd": (("chain", "draw"), rng.gamma(2.0, size=(chains, draws))),
                       "effect_z": (("chain", "draw", "scholar"), rng.normal(size=(chains, draws, scholars)))})
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((chains, draws), bool))})
    write_posterior(xr.DataTree.from_dict({"posterior": post, "sample_stats": stats}), tmp_path / "p.nc")
    back = read_posterior(tmp_path / "p.nc")
    stored = back["posterior"]
    assert stored.sizes["chain"] * stored.sizes["draw"] <= STORED_DRAWS
    assert back["sample_stats"].sizes["draw"] == stored.sizes["draw"]
    np.testing.assert_array_equal(stored["sd"].values, post["sd"].values[:, ::3].astype(np.float32))
    np.testing.assert_allclose(stored["effect_z"].values, post["effect_z"].values[:, ::3], rtol=1.3e-4, atol=1e-6)
    assert "every 3 draw(s)" in stored.attrs["stored_draws"]
