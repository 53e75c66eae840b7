"""drtool.toml: which kinds to back up, extra files, per-kind settings.

Unknown sections and keys are errors, so a typo cannot silently drop a file from the backups.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drtool.errors import ConfigError
from drtool.hostpath import is_under, relative_host_path
from drtool.kinds import ALL_KINDS
from drtool.notify import NOTIFY_KEYS, NotifySettings, settings_from_table

TREE_KINDS = {"nginx": "/etc/nginx", "wireguard": "/etc/wireguard", "fail2ban": "/etc/fail2ban"}


_S3_SETTINGS = {
    "storage_class": str,
    "sse": str,
    "sse_kms_key_id": str,
    "object_lock_mode": str,
    "part_size": int,
    "max_attempts": int,
    "max_retry_seconds": float,
    "backoff_seconds": float,
    "backoff_max_seconds": float,
    "connect_timeout": float,
    "read_timeout": float,
}


_SERVICE_KEYS = {
    "restart",
    "start",
    "stop",
    "health_url",
    "health_command",
    "pid_file",
    "error_log",
    "compose_projects",
    "timeout",
}

# Seconds a reload is given to take (nginx: new workers) and a health URL to answer
# ([services.<kind>] timeout).
SERVICE_TIMEOUT = 10.0
# Seconds any tool drtool runs may take ([tools] timeout): enough for iptables-save of a
# typical firewall many times over; a firewall of half a million rules needs more on a small
# machine, a hung tool must still end.
TOOL_TIMEOUT = 120.0
MAX_TIMEOUT = 86_400  # a day: any timeout of drtool.toml


@dataclass(frozen=True)
class ServiceSettings:
    """How to restart a service and tell that it is healthy ([services.<kind>] in drtool.toml).

    Unset fields fall back to the kind's defaults (systemctl where systemd runs, the service's
    own command elsewhere).
    """

    restart: str | None = None
    start: str | None = None  # for a service that was not running before the restore
    stop: str | None = None  # to stop it again if the restore is rolled back
    health_url: str | None = None
    health_command: str | None = None
    pid_file: str | None = None
    error_log: str | None = None
    compose_projects: tuple[str, ...] = ()
    timeout: float = SERVICE_TIMEOUT


# Seconds the restored firewall's dead-man's switch waits for `drtool confirm` (restore's
# --confirm-timeout); kept here, with the other restore settings, so the CLI can show it cheaply.
DEFAULT_CONFIRM_TIMEOUT = 60.0


@dataclass(frozen=True)
class RestorePolicy:
    """What a restore accepts from a snapshot ([restore] in drtool.toml, and restore's options).

    ``include_roots``: host paths (``/etc/foo``) a snapshot may bring beyond the kinds' own roots.
    ``keep_setid``: keep set-uid and set-gid bits as the snapshot records them (default: dropped).
    ``allow_hooks``: the snapshot's hooks (WireGuard PostUp, fail2ban actions, …) may run.
    ``own_files``: drtool's own files on this host (drtool.own_files), never restored.
    """

    keep_setid: bool = False
    include_roots: tuple[str, ...] = ()
    allow_hooks: bool = False  # a snapshot's hooks may make this host run code
    own_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    kinds: tuple[str, ...] = ALL_KINDS
    tags: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    tree_paths: dict[str, str] = field(default_factory=lambda: dict(TREE_KINDS))
    s3: dict[str, Any] = field(default_factory=dict)
    iptables_backend: str = "auto"
    runtime_chains: tuple[str, ...] = ()
    nftables_conf: str = "/etc/nftables.conf"
    runtime_tables: tuple[str, ...] = ()
    services: dict[str, ServiceSettings] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ()
    restore: RestorePolicy = field(default_factory=RestorePolicy)
    secret_paths: tuple[str, ...] = ()
    network_parents: tuple[str, ...] = ()
    notify: NotifySettings = field(default_factory=NotifySettings)
    tool_timeout: float = TOOL_TIMEOUT

    def service(self, kind: str) -> ServiceSettings:
        return self.services.get(kind, ServiceSettings())


def load_settings(path: Path | None) -> Settings:
    """Given the path of a drtool.toml (or None), return the settings; raise ConfigError."""
    if path is None:
        return Settings()
    try:
        document = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
    return _settings_from(document, path)


def _settings_from(document: dict[str, Any], path: Path) -> Settings:
    _only_keys(
        document,
        {
            "backup",
            "files",
            "s3",
            "iptables",
            "nftables",
            "services",
            "diff",
            "restore",
            "notify",
            "tools",
            *TREE_KINDS,
        },
        f"{path}",
    )
    backup = _table(document, "backup", {"kinds", "tags"}, path)
    files = _table(document, "files", {"paths"}, path)
    kinds = tuple(_string_list(backup, "kinds", path, default=list(ALL_KINDS)))
    for kind in kinds:
        if kind not in ALL_KINDS:
            raise ConfigError(f"{path}: unknown kind {kind!r} in [backup] kinds")
    tree_paths = dict(TREE_KINDS)
    for kind in TREE_KINDS:
        table = _table(document, kind, {"path"}, path)
        if "path" in table:
            tree_paths[kind] = _absolute(table["path"], f"[{kind}] path", path)
    file_paths = [
        _absolute(item, "[files] paths", path) for item in _string_list(files, "paths", path)
    ]
    _check_disjoint(file_paths, path)
    iptables = _table(document, "iptables", {"backend", "runtime_chains"}, path)
    backend = iptables.get("backend", "auto")
    if backend not in ("auto", "nft", "legacy"):
        raise ConfigError(f"{path}: [iptables] backend must be auto, nft or legacy")
    nftables = _table(document, "nftables", {"path", "runtime_tables"}, path)
    services_table = _table(document, "services", set(ALL_KINDS), path)
    services = {}
    for kind in services_table:
        service = _table(services_table, kind, _SERVICE_KEYS, path)
        projects = tuple(_string_list(service, "compose_projects", path))
        timeout = _seconds(service, SERVICE_TIMEOUT, f"{path}: [services.{kind}] timeout")
        for key, value in service.items():
            if key not in ("compose_projects", "timeout") and not isinstance(value, str):
                raise ConfigError(f"{path}: [services.{kind}] {key} must be a string")
        services[kind] = ServiceSettings(
            **{**service, "compose_projects": projects, "timeout": timeout}
        )
    diff = _table(document, "diff", {"secret_keys", "secret_paths"}, path)
    restore = _table(
        document, "restore", {"keep_setid", "include_roots", "allow_hooks", "network_parents"}, path
    )
    tools = _table(document, "tools", {"timeout"}, path)
    s3 = _table(document, "s3", set(_S3_SETTINGS), path)
    for key, value in s3.items():
        expected = _S3_SETTINGS[key]
        accepted = (int, float) if expected is float else (expected,)
        if isinstance(value, bool) or not isinstance(value, accepted):
            raise ConfigError(f"{path}: [s3] {key} must be a {expected.__name__}")
        if expected is float and not 0 <= value <= MAX_TIMEOUT:  # inf and nan fail here
            raise ConfigError(f"{path}: [s3] {key} must be from 0 to {MAX_TIMEOUT} seconds")
    return Settings(
        kinds=kinds,
        tags=tuple(_string_list(backup, "tags", path)),
        files=tuple(file_paths),
        tree_paths=tree_paths,
        s3=s3,
        iptables_backend=backend,
        runtime_chains=tuple(_string_list(iptables, "runtime_chains", path)),
        nftables_conf=_absolute(
            nftables.get("path", "/etc/nftables.conf"), "[nftables] path", path
        ),
        runtime_tables=tuple(_string_list(nftables, "runtime_tables", path)),
        services=services,
        secret_keys=tuple(_string_list(diff, "secret_keys", path)),
        restore=_restore_policy(restore, path),
        network_parents=tuple(_string_list(restore, "network_parents", path)),
        secret_paths=tuple(
            _absolute(item, "[diff] secret_paths", path)
            for item in _string_list(diff, "secret_paths", path)
        ),
        notify=settings_from_table(_table(document, "notify", set(NOTIFY_KEYS), path), f"{path}"),
        tool_timeout=_seconds(tools, TOOL_TIMEOUT, f"{path}: [tools] timeout"),
    )


def _check_disjoint(host_paths: list[str], path: Path) -> None:
    """Refuse a [files] path given twice or inside another: the walk would write its entries
    twice, a snapshot no restore builds (entry_tree refuses a root inside a root)."""
    by_segments = sorted(host_paths, key=lambda host_path: relative_host_path(host_path).split("/"))
    for outer, inner in itertools.pairwise(by_segments):
        if is_under(relative_host_path(inner), relative_host_path(outer)):
            raise ConfigError(
                f"{path}: [files] path {inner} is {outer} or lies in it (its entries would be "
                "written twice)"
            )


def _seconds(table: dict[str, Any], default: float, what: str) -> float:
    """``table``'s ``timeout`` in seconds (``default`` if unset); raise ConfigError naming
    ``what`` unless it is a positive number of at most MAX_TIMEOUT (``inf``, or 1e10 s, is
    past what Python's clocks convert: every wait raised OverflowError)."""
    timeout = table.get("timeout", default)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not 0 < timeout <= MAX_TIMEOUT
    ):
        raise ConfigError(f"{what} must be a positive number of seconds, at most {MAX_TIMEOUT}")
    return float(timeout)


def _restore_policy(table: dict[str, Any], path: Path) -> RestorePolicy:
    for flag in ("keep_setid", "allow_hooks"):
        if not isinstance(table.get(flag, False), bool):
            raise ConfigError(f"{path}: [restore] {flag} must be true or false")
    include = [
        _absolute(item, "[restore] include_roots", path)
        for item in _string_list(table, "include_roots", path)
    ]
    return RestorePolicy(
        table.get("keep_setid", False), tuple(include), table.get("allow_hooks", False)
    )


def _only_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r}")


def _table(document: dict[str, Any], name: str, keys: set[str], path: Path) -> dict[str, Any]:
    table = document.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    _only_keys(table, keys, f"{path} [{name}]")
    return table


def _string_list(
    table: dict[str, Any], key: str, path: Path, default: list[str] | None = None
) -> list[str]:
    value = table.get(key, default or [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{path}: {key} must be a list of strings")
    return value


def _absolute(value: Any, what: str, path: Path) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {what} must be a string")
    relative_host_path(value)  # raises ConfigError on a relative or unusable path
    return value
