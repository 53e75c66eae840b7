"""The real services the tests run from a sandbox root: nginx on 127.0.0.1, a fail2ban server
in a test namespace, WireGuard keys and configs. Shared by the per-kind integration tests and
the restore engine's failure matrix."""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from drtool.config import ServiceSettings
from drtool.services import child_pids, read_pid
from tests.support.netns import run_in
from tests.support.ports import free_port

NGINX_CONFIG = """\
worker_processes 1;
pid {root}/run/nginx.pid;
error_log {root}/log/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {root}/log/access.log;
    client_body_temp_path {root}/run/body;
    proxy_temp_path {root}/run/proxy;
    fastcgi_temp_path {root}/run/fastcgi;
    uwsgi_temp_path {root}/run/uwsgi;
    scgi_temp_path {root}/run/scgi;
    include conf.d/*.conf;
    include sites-enabled/*;
}}
"""
# The same question as Nginx.answer's, asked from inside a namespace.
_ASK = """
import sys, time, urllib.request
deadline = time.monotonic() + 10
while True:
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
            print(response.read().decode().strip())
            break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.1)
"""
NGINX_SITE = """\
server {{
    listen 127.0.0.1:{port};
    location /health {{ return 200 "{answer}\\n"; }}
}}
"""


@dataclass
class Nginx:
    """An nginx master running from ``root``/etc/nginx, answering on 127.0.0.1:``port``
    (``port=0``: one picked free), in the network namespace ``namespace`` if given (drtool
    probes it from there)."""

    root: Path
    port: int
    namespace: str | None = None

    @property
    def conf(self) -> Path:
        return self.root / "etc/nginx/nginx.conf"

    def start(self, answer: str = "v1") -> None:
        """Write a complete configuration whose /health answers ``answer``, and start nginx."""
        self.port = self.port or free_port()
        for directory in ("conf.d", "sites-available", "sites-enabled"):
            (self.root / "etc/nginx" / directory).mkdir(parents=True, exist_ok=True)
        for directory in ("run", "log", "tmp"):
            (self.root / directory).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(NGINX_CONFIG.format(root=self.root))
        (self.root / "etc/nginx/conf.d/limits.conf").write_text(
            "limit_req_zone $binary_remote_addr zone=api_limit:1m rate=60r/m;\n"
        )
        (self.root / "etc/nginx/sites-enabled/app").symlink_to("../sites-available/app")
        for attempt in range(5):
            self.write_site(answer)
            try:
                self.nginx()
                break
            except subprocess.CalledProcessError as failed:
                # The port was free when picked; another process may have taken it since.
                if b"Address already in use" not in failed.stderr or attempt == 4:
                    raise
                self.port = free_port()
        assert self.answer() == answer

    def stop(self) -> None:
        master = read_pid(self.root / "run/nginx.pid")
        if master:
            subprocess.run(["kill", f"-{signal.SIGQUIT.value}", str(master)], check=False)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{master}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)

    def _in_namespace(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *argv] if self.namespace else list(argv)

    def nginx(self, *arguments: str) -> None:
        subprocess.run(
            self._in_namespace("nginx", "-c", str(self.conf), *arguments),
            check=True,
            capture_output=True,
            timeout=30,
        )

    def answer(self) -> str:
        url = f"http://127.0.0.1:{self.port}/health"
        if self.namespace:
            return run_in(self.namespace, sys.executable, "-c", _ASK, url).strip()
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    return response.read().decode().strip()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def reload_until(self, answer: str) -> None:
        """Reload, and wait until the old workers are gone: until then one of them may still
        accept a connection and answer from the old configuration."""
        master = read_pid(self.root / "run/nginx.pid")
        old_workers = child_pids(master) if master else set()
        self.nginx("-s", "reload")
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in old_workers) or self.answer() != answer:
            assert time.monotonic() < deadline, f"nginx never answered {answer!r} alone"
            time.sleep(0.1)

    def write_site(self, answer: str) -> None:
        site = self.root / "etc/nginx/sites-available/app"
        site.write_text(NGINX_SITE.format(port=self.port, answer=answer))

    def service(self, restart: str | None = None) -> ServiceSettings:
        return ServiceSettings(
            restart=restart or f"nginx -c {self.conf} -s reload",
            pid_file=str(self.root / "run/nginx.pid"),
            error_log=str(self.root / "log/error.log"),
            health_url=f"http://127.0.0.1:{self.port}/health",
        )


JAILS = """\
[sshd]
enabled = true
backend = polling
maxretry = 3
bantime = 3600
logpath = {auth_log}

[nginx-limit-req]
enabled = true
backend = polling
filter = nginx-limit-req
logpath = {nginx_log}
maxretry = 10
"""


def copy_shipped_tree(package: str, tree: Path, destination: Path) -> None:
    """Copy the files Debian's ``package`` ships under ``tree`` (``dpkg -L``), not whatever else
    this machine holds there (a jail.local, a jail.d/*.local); a shipped file edited on this
    machine (its md5 differs from dpkg's) is refused, so every run starts from the same tree."""
    listed = subprocess.run(
        ["dpkg-query", "-L", package], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    sums = subprocess.run(
        ["dpkg-query", "-W", "-f=${Conffiles}", package], capture_output=True, text=True, check=True
    ).stdout.split()
    expected = dict(zip(sums[0::2], sums[1::2], strict=True))
    for name in sorted(listed):
        source = Path(name)
        if source != tree and tree not in source.parents:
            continue
        target = destination / source.relative_to(tree)
        if source.is_dir() and not source.is_symlink():
            target.mkdir(parents=True, exist_ok=True)
            continue
        if name in expected and hashlib.md5(source.read_bytes()).hexdigest() != expected[name]:
            raise RuntimeError(f"{name} was edited on this machine; reinstall {package}")
        shutil.copy2(source, target, follow_symlinks=False)


@dataclass
class Fail2ban:
    """A fail2ban server from Debian's configuration copied into ``root``, with its own socket,
    pid and database, running in the network namespace ``namespace``."""

    root: Path
    namespace: str

    @property
    def config(self) -> Path:
        return self.root / "etc/fail2ban"

    def start(self) -> None:
        (self.root / "etc").mkdir(parents=True, exist_ok=True)
        copy_shipped_tree("fail2ban", Path("/etc/fail2ban"), self.config)
        for directory in ("var/log/nginx", "run"):
            (self.root / directory).mkdir(parents=True, exist_ok=True)
        (self.root / "var/log/auth.log").touch()
        (self.root / "var/log/nginx/error.log").touch()
        (self.config / "fail2ban.local").write_text(
            "[Definition]\n"
            f"logtarget = {self.root}/var/log/fail2ban.log\n"
            f"socket = {self.root}/run/fail2ban.sock\n"
            f"pidfile = {self.root}/run/fail2ban.pid\n"
            f"dbfile = {self.root}/run/fail2ban.sqlite3\n"
        )
        self.write_jails(self.root / "var/log/nginx/error.log")
        self.client("start")
        assert "pong" in self.client("ping")

    def stop(self) -> None:
        client = ["fail2ban-client", "-c", str(self.config)]
        subprocess.run(
            ["ip", "netns", "exec", self.namespace, *client, "stop"],
            capture_output=True,
            check=False,
            timeout=60,
        )

    def client(self, *arguments: str) -> str:
        return run_in(self.namespace, "fail2ban-client", "-c", str(self.config), *arguments)

    def write_jails(self, nginx_log: Path, extra: str = "") -> None:
        (self.config / "jail.local").write_text(
            JAILS.format(auth_log=self.root / "var/log/auth.log", nginx_log=nginx_log) + extra
        )

    def service(self) -> ServiceSettings:
        client = f"fail2ban-client -c {self.config}"
        return ServiceSettings(restart=f"{client} reload", health_command=f"{client} ping")


def wireguard_keypair() -> tuple[str, str]:
    private = subprocess.run(["wg", "genkey"], capture_output=True, text=True, check=True).stdout
    public = subprocess.run(
        ["wg", "pubkey"], input=private, capture_output=True, text=True, check=True
    ).stdout
    return private.strip(), public.strip()


def wireguard_config(private: str, address: str, peers: list[tuple[str, str]]) -> str:
    text = f"[Interface]\nPrivateKey = {private}\nAddress = {address}\nListenPort = 51820\n"
    for public, allowed in peers:
        text += f"\n[Peer]\nPublicKey = {public}\nAllowedIPs = {allowed}\n"
    return text
