"""Pseudonyms: keyed, stable per key, different across keys, and no raw id survives loading."""
from __future__ import annotations

import re

import pytest

import mats_eval
from datasets import SPEAKERS, build_valid_tables, write_valid_dataset
from mats_eval.data import privacy
from mats_eval.data.privacy import SCHOLAR_PREFIX, SPEAKER_PREFIX, load_key, pseudonym


def scrub(text: str, raw_ids) -> list[str]:
    """The raw ids that occur in `text` as whole tokens (an empty list means no leak): `s1` is not
    "found" inside `s10` or a hex pseudonym."""
    return sorted(raw for raw in {str(r) for r in raw_ids if str(r).strip()}
                  if re.search(rf"(?<!\w){re.escape(raw)}(?!\w)", text))


def test_pseudonym_is_stable_for_a_key_and_differs_across_keys():
    a = pseudonym("scholar-A01", b"key-1", SCHOLAR_PREFIX)
    assert a == pseudonym("scholar-A01", b"key-1", SCHOLAR_PREFIX)
    assert a != pseudonym("scholar-A01", b"key-2", SCHOLAR_PREFIX)
    assert a != pseudonym("scholar-A02", b"key-1", SCHOLAR_PREFIX)
    assert a.startswith("sch_") and "A01" not in a


def test_same_name_as_scholar_and_speaker_gets_unrelated_pseudonyms():
    as_scholar = pseudonym("Grace Hopper", b"k", SCHOLAR_PREFIX)
    as_speaker = pseudonym("Grace Hopper", b"k", SPEAKER_PREFIX)
    assert as_scholar[len(SCHOLAR_PREFIX):] != as_speaker[len(SPEAKER_PREFIX):]


def test_key_lookup_order(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("MATS_EVAL_SALT", "from-env")
    (tmp_path / ".mats_eval_key").write_text("from-file\n")
    assert load_key(tmp_path) == b"from-env"
    monkeypatch.delenv("MATS_EVAL_SALT")
    assert load_key(tmp_path) == b"from-file"
    (tmp_path / ".mats_eval_key").unlink()
    assert not privacy.user_key_path().exists()


def test_user_key_created_once_with_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MATS_EVAL_SALT", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    first = load_key(tmp_path)
    note = capsys.readouterr().err
    assert str(privacy.user_key_path()) in note and len(note.strip().splitlines()) == 1
    assert load_key(tmp_path) == first and len(first) >= 32
    assert capsys.readouterr().err == ""  # the note comes only on creation
    assert oct(privacy.user_key_path().stat().st_mode & 0o777) == "0o600"


def raw_people() -> tuple[set[str], set[str]]:
    tables = build_valid_tables()
    return set(tables["scholars"]["scholar_id"]), set(SPEAKERS)


def test_no_raw_scholar_id_or_speaker_survives_loading(tmp_path):
    write_valid_dataset(tmp_path / "d")
    data = mats_eval.load(tmp_path / "d")
    scholars, speakers = raw_people()
    frames = [data.cohorts, data.scholars, data.sessions, data.attendance, data.ratings, data.retrospective]
    everything = "\n".join(frame.to_csv(index=False) for frame in frames) + data.summary().to_csv()
    assert scrub(everything, scholars | speakers) == []
    for frame in frames:
        if "scholar_id" in frame:
            assert frame["scholar_id"].str.startswith("sch_").all()
    assert data.sessions["speaker"].dropna().str.startswith("spk_").all()


def test_pseudonyms_consistent_across_tables(tmp_path):
    write_valid_dataset(tmp_path / "d")
    data = mats_eval.load(tmp_path / "d")
    known = set(data.scholars["scholar_id"])
    for frame in (data.attendance, data.ratings, data.retrospective):
        assert set(frame["scholar_id"]) <= known


def test_loading_with_another_key_changes_every_pseudonym(tmp_path, monkeypatch):
    write_valid_dataset(tmp_path / "d")
    monkeypatch.setenv("MATS_EVAL_SALT", "one")
    first = mats_eval.load(tmp_path / "d").scholars["scholar_id"]
    assert mats_eval.load(tmp_path / "d").scholars["scholar_id"].equals(first)
    monkeypatch.setenv("MATS_EVAL_SALT", "two")
    second = mats_eval.load(tmp_path / "d").scholars["scholar_id"]
    assert not set(first) & set(second)


@pytest.mark.parametrize("text,leaks", [("sch_ab12 xs1 s1x", []), ("id=s1,", ["s1"]), ("s10", [])])
def test_scrub_matches_whole_ids_only(text, leaks):
    assert scrub(text, ["s1"]) == leaks
