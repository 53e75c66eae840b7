"""Issue 10: a snapshot declaring more than the disk holds is refused before staging (exit 65).

A part never decompresses past its declared size, but the declared size itself is the
snapshot's: a manifest written with drtool's own format code (as any host holding the
passphrase writes one) declares a part larger than the free space of the disk drtool stages
on. Staging it would fill the host's /var (and /tmp, for validation) before any error.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from drtool.blob_lists import encode_lists, list_kind
from drtool.blobs import blob_id
from drtool.packs import PackWriter, pack_name
from drtool.snapshot import ArtifactRecord
from tests.conftest import Cli, tree_listing
from tests.e2e.test_hostile_repository import open_repository
from tests.support.hostile import rewritten


def test_a_declared_size_larger_than_the_free_disk_is_refused_before_staging(
    cli: Cli, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"  # drtool's temporary files
    scratch.mkdir()
    cli = Cli({**cli.environment, "TMPDIR": str(scratch)})
    cli("init")
    cli("backup")
    host = Path(cli.environment["DRTOOL_ROOT"])
    huge = shutil.disk_usage(host).free + 2**30  # a gibibyte more than the disk has

    repository = open_repository(cli)

    def declare_huge(record: ArtifactRecord) -> ArtifactRecord:
        """The blob list of the nginx artifact naming its first blob again and again, each a
        mebibyte (the most one blob may declare), past the disk's free space."""
        id_key = repository.key.content_id_key("web-1")
        writer = PackWriter(repository.key, repository.repository_id, "web-1")
        first = dataclasses.replace(record.lists[0], size=2**20)
        kind = list_kind(record.kind)
        blobs = huge // 2**20 + 1
        lists = tuple(
            writer.add(kind, blob_id(id_key, kind, plaintext), plaintext)
            for plaintext in encode_lists([first] * blobs)
        )
        repository.store.put(pack_name(writer.pack_id), [writer.finish()])
        # Its files' size declares them all (a stream past its record is refused, exit 14).
        return dataclasses.replace(record, lists=lists, size=blobs * 2**20)

    snapshot = rewritten(repository, "nginx", edit_record=declare_huge).id
    before = tree_listing(host)
    target = tmp_path / "target"
    for command, code in (
        (("restore", snapshot, "--yes"), 65),
        (("restore", snapshot, "--dry-run"), 65),
        (("restore", snapshot, "--target", str(target)), 65),
        (("drill", snapshot), 27),  # a drill that cannot run failed, whatever stopped it
    ):
        refused = cli(*command, expect=code)
        assert "the snapshot declares" in refused.stderr
        assert "nothing written" in refused.stderr
    assert tree_listing(host) == before
    assert not target.exists()
    assert list(scratch.iterdir()) == []  # no staged or validation copy begun
