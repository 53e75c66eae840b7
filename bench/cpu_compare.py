"""Two (or more) drtool trees, one command, alternating: the median CPU time (user + system,
children included) of each, the figure other work on a shared machine disturbs least.

    python bench/cpu_compare.py 15 main=/tmp/main-tree head=. -- -m drtool --repo R backup

Each ``label=PATH`` runs the command with ``PYTHONPATH=PATH`` (run it from outside both trees,
so that neither is the current directory); byte code is written, and the first round of runs is
a warm-up that is not counted.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time


def main() -> None:
    separator = sys.argv.index("--")
    runs = int(sys.argv[1])
    trees = [argument.split("=", 1) for argument in sys.argv[2:separator]]
    command = [sys.executable, *sys.argv[separator + 1 :]]
    cpu: dict[str, list[float]] = {label: [] for label, _ in trees}
    wall: dict[str, list[float]] = {label: [] for label, _ in trees}
    for round_number in range(runs + 1):
        for label, path in trees:
            env = {**os.environ, "PYTHONPATH": path}
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            started = time.perf_counter()
            child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(child.pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit(f"{label}: the command failed")
            if round_number:  # the first round writes the byte code
                cpu[label].append((usage.ru_utime + usage.ru_stime) * 1000)
                wall[label].append((time.perf_counter() - started) * 1000)
    for label, _ in trees:
        print(
            f"{label}: CPU median {statistics.median(cpu[label]):.0f} ms "
            f"(min {min(cpu[label]):.0f}), wall median {statistics.median(wall[label]):.0f} ms, "
            f"{runs} runs"
        )


if __name__ == "__main__":
    main()
