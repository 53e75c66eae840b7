"""Getting things out of a snapshot: ``drtool ls`` lists what it holds, ``drtool dump`` one
file or one command output of it, byte for byte.

A file is named by its host path (``/etc/nginx/nginx.conf``); a command output by
``KIND:NAME`` (``iptables:v4``, ``iptables:legacy-v6``, ``nftables:ruleset``): exactly what
``iptables-restore`` / ``nft -f`` accept.
"""

from __future__ import annotations

import contextlib
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from drtool.archive import EntryType
from drtool.capture import stage_artifact
from drtool.errors import EntryNotFound
from drtool.install import StagedArtifact
from drtool.repository import Repository
from drtool.snapshot import Manifest

_TYPE_LETTER = {EntryType.FILE: "-", EntryType.DIRECTORY: "d", EntryType.SYMLINK: "l"}


@dataclass(frozen=True)
class Listed:
    """One thing a snapshot holds: a file entry (``/etc/…``) or an output (``kind:name``)."""

    address: str
    kind: str
    type: str
    size: int
    listing: str


def output_address(kind: str, name: str) -> str:
    """``iptables:v4`` for the output ``v4.rules`` of iptables."""
    return f"{kind}:{name.split('.', 1)[0]}"


@dataclass
class OpenedSnapshot:
    """The present artifacts of a snapshot, staged into a private directory."""

    staged: list[StagedArtifact]

    def listing(self, under: str | None = None) -> list[Listed]:
        """Everything held, or what lies under a path, of a kind, or at an address."""
        found = [item for item in self._all() if _matches(item, under)]
        if under and not found:
            raise EntryNotFound(f"the snapshot holds nothing at {under[:200]}")
        return found

    def content(self, address: str) -> bytes:
        """The bytes of one file or output; EntryNotFound for anything else."""
        return self.held(address)[1]

    def held(self, address: str) -> tuple[str, bytes]:
        """The kind holding one file or output, and its bytes; EntryNotFound for anything
        else."""
        for staged in self.staged:
            outputs = staged.outputs()
            for name, content in outputs.items():
                if address in (
                    output_address(staged.record.kind, name),
                    f"{staged.record.kind}:{name}",
                ):
                    return staged.record.kind, content
            for archive, member, entry in staged.members():
                if f"/{entry.path}" != "/" + address.lstrip("/"):
                    continue
                if entry.type is not EntryType.FILE:
                    raise EntryNotFound(
                        f"{address[:200]} is a {entry.type.value}, not a file: drtool ls lists it"
                    )
                source = archive.extractfile(member)
                return staged.record.kind, source.read() if source else b""
        raise EntryNotFound(
            f"the snapshot holds no file or output {address[:200]} (drtool ls lists them)"
        )

    def _all(self) -> Iterator[Listed]:
        for staged in self.staged:
            kind = staged.record.kind
            for _, _, entry in staged.members():
                mode = stat.filemode(entry.mode)[1:]
                link = f" -> {entry.link_target}" if entry.link_target else ""
                yield Listed(
                    f"/{entry.path}",
                    kind,
                    entry.type.value,
                    entry.size,
                    f"{_TYPE_LETTER[entry.type]}{mode} {entry.uid:>5}:{entry.gid:<5} "
                    f"{entry.size:>9}  /{entry.path}{link}",
                )
            for name, content in staged.outputs().items():
                address = output_address(kind, name)
                yield Listed(
                    address,
                    kind,
                    "output",
                    len(content),
                    f"o{'':9} {'':11} {len(content):>9}  {address}",
                )


def _matches(item: Listed, under: str | None) -> bool:
    if not under:
        return True
    if under in (item.kind, item.address):
        return True
    directory = "/" + under.strip("/") + "/"
    return item.address.startswith(directory) or directory == "//"


@contextlib.contextmanager
def snapshot_opened(repository: Repository, manifest: Manifest) -> Iterator[OpenedSnapshot]:
    """Every present artifact of ``manifest`` staged into a private directory (removed
    afterwards): decrypted and verified, never written anywhere else."""
    directory = Path(tempfile.mkdtemp(prefix="drtool-dump-"))
    try:
        yield OpenedSnapshot(
            [
                stage_artifact(repository, record, directory, host=manifest.host)
                for record in manifest.artifacts
                if record.present
            ]
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
