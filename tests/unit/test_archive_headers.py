"""The header blocks format 2 cuts an artifact's tar stream at (drtool/archive.py,
``member_header`` and ``output_header``; docs/FORMAT.md, "Blobs": the stream is format 1's
payload, as one tar). Each must be, byte for byte, what ``write_parts`` writes before that
member's data; where a member starts and its data begins is Python's tarfile's word."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from drtool.archive import list_tree, member_header, output_header, write_parts

MTIME_NS = 1_700_000_000_987_654_321


def test_each_members_header_is_what_write_parts_writes_before_its_data(tmp_path: Path) -> None:
    app = tmp_path / "etc/app"
    (app / "sub").mkdir(parents=True)
    names = [
        b"plain.conf",
        "café.conf".encode(),  # not ASCII: a pax path record
        b"latin1-caf\xe9.conf",  # not UTF-8: hdrcharset=BINARY, the bytes kept
        b"long-" + b"n" * 120 + b".conf",  # past ustar's 100 bytes
    ]
    for name in names:
        (app / os.fsdecode(name)).write_bytes(b"x" * 700)
    (app / "link").symlink_to("plain.conf")
    os.utime(app / "plain.conf", ns=(MTIME_NS, MTIME_NS))  # a pax mtime record
    os.chown(app / "sub", 3_000_000, 3_000_001)  # ids past ustar's octal fields
    entries, _ = list_tree(tmp_path, "etc/app")
    outputs = {"v4": b"*filter\nCOMMIT\n", "networks.json": b"[]"}
    (part,) = write_parts(entries, tmp_path, outputs)
    with part:
        data = part.read()
    expected = [output_header(name, len(outputs[name])) for name in sorted(outputs)]
    expected += [member_header(entry) for entry in entries]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        members = archive.getmembers()
        written = [data[member.offset : member.offset_data] for member in members]
        assert [member.name for member in members] == [
            ".drtool/outputs/networks.json",
            ".drtool/outputs/v4",
            *(entry.path for entry in entries),
        ]
        assert os.fsdecode(b"etc/app/latin1-caf\xe9.conf") in archive.getnames(), "bytes kept"
    assert written == expected
