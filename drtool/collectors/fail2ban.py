"""fail2ban: the /etc/fail2ban tree, checked with ``fail2ban-client -c <staged> -t``, reloaded,
and asked whether it answers (``ping``).

The trap of a fresh host: ``-t`` fails when an enabled jail's ``logpath`` does not exist yet
(nginx has not written its error log, say), and stops at that first jail, checking nothing else.
drtool checks a throwaway copy with an override that points those jails at an empty file, so
everything else is still checked; it reports the missing logs, and before reloading fail2ban
creates them empty (0640), as an operator would with ``touch``, so that the jails can start.
"""

from __future__ import annotations

import configparser
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from drtool.collectors.base import PathsCollector
from drtool.collectors.fail2ban_actions import (
    DATA_PARAMETERS,
    INTERPOLATION,
    SPECIAL_SECTIONS,
    action_references,
    actions,
    is_shell,
)
from drtool.config import ServiceSettings
from drtool.hooks import fail2ban_action_hooks, ignorecommand_hooks
from drtool.host import Host
from drtool.install import StagedArtifact, materialized
from drtool.runner import CommandFailed, tool_error_line
from drtool.sandbox import sandboxed
from drtool.services import restart_command, start_command, stop_command
from drtool.validation import StagedTree, staged_tree

log = logging.getLogger(__name__)

# What a reload says when there is no server to reload (fail2ban-client, systemctl).
_NOT_RUNNING = ("Is fail2ban running?", "is not active")
# This host's own actions, as its fail2ban package installed them.
SHIPPED_ACTIONS = Path("/etc/fail2ban/action.d")
_TRUE = {"true", "yes", "1", "on", "enabled"}


class Fail2banCollector(PathsCollector):
    def __init__(self, path: str = "/etc/fail2ban", service: ServiceSettings | None = None) -> None:
        super().__init__("fail2ban", (path,))
        self.service = service or ServiceSettings()

    def validate(self, host: Host, staged: StagedArtifact) -> list[str]:
        with staged_tree([staged]) as tree:
            return self.validate_in(host, staged, tree)

    def validate_in(self, host: Host, staged: StagedArtifact, tree: StagedTree) -> list[str]:
        """``fail2ban-client -t`` in a sandbox (drtool.sandbox). No log file of this machine
        is in its view: every jail that reads files reads an empty one there."""
        if self.tool_missing("fail2ban-client"):
            return []
        (root,) = staged.installed_roots()
        config = tree.path(f"/{root}")
        try:
            missing = missing_logs(config)
        except configparser.Error as error:
            return [f"fail2ban: {_parse_error(error)}"]
        if missing:
            log.warning(
                "fail2ban: log files missing on this host (created before reload): %s",
                ", ".join(sorted({p for paths in missing.values() for p in paths})),
            )
        _point_jails_at_an_empty_file(config, f"/{root}")
        view = tree.view.with_tool(capabilities=("CAP_DAC_READ_SEARCH",))
        try:
            host.runner.run(
                sandboxed(["fail2ban-client", "-c", f"/{root}", "-t"], view),
                label="fail2ban-client -t",
            )
        except CommandFailed as error:
            said = tool_error_line(error, ("ERROR",))
            return [f"fail2ban-client -t: {said.split('ERROR', 1)[-1].strip()}"]
        return []

    def hooks(self, staged: StagedArtifact, tree: StagedTree) -> list[str]:
        (root,) = staged.installed_roots()
        config = tree.path(f"/{root}")
        return [
            *fail2ban_action_hooks(config / "action.d", SHIPPED_ACTIONS, f"/{root}/action.d"),
            *ignorecommand_hooks(config, SHIPPED_ACTIONS.parent / "jail.conf", f"/{root}"),
            *jail_hooks(config, SHIPPED_ACTIONS.parent, f"/{root}"),
        ]

    def restart(self, host: Host, staged: StagedArtifact) -> None:
        if self.tool_missing("fail2ban-client"):
            return
        (root,) = self.roots
        real_root = host.root.resolve()
        for paths in missing_logs(host.path(root)).values():
            for path in paths:
                target = Path(path)
                if real_root not in (target, *target.parents):
                    log.warning("fail2ban: log file %s is missing (outside the host root)", path)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch(mode=0o640, exist_ok=True)
                log.warning("fail2ban: created the missing log file %s", path)
        command = restart_command(
            host, self.service, "systemctl reload fail2ban", "fail2ban-client reload"
        )
        try:
            host.runner.run_shell(command, in_netns=True)
        except CommandFailed as error:
            said = f"{error} {error.stderr.decode(errors='replace')}"
            if not any(sign in said for sign in _NOT_RUNNING):
                raise
            # Not running: nothing to reload. Started instead (reload-or-start).
            host.runner.run_shell(
                start_command(host, self.service, "fail2ban", "fail2ban-client start"),
                in_netns=True,
            )

    def running(self, host: Host) -> bool | None:
        if shutil.which("fail2ban-client") is None:
            return None
        return not self._ping(host)

    def stop(self, host: Host) -> None:
        if self.tool_missing("fail2ban-client") or not self.running(host):
            return
        host.runner.run_shell(
            stop_command(host, self.service, "fail2ban", "fail2ban-client stop"), in_netns=True
        )

    def healthcheck(self, host: Host, staged: StagedArtifact) -> list[str]:
        return [] if self.tool_missing("fail2ban-client") else self._ping(host)

    def _ping(self, host: Host) -> list[str]:
        command = self.service.health_command or "fail2ban-client ping"
        try:
            answer = host.runner.run_shell(command, in_netns=True).decode()
        except CommandFailed as error:
            return [f"fail2ban: {error}"]
        return [] if "pong" in answer else [f"fail2ban did not answer ping: {answer.strip()[:200]}"]

    def describe(self, staged: StagedArtifact) -> dict[str, Any]:
        (root,) = staged.installed_roots()
        with materialized(staged) as private:
            return {"enabled_jails": sorted(_enabled_jails(private / root))}


def _parse_error(error: configparser.Error) -> str:
    """Where a file fails to parse, without its content (it may be anything)."""
    source = getattr(error, "source", None) or "a configuration file"
    line = getattr(error, "lineno", None)
    return f"{source}{f' line {line}' if line else ''} is not valid (fail2ban's INI syntax)"


def _new_parser() -> configparser.RawConfigParser:
    """A parser reading keys as fail2ban's own does: in any case (``Action`` is ``action``)."""
    return configparser.RawConfigParser(strict=False, interpolation=None)


def _with_includes(config: Path, path: Path, seen: set[Path]) -> list[Path]:
    """``path`` with the files its [INCLUDES] section puts before and after it, recursively."""
    if path in seen or not _readable(config, path):
        return []
    seen.add(path)
    parser = _new_parser()
    parser.read(path)
    layered: list[Path] = []
    for name in parser.get("INCLUDES", "before", fallback="").split():
        layered += _with_includes(config, config / name, seen)
    layered.append(path)
    for name in parser.get("INCLUDES", "after", fallback="").split():
        layered += _with_includes(config, config / name, seen)
    return layered


def _readable(config: Path, path: Path) -> bool:
    """Whether ``path`` is a file inside the configuration's own directory: a link out of it
    (to /etc/shadow, say) is never read, so never quoted in an error."""
    real = path.resolve()
    return real.is_file() and config.resolve() in real.parents


def _read_jails(config: Path) -> configparser.RawConfigParser:
    """The jail configuration layered as fail2ban does: jail.conf (and its includes), jail.d
    *.conf, jail.local, jail.d *.local."""
    seen: set[Path] = set()
    files: list[Path] = []
    for path in [
        config / "jail.conf",
        *sorted(config.glob("jail.d/*.conf")),
        config / "jail.local",
        *sorted(config.glob("jail.d/*.local")),
    ]:
        files += _with_includes(config, path, seen)
    parser = _new_parser()
    parser.read([str(path) for path in files])
    return parser


def _enabled_jails(config: Path) -> list[str]:
    parser = _read_jails(config)
    return [
        section
        for section in parser.sections()
        if section not in ("INCLUDES", "DEFAULT", "Definition", "Init")
        and parser.get(section, "enabled", fallback="false").strip().lower() in _TRUE
    ]


def _resolve(parser: configparser.RawConfigParser, section: str, value: str) -> str:
    """``value`` with its ``%(name)s`` references resolved as fail2ban resolves them in
    ``section`` (``__name__`` is the section, ``default/name`` the [DEFAULT] value)."""
    for _ in range(20):  # deeper than fail2ban's configparser (10): it refuses the rest

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name == "__name__":
                return section
            if name.startswith("default/"):
                return parser.defaults().get(name.removeprefix("default/"), match.group(0))
            return parser.get(section, name, fallback=match.group(0))

        resolved = INTERPOLATION.sub(lookup, value)
        if resolved == value:
            break
        value = resolved
    return value


def jail_hooks(config: Path, shipped: Path, live: str) -> list[str]:
    """What the jails of ``config`` make fail2ban run that this host's own jail.conf
    (``shipped``, a fail2ban directory) does not: an action loaded from outside action.d (its
    name holds ``/`` or ``..``, or is left unresolved) or a Python one (``.py``), an action
    parameter that is not data (``actionstart=...`` overrides the command), a value holding
    shell syntax substituted into an action's commands (``port = 22; cmd``), and
    ``ignorecommand`` however it is set (a linked or included jail file, interpolation)."""
    parser = _read_jails(config)
    own = _new_parser()
    own.read([str(path) for path in _with_includes(shipped, shipped / "jail.conf", set())])
    found = []
    for jail in parser.sections():
        if jail in SPECIAL_SECTIONS:
            continue
        where = f"{live}/jail: [{jail}]"
        used: set[str] = set()
        listed = actions(_resolve(parser, jail, parser.get(jail, "action", fallback="")))
        for name, parameters in listed:
            if any(sign in name for sign in ("/", "..", "%(")) or name.endswith(".py"):
                found.append(f"{where} action {name} (a file fail2ban loads as an action)")
                continue
            used |= action_references(config / "action.d", shipped / "action.d", name, {name})
            for key, value in parameters:
                if _own_value(own, jail, key) == value.strip():
                    continue  # this host's jail.conf gives the jail the same
                if key not in DATA_PARAMETERS or is_shell(value, key):
                    found.append(f"{where} action {name}[{key}] (a command fail2ban runs as root)")
        for key in sorted((used | {"ignorecommand"}) & set(parser.options(jail))):
            value = _resolve(parser, jail, parser.get(jail, key))
            mine = (
                _resolve(own, jail, own.get(jail, key, fallback=""))
                if own.has_section(jail)
                else None
            )
            if key == "ignorecommand" and value.strip() and value != mine:
                found.append(f"{where} ignorecommand (a command fail2ban runs)")
            elif is_shell(value, key) and value != mine:
                found.append(f"{where} {key} (shell syntax in an action's command, run as root)")
    return found


def _own_value(own: configparser.RawConfigParser, jail: str, key: str) -> str | None:
    """The value this host's own jail.conf gives ``key`` in ``jail`` (None: none)."""
    section = jail if own.has_section(jail) else "DEFAULT"
    if not own.has_option(section, key):
        return None
    return _resolve(own, section, own.get(section, key)).strip()


def missing_logs(config: Path) -> dict[str, list[str]]:
    """Per enabled jail that reads files, its literal log paths that do not exist.

    Paths are checked as fail2ban will open them: as written in its configuration.
    """
    parser = _read_jails(config)
    missing: dict[str, list[str]] = {}
    for jail in _enabled_jails(config):
        if parser.get(jail, "backend", fallback="auto").strip() == "systemd":
            continue
        raw = parser.get(jail, "logpath", fallback="")
        for line in _resolve(parser, jail, raw).split():
            literal = line.startswith("/") and not any(char in line for char in "*?[%")
            if literal and not Path(line).exists():
                missing.setdefault(jail, []).append(line)
    return missing


def _point_jails_at_an_empty_file(config: Path, live: str) -> None:
    """In the throwaway staged tree only: a jail.d override so that -t checks everything but
    the logs, which no sandbox holds."""
    jails = [
        jail
        for jail in _enabled_jails(config)
        if _read_jails(config).get(jail, "backend", fallback="auto").strip() != "systemd"
    ]
    if not jails:
        return
    jail_d = config / "jail.d"
    if jail_d.is_symlink() or (jail_d.exists() and not jail_d.is_dir()):
        jail_d.unlink()  # never written through: a link may lead out of the throwaway tree
    jail_d.mkdir(exist_ok=True)
    _write_private(config / "drtool-empty.log", "")
    _write_private(
        jail_d / "zz-drtool-empty-logs.local",
        "".join(f"[{jail}]\nlogpath = {live}/drtool-empty.log\n\n" for jail in jails),
    )


def _write_private(path: Path, text: str) -> None:
    """Write a new 0600 file at ``path`` in the throwaway tree, never through a link."""
    if path.is_symlink() or path.exists():
        path.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(path, flags, 0o600), "w") as handle:
        handle.write(text)
