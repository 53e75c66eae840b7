"""The repository's stored names as the store itself holds them, for tests whose oracle is the
store and not drtool: files of a local repository, or keys of an S3 bucket (boto3)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class StoredNames:
    """Lists, deletes and writes names of a repository beside drtool, as an attacker with
    storage access (or a test) does."""

    directory: Path | None = None
    client: Any = None
    bucket: str = ""
    prefix: str = "drtool"

    def names(self, under: str) -> list[str]:
        """Every name below ``under`` (``snapshots/web-1``), relative to the repository."""
        if self.directory is not None:
            base = self.directory / under
            if not base.is_dir():
                return []
            return sorted(
                path.relative_to(self.directory).as_posix()
                for path in base.rglob("*")
                if path.is_file()
            )
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}/{under}/")
        return sorted(item["Key"][len(self.prefix) + 1 :] for item in listed.get("Contents", []))

    def delete(self, name: str) -> None:
        if self.directory is not None:
            (self.directory / name).unlink()
        else:
            self.client.delete_object(Bucket=self.bucket, Key=f"{self.prefix}/{name}")

    def read(self, name: str) -> bytes:
        if self.directory is not None:
            return (self.directory / name).read_bytes()
        return self.client.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{name}")[
            "Body"
        ].read()

    def write(self, name: str, data: bytes) -> None:
        if self.directory is not None:
            path = self.directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        else:
            self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}/{name}", Body=data)
