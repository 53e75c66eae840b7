"""What drtool.redact withholds and what it lets through, line by line and file by file."""

from __future__ import annotations

import pytest

from drtool.passphrase import PassphraseSource
from drtool.redact import Redactor, is_secret_content, scrub

KEY = "sGMqP0cWiUXmWTCeUmC1FsOSSuE8ox4ugX6ZhYLBM2A="


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("user alice on >s3cret ~* +@all", "user alice on <redacted> ~* +@all"),
        ("user bob on #" + "a" * 64 + " resetkeys", "user bob on <redacted> resetkeys"),
        ("requirepass hunter2", "requirepass <redacted>"),
        ("PrivateKey = " + KEY, "PrivateKey = <redacted>"),
        ("PostUp = wg set %i private-key <(echo x)", "PostUp = wg set %i private-key <redacted>"),
        ("listen 443 ssl;", "listen 443 ssl;"),
        ("location /user >", "location /user >"),
    ],
)
def test_lines(line: str, shown: str) -> None:
    assert Redactor().line(line) == shown


@pytest.mark.parametrize(
    "content",
    [
        f"{KEY}\n".encode(),
        b"junk\n-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n",
        b"-----BEGIN RSA PRIVATE KEY-----\n",
        b"# users\nadmin:$apr1$abc$def\n",
        b"admin:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n",
        b"admin:$2y$05$abcdefghijklmnopqrstuv\n",
    ],
)
def test_secret_files(content: bytes) -> None:
    assert is_secret_content(content)
    assert Redactor().for_display("etc/x", content) is None


def test_paths_roots_and_whole_kinds() -> None:
    redactor = Redactor.configured(["auth_token"], ["/etc/ssl/private/*"])
    assert redactor.for_display("etc/ssl/private/a.key", b"anything") is None
    assert redactor.for_display("etc/app.conf", b"auth_token = x\nport 1\n") == [
        "auth_token = <redacted>",
        "port 1",
    ]
    assert redactor.whole().for_display("etc/wireguard/README", b"hello") is None
    assert not is_secret_content(b"-----BEGIN CERTIFICATE-----\n")


def test_scrub_messages() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----"
    said = scrub(f"Key is not the correct length or format: `{KEY}` {pem} private-key /x")
    assert KEY not in said and "MIIB" not in said and "/x" not in said


def test_a_passphrase_read_is_withheld_from_every_later_message() -> None:
    source = PassphraseSource("a test", lambda _confirm: b"a 7th passphrase\n"[:-1])
    assert "a 7th passphrase" in scrub("opened with a 7th passphrase")  # not read yet
    source.read()
    assert scrub("opened with 'a 7th passphrase'.") == "opened with '<redacted>'."
    PassphraseSource("short", lambda _confirm: b"abc").read()
    assert scrub("abc def") == "abc def"  # too short to look for: it would blank words


def test_printing_a_secret_file_whole_needs_consent() -> None:
    from drtool.errors import SecretWithheld
    from drtool.redact import check_may_print

    with pytest.raises(SecretWithheld) as raised:
        check_may_print(Redactor(), "etc/wireguard/privatekey", f"{KEY}\n".encode(), False)
    assert raised.value.exit_code == 28 and KEY not in str(raised.value)
    check_may_print(Redactor(), "etc/wireguard/privatekey", f"{KEY}\n".encode(), True)
    check_may_print(Redactor(), "etc/nginx/nginx.conf", b"events {}\n", False)


def test_a_report_is_scrubbed_string_by_string() -> None:
    from drtool.redact import scrub_document

    report = {"problems": [f"wg: bad key `{KEY}`"], "kinds": {"wireguard": "ok"}, "n": 1}
    scrubbed = scrub_document(report)
    assert KEY not in str(scrubbed) and scrubbed["n"] == 1 and scrubbed["kinds"] == report["kinds"]
