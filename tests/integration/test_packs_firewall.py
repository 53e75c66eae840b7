"""Format 2 stores a firewall by chunks of its dump: one changed rule of 2,000 re-stores one
small chunk, not the ruleset; the restore gives back what `iptables-save` says (its own output
is the oracle)."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path

import pytest

from drtool.backup import run_backup
from drtool.blob_reader import artifact_blob_refs
from drtool.collectors import collectors_for
from drtool.config import Settings
from drtool.host import Host
from drtool.repository import Repository
from drtool.restore import restore_snapshot
from drtool.runner import Runner
from tests.support.artifacts import artifact_tar
from tests.support.netns import run_in

SETTINGS = Settings(kinds=("iptables",), iptables_backend="nft")
RULES = 2000


def ruleset(changed: int | None = None) -> str:
    lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    for index in range(RULES):
        port = 20000 + index + (7 if index == changed else 0)
        source = f"10.{index // 250}.{index % 250}.1/32"
        lines.append(f"-A INPUT -s {source} -p tcp --dport {port} -j ACCEPT")
    return "\n".join([*lines, "COMMIT", ""])


def saved(namespace: str) -> list[str]:
    return [
        line
        for line in run_in(namespace, "iptables-nft-save").splitlines()
        if not line.startswith("#")
    ]


@pytest.mark.real_parts("iptables-nft", "netns")
def test_one_changed_rule_restores_one_chunk(packed: Repository, netns: str, tmp_path: Path):
    host = Host(tmp_path / "root", "fw-1", Runner(netns=netns))
    (tmp_path / "root").mkdir()
    run_in(netns, "iptables-nft-restore", input_text=ruleset())
    first = run_backup(packed, host, collectors_for(SETTINGS))
    run_in(netns, "iptables-nft-restore", input_text=ruleset(changed=RULES // 2))
    expected = saved(netns)
    second = run_backup(packed, host, collectors_for(SETTINGS))
    before, after = (
        {ref.id: ref.size for ref in artifact_blob_refs(packed, "fw-1", item.artifact("iptables"))}
        for item in (first, second)
    )
    new = [size for blob, size in after.items() if blob not in before]
    assert len(new) == 1 and new[0] < sum(after.values()) / 10, "one chunk, a small one"
    # The dump is a command output, which `size` does not count: `outputs` does (the stream is
    # held to what the record declares), as Python's tarfile reads the stream.
    record = second.artifact("iptables")
    with tarfile.open(fileobj=io.BytesIO(artifact_tar(packed, "fw-1", record))) as tar:
        dumps = [item.size for item in tar if item.name.startswith(".drtool/outputs/")]
    assert record.outputs == sum(dumps) > sum(after.values()) / 2

    run_in(netns, "iptables-nft-restore", input_text=ruleset(changed=1))
    fresh = dataclasses.replace(packed)
    restore_snapshot(fresh, second, host, collectors_for(SETTINGS))
    assert saved(netns) == expected
