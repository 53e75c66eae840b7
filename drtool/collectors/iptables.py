"""The firewall: iptables-save and ip6tables-save output, validated by a real restore into a
throwaway network namespace, applied table by table with the runtime-owned chains kept.

``iptables-nft-restore --test`` accepts a jump to a chain that does not exist, so the check that
can be trusted is a real restore where it harms nothing: a fresh network namespace.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from drtool import iptables_rules as rules
from drtool.collectors.base import Artifact, Collector
from drtool.config import ServiceSettings
from drtool.errors import CollectError
from drtool.hooks import iptables_modprobe_hooks
from drtool.host import Host
from drtool.install import StagedArtifact
from drtool.runner import CommandFailed

if TYPE_CHECKING:
    from drtool.validation import StagedTree

FAMILIES = {"v4": "iptables", "v6": "ip6tables"}
BACKENDS = ("auto", "nft", "legacy")


class IptablesCollector(Collector):
    kind = "iptables"
    live_state = True
    atomic_apply = False

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
    def has_probe(self) -> bool:
        """Whether a connectivity probe is configured ([services.iptables] health_command):
        one that passes confirms the firewall's dead-man's switch without a human."""
        return bool(self.service.health_command)

    @staticmethod
    def _tool(family: str, action: str, backend: str) -> str:
        """``iptables-nft-save``, ``ip6tables-legacy-restore``…; the default one for auto."""
        program = FAMILIES[family]
        return f"{program}-{backend}-{action}" if backend != "auto" else f"{program}-{action}"

    def _backend(self, host: Host) -> tuple[str, str]:
        """The backend to read with, and the version line of the tool."""
        tool = "iptables" if self.backend == "auto" else f"iptables-{self.backend}"
        version = host.runner.run([tool, "--version"]).decode().strip()
        if self.backend != "auto":
            return self.backend, version
        return ("legacy" if "(legacy)" in version else "nft"), version

    def unavailable_reason(self, host: Host) -> str | None:
        if shutil.which("iptables") is None:
            return "iptables is not installed"
        if not host.owns_network:
            return "a sandbox root without --netns: the firewall is the machine's own"
        return None

    def collect(self, host: Host) -> Artifact:
        reason = self.unavailable_reason(host)
        if reason:
            return Artifact(self.kind, (), (), metadata={"reason": reason})
        backend, version = self._backend(host)
        outputs = {}
        for family in FAMILIES:
            tool = self._tool(family, "save", backend)
            try:
                text = host.runner.run([tool], in_netns=True).decode()
                outputs[f"{family}.rules"] = rules.normalise(text).encode()
            except CommandFailed as error:
                raise CollectError(f"iptables: {error}") from None
            except rules.RulesetError as error:
                raise CollectError(
                    f"iptables: {tool} printed something unexpected: {error}"
                ) from None
        return Artifact(
            self.kind, (), (), metadata={"backend": backend, "version": version}, outputs=outputs
        )

    # -- restore --------------------------------------------------------------------------------

    @staticmethod
    def _recorded_backend(staged: StagedArtifact) -> str:
        """The backend the snapshot was read with: restored with the same, never mixed."""
        return str(staged.record.metadata.get("backend", "nft"))

    @staticmethod
    def _snapshot_tables(staged: StagedArtifact, family: str) -> list[rules.Table]:
        return rules.parse(staged.outputs().get(f"{family}.rules", b"").decode())

    def _live_tables(self, host: Host, family: str, backend: str) -> dict[str, rules.Table]:
        saved = host.runner.run([self._tool(family, "save", backend)], in_netns=True)
        return rules.by_name(rules.parse(saved.decode()))

    def _desired(self, host: Host, staged: StagedArtifact) -> dict[str, list[rules.Table]]:
        """Per family, the tables to restore: the snapshot's, merged with the live runtime rules."""
        backend = self._recorded_backend(staged)
        desired = {}
        for family in FAMILIES:
            live = self._live_tables(host, family, backend)
            desired[family] = [
                rules.merge(table, live.get(table.name), self.patterns)
                for table in self._snapshot_tables(staged, family)
            ]
        return desired

    def validate(self, host: Host, staged: StagedArtifact) -> list[str]:
        backend = self._recorded_backend(staged)
        findings = []
        for family, tables in self._desired(host, staged).items():
            if not tables:
                continue
            text = "".join(table.render() for table in tables)
            try:
                # A real restore into a brand-new network namespace, gone when the command ends.
                host.runner.run(
                    ["unshare", "--net", self._tool(family, "restore", backend)],
                    input_bytes=text.encode(),
                )
            except CommandFailed as error:
                message = " ".join(error.stderr.decode(errors="replace").split()[:40]) or str(error)
                findings.append(f"iptables {family}: {message}")
        return findings

    def hooks(self, staged: StagedArtifact, tree: StagedTree) -> list[str]:
        """``--modprobe``: a program iptables-restore would run as root (drtool.hooks)."""
        return [
            hook
            for name, text in sorted(staged.outputs().items())
            for hook in iptables_modprobe_hooks(text.decode(errors="replace"), name)
        ]

    def apply(self, host: Host, staged: StagedArtifact) -> None:
        backend = self._recorded_backend(staged)
        for family, tables in self._desired(host, staged).items():
            for table in tables:
                # iptables-restore is atomic per table only: one table, one transaction.
                host.runner.run(
                    [self._tool(family, "restore", backend), "-w", "10"],
                    input_bytes=table.render().encode(),
                    in_netns=True,
                )

    def healthcheck(self, host: Host, staged: StagedArtifact) -> list[str]:
        """The host-owned rules now live are exactly the snapshot's."""
        backend = self._recorded_backend(staged)
        findings = []
        for family in FAMILIES:
            live = self._live_tables(host, family, backend)
            for table in self._snapshot_tables(staged, family):
                expected = rules.host_owned(table, self.patterns)
                actual = rules.host_owned(
                    live.get(table.name, rules.Table(table.name)), self.patterns
                )
                if (expected.chains, expected.rules) != (actual.chains, actual.rules):
                    findings.append(
                        f"iptables {family} table {table.name}: the live rules differ from the "
                        "snapshot after the restore"
                    )
        if self.has_probe and not findings:
            try:
                host.runner.run_shell(str(self.service.health_command), in_netns=True)
            except CommandFailed as error:
                findings.append(f"iptables: the connectivity probe failed: {error}")
        return findings

    def semantic_diff(
        self, old: StagedArtifact | None, new: StagedArtifact | None
    ) -> dict[str, Any]:
        """Rules added and removed, and policies changed, per family, table and chain."""
        changes: dict[str, Any] = {}
        for family in FAMILIES:
            before = rules.by_name(self._snapshot_tables(old, family) if old else [])
            after = rules.by_name(self._snapshot_tables(new, family) if new else [])
            for name in sorted(set(before) | set(after)):
                was, now = before.get(name, rules.Table(name)), after.get(name, rules.Table(name))
                for chain in sorted(set(was.chains) | set(now.chains)):
                    old_rules = [rule for c, rule in was.rules if c == chain]
                    new_rules = [rule for c, rule in now.rules if c == chain]
                    change = {
                        "added": [rule for rule in new_rules if rule not in old_rules],
                        "removed": [rule for rule in old_rules if rule not in new_rules],
                    }
                    if was.chains.get(chain) != now.chains.get(chain):
                        change["policy"] = f"{was.chains.get(chain)} -> {now.chains.get(chain)}"
                    if any(change.values()):
                        changes[f"{family} {name} {chain}"] = change
        return changes

    def describe(self, staged: StagedArtifact) -> dict[str, Any]:
        summary: dict[str, Any] = {"backend": staged.record.metadata.get("backend")}
        for family in FAMILIES:
            summary[family] = {
                table.name: {
                    "policies": {c: p for c, p in table.chains.items() if p != "-"},
                    "chains": len(table.chains),
                    "rules": len(table.rules),
                }
                for table in self._snapshot_tables(staged, family)
            }
        return summary
