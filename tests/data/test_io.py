"""atomic_folder (a folder appears whole or not at all) and load's bookkeeping (input hashes, source)."""
from __future__ import annotations

import hashlib

import pytest

import mats_eval
from datasets import write_valid_dataset
from mats_eval.errors import UsageError
from mats_eval.data.io import atomic_folder


def test_atomic_folder_appears_on_clean_exit(tmp_path):
    out = tmp_path / "run"
    with atomic_folder(out) as work:
        (work / "a.txt").write_text("a")
        assert not out.exists() and work.parent == tmp_path
    assert (out / "a.txt").read_text() == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_atomic_folder_leaves_nothing_on_error(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with atomic_folder(out) as work:
            (work / "a.txt").write_text("a")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_folder_refuses_existing_without_force(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(UsageError) as caught:
        with atomic_folder(out):
            pytest.fail("the body must not run")
    assert caught.value.exit_code == 2
    assert [p.name for p in tmp_path.iterdir()] == ["run"] and (out / "old.txt").exists()


def test_atomic_folder_replaces_with_force(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with atomic_folder(out, force=True) as work:
        (work / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_atomic_folder_force_keeps_old_on_error(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(ValueError):
        with atomic_folder(out, force=True):
            raise ValueError
    assert (out / "old.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_load_records_hashes_and_source(tmp_path):
    folder = tmp_path / "d"
    write_valid_dataset(folder)
    data = mats_eval.load(folder)
    assert data.source == folder
    assert data.input_hashes == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.csv")}


def test_load_of_a_missing_folder_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError):
        mats_eval.load(tmp_path / "nope")
