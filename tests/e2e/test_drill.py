"""drtool drill on the sample host: what it finds, and that it changes nothing on the host.
(A drill that passes, on a host whose every configuration is complete, is in
tests/e2e/test_failure_matrix.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli, tree_listing
from tests.e2e.test_cli import flip_one_byte, host_root, the_object_of
from tests.support.faults import Faults, drill_namespaces_left, shims


def recording_ip(cli: Cli, directory: Path) -> Faults:
    """drtool's ``ip`` calls recorded, to find the namespace its drill made (not the machine's
    whole list: other test runs make drill namespaces of their own at the same time)."""
    recorder = shims(directory)
    recorder.record("ip")
    cli.environment["PATH"] = recorder.path(cli.environment["PATH"])
    return recorder


@pytest.mark.real_parts("nginx")
def test_a_drill_finds_what_the_backup_lacks_and_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    """The sample's nginx config names a certificate outside /etc/nginx, which the backup does
    not hold: exactly what a drill is for. The files still restore, and are verified."""
    cli("init")
    cli("backup")
    root = host_root(cli)
    before = tree_listing(root)
    metrics = tmp_path / "drtool.prom"
    recorder = recording_ip(cli, tmp_path / "shims")
    completed = cli("drill", "--json", "--metrics", str(metrics), expect=27, one_line=False)
    report = json.loads(completed.stdout)
    assert report["outcome"] == "failed"
    assert any(
        'cannot load certificate "/etc/ssl/certs/toolboxai.pem"' in p for p in report["problems"]
    )
    assert report["kinds"]["files"] == "restored and verified"
    assert set(report["seconds"]) == {"fetch", "validate", "apply", "verify", "total"}
    assert completed.stderr.startswith("drtool: error: drill failed: validation refused")
    assert 'drtool_drill_success{host="web-1"} 0' in metrics.read_text()
    assert tree_listing(root) == before
    assert drill_namespaces_left(recorder) == []


def test_a_drill_of_a_tampered_snapshot_fails_and_keeps_the_sandbox_when_asked(
    cli: Cli, tmp_path: Path
) -> None:
    cli("init")
    cli("backup")
    flip_one_byte(the_object_of(cli, "wireguard"))
    assert "new or empty directory" in cli("drill", "--keep", str(host_root(cli)), expect=2).stderr
    sandbox = tmp_path / "sandbox"
    error = cli("drill", "--keep", str(sandbox), expect=27).stderr
    assert "drill failed" in error and "refused" in error
    assert sandbox.is_dir()
    assert not (sandbox / "etc/wireguard").exists()
