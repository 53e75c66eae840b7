"""The CronJobs of schedules/kubernetes-cronjob.yaml: valid against the Kubernetes schema
(kubernetes-validate, strict), least privilege as documented, and their commands run as written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.conftest import Cli

CRONJOBS = Path(__file__).resolve().parents[2] / "schedules/kubernetes-cronjob.yaml"


def cronjobs() -> dict[str, dict[str, Any]]:
    documents = list(yaml.safe_load_all(CRONJOBS.read_text()))
    return {document["metadata"]["name"]: document for document in documents}


def pod(cronjob: dict[str, Any]) -> dict[str, Any]:
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]


@pytest.mark.parametrize("version", ["1.28.0", "1.33.0"])
def test_every_cronjob_validates_against_the_schema(version: str) -> None:
    jobs = cronjobs()
    assert len(jobs) == 3
    for document in jobs.values():
        # raises ValidationError (an unknown or mistyped field, strict) if the schema refuses
        # it; returns the schema version it checked against
        checked = kubernetes_validate.validate(document, version, strict=True)
        assert version.startswith(checked)


def test_backup_forget_and_drill_with_least_privilege() -> None:
    jobs = cronjobs()
    assert sorted(jobs) == ["drtool-backup", "drtool-drill", "drtool-forget"]
    for name, job in jobs.items():
        spec = pod(job)
        for container in spec["containers"]:
            assert "@sha256:" in container["image"] and ":latest" not in container["image"], name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
            security = container["securityContext"]
            assert not security.get("privileged") and not security["allowPrivilegeEscalation"]
        for volume in spec.get("volumes", []):
            assert volume.get("hostPath", {}).get("type") != "Socket", name
    for name in ("drtool-backup", "drtool-drill"):
        added = pod(jobs[name])["containers"][0]["securityContext"]["capabilities"]["add"]
        assert {"NET_ADMIN", "NET_RAW"} <= set(added)
    docker = [v for v in pod(jobs["drtool-backup"])["volumes"] if v["name"] == "docker-run"]
    assert docker[0]["hostPath"]["type"] == "DirectoryOrCreate"
    forget = pod(jobs["drtool-forget"])
    assert "hostNetwork" not in forget and "volumes" in forget
    assert forget["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert all(v["name"] in ("secret", "tmp") for v in forget["volumes"])


def test_the_forget_and_drill_commands_run_as_written(cli: Cli, tmp_path: Path) -> None:
    cli("init")
    cli("backup")
    cli("backup")
    forget = pod(cronjobs()["drtool-forget"])["containers"][0]["command"]
    assert forget[0] == "drtool"
    report = json.loads(cli(*forget[1:], "--json").stdout)
    assert report["kept"] and report["prune"] is not None
    drill = pod(cronjobs()["drtool-drill"])["containers"][0]["command"]
    # The sample host's nginx names a certificate the backup lacks: the drill says so (27).
    assert "toolboxai.pem" in cli(*drill[1:], expect=27, one_line=False).stderr
