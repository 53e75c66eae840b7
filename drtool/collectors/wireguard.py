"""WireGuard: the /etc/wireguard tree (private keys keep their 0600 mode), every interface
config parsed for real, applied atomically, and the live interfaces brought in line.

Validation strips each ``<ifname>.conf`` with ``wg-quick strip`` and loads it with ``wg setconf``
on a throwaway interface in a scratch network namespace (the kernel's, or userspace
wireguard-go where the kernel has no module). ``wg syncconf`` ignores Address, MTU and routes,
so when those change the interface goes down and up instead.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

from drtool.collectors.base import Artifact, PathsCollector
from drtool.config import ServiceSettings
from drtool.hooks import wireguard_hooks
from drtool.host import Host
from drtool.install import StagedArtifact, materialized
from drtool.runner import CommandFailed, tool_error_line
from drtool.sandbox import sandboxed
from drtool.validation import StagedTree, staged_tree

# Userspace WireGuard where the kernel has no module (the scratch and live interfaces alike).
USERSPACE = (
    "env",
    "WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go",
    "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1",
)
# The throwaway interface: created in the sandbox's own namespace (a TUN for wireguard-go).
_CAPABILITIES = ("CAP_NET_ADMIN",)
_INTERFACE_NAME = re.compile(r"[A-Za-z0-9_=+.-]{1,15}")
_SCRATCH_TEST = """
set -e
trap 'ip link del "$1" 2>/dev/null' EXIT  # a userspace wireguard-go exits with its device
if ! ip link add "$1" type wireguard 2>/dev/null; then
  WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go "$1" >/dev/null 2>&1
fi
wg setconf "$1" "$2"
"""


def _kernel_has_wireguard() -> bool:
    return Path("/sys/module/wireguard").exists()


class WireguardCollector(PathsCollector):
    secret_files = True

    def __init__(
        self, path: str = "/etc/wireguard", service: ServiceSettings | None = None
    ) -> None:
        super().__init__("wireguard", (path,))
        self.service = service or ServiceSettings()

    @staticmethod
    def _configs(directory: Path) -> list[Path]:
        return sorted(
            path
            for path in directory.glob("*.conf")
            if _INTERFACE_NAME.fullmatch(path.stem) and path.is_file()
        )

    def _wg_quick(self) -> tuple[str, ...]:
        return ("wg-quick",) if _kernel_has_wireguard() else (*USERSPACE, "wg-quick")

    def collect(self, host: Host) -> Artifact:
        """The tree, and which interfaces are up: a restore brings those back up."""
        artifact = super().collect(host)
        up: list[str] = []
        if host.owns_network and not artifact.missing and shutil.which("wg"):
            try:
                listed = host.runner.run(["wg", "show", "interfaces"], in_netns=True).decode()
                up = [interface for interface in listed.split() if self._is_up(host, interface)]
            except CommandFailed:
                up = []
        return Artifact(
            artifact.kind,
            artifact.roots,
            artifact.entries,
            artifact.missing,
            {**artifact.metadata, "up": sorted(up)},
        )

    def validate(self, host: Host, staged: StagedArtifact) -> list[str]:
        with staged_tree([staged]) as tree:
            return self.validate_in(host, staged, tree)

    def validate_in(self, host: Host, staged: StagedArtifact, tree: StagedTree) -> list[str]:
        """Each config stripped by wg-quick and loaded on a throwaway interface, both in a
        sandbox (drtool.sandbox) with a fresh network namespace of its own."""
        if self.tool_missing("wg-quick"):
            return []
        (root,) = staged.installed_roots()
        findings = []
        view = tree.view.with_tool(capabilities=_CAPABILITIES, devices=("/dev/net/tun",))
        for config in self._configs(tree.path(f"/{root}")):
            live_path = f"/{root}/{config.name}"
            try:
                stripped = host.runner.run(
                    sandboxed(["wg-quick", "strip", live_path], view), label="wg-quick strip"
                )
                scratch = f"drtoolwg{secrets.token_hex(3)}"
                host.runner.run(
                    sandboxed(["sh", "-c", _SCRATCH_TEST, "sh", scratch, "/dev/stdin"], view),
                    input_bytes=stripped,
                    label=f"wg setconf ({config.name})",
                )
            except CommandFailed as error:
                findings.append(f"wireguard {config.name}: {tool_error_line(error, ())}")
            findings += _address_problems(config)
        return findings

    def hooks(self, staged: StagedArtifact, tree: StagedTree) -> list[str]:
        (root,) = staged.installed_roots()
        return [
            hook
            for config in self._configs(tree.path(f"/{root}"))
            for hook in wireguard_hooks(
                config.read_bytes().decode(errors="replace"), f"/{root}/{config.name}"
            )
        ]

    def restart(self, host: Host, staged: StagedArtifact) -> None:
        """Bring every interface that is up in line with its restored config, and up those
        that were up when ``staged`` was taken (a rebuilt host gets its VPN back)."""
        if self.tool_missing("wg-quick"):
            return
        if self.service.restart:
            host.runner.run_shell(self.service.restart, in_netns=True)
            return
        (root,) = self.roots
        were_up = set(staged.record.metadata.get("up", []))
        for config in self._configs(host.path(root)):
            interface = config.stem
            if not self._is_up(host, interface):
                if interface in were_up:
                    host.runner.run([*self._wg_quick(), "up", str(config)], in_netns=True)
                continue
            if self._addressing_changed(host, interface, config):
                host.runner.run([*self._wg_quick(), "down", str(config)], in_netns=True)
                host.runner.run([*self._wg_quick(), "up", str(config)], in_netns=True)
            else:
                stripped = host.runner.run(["wg-quick", "strip", str(config)])
                host.runner.run(
                    ["wg", "syncconf", interface, "/dev/stdin"], input_bytes=stripped, in_netns=True
                )

    def healthcheck(self, host: Host, staged: StagedArtifact) -> list[str]:
        """Each interface that is up runs exactly its config's keys, port and peers."""
        if self.tool_missing("wg-quick"):
            return []
        (root,) = self.roots
        problems = []
        for config in self._configs(host.path(root)):
            interface = config.stem
            if not self._is_up(host, interface):
                continue
            wanted = _peers_and_keys(host.runner.run(["wg-quick", "strip", str(config)]).decode())
            live = _peers_and_keys(
                host.runner.run(["wg", "showconf", interface], in_netns=True).decode()
            )
            if wanted != live:
                problems.append(f"wireguard {interface}: the live interface differs from {config}")
        return problems

    def describe(self, staged: StagedArtifact) -> dict[str, Any]:
        (root,) = staged.installed_roots()
        with materialized(staged) as private:
            interfaces = {}
            for config in self._configs(private / root):
                sections = _sections(config.read_text())
                interface = next((values for name, values in sections if name == "Interface"), {})
                interfaces[config.stem] = {
                    "address": interface.get("Address"),
                    "listen_port": interface.get("ListenPort"),
                    "private_key": "<redacted>" if "PrivateKey" in interface else None,
                    "peers": sorted(
                        values.get("PublicKey", "?") for name, values in sections if name == "Peer"
                    ),
                }
            return {"interfaces": interfaces}

    def semantic_diff(
        self, old: StagedArtifact | None, new: StagedArtifact | None
    ) -> dict[str, Any]:
        """Per interface: peers added, removed or changed, keyed by public key; a changed
        private key is said, never shown."""
        before, after = self._interfaces(old), self._interfaces(new)
        changes: dict[str, Any] = {}
        for interface in sorted(set(before) | set(after)):
            was_key, was_port, was_peers = before.get(interface, ("", "", {}))
            now_key, now_port, now_peers = after.get(interface, ("", "", {}))
            change: dict[str, Any] = {
                "peers added": sorted(set(now_peers) - set(was_peers)),
                "peers removed": sorted(set(was_peers) - set(now_peers)),
                "peers changed": {
                    peer: f"{sorted(was_peers[peer])} -> {sorted(now_peers[peer])}"
                    for peer in sorted(set(was_peers) & set(now_peers))
                    if was_peers[peer] != now_peers[peer]
                },
            }
            if was_key != now_key:
                change["private key"] = "changed (redacted)"
            if was_port != now_port:
                change["listen port"] = f"{was_port or None} -> {now_port or None}"
            change = {key: value for key, value in change.items() if value}
            if change:
                changes[f"interface {interface}"] = change
        return changes

    def _interfaces(
        self, staged: StagedArtifact | None
    ) -> dict[str, tuple[str, str, dict[str, frozenset[str]]]]:
        if staged is None or not staged.installed_roots():
            return {}
        (root,) = staged.installed_roots()
        with materialized(staged) as private:
            return {
                config.stem: _peers_and_keys(config.read_text())
                for config in self._configs(private / root)
            }

    def _is_up(self, host: Host, interface: str) -> bool:
        """Up in this namespace: wireguard-go's control sockets (/var/run/wireguard) are shared
        by every namespace, so `wg show` alone also answers for another namespace's interface."""
        try:
            host.runner.run(["ip", "link", "show", "dev", interface], in_netns=True)
            host.runner.run(["wg", "show", interface], in_netns=True)
        except CommandFailed:
            return False
        return True

    def _addressing_changed(self, host: Host, interface: str, config: Path) -> bool:
        """Whether Address or MTU differ from the live interface (syncconf cannot change them)."""
        sections = _sections(config.read_text())
        settings = next((values for name, values in sections if name == "Interface"), {})
        wanted = {
            str(ipaddress.ip_interface(item.strip()))
            for item in settings.get("Address", "").split(",")
            if item.strip()
        }
        shown = host.runner.run(
            ["ip", "-o", "addr", "show", "dev", interface], in_netns=True
        ).decode()
        live = {
            str(ipaddress.ip_interface(fields[3]))
            for fields in (line.split() for line in shown.splitlines())
            if len(fields) > 3 and fields[2] in ("inet", "inet6")
        }
        # The kernel gives a userspace (TUN) interface an IPv6 link-local address of its own:
        # not a change of addressing, and no reason to take the tunnel down.
        live = {
            address
            for address in live
            if address in wanted or not ipaddress.ip_interface(address).is_link_local
        }
        if wanted != live:
            return True
        if "MTU" in settings:
            link = host.runner.run(
                ["ip", "-o", "link", "show", "dev", interface], in_netns=True
            ).decode()
            return f" mtu {settings['MTU'].strip()} " not in link
        return False


def _address_problems(config: Path) -> list[str]:
    """wg-quick's own fields that ``wg setconf`` never sees: Address and MTU must parse."""
    settings = next(
        (values for name, values in _sections(config.read_text()) if name == "Interface"), {}
    )
    problems = []
    for item in settings.get("Address", "").split(","):
        try:
            if item.strip():
                ipaddress.ip_interface(item.strip())
        except ValueError:
            problems.append(f"wireguard {config.name}: invalid Address {item.strip()!r}")
    if "MTU" in settings and not settings["MTU"].strip().isdigit():
        problems.append(f"wireguard {config.name}: invalid MTU {settings['MTU'].strip()!r}")
    return problems


def _sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """A WireGuard config as (section, {key: value}) pairs; repeated keys are joined by ','."""
    sections: list[tuple[str, dict[str, str]]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1], {}))
        elif "=" in line and sections:
            key, value = (part.strip() for part in line.split("=", 1))
            values = sections[-1][1]
            values[key] = f"{values[key]}, {value}" if key in values else value
    return sections


def _peers_and_keys(text: str) -> tuple[str, str, dict[str, frozenset[str]]]:
    """What wg runs: private key, listen port, and each peer's allowed IPs keyed by public key."""
    sections = _sections(text)
    interface = next((values for name, values in sections if name == "Interface"), {})
    peers = {
        values.get("PublicKey", ""): frozenset(
            str(ipaddress.ip_network(item.strip(), strict=False))
            for item in values.get("AllowedIPs", "").split(",")
            if item.strip()
        )
        for name, values in sections
        if name == "Peer"
    }
    return interface.get("PrivateKey", ""), interface.get("ListenPort", ""), peers
