"""drtool.staged_paths: glob segments against the C library's own fnmatch(3) (what glob(3)
uses), links and '..' against the kernel (os.path.realpath over a real tree)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

import pytest

from drtool.staged_paths import canonical, glob_matches, in_tree

_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))
FNM_PERIOD = 1 << 2

PATTERNS = [
    "*",
    "*.conf",
    "[!x]vil",
    "[^x]vil",
    "[]a]b",
    "[a-c]?",
    "\\*x",
    "[!]]",
    ".*",
    "[",
    "a[b",
]
NAMES = ["evil", "xvil", "a.conf", ".hidden", "]b", "ab", "bz", "*x", "ax", "]", "a", "[", "a[b"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_glob_segment_matches_as_fnmatch_3_with_a_leading_period(pattern: str) -> None:
    for name in NAMES:
        libc = _LIBC.fnmatch(pattern.encode(), name.encode(), FNM_PERIOD) == 0
        assert glob_matches(pattern, name) == libc, (pattern, name)


def test_dot_dot_after_a_link_leaves_the_links_target(tmp_path: Path) -> None:
    (tmp_path / "a/b/c").mkdir(parents=True)
    (tmp_path / "lnk").symlink_to("a/b/c")
    (tmp_path / "abs").symlink_to("/a/b")  # absolute: inside the tree
    lookup = in_tree(tmp_path)
    assert canonical("/lnk/../..", lookup) == "/a"
    assert os.path.realpath(tmp_path / "lnk/../..") == str(tmp_path / "a")
    assert canonical("/abs/../x", lookup) == "/a/x"
