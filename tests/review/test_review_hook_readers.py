"""Review of issue 10: hook readers that read a configuration differently from the tool itself.

Each test first shows, with the tool's own reader (nginx -t, wg-quick's parse_options,
fail2ban-client -d, iptables-restore), that the tool runs or loads what the snapshot names;
then that drtool's hook reader lists it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from drtool.collectors.fail2ban import SHIPPED_ACTIONS, jail_hooks
from drtool.hooks import (
    fail2ban_action_hooks,
    ignorecommand_hooks,
    iptables_modprobe_hooks,
    wireguard_hooks,
)
from drtool.nginx_config import hooks as nginx_hooks

ROOT = Path("/")  # the trees below are real directories: nginx and drtool read the same paths


def _nginx_test(config: Path) -> str:
    """What the real ``nginx -t`` says of ``config`` (never started: -t only)."""
    completed = subprocess.run(
        ["nginx", "-t", "-p", str(config.parent), "-c", str(config), "-e", "/dev/stderr"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return completed.stderr


def _relative(path: Path) -> str:
    return str(path).lstrip("/")


@pytest.mark.real_parts("nginx")
def test_a_hash_inside_a_word_does_not_hide_load_module(tmp_path: Path) -> None:
    config = tmp_path / "nginx.conf"
    module = tmp_path / "evil.so"
    module.write_bytes(b"not an ELF file" * 256)
    config.write_text(f"env A#; load_module {module};\nevents {{}}\n")
    # nginx reads the load_module: it dlopen()s the snapshot's file.
    said = _nginx_test(config)
    assert f'dlopen() "{module}" failed' in said and "invalid ELF header" in said
    found = nginx_hooks(ROOT, (_relative(tmp_path),), str(config))
    assert any("load_module" in hook for hook in found), found


@pytest.mark.real_parts("nginx")
def test_dot_dot_after_a_link_in_a_load_module_path(tmp_path: Path) -> None:
    # In a real snapshot: /etc/nginx/lnk -> a/b and load_module
    # /etc/nginx/lnk/../../usr/lib/nginx/modules/ngx_x.so. Lexically that is the host's module
    # directory; through the link it is /etc/nginx/usr/lib/nginx/modules/ngx_x.so, the
    # snapshot's own file. Here the tree is deeper: as many '..' as it takes to reach /.
    climbs = len(tmp_path.parts)  # lnk/.. is tmp_path, then one '..' per part up to /
    deep = tmp_path.joinpath(*[f"d{index}" for index in range(climbs)])
    deep.mkdir(parents=True)
    (tmp_path / "lnk").symlink_to(deep.relative_to(tmp_path))
    shipped = tmp_path / "usr/lib/nginx/modules/ngx_x.so"
    shipped.parent.mkdir(parents=True)
    shipped.write_bytes(b"not an ELF file" * 256)
    written = f"{tmp_path}/lnk" + "/.." * climbs + "/usr/lib/nginx/modules/ngx_x.so"
    assert os.path.normpath(written) == "/usr/lib/nginx/modules/ngx_x.so"
    assert os.path.realpath(written) == str(shipped)
    config = tmp_path / "nginx.conf"
    config.write_text(f"load_module {written};\nevents {{}}\n")
    said = _nginx_test(config)
    assert "invalid ELF header" in said, said  # nginx opened the snapshot's own file
    found = nginx_hooks(ROOT, (_relative(tmp_path),), str(config))
    assert any("load_module" in hook for hook in found), found


@pytest.mark.real_parts("nginx")
def test_dot_dot_after_a_link_in_an_include(tmp_path: Path) -> None:
    (tmp_path / "a/b/c").mkdir(parents=True)
    (tmp_path / "lnk").symlink_to("a/b/c")
    module = tmp_path / "evil.so"
    module.write_bytes(b"not an ELF file" * 256)
    (tmp_path / "a/evil.conf").write_text(f"load_module {module};\n")
    config = tmp_path / "nginx.conf"
    config.write_text(f"include {tmp_path}/lnk/../../evil.conf;\nevents {{}}\n")
    said = _nginx_test(config)
    assert f'dlopen() "{module}" failed' in said, said
    found = nginx_hooks(ROOT, (_relative(tmp_path),), str(config))
    assert any("load_module" in hook for hook in found), found


def _wg_quick_hooks(config: Path, locale: str | None = None) -> str:
    """PostUp as wg-quick's own parse_options reads it (its function, run by bash), in
    ``locale`` if given."""
    script = (
        'shopt -s extglob; die() { echo "$*" >&2; exit 1; }; '
        'eval "$(sed -n "/^parse_options()/,/^}/p" "$(command -v wg-quick)")"; '
        'parse_options "$1" 2>/dev/null; printf "%s\\n" "${POST_UP[@]}"'
    )
    return subprocess.run(
        ["bash", "-c", script, "bash", str(config)],
        env={**os.environ, "LC_ALL": locale} if locale else None,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout


@pytest.mark.real_parts("wireguard")
def test_a_lower_case_interface_section_does_not_hide_postup(tmp_path: Path) -> None:
    config = tmp_path / "wg0.conf"
    config.write_text(
        "[Interface]\nListenPort = 51820\n[Peer]\nAllowedIPs = 10.0.0.2/32\n"
        "[interface]\nPostUp = touch /tmp/review-wg-pwned\n"
    )
    assert _wg_quick_hooks(config).strip() == "touch /tmp/review-wg-pwned"
    assert wireguard_hooks(config.read_text(), "/etc/wireguard/wg0.conf")


@pytest.mark.real_parts("wireguard")
def test_a_nul_byte_inside_the_key_does_not_hide_postup(tmp_path: Path) -> None:
    config = tmp_path / "wg0.conf"
    config.write_bytes(b"[Interface]\nListenPort = 51820\nPost\x00Up = touch /tmp/review-wg-nul\n")
    assert _wg_quick_hooks(config).strip() == "touch /tmp/review-wg-nul"
    assert wireguard_hooks(config.read_bytes().decode(), "/etc/wireguard/wg0.conf")


@pytest.mark.real_parts("wireguard")
def test_a_unicode_space_around_the_key_does_not_hide_postup(tmp_path: Path) -> None:
    config = tmp_path / "wg0.conf"
    config.write_text("[Interface]\n\u2003PostUp\u2003= touch /tmp/review-wg-space\n")
    config.chmod(0o600)
    # wg-quick trims [[:space:]]: iswspace, so an em space in a UTF-8 locale.
    assert _wg_quick_hooks(config, "C.UTF-8").strip() == "touch /tmp/review-wg-space"
    assert wireguard_hooks(config.read_text(), "/etc/wireguard/wg0.conf")


@pytest.mark.real_parts("wireguard")
def test_a_dotted_capital_i_in_the_section_name_does_not_hide_postup(tmp_path: Path) -> None:
    config = tmp_path / "wg0.conf"
    config.write_text("[\u0130nterface]\nPostUp = touch /tmp/review-wg-dotted\n")
    config.chmod(0o600)
    # bash's nocasematch lowers with towlower: in a UTF-8 locale, towlower(İ) is i.
    assert _wg_quick_hooks(config, "C.UTF-8").strip() == "touch /tmp/review-wg-dotted"
    assert wireguard_hooks(config.read_text(), "/etc/wireguard/wg0.conf")


def _iptables_restore_accepts(rules: str) -> bool:
    completed = subprocess.run(
        ["unshare", "--net", "iptables-legacy-restore", "--test"],
        input=rules,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return completed.returncode == 0


@pytest.mark.real_parts("iptables-legacy")
@pytest.mark.parametrize(
    "spelling", ["-M", "--modp", "--modpr", "--mo", "-vM", "-4M", '"-M"', '--mo"dp"']
)
def test_every_spelling_of_modprobe_is_a_hook(spelling: str) -> None:
    rules = f"*filter\n-A INPUT {spelling} /tmp/review-modprobe -j ACCEPT\nCOMMIT\n"
    assert _iptables_restore_accepts(rules)
    # Without its argument, the spelling is refused: it is the option taking a program.
    assert not _iptables_restore_accepts(f"*filter\n-A INPUT {spelling}\nCOMMIT\n")
    assert iptables_modprobe_hooks(rules, "rules.v4")


def _fail2ban_tree(tmp_path: Path) -> Path:
    config = tmp_path / "fail2ban"
    shutil.copytree("/etc/fail2ban", config, symlinks=True)
    log = tmp_path / "auth.log"
    log.touch()
    (config / "jail.local").write_text(
        f"[sshd]\nenabled = true\nbackend = polling\nlogpath = {log}\n"
    )
    return config


def _fail2ban_commands(config: Path) -> str:
    """The configuration stream fail2ban-client itself builds (-d: dump, nothing started)."""
    return subprocess.run(
        ["fail2ban-client", "-c", str(config), "-d"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout


def _drtool_fail2ban_hooks(config: Path) -> list[str]:
    """The fail2ban kind's hooks, as drtool.collectors.fail2ban.Fail2ban.hooks computes them."""
    return [
        *fail2ban_action_hooks(config / "action.d", SHIPPED_ACTIONS, "/etc/fail2ban/action.d"),
        *ignorecommand_hooks(config, SHIPPED_ACTIONS.parent / "jail.conf", "/etc/fail2ban"),
        *jail_hooks(config, SHIPPED_ACTIONS.parent, "/etc/fail2ban"),
    ]


def _jail_action(config: Path, action: str) -> None:
    with (config / "jail.local").open("a") as jail:
        jail.write(f"action = {action}\n")


@pytest.mark.real_parts("fail2ban")
def test_a_jail_action_parameter_overriding_a_command_is_a_hook(tmp_path: Path) -> None:
    config = _fail2ban_tree(tmp_path)
    _jail_action(config, 'dummy[actionstart="touch /tmp/review-f2b-inline"]')
    assert "touch /tmp/review-f2b-inline" in _fail2ban_commands(config)
    assert _drtool_fail2ban_hooks(config)


@pytest.mark.real_parts("fail2ban")
def test_a_linked_action_file_is_a_hook(tmp_path: Path) -> None:
    config = _fail2ban_tree(tmp_path)
    (config / "filter.d/evilact.conf").write_text(
        "[Definition]\nactionstart = touch /tmp/review-f2b-linked\n"
    )
    os.symlink("../filter.d/evilact.conf", config / "action.d/linked.conf")
    _jail_action(config, "linked")
    assert "touch /tmp/review-f2b-linked" in _fail2ban_commands(config)
    assert _drtool_fail2ban_hooks(config)


@pytest.mark.real_parts("fail2ban")
def test_an_action_outside_action_d_is_a_hook(tmp_path: Path) -> None:
    config = _fail2ban_tree(tmp_path)
    (config / "filter.d/evilact.conf").write_text(
        "[Definition]\nactionstart = touch /tmp/review-f2b-dotdot\n"
    )
    _jail_action(config, "../filter.d/evilact")
    assert "touch /tmp/review-f2b-dotdot" in _fail2ban_commands(config)
    assert _drtool_fail2ban_hooks(config)


@pytest.mark.real_parts("fail2ban")
@pytest.mark.parametrize(
    "line",
    [
        'Action = dummy[actionstart="touch /tmp/review-f2b-case"]',
        "IgnoreCommand = touch /tmp/review-f2b-case",
    ],
)
def test_a_key_in_capitals_is_the_same_key_to_fail2ban(tmp_path: Path, line: str) -> None:
    config = _fail2ban_tree(tmp_path)
    with (config / "jail.local").open("a") as jail:
        jail.write(f"{line}\n")
    assert "touch /tmp/review-f2b-case" in _fail2ban_commands(config)
    assert _drtool_fail2ban_hooks(config)


@pytest.mark.real_parts("fail2ban")
def test_common_jail_settings_are_no_hooks(tmp_path: Path) -> None:
    """No false alarm: what operators set in jail.local is data, not a command."""
    config = _fail2ban_tree(tmp_path)
    with (config / "jail.local").open("a") as jail:
        jail.write(
            "port = ssh,2222\nbantime = 1h\nmaxretry = 3\nignoreip = 127.0.0.1/8 ::1\n"
            "banaction = iptables-multiport\nblocktype = DROP\n"
            'action = %(action_mwl)s\n         iptables[name=web, port="80,443", protocol=tcp]\n'
            "[recidive]\nenabled = true\nbanaction = %(banaction_allports)s\n"
        )
    assert "2222" in _fail2ban_commands(config)  # fail2ban reads it all
    assert _drtool_fail2ban_hooks(config) == []


@pytest.mark.real_parts("fail2ban")
@pytest.mark.parametrize(
    "option",
    [
        'banaction = iptables-multiport[actionstart="touch /tmp/review-f2b-option"]',
        'banaction = iptables-multiport[iptables="touch /tmp/review-f2b-option"]',
        "chain = INPUT; touch /tmp/review-f2b-option",
        "protocol = tcp\n  touch /tmp/review-f2b-option",
    ],
)
def test_a_jail_option_reaching_an_action_command_is_a_hook(tmp_path: Path, option: str) -> None:
    config = _fail2ban_tree(tmp_path)
    with (config / "jail.local").open("a") as jail:
        jail.write(f"{option}\n")
    assert "touch /tmp/review-f2b-option" in _fail2ban_commands(config)
    assert _drtool_fail2ban_hooks(config)


@pytest.mark.real_parts("fail2ban")
def test_a_linked_action_directory_is_a_hook(tmp_path: Path) -> None:
    config = _fail2ban_tree(tmp_path)
    shutil.move(config / "action.d", config / "filter.d/actions")
    (config / "filter.d/actions/evilact.conf").write_text(
        "[Definition]\nactionstart = touch /tmp/review-f2b-linked-dir\n"
    )
    os.symlink("filter.d/actions", config / "action.d")
    _jail_action(config, "evilact")
    assert "touch /tmp/review-f2b-linked-dir" in _fail2ban_commands(config)
    assert _drtool_fail2ban_hooks(config)


@pytest.mark.real_parts("fail2ban")
def test_an_ignorecommand_in_a_linked_jail_file_is_a_hook(tmp_path: Path) -> None:
    config = _fail2ban_tree(tmp_path)
    (config / "filter.d/jail.txt").write_text("[sshd]\nignorecommand = touch /tmp/review-f2b\n")
    os.symlink("../filter.d/jail.txt", config / "jail.d/zz.local")
    assert "touch /tmp/review-f2b" in _fail2ban_commands(config)
    assert _drtool_fail2ban_hooks(config)


_CONSTRUCTOR = """
#include <stdio.h>
__attribute__((constructor)) static void ran(void) {
    FILE *marker = fopen(MARKER, "w");
    if (marker) { fputs("ran\\n", marker); fclose(marker); }
}
"""


@pytest.mark.real_parts("nginx", "gcc")
def test_an_openssl_engine_named_by_path_in_a_key_directive_is_a_hook(tmp_path: Path) -> None:
    marker = tmp_path / "constructor-ran"
    source = tmp_path / "evil.c"
    source.write_text(_CONSTRUCTOR)
    library = tmp_path / "evil"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", f'-DMARKER="{marker}"', "-o", str(library), str(source)],
        check=True,
        timeout=60,
    )
    certificate = tmp_path / "site.pem"
    key = tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-keyout", str(key), "-out", str(certificate), "-days", "1"),
            *("-subj", "/CN=review"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    config = tmp_path / "nginx.conf"
    config.write_text(
        "events {}\nhttp { server {\n"
        f"    ssl_certificate {certificate};\n"
        f"    ssl_certificate_key engine:{library}:id;\n"
        "} }\n"
    )
    _nginx_test(config)
    assert marker.read_text() == "ran\n"  # nginx -t ran the snapshot's code
    found = nginx_hooks(ROOT, (_relative(tmp_path),), str(config))
    assert any("engine" in hook for hook in found), found


@pytest.mark.real_parts("fail2ban")
def test_a_jail_option_injected_into_an_action_command_is_a_hook(tmp_path: Path) -> None:
    config = _fail2ban_tree(tmp_path)
    with (config / "jail.local").open("a") as jail:
        jail.write("banaction = iptables-multiport\nport = 22; touch /tmp/review-f2b-port;\n")
    commands = _fail2ban_commands(config)
    assert "--dports 22; touch /tmp/review-f2b-port;" in commands  # in actionstart, as root
    assert _drtool_fail2ban_hooks(config)


@pytest.mark.real_parts("nginx")
def test_a_negated_bracket_glob_in_an_include(tmp_path: Path) -> None:
    module = tmp_path / "evil.so"
    module.write_bytes(b"not an ELF file" * 256)
    (tmp_path / "evil.conf").write_text(f"load_module {module};\n")
    config = tmp_path / "nginx.conf"
    config.write_text(f"include {tmp_path}/[^x]vil.conf;\nevents {{}}\n")
    said = _nginx_test(config)
    assert f'dlopen() "{module}" failed' in said, said  # nginx included evil.conf
    found = nginx_hooks(ROOT, (_relative(tmp_path),), str(config))
    assert any("load_module" in hook for hook in found), found


@pytest.mark.real_parts("nginx")
def test_an_escaped_tab_in_an_include_path(tmp_path: Path) -> None:
    module = tmp_path / "evil.so"
    module.write_bytes(b"not an ELF file" * 256)
    (tmp_path / "x\t.conf").write_text(f"load_module {module};\n")
    config = tmp_path / "nginx.conf"
    config.write_text(f'include "{tmp_path}/x\\t.conf";\nevents {{}}\n')
    said = _nginx_test(config)
    assert f'dlopen() "{module}" failed' in said, said  # nginx included "x<TAB>.conf"
    found = nginx_hooks(ROOT, (_relative(tmp_path),), str(config))
    assert any("load_module" in hook for hook in found), found
