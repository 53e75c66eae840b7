"""A manifest's JSON is type-checked field by field where it is read (drtool.jsonfields): a
hostile value is a one-line IntegrityError naming it, never a TypeError later."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from drtool.errors import IntegrityError
from drtool.snapshot import ArtifactRecord, Manifest, PartRef

GOOD = json.loads(
    json.dumps(
        Manifest(
            id="20250107T021500Z-3fa2c1d0",
            host="web-1",
            time="2025-01-07T02:15:00.000000Z",
            tags=("nightly",),
            drtool_version="1.0",
            artifacts=(
                ArtifactRecord(
                    "iptables",
                    True,
                    (),
                    metadata={"backend": "nft", "version": "v1.8.9"},
                    entries=2,
                    size=10,
                    parts=(PartRef("ab" * 32, 10240, 300),),
                ),
                ArtifactRecord("wireguard", True, ("etc/wireguard",), metadata={"up": ["wg0"]}),
            ),
        ).to_json()
    )
)


def test_a_good_manifest_reads_back() -> None:
    assert json.loads(json.dumps(Manifest.from_json(copy.deepcopy(GOOD)).to_json())) == GOOD


def _set(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("id",), "../../etc"),
        (("host",), "web/1"),
        (("tags",), "nightly"),
        (("artifacts",), {"kind": "x"}),
        (("artifacts", 0, "kind"), "Iptables; rm -rf /"),
        (("artifacts", 0, "present"), "yes"),
        (("artifacts", 0, "roots"), [1]),
        (("artifacts", 0, "entries"), -1),
        (("artifacts", 0, "size"), 1.5),
        (("artifacts", 0, "metadata"), []),
        (("artifacts", 0, "metadata", "backend"), "nft; touch /tmp/x"),
        (("artifacts", 1, "metadata", "up"), ["wg0 up; reboot"]),
        (("artifacts", 0, "parts", 0, "id"), "../config"),
        (("artifacts", 0, "parts", 0, "size"), True),
        (("artifacts", 0, "parts", 0, "retain_until"), "tomorrow"),
        (("retain_until",), 5),
        (("previous",), 5),
        (("previous",), "../../config"),
        (("previous",), "20251307T021500Z-3fa2c1d0"),
    ],
)
def test_hostile_fields_are_refused(path: tuple[Any, ...], value: Any) -> None:
    with pytest.raises(IntegrityError, match="malformed"):
        Manifest.from_json(_set(GOOD, path, value))


def test_previous_names_a_snapshot_or_none_and_is_unknown_when_absent() -> None:
    assert GOOD["previous"] is None  # a host's first snapshot
    chained = Manifest.from_json(_set(GOOD, ("previous",), "20250106T021500Z-0badcafe"))
    assert (chained.previous, chained.names_previous) == ("20250106T021500Z-0badcafe", True)
    older = copy.deepcopy(GOOD)
    del older["previous"]  # written before manifests named their previous
    unknown = Manifest.from_json(copy.deepcopy(older))
    assert (unknown.previous, unknown.names_previous) == (None, False)
    assert "previous" not in unknown.to_json()
    assert json.loads(json.dumps(unknown.to_json())) == older


def test_a_manifest_that_is_no_object_is_refused() -> None:
    with pytest.raises(IntegrityError, match="malformed"):
        Manifest.from_json(["not", "an", "object"])


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("20250107T021500Z-3fa2c1d0", True),
        ("20250107T021500.123456Z-3fa2c1d0", True),
        ("20250107T021500Z-pre-3fa2c1d0", True),
        ("20251307T021500Z-3fa2c1d0", False),
        ("20250107T021500Z-3FA2C1D0", False),
        ("20250107T021500Z-3fa2c1d0/x", False),
        ("latest", False),
    ],
)
def test_snapshot_ids(text: str, valid: bool) -> None:
    from drtool.snapshot import is_snapshot_id

    assert is_snapshot_id(text) is valid
