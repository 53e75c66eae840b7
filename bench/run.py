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

PASSPHRASE = "bench passphrase, not a secret"
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


class Tool:
    name: str

    def __init__(self, work: Path, root: Path, netns: str) -> None:
        self.work, self.root, self.netns = work, root, netns
        self.env = {**os.environ}

    def repository(self, label: str) -> Path:
        return self.work / f"{self.name}-{label}"

    def init(self, repo: Path) -> None: ...
    def backup(self, repo: Path) -> list[str]: ...
    def restore(self, repo: Path, target: Path) -> tuple[list[str], Path | None]: ...


class Drtool(Tool):
    name = "drtool"

    def __init__(self, work: Path, root: Path, netns: str) -> None:
        super().__init__(work, root, netns)
        config = work / "drtool.toml"
        config.write_text(
            '[backup]\nkinds = ["wireguard", "nginx", "iptables", "fail2ban", "files"]\n'
            '[files]\npaths = ["/var/lib/bench-dumps/docker-networks.json"]\n'
        )
        self.env.update(
            DRTOOL_ROOT=str(root),
            DRTOOL_NETNS=netns,
            DRTOOL_CONFIG=str(config),
            DRTOOL_PASSWORD=PASSPHRASE,
            DRTOOL_HOST="bench",
        )

    def _drtool(self, repo: Path, *arguments: str) -> list[str]:
        return [sys.executable, "-m", "drtool", "--repo", str(repo), *arguments]

    def init(self, repo: Path) -> None:
        subprocess.run(self._drtool(repo, "init"), env=self.env, check=True, capture_output=True)

    def backup(self, repo: Path) -> list[str]:
        return self._drtool(repo, "backup")

    def restore(self, repo: Path, target: Path) -> tuple[list[str], Path | None]:
        return self._drtool(repo, "restore", "latest", "--target", str(target)), None


# drtool's own state under the host root (format 2's files cache): not the peers' to back up.
STATE = "var/lib/drtool"


class Restic(Tool):
    name = "restic"

    def __init__(self, work: Path, root: Path, netns: str) -> None:
        super().__init__(work, root, netns)
        self.env.update(RESTIC_PASSWORD=PASSPHRASE, RESTIC_CACHE_DIR=str(work / "restic-cache"))

    def init(self, repo: Path) -> None:
        subprocess.run(
            ["restic", "init", "--repo", str(repo)], env=self.env, check=True, capture_output=True
        )

    def backup(self, repo: Path) -> list[str]:
        return [
            "restic", "--repo", str(repo), "backup", "--quiet",
            "--exclude", str(self.root / STATE), str(self.root),
        ]  # fmt: skip

    def restore(self, repo: Path, target: Path) -> tuple[list[str], Path | None]:
        return ["restic", "--repo", str(repo), "restore", "latest", "--target", str(target)], None


class Borg(Tool):
    name = "borg"

    def __init__(self, work: Path, root: Path, netns: str) -> None:
        super().__init__(work, root, netns)
        self.env.update(
            BORG_PASSPHRASE=PASSPHRASE,
            BORG_BASE_DIR=str(work / "borg-home"),
            BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes",
        )

    def init(self, repo: Path) -> None:
        subprocess.run(
            ["borg", "init", "--encryption=repokey", str(repo)],
            env=self.env,
            check=True,
            capture_output=True,
        )

    def backup(self, repo: Path) -> list[str]:
        return [
            "borg", "create", "--exclude", str(self.root / STATE),
            f"{repo}::{secrets.token_hex(6)}", str(self.root),
        ]  # fmt: skip

    def restore(self, repo: Path, target: Path) -> tuple[list[str], Path | None]:
        listing = subprocess.run(
            ["borg", "list", "--last", "1", "--short", str(repo)],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return ["borg", "extract", f"{repo}::{listing.stdout.strip()}"], target


def available_tools(work: Path, root: Path, netns: str) -> list[Tool]:
    tools: list[Tool] = [Drtool(work, root, netns)]
    tools += [
        kind(work, root, netns)
        for kind, binary in ((Restic, "restic"), (Borg, "borg"))
        if shutil.which(binary)
    ]
    return tools


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
        figures: dict[str, dict[str, Any]] = {tool.name: {} for tool in tools}

        def measure(metric: str, step: Callable[[Tool, int], Sample]) -> None:
            samples: dict[str, list[Sample]] = {tool.name: [] for tool in tools}
            for repetition in range(repetitions):
                for tool in tools:  # alternating, so drift hits every tool alike
                    samples[tool.name].append(step(tool, repetition))
            for tool in tools:
                taken = samples[tool.name]
                figures[tool.name][metric] = summary([s.seconds for s in taken])
                figures[tool.name][f"{metric}_peak_mib"] = max(s.peak_mib for s in taken)
                figures[tool.name][f"{metric}_cpu"] = summary([s.cpu_seconds for s in taken])

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

        measure("restore_s", restore)

        for tool in tools:
            repo = tool.repository("nightly")
            tool.init(repo)
        for night in range(nightly):
            churn(root, 0.01, seed=1000 + night)
            load_firewall(netns, root)
            for tool in tools:
                timed(tool.backup(tool.repository("nightly")), tool.env)
        for tool in tools:
            figures[tool.name][f"repository_bytes_after_{nightly}_nights"] = directory_size(
                tool.repository("nightly")
            )
        return {"shape": shape.__dict__, "figures": figures, "source_bytes": directory_size(root)}
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)
        shutil.rmtree(work, ignore_errors=True)


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


def ratios(figures: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    for ours in ("drtool",):  # the tool measured, against each peer
        for other in ("restic", "borg"):
            if other not in figures or ours not in figures:
                continue
            result[f"{ours}/{other}"] = {
                metric: round(value["median"] / figures[other][metric]["median"], 3)
                if isinstance(value, dict)
                else round(value / figures[other][metric], 3)
                for metric, value in figures[ours].items()
                if not metric.endswith("_peak_mib") and metric in figures[other]
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
                if isinstance(value, dict):
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


def _previous_hosts() -> dict[str, Any]:
    try:
        return dict(json.loads(RESULTS.read_text()).get("hosts", {}))
    except (OSError, ValueError):
        return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--hosts", default="typical,large", help=f"Comma-separated, of {', '.join(SHAPES)}."
    )
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--nightly", type=int, default=30)
    arguments = parser.parse_args()
    hosts = arguments.hosts.split(",")
    command = " ".join(["python", "-m", "bench", *sys.argv[1:]])
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "date": date,
        "command": command,
        "tools": versions(),
        # A host not measured in this run (huge, run on its own) keeps its figures, dated.
        "hosts": {name: data for name, data in _previous_hosts().items() if name not in hosts},
    }
    for host in hosts:
        data = bench_host(host, arguments.repetitions, arguments.nightly)
        data.update(ratios=ratios(data["figures"]), date=date, command=command)
        results["hosts"][host] = data
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")  # a late failure loses nothing
    results["startup"] = startup_times()  # bench/startup.py: hyperfine's way, 30 runs
    results["s3_requests"] = s3_requests()
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
