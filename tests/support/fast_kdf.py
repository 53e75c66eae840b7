"""``python -m tests.support.fast_kdf ARGS``: drtool's own CLI, whose new key files ask a cheap
Argon2id (1 pass, 1 lane, 8 MiB) instead of RFC 9106's 3 passes, 4 lanes and 64 MiB.

The suite runs drtool as an operator types it several thousand times; at ~120 ms of Argon2id a
command that unlocks, the default cost was a sixth of the suite's time and proves nothing the
tests look at (what a passphrase unlocks, not how slowly). Only the KDF's *defaults* change,
nothing else: the parameters are written into the key file and read back as they would be.
``tests/e2e/test_cli.py::test_init_writes_rfc_9106s_argon2id_cost`` runs the real ``python -m
drtool init`` and checks the defaults against FORMAT.md; ``Cli(..., fast_kdf=False)`` runs any
other test with them.
"""

from drtool import keys

keys.KdfParameters.__init__.__defaults__ = (1, 1, 8 * 1024)  # iterations, lanes, memory_kib

from drtool.cli import main  # noqa: E402  (after the defaults change)

main()
