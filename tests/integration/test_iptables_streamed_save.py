"""The rules the firewall kind reads from iptables-save's pipe, a line at a time, are byte for byte
iptables-save's own output (read whole, by the tests) with its comments and counters dropped, and
they load back into a fresh namespace as they were, with the real iptables of each backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from drtool import iptables_rules as rules
from drtool.collectors.iptables import IptablesCollector
from drtool.host import Host
from drtool.runner import Runner
from tests.support.netns import network_namespace, run_in

RULES = 5_000
BACKENDS = [
    pytest.param(backend, marks=pytest.mark.real_parts(f"iptables-{backend}", "netns"))
    for backend in ("nft", "legacy")
]


def ruleset() -> str:
    lines = ["*filter", ":INPUT DROP [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]"]
    lines += [":blocked - [0:0]", "-A INPUT -i lo -j ACCEPT", "-A INPUT -j blocked"]
    lines += [f"-A blocked -s 10.{i // 256}.{i % 256}.0/24 -j DROP" for i in range(RULES)]
    lines += ["COMMIT", "*nat", ":POSTROUTING ACCEPT [0:0]"]
    lines += ["-A POSTROUTING -s 10.0.0.0/8 -j MASQUERADE", "COMMIT"]
    return "\n".join(lines) + "\n"


def tables(text: str) -> list[str]:
    return sorted(text.split("COMMIT\n"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_streamed_rules_are_iptables_save_s_and_load_back(
    netns: str, tmp_path: Path, backend: str
) -> None:
    run_in(netns, f"iptables-{backend}-restore", input_text=ruleset())
    saved = run_in(netns, f"iptables-{backend}-save")
    read = IptablesCollector._save(Host(tmp_path, "fw-1", Runner(netns=netns)), backend, "v4")
    expected = "".join(
        line + "\n"
        for line in saved.splitlines()
        if line and not line.startswith("#")  # counters are all [0:0] here
    )
    assert read.decode() == expected
    assert read.count(b"\n-A blocked ") == RULES
    with network_namespace() as fresh:
        run_in(fresh, f"iptables-{backend}-restore", input_text=read.decode())
        again = rules.normalise(run_in(fresh, f"iptables-{backend}-save"))
    assert tables(again) == tables(read.decode())  # legacy prints tables in load order
