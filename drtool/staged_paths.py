"""Paths of a staged tree read as the kernel and glob(3) read them on the restored host.

A link is followed where it is met, component by component, and ``..`` then leaves what the
link led to (``lnk/..`` is the parent of the link's target, not the directory holding the
link); an absolute link starts again at the tree's root: it never leads out of the tree.
A glob segment matches as glob(3) matches it (flags 0): ``*``, ``?``, ``[...]`` negated by
``!`` or ``^``, a backslash quoting the next character, a leading ``.`` only matched by a
``.`` written out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

_MAX_LINKS = 40
GLOB_CHARACTERS = "*?["


def canonical(live_path: str, lookup: Callable[[str], Path]) -> str | None:
    """``live_path`` with every link resolved and every ``..`` applied after it, as an
    absolute live path; ``lookup`` gives where a live path is read (the staged tree, or the
    host for what the snapshot does not hold). None for a loop of links."""
    parts = [part for part in live_path.split("/") if part not in ("", ".")]
    current: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if current:
                current.pop()
            continue
        candidate = lookup("/" + "/".join([*current, part]))
        if candidate.is_symlink():
            hops += 1
            if hops > _MAX_LINKS:
                return None
            target = str(candidate.readlink())
            if target.startswith("/"):
                current = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        current.append(part)
    return "/" + "/".join(current)


def in_tree(root: Path) -> Callable[[str], Path]:
    """The lookup of a tree written at ``root`` (as a host root)."""
    return lambda live_path: root / live_path.lstrip("/")


def glob_matches(segment: str, name: str) -> bool:
    """Whether the directory entry ``name`` matches the glob ``segment`` as glob(3) has it."""
    if name.startswith(".") and not segment.startswith("."):
        return False
    return re.fullmatch(_glob_regex(segment), name, re.DOTALL) is not None


def _glob_regex(segment: str) -> str:
    out, index, length = [], 0, len(segment)
    while index < length:
        char = segment[index]
        index += 1
        if char == "\\" and index < length:
            out.append(re.escape(segment[index]))
            index += 1
        elif char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            bracket, index = _bracket(segment, index)
            out.append(bracket)
        else:
            out.append(re.escape(char))
    return "".join(out)


def _bracket(segment: str, index: int) -> tuple[str, int]:
    """The regex of the bracket expression starting at ``index`` (after its ``[``) and the
    index after it; an unclosed ``[`` is a literal one, as in fnmatch(3)."""
    start, negated = index, False
    if index < len(segment) and segment[index] in "!^":
        negated, index = True, index + 1
    members: list[str] = []
    first = True
    while index < len(segment) and (segment[index] != "]" or first):
        first = False
        char = segment[index]
        if char == "\\" and index + 1 < len(segment):
            index += 1
            char = segment[index]
        if index + 2 < len(segment) and segment[index + 1] == "-" and segment[index + 2] != "]":
            high = segment[index + 2]
            members.append(f"{re.escape(char)}-{re.escape(high)}" if char <= high else "")
            index += 3
            continue
        members.append(re.escape(char))
        index += 1
    if index >= len(segment):
        return re.escape("["), start
    body = "".join(members)
    if not body:
        return ("[^/]" if negated else "(?!)"), index + 1
    return f"[{'^' if negated else ''}{body}]", index + 1
