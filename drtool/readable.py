"""Nested values (a semantic diff, a kind's description) as indented lines an operator reads:
names as headings, lists one item a line, never a Python repr or a JSON blob."""

from __future__ import annotations

from typing import Any


def readable(key: str, value: Any, indent: str = "  ") -> list[str]:
    if isinstance(value, dict):
        if not value:
            return [f"{indent}{key}: none"]
        lines = [f"{indent}{key}:"]
        for name, item in value.items():
            lines += readable(str(name), item, indent + "  ")
        return lines
    if isinstance(value, list | tuple):
        if not value:
            return [f"{indent}{key}: none"]
        lines = [f"{indent}{key}:"]
        for item in value:
            if isinstance(item, dict | list | tuple):
                lines += readable("-", item, indent + "  ")
            else:
                lines.append(f"{indent}  {item}")
        return lines
    return [f"{indent}{key}: {'none' if value is None else value}"]
