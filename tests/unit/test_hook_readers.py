"""The hook readers, on configurations written as their tools read them."""

from __future__ import annotations

from pathlib import Path

import pytest

from drtool.hooks import iptables_modprobe_hooks, wireguard_hooks
from drtool.nginx_config import NginxConfigError, dependencies, hooks
from drtool.nginx_writes import outside_writes, root_workers


def _tree(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_nginx_hooks_through_quoted_tokens_globbed_includes_and_comments(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "etc/nginx/nginx.conf": (
                "# load_module /etc/nginx/commented.so;\n"
                "load_module modules/ngx_stream_module.so;\n"
                "include /etc/nginx/mod*-enabled/*.conf;\n"
                "http { server { content_by_lua_block { ngx.say(1) } } }\n"
            ),
            "etc/nginx/modules-enabled/10-evil.conf": 'load_module "/etc/nginx/x\\".so";\n',
            "etc/nginx/modules-enabled/20-perl.conf": "perl_modules /etc/nginx/perl;\n",
        },
    )
    found = hooks(root, ("etc/nginx",), "/etc/nginx/nginx.conf")
    assert found == [
        '/etc/nginx/modules-enabled/10-evil.conf:1: load_module /etc/nginx/x".so '
        "(a module from outside /usr/lib/nginx/modules)",
        "/etc/nginx/modules-enabled/20-perl.conf:1: perl_modules (runs code of the snapshot's)",
        "/etc/nginx/nginx.conf:4: content_by_lua_block (runs code of the snapshot's)",
    ]


def test_a_module_the_snapshot_brings_into_the_module_directory_is_a_hook(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"etc/nginx/nginx.conf": "load_module /usr/lib/nginx/modules/x.so;\n"})
    assert hooks(root, ("etc/nginx", "usr/lib/nginx/modules/x.so"), "/etc/nginx/nginx.conf")
    assert not hooks(root, ("etc/nginx",), "/etc/nginx/nginx.conf")


def test_a_link_never_leads_out_of_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside.conf"
    outside.write_text("load_module /tmp/outside.so;\n")
    root = _tree(tmp_path / "tree", {"etc/nginx/nginx.conf": "include /etc/nginx/link.conf;\n"})
    (root / "etc/nginx/link.conf").symlink_to(outside)  # absolute: resolved inside the tree
    assert hooks(root, ("etc/nginx",), "/etc/nginx/nginx.conf") == []


def test_a_control_character_is_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"etc/nginx/nginx.conf": "user\x1bwww;\n"})
    with pytest.raises(NginxConfigError, match=r"nginx\.conf:1: control character"):
        hooks(root, ("etc/nginx",), "/etc/nginx/nginx.conf")


def test_dependencies_outside_the_tree(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {"etc/nginx/nginx.conf": "http { ssl_certificate /etc/ssl/a.pem; ssl_certificate $x; }\n"},
    )
    found = [(d.where, path) for d, path in dependencies(root, "/etc/nginx/nginx.conf")]
    assert found == [("/etc/nginx/nginx.conf:1", "/etc/ssl/a.pem")]


def test_wireguard_hooks_are_read_as_wg_quick_reads_them() -> None:
    text = (
        "[Interface]\nPrivateKey = x\n  postup=touch /tmp/a # comment\n#PreUp = no\n"
        "[Peer]\nPostUp = not read by wg-quick here\n"
    )
    assert wireguard_hooks(text, "/etc/wireguard/wg0.conf") == [
        "/etc/wireguard/wg0.conf:3: postup (a command wg-quick runs as root)"
    ]


def test_iptables_modprobe() -> None:
    rules = "*filter\n-A INPUT -p tcp --modprobe=/tmp/x -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n"
    assert iptables_modprobe_hooks(rules, "v4.rules") == [
        "v4.rules:2: --modprobe (a program iptables-restore runs as root)"
    ]


def test_an_openssl_engine_or_store_in_any_key_directive_is_a_hook(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "etc/nginx/nginx.conf": (
                "http { server {\n"
                "ssl_certificate_key /etc/nginx/key.pem;\n"
                "proxy_ssl_certificate_key engine:/etc/nginx/e.so:id;\n"
                'ssl_password_file "store:file:/etc/nginx/p";\n'
                "} }\n"
            ),
        },
    )
    found = hooks(root, ("etc/nginx",), "/etc/nginx/nginx.conf")
    assert [hook.split(": ")[0] for hook in found] == [
        "/etc/nginx/nginx.conf:3",
        "/etc/nginx/nginx.conf:4",
    ]


def test_nginx_writes_outside_its_own_directories_are_hooks(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "etc/nginx/nginx.conf": (
                "pid /run/nginx.pid;\n"
                "error_log /var/log/nginx/error.log warn;\n"
                "http {\n"
                "access_log off;\n"
                "access_log syslog:server=unix:/dev/log;\n"
                "access_log /var/log/nginx/$host.log;\n"
                "client_body_temp_path /var/lib/nginx/body;\n"
                "access_log /etc/cron.d/x cron;\n"
                "access_log /var/log/nginx/../../../etc/cron.d/y;\n"
                "access_log /etc/nginx/lnk/z;\n"
                "proxy_temp_path /tmp/proxy;\n"
                "error_log logs/error.log;\n"
                "}\n"
            ),
        },
    )
    (root / "etc/nginx/lnk").symlink_to("/var/log/nginx/../../../etc/cron.d")
    found = outside_writes(root, ("etc/nginx",), "/etc/nginx/nginx.conf")
    assert [hook.split(" (")[0] for hook in found] == [
        "/etc/nginx/nginx.conf:8: access_log /etc/cron.d/x",
        "/etc/nginx/nginx.conf:9: access_log /var/log/nginx/../../../etc/cron.d/y",
        "/etc/nginx/nginx.conf:10: access_log /etc/nginx/lnk/z",
        "/etc/nginx/nginx.conf:11: proxy_temp_path /tmp/proxy",
        "/etc/nginx/nginx.conf:12: error_log logs/error.log",
    ]


def test_an_environment_that_loads_code_and_root_workers_are_hooks(tmp_path: Path) -> None:
    conf = (
        "env TZ; env PATH=/usr/bin; env LD_PRELOAD=/etc/nginx/x.so;\n"
        'env "OPENSSL_CONF=/etc/nginx/o.cnf";\n'
        "user www-data; user root; user nobody root; master_process OFF; master_process on;\n"
    )
    root = _tree(tmp_path, {"etc/nginx/nginx.conf": conf})
    found = hooks(root, ("etc/nginx",), "/etc/nginx/nginx.conf")
    assert [hook.split(" (")[0] for hook in found] == [
        "/etc/nginx/nginx.conf:1: env LD_PRELOAD=",
        "/etc/nginx/nginx.conf:2: env OPENSSL_CONF=",
    ]
    workers = root_workers(root, "/etc/nginx/nginx.conf")
    assert [hook.split(" (")[0] for hook in workers] == [
        "/etc/nginx/nginx.conf:3: user root",
        "/etc/nginx/nginx.conf:3: user nobody root",
        "/etc/nginx/nginx.conf:3: master_process OFF",
    ]
