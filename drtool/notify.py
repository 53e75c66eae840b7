"""Notifications: a JSON POST to a webhook (``--notify-url``, ``[notify]`` in drtool.toml) when a
command fails, and, if asked, when a scheduled job succeeds, so that a failing nightly backup
reaches a chat room or an incident tool without a log shipper.

What is sent is the outcome only: command, host, exit code, the one-line error, times. Never a
passphrase, a key or a configuration's content, and the URL itself (which often holds a token)
is never logged: only its scheme and host are. Delivery is retried (timeouts, connection errors,
5xx, 429) a few times with backoff; a notification that cannot be delivered is a warning, never
a change to the command's own exit code.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drtool import __version__
from drtool.errors import ConfigError
from drtool.timeutil import utc_now_iso

log = logging.getLogger(__name__)

# Jobs a schedule runs: their success is worth a message when on_success is set. Every
# command's failure is.
JOBS = frozenset({"backup", "forget", "prune", "check", "drill", "restore", "status", "watch"})
_SECRET_VARIABLES = ("DRTOOL_PASSWORD",)
NOTIFY_KEYS: dict[str, type | tuple[type, ...]] = {
    "url": str,
    "on_success": bool,
    "attempts": int,
    "timeout": (int, float),
}


@dataclass(frozen=True)
class NotifySettings:
    url: str | None = None
    on_success: bool = False
    attempts: int = 4
    timeout: float = 10.0

    def check(self) -> NotifySettings:
        """Return self if the URL is one drtool may post to; raise ConfigError otherwise."""
        if self.url is not None:
            parsed = urllib.parse.urlsplit(self.url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ConfigError("the notify URL must be an http:// or https:// URL")
        if self.attempts < 1 or self.timeout <= 0:
            raise ConfigError("[notify] attempts and timeout must be positive")
        return self


def settings_from_table(table: dict[str, Any], where: str) -> NotifySettings:
    """[notify] of drtool.toml (keys already checked against NOTIFY_KEYS)."""
    for key, value in table.items():
        if not isinstance(value, NOTIFY_KEYS[key]) or (
            key != "on_success" and isinstance(value, bool)
        ):
            raise ConfigError(f"{where}: [notify] {key} has the wrong type")
    return NotifySettings(**table).check()


def where(url: str) -> str:
    """The part of a URL that may be logged: scheme and host (paths and queries hold tokens)."""
    parsed = urllib.parse.urlsplit(url)
    return f"{parsed.scheme}://{parsed.hostname}"


def outcome_document(
    command: str, host: str, exit_code: int, error: str | None, seconds: float
) -> dict[str, Any]:
    if error:
        for variable in _SECRET_VARIABLES:
            secret = os.environ.get(variable)
            if secret:
                error = error.replace(secret, "<redacted>")
    return {
        "source": "drtool",
        "version": __version__,
        "command": command,
        "host": host,
        "success": exit_code == 0,
        "exit_code": exit_code,
        "error": error,
        "time": utc_now_iso(),
        "duration_seconds": round(seconds, 3),
    }


def send(
    settings: NotifySettings,
    document: dict[str, Any],
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """POST ``document`` to the URL, retried; return whether it was delivered."""
    import urllib.error  # here, not above: http.client and ssl are for the rare run that sends
    import urllib.request

    assert settings.url is not None
    body = json.dumps(document, sort_keys=True).encode()
    request = urllib.request.Request(
        settings.url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"drtool/{__version__}"},
    )
    for attempt in range(1, settings.attempts + 1):
        try:
            with urllib.request.urlopen(request, timeout=settings.timeout) as response:
                response.read()
            log.info("notified %s (%s)", where(settings.url), document["command"])
            return True
        except urllib.error.HTTPError as error:
            retry = error.code >= 500 or error.code == 429
            problem = f"HTTP {error.code}"
        except (urllib.error.URLError, OSError) as error:
            retry, problem = True, str(getattr(error, "reason", error))
        if not retry or attempt == settings.attempts:
            log.warning("could not notify %s: %s", where(settings.url), problem)
            return False
        sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
    return False


def notify_outcome(
    settings: NotifySettings,
    command: str,
    host: str,
    exit_code: int,
    error: str | None,
    seconds: float,
) -> None:
    """Send the outcome of ``command`` if the settings ask for it."""
    if settings.url is None or (exit_code == 0 and not (settings.on_success and command in JOBS)):
        return
    send(settings, outcome_document(command, host, exit_code, error, seconds))
