"""drtool's command line with format 2's storage (packs, blobs, the files cache) on format 1's
keys: the bench's view of format 2 until `drtool init` writes format 2's keys (issue 14).

    python -m bench.drtool_format2 --repo DIR backup
"""

from __future__ import annotations

import dataclasses
from typing import Any

from drtool.repository import Repository

_open = Repository.open.__func__  # type: ignore[attr-defined]


def _open_packed(cls: type[Repository], *arguments: Any, **options: Any) -> Repository:
    opened = _open(cls, *arguments, **options)
    return opened if opened.format >= 2 else dataclasses.replace(opened, format=2)


Repository.open = classmethod(_open_packed)  # type: ignore[method-assign,assignment]

if __name__ == "__main__":
    from drtool.cli import main

    main()
