"""Typed reads of JSON that came from a repository: the one boundary where a snapshot's values
become typed ones.

Any host holding the passphrase can write a manifest, so its JSON is checked field by field as
it is read (a string where a string belongs, a non-negative integer for a size, …) and anything
else is a one-line IntegrityError naming the field, never a TypeError deep in a restore.
"""

from __future__ import annotations

import re
from typing import Any

from drtool.errors import IntegrityError


class Fields:
    """A JSON object read field by field; ``where`` names it in error messages."""

    def __init__(self, document: Any, where: str) -> None:
        if not isinstance(document, dict):
            raise IntegrityError(f"{where} is malformed (not a JSON object)")
        self.document = document
        self.where = where

    def _refuse(self, key: str, expected: str) -> IntegrityError:
        return IntegrityError(f"{self.where} is malformed: {key!r} must be {expected}")

    def _get(self, key: str, expected: str) -> Any:
        if key not in self.document:
            raise self._refuse(key, expected)
        return self.document[key]

    def string(self, key: str, pattern: re.Pattern[str] | None = None) -> str:
        value = self._get(key, "a string")
        if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
            raise self._refuse(key, "a string" if pattern is None else "a valid name")
        return value

    def optional_string(self, key: str) -> str | None:
        value = self.document.get(key)
        if value is not None and not isinstance(value, str):
            raise self._refuse(key, "a string or null")
        return value

    def integer(self, key: str) -> int:
        """A non-negative integer (sizes, counts)."""
        value = self._get(key, "a non-negative integer")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self._refuse(key, "a non-negative integer")
        return value

    def boolean(self, key: str, default: bool | None = None) -> bool:
        value = self.document.get(key, default)
        if not isinstance(value, bool):
            raise self._refuse(key, "true or false")
        return value

    def strings(self, key: str, pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
        value = self._get(key, "a list of strings")
        if not isinstance(value, list) or not all(
            isinstance(item, str) and (pattern is None or pattern.fullmatch(item)) for item in value
        ):
            raise self._refuse(key, "a list of strings")
        return tuple(value)

    def string_map(self, key: str) -> dict[str, str]:
        """An object of strings to strings (labels, options); absent or null is empty."""
        value = self.document.get(key) or {}
        if not isinstance(value, dict) or not all(
            isinstance(name, str) and isinstance(item, str) for name, item in value.items()
        ):
            raise self._refuse(key, "an object of strings")
        return value

    def mapping(self, key: str) -> dict[str, Any]:
        value = self._get(key, "an object")
        if not isinstance(value, dict):
            raise self._refuse(key, "an object")
        return value

    def objects(self, key: str) -> list[Fields]:
        """A list of JSON objects, each read in turn."""
        value = self._get(key, "a list")
        if not isinstance(value, list):
            raise self._refuse(key, "a list")
        return [Fields(item, f"{self.where} ({key}[{index}])") for index, item in enumerate(value)]
