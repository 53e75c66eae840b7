"""This machine's memory of revoked writers (drtool/seen.py, SeenRevocations): it only grows,
two drtools of the machine writing it lose nothing, the seen state beside it keeps its old
form, and a damaged file is never trusted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drtool.errors import StateDamaged
from drtool.host import Host
from drtool.keyring.revocations import Revocations
from drtool.seen import SeenRevocations, SeenState

REPOSITORY = "0123456789abcdef0123456789abcdef"
EARLY, LATE = "2026-01-01T00:00:00.000000Z", "2026-02-01T00:00:00.000000Z"
X, Y = "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"


def test_the_memory_only_grows_and_merges_with_another_drtools(tmp_path: Path) -> None:
    first, second = (
        SeenRevocations.load(tmp_path, REPOSITORY),
        SeenRevocations.load(tmp_path, REPOSITORY),
    )
    first.remember(Revocations(2, {X: LATE}))
    second.remember(Revocations(1, {Y: LATE}))  # read before the first wrote
    second.remember(Revocations(0, {X: EARLY}))  # a registration's own, earlier time
    path = tmp_path / "var/lib/drtool/seen" / f"{REPOSITORY}.revocations.json"
    written = json.loads(path.read_text())
    assert (written["sequence"], written["writers"]) == (2, {X: EARLY, Y: LATE})
    assert path.stat().st_mode & 0o777 == 0o600
    remembered = SeenRevocations.load(tmp_path, REPOSITORY).revocations
    assert remembered == Revocations(2, {X: EARLY, Y: LATE})


def test_the_seen_state_keeps_its_form(tmp_path: Path) -> None:
    host = Host(tmp_path, "web-1")
    seen = tmp_path / "var/lib/drtool/seen"
    seen.mkdir(parents=True, mode=0o700)
    newest = "20250107T021500Z-3fa2c1d0"
    old = {"format": 1, "repository_id": REPOSITORY, "hosts": {"web-1": newest}}
    (seen / f"{REPOSITORY}.json").write_text(json.dumps(old))
    (seen / f"{REPOSITORY}.json").chmod(0o600)
    SeenRevocations.load(host.root, REPOSITORY).remember(Revocations(1, {X: EARLY}))
    assert json.loads((seen / f"{REPOSITORY}.json").read_text()) == old
    assert SeenState.load(host, REPOSITORY).newest_of("web-1") == newest


@pytest.mark.parametrize(
    "document",
    [
        {"format": 1, "repository_id": REPOSITORY, "sequence": "1", "writers": {}},
        {"format": 1, "repository_id": REPOSITORY, "sequence": 1, "writers": {"x": EARLY}},
        {"format": 1, "repository_id": REPOSITORY, "sequence": 1, "writers": {X: "yesterday"}},
        {"format": 1, "repository_id": "another", "sequence": 1, "writers": {}},
    ],
    ids=["sequence-not-a-number", "writer-not-an-id", "time-not-a-time", "another-repository"],
)
def test_a_damaged_memory_is_refused(tmp_path: Path, document: dict) -> None:
    seen = tmp_path / "var/lib/drtool/seen"
    seen.mkdir(parents=True, mode=0o700)
    (seen / f"{REPOSITORY}.revocations.json").write_text(json.dumps(document))
    (seen / f"{REPOSITORY}.revocations.json").chmod(0o600)
    with pytest.raises(StateDamaged, match="move it aside"):
        SeenRevocations.load(tmp_path, REPOSITORY)
