"""The firewall as iptables holds it: iptables-save and ip6tables-save output of every backend
that holds tables (nft, and legacy beside it), validated by a real restore into a throwaway
network namespace, applied table by table with the runtime-owned chains kept.

``iptables-nft-restore --test`` accepts a jump to a chain that does not exist, so the check that
can be trusted is a real restore where it harms nothing: a fresh network namespace. A host whose
default ``iptables`` is nft may still hold tables loaded with iptables-legacy (``iptables-save``
then prints a warning, and nothing of them): they are read and restored with their own backend.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drtool import iptables_rules as rules
from drtool.background import Background
from drtool.collectors.base import Artifact, Collector
from drtool.config import ServiceSettings
from drtool.errors import CollectError, FirewallBackendRefused
from drtool.hooks import iptables_modprobe_hooks
from drtool.host import Host
from drtool.install import StagedArtifact
from drtool.ruleset_diff import ordered_changes
from drtool.runner import CommandFailed, Runner

if TYPE_CHECKING:
    from drtool.validation import StagedTree

FAMILIES = {"v4": "iptables", "v6": "ip6tables"}
# The allow-list: a backend read from a snapshot (hostile input) becomes part of a command
# name only if it is one of these.
BACKENDS = ("nft", "legacy")
LEGACY_TABLE_LISTS = ("/proc/net/ip_tables_names", "/proc/net/ip6_tables_names")
_SWITCH_BACKENDS = "backends.json"


@dataclass(frozen=True)
class Ruleset:
    """One backend's rules of one family, and the output of the artifact that holds them."""

    backend: str
    family: str
    primary: bool = True

    @property
    def name(self) -> str:
        """``v4`` for the first backend (as snapshots always named it), ``legacy-v4`` beside."""
        return self.family if self.primary else f"{self.backend}-{self.family}"

    @property
    def output(self) -> str:
        return f"{self.name}.rules"


def tool(backend: str, family: str, action: str) -> str:
    """``iptables-nft-save``, ``ip6tables-legacy-restore``…, for an allowed backend only."""
    if backend not in BACKENDS:
        raise FirewallBackendRefused(
            f'iptables: unknown backend "{backend[:40]}" (known: {", ".join(BACKENDS)})'
        )
    return f"{FAMILIES[family]}-{backend}-{action}"


def rulesets_of(backends: Sequence[str]) -> list[Ruleset]:
    return [
        Ruleset(backend, family, primary=index == 0)
        for index, backend in enumerate(backends)
        for family in FAMILIES
    ]


def recorded_rulesets(metadata: dict[str, Any]) -> list[Ruleset]:
    """The rulesets a snapshot records, each backend checked against the allow-list."""
    backends = metadata.get("backends") or [metadata.get("backend", "nft")]
    if not isinstance(backends, list) or not all(isinstance(b, str) for b in backends):
        raise FirewallBackendRefused("iptables: the snapshot's backends are not a list of names")
    for backend in backends:
        tool(backend, "v4", "restore")
    return rulesets_of(backends)


def restore_table(runner: Runner, ruleset: Ruleset, table: rules.Table) -> None:
    """One table, one transaction: iptables-restore is atomic per table only."""
    runner.run(
        [tool(ruleset.backend, ruleset.family, "restore"), "-w", "10"],
        input_bytes=table.render().encode(),
        in_netns=True,
    )


class IptablesCollector(Collector):
    kind = "iptables"
    live_state = True
    atomic_apply = False
    arms_switch = True

    def __init__(
        self,
        backend: str = "auto",
        runtime_chains: Sequence[str] = (),
        service: ServiceSettings | None = None,
    ) -> None:
        self.backend = backend
        self.patterns = (*rules.DEFAULT_RUNTIME_CHAINS, *runtime_chains)
        self.service = service or ServiceSettings()

    @property
    def confirms_itself(self) -> bool:
        """Whether a connectivity probe is configured ([services.iptables] health_command):
        one that passes confirms the firewall's dead-man's switch without a human."""
        return bool(self.service.health_command)

    def _backend(self, host: Host) -> tuple[str, str]:
        """The backend to read with, and the version line of the tool."""
        program = "iptables" if self.backend == "auto" else f"iptables-{self.backend}"
        try:
            version = host.runner.run([program, "--version"]).decode().strip()
        except CommandFailed as error:
            raise CollectError(f"iptables: cannot tell its backend: {error}") from None
        if self.backend != "auto":
            return self.backend, version
        return ("legacy" if "(legacy)" in version else "nft"), version

    def unavailable_reason(self, host: Host) -> str | None:
        if shutil.which("iptables") is None:
            return "iptables is not installed"
        if not host.owns_network:
            return "a sandbox root without --netns: the firewall is the machine's own"
        return None

    @staticmethod
    def _save(host: Host, backend: str, family: str) -> bytes:
        """The rules iptables owns, normalised (``iptables_rules.own_normalised``) as the save
        prints them: its output is never held whole."""
        program = tool(backend, family, "save")
        try:
            return host.runner.run_streamed([program], rules.own_normalised, in_netns=True)
        except CommandFailed as error:
            raise CollectError(
                f"iptables: cannot read the {backend} {family} rules: {error}"
            ) from None
        except (rules.RulesetError, UnicodeDecodeError) as error:
            raise CollectError(
                f"iptables: {program} printed something unexpected: {error}"
            ) from None

    @classmethod
    def _save_families(cls, host: Host, backend: str) -> dict[str, bytes]:
        """Each family's rules, the saves run at once: each is a process of its own (at 50,000
        rules, half a second of its CPU), so the two take two cores."""
        first, *others = FAMILIES
        running = {
            family: Background(functools.partial(cls._save, host, backend, family), family)
            for family in others
        }
        try:
            saved = {first: cls._save(host, backend, first)}
        finally:
            for thread in running.values():
                thread.join()  # even when the first failed: nothing left running
        return saved | {family: thread.result() for family, thread in running.items()}

    @staticmethod
    def _holds_tables(host: Host, backend: str) -> bool:
        """Whether ``backend`` (the one not read first) may hold tables here.

        Legacy tables are listed in /proc/net/ip{,6}_tables_names (what iptables-nft-save
        reads to print its "legacy tables present" warning; the file exists only once the
        legacy modules are loaded, and reading it loads nothing). nft's are read if its tools
        are installed: asking loads no module.
        """
        if backend == "nft":
            return shutil.which(tool(backend, "v4", "save")) is not None
        # One command for both lists (each costs a process in the namespace and the host's
        # view): grep exits 0 if either holds a name, even when the other is missing (-s).
        try:
            host.runner.run(["grep", "-qs", "[^[:space:]]", *LEGACY_TABLE_LISTS], in_netns=True)
        except CommandFailed:
            return False  # no legacy module loaded, or no table: no legacy table
        return True

    def collect(self, host: Host) -> Artifact:
        reason = self.unavailable_reason(host)
        if reason:
            return Artifact(self.kind, (), (), metadata={"reason": reason})
        primary, version = self._backend(host)
        saved = self._save_families(host, primary)
        backends = [primary]
        other = "legacy" if primary == "nft" else "nft"
        if self._holds_tables(host, other):
            others = self._save_families(host, other)
            if any(others.values()):
                backends.append(other)
                saved.update({f"{other}-{family}": rules for family, rules in others.items()})
        outputs = {ruleset.output: saved[ruleset.name] for ruleset in rulesets_of(backends)}
        metadata: dict[str, Any] = {"backend": primary, "backends": backends, "version": version}
        if not any(outputs.values()):
            metadata["empty"] = True  # read, and deliberately recorded as empty
        return Artifact(self.kind, (), (), metadata=metadata, outputs=outputs)

    # -- restore --------------------------------------------------------------------------------

    @staticmethod
    def tables(staged: StagedArtifact, ruleset: Ruleset) -> list[rules.Table]:
        return rules.parse(staged.outputs().get(ruleset.output, b"").decode())

    def _live_tables(self, host: Host, ruleset: Ruleset) -> dict[str, rules.Table]:
        saved = host.runner.run([tool(ruleset.backend, ruleset.family, "save")], in_netns=True)
        return rules.by_name(rules.own_tables(saved.decode()))

    def _desired(
        self, host: Host, staged: StagedArtifact
    ) -> list[tuple[Ruleset, list[rules.Table]]]:
        """Per ruleset, the snapshot's tables merged with the live runtime rules."""
        desired = []
        for ruleset in recorded_rulesets(staged.record.metadata):
            live = self._live_tables(host, ruleset)
            merged = [
                rules.merge(table, live.get(table.name), self.patterns)
                for table in self.tables(staged, ruleset)
            ]
            desired.append((ruleset, merged))
        return desired

    def validate(self, host: Host, staged: StagedArtifact) -> list[str]:
        for ruleset in recorded_rulesets(staged.record.metadata):
            if shutil.which(tool(ruleset.backend, ruleset.family, "restore")) is None:
                raise FirewallBackendRefused(
                    f"iptables: the snapshot holds {ruleset.backend} rules and this host has no "
                    f"{tool(ruleset.backend, ruleset.family, 'restore')}"
                )
        findings = []
        for ruleset, tables in self._desired(host, staged):
            if not tables:
                continue
            text = "".join(table.render() for table in tables)
            try:
                # A real restore into a brand-new network namespace, gone when the command ends.
                host.runner.run(
                    ["unshare", "--net", tool(ruleset.backend, ruleset.family, "restore")],
                    input_bytes=text.encode(),
                )
            except CommandFailed as error:
                message = " ".join(error.stderr.decode(errors="replace").split()[:40]) or str(error)
                findings.append(f"iptables {ruleset.name}: {message}")
        return findings

    def hooks(self, staged: StagedArtifact, tree: StagedTree) -> list[str]:
        """``--modprobe``: a program iptables-restore would run as root (drtool.hooks)."""
        return [
            hook
            for name, text in sorted(staged.outputs().items())
            for hook in iptables_modprobe_hooks(text.decode(errors="replace"), name)
        ]

    def apply(self, host: Host, staged: StagedArtifact) -> None:
        for ruleset, tables in self._desired(host, staged):
            for table in tables:
                restore_table(host.runner, ruleset, table)

    def healthcheck(self, host: Host, staged: StagedArtifact) -> list[str]:
        """The host-owned rules now live are exactly the snapshot's."""
        findings = []
        for ruleset in recorded_rulesets(staged.record.metadata):
            live = self._live_tables(host, ruleset)
            for table in self.tables(staged, ruleset):
                expected = rules.host_owned(table, self.patterns)
                actual = rules.host_owned(
                    live.get(table.name, rules.Table(table.name)), self.patterns
                )
                if (expected.chains, expected.rules) != (actual.chains, actual.rules):
                    findings.append(
                        f"iptables {ruleset.name} table {table.name}: the live rules differ from "
                        "the snapshot after the restore"
                    )
        if self.confirms_itself and not findings:
            try:
                host.runner.run_shell(str(self.service.health_command), in_netns=True)
            except CommandFailed as error:
                findings.append(f"iptables: the connectivity probe failed: {error}")
        return findings

    # -- the dead-man's switch ------------------------------------------------------------------

    def switch_state(self, captured: StagedArtifact) -> dict[str, bytes]:
        rulesets = recorded_rulesets(captured.record.metadata)
        outputs = captured.outputs()
        state = {r.output: outputs.get(r.output, b"") for r in rulesets}
        backends = [ruleset.backend for ruleset in rulesets if ruleset.family == "v4"]
        state[_SWITCH_BACKENDS] = json.dumps(backends).encode()
        return state

    @classmethod
    def put_back(cls, runner: Runner, state: dict[str, bytes]) -> list[str]:
        problems = []
        for ruleset in rulesets_of(json.loads(state[_SWITCH_BACKENDS])):
            for table in rules.parse(state.get(ruleset.output, b"").decode()):
                try:
                    restore_table(runner, ruleset, table)
                except CommandFailed as error:
                    problems.append(str(error))
        return problems

    # -- what a snapshot holds ------------------------------------------------------------------

    def semantic_diff(
        self, old: StagedArtifact | None, new: StagedArtifact | None
    ) -> dict[str, Any]:
        """Per ruleset, table and chain whose policy, rules or their order changed: the chain
        as iptables-save lines, ``-``/``+``; a backend that changed."""
        before, after = self._chains(old), self._chains(new)
        changes: dict[str, Any] = {}
        chains = ordered_changes(before[1], after[1])
        if chains:
            changes["chains"] = chains
        if old and new and before[0] != after[0]:
            changes["backends"] = f"{', '.join(before[0])} -> {', '.join(after[0])}"
        return changes

    def _chains(self, staged: StagedArtifact | None) -> tuple[list[str], dict[str, list[str]]]:
        """The backends, and every host-owned chain as the lines iptables-save prints for it
        (runtime-owned ones, docker's and fail2ban's bans, change by themselves and a restore
        leaves them as they are: no drift to report)."""
        if staged is None or "reason" in staged.record.metadata:
            return [], {}
        rulesets = recorded_rulesets(staged.record.metadata)
        chains = {}
        for ruleset in rulesets:
            for snapshot_table in self.tables(staged, ruleset):
                table = rules.host_owned(snapshot_table, self.patterns)
                for chain, policy in table.chains.items():
                    chains[f"{ruleset.name} {table.name} {chain}"] = [
                        f":{chain} {policy}",
                        *(f"-A {chain} {rule}".rstrip() for c, rule in table.rules if c == chain),
                    ]
        return [ruleset.backend for ruleset in rulesets if ruleset.family == "v4"], chains

    def describe(self, staged: StagedArtifact) -> dict[str, Any]:
        metadata = staged.record.metadata
        summary: dict[str, Any] = {"backend": metadata.get("backend")}
        if metadata.get("empty"):
            summary["ruleset"] = "empty"
        for ruleset in recorded_rulesets(metadata):
            summary[ruleset.name] = {
                table.name: {
                    "policies": {c: p for c, p in table.chains.items() if p != "-"},
                    "chains": len(table.chains),
                    "rules": len(table.rules),
                }
                for table in self.tables(staged, ruleset)
            }
        return summary
