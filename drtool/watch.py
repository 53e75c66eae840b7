"""Change-triggered backups: `drtool watch` backs up within a minute of a change to any kind, so
the recovery point is the last change rather than last night.

- Kinds that are files (nginx, WireGuard, fail2ban trees, [files]) are watched with inotify:
  every directory of each tree, and each root's parent (a restore or an editor swaps whole
  trees and files by rename).
- Kinds that are running state (the firewall, docker networks) are read every ``poll`` seconds
  and compared with the last reading (a hash of what backup would store).
- Changes are debounced: the backup runs once things have been quiet for ``debounce`` seconds,
  or ``max_delay`` after the first change however busy the host is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from inotify_simple import INotify, flags

from drtool.collectors import Collector
from drtool.collectors.base import PathsCollector
from drtool.errors import DrtoolError
from drtool.host import Host

log = logging.getLogger(__name__)

_EVENTS = (
    flags.CREATE
    | flags.DELETE
    | flags.MODIFY
    | flags.ATTRIB
    | flags.MOVED_FROM
    | flags.MOVED_TO
    | flags.CLOSE_WRITE
    | flags.DELETE_SELF
    | flags.MOVE_SELF
)


@dataclass(frozen=True)
class WatchTiming:
    debounce: float = 10.0
    max_delay: float = 50.0
    poll: float = 30.0


class TreeWatcher:
    """inotify watches on every directory of the file kinds' roots and on each root's parent."""

    def __init__(self, host: Host, collectors: Sequence[Collector]) -> None:
        self.host = host
        self.roots = [
            host.path(root) for c in collectors if isinstance(c, PathsCollector) for root in c.roots
        ]
        self.inotify = INotify()
        self.watched: dict[int, Path] = {}
        self.rewatch()

    def rewatch(self) -> None:
        """Watch every directory as it is now (trees gain directories; swaps replace them)."""
        for descriptor in list(self.watched):
            with contextlib.suppress(OSError):  # the directory went away, and its watch too
                self.inotify.rm_watch(descriptor)
        self.watched.clear()
        for directory in sorted(self._directories()):
            try:
                self.watched[self.inotify.add_watch(directory, _EVENTS)] = directory
            except OSError as error:
                log.debug("cannot watch %s: %s", directory, error)

    def _directories(self) -> set[Path]:
        found: set[Path] = set()
        for root in self.roots:
            parent = root.parent
            while not parent.is_dir() and parent != self.host.root:
                parent = parent.parent
            found.add(parent)
            if root.is_dir() and not root.is_symlink():
                for directory, _, _ in os.walk(root):
                    found.add(Path(directory))
        return found

    def changed(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; return whether anything under the roots changed."""
        events = self.inotify.read(timeout=max(0, int(timeout * 1000)))
        relevant = False
        for event in events:
            directory = self.watched.get(event.wd)
            if directory is None:
                continue
            path = directory / event.name if event.name else directory
            if any(
                path == root or root in path.parents or path in root.parents for root in self.roots
            ):
                relevant = True
        if relevant:
            self.rewatch()
        return relevant

    def close(self) -> None:
        self.inotify.close()


def state_fingerprint(host: Host, collectors: Sequence[Collector]) -> str:
    """A hash of the running state kinds (firewall, docker networks) as backup would read them."""
    digest = hashlib.sha256()
    for collector in collectors:
        if isinstance(collector, PathsCollector) or collector.unavailable_reason(host):
            continue
        try:
            artifact = collector.collect(host)
        except DrtoolError as error:
            digest.update(f"{collector.kind}: unreadable: {error}".encode())
            continue
        digest.update(collector.kind.encode() + b"\0")
        digest.update(json.dumps(artifact.metadata, sort_keys=True, default=str).encode())
        for name, output in sorted(artifact.outputs.items()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(output).digest())
    return digest.hexdigest()


class DockerEvents:
    """The daemon's network events (create, destroy, connect, …) followed in a thread: a change
    to docker networks is seen at once instead of at the next poll."""

    def __init__(self) -> None:
        self._changed = threading.Event()
        threading.Thread(target=self._follow, name="docker-events", daemon=True).start()

    def _follow(self) -> None:
        import docker  # only where docker events are asked for

        try:
            client = docker.from_env(timeout=None)
            for _event in client.events(decode=True, filters={"type": "network"}):
                self._changed.set()
        except Exception as error:  # the SDK raises several families; the poll still runs
            log.warning("docker events stopped (the poll goes on): %s", error)

    def take(self) -> bool:
        """Whether a network event came since the last call."""
        changed = self._changed.is_set()
        self._changed.clear()
        return changed


def watch(
    host: Host,
    collectors: Sequence[Collector],
    backup: Callable[[], None],
    timing: WatchTiming,
    keep_going: Callable[[], bool] = lambda: True,
    clock: Callable[[], float] = time.monotonic,
    docker_events: DockerEvents | None = None,
) -> None:
    """Back up after each (debounced) change, until ``keep_going`` says stop."""
    trees = TreeWatcher(host, collectors)
    # With docker events, wake at least every second to see them.
    longest_wait = 1.0 if docker_events else timing.poll
    fingerprint = state_fingerprint(host, collectors)
    next_poll = clock() + timing.poll
    first_change: float | None = None
    last_change = 0.0
    log.info(
        "watching %d directories; polling the running state every %gs",
        len(trees.watched),
        timing.poll,
    )
    try:
        while keep_going():
            now = clock()
            deadlines = [next_poll]
            if first_change is not None:
                deadlines += [last_change + timing.debounce, first_change + timing.max_delay]
            if trees.changed(min(*deadlines, now + longest_wait) - now):
                now = clock()
                first_change, last_change = first_change or now, now
                log.info("a file changed; backing up after %gs of quiet", timing.debounce)
            now = clock()
            if docker_events and docker_events.take():
                first_change, last_change = first_change or now, now
                log.info("a docker network changed (docker events)")
            if now >= next_poll:
                next_poll = now + timing.poll
                current = state_fingerprint(host, collectors)
                if current != fingerprint:
                    fingerprint = current
                    first_change, last_change = first_change or now, now
                    log.info("the running state changed (firewall or docker networks)")
            if first_change is not None and (
                now >= last_change + timing.debounce or now >= first_change + timing.max_delay
            ):
                first_change = None
                backup()
                trees.rewatch()
                fingerprint = state_fingerprint(host, collectors)
    finally:
        trees.close()
