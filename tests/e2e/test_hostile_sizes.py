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
    huge = shutil.disk_usage(host).free + 2**40  # a tebibyte more than the disk has

    def declare_huge(record: ArtifactRecord) -> ArtifactRecord:
        parts = (dataclasses.replace(record.parts[0], size=huge), *record.parts[1:])
        return dataclasses.replace(record, parts=parts, size=huge)

    snapshot = rewritten(open_repository(cli), "nginx", edit_record=declare_huge).id
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
