"""Where an object belongs is part of what is authenticated: a manifest moved to another
snapshot id or host, or an object to another id or kind, is refused; the error names the
object it was read as. (Mutants that left the snapshot id out of the associated data, or
swapped the binding's fields, survived every other test.)"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from drtool import format as object_format
from drtool.errors import IntegrityError
from drtool.format import Binding, ObjectType
from drtool.keys import MasterKey
from drtool.repository import Repository, manifest_name
from drtool.snapshot import SnapshotRef
from drtool.store.local import LocalStore
from tests.conftest import fixed_passphrase

KEY = MasterKey.from_secret(b"k" * 32)
SNAPSHOT = "20250107T101500Z-0a1b2c3d"
NEWER = "20250108T101500Z-0a1b2c3d"


def test_the_bindings_name_what_they_bind() -> None:
    assert Binding.manifest("web-1", SNAPSHOT) == Binding(ObjectType.MANIFEST, "web-1", SNAPSHOT)
    part = Binding.artifact_part("ab" * 32, "nginx")
    assert part == Binding(ObjectType.ARTIFACT_PART, "ab" * 32, "nginx")


@pytest.mark.parametrize(
    ("host", "snapshot"), [("web-1", NEWER), ("web-2", SNAPSHOT), (SNAPSHOT, "web-1")]
)
def test_a_manifest_read_as_another_snapshot_is_refused(host: str, snapshot: str) -> None:
    sealed = object_format.seal(KEY, Binding.manifest("web-1", SNAPSHOT), b'{"id": 1}')
    with pytest.raises(IntegrityError, match=f"snapshot {snapshot} of host {host} failed"):
        object_format.unseal(KEY, Binding.manifest(host, snapshot), io.BytesIO(sealed))
    assert object_format.unseal(KEY, Binding.manifest("web-1", SNAPSHOT), io.BytesIO(sealed))


def test_the_associated_data_tells_every_field_apart() -> None:
    """Length-prefixed fields: ("ab", "c") and ("a", "bc") must not authenticate alike."""
    one, other = Binding.manifest("ab", "c"), Binding.manifest("a", "bc")
    assert one.associated_data() != other.associated_data()
    assert one.associated_data().startswith(one.prefix())
    assert one.associated_data().endswith(b"\x00\x01c")


def test_a_status_record_is_bound_to_its_host() -> None:
    """heads/<host>: type 7, associated data the host and `head` (FORMAT.md, "Layout")."""
    head = Binding.host_head("web-1")
    assert head.associated_data() == b"DRTOOL\x01\x07" + b"\x00\x05web-1" + b"\x00\x04head"
    sealed = object_format.seal(KEY, head, b'{"newest": null}')
    assert object_format.unseal(KEY, head, io.BytesIO(sealed)) == b'{"newest": null}'
    refusal = r"^status record of host web-2 failed authentication \(header\)$"
    with pytest.raises(IntegrityError, match=refusal):
        object_format.unseal(KEY, Binding.host_head("web-2"), io.BytesIO(sealed))


def test_an_object_read_under_another_kind_names_it(tmp_path: Path) -> None:
    sealed = object_format.seal(KEY, Binding.artifact_part("ab" * 32, "nginx"), b"payload")
    with pytest.raises(IntegrityError, match=r"object abababababababab \(wireguard\) failed"):
        object_format.unseal(KEY, Binding.artifact_part("ab" * 32, "wireguard"), io.BytesIO(sealed))


def test_a_manifest_renamed_to_a_newer_id_is_refused(
    repository: Repository, tmp_path: Path
) -> None:
    """Someone with write access to the bucket copies an old snapshot's manifest to a newer
    name, so that `latest` would restore the old configuration: refused."""
    from drtool.backup import run_backup
    from drtool.collectors import collectors_for
    from drtool.config import Settings
    from drtool.host import Host
    from drtool.runner import Runner

    root = tmp_path / "root"
    (root / "etc/redis").mkdir(parents=True)
    (root / "etc/redis/redis.conf").write_text("bind 127.0.0.1\n")
    settings = Settings(kinds=("files",), files=("/etc/redis/redis.conf",))
    old = run_backup(repository, Host(root, "web-1", Runner()), collectors_for(settings))
    directory = repository.store.path  # type: ignore[attr-defined]
    newer = old.id.replace(old.id[:4], str(int(old.id[:4]) + 1), 1)
    shutil.copy(
        directory / manifest_name("web-1", old.id), directory / manifest_name("web-1", newer)
    )
    with pytest.raises(IntegrityError, match=f"snapshot {newer} of host web-1"):
        repository.read_manifest(SnapshotRef(newer, "web-1"))
    reopened = Repository.open(LocalStore(directory), fixed_passphrase())
    assert json.dumps(reopened.read_manifest(SnapshotRef(old.id, "web-1")).to_json())
