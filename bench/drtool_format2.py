"""drtool's command line with format 2's storage (packs, blobs, the files cache) on format 1's
keys: the bench's view of format 2 until `drtool init` writes format 2's keys (issue 14).

    python -m bench.drtool_format2 --repo DIR backup
"""

from __future__ import annotations

import dataclasses

from drtool.passphrase import PassphraseSource
from drtool.repository import Repository
from drtool.store import Store

_open = Repository.open.__func__  # type: ignore[attr-defined]


def _open_packed(cls: type[Repository], store: Store, passphrase: PassphraseSource) -> Repository:
    return dataclasses.replace(_open(cls, store, passphrase), format=2)


Repository.open = classmethod(_open_packed)  # type: ignore[method-assign,assignment]

if __name__ == "__main__":
    from drtool.cli import main

    main()
