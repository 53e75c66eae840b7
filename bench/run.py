"""The benchmark: drtool beside restic and borg on the same hosts, in one run, tools alternating.

    python -m bench [--hosts typical,large] [--repetitions 3] [--nightly 30]
    python -m bench --hosts huge --repetitions 1 --nightly 2   # 10x large: heavy, not by default

Prints a table and writes bench/results.json with every figure (median, min, max, peak memory
of each), the drtool/restic and drtool/borg ratios, the start-up times (bench/startup.py) and
the S3 request counts of the typical host (bench/s3_requests.py). restic and borg back up the
host root, which holds the same firewall and docker-network state dumped to files; drtool reads
the firewall live from a network namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from bench.dataset import SHAPES, churn, generate, load_firewall
from bench.startup import startup_times
from bench.tools import DrtoolWriter, Tool, available_tools

RESULTS = Path(__file__).with_name("results.json")


class Sample(NamedTuple):
    seconds: float  # wall time
    peak_mib: int  # peak resident memory
    cpu_seconds: float  # user + system: what other work on a shared machine disturbs least


def timed(command: list[str], env: dict[str, str], cwd: Path | None = None) -> Sample:
    """Run ``command``; return its wall time, peak memory and CPU time."""
    started = time.perf_counter()
    completed = subprocess.run(
        ["/usr/bin/time", "-f", "%M %U %S", *command],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {completed.stderr[-500:]}")
    peak_kib, user, system = completed.stderr.strip().splitlines()[-1].split()
    return Sample(elapsed, int(peak_kib) // 1024, float(user) + float(system))


def directory_size(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(samples), 4),
        "min": round(min(samples), 4),
        "max": round(max(samples), 4),
    }


def bench_host(shape_name: str, repetitions: int, nightly: int) -> dict[str, Any]:
    shape = SHAPES[shape_name]
    work = Path(tempfile.mkdtemp(prefix=f"drtool-bench-{shape_name}-"))
    netns = f"drtool-bench-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        root = work / "root"
        generate(shape, root)
        load_firewall(netns, root)
        tools = available_tools(work, root, netns)
        # The writer set-up is measured on the backups only (it cannot restore), and not nightly.
        default_tools = [tool for tool in tools if not tool.suffix]
        figures: dict[str, dict[str, Any]] = {tool.name: {} for tool in default_tools}

        def measure(
            metric: str, step: Callable[[Tool, int], Sample], among: list[Tool] = tools
        ) -> None:
            samples: dict[Tool, list[Sample]] = {tool: [] for tool in among}
            for repetition in range(repetitions):
                for tool in among:  # alternating, so drift hits every tool alike
                    samples[tool].append(step(tool, repetition))
            for tool, taken in samples.items():
                named = metric.removesuffix("_s") + tool.suffix + "_s"  # unchanged_backup_writer_s
                figures[tool.name][named] = summary([s.seconds for s in taken])
                figures[tool.name][f"{named}_peak_mib"] = max(s.peak_mib for s in taken)
                figures[tool.name][f"{named}_cpu"] = summary([s.cpu_seconds for s in taken])

        def first_backup(tool: Tool, repetition: int) -> Sample:
            repo = tool.repository(f"first{repetition}")
            tool.init(repo)
            return timed(tool.backup(repo), tool.env)

        measure("first_backup_s", first_backup)
        measure(
            "unchanged_backup_s",
            lambda tool, repetition: timed(tool.backup(tool.repository("first0")), tool.env),
        )

        def changed_backup(tool: Tool, repetition: int) -> Sample:
            if tool is tools[0]:
                churn(root, 0.01, seed=100 + repetition)
                load_firewall(netns, root)
            return timed(tool.backup(tool.repository("first0")), tool.env)

        measure("changed_1pct_backup_s", changed_backup)

        def restore(tool: Tool, repetition: int) -> Sample:
            target = work / f"restore-{tool.name}-{repetition}"
            target.mkdir()
            command, cwd = tool.restore(tool.repository("first0"), target)
            return timed(command, tool.env, cwd)

        measure("restore_s", restore, default_tools)

        for tool in default_tools:
            repo = tool.repository("nightly")
            tool.init(repo)
        for night in range(nightly):
            churn(root, 0.01, seed=1000 + night)
            load_firewall(netns, root)
            for tool in default_tools:
                timed(tool.backup(tool.repository("nightly")), tool.env)
        for tool in default_tools:
            figures[tool.name][f"repository_bytes_after_{nightly}_nights"] = directory_size(
                tool.repository("nightly")
            )
        return {"shape": shape.__dict__, "figures": figures, "source_bytes": directory_size(root)}
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
        shutil.rmtree(work, ignore_errors=True)


def compile_drtool() -> None:
    """Byte-compile drtool, as an installed package is: with PYTHONDONTWRITEBYTECODE set (as on
    this project's machines) every drtool command would otherwise compile its modules again."""
    package = Path(__file__).resolve().parent.parent / "drtool"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


def s3_requests() -> dict[str, int]:
    """Requests for a backup, an unchanged backup and a restore of the typical host (moto)."""
    from bench.s3_requests import count_requests

    return {
        **count_requests(),
    }


def versions() -> dict[str, str]:
    """Each peer's version as it prints it (results.json says what drtool was measured against)."""
    found = {}
    for name, command in (("restic", ["restic", "version"]), ("borg", ["borg", "--version"])):
        if shutil.which(name):
            printed = subprocess.run(command, capture_output=True, text=True, check=False).stdout
            found[name] = printed.strip().splitlines()[0] if printed.strip() else "unknown"
    return found


def peer_metric(metric: str) -> str:
    """The peer's figure a drtool metric compares with: a set-up of drtool's own (the writer
    credential) against the peer's one set-up."""
    return metric.replace(DrtoolWriter.suffix, "")


def ratios(figures: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    for ours in ("drtool",):  # the tool measured, against each peer
        for other in ("restic", "borg"):
            if other not in figures or ours not in figures:
                continue
            theirs = figures[other]
            result[f"{ours}/{other}"] = {
                metric: round(value["median"] / theirs[peer_metric(metric)]["median"], 3)
                if isinstance(value, dict)
                else round(value / theirs[peer_metric(metric)], 3)
                for metric, value in figures[ours].items()
                if not metric.endswith("_peak_mib") and peer_metric(metric) in theirs
            }
    return result


def table(results: dict[str, Any]) -> str:
    lines = []
    for host, data in results["hosts"].items():
        lines.append(
            f"\n{host} host ({data['source_bytes'] / 2**20:.1f} MiB of source; "
            f"{data.get('date', 'undated')})"
        )
        tools = list(data["figures"])
        lines.append(f"  {'metric':<36}" + "".join(f"{tool:>14}" for tool in tools))
        for metric in data["figures"]["drtool"]:
            cells = []
            for tool in tools:
                value = data["figures"][tool].get(metric)
                if value is None:  # drtool's writer set-up: the peers have one set-up
                    cells.append(f"{'-':>14}")
                elif isinstance(value, dict):
                    cells.append(f"{value['median']:>12.3f} s")
                elif "bytes" in metric:
                    cells.append(f"{value / 2**20:>10.2f} MiB")
                else:
                    cells.append(f"{value:>10} MiB")
            lines.append(f"  {metric:<36}" + "".join(cells))
        for label, values in data["ratios"].items():
            lines.append(f"  {label}: " + ", ".join(f"{k} {v}" for k, v in values.items()))
    startup = results["startup"]
    lines.append(
        "\nstart-up (median / min of "
        f"{startup['help']['runs']} runs): "
        + ", ".join(
            f"{label} {startup[label]['median_ms']:.0f} / {startup[label]['min_ms']:.0f} ms"
            for label in ("python_bare", "help", "snapshots")
        )
        + f"; Argon2id unlock alone {startup['argon2id_unlock_ms']:.0f} ms"
    )
    counts = results.get("s3_requests")
    if counts:
        lines.append(
            f"S3 requests, typical host ({counts['kinds']} kinds): first backup "
            f"{counts['first_backup']}, unchanged backup {counts['unchanged_backup']} "
            f"(target <= 4), restore {counts['restore']} (target <= {counts['kinds'] + 4})"
        )
    return "\n".join(lines)


def _previous(output: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(output.read_text()))
    except (OSError, ValueError):
        return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--hosts", default="typical,large", help=f"Comma-separated, of {', '.join(SHAPES)}."
    )
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--nightly", type=int, default=30)
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS,
        help="Where the figures go (default bench/results.json; elsewhere for a loaded machine).",
    )
    arguments = parser.parse_args()
    hosts = arguments.hosts.split(",")
    command = " ".join(["python", "-m", "bench", *sys.argv[1:]])
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    previous = _previous(arguments.output)
    results: dict[str, Any] = {
        # What other runs wrote (the fleet's figures, an earlier run's notes) stays.
        **previous,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "date": date,
        "command": command,
        "tools": versions(),
        # A host not measured in this run (huge, run on its own) keeps its figures, dated.
        "hosts": {
            name: data for name, data in previous.get("hosts", {}).items() if name not in hosts
        },
    }
    compile_drtool()
    for host in hosts:
        data = bench_host(host, arguments.repetitions, arguments.nightly)
        data.update(ratios=ratios(data["figures"]), date=date, command=command)
        results["hosts"][host] = data
        # Written after each host: a late failure loses nothing.
        arguments.output.write_text(json.dumps(results, indent=2) + "\n")
    results["startup"] = startup_times()  # bench/startup.py: hyperfine's way, 30 runs
    results["s3_requests"] = s3_requests()
    arguments.output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {arguments.output}")


if __name__ == "__main__":
    main()
