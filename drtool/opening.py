"""A repository being opened: its key derived on a thread of its own while the command does the
work that needs no key.

Argon2id at RFC 9106's cost (64 MiB, three passes) takes 130-180 ms on a small machine, every
command that opens the repository with a passphrase pays it, and `cryptography` releases the GIL
while it derives. Started here, it runs beside the command's imports and its listing of the
repository (not a backup's collectors: drtool/backup.py says why); the command waits for it
(``unlocked``) where it first needs the key, and the unlock's error is raised there, the one line
Repository.open raises. Whatever may ask the operator (the prompt) or call the KMS is done before
anything is left running, in the caller's thread (drtool/keyring/unlock.py): nothing is asked that
Repository.open would not ask.

A command changes nothing before it has the key: whatever it writes, to the repository or to the
host, it writes after ``unlocked`` returned.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from drtool.errors import DrtoolError, KeyUnavailable
from drtool.keyring.unlock import PendingUnlock, start_unlock
from drtool.passphrase import PassphraseSource
from drtool.store import Store

# drtool.repository (and what it imports) loads while the key is derived, not before.
if TYPE_CHECKING:
    from drtool.repository import Repository
    from drtool.snapshot import SnapshotRef


class Opening:
    """A repository whose key is being derived (or already known)."""

    def __init__(
        self, store: Store, pending: PendingUnlock | Repository, seen_on: Path | None = None
    ) -> None:
        self.store = store
        self._pending = pending
        self._seen_on = seen_on

    def snapshot_refs(self, host: str | None = None) -> list[SnapshotRef]:
        """Repository.snapshot_refs, which needs no key: listed while the key is derived."""
        from drtool.repository import listed_snapshot_refs

        return listed_snapshot_refs(self.store, host)

    def snapshot_hosts(self) -> list[str]:
        """Repository.snapshot_hosts, which needs no key: listed while the key is derived."""
        from drtool.repository import listed_snapshot_hosts

        return listed_snapshot_hosts(self.store)

    def unlocked(self) -> Repository:
        """The repository, once its key is derived; raise the unlock's error if none opened."""
        if isinstance(self._pending, PendingUnlock):
            from drtool.repository import Repository

            unlocked = self._pending.result()
            self._pending = Repository(
                self.store, unlocked.repository_id, unlocked.keys, unlocked.format, self._seen_on
            )
        return self._pending

    def opened(self) -> Repository | None:
        """The repository if its key opened, else None: whether a failed command may still
        record its failure there."""
        try:
            return self.unlocked()
        except DrtoolError:
            return None

    def __repr__(self) -> str:
        return f"Opening({self.store.location})"


def start_opening(
    store: Store,
    passphrase: PassphraseSource,
    kms_key: str | None = None,
    seen_on: Path | None = None,
) -> Opening:
    """Start opening the repository of ``store`` with the passphrase (or KMS key ``kms_key``,
    the one this host is configured with), as Repository.open does. Raise RepositoryNotFound,
    UnsupportedFormat or KeyUnavailable now for what is known before any derivation."""
    key_names = list(store.list("keys"))
    if not key_names:
        from drtool.repository import read_config

        read_config(store)  # raises RepositoryNotFound where there is no repository
        raise KeyUnavailable(f"{store.location} holds no key file")
    return Opening(store, start_unlock(store, passphrase, key_names, kms_key), seen_on)


@contextmanager
def unlock_errors_first(repository: Repository | Opening) -> Iterator[None]:
    """Work done while the key is derived (a listing) whose error is raised only if the key
    opens: else the unlock's error is, as when the key was derived before that work."""
    try:
        yield
    except DrtoolError:
        unlocked(repository)
        raise


def unlocked(repository: Repository | Opening) -> Repository:
    """``repository``, waiting for its key if it is still being opened."""
    return repository.unlocked() if isinstance(repository, Opening) else repository
