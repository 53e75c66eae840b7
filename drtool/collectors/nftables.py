"""The firewall as native nftables holds it: ``nft -s list ruleset`` (tables made by
iptables-nft belong to the iptables kind), and the file the boot loads it from
(/etc/nftables.conf, or ``[nftables] path``).

Checked with ``nft -c -f`` and by a real load into a throwaway network namespace; applied as one
atomic ``nft -f`` transaction that replaces the host's own tables and names no runtime-owned one
(docker's, fail2ban's, wg-quick's, Kubernetes'), so those stay as they are live.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from typing import Any

from drtool import iptables_rules
from drtool import nftables_rules as rules
from drtool.archive import FileEntry
from drtool.collectors.base import Artifact, PathsCollector
from drtool.config import ServiceSettings
from drtool.errors import CollectError
from drtool.host import Host
from drtool.install import StagedArtifact
from drtool.ruleset_diff import ordered_changes
from drtool.runner import CommandFailed, Runner

RULESET = "ruleset.nft"
_SWITCH_PATTERNS = "runtime-tables.json"
_THROWAWAY_LOAD = ["unshare", "--net", "nft", "-f", "-"]
_NO_INTERFACE = "Error: Interface does not exist"
_IPTABLES_FAMILIES = {"ip": "iptables-nft-save", "ip6": "ip6tables-nft-save"}


def live_ruleset(runner: Runner) -> list[rules.Table]:
    """The live tables nft holds, without the ones iptables-nft made (the iptables kind's)."""
    text = runner.run(["nft", "-s", "list", "ruleset"], in_netns=True).decode()
    made_by_iptables = iptables_nft_tables(runner)
    return [table for table in rules.parse(text) if table.key not in made_by_iptables]


def iptables_nft_tables(runner: Runner) -> set[str]:
    """``ip filter``, ``ip6 nat``…: the nft tables iptables-nft manages."""
    keys = set()
    for family, program in _IPTABLES_FAMILIES.items():
        if shutil.which(program) is None:
            continue
        saved = runner.run([program], in_netns=True).decode()
        keys |= {f"{family} {table.name}" for table in iptables_rules.own_tables(saved)}
    return keys


def apply_ruleset(runner: Runner, snapshot: Sequence[rules.Table], patterns: Sequence[str]) -> None:
    """Replace the live host-owned tables with ``snapshot``'s in one nft transaction."""
    script = rules.transaction(snapshot, live_ruleset(runner), patterns)
    runner.run(["nft", "-f", "-"], input_bytes=script.encode(), in_netns=True)


_INCLUDE = re.compile(rb"(^|[;{\s])include\s", re.MULTILINE)


class NftablesCollector(PathsCollector):
    live_state = True
    arms_switch = True

    def __init__(
        self,
        conf: str = "/etc/nftables.conf",
        runtime_tables: Sequence[str] = (),
        service: ServiceSettings | None = None,
    ) -> None:
        super().__init__("nftables", (conf,))
        self.patterns = (*rules.DEFAULT_RUNTIME_TABLES, *runtime_tables)
        self.service = service or ServiceSettings()

    @property
    def confirms_itself(self) -> bool:
        """A connectivity probe ([services.nftables] health_command) confirms the switch."""
        return bool(self.service.health_command)

    def unavailable_reason(self, host: Host) -> str | None:
        if shutil.which("nft") is None:
            return "nft is not installed"
        if not host.owns_network:
            return "a sandbox root without --netns: the firewall is the machine's own"
        return None

    def collect(self, host: Host) -> Artifact:
        files = super().collect(host)
        reason = self.unavailable_reason(host)
        if reason:
            return _with(files, {**files.metadata, "reason": reason}, {})
        try:
            tables = live_ruleset(host.runner)
        except CommandFailed as error:
            raise CollectError(f"nftables: cannot read the ruleset: {error}") from None
        except (rules.RulesetError, iptables_rules.RulesetError) as error:
            raise CollectError(f"nftables: nft printed something unexpected: {error}") from None
        metadata: dict[str, Any] = {**files.metadata, "tables": [t.key for t in tables]}
        if not tables:
            metadata["empty"] = True  # read, and deliberately recorded as empty
        return _with(files, metadata, {RULESET: rules.render(tables).encode()})

    # -- restore --------------------------------------------------------------------------------

    @staticmethod
    def tables(staged: StagedArtifact) -> list[rules.Table]:
        return rules.parse(staged.outputs().get(RULESET, b"").decode())

    def _script(self, host: Host, staged: StagedArtifact) -> str:
        return rules.transaction(self.tables(staged), live_ruleset(host.runner), self.patterns)

    def validate(self, host: Host, staged: StagedArtifact) -> list[str]:
        if RULESET not in staged.outputs():
            return []
        text = rules.render(rules.host_owned(self.tables(staged), self.patterns)).encode()
        if _INCLUDE.search(text):
            # nft would read the named file of this machine (and quote it in its errors);
            # `nft list ruleset` never writes an include, so only a crafted snapshot has one.
            return ["nftables: the snapshot's ruleset has an include statement: refused, unread"]
        # nft -c checks in the host's namespace without changing anything (interface names
        # resolve against the host's own); a real load into a brand-new network namespace (gone
        # when the command ends) catches what only the kernel refuses, except the interfaces
        # the rules name, which that namespace lacks.
        for argv, in_netns in ((["nft", "-c", "-f", "-"], True), (_THROWAWAY_LOAD, False)):
            try:
                host.runner.run(argv, input_bytes=text, in_netns=in_netns)
            except CommandFailed as error:
                errors = _errors(error.stderr.decode(errors="replace"))
                if argv is _THROWAWAY_LOAD and all(_NO_INTERFACE in line for line in errors):
                    continue
                return [f"nftables: {' '.join(' '.join(errors).split()[:60]) or error}"]
        return []

    def apply(self, host: Host, staged: StagedArtifact) -> None:
        super().apply(host, staged)  # the boot's file
        if RULESET in staged.outputs():
            apply_ruleset(host.runner, self.tables(staged), self.patterns)

    def healthcheck(self, host: Host, staged: StagedArtifact) -> list[str]:
        """The host-owned tables now live are exactly the snapshot's, as nft prints them."""
        if RULESET not in staged.outputs():
            return []
        expected = rules.host_owned(self.tables(staged), self.patterns)
        actual = rules.host_owned(live_ruleset(host.runner), self.patterns)
        findings = []
        if rules.render(expected) != rules.render(actual):
            findings.append("nftables: the live tables differ from the snapshot after the restore")
        elif self.confirms_itself:
            try:
                host.runner.run_shell(str(self.service.health_command), in_netns=True)
            except CommandFailed as error:
                findings.append(f"nftables: the connectivity probe failed: {error}")
        return findings

    # -- the dead-man's switch ------------------------------------------------------------------

    def switch_state(self, captured: StagedArtifact) -> dict[str, bytes]:
        if RULESET not in captured.outputs():
            return {}  # nothing was read, so nothing may be put back (never "no tables")
        return {
            RULESET: captured.outputs().get(RULESET, b""),
            _SWITCH_PATTERNS: json.dumps(list(self.patterns)).encode(),
        }

    @classmethod
    def put_back(cls, runner: Runner, state: dict[str, bytes]) -> list[str]:
        if RULESET not in state:
            return []
        try:
            snapshot = rules.parse(state[RULESET].decode())
            apply_ruleset(runner, snapshot, json.loads(state[_SWITCH_PATTERNS]))
        except (CommandFailed, rules.RulesetError) as error:
            return [str(error)]
        return []

    # -- what a snapshot holds ------------------------------------------------------------------

    def semantic_diff(
        self, old: StagedArtifact | None, new: StagedArtifact | None
    ) -> dict[str, Any]:
        """Per host-owned table and object (chain, set, map…) whose statements or their order
        changed: the statements as nft prints them, ``-``/``+``."""
        chains = ordered_changes(self._objects(old), self._objects(new))
        return {"chains": chains} if chains else {}

    def _objects(self, staged: StagedArtifact | None) -> dict[str, list[str]]:
        if staged is None or RULESET not in staged.outputs():
            return {}
        objects = {}
        # runtime-owned tables change by themselves, and a restore leaves them as they are
        for table in rules.host_owned(self.tables(staged), self.patterns):
            objects[f"table {table.key}"] = [f"table {table.key}"]  # an empty table too
            for block in table.blocks():
                if block.header == "table":
                    objects[f"table {table.key}"] += block.statements
                else:
                    objects[f"table {table.key} {block.header}"] = list(block.statements)
        return objects

    def describe(self, staged: StagedArtifact) -> dict[str, Any]:
        metadata = staged.record.metadata
        if RULESET not in staged.outputs():
            return {"ruleset": f"not read: {metadata.get('reason', 'no ruleset recorded')}"}
        tables = self.tables(staged)
        if not tables:
            return {"ruleset": "empty"}
        return {
            table.key: {
                "owner": "runtime" if rules.is_runtime(table, self.patterns) else "host",
                "objects": [block.header for block in table.blocks() if block.header != "table"],
            }
            for table in tables
        }


def _errors(stderr: str) -> list[str]:
    """nft's error lines, each with the offending line it quotes (its caret line dropped)."""
    lines = stderr.splitlines()
    found = [
        f"{line.strip()} ({lines[index + 1].strip()})" if index + 1 < len(lines) else line.strip()
        for index, line in enumerate(lines)
        if "Error:" in line
    ]
    return found or [stderr.strip()]


def _with(files: Artifact, metadata: dict[str, Any], outputs: dict[str, bytes]) -> Artifact:
    entries: tuple[FileEntry, ...] = files.entries
    return Artifact(files.kind, files.roots, entries, files.missing, metadata, outputs)
