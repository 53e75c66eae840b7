"""Seeded, deterministic host datasets for the benchmark: ``typical`` and ``large``.

A host is a root directory (nginx tree, WireGuard interfaces, fail2ban tree) plus the live
state drtool reads with commands: an iptables ruleset (v4 and v6) and docker network specs.
For restic and borg the same live state is dumped to files under the root, as operators do.
"""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Shape:
    name: str
    vhosts: int
    snippets: int
    geo_map_bytes: int
    map_files: int
    rules: int
    networks: int
    interfaces: int
    peers: int


SHAPES = {
    # ~200 files, a 1 MB geo map, 2,000 rules per family, 10 networks, 3 interfaces, 50 peers
    "typical": Shape("typical", 150, 40, 1_000_000, 5, 2_000, 10, 3, 50),
    # 20,000 files (~100 MB), 50,000 rules, 200 networks, 1,000 peers
    "large": Shape("large", 15_000, 4_000, 20_000_000, 990, 50_000, 200, 4, 1_000),
    # 10x large, never in the default run (--hosts huge): 200,000 files, 500,000 rules per
    # family, 2,000 networks, 10,000 peers; ~1 GB of source and minutes per tool and figure
    "huge": Shape("huge", 150_000, 40_000, 200_000_000, 9_900, 500_000, 2_000, 40, 10_000),
}


def _key(rng: random.Random) -> str:
    import base64

    return base64.b64encode(rng.randbytes(32)).decode()


def _vhost(index: int, rng: random.Random) -> str:
    upstream = f"172.21.{index // 250 % 250}.{index % 250 + 2}"
    return (
        f"server {{\n    listen 80;\n    server_name site{index}.example;\n"
        f"    limit_req zone=api_limit burst={rng.randint(5, 50)} nodelay;\n"
        f"    location / {{ proxy_pass http://{upstream}:8000; }}\n"
        f"    location /admin/ {{ allow 203.0.113.0/24; deny all; }}\n}}\n"
    )


def generate(shape: Shape, root: Path, seed: int = 7) -> None:
    """Write the host ``shape`` under ``root`` (its files and its dumps)."""
    rng = random.Random(seed)
    nginx = root / "etc/nginx"
    for directory in ("sites-available", "sites-enabled", "snippets", "maps", "conf.d"):
        (nginx / directory).mkdir(parents=True, exist_ok=True)
    (nginx / "nginx.conf").write_text(
        "events { worker_connections 1024; }\nhttp {\n    include conf.d/*.conf;\n"
        "    include sites-enabled/*;\n}\n"
    )
    (nginx / "conf.d/limits.conf").write_text(
        "limit_req_zone $binary_remote_addr zone=api_limit:10m rate=60r/m;\n"
    )
    for index in range(shape.vhosts):
        (nginx / f"sites-available/site{index}").write_text(_vhost(index, rng))
        if index % 3 == 0:
            (nginx / f"sites-enabled/site{index}").symlink_to(f"../sites-available/site{index}")
    for index in range(shape.snippets):
        (nginx / f"snippets/allow{index}.conf").write_text(
            "".join(
                f"allow 198.51.{rng.randint(0, 255)}.{rng.randint(0, 255)};\n"
                for _ in range(rng.randint(5, 40))
            )
        )
    per_map = shape.geo_map_bytes // shape.map_files
    for index in range(shape.map_files):
        lines, size = [], 0
        while size < per_map:
            line = (
                f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24 "
                f"{rng.choice(['FR', 'DE', 'US', 'BR', 'JP', 'IN'])};\n"
            )
            lines.append(line)
            size += len(line)
        (nginx / f"maps/geo{index}.map").write_text("".join(lines))

    wireguard = root / "etc/wireguard"
    wireguard.mkdir(parents=True, exist_ok=True, mode=0o700)
    peers_each = shape.peers // shape.interfaces
    for interface in range(shape.interfaces):
        text = (
            f"[Interface]\nPrivateKey = {_key(rng)}\nAddress = 10.{interface}.0.1/16\n"
            f"ListenPort = {51820 + interface}\n"
        )
        for peer in range(peers_each):
            text += (
                f"\n[Peer]\nPublicKey = {_key(rng)}\n"
                f"AllowedIPs = 10.{interface}.{peer // 250}.{peer % 250 + 2}/32\n"
            )
        path = wireguard / f"wg{interface}.conf"
        path.write_text(text)
        path.chmod(0o600)

    fail2ban = root / "etc/fail2ban"
    (fail2ban / "filter.d").mkdir(parents=True, exist_ok=True)
    (fail2ban / "jail.local").write_text(
        "[sshd]\nenabled = true\nmaxretry = 3\nbantime = 3600\n\n[nginx-limit-req]\n"
        "enabled = true\nfilter = nginx-limit-req\nlogpath = /var/log/nginx/error.log\n"
    )
    for index in range(10):
        (fail2ban / f"filter.d/custom{index}.conf").write_text(
            f'[Definition]\nfailregex = ^<HOST> .* "GET /probe{index}\n'
        )

    dumps = root / "var/lib/bench-dumps"
    dumps.mkdir(parents=True, exist_ok=True)
    (dumps / "iptables.v4").write_text(ruleset(shape, rng, 4))
    (dumps / "iptables.v6").write_text(ruleset(shape, rng, 6))
    (dumps / "docker-networks.json").write_text(json.dumps(networks(shape), indent=2))


def ruleset(shape: Shape, rng: random.Random, family: int) -> str:
    """A country block list and the seed's rules, as iptables-save prints them."""
    lines = [
        "*filter",
        ":INPUT DROP [0:0]",
        ":FORWARD DROP [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        "-A INPUT -i lo -j ACCEPT",
        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT",
        "-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT",
    ]
    for index in range(shape.rules):
        if family == 4:
            source = f"{rng.randint(1, 223)}.{index // 256 % 256}.{index % 256}.0/24"
        else:
            source = f"2001:db8:{index // 65536:x}:{index % 65536:x}::/64"
        lines.append(f"-A INPUT -s {source} -j DROP")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def networks(shape: Shape) -> list[dict]:
    return [
        {
            "Name": f"project{index}_net",
            "Driver": "bridge",
            "IPAM": {"Config": [{"Subnet": f"172.{20 + index // 250}.{index % 250}.0/24"}]},
            "Internal": index % 2 == 0,
            "Options": {},
            "Labels": {},
        }
        for index in range(shape.networks)
    ]


def churn(root: Path, fraction: float, seed: int) -> None:
    """Change ``fraction`` of the nginx files and of the v4 rules, deterministically."""
    rng = random.Random(seed)
    files = sorted(
        path for path in (root / "etc/nginx").rglob("*") if path.is_file() and not path.is_symlink()
    )
    for path in rng.sample(files, max(1, int(len(files) * fraction))):
        with path.open("a") as handle:
            handle.write(f"# churn {seed}\n")
    rules_path = root / "var/lib/bench-dumps/iptables.v4"
    lines = rules_path.read_text().splitlines()
    rule_lines = [index for index, line in enumerate(lines) if line.startswith("-A INPUT -s ")]
    for index in rng.sample(rule_lines, max(1, int(len(rule_lines) * fraction))):
        lines[index] = f"-A INPUT -s 192.0.{rng.randint(0, 255)}.{rng.randint(0, 255)}/32 -j DROP"
    rules_path.write_text("\n".join(lines) + "\n")


def load_firewall(netns: str, root: Path) -> None:
    """Make the dumped rules the live rules of the bench's network namespace."""
    dumps = root / "var/lib/bench-dumps"
    for program, name in (
        ("iptables-restore", "iptables.v4"),
        ("ip6tables-restore", "iptables.v6"),
    ):
        rules = (dumps / name).read_bytes()
        subprocess.run(
            ["ip", "netns", "exec", netns, program], input=rules, check=True, capture_output=True
        )
