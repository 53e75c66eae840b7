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

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from drtool.background import Background
from drtool.collectors import Artifact, Collector
from drtool.host import Host


@contextmanager
def collecting(
    collectors: Sequence[Collector], host: Host
) -> Iterator[Iterator[tuple[Collector, Artifact]]]:
    """Start every collector now; give each with its artifact, in the collectors' order; join
    every thread on the way out, whatever happened meanwhile."""
    threads = [
        Background(functools.partial(collector.collect, host), f"collect {collector.kind}")
        for collector in collectors
    ]
    try:
        yield (
            (collector, thread.result())
            for collector, thread in zip(collectors, threads, strict=True)
        )
    finally:
        for thread in threads:
            thread.join()
