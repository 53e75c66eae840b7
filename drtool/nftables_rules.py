"""``nft -s list ruleset`` text as data: split into tables and their blocks (chains, sets, maps,
flowtables, named counters, …), tell runtime-owned tables from the host's own, and build the one
``nft -f`` transaction that replaces the host's tables and leaves the others as they are live.

``nft -s`` (stateless) already drops counter values, quota usage and set element expiry; handles
are printed only with ``-a``, which drtool never asks for. The text kept is the tool's own, so
what a snapshot holds is exactly what ``nft -f`` accepts.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Tables written at run time by other programs: docker's nftables backend, fail2ban's nftables
# actions, wg-quick, kube-proxy's nftables mode, Calico and Cilium. More by pattern in drtool.toml.
DEFAULT_RUNTIME_TABLES = (
    "docker*",
    "f2b-*",
    "fail2ban*",
    "wg-quick-*",
    "kube-proxy",
    "KUBE-*",
    "cali-*",
    "calico*",
    "CILIUM_*",
    "cilium*",
)
FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")
_TABLE = re.compile(r"^table (\S+) (\S+) \{$")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


class RulesetError(ValueError):
    """nft text that cannot be split into tables."""


@dataclass(frozen=True)
class Block:
    """One object of a table: ``header`` (``chain input``, ``set admins``…, or ``table`` for
    the table's own statements) and its statements in order, one logical line each."""

    header: str
    statements: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    family: str
    name: str
    text: str  # the whole ``table F N { … }`` block, as nft printed it

    @property
    def key(self) -> str:
        return f"{self.family} {self.name}"

    def blocks(self) -> list[Block]:
        """The table's objects, each with its statements (multi-line elements joined)."""
        blocks: list[Block] = []
        own: list[str] = []
        header: str | None = None
        statements: list[str] = []
        pending = ""
        for line in self.text.splitlines()[1:-1]:
            stripped = line.strip()
            if not stripped:
                continue
            if header is None:
                if stripped.endswith("{"):
                    header, statements = stripped[:-1].strip(), []
                else:
                    own.append(stripped)
                continue
            logical = f"{pending} {stripped}".strip() if pending else stripped
            depth = _depth(logical)
            if depth < 0 and logical == "}":
                blocks.append(Block(header, tuple(statements)))
                header, pending = None, ""
            elif depth > 0:
                pending = logical  # an element list continued on the next line
            else:
                statements.append(logical)
                pending = ""
        if header is not None:
            raise RulesetError(f'table {self.key}: block "{header}" is not closed')
        return ([Block("table", tuple(own))] if own else []) + blocks


def _depth(text: str) -> int:
    """Opened minus closed braces, outside quoted strings."""
    bare = _QUOTED.sub("", text)
    return bare.count("{") - bare.count("}")


def parse(text: str) -> list[Table]:
    """Split ``nft list ruleset`` output into its tables; raise RulesetError on anything else."""
    tables: list[Table] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip() or line.lstrip().startswith("#"):
            index += 1
            continue
        match = _TABLE.match(line)
        if not match or match.group(1) not in FAMILIES:
            raise RulesetError(f'line {index + 1}: expected a table, found "{line.strip()[:80]}"')
        depth, start = 0, index
        while index < len(lines):
            depth += _depth(lines[index])
            index += 1
            if depth == 0:
                break
        if depth != 0:
            raise RulesetError(f"table {match.group(1)} {match.group(2)} is not closed")
        block = "\n".join(lines[start:index]) + "\n"
        tables.append(Table(match.group(1), match.group(2), block))
    return tables


def render(tables: Iterable[Table]) -> str:
    return "".join(table.text for table in tables)


def is_runtime(table: Table, patterns: Sequence[str]) -> bool:
    """Whether another program (docker, fail2ban, wg-quick, Kubernetes…) owns the table."""
    return any(fnmatch.fnmatchcase(table.name, pattern) for pattern in patterns)


def host_owned(tables: Iterable[Table], patterns: Sequence[str]) -> list[Table]:
    return [table for table in tables if not is_runtime(table, patterns)]


def transaction(snapshot: Sequence[Table], live: Sequence[Table], patterns: Sequence[str]) -> str:
    """One ``nft -f`` script: every host-owned table live now deleted, the snapshot's host-owned
    tables created; runtime-owned tables are not named, so they stay as they are live.

    ``table F N`` before ``delete table F N`` makes the delete succeed whether or not the table
    exists (nft 1.0.6 has no ``destroy``); nft applies the whole file as one transaction.
    """
    wanted = host_owned(snapshot, patterns)
    names = dict.fromkeys(table.key for table in [*host_owned(live, patterns), *wanted])
    lines = [f"table {key}\ndelete table {key}\n" for key in names]
    return "".join(lines) + render(wanted)


def by_key(tables: Iterable[Table]) -> dict[str, Table]:
    return {table.key: table for table in tables}
