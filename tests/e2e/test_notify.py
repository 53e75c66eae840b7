"""Notifications as an operator sets them up: --notify-url or [notify] in drtool.toml, received by
a real HTTP server on 127.0.0.1 (port 0) that the test runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, PASSPHRASE, Cli


class Webhook:
    """Records every POST; answers the first ``failures`` with 503, the rest with 204."""

    def __init__(self, failures: int = 0) -> None:
        self.received: list[dict] = []
        self.failures = failures
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if webhook.failures:
                    webhook.failures -= 1
                    self.send_response(503)
                else:
                    webhook.received.append(
                        {"path": self.path, "type": self.headers["Content-Type"], "body": body}
                    )
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0KEN-secret-path"

    def documents(self) -> list[dict]:
        return [json.loads(item["body"]) for item in self.received]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(failures=1)
    thread = threading.Thread(target=hook.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        hook.server.shutdown()
        hook.server.server_close()
        thread.join()


def with_notify(cli: Cli, tmp_path: Path, table: str) -> Cli:
    config = tmp_path / "notify.toml"
    config.write_text((EXAMPLES / "drtool.toml").read_text() + "\n[notify]\n" + table)
    return Cli({**cli.environment, "DRTOOL_CONFIG": str(config)})


def test_a_failed_backup_is_posted_retried_and_without_secrets(cli: Cli, webhook: Webhook) -> None:
    cli("init")
    failed = cli(
        "backup",
        "--netns",
        "drtool-test-no-such-ns",
        "--notify-url",
        webhook.url,
        "-v",
        expect=20,
        one_line=False,
    )
    (document,) = webhook.documents()
    assert webhook.received[0]["type"] == "application/json"
    assert webhook.received[0]["path"] == "/hooks/T0KEN-secret-path"
    assert document["command"] == "backup" and document["host"] == "web-1"
    assert document["success"] is False and document["exit_code"] == 20
    assert "drtool-test-no-such-ns" in document["error"]
    assert PASSPHRASE not in webhook.received[0]["body"].decode()
    assert "T0KEN" not in failed.stderr  # the URL's token is never logged
    cli("snapshots", "--notify-url", webhook.url)  # success, and no [notify] on_success
    assert len(webhook.received) == 1


def test_notify_section_posts_successes_too(cli: Cli, tmp_path: Path, webhook: Webhook) -> None:
    configured = with_notify(cli, tmp_path, f'url = "{webhook.url}"\non_success = true\n')
    configured("init")
    snapshot_id = configured("backup").stdout.strip()
    configured("snapshots")  # not a scheduled job: no message for its success
    configured("backup", "--help")  # backed nothing up: no message either
    (document,) = webhook.documents()
    assert document["command"] == "backup" and document["success"] is True
    assert document["exit_code"] == 0 and document["error"] is None
    assert snapshot_id  # the backup itself is unchanged by notifying


def test_an_undeliverable_notification_changes_no_exit_code(cli: Cli, tmp_path: Path) -> None:
    hook = Webhook()
    url = hook.url
    hook.server.server_close()  # nothing listens on that port any more
    unreachable = with_notify(cli, tmp_path, f'url = "{url}"\non_success = true\nattempts = 2\n')
    unreachable("init")
    completed = unreachable("backup", one_line=False)
    assert "could not notify http://127.0.0.1" in completed.stderr
    assert "T0KEN" not in completed.stderr


@pytest.mark.parametrize(
    ("table", "argument"),
    [
        ("", "file:///etc/passwd"),
        ('url = "ftp://example.invalid/x"\n', None),
        ("attempts = 0\n", None),
        ("on_success = 1\n", None),
        ("colour = 'red'\n", None),
    ],
)
def test_a_bad_notify_setting_is_refused(
    cli: Cli, tmp_path: Path, table: str, argument: str | None
) -> None:
    configured = with_notify(cli, tmp_path, table)
    arguments = ["--notify-url", argument] if argument else []
    configured(*arguments, "backup", expect=17)
