"""Hostile snapshots written with drtool's own format code, as any holder of the passphrase can
write them: the newest snapshot again, under a new id, with one kind's artifact changed."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from drtool.repository import Repository
from drtool.snapshot import ArtifactRecord, Manifest, new_snapshot_id
from tests.conftest import Cli
from tests.support.artifacts import artifact_tar, with_tar


def rewritten(
    repository: Repository,
    kind: str,
    edit_part: Callable[[bytes], bytes] | None = None,
    edit_record: Callable[[ArtifactRecord], ArtifactRecord] | None = None,
) -> Manifest:
    """The newest snapshot written again under a new id, its ``kind`` part's tar bytes passed
    through ``edit_part`` (stored as one new part) and its record through ``edit_record``."""
    manifest = repository.read_manifest(repository.snapshot_refs()[-1])
    record = manifest.artifact(kind)
    if edit_part:
        original = artifact_tar(repository, manifest.host, record)
        record = with_tar(repository, manifest.host, record, edit_part(original))
    if edit_record:
        record = edit_record(record)
    hostile = dataclasses.replace(
        manifest,
        id=new_snapshot_id(datetime.now(UTC)),
        artifacts=tuple(record if item.kind == kind else item for item in manifest.artifacts),
    )
    repository.write_manifest(hostile)
    return hostile


def backed_up_by_an_attacker(
    cli: Cli, root: Path, kinds: Sequence[str], files: Sequence[str] = ()
) -> str:
    """A ``drtool backup`` by the attacker's build (tests/support/attacker_drtool.py) of the
    crafted host ``root`` (``kinds`` only, ``files`` its ``[files]`` paths), written into
    ``cli``'s repository under the host name ``evil``; return its snapshot id."""
    config = root.parent / f"{root.name}.toml"
    config.write_text(
        f"[backup]\nkinds = {json.dumps(list(kinds))}\n[files]\npaths = {json.dumps(list(files))}\n"
    )
    attacker = Cli(
        {
            **cli.environment,
            "DRTOOL_ROOT": str(root),
            "DRTOOL_HOST": "evil",
            "DRTOOL_CONFIG": str(config),
        },
        module="tests.support.attacker_drtool",
    )
    return json.loads(attacker("backup", "--json").stdout)["id"]
