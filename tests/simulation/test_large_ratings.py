"""The real-world-size scenario: ratings only, ~3,000 scholars, ~1,100 speakers, ~75,000 ratings."""
from __future__ import annotations

import pandas as pd
import pytest

import mats_eval.data.io
from mats_eval.data.design import build_design
from mats_eval.simulation.scenarios import simulate, write_scenario


@pytest.fixture(scope="module")
def full():
    return simulate("large-ratings", seed=1)


def test_full_size_is_the_real_world_size(full):
    t = full.tables
    assert len(t["scholars"]) == 3000
    assert 70_000 < len(t["ratings"]) < 80_000
    assert 1_050 < t["sessions"]["speaker"].nunique() < 1_150
    assert t["ratings"]["scholar_id"].nunique() > 2_950  # nearly every scholar rates something


def test_only_ratings_are_recorded(full):
    t = full.tables
    assert "retrospective" not in t
    att, ratings = t["attendance"], t["ratings"]
    assert (att["attended"] == 1).all()  # no absences: nobody took attendance
    pairs = ["session_id", "scholar_id"]
    pd.testing.assert_frame_equal(att[pairs].reset_index(drop=True), ratings[pairs].reset_index(drop=True))


def test_a_small_copy_loads_and_gives_the_ratings_model_its_inputs(tmp_path):
    """What `mats-eval fit DATA --model ratings` reads: every rated session, speakers, one scale."""
    folder = write_scenario("large-ratings", seed=2, out=tmp_path / "large", scale=0.1)
    assert not (folder / "retrospective.csv").exists()
    data = mats_eval.data.io.load(folder)
    assert data.retrospective is None and data.implied_attendance == 0
    design = build_design(data)
    assert len(design.rating_code) == len(data.ratings) and design.has_speakers
    assert tuple(design.scales) == ((1, 10),) and len(design.coords["cohort"]) == 40
