"""Issue 10: key files planted in a repository at the maximum KDF cost (1 GiB, 10 passes: a
minute of Argon2id each on a busy machine) do not make every command derive them all.

Anyone with write access to the storage can plant them, named to be listed before the honest
key file. The honest key (the default cost) is tried first: the command works, and its peak
memory shows that no planted key file was derived (one would take 1 GiB).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.e2e.test_hostile_repository import peak_rss_mib
from tests.e2e.test_key_kms_s3 import aws, client
from tests.e2e.test_s3_cli import moto_server  # noqa: F401 - the fixture
from tests.support.s3 import new_bucket


def test_planted_expensive_key_files_are_not_derived_before_the_honest_one(cli: Cli) -> None:
    cli("init")
    keys = Path(cli.environment["DRTOOL_REPO"]) / "keys"
    (honest,) = keys.iterdir()
    document = json.loads(honest.read_text())
    for index in range(8):
        planted = {
            **document,
            "key_id": f"{index:064x}",
            "kdf": {**document["kdf"], "memory_kib": 1024 * 1024, "iterations": 10},
        }
        (keys / f"{index:064x}").write_text(json.dumps(planted))
    assert sorted(keys.iterdir())[0].name < honest.name  # listed before the honest one
    peak, code, said = peak_rss_mib(cli, "snapshots")
    assert code == 0, said
    assert peak < 400, f"peak RSS {peak:.0f} MiB: a planted key file was derived"


PLANTED = "0000000000000000"  # listed before the honest key file
MARKER = "planted-content-never-printed"
DAMAGED = {
    "not-json": b"\x89PNG\r\n" + MARKER.encode() + b"\x00\xff",
    "json-not-an-object": json.dumps([MARKER]).encode(),
    "wrong-fields": json.dumps({"format": 2, "kind": "passphrase", "label": MARKER}).encode(),
    "format-1-wrong-fields": json.dumps({"format": 1, "kdf": {"name": "argon2id"}}).encode(),
    "unknown-format": json.dumps({"format": 9, "label": MARKER}).encode(),
    "too-large": b'{"format": 2, "label": "' + MARKER.encode() + b'"' + b" " * (2 << 20) + b"}",
}


def _skipped_once(stderr: str) -> None:
    """One warning line, naming the planted file, quoting nothing of it."""
    (line,) = stderr.splitlines()
    assert f"keys/{PLANTED}" in line and "skipped" in line
    assert MARKER not in stderr and "PNG" not in stderr


@pytest.mark.parametrize("content", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_damaged_key_file_is_skipped_and_the_good_one_opens(cli: Cli, content: bytes) -> None:
    cli("init")
    snapshot = cli("backup").stdout.strip()
    keys = Path(cli.environment["DRTOOL_REPO"]) / "keys"
    (honest,) = keys.iterdir()
    (keys / PLANTED).write_bytes(content)
    listed = cli("snapshots")
    assert snapshot in listed.stdout
    _skipped_once(listed.stderr)
    # the key commands too: the planted file is named, the honest key still listed
    listed_keys = cli("key", "list", "--json")
    rows = json.loads(listed_keys.stdout)
    assert [row["id"] for row in rows if row["kind"] != "writer"] == [honest.name]
    _skipped_once(listed_keys.stderr)
    kept = honest.read_bytes()
    honest.unlink()  # now no key file opens: one line, still nothing of the content
    refused = cli("snapshots", expect=18 if b'"format": 9' in content else 12)
    assert refused.stderr.count("\n") == 1
    assert f"keys/{PLANTED}" in refused.stderr and MARKER not in refused.stderr
    honest.write_bytes(kept)
    cli("key", "remove", PLANTED)  # the operator removes it as any key
    assert not (keys / PLANTED).exists() and cli("snapshots").stderr == ""


def test_a_damaged_key_file_in_a_bucket_is_skipped(cli: Cli, moto_server: str) -> None:  # noqa: F811
    s3 = client("s3", moto_server)
    bucket = new_bucket(s3)  # type: ignore[arg-type]
    operator = aws(cli, moto_server, DRTOOL_REPO=f"s3://{bucket}/drtool")
    operator("init")
    snapshot = operator("backup").stdout.strip()
    s3.put_object(Bucket=bucket, Key=f"drtool/keys/{PLANTED}", Body=DAMAGED["not-json"])  # type: ignore[attr-defined]
    listed = operator("snapshots")
    assert snapshot in listed.stdout
    _skipped_once(listed.stderr)
