"""``python -m tests.support.attacker_drtool ARGS``: drtool as a hostile writer builds it, to
make the snapshots the review tests restore. It backs up a root that is a symlink as the link it
is, as drtool did before its backup refused one (drtool/collectors/base.py): a writer credential
or the passphrase is all it takes to store such a snapshot, so the restore must still refuse it.
Otherwise it is tests/support/fast_kdf.py's drtool.
"""

from drtool.collectors.base import PathsCollector

PathsCollector.refuse_linked_root = lambda self, host, root: None  # type: ignore[method-assign]

import tests.support.fast_kdf  # noqa: E402, F401  (runs drtool's CLI)
