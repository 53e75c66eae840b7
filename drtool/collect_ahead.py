"""A backup's collectors started together, each on a thread of its own, their artifacts taken in
order.

Collecting mostly waits: iptables-save of a large ruleset (half a second of CPU in processes of
its own), ``wg``, ``nginx -v``, docker's API. One after another, a backup waits for each command
before it walks the next tree or stores what it has; started together, the commands run on
another core while this process walks and stores. The Python work itself (walks, rule parsing,
storing) still runs one thread at a time. A collector's error is raised when its turn comes, as
it was when collectors ran in turn; every thread is joined before the caller goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from drtool.collectors import Artifact, Collector
from drtool.host import Host


class _Collecting(threading.Thread):
    def __init__(self, collector: Collector, host: Host) -> None:
        super().__init__(name=f"collect {collector.kind}", daemon=True)
        self.collector, self._host = collector, host
        self.artifact: Artifact | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.artifact = self.collector.collect(self._host)
        except BaseException as error:  # raised in the caller's thread, in its turn
            self.error = error


@contextmanager
def collecting(
    collectors: Sequence[Collector], host: Host
) -> Iterator[Iterator[tuple[Collector, Artifact]]]:
    """Start every collector now; give each with its artifact, in the collectors' order; join
    every thread on the way out, whatever happened meanwhile."""
    threads = [_Collecting(collector, host) for collector in collectors]
    for thread in threads:
        thread.start()
    try:
        yield _in_order(threads)
    finally:
        for thread in threads:
            thread.join()


def _in_order(threads: Sequence[_Collecting]) -> Iterator[tuple[Collector, Artifact]]:
    for thread in threads:
        thread.join()
        if thread.error is not None:
            raise thread.error
        assert thread.artifact is not None
        yield thread.collector, thread.artifact
