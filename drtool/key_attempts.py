"""How much Argon2id work one unlock may spend on a repository's key files.

Each key file names its own KDF cost (capped: 1 GiB, 10 passes, drtool.keys), and an unlock
tries the key files until one accepts the passphrase. Anyone with write access to the storage
can add key files: a thousand at the maximum cost would make every command derive for hours.
So key files are tried cheapest first (an honest repository's keys at the default cost come
before a planted expensive one), and the total cost tried on one unlock is bounded: past the
budget the unlock stops with one line (exit 66), before deriving again.

The cost of a key file is the memory it asks for times its passes (KiB-passes), the work and
memory Argon2id spends on one derivation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from drtool.errors import KeyAttemptsExceeded
from drtool.keys import MAX_KDF_ITERATIONS, MAX_KDF_MEMORY_KIB

MAX_ATTEMPT_COST = MAX_KDF_MEMORY_KIB * MAX_KDF_ITERATIONS
# Two key files at the maximum cost (seconds to a minute each), or about a hundred at the
# default cost (64 MiB, 3 passes).
BUDGET = 2 * MAX_ATTEMPT_COST


def kdf_cost(key_file: bytes) -> int:
    """The KDF cost a key file asks for; the maximum for one that cannot be read (it is
    refused when tried, and should not be tried before a readable one)."""
    try:
        kdf = json.loads(key_file)["kdf"]
        memory, passes = kdf["memory_kib"], kdf["iterations"]
        if isinstance(memory, int) and isinstance(passes, int) and memory > 0 and passes > 0:
            return min(memory * passes, MAX_ATTEMPT_COST)
    except (ValueError, KeyError, TypeError, RecursionError):
        pass
    return MAX_ATTEMPT_COST


def within_budget(
    key_files: Iterable[tuple[str, bytes]], budget: int = BUDGET
) -> Iterator[tuple[str, bytes]]:
    """The (name, key file) pairs cheapest first (by name among equals), while their total
    cost stays within ``budget``; KeyAttemptsExceeded instead of the first past it."""
    ordered = sorted(key_files, key=lambda pair: (kdf_cost(pair[1]), pair[0]))
    spent = 0
    for tried, (name, key_file) in enumerate(ordered):
        spent += kdf_cost(key_file)
        if spent > budget:
            raise KeyAttemptsExceeded(
                f"no key file accepted the passphrase in the {tried} cheapest of "
                f"{len(ordered)}; the others ask for more Argon2id work than one unlock spends "
                f"(at most {budget // MAX_ATTEMPT_COST} key files at 1 GiB and 10 passes): "
                "remove the key files nobody uses from the repository's keys/"
            )
        yield name, key_file
