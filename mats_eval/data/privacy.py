"""Keyed pseudonyms for people (data/README.md "Privacy").

`scholar_id` and `speaker` are replaced at load time by `HMAC-SHA256(key,
prefix + value)` cut to a short hex string, so nothing downstream ever holds a
raw id and nothing the package writes can leak one. A keyed hash (not a plain
hash) because ids are guessable: without the key, nobody can rebuild the table
from a list of names. The same key gives the same pseudonyms across runs, so
results stay comparable; another key gives unrelated ones.

Key lookup, first found wins:
1. the `MATS_EVAL_SALT` environment variable;
2. a `.mats_eval_key` file in the dataset folder;
3. `~/.config/mats_eval/key`, created with a random key on first use (with a
   one-line note on stderr saying where, so the user can back it up).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys
from pathlib import Path

import pandas as pd

from mats_eval.errors import MatsEvalError

KEY_ENV = "MATS_EVAL_SALT"
DATASET_KEY_FILE = ".mats_eval_key"
SCHOLAR_PREFIX = "sch_"
SPEAKER_PREFIX = "spk_"
PSEUDONYM_HEX_CHARS = 12  # 48 bits: collisions are checked for, and practically never happen


def user_key_path() -> Path:
    """Where the per-user fallback key lives (respects XDG_CONFIG_HOME)."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "mats_eval" / "key"


def load_key(dataset_dir: Path | str | None = None) -> bytes:
    """The pseudonym key: env var, else the dataset's key file, else the user's key file (made if absent)."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return from_env.encode("utf-8")
    if dataset_dir is not None:
        beside_data = Path(dataset_dir) / DATASET_KEY_FILE
        if beside_data.is_file():
            key = beside_data.read_bytes().strip()
            if key:
                return key
    return _user_key()


def _user_key() -> bytes:
    path = user_key_path()
    if path.is_file() and path.read_bytes().strip():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
    print(f"mats_eval: created a new pseudonym key at {path} (keep it to get the same pseudonyms again)", file=sys.stderr)
    return key


def pseudonym(value: object, key: bytes, prefix: str) -> str:
    """`prefix` + the first hex digits of HMAC-SHA256(key, prefix + value).

    The prefix is part of the hashed message, so a scholar and a speaker who
    share a name still get unrelated pseudonyms.
    """
    digest = hmac.new(key, f"{prefix}{value}".encode("utf-8"), hashlib.sha256).hexdigest()
    return prefix + digest[:PSEUDONYM_HEX_CHARS]


def pseudonymise(values: pd.Series, key: bytes, prefix: str) -> pd.Series:
    """Replace every non-missing value by its pseudonym (NA stays NA).

    Refuses, rather than silently merging two people, if two distinct values
    ever map to the same pseudonym.
    """
    raw = pd.unique(values.dropna())
    mapping = {value: pseudonym(value, key, prefix) for value in raw}
    if len(set(mapping.values())) != len(mapping):
        raise MatsEvalError(f"pseudonym collision among {len(mapping)} {prefix!r} ids; use another key")
    return values.map(mapping).astype(values.dtype) if len(values) else values
