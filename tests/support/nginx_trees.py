"""Public nginx trees nobody on the project wrote (tests/data/nginx, each with its SOURCE.md),
installed on a sandbox host root, with a real nginx running from that root.

The nginx runs in a mount namespace of its own where the root's ``etc``, ``run`` and ``var`` are
bound over ``/etc``, ``/run`` and ``/var``, and in a test network namespace: the trees' absolute
paths (``/etc/nginx/...``, ``/etc/ssl/...``, ``/run/nginx.pid``, ``/var/log/nginx``,
``/var/lib/nginx``) and their listen ports (80, 443) work unchanged, and the machine's own are
never touched. ``etc`` is bound whole, not ``etc/nginx`` alone, so that a restore swapping the
tree in (a rename) is seen by the running nginx at its next reload.
"""

from __future__ import annotations

import contextlib
import datetime
import grp
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from drtool.services import read_pid
from tests.support.netns import network_namespace, run_in

DATA = Path(__file__).resolve().parent.parent / "data" / "nginx"
# What nginx itself needs from /etc once the sandbox's etc is bound over it: the user it runs
# as (getpwnam: passwd, group, nsswitch.conf) and the dynamic loader's cache. Copied from the
# machine into the sandbox; never backed up.
SYSTEM_FILES = ("passwd", "group", "nsswitch.conf", "ld.so.cache")
# Asks nginx from inside the test namespace: "<status> <Location header or body>", waiting up
# to 10 s for the expected answer (old workers may answer for a moment after a reload).
_ASK = """
import http.client, ssl, sys, time
port, scheme, expected = int(sys.argv[1]), sys.argv[2], sys.argv[3]
deadline = time.monotonic() + 10
while True:
    try:
        if scheme == "https":
            context = ssl._create_unverified_context()
            connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=2, context=context)
        else:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read().decode(errors="replace").strip()
        answer = f"{response.status} {response.getheader('Location') or body}"
    except OSError as error:
        answer = type(error).__name__
    if answer == expected or time.monotonic() > deadline:
        print(answer)
        break
    time.sleep(0.1)
"""


@dataclass(frozen=True)
class Damage:
    """The incident: one edit of a live file, a rogue server added (ROGUE), an unused file
    deleted, and the tree's private key left world-readable."""

    edited: str  # host path
    old: str
    new: str
    deleted: str


ROGUE = "/etc/nginx/conf.d/rogue.conf"
ROGUE_SERVER = 'server { listen 127.0.0.1:8080; return 200 "rogue"; }\n'


@dataclass(frozen=True)
class Tree:
    """One public tree: where its data lives, what it needs beyond its files, how it answers."""

    name: str
    empty_dirs: tuple[str, ...]  # directories the source ships empty (git keeps none)
    certificate: str  # host paths of the throwaway certificate and key made at test time
    key: str
    files: tuple[str, ...]  # the [files] paths of drtool.toml
    answer: str  # what https://127.0.0.1/ answers
    damage: Damage
    damaged_answer: str

    @property
    def source(self) -> Path:
        return DATA / self.name


H5BP = Tree(
    name="h5bp",
    empty_dirs=(),
    certificate="/etc/nginx/certs/default.crt",
    key="/etc/nginx/certs/default.key",
    files=(),
    answer="301 https://example.com/",
    damage=Damage(
        edited="/etc/nginx/conf.d/example.com.conf",
        old="return 301 $scheme://example.com$request_uri;",
        new="return 301 https://attacker.example.net/;",
        deleted="/etc/nginx/h5bp/tls/policy_strict.conf",
    ),
    damaged_answer="301 https://attacker.example.net/",
)
DEBIAN = Tree(
    name="debian-bookworm",
    empty_dirs=("etc/nginx/conf.d", "etc/nginx/modules-available", "etc/nginx/modules-enabled"),
    certificate="/etc/ssl/certs/ssl-cert-snakeoil.pem",
    key="/etc/ssl/private/ssl-cert-snakeoil.key",
    files=("/etc/ssl/certs/ssl-cert-snakeoil.pem", "/etc/ssl/private/ssl-cert-snakeoil.key"),
    answer="200 served from the sandbox",
    damage=Damage(
        edited="/etc/nginx/sites-available/default",
        old="try_files $uri $uri/ =404;",
        new='return 200 "damaged";',
        deleted="/etc/nginx/snippets/fastcgi-php.conf",
    ),
    damaged_answer="200 damaged",
)
# The lines of Debian's default site that enable TLS with the snakeoil snippet (SOURCE.md).
TLS_LINES = (
    "listen 443 ssl default_server;",
    "listen [::]:443 ssl default_server;",
    "include snippets/snakeoil.conf;",
)
FRESH_ANSWER = "200 served from the sandbox"  # a fresh Debian host, on port 80


def install(tree: Tree, root: Path) -> None:
    """The tree at ``root``/etc/nginx, its certificate and key made now (never stored), on a
    sandbox host nginx can run from."""
    _copy_tree(tree, root)
    _self_signed(root / tree.certificate.lstrip("/"), root / tree.key.lstrip("/"))


def install_fresh_debian(root: Path) -> None:
    """A replacement host as Debian installs it: nginx-common's tree with its default site as
    shipped (the TLS lines commented again), no certificate; it answers on port 80."""
    _copy_tree(DEBIAN, root)
    site = root / "etc/nginx/sites-available/default"
    text = site.read_text()
    for line in TLS_LINES:
        assert f"\t{line}\n" in text
        text = text.replace(f"\t{line}\n", f"\t# {line}\n")
    site.write_text(text)


def _copy_tree(tree: Tree, root: Path) -> None:
    """The tree's files, the directories nginx writes to, and the system files nginx needs
    from /etc."""
    shutil.copytree(tree.source / "etc", root / "etc", symlinks=True)
    for directory in tree.empty_dirs:
        (root / directory).mkdir(parents=True, exist_ok=True)
    for directory in ("run", "var/log/nginx", "var/lib/nginx", "var/www/html"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "var/run").symlink_to("/run")  # as on Debian, where pid /var/run/... lands in /run
    (root / "var/www/html/index.html").write_text("served from the sandbox\n")
    for name in SYSTEM_FILES:
        shutil.copy2(Path("/etc", name), root / "etc" / name)


def _self_signed(certificate: Path, key: Path) -> None:
    """A throwaway self-signed certificate, with the key's directory and modes as Debian's
    make-ssl-cert leaves them (0640 root:ssl-cert under a 0710 directory) where that group
    exists, else 0600 root."""
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com")])
    now = datetime.datetime.now(datetime.UTC)
    issued = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(private, hashes.SHA256())
    )
    certificate.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    certificate.write_bytes(issued.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    try:
        group = grp.getgrnam("ssl-cert").gr_gid
    except KeyError:
        key.chmod(0o600)
        return
    shutil.chown(key, 0, group)
    key.chmod(0o640)
    if key.parent.name == "private":
        shutil.chown(key.parent, 0, group)
        key.parent.chmod(0o710)


def drtool_toml(tree: Tree, root: Path) -> str:
    """The operator's drtool.toml: the nginx tree and the [files] it depends on; nginx reloaded
    by a signal to the sandbox's master (nothing else names that master)."""
    pid_file = root / "run/nginx.pid"
    text = '[backup]\nkinds = ["nginx", "files"]\n'
    if tree.files:
        text += "[files]\npaths = [" + ", ".join(f'"{path}"' for path in tree.files) + "]\n"
    return text + (
        "[services.nginx]\n"
        f'restart = "kill -HUP $(cat {pid_file})"\n'
        f'pid_file = "{pid_file}"\n'
        f'error_log = "{root}/var/log/nginx/error.log"\n'
    )


@dataclass
class SandboxNginx:
    """nginx running from ``root`` in the network namespace ``namespace``."""

    root: Path
    namespace: str
    master: int | None = None  # a reload keeps it, even where the pid file goes (drtool's nginx)

    def start(self) -> None:
        binds = " && ".join(
            f'mount --bind "{self.root / name}" /{name}' for name in ("etc", "run", "var")
        )
        run_in(
            self.namespace,
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            f"{binds} && exec nginx",
        )
        self.master = read_pid(self.root / "run/nginx.pid")

    def stop(self) -> None:
        master = read_pid(self.root / "run/nginx.pid") or self.master
        if master is None:
            return
        subprocess.run(["kill", f"-{signal.SIGQUIT.value}", str(master)], check=False)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{master}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def reload(self) -> None:
        master = read_pid(self.root / "run/nginx.pid") or self.master
        assert master, "the sandbox's nginx is not running"
        subprocess.run(["kill", "-HUP", str(master)], check=True)

    def ask(self, port: int = 443, scheme: str = "https", expected: str = "") -> str:
        """What nginx answers on 127.0.0.1:``port`` (waiting up to 10 s for ``expected``)."""
        return run_in(
            self.namespace, sys.executable, "-c", _ASK, str(port), scheme, expected
        ).strip()


@contextlib.contextmanager
def serving(root: Path, answer: str, port: int = 443, scheme: str = "https") -> Iterator:
    """A real nginx serving the host at ``root`` in a test namespace, answering ``answer``;
    stopped, and the namespace deleted, afterwards whatever happened."""
    with network_namespace() as namespace:
        run_in(namespace, "ip", "link", "set", "lo", "up")
        nginx = SandboxNginx(root, namespace)
        try:
            nginx.start()
            assert nginx.ask(port, scheme, answer) == answer
            yield nginx
        finally:
            nginx.stop()
