"""iptables-save text as data: parse, normalise, tell runtime-owned rules from the host's own,
and merge a snapshot's rules with what others own on the live host.

Runtime-owned means written at run time by another program, whose state a restore must not
clobber: docker's chains (``DOCKER*``, which name ``br-<id>`` bridges that change when a network
is recreated), fail2ban's ``f2b-*`` chains and their bans, wg-quick's rules, and on a
Kubernetes node kube-proxy's, Calico's and Cilium's chains.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

# Kubernetes nodes too: kube-proxy's KUBE-*, Calico's cali-*, Cilium's CILIUM_* chains.
DEFAULT_RUNTIME_CHAINS = ("DOCKER", "DOCKER-*", "f2b-*", "KUBE-*", "cali-*", "CILIUM_*")
_DOCKER_INTERFACE = re.compile(r"(?:^|\s)!?\s*-[io] (?:docker0|br-[0-9a-f]{12})(?:\s|$)")
# docker's hairpin rule for a published port, one per container in nat POSTROUTING: it names no
# docker chain or bridge, only the container's address as both source and destination.
_DOCKER_HAIRPIN = re.compile(
    r"^-s (\S+)/32 -d \1/32 -p (tcp|udp|sctp) -m \2 --dport \d+ -j MASQUERADE$"
)
_JUMP = re.compile(r"(?:^|\s)-[jg] (\S+)")
_WG_QUICK = "wg-quick(8)"
# iptables-nft-save on a table of iptables' name that nft made natively (Debian's
# /etc/nftables.conf has "table ip filter" with chains "input"…): that table is nftables'.
_INCOMPATIBLE = re.compile(r"^# Table `([^']+)' (?:is incompatible|contains incompatible)", re.M)


@dataclass
class Table:
    """One ``*table`` block: chain declarations (name -> policy, "-" for user chains) and
    rules as ``(chain, rule text after "-A CHAIN ")`` in order."""

    name: str
    chains: dict[str, str] = field(default_factory=dict)
    rules: list[tuple[str, str]] = field(default_factory=list)

    def render(self) -> str:
        return _rendered(self.name, self.chains, "".join(_rule_line(*rule) for rule in self.rules))


def _rendered(name: str, chains: dict[str, str], rule_lines: str) -> str:
    return f"{_head(name, chains)}{rule_lines}COMMIT\n"


def _head(name: str, chains: dict[str, str]) -> str:
    return f"*{name}\n" + "".join(f":{chain} {policy} [0:0]\n" for chain, policy in chains.items())


def _rule_line(chain: str, rule: str) -> str:
    return f"-A {chain} {rule}\n" if rule else f"-A {chain}\n"


class RulesetError(ValueError):
    """iptables-save text that cannot be parsed."""


def parse(text: str) -> list[Table]:
    """Parse iptables-save output; comments, blank lines and counters are dropped."""
    tables: list[Table] = []
    for what, name, value in _statements(_lines(text)):
        if what == "table":
            tables.append(Table(name))
        elif what == "chain":
            tables[-1].chains[name] = value
        elif what == "rule":
            tables[-1].rules.append((name, value))
    return tables


def own_normalised(lines: Iterable[str]) -> bytes:
    """``own_tables`` of the iptables-save text made of ``lines`` (each with or without its
    ``\n``), rendered and encoded: the tables iptables owns, normalised. The lines are read
    one at a time (from iptables-save's pipe) and each rule rendered into its table's bytes as
    it is read: neither the text nor its rules as data are ever held (a host of 500,000 rules
    per family)."""
    foreign: set[str] = set()
    tables: list[tuple[str, bytes]] = []
    table = _TableBytes("")
    for what, name, value in _statements(_noting_incompatible(lines, foreign)):
        if what == "table":
            table = _TableBytes(name)
        elif what == "chain":
            table.declare(name, value)
        elif what == "rule":
            table.rule(name, value)
        elif what == "commit":
            tables.append((name, table.finish()))
    return b"".join(rendered for name, rendered in tables if name not in foreign)


class _TableBytes:
    """One table rendered as ``Table.render`` does, into one buffer as its statements come: the
    chains declared before its first rule (all of them, in iptables-save's output) are written
    then, each rule after them. A chain declared after a rule has the head written again."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._chains: dict[str, str] = {}
        self._written: dict[str, str] | None = None  # the chains the head written declares
        self._buffer = io.BytesIO()

    def declare(self, chain: str, policy: str) -> None:
        self._chains[chain] = policy

    def rule(self, chain: str, rule: str) -> None:
        if self._written is None:
            self._write_head()
        self._buffer.write(_rule_line(chain, rule).encode())

    def _write_head(self) -> None:
        self._written = dict(self._chains)
        self._buffer.write(_head(self._name, self._chains).encode())

    def finish(self) -> bytes:
        if self._written is None:
            self._write_head()
        if self._written != self._chains:  # a chain declared (again) after a rule
            written = len(_head(self._name, self._written or {}).encode())
            rules = self._buffer.getbuffer()[written:]
            return b"".join((_head(self._name, self._chains).encode(), rules, b"COMMIT\n"))
        self._buffer.write(b"COMMIT\n")
        return self._buffer.getvalue()


def _noting_incompatible(lines: Iterable[str], foreign: set[str]) -> Iterator[str]:
    """``lines`` without their ``\n``, the tables iptables-nft-save says are not its own added
    to ``foreign`` as they are read (``incompatible``, a line at a time)."""
    for line in lines:
        line = line.removesuffix("\n")
        if line.startswith("# Table"):
            foreign.update(incompatible(line))
        yield line


def _statements(lines: Iterable[str]) -> Iterator[tuple[str, str, str]]:
    """iptables-save text as ``("table", name, "")``, ``("chain", name, policy)``, ``("rule",
    chain, rule text after "-A CHAIN ")`` and ``("commit", table name, "")``, line by line;
    raise RulesetError."""
    table: str | None = None
    for number, raw in enumerate(lines, start=1):
        # A rule as iptables-save prints it (tens of thousands a table): as below, done inline.
        if table is not None and raw.startswith("-A ") and not raw[-1].isspace():
            _, chain, *rest = raw.split(" ", 2)
            yield "rule", chain, rest[0] if rest else ""
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            if table is not None:  # else its rules went with no table (a backup without them)
                raise RulesetError(f"line {number}: table {table} has no COMMIT")
            table = line[1:]
            yield "table", table, ""
        elif table is None:
            raise RulesetError(f'line {number}: "{line[:80]}" outside of a table')
        elif line == "COMMIT":
            yield "commit", table, ""
            table = None
        elif line.startswith(":"):
            name, _, rest = line[1:].partition(" ")
            yield "chain", name, rest.split(" ")[0] or "-"
        elif line.startswith("[") and "] -A " in line:  # iptables-save -c counters
            yield "rule", *_split_rule(line.split("] ", 1)[1])
        elif line.startswith("-A "):
            yield "rule", *_split_rule(line)
        else:
            raise RulesetError(f'line {number}: cannot parse "{line[:80]}"')
    if table is not None:
        raise RulesetError(f"table {table} has no COMMIT")


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text``, one at a time (``splitlines`` would hold them all)."""
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        end = size if end < 0 else end
        yield text[start:end]
        start = end + 1


def incompatible(text: str) -> set[str]:
    """The tables iptables-nft-save says are not its own (native nft tables of its names)."""
    return set(_INCOMPATIBLE.findall(text))


def own_tables(text: str) -> list[Table]:
    """The tables of iptables-save text that iptables owns (``parse`` less the incompatible)."""
    foreign = incompatible(text)
    return [table for table in parse(text) if table.name not in foreign]


def _split_rule(line: str) -> tuple[str, str]:
    _, chain, *rest = line.split(" ", 2)
    return chain, rest[0] if rest else ""


def normalise(text: str) -> str:
    """The effective ruleset: no comments, no counters, no header lines."""
    return "".join(table.render() for table in parse(text))


def _matches(chain: str, patterns: Iterable[str]) -> bool:
    return any(
        chain.startswith(pattern[:-1]) if pattern.endswith("*") else chain == pattern
        for pattern in patterns
    )


def is_runtime_rule(chain: str, rule: str, patterns: Sequence[str]) -> bool:
    """Whether a rule belongs to docker, fail2ban or wg-quick rather than to the host."""
    if _matches(chain, patterns) or _WG_QUICK in rule or _DOCKER_INTERFACE.search(rule):
        return True
    if chain == "POSTROUTING" and _DOCKER_HAIRPIN.match(rule.strip()):
        return True
    jump = _JUMP.search(rule)
    return bool(jump and _matches(jump.group(1), patterns))


def host_owned(table: Table, patterns: Sequence[str]) -> Table:
    """The part of ``table`` the host owns: runtime chains and rules removed."""
    return Table(
        table.name,
        {chain: policy for chain, policy in table.chains.items() if not _matches(chain, patterns)},
        [
            (chain, rule)
            for chain, rule in table.rules
            if not is_runtime_rule(chain, rule, patterns)
        ],
    )


def merge(snapshot: Table, live: Table | None, patterns: Sequence[str]) -> Table:
    """The snapshot's host-owned rules, with the live runtime-owned chains and rules kept.

    Runtime rules in the host's chains go first, in their live order: docker and fail2ban
    insert their jumps at the top (DOCKER-USER before anything in FORWARD, f2b-* before
    INPUT's accepts), so that is where they keep working.
    """
    merged = host_owned(snapshot, patterns)
    if live is None:
        return merged
    runtime_chains = {c: p for c, p in live.chains.items() if _matches(c, patterns)}
    runtime_rules = [(c, r) for c, r in live.rules if is_runtime_rule(c, r, patterns)]
    merged.chains.update(runtime_chains)
    jumps = [(c, r) for c, r in runtime_rules if c not in runtime_chains]
    inside = [(c, r) for c, r in runtime_rules if c in runtime_chains]
    merged.rules = [*jumps, *merged.rules, *inside]
    return merged


def by_name(tables: Iterable[Table]) -> dict[str, Table]:
    return {table.name: table for table in tables}
