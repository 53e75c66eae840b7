"""Firewall diffs as an operator reads a ruleset: each chain (or set, map…) compared as the
ordered list it is, so a rule moved above another is a change, printed as ``-``/``+`` lines in
the tool's own syntax (iptables-save lines, nft statements) with a line of context around."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

_CONTEXT = 1


def ordered_changes(
    before: Mapping[str, Sequence[str]], after: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """Per named list whose lines or order differ, its diff lines: ``- x``, ``+ y``, ``  z``
    for context and ``@@ …`` between distant hunks. A list only on one side is all ``+``/``-``.
    """
    changes = {}
    for name in [*before, *(name for name in after if name not in before)]:
        old, new = list(before.get(name, ())), list(after.get(name, ()))
        if old != new:
            changes[name] = _lines(old, new)
    return changes


def _lines(old: list[str], new: list[str]) -> list[str]:
    import difflib  # only a diff compares; a backup loads the firewall collector without it

    lines: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for group in matcher.get_grouped_opcodes(_CONTEXT):
        if lines:
            lines.append("@@")
        for tag, old_start, old_end, new_start, new_end in group:
            if tag == "equal":
                lines += [f"  {line}" for line in old[old_start:old_end]]
                continue
            lines += [f"- {line}" for line in old[old_start:old_end]]
            lines += [f"+ {line}" for line in new[new_start:new_end]]
    return lines
