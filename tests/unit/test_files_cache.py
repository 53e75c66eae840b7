"""The files cache's reader (drtool/files_cache.py; docs/FORMAT.md, "The files cache"): a cache
that passes its MAC but holds anything other than what FORMAT.md lists is ignored whole, never
half-read. The MAC key is the host's content-id key; here any 32 bytes do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drtool.files_cache import _MAGIC, cache_mac, cache_path, load_cache
from drtool.host import Host

KEY, REPOSITORY, SNAPSHOT = bytes(range(32)), "ab" * 16, "20261207T000000.000000Z-0123abcd"
BLOB, PACK = "1f" * 32, "c0" * 16


def document(**changes: Any) -> dict[str, Any]:
    good = {
        "snapshot": SNAPSHOT,
        "files": {"nginx:etc/nginx/a.conf": [120, 10**18, 10**18, 42, 0o100644, 0, 0, [BLOB]]},
        "blobs": {BLOB: [PACK, 118, 2000, 1536]},
        "packs": {PACK: None},
    }
    return {**good, **changes}


def load(tmp_path: Path, written: dict[str, Any]):
    host = Host(tmp_path, "web-1")
    path = Path(cache_path(host, REPOSITORY))
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(written, separators=(",", ":")).encode()  # as drtool writes it
    mac = cache_mac(KEY, REPOSITORY, host.name, payload).encode()
    path.write_bytes(_MAGIC + mac + b"\n" + payload)
    return load_cache(host, REPOSITORY, KEY, {SNAPSHOT})


def test_a_well_formed_cache_is_read(tmp_path: Path) -> None:
    cache = load(tmp_path, document())
    assert cache.snapshot_id == SNAPSHOT
    assert cache.files["nginx:etc/nginx/a.conf"] == ((120, 10**18, 10**18, 42, 0o100644, 0, 0),
                                                     (BLOB,))  # fmt: skip
    assert cache.blobs[BLOB].pack == PACK and cache.blobs[BLOB].size == 1536


@pytest.mark.parametrize(
    "changes",
    [
        {"files": {"f": [120, 1, 1, 42, 0o644, 0, 0, [BLOB], "extra"]}},
        {"files": {"f": [120, 1, 1, 42, 0o644, 0, True, [BLOB]]}},  # a bool is no count
        {"files": {"f": [120, 1, 1, -42, 0o644, 0, 0, [BLOB]]}},
        {"files": {"f": [120, 1.5, 1, 42, 0o644, 0, 0, [BLOB]]}},
        {"files": {"f": [120, 1, 1, 42, 0o644, 0, 0, ["2f" * 32]]}},  # a blob not placed
        {"files": {"f": [120, 1, 1, 42, 0o644, 0, 0, BLOB]}},  # ids as one string
        {"files": {"f": 7}},
        {"files": []},
        {"blobs": {BLOB: [PACK, 118, 2000]}},
        {"blobs": {BLOB: [PACK.upper(), 118, 2000, 1536]}},
        {"blobs": {BLOB: ["c0" * 15, 118, 2000, 1536]}},
        {"blobs": {BLOB: [PACK, 118, "2000", 1536]}},
        {"blobs": {"g" * 64: [PACK, 118, 2000, 1536]}},
        {"blobs": {BLOB: "abcd"}},
        {"packs": {PACK: "not a time"}},
        {"snapshot": 5},
    ],
)
def test_a_cache_with_a_valid_mac_but_malformed_is_ignored_whole(
    tmp_path: Path, changes: dict[str, Any]
) -> None:
    cache = load(tmp_path, document(**changes))
    assert (cache.snapshot_id, cache.files, cache.blobs, cache.packs) == (None, {}, {}, {})
