"""design.py: index arrays, derived volume, week and scale coding."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from datasets import write_valid_dataset
from mats_eval.data.design import build_design, scale_label, session_volume
from mats_eval.data.io import load
from mats_eval.data.programdata import ProgramData


def hand_data(speaker=("A", None, "B", "A")) -> ProgramData:
    """Two cohorts on different scales; cohort X has two seminars in week 2."""
    cohorts = pd.DataFrame({"cohort": ["X", "Y"], "n_weeks": [3, 2],
                            "session_scale_min": [1, 0], "session_scale_max": [5, 10]})
    scholars = pd.DataFrame({"scholar_id": ["x1", "x2", "y1"], "cohort": ["X", "X", "Y"]})
    sessions = pd.DataFrame({
        "session_id": ["s1", "s2", "s3", "s4"],
        "cohort": ["X", "X", "X", "Y"],
        "week": [2, 2, 3, 1],
        "kind": ["seminar", "seminar", "workshop", "seminar"],
        "policy": ["mandatory", "optional", "optional", "optional"],
        "speaker": list(speaker),
    })
    attendance = pd.DataFrame({"session_id": ["s1", "s2", "s3", "s4", "s1"],
                               "scholar_id": ["x1", "x1", "x2", "y1", "x2"],
                               "attended": [1, 0, 1, 1, 0]})
    ratings = pd.DataFrame({"session_id": ["s1", "s4", "s3"], "scholar_id": ["x1", "y1", "x2"],
                            "rating": [5, 0, 2]})
    return ProgramData(cohorts, scholars, sessions, attendance, ratings)


def test_volume_counts_sessions_of_same_cohort_week_any_policy():
    data = hand_data()
    assert session_volume(data.sessions).tolist() == [2.0, 2.0, 1.0, 1.0]


def test_volume_is_the_weekly_load_of_every_kind():
    """A workshop in the week of two seminars makes it a week of three sessions for all of them."""
    sessions = pd.DataFrame({"session_id": list("abcde"), "cohort": ["X", "X", "X", "X", "Y"],
                             "week": [1, 1, 1, 2, 1],
                             "kind": ["seminar", "seminar", "workshop", "seminar", "social"],
                             "policy": ["mandatory", "optional", "optional", "optional", "optional"]})
    assert session_volume(sessions).tolist() == [3.0, 3.0, 3.0, 1.0, 1.0]


def test_indices_and_covariates():
    d = build_design(hand_data())
    assert d.coords["cohort"] == ["X", "Y"]
    assert d.coords["kind"] == ["seminar", "workshop"]
    assert d.session_week0.tolist() == [1.0, 1.0, 2.0, 0.0]
    assert d.session_mandatory.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert d.session_cohort.tolist() == [0, 0, 0, 1]
    assert d.scholar_cohort.tolist() == [0, 0, 1]
    assert d.att_session.tolist() == [0, 1, 2, 3, 0]
    assert d.att_scholar.tolist() == [0, 0, 1, 2, 1]
    assert d.att_y.tolist() == [1, 0, 1, 1, 0]
    assert d.coords["week"] == [1, 2, 3]


def test_sessions_without_speaker_get_no_speaker_effect():
    d = build_design(hand_data())
    assert d.coords["speaker"] == ["A", "B"]
    assert d.session_has_speaker.tolist() == [1.0, 0.0, 1.0, 1.0]
    assert d.session_speaker.tolist() == [0, 0, 1, 0]
    no_speakers = build_design(hand_data(speaker=(None, None, None, None)))
    assert not no_speakers.has_speakers


def test_scales_and_rating_codes():
    d = build_design(hand_data())
    assert d.scales == ((0, 10), (1, 5))
    assert d.coords["session_scale"] == ["0_10", "1_5"]
    assert d.cohort_scale.tolist() == [1, 0]
    assert d.rating_scale.tolist() == [1, 0, 1]
    assert d.rating_code.tolist() == [4, 0, 1]  # 5 on 1..5 -> 4; 0 on 0..10 -> 0; 2 on 1..5 -> 1
    assert d.n_categories == [11, 5]
    assert scale_label((1, 10)) == "1_10"


def test_design_from_a_loaded_folder(tmp_path):
    write_valid_dataset(tmp_path / "ds")
    data = load(tmp_path / "ds")
    d = build_design(data)
    assert len(d.att_y) == len(data.attendance)
    assert len(d.rating_code) == len(data.ratings)
    assert set(d.scales) == {(1, 10), (1, 7)}
    k = np.array(d.n_categories)[d.rating_scale]
    assert ((d.rating_code >= 0) & (d.rating_code < k)).all()
    assert (d.session_volume >= 1).all()


def test_design_is_frozen():
    d = build_design(hand_data())
    with pytest.raises(Exception):
        d.att_y = np.zeros(1)


def with_topics(topics=("interp", "general", "evals", None), streams=("interp", "evals", None)) -> ProgramData:
    data = hand_data()
    data.sessions["topic"] = pd.Series(list(topics), dtype="string")
    data.scholars["stream"] = pd.Series(list(streams), dtype="string")
    return data


def test_relevance_of_each_observation():
    """x1 (interp) and x2 (evals) in X; y1 (no stream) in Y. s1 interp, s2 general, s3 evals, s4 blank."""
    d = build_design(with_topics())
    rel = d.relevance
    assert rel.streams == ("evals", "interp", "(no stream)") and d.coords["stream"] == list(rel.streams)
    assert rel.scholar_stream.tolist() == [1, 0, 2]
    # attendance rows: (s1,x1) (s2,x1) (s3,x2) (s4,y1) (s1,x2)
    assert rel.att_relevant.tolist() == [1.0, 1.0, 1.0, 1.0, 0.0]
    # rating rows: (s1,x1) (s4,y1) (s3,x2)
    assert rel.rating_relevant.tolist() == [1.0, 1.0, 1.0]
    # seminar pairs (the reference kind): X has s1, s2 × x1, x2, of which s1-x1, s2-x1, s2-x2 are
    # relevant; Y: s4-y1. Over every kind s3-x2 (evals) joins them: 5 of 7
    from mats_eval.data.reference import relevant_share

    assert d.reference.kind == "seminar" and d.reference.relevant_share == pytest.approx(4 / 5)
    assert relevant_share(with_topics()) == pytest.approx(5 / 7)
    # per kind: the workshop s3 (evals) is relevant to x2 only
    assert dict(d.reference.relevant_shares) == pytest.approx({"seminar": 4 / 5, "workshop": 1 / 2})
    assert d.reference.relevant_share_of("workshop") == pytest.approx(1 / 2)
    assert d.reference.relevant_share_of("social") == pytest.approx(4 / 5)  # a kind the data lack


def test_no_topics_no_relevance():
    d = build_design(hand_data())
    assert d.relevance is None and d.reference.relevant_share is None and "stream" not in d.coords
    general_only = build_design(with_topics(topics=("general", None, "general", None)))
    assert general_only.relevance is None
