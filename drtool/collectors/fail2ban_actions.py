"""fail2ban's actions as its client reads them from a jail: the ``action`` value split into
``name[key=value, ...]`` entries (fail2ban.helpers' own expressions), the names an action file
substitutes into its commands, and shell syntax in a substituted value. For the hook reader
(drtool.collectors.fail2ban.jail_hooks)."""

from __future__ import annotations

import re
from pathlib import Path

INTERPOLATION = re.compile(r"%\(([\w/-]+)\)s")
SPECIAL_SECTIONS = ("INCLUDES", "DEFAULT", "Definition", "Init")
# fail2ban's own splitting of an ``action`` value (fail2ban.helpers): one action per match,
# ``name[key=value, ...]``, each parameter quoted or bare.
_ACTION_SPLIT = re.compile(
    r"(?:[^\[\s]+(?:\s*\[\s*(?:[\w\-_\.]+=(?:\"[^\"]*\"|'[^']*'|[^,\]]*)\s*(?:,|\]\s*\[)?\s*)*\])?"
    r"\s*|\S+)(?=\n\s*|\s+|$)",
    re.DOTALL,
)
_ACTION = re.compile(r"^([^\[]+)(?:\[(.*)\])?\s*$", re.DOTALL)
_PARAMETER = re.compile(r"\s*([\w\-_\.]+)=(?:\"([^\"]*)\"|'([^']*)'|([^,\]]*))", re.DOTALL)
# The parameters this host's jail.conf passes to its actions: data substituted into the
# actions' commands, or flags. Any other (actionstart, the command name ``iptables``...)
# changes what the action runs.
DATA_PARAMETERS = frozenset(
    {
        "name",
        "port",
        "protocol",
        "chain",
        "dest",
        "destemail",
        "sender",
        "sendername",
        "destname",
        "logpath",
        "agent",
        "apikey",
        "cftoken",
        "cfuser",
        "email",
        "service",
        "config",
        "bantime",
        "blocktype",
        "returntype",
        "actname",
        "actionstart_on_demand",
        "actionrepair_on_unban",
        "norestored",
        "abuseipdb_apikey",
        "abuseipdb_category",
    }
)
_TAG = re.compile(r"<[\w/-]+>")  # a fail2ban tag, substituted from a value checked itself
_INCLUDED = re.compile(r"^\s*(?:before|after)\s*[=:]\s*(\S+)", re.MULTILINE)
_SHELL = (";", "|", "&", "$(", "`", "\n", "<", ">")
# A value is substituted raw into a command, often between quotes the action wrote
# (``-H "Key: <abuseipdb_apikey>"``) or as arguments (``--dports <port>``): a quote, a
# backslash or a blank in it adds arguments of the snapshot's (``curl ... -o /etc/cron.d/x``).
_ARGUMENTS = ('"', "'", "\\", " ", "\t")
# Lists of paths: blanks separate them (every shipped action quotes <logpath>).
_BLANK_SEPARATED = frozenset({"logpath"})


def actions(value: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The actions of an ``action`` value as fail2ban's extractOptions reads them."""
    actions = []
    for entry in _ACTION_SPLIT.findall(value):
        match = _ACTION.match(entry.strip())
        if match:
            parameters = [
                (found.group(1), next(part for part in found.groups()[1:] if part is not None))
                for found in _PARAMETER.finditer(match.group(2) or "")
            ]
            actions.append((match.group(1).strip(), parameters))
    return actions


def action_references(staged: Path, shipped: Path, name: str, seen: set[str]) -> set[str]:
    """The names action ``name`` substitutes (``<name>``, ``%(name)s``), read from its files
    and the files they include, staged and this host's own alike (a link is never read: it
    is a hook of its own)."""
    names: set[str] = set()
    for path in (
        directory / f"{name}{suffix}"
        for directory in (staged, shipped)
        for suffix in (".conf", ".local")
    ):
        if path.is_symlink() or not path.is_file():
            continue
        text = path.read_bytes().decode(errors="replace")
        names |= {tag.strip("<>") for tag in _TAG.findall(text)}
        names |= set(INTERPOLATION.findall(text))
        for included in _INCLUDED.findall(text):
            stem = included.removesuffix(".conf").removesuffix(".local")
            if stem not in seen and "/" not in stem:
                seen.add(stem)
                names |= action_references(staged, shipped, stem, seen)
    return names


def is_shell(value: str, key: str = "") -> bool:
    """Whether ``value``, substituted into an action's command as ``key``, would be more than
    one argument's data: shell syntax, or a quote, backslash or blank."""
    signs = _SHELL + _ARGUMENTS if key not in _BLANK_SEPARATED else _SHELL + _ARGUMENTS[:3]
    return any(sign in _TAG.sub("", value) for sign in signs)
