from __future__ import annotations

from pathlib import Path

import pytest

from drtool.errors import ConfigError, KeyUnavailable
from drtool.passphrase import passphrase_source
from drtool.runner import Runner


def read(environment: dict[str, str], command: str | None = None) -> bytes:
    return passphrase_source(environment, command, Runner, interactive=False).read()


def test_from_environment() -> None:
    assert read({"DRTOOL_PASSWORD": "s3cret"}) == b"s3cret"


def test_from_file_drops_one_newline(tmp_path: Path) -> None:
    path = tmp_path / "pass"
    path.write_bytes(b"s3cret \n")
    path.chmod(0o600)
    assert read({"DRTOOL_PASSWORD_FILE": str(path)}) == b"s3cret "


def test_from_command() -> None:
    assert read({}, "printf 's3cret\\n'") == b"s3cret"


def test_failing_command_does_not_leak_its_output() -> None:
    with pytest.raises(KeyUnavailable, match="the password command: exit status 3") as raised:
        read({}, "echo leaked-secret; echo oops >&2; exit 3")
    assert "leaked-secret" not in str(raised.value)


def test_only_one_source() -> None:
    with pytest.raises(ConfigError, match="only one"):
        read({"DRTOOL_PASSWORD": "a", "DRTOOL_PASSWORD_FILE": "/x"})


def test_none_off_a_terminal() -> None:
    with pytest.raises(KeyUnavailable, match="no passphrase"):
        read({})


def test_empty_passphrase_is_refused() -> None:
    with pytest.raises(KeyUnavailable, match="empty"):
        read({}, "true")


def test_unreadable_file() -> None:
    with pytest.raises(KeyUnavailable, match="cannot read"):
        read({"DRTOOL_PASSWORD_FILE": "/nonexistent/pass"})
