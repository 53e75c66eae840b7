"""Extra files and directories named in drtool.toml ([files] paths), e.g. pg_hba.conf."""

from __future__ import annotations

from drtool.collectors.base import PathsCollector


class FilesCollector(PathsCollector):
    warn_if_missing = True

    def __init__(self, paths: tuple[str, ...]) -> None:
        super().__init__("files", paths)
