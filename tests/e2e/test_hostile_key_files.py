"""Issue 10: key files planted in a repository at the maximum KDF cost (1 GiB, 10 passes: a
minute of Argon2id each on a busy machine) do not make every command derive them all.

Anyone with write access to the storage can plant them, named to be listed before the honest
key file. The honest key (the default cost) is tried first: the command works, and its peak
memory shows that no planted key file was derived (one would take 1 GiB).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli
from tests.e2e.test_hostile_repository import peak_rss_mib


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
