"""Whether an artifact's entries build a tree, checked as they are read (docs/FORMAT.md,
"Safety rules").

drtool writes each root as a walk (archive.list_tree): the root first, a directory before its
content, a directory's entries sorted by name. An install creates each entry inside its parent
and never replaces one, so a path written twice, an entry below a file, or an entry whose
directory is not written before it failed there, midway; a root with no entry at all failed as
its build was swapped in, after the roots before it. The staging check refuses each of them
instead, before anything is stopped or written.

Memory is the depth of the tree, not its size: only the directories on the way to the last
entry are kept, each with the name of its last entry. Siblings sorted by name is what lets a
path written twice be found without remembering every path."""

from __future__ import annotations

import itertools
from collections.abc import Collection

from drtool.archive import EntryType, FileEntry
from drtool.errors import UnsafeArchive
from drtool.hostpath import is_under


class TreeCheck:
    """Call with each file entry of an artifact (its parts in order, outputs left out), then
    ``finish``; raise UnsafeArchive naming the first entry out of the walk drtool writes (the
    first the install could not create, or one in an order only a hostile writer makes)."""

    def __init__(self, roots: Collection[str]) -> None:
        # Sorted by segments, a root's descendants come right after it ("a", "a/b", "a-b")
        ordered = sorted(roots, key=lambda root: root.split("/"))
        for root, following in itertools.pairwise(ordered):
            if is_under(following, root):
                raise UnsafeArchive(
                    f"snapshot root /{following} lies in the root /{root} (its entries would "
                    "come twice); nothing written"
                )
        self._roots, self._root_set = roots, frozenset(roots)
        self._started: set[str] = set()
        # [path, name of its last entry so far] of each directory on the way to the last entry
        self._open: list[list[str]] = []

    def __call__(self, entry: FileEntry) -> None:
        path, opened = entry.path, self._open
        if path in self._root_set:
            if path in self._started:
                raise _twice(path)
            self._started.add(path)
            opened.clear()
        else:
            parent, _, name = path.rpartition("/")
            while opened and opened[-1][0] != parent:
                opened.pop()  # a directory whose entries are all written
            if not opened:
                raise UnsafeArchive(
                    f"archive entry {path!r} does not come right after a directory {parent!r} "
                    "and its other entries (the part's tree cannot be built); nothing written"
                )
            last = opened[-1][1]
            if name == last:
                raise _twice(path)
            if name < last:
                raise UnsafeArchive(
                    f"archive entry {path!r} comes after {parent + '/' + last!r}, out of the "
                    "order drtool writes (a directory's entries sorted by name); nothing written"
                )
            opened[-1][1] = name
        if entry.type is EntryType.DIRECTORY:
            opened.append([path, ""])  # "" sorts before any name (no name is empty)

    def finish(self) -> None:
        """Refuse a root the record does not call missing that no entry gave."""
        for root in self._roots:
            if root not in self._started:
                raise no_entry(root)


def no_entry(root: str) -> UnsafeArchive:
    return UnsafeArchive(
        f"snapshot root /{root} has no entry, and the record does not call it missing; "
        "nothing written"
    )


def _twice(path: str) -> UnsafeArchive:
    return UnsafeArchive(f"archive entry {path!r} comes twice; nothing written")
