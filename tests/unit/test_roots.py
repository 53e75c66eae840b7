"""The paths no restore may replace, whoever names them (drtool.roots)."""

from __future__ import annotations

import pytest

from drtool.errors import UnsafeArchive
from drtool.roots import check_roots, never_a_root


@pytest.mark.parametrize(
    "root",
    [
        "",
        "etc",
        "root",
        "usr",
        "boot",
        "var",
        "home",
        "proc",
        "sys",
        "dev",
        "etc/ld.so.preload",
        "etc/ld.so.conf.d",
        "etc/pam.d",
        "etc/pam.d/sshd",
        "etc/sudoers",
        "etc/sudoers.d/evil",
        "etc/cron.d",
        "etc/crontab",
        "etc/cron.daily/x",
        "root/.ssh",
        "root/.ssh/authorized_keys",
        "etc/systemd",
        "etc/systemd/system/evil.service",
    ],
)
def test_never_a_root(root: str) -> None:
    assert never_a_root(root)
    with pytest.raises(UnsafeArchive, match=r"refused|not a safe relative path"):
        check_roots("files", [root], allowed={root}, other_kinds_roots={})


@pytest.mark.parametrize("root", ["etc/nginx", "etc/redis/redis.conf", "etc/systemd-x", "opt/app"])
def test_ordinary_roots(root: str) -> None:
    assert never_a_root(root) is None
    check_roots("files", [root], allowed={root}, other_kinds_roots={"nginx": {"srv/nginx"}})


def test_a_root_must_be_given_and_must_not_overlap_another_kinds() -> None:
    with pytest.raises(UnsafeArchive, match="files root /opt/app refused: not one of"):
        check_roots("files", ["opt/app"], allowed=set(), other_kinds_roots={})
    for root in ("etc/nginx", "etc/nginx/nginx.conf", "opt"):
        allowed = {root}
        with pytest.raises(UnsafeArchive, match="overlaps the nginx root"):
            check_roots(
                "files", [root], allowed, other_kinds_roots={"nginx": {"etc/nginx", "opt/x"}}
            )
