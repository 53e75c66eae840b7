"""Review of the memory and start-up session (tar parts streamed, per-entry checks at install,
files cache streamed, collectors on threads, tar headers by hand): holes found by an attacker's
reading, each fixed with its test or a strict xfail naming it."""

from __future__ import annotations

import dataclasses
import io
import json
import random
import tarfile
from decimal import Decimal
from pathlib import Path

import pytest

from drtool.archive import EntryType, FileEntry, member_header
from drtool.errors import UnsafeArchive
from drtool.files_cache import _MAGIC, cache_mac, cache_path, load_cache
from drtool.host import Host
from drtool.install import StagedArtifact, install_roots
from drtool.snapshot import ArtifactRecord
from tests.support.artifacts import members_at
from tests.unit.test_files_cache import KEY, REPOSITORY, SNAPSHOT, document
from tests.unit.test_install_roots import make_source, part_file, staged_from, tar_member


@pytest.mark.parametrize("value", ["\u00b2", "1" * 5000])
@pytest.mark.parametrize("field", ["uid", "gid", "size"])
def test_a_pax_number_int_cannot_read_is_refused_in_one_line(
    tmp_path: Path, field: str, value: str
) -> None:
    """A digit to str.isdigit ("²") is not one to int(), and int() refuses 4,301 digits: a
    writer's pax record ``uid=²`` or ``size=111...`` (5,000 digits fit the 17 blocks a pax
    header may take) made the staging check raise ValueError (a traceback)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("etc/app/a")
        info.pax_headers = {field: value}
        archive.addfile(info, io.BytesIO(b""))
    path = tmp_path / "hostile.tar"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(UnsafeArchive, match=f"pax record {field} is not a decimal number"):
        members_at(path)


def test_an_entry_under_a_root_the_record_calls_missing_is_refused_before_anything_changes(
    tmp_path: Path,
) -> None:
    """A writer's record lists a root as missing and still carries entries under it: the install
    (which builds only the roots that are not missing) found no root for the entry and raised
    StopIteration, a traceback, midway; it is refused at the staging check, in one line."""
    source = tmp_path / "source"
    make_source(source)
    staged = staged_from(source, tmp_path / "work")
    record = dataclasses.replace(staged.record, missing=(*staged.record.missing, "etc/app.conf"))
    hostile = dataclasses.replace(staged, record=record)
    with pytest.raises(UnsafeArchive, match=r"etc/app\.conf"):
        hostile.check()
    target = tmp_path / "target"
    (target / "etc").mkdir(parents=True)
    with pytest.raises(UnsafeArchive, match=r"etc/app\.conf"):
        install_roots(Host(target, "dst"), hostile)
    assert sorted(path.name for path in (target / "etc").iterdir()) == []


@pytest.mark.parametrize("mtime_ns", [-500_000_000, -1, -1_000_000_001, -86_400_123_456_789])
def test_a_time_before_1970_with_nanoseconds_is_written_as_the_pax_decimal_it_is(
    tmp_path: Path, mtime_ns: int
) -> None:
    """Half a second before 1970 was written ``mtime=-1.500000000`` (divmod's floor), which
    tarfile, GNU tar and drtool's own reader take for -1.5 s: restored a second early."""
    entry = FileEntry("etc/app", EntryType.DIRECTORY, 0o755, 0, 0, mtime_ns)
    path = tmp_path / "part.tar"
    path.write_bytes(member_header(entry) + bytes(1024))
    with tarfile.open(path) as archive:  # the oracle: tarfile's reading of the pax record
        (member,) = archive.getmembers()
    assert Decimal(member.pax_headers["mtime"]) * 10**9 == mtime_ns
    assert [read.mtime_ns for _, read in members_at(path)] == [mtime_ns]


def test_a_damaged_files_cache_with_a_valid_mac_is_read_whole_or_ignored(tmp_path: Path) -> None:
    """The streaming reader of the files cache, against 3,000 payloads damaged a few characters
    each and signed again (a writer's own bug, not a forgery): each is read as json reads it,
    every file's blobs known, or ignored whole; never a traceback."""
    host = Host(tmp_path, "web-1")
    path = Path(cache_path(host, REPOSITORY))
    path.parent.mkdir(parents=True)
    text = json.dumps(document(), separators=(",", ":"))
    rng = random.Random(4)
    alphabet = '{}[]",:0123456789abcef-.eE\\u NaInfinityl'
    for _ in range(3_000):
        damaged = list(text)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(damaged))
            if rng.random() < 0.5:
                damaged[at] = rng.choice(alphabet)
            else:
                damaged.insert(at, rng.choice(alphabet))
        payload = "".join(damaged).encode()
        mac = cache_mac(KEY, REPOSITORY, host.name, payload).encode()
        path.write_bytes(_MAGIC + mac + b"\n" + payload)
        cache = load_cache(host, REPOSITORY, KEY, {SNAPSHOT})
        if cache.files or cache.blobs or cache.packs:
            assert json.loads(payload)["snapshot"] == cache.snapshot_id
            assert all(blob in cache.blobs for _, ids in cache.files.values() for blob in ids)


@pytest.mark.parametrize(
    "members",
    [
        [("etc/app", "5"), ("etc/app/x", "0"), ("etc/app/x", "5"), ("etc/app/x/y", "0")],
        [("etc/app", "5"), ("etc/app", "0")],
        [("etc/app", "0"), ("etc/app/x", "0")],
        [("etc/app/x", "0")],
        [("etc/app", "5"), ("etc/app/x", "0"), ("etc/app/x", "0")],
        [("etc/app", "5"), ("etc/app/d", "5"), ("etc/app/d/", "5")],
        [("etc/app", "5"), ("etc/app/a", "0"), ("etc/app/a/b", "5"), ("etc/app/a/b/c", "0")],
    ],
    ids=[
        "file-then-directory",
        "root-twice",
        "child-of-a-file",
        "no-parent",
        "file-twice",
        "trailing-slash",
        "below-a-file-deeper-up",
    ],
)
def test_a_part_whose_tree_cannot_be_built_is_refused_at_staging(
    tmp_path: Path, members: list[tuple[str, str]]
) -> None:
    """A part whose tree cannot be built (a path twice, an entry below a file, an entry whose
    directory is not written before it) passed the staging check: the install failed midway
    with an OSError (the restore rolled back). The install is the oracle: it fails on each."""
    built = [(tar_member(name, kind.encode()), b"") for name, kind in members]
    part = part_file(tmp_path / "files-0000.tar", *built)
    staged = StagedArtifact(ArtifactRecord("files", True, ("etc/app",)), (part,))
    target = tmp_path / "target"
    (target / "etc").mkdir(parents=True)
    with pytest.raises(OSError):
        install_roots(Host(target, "dst"), staged)  # what the install makes of it
    assert list((target / "etc").iterdir()) == []
    refused = False
    try:
        staged.check()
    except UnsafeArchive:
        refused = True
    assert refused, "refused at staging, before the restore stops or writes anything"
