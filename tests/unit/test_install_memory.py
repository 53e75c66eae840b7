"""A staged artifact is read and installed in bounded memory (drtool/install.py, tarread.py):
the peak resident memory of a child that checks and installs a part of 20,000 files (49 MiB
of tar) grows by far less than the part, as the kernel counts it: ``VmHWM`` of
/proc/self/status (``ru_maxrss`` would not do: a process keeps its parent's high-water mark
across exec, and pytest's is larger than the bound).

Before, a part was mapped whole (its pages stayed resident) and its members kept parsed: the
large bench host's restore peaked at 147 MiB, and a host ten times larger would take ten times
that."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

FILES = 20_000
DATA = b"x" * 1000 + b"\n"
BOUND_MIB = 16  # the part is 49 MiB; its members, parsed and kept, were another 25

CHILD = """
import sys
from pathlib import Path
from drtool.host import Host
from drtool.install import StagedArtifact, install_roots
from drtool.snapshot import ArtifactRecord

part, target = Path(sys.argv[1]), Path(sys.argv[2])
staged = StagedArtifact(ArtifactRecord("files", True, ("etc/app",)), (part,))


def peak_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


before = peak_kib()
staged.check()
install_roots(Host(target, "dst"), staged)
print(peak_kib() - before)
"""


def large_part(path: Path) -> Path:
    """A part as drtool writes it: a walk (a directory, then its entries sorted by name), the
    files with nanosecond mtimes (a pax header each)."""
    with tarfile.open(path, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(directory_info("etc/app"))
        for directory in sorted(range(FILES // 1000), key=str):
            archive.addfile(directory_info(f"etc/app/d{directory}"))
            first = directory * 1000
            for index in sorted(range(first, first + 1000), key=str):
                info = tarfile.TarInfo(f"etc/app/d{directory}/file{index}.conf")
                info.mode, info.size, info.mtime = 0o644, len(DATA), 1_700_000_000
                info.pax_headers = {"mtime": f"1700000000.{index:09d}"}
                archive.addfile(info, io.BytesIO(DATA))
    return path


def directory_info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
    return info


def test_a_large_part_is_installed_in_bounded_memory(tmp_path: Path) -> None:
    part = large_part(tmp_path / "files-0000.tar")
    assert part.stat().st_size > 2.5 * BOUND_MIB * 2**20
    target = tmp_path / "target"
    (target / "etc").mkdir(parents=True)
    grown = subprocess.run(
        [sys.executable, "-c", CHILD, str(part), str(target)],
        cwd=Path(__file__).parents[2],  # the drtool beside these tests
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    installed = target / "etc/app/d19/file19999.conf"
    assert installed.read_bytes() == DATA
    assert sum(1 for _ in (target / "etc/app").rglob("*.conf")) == FILES
    assert int(grown) // 1024 < BOUND_MIB, f"peak memory grew by {int(grown) // 1024} MiB"
