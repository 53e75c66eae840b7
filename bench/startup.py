"""drtool's start-up: `drtool --help` and `drtool snapshots` (one snapshot, passphrase), timed
the way hyperfine does (warm-up runs, then N runs: mean, standard deviation, min, median, max),
with the median CPU time, the import time Python itself reports (`-X importtime`) and the
Argon2id unlock alone, so a figure splits into interpreter, imports, key derivation and work.

    python -m bench.startup [--runs 30]

The machine is shared: the minimum is the figure least disturbed by other work, the median the
typical one; both go to bench/results.json (``startup``)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PASSPHRASE = "bench passphrase, not a secret"
RESULTS = Path(__file__).with_name("results.json")
COMMANDS = {"help": ["--help"], "snapshots": ["snapshots"]}


def hyperfine(command: list[str], env: dict[str, str], runs: int, warmup: int = 3) -> dict:
    """Wall times of ``command`` in milliseconds: mean, stdev, min, median, max of ``runs``; and
    the median CPU time (user + system), which other work on the machine disturbs less."""
    samples, cpu = [], []
    for index in range(warmup + runs):
        started = time.perf_counter()
        child = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if child.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {child.returncode}")
        if index >= warmup:
            samples.append((time.perf_counter() - started) * 1000)
            cpu.append((usage.ru_utime + usage.ru_stime) * 1000)
    return {
        "cpu_median_ms": round(statistics.median(cpu), 1),
        "mean_ms": round(statistics.mean(samples), 1),
        "stdev_ms": round(statistics.stdev(samples), 1),
        "min_ms": round(min(samples), 1),
        "median_ms": round(statistics.median(samples), 1),
        "max_ms": round(max(samples), 1),
        "runs": runs,
    }


def import_ms(command: list[str], env: dict[str, str]) -> float:
    """The import time Python reports for ``command`` (the sum of its top-level imports)."""
    completed = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    total = 0
    for line in completed.stderr.splitlines():
        fields = line.split("|")
        if line.startswith("import time:") and len(fields) == 3 and not fields[2].startswith("  "):
            total += int(fields[1]) if fields[1].strip().isdigit() else 0
    return round(total / 1000, 1)


def argon2_unlock_ms(repetitions: int = 5) -> float:
    """The median time of deriving one key with drtool's default Argon2id cost, in process."""
    from drtool.keys import KdfParameters

    samples = []
    for _ in range(repetitions):
        started = time.perf_counter()
        KdfParameters().derive(PASSPHRASE.encode(), os.urandom(16))
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


def _repository_with_one_snapshot(work: Path, env: dict[str, str]) -> None:
    root = work / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("bench\n")
    (work / "drtool.toml").write_text('[backup]\nkinds = ["files"]\n[files]\npaths = ["/etc"]\n')
    drtool = [sys.executable, "-m", "drtool"]
    subprocess.run([*drtool, "init"], env=env, check=True, capture_output=True)
    subprocess.run([*drtool, "backup"], env=env, check=True, capture_output=True)


def startup_times(runs: int = 30) -> dict[str, Any]:
    """Start-up figures of ``--help`` and ``snapshots`` (a local repository, one snapshot)."""
    work = Path(tempfile.mkdtemp(prefix="drtool-bench-startup-"))
    try:
        env = {
            **os.environ,
            "DRTOOL_PASSWORD": PASSPHRASE,
            "DRTOOL_REPO": str(work / "repo"),
            "DRTOOL_ROOT": str(work / "root"),
            "DRTOOL_CONFIG": str(work / "drtool.toml"),
            "DRTOOL_HOST": "bench",
        }
        _repository_with_one_snapshot(work, env)
        result: dict[str, Any] = {
            "python_bare": hyperfine([sys.executable, "-c", "pass"], env, runs),
        }
        for label, arguments in COMMANDS.items():
            command = [sys.executable, "-m", "drtool", *arguments]
            result[label] = {**hyperfine(command, env, runs), "import_ms": import_ms(command, env)}
        result["argon2id_unlock_ms"] = argon2_unlock_ms()
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    arguments = parser.parse_args()
    figures = startup_times(arguments.runs)
    print(json.dumps(figures, indent=2))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["startup"] = figures
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
