"""Format 2: hostile packs and blob lists, written by someone holding the keys (a compromised
host's snapshot aimed at the restorer), are refused in one line with exit code 14 before
anything is written to the host; check finds a missing pack and prune deletes exactly the
unreferenced ones."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import zstandard

from drtool import packs
from drtool import repack as repack_module
from drtool.blob_lists import encode_lists, list_kind
from drtool.blob_reader import artifact_blob_refs, read_blob
from drtool.blobs import BlobRef, blob_id
from drtool.check import check_repository
from drtool.errors import IntegrityError
from drtool.packs import PackWriter, pack_name
from drtool.prune import prune
from drtool.relocations import write_relocation
from drtool.repository import Repository, init_repository
from drtool.snapshot import Manifest, new_snapshot_id
from drtool.store.local import LocalStore
from drtool.timeutil import utc_now
from tests.conftest import FAST_KDF, fixed_passphrase, owned_listing
from tests.integration.test_packs import backup, restore
from tests.support.artifacts import forget_one

Refs = list[BlobRef]


def rewritten(
    repository: Repository, manifest: Manifest, kind: str, edit: Callable[[Refs, PackWriter], Refs]
) -> Manifest:
    """A new snapshot of ``manifest``'s host whose ``kind`` lists the blobs ``edit`` returns."""
    record = manifest.artifact(kind)
    refs = list(artifact_blob_refs(repository, manifest.host, record))
    writer = PackWriter(repository.key, repository.repository_id, manifest.host)
    refs = edit(refs, writer)
    id_key = repository.key.content_id_key(manifest.host)
    lists = tuple(
        writer.add(list_kind(kind), blob_id(id_key, list_kind(kind), plain), plain)
        for plain in encode_lists(refs)
    )
    repository.store.put(pack_name(writer.pack_id), [writer.finish()])
    artifacts = tuple(
        dataclasses.replace(item, lists=lists) if item.kind == kind else item
        for item in manifest.artifacts
    )
    hostile = dataclasses.replace(manifest, id=new_snapshot_id(utc_now()), artifacts=artifacts)
    repository.write_manifest(hostile)
    return hostile


def out_of_pack(refs: Refs, _writer: PackWriter) -> Refs:
    return [dataclasses.replace(refs[0], offset=10**9), *refs[1:]]


def huge_length(refs: Refs, _writer: PackWriter) -> Refs:
    return [dataclasses.replace(refs[0], length=2**31), *refs[1:]]


def overlapping(refs: Refs, _writer: PackWriter) -> Refs:
    return [dataclasses.replace(refs[0], offset=refs[0].offset + 7), *refs[1:]]


def another_kind(refs: Refs, writer: PackWriter) -> Refs:
    plain = b"server { listen 80; }\n".ljust(512, b"\0")
    nginx = writer.add("nginx", blob_id(b"k" * 32, "nginx", plain), plain)
    return [nginx, *refs[1:]]


def bomb(refs: Refs, writer: PackWriter) -> Refs:
    zeros = bytes(64 * 1024 * 1024)
    ref = writer.add("fail2ban", b"\1" * 32, zeros)
    return [dataclasses.replace(ref, size=512), *refs[1:]]


def bomb_of_unknown_size(refs: Refs, writer: PackWriter) -> Refs:
    compressor = packs._compressor
    packs._compressor = zstandard.ZstdCompressor(write_content_size=False)
    try:
        return bomb(refs, writer)
    finally:
        packs._compressor = compressor


@pytest.mark.parametrize(
    "edit",
    [out_of_pack, huge_length, overlapping, another_kind, bomb, bomb_of_unknown_size],
)
def test_a_hostile_blob_list_is_refused_before_anything_is_written(
    packed: Repository, sample_root: Path, edit
):
    hostile = rewritten(packed, backup(packed, sample_root), "fail2ban", edit)
    (sample_root / "etc/fail2ban/jail.local").write_text("changed since\n")
    before = owned_listing(sample_root)
    with pytest.raises(IntegrityError) as refused:
        restore(packed, hostile, sample_root)
    assert refused.value.exit_code == 14 and "\n" not in str(refused.value)
    assert owned_listing(sample_root) == before


def test_a_blob_sealed_for_another_host_is_refused(packed: Repository, sample_root: Path):
    manifest = backup(packed, sample_root)
    record = manifest.artifact("fail2ban")
    stolen = dataclasses.replace(manifest, host="web-2", id=new_snapshot_id(utc_now()))
    packed.write_manifest(stolen)
    assert record.lists
    with pytest.raises(IntegrityError, match="of host web-2"):
        restore(packed, stolen, sample_root)


def test_a_pack_of_another_repository_is_refused(
    packed: Repository, sample_root: Path, tmp_path: Path
):
    other_store = LocalStore(tmp_path / "other")
    init_repository(other_store, fixed_passphrase(), FAST_KDF)
    other = dataclasses.replace(Repository.open(other_store, fixed_passphrase()), format=2)
    ours = backup(packed, sample_root)
    backup(other, sample_root)
    (our_pack,) = packed.store.list("packs")
    (their_pack,) = other.store.list("packs")
    shutil.copyfile(tmp_path / "other" / their_pack, tmp_path / "repo" / our_pack)
    before = owned_listing(sample_root)
    with pytest.raises(IntegrityError, match="failed authentication"):
        restore(packed, ours, sample_root)
    assert owned_listing(sample_root) == before


def test_check_finds_a_missing_pack_and_prune_deletes_only_unused_packs(
    packed: Repository, sample_root: Path
):
    first = backup(packed, sample_root)
    (sample_root / "etc/fail2ban/jail.local").write_text("[sshd]\nenabled = false\n")
    backup(packed, sample_root)
    assert len(set(packed.store.list("packs"))) == 2
    stray = PackWriter(packed.key, packed.repository_id, "web-1")
    stray.add("files", b"\2" * 32, b"left by an interrupted backup")
    packed.store.put(pack_name(stray.pack_id), [stray.finish()])
    assert check_repository(packed, read_data_subset=50).problems == []

    forget_one(packed, first)
    later = utc_now() + timedelta(hours=2)
    report = prune(packed, now=later)
    assert report.deleted == 1  # the stray; the first snapshot's pack is still in use
    assert check_repository(packed, read_data=True).problems == []

    (used,) = [name for name in packed.store.list("packs")][:1]
    packed.store.delete(used)
    problems = check_repository(dataclasses.replace(packed)).problems
    assert problems and "missing" in problems[0]


def test_prune_repacks_a_partly_used_pack_and_readers_follow_it(
    packed: Repository, sample_root: Path, tmp_path: Path
):
    first = backup(packed, sample_root)
    conf = sample_root / "etc/nginx/nginx.conf"
    conf.write_text(conf.read_text() + "# changed\n")
    second = backup(packed, sample_root)
    forget_one(packed, first)
    later = utc_now() + timedelta(hours=2)
    report = prune(packed, now=later, max_unused=0.0)
    # the first pack held the old nginx.conf and list: repacked; the second is wholly in use
    assert (report.repacked, report.deleted) == (1, 0)
    assert len(list(packed.store.list("relocated"))) == 1
    assert check_repository(dataclasses.replace(packed), read_data=True).problems == []
    restore(packed, second, tmp_path / "restored")
    assert (tmp_path / "restored/etc/nginx/nginx.conf").read_text() == conf.read_text()
    # A backup after the repack reuses the relocated blobs; a second prune has nothing to do.
    third = backup(packed, sample_root)
    assert sum(item.stored for item in third.artifacts) == 0
    again = prune(packed, now=later, max_unused=0.0)
    assert (again.repacked, again.deleted) == (0, 0)
    forget_one(packed, second)
    forget_one(packed, third)
    final = prune(packed, now=later, max_unused=0.0)
    assert final.deleted == 2 and not list(packed.store.list("relocated"))


@pytest.mark.parametrize("crash_at", ["write_relocation", "delete"])
def test_a_repack_cut_short_loses_nothing(
    packed: Repository, sample_root: Path, tmp_path: Path, monkeypatch, crash_at: str
):
    first = backup(packed, sample_root)
    conf = sample_root / "etc/nginx/nginx.conf"
    conf.write_text(conf.read_text() + "# changed\n")
    second = backup(packed, sample_root)
    forget_one(packed, first)
    later = utc_now() + timedelta(hours=2)

    def crash(*_arguments) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        if crash_at == "delete":
            patched.setattr(type(packed.store), "delete", crash)
        else:
            patched.setattr(repack_module, crash_at, crash)
        with pytest.raises(KeyboardInterrupt):
            prune(packed, now=later, max_unused=0.0)
    assert check_repository(dataclasses.replace(packed), read_data=True).problems == []
    restore(packed, second, tmp_path / "restored")
    assert (tmp_path / "restored/etc/nginx/nginx.conf").read_text() == conf.read_text()
    prune(packed, now=later + timedelta(hours=2), max_unused=0.0)
    assert len(list(packed.store.list("packs"))) == 2
    assert check_repository(dataclasses.replace(packed), read_data=True).problems == []


def test_a_forged_relocation_record_is_refused(packed: Repository, sample_root: Path):
    """The pack is "repacked": every blob copied to a new pack, but the record sends
    fail2ban's first blob to the place of one of nginx's."""
    manifest = backup(packed, sample_root)
    (name,) = packed.store.list("packs")
    replacement = PackWriter(packed.key, packed.repository_id, manifest.host)
    moved: dict[str, BlobRef] = {}
    for record in manifest.artifacts:
        if record.present:
            kinds = [(list_kind(record.kind), ref) for ref in record.lists]
            refs = list(artifact_blob_refs(packed, manifest.host, record))
            for kind, ref in [*kinds, *((record.kind, ref) for ref in refs)]:
                plaintext = read_blob(packed, manifest.host, kind, ref)
                moved[ref.id] = replacement.add(kind, bytes.fromhex(ref.id), plaintext)
    fail2ban = next(artifact_blob_refs(packed, manifest.host, manifest.artifact("fail2ban")))
    nginx = next(artifact_blob_refs(packed, manifest.host, manifest.artifact("nginx")))
    moved[fail2ban.id] = dataclasses.replace(moved[nginx.id], id=fail2ban.id)
    packed.store.put(pack_name(replacement.pack_id), [replacement.finish()])
    packed.store.delete(name)
    write_relocation(packed, name.rsplit("/", 1)[1], moved.values())
    before = owned_listing(sample_root)
    with pytest.raises(IntegrityError, match="does not hold blob"):
        restore(packed, manifest, sample_root)
    assert owned_listing(sample_root) == before
