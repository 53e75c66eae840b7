"""The files cache is read a piece at a time (drtool/files_cache.py): what reading it takes
beyond the cache it returns is a small fraction of the file (the blob ids of its files section,
held twice until its blobs section is read; the file's window is bounded), and what it returns
is what an independent reader (json.loads of the whole payload) finds, even when every value is
cut by the reader's window.

Before, the file's bytes and their decoded text were held whole while it was parsed (2.4 times
the file's size beyond the cache): 144 MiB of the peak of an unchanged backup of a host of
200,000 files (bench/dataset.py, ``huge``)."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from drtool import files_cache
from drtool.blobs import BlobRef
from drtool.files_cache import _MAGIC, FilesCache, cache_path, load_cache, save_cache
from drtool.host import Host

KEY, REPOSITORY, SNAPSHOT = bytes(range(32)), "ab" * 16, "20261207T000000.000000Z-0123abcd"


def large_cache(files: int) -> FilesCache:
    cache = FilesCache(snapshot_id=SNAPSHOT, packs={f"{p:032x}": None for p in range(4)})
    for index in range(files):
        ref = BlobRef(f"{index:064x}", f"{index % 4:032x}", index * 100, 90 + index % 7, 512)
        key = (512, 1_700_000_000_000_000_000 + index, 1_700_000_000_000_000_001, index, 0o100644,
               0, 0)  # fmt: skip
        cache.remember("nginx", f"etc/nginx/sites-available/site{index}", key, [ref])
    return cache


def independent(host: Host) -> dict:
    """The file's payload as json.loads reads it, in load_cache's shape."""
    payload = Path(cache_path(host, REPOSITORY)).read_bytes()
    assert payload.startswith(_MAGIC)
    document = json.loads(payload[len(_MAGIC) + 65 :])
    return {
        "snapshot": document["snapshot"],
        "files": {p: (tuple(v[:7]), tuple(v[7])) for p, v in document["files"].items()},
        "blobs": {b: BlobRef(b, *v) for b, v in document["blobs"].items()},
        "packs": document["packs"],
    }


def read(cache: FilesCache) -> dict:
    return {"snapshot": cache.snapshot_id, "files": cache.files, "blobs": cache.blobs,
            "packs": cache.packs}  # fmt: skip


@pytest.mark.parametrize("window", [1, 7, 4096])
def test_a_cache_read_through_a_small_window_is_what_json_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    host = Host(tmp_path, "web-1")
    save_cache(host, REPOSITORY, KEY, large_cache(300))
    monkeypatch.setattr(files_cache, "_WINDOW", window)
    loaded = load_cache(host, REPOSITORY, KEY, {SNAPSHOT})
    assert read(loaded) == independent(host)
    assert len(loaded.files) == 300


def test_reading_a_large_cache_takes_bounded_memory_beyond_the_cache(tmp_path: Path) -> None:
    host = Host(tmp_path, "web-1")
    save_cache(host, REPOSITORY, KEY, large_cache(60_000))
    size = Path(cache_path(host, REPOSITORY)).stat().st_size  # 17 MiB
    tracemalloc.start()
    try:
        loaded = load_cache(host, REPOSITORY, KEY, {SNAPSHOT})
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(loaded.files) == 60_000
    beyond = peak - kept  # 8 MiB; was 40
    assert beyond < size / 2, f"reading took {beyond / 2**20:.1f} MiB beyond the cache it returned"


def test_a_forged_cache_is_parsed_but_never_used(tmp_path: Path, caplog) -> None:
    host = Host(tmp_path, "web-1")
    save_cache(host, REPOSITORY, KEY, large_cache(50))
    path = Path(cache_path(host, REPOSITORY))
    data = path.read_bytes()
    path.write_bytes(data.replace(b"site49", b"site48", 1))  # well-formed, MAC now wrong
    loaded = load_cache(host, REPOSITORY, KEY, {SNAPSHOT})
    assert read(loaded) == read(FilesCache())
    assert "fails authentication" in caplog.text
