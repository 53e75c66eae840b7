"""Review of issue 10: an nftables ruleset of the snapshot's that includes a file of the machine.

drtool's nft parser keeps a table's body as it is, so ``include "/path"`` inside a table reaches
``nft -c -f -``, which the nftables kind's validation runs on the machine itself (not in the
checkers' sandbox); nft quotes the offending line of the included file, and drtool quotes nft.
The ruleset is written with drtool's own format code into an ordinary backup's part.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from drtool.archive import OUTPUT_PREFIX
from drtool.collectors.nftables import RULESET
from tests.conftest import Cli
from tests.e2e.test_hostile_repository import open_repository
from tests.support.hostile import rewritten
from tests.support.netns import netns, run_in  # noqa: F401 - the fixture

SECRET = "review-machine-secret-4be0c2"


def _with_ruleset(original: bytes, ruleset: bytes) -> bytes:
    """The part ``original`` with its nftables ruleset output replaced by ``ruleset``."""
    return _with_output_text(original, RULESET, ruleset)


def _with_output_text(original: bytes, name: str, text: bytes) -> bytes:
    """The part ``original`` with its command output ``name`` replaced by ``text``."""
    written = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(original)) as source,
        tarfile.open(fileobj=written, mode="w", format=tarfile.PAX_FORMAT) as target,
    ):
        for member in source.getmembers():
            if member.name == f"{OUTPUT_PREFIX}{name}":
                member.size = len(text)
                target.addfile(member, io.BytesIO(text))
            else:
                target.addfile(member, source.extractfile(member) if member.isreg() else None)
    return written.getvalue()


@pytest.mark.real_parts("nft", "netns")
def test_an_nft_include_reads_nothing_of_the_machine(
    cli: Cli,
    tmp_path: Path,
    netns: str,  # noqa: F811
) -> None:
    secret = tmp_path / "private/secret"
    secret.parent.mkdir(mode=0o700)
    secret.write_text(f"{SECRET}\n")
    secret.chmod(0o600)
    run_in(netns, "nft", "-f", "-", input_text="table inet filter {\n\tchain input {\n\t}\n}\n")
    cli.environment["DRTOOL_NETNS"] = netns
    cli("init")
    cli("backup")
    hostile_ruleset = f'table inet filter {{\n\tinclude "{secret}"\n\tchain input {{\n\t}}\n}}\n'
    hostile = rewritten(
        open_repository(cli),
        "nftables",
        lambda original: _with_ruleset(original, hostile_ruleset.encode()),
    )
    said = ""
    for arguments in (("drill", hostile.id), ("restore", hostile.id, "--yes")):
        done = cli.run(*arguments)
        said += done.stdout + done.stderr
    assert SECRET not in said, said


def _with_output(original: bytes, name: str, edit: Callable[[bytes], bytes]) -> bytes:
    """The part ``original`` with its command output ``name`` passed through ``edit``."""
    with tarfile.open(fileobj=io.BytesIO(original)) as source:
        for member in source.getmembers():
            if member.name == f"{OUTPUT_PREFIX}{name}":
                text = source.extractfile(member).read()  # type: ignore[union-attr]
                break
    return _with_output_text(original, name, edit(text))


@pytest.mark.real_parts("iptables", "netns")
def test_a_drill_never_applies_what_the_hook_check_refused(
    cli: Cli,
    netns: str,  # noqa: F811
) -> None:
    run_in(netns, "iptables-restore", input_text="*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n")
    cli.environment["DRTOOL_NETNS"] = netns
    cli("init")
    cli("backup")
    hostile = rewritten(
        open_repository(cli),
        "iptables",
        lambda original: _with_output(
            original,
            "v4.rules",
            lambda text: text.replace(
                b"COMMIT", b"-A INPUT --modprobe=/tmp/review-modprobe -j ACCEPT\nCOMMIT", 1
            ),
        ),
    )
    done = cli.run("drill", hostile.id, "--json")
    report = json.loads(done.stdout)
    assert any("--modprobe" in problem for problem in report["problems"]), report
    assert "restored" not in report["kinds"]["iptables"], report["kinds"]
