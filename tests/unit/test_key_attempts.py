"""The Argon2id work one unlock spends on a repository's key files is bounded (issue 10)."""

from __future__ import annotations

import json

import pytest

from drtool.errors import ExitCode, KeyAttemptsExceeded
from drtool.key_attempts import BUDGET, MAX_ATTEMPT_COST, kdf_cost, within_budget

DEFAULT = {"memory_kib": 64 * 1024, "iterations": 3}
MAXIMUM = {"memory_kib": 1024 * 1024, "iterations": 10}


def _key_file(kdf: dict[str, object]) -> bytes:
    return json.dumps({"format": 1, "kdf": {"name": "argon2id", "lanes": 4, **kdf}}).encode()


def test_key_files_are_tried_cheapest_first() -> None:
    files = [
        ("keys/0-planted", _key_file(MAXIMUM)),
        ("keys/1-damaged", b"{not json"),
        ("keys/2-honest", _key_file(DEFAULT)),
    ]
    attempts = within_budget(files)
    assert [next(attempts)[0], next(attempts)[0]] == ["keys/2-honest", "keys/0-planted"]
    assert kdf_cost(_key_file({"memory_kib": 10**9, "iterations": 10**7})) == MAX_ATTEMPT_COST


def test_past_the_budget_the_unlock_stops_before_deriving_again() -> None:
    planted = [(f"keys/{index:02d}", _key_file(MAXIMUM)) for index in range(20)]
    tried = []
    with pytest.raises(KeyAttemptsExceeded) as raised:
        for name, _ in within_budget(planted):
            tried.append(name)
    assert len(tried) == BUDGET // MAX_ATTEMPT_COST
    assert raised.value.exit_code == ExitCode.KEY_ATTEMPTS == 66
    assert f"in the {len(tried)} cheapest of 20" in str(raised.value)
    honest = [(f"keys/{index:03d}", _key_file(DEFAULT)) for index in range(100)]
    assert len(list(within_budget(honest))) == 100  # a hundred keys at the default cost
