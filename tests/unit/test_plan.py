"""plan.make_plan with fake collectors: the order, what is absent or skipped and why, and the
roots a restore may replace (decided before anything is fetched)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drtool.collectors import Artifact, Collector
from drtool.config import RestorePolicy
from drtool.errors import UnsafeArchive, UnsupportedFormat, UsageError
from drtool.host import Host
from drtool.plan import make_plan
from drtool.snapshot import ArtifactRecord, Manifest


class Fake(Collector):
    def __init__(
        self, kind: str, roots: tuple[str, ...] = (), live: bool = False, missing: str = ""
    ) -> None:
        self.kind, self.roots, self.live_state, self.missing = kind, roots, live, missing

    def collect(self, host: Host) -> Artifact:
        raise AssertionError("a plan never reads the host")

    def unavailable_reason(self, host: Host) -> str | None:
        return self.missing or None


COLLECTORS = [
    Fake("docker_networks", live=True),
    Fake("nginx", ("etc/nginx",)),
    Fake("iptables", live=True, missing="iptables is not installed"),
    Fake("files", ("etc/redis/redis.conf",)),
]


def manifest(*records: ArtifactRecord) -> Manifest:
    return Manifest("20250107T021500Z-0badf00d", "web-1", "t", (), "0", records)


def record(kind: str, *roots: str, present: bool = True) -> ArtifactRecord:
    return ArtifactRecord(kind, present, roots)


SANDBOX = Host(Path("/nonexistent"), "web-1", services=False)


def test_order_absent_and_skipped_with_their_reasons() -> None:
    plan = make_plan(
        manifest(
            record("files", "etc/redis/redis.conf"),
            record("iptables"),
            record("nginx", "etc/nginx"),
            record("docker_networks"),
            record("wireguard", "etc/wireguard", present=False),
        ),
        [*COLLECTORS, Fake("wireguard", ("etc/wireguard",))],
        None,
        SANDBOX,
    )
    assert plan.kinds == ["nginx", "files"]
    assert plan.absent == ["wireguard"]
    assert plan.skipped == {
        "docker_networks": "live state, and this restore manages no services (--target, sandbox)",
        "iptables": "live state, and this restore manages no services (--target, sandbox)",
    }
    assert plan.roots == {"nginx": ["/etc/nginx"], "files": ["/etc/redis/redis.conf"]}


def test_a_missing_tool_is_a_skip_reason_where_services_are_managed() -> None:
    host = Host(Path("/nonexistent"), "web-1", services=True)
    plan = make_plan(manifest(record("iptables")), COLLECTORS, None, host)
    assert plan.skipped == {"iptables": "iptables is not installed"}


def test_only_an_unknown_kind_and_a_foreign_root() -> None:
    snapshot = manifest(record("nginx", "etc/nginx"), record("files", "opt/app.conf"))
    assert make_plan(snapshot, COLLECTORS, {"nginx"}, SANDBOX).kinds == ["nginx"]
    with pytest.raises(UsageError, match="holds no 'iptables'"):
        make_plan(snapshot, COLLECTORS, {"iptables"}, SANDBOX)
    with pytest.raises(UnsupportedFormat, match="kind 'nftables'"):
        make_plan(manifest(record("nftables")), COLLECTORS, None, SANDBOX)
    with pytest.raises(UnsafeArchive, match=r"files root /opt/app\.conf refused"):
        make_plan(snapshot, COLLECTORS, None, SANDBOX)
    included = RestorePolicy(include_roots=("/opt/app.conf",))
    assert make_plan(snapshot, COLLECTORS, None, SANDBOX, included).roots["files"] == [
        "/opt/app.conf"
    ]
