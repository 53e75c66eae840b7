"""Unlocking a repository from its key files (drtool/keyring/unlock.py) in a local directory:
which key file is tried, which is skipped (planted, damaged, too large, of a newer format), and
every refusal word for word. The key files are written by drtool's writers at the lowest KDF
cost; what an unlock returns is compared with the secrets the test sealed."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from drtool.errors import KeyFileRefused, KeyUnavailable, UnsupportedFormat
from drtool.keyring.access import ReaderKeys
from drtool.keyring.generation import Generation
from drtool.keyring.kek import passphrase_kek
from drtool.keyring.keyfile import new_key_file
from drtool.keyring.unlock import Unlocked, key_document, start_unlock, unlock_with_passphrase
from drtool.keys import KdfParameters, KeyFileHeader, MasterKey, wrap_master_secret
from drtool.passphrase import PassphraseSource
from drtool.store.local import LocalStore

REPOSITORY = "0123456789abcdef0123456789abcdef"
CHEAP = KdfParameters(iterations=1, lanes=1, memory_kib=8)
SECRET = b"\x05" * 32
PASSPHRASE = PassphraseSource("the test", lambda _confirm: b"right")
WRONG = PassphraseSource("the test", lambda _confirm: b"wrong")
NONE = PassphraseSource("DRTOOL_PASSWORD", lambda _confirm: b"")
ARN = "arn:aws:kms:eu-west-1:111122223333:key/planted"


def format_2(key_id: str = "00" * 8, passphrase: bytes = b"right") -> bytes:
    kek, fields = passphrase_kek(passphrase, CHEAP)
    return new_key_file(
        REPOSITORY, key_id, "passphrase", "t", kek, {1: Generation(1, SECRET)}, fields
    )


def kms_file(key_id: str = "11" * 8, arn: str = ARN) -> bytes:
    fields = {"kms": {"key_id": arn, "encrypted_kek": "AAAA"}}
    return new_key_file(
        REPOSITORY, key_id, "kms", "t", bytes(32), {1: Generation(1, SECRET)}, fields
    )


def format_1(passphrase: bytes = b"right") -> bytes:
    return wrap_master_secret(SECRET, passphrase, KeyFileHeader(REPOSITORY, 1, "22" * 8), CHEAP)


def repository(tmp_path: Path, files: dict[str, bytes]) -> tuple[LocalStore, list[str]]:
    (tmp_path / "repo/keys").mkdir(parents=True)
    for name, data in files.items():
        (tmp_path / "repo" / name).write_bytes(data)
    return LocalStore(tmp_path / "repo"), sorted(files)


def unlock(tmp_path: Path, files: dict[str, bytes], source=PASSPHRASE, kms_key=None) -> Unlocked:
    store, names = repository(tmp_path, files)
    return unlock_with_passphrase(store, source, names, kms_key)


def refusal(tmp_path: Path, files: dict[str, bytes], source=PASSPHRASE, kms_key=None) -> str:
    with pytest.raises(KeyUnavailable) as refused:
        unlock(tmp_path, files, source, kms_key)
    return str(refused.value)


def test_a_format_2_passphrase_key_file_opens_the_keyring(tmp_path: Path) -> None:
    unlocked = unlock(tmp_path, {"keys/a": format_2()})
    assert (unlocked.repository_id, unlocked.format) == (REPOSITORY, 2)
    assert isinstance(unlocked.keys, ReaderKeys)
    assert {n: g.secret for n, g in unlocked.keys.generations.items()} == {1: SECRET}
    assert unlocked.keys.key_id == "00" * 8


def test_a_format_1_key_file_opens_the_master_key(tmp_path: Path) -> None:
    unlocked = unlock(tmp_path, {"keys/a": format_1()})
    assert unlocked == Unlocked(REPOSITORY, 1, MasterKey.from_secret(SECRET))


def test_the_key_file_that_accepts_the_passphrase_among_others(tmp_path: Path) -> None:
    files = {"keys/a": format_2("aa" * 8, b"other"), "keys/b": format_2("bb" * 8)}
    assert unlock(tmp_path, files).keys.key_id == "bb" * 8


def test_a_wrong_passphrase(tmp_path: Path) -> None:
    files = {"keys/a": format_2(), "keys/b": format_1()}
    assert refusal(tmp_path, files, WRONG) == (
        "wrong passphrase (no key file of the repository accepts it)"
    )


def test_no_key_file_at_all(tmp_path: Path) -> None:
    assert refusal(tmp_path, {}) == "no key file of the repository can be read"


def test_damaged_key_files_are_skipped_named_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    damaged = {f"keys/{n}": b"[" * 10 for n in "cdefg"}
    with caplog.at_level(logging.WARNING):
        unlocked = unlock(tmp_path, {"keys/a": format_2(), **damaged})
    assert unlocked.format == 2
    line = "refused and skipped: key file is damaged (JSONDecodeError)"
    assert caplog.messages == [
        f"keys/c {line}",
        f"keys/d {line}",
        f"keys/e {line}",
        f"keys/f {line}",
        "1 more key files refused and skipped",
    ]


def test_when_none_opens_the_skipped_ones_are_named_in_the_error(tmp_path: Path) -> None:
    damaged = {f"keys/{n}": b"[]" for n in "cdef"}
    line = "refused and skipped: key file is damaged (ValueError)"
    assert refusal(tmp_path, {"keys/a": format_2(), **damaged}, WRONG) == (
        "wrong passphrase (no key file of the repository accepts it); "
        + "; ".join(f"keys/{n} {line}" for n in "cdef")
    )


def test_a_key_file_over_1_MiB_is_skipped_and_one_of_1_MiB_read(tmp_path: Path) -> None:
    data = format_2()
    exact = data + b" " * (1024 * 1024 - len(data))
    assert unlock(tmp_path / "exact", {"keys/a": exact}).format == 2
    assert refusal(tmp_path / "over", {"keys/a": exact + b" "}) == (
        "no key file of the repository can be read; keys/a refused and skipped: key file is "
        "damaged (larger than 1024 KiB)"
    )


def test_a_missing_key_file_is_skipped(tmp_path: Path) -> None:
    store, _ = repository(tmp_path, {})
    with pytest.raises(KeyUnavailable) as refused:
        unlock_with_passphrase(store, PASSPHRASE, ["keys/gone"])
    assert str(refused.value).startswith(
        "no key file of the repository can be read; keys/gone refused and skipped: "
    )


def newer(document_change: dict) -> bytes:
    return json.dumps({**json.loads(format_2()), **document_change}).encode()


def test_newer_formats_are_refused_before_a_passphrase_is_asked(tmp_path: Path) -> None:
    asked = []
    source = PassphraseSource("x", lambda _confirm: asked.append(1) or b"right")
    store, names = repository(tmp_path, {"keys/a": newer({"repository_format": 3})})
    with pytest.raises(UnsupportedFormat) as refused:
        unlock_with_passphrase(store, source, names)
    assert str(refused.value) == (
        "keys/a: repository format 3 is newer than this drtool (reads 2); upgrade drtool"
    )
    assert not asked
    with pytest.raises(UnsupportedFormat) as refused:
        key_document(newer({"format": 3}))
    assert str(refused.value) == "key file format 3 is not supported by this drtool"
    with pytest.raises(UnsupportedFormat) as refused:
        key_document(newer({"format": None, "repository_format": 2}))
    assert str(refused.value) == "key file format None is not supported by this drtool"
    assert key_document(newer({"repository_format": "3"}))["format"] == 2


def test_a_newer_key_file_beside_a_readable_one_is_only_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = {"keys/a": format_2(), "keys/b": newer({"repository_format": 3})}
    with caplog.at_level(logging.WARNING):
        assert unlock(tmp_path, files).format == 2
    assert caplog.messages == [
        "keys/b refused and skipped: repository format 3 is newer than this drtool (reads 2); "
        "upgrade drtool"
    ]


def test_a_format_1_key_file_of_a_newer_repository_is_skipped(tmp_path: Path) -> None:
    data = wrap_master_secret(SECRET, b"right", KeyFileHeader(REPOSITORY, 2, "22" * 8), CHEAP)
    store, names = repository(tmp_path, {"keys/a": data})
    # a format-1 key file names its repository format: 2 is not format 1's
    with pytest.raises(UnsupportedFormat, match=r"^keys/a: repository format 2 is newer"):
        unlock_with_passphrase(store, PASSPHRASE, names)


def test_a_tampered_generation_is_named_after_the_wrong_passphrase(tmp_path: Path) -> None:
    document = json.loads(format_2())
    document["generations"][0]["sealed"] = json.loads(format_2())["generations"][0]["sealed"]
    assert refusal(tmp_path, {"keys/a": json.dumps(document).encode()}) == (
        "wrong passphrase (no key file of the repository accepts it); keys/a refused: key file "
        "0000000000000000: generation 1 fails authentication"
    )


def test_a_kms_key_file_naming_another_kms_key_is_never_tried(tmp_path: Path) -> None:
    files = {"keys/k": kms_file(), "keys/a": format_2()}
    assert unlock(tmp_path / "1", files, kms_key="arn:aws:kms:mine").format == 2
    untried = (
        "; KMS key files (keys/k) are tried only for the KMS key DRTOOL_KMS_KEY_ID names: it {}"
    )
    assert refusal(tmp_path / "2", files, NONE) == (
        "the passphrase from DRTOOL_PASSWORD is empty" + untried.format("is not set")
    )
    assert refusal(tmp_path / "3", files, NONE, "arn:aws:kms:mine") == (
        "the passphrase from DRTOOL_PASSWORD is empty" + untried.format("names none of them")
    )
    assert refusal(tmp_path / "4", {"keys/k": kms_file()}, PASSPHRASE) == (
        "no key file opens" + untried.format("is not set")
    )


@pytest.mark.parametrize("count", [4, 5, 6])
def test_many_planted_kms_key_files_are_counted(tmp_path: Path, count: int) -> None:
    files = {f"keys/k{n}": kms_file(f"{n}{n}" * 8) for n in range(count)}
    more = f" and {count - 4} more" if count > 4 else ""
    assert refusal(tmp_path, {**files, "keys/a": format_2()}, NONE) == (
        "the passphrase from DRTOOL_PASSWORD is empty; KMS key files (keys/k0, keys/k1, "
        f"keys/k2, keys/k3{more}) are tried only for the KMS key DRTOOL_KMS_KEY_ID names: "
        "it is not set"
    )


def test_a_kms_file_is_told_by_its_format_kind_and_fields(tmp_path: Path) -> None:
    planted = json.loads(kms_file())
    not_kms = [
        {**planted, "kms": ARN},
        {**planted, "kms": {"key_id": 5}},
        {**json.loads(format_2()), "kms": planted["kms"]},  # a passphrase key file
        {**json.loads(format_1()), "kind": "kms", "kms": planted["kms"]},  # format 1
    ]
    for number, document in enumerate(not_kms):
        files = {"keys/k": json.dumps(document).encode()}
        # not a KMS key file: no line saying why it was not tried
        assert refusal(tmp_path / str(number), files, NONE) in (
            "no key file opens",
            "the passphrase from DRTOOL_PASSWORD is empty",
        ), number


def test_the_configured_kms_key_file_is_tried_first_and_its_failure_said(tmp_path: Path) -> None:
    # damaged before KMS is asked anything: no AWS request is made
    damaged = json.loads(kms_file())
    damaged["kms"]["encrypted_kek"] = ""
    files = {"keys/k": json.dumps(damaged).encode(), "keys/a": format_2()}
    said = "keys/k: KMS key file 1111111111111111 is damaged"
    assert refusal(tmp_path / "1", files, NONE, ARN) == (
        f"{said}; the passphrase from DRTOOL_PASSWORD is empty"
    )
    assert refusal(tmp_path / "2", files, WRONG, ARN) == (
        f"wrong passphrase (no key file of the repository accepts it); {said}"
    )
    # the first failure is the one said
    files["keys/j"] = json.dumps({**damaged, "key_id": "22" * 8}).encode()
    assert refusal(tmp_path / "3", files, WRONG, ARN) == (
        "wrong passphrase (no key file of the repository accepts it); keys/j: KMS key file "
        "2222222222222222 is damaged"
    )
    assert unlock(tmp_path / "4", files, PASSPHRASE, ARN).keys.key_id == "00" * 8
    # not configured: never tried, so never said damaged
    assert refusal(tmp_path / "5", {"keys/k": files["keys/k"]}, NONE) == (
        "no key file opens; KMS key files (keys/k) are tried only for the KMS key "
        "DRTOOL_KMS_KEY_ID names: it is not set"
    )


def test_an_empty_passphrase_with_only_passphrase_files(tmp_path: Path) -> None:
    assert refusal(tmp_path, {"keys/a": format_2()}, NONE) == (
        "the passphrase from DRTOOL_PASSWORD is empty"
    )
    assert isinstance(KeyFileRefused("x"), KeyUnavailable)


def test_the_passphrase_is_read_by_the_caller_and_argon2id_runs_beside_it(tmp_path: Path) -> None:
    """start_unlock reads the passphrase (a prompt, on a terminal) in the caller's thread, once,
    and returns with the derivation (RFC 9106's cost: ~150 ms) still running on another thread;
    result() gives what unlock_with_passphrase gives."""
    readers = []

    def read(_confirm: bool) -> bytes:
        readers.append(threading.current_thread())
        return b"right"

    kek, fields = passphrase_kek(b"right", KdfParameters())
    key_file = new_key_file(
        REPOSITORY, "00" * 8, "passphrase", "t", kek, {1: Generation(1, SECRET)}, fields
    )
    store, names = repository(tmp_path, {"keys/a": key_file})
    pending = start_unlock(store, PassphraseSource("the terminal", read), names)
    deriving = [
        thread for thread in threading.enumerate() if thread is not threading.current_thread()
    ]
    unlocked = pending.result()
    assert readers == [threading.current_thread()]
    assert any(thread.name == "unlock" for thread in deriving)
    assert unlocked == unlock_with_passphrase(store, PASSPHRASE, names)
    assert pending.result() is unlocked
    assert "right" not in repr(pending) and SECRET.hex() not in repr(pending)


def test_a_wrong_passphrase_is_raised_by_the_wait_in_the_callers_thread(tmp_path: Path) -> None:
    store, names = repository(tmp_path, {"keys/a": format_2(), "keys/bad": b"{"})
    pending = start_unlock(store, WRONG, names)
    for _ in range(2):  # raised again, the same line, by a second wait
        with pytest.raises(KeyUnavailable) as refused:
            pending.result()
        assert str(refused.value) == (
            "wrong passphrase (no key file of the repository accepts it); "
            "keys/bad refused and skipped: key file is damaged (JSONDecodeError)"
        )
