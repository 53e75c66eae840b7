from __future__ import annotations

from pathlib import Path

import pytest

from drtool.config import ALL_KINDS, RestorePolicy, Settings, load_settings
from drtool.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "drtool.toml"
    path.write_text(text)
    return path


def test_no_config_means_defaults() -> None:
    assert load_settings(None) == Settings()
    assert Settings().kinds == ALL_KINDS


def test_full_config(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            '[backup]\nkinds = ["nginx", "files"]\ntags = ["nightly"]\n'
            '[files]\npaths = ["/etc/redis/redis.conf"]\n[nginx]\npath = "/srv/nginx"\n',
        )
    )
    assert settings.kinds == ("nginx", "files")
    assert settings.tags == ("nightly",)
    assert settings.files == ("/etc/redis/redis.conf",)
    assert settings.tree_paths["nginx"] == "/srv/nginx"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[files]\npath = []\n", "unknown setting 'path'"),
        ("[nginxx]\n", "unknown setting 'nginxx'"),
        ('[files]\npaths = ["etc/x"]\n', "must be absolute"),
        ('[files]\npaths = "/etc/x"\n', "list of strings"),
        ('[backup]\nkinds = ["ngnix"]\n', "unknown kind"),
        ("[files\n", "not valid TOML"),
        ('[restore]\nkeep_setid = "yes"\n', "keep_setid must be true or false"),
        ('[restore]\ninclude_roots = ["opt/app"]\n', "must be absolute"),
        ("[restore]\nkeepsetid = true\n", "unknown setting 'keepsetid'"),
        ("[services.nginx]\ntimeout = 0\n", "timeout must be a positive number"),
        ('[services.nginx]\ntimeout = "10"\n', "timeout must be a positive number"),
        ("[services.nginx]\ntimeout = true\n", "timeout must be a positive number"),
        ("[tools]\ntimeout = 0\n", r"\[tools\] timeout must be a positive number"),
        ("[tools]\ntimeout = -5\n", r"\[tools\] timeout must be a positive number"),
        ("[tools]\ntimeout = nan\n", r"\[tools\] timeout must be a positive number"),
        ('[tools]\ntimeout = "120"\n', r"\[tools\] timeout must be a positive number"),
        ("[tools]\ntimeuot = 60\n", "unknown setting 'timeuot'"),
        ("[s3]\nconnect_timeout = inf\n", r"\[s3\] connect_timeout must be from 0 to"),
        ("[s3]\nread_timeout = -1\n", r"\[s3\] read_timeout must be from 0 to"),
        ("[s3]\nbackoff_seconds = nan\n", r"\[s3\] backoff_seconds must be from 0 to"),
    ],
)
def test_bad_config(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text))


def test_a_service_timeout_is_read_and_defaults_to_ten_seconds(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "[services.nginx]\ntimeout = 2.5\n"))
    assert settings.service("nginx").timeout == 2.5
    assert settings.service("fail2ban").timeout == 10


def test_the_tools_timeout_is_read_and_defaults_to_two_minutes(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "[tools]\ntimeout = 600\n")).tool_timeout == 600
    assert load_settings(write(tmp_path, "")).tool_timeout == 120


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_restore_policy(tmp_path: Path) -> None:
    assert Settings().restore == RestorePolicy(keep_setid=False, include_roots=())
    settings = load_settings(
        write(tmp_path, '[restore]\nkeep_setid = true\ninclude_roots = ["/opt/app/app.conf"]\n')
    )
    assert settings.restore == RestorePolicy(keep_setid=True, include_roots=("/opt/app/app.conf",))


def test_restore_and_diff_sections(tmp_path: Path) -> None:
    config = tmp_path / "drtool.toml"
    config.write_text(
        '[restore]\nnetwork_parents = ["eth1"]\n'
        '[diff]\nsecret_keys = ["auth_token"]\nsecret_paths = ["/etc/ssl/private/*"]\n'
    )
    settings = load_settings(config)
    assert settings.network_parents == ("eth1",)
    assert settings.secret_paths == ("/etc/ssl/private/*",)
