"""Review of the memory and start-up session (tar parts streamed, per-entry checks at install,
files cache streamed, collectors on threads, tar headers by hand): holes found by an attacker's
reading, each fixed with its test or a strict xfail naming it."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from drtool.errors import UnsafeArchive
from tests.support.artifacts import members_at


@pytest.mark.parametrize("field", ["uid", "gid", "size"])
def test_a_pax_number_of_unicode_digits_is_refused_in_one_line(tmp_path: Path, field: str) -> None:
    """"²" is a digit to str.isdigit, not to int(): a writer's pax record ``uid=²`` made the
    staging check raise ValueError (a traceback) instead of UnsafeArchive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("etc/app/a")
        info.pax_headers = {field: "\u00b2"}
        archive.addfile(info, io.BytesIO(b""))
    path = tmp_path / "hostile.tar"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(UnsafeArchive, match=f"pax record {field} is not a decimal number"):
        members_at(path)
