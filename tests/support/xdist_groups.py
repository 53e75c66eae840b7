"""How pytest-xdist's ``--dist loadgroup`` (scripts/test) shares the tests between its workers.

A test module's tests run on one worker, so that its module-scoped fixtures (a live host, a built
image) start once per run; a module splits only where its tests name groups of their own
(test_failure_matrix.py). The groups are handed out heaviest first (those with the most tests
marked ``slow``), so that the last ones, which the workers finish one beside the other, are
short: a heavy group handed out last would leave the other worker idle while it runs.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # By default pytest-xdist hands out the groups with the most tests first, whatever their
    # cost: it hands them out in collection order instead, the order made below.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Generator[None, None, None]:
    if not getattr(config.option, "loadgroup", False):  # set on a worker of --dist loadgroup
        return (yield)
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(_module(item)))
    items[:] = heaviest_groups_first(items)
    return (yield)  # then pytest-xdist's own hook writes each test's group into its node id


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """On the controller: a worker's tests must carry their groups, else every test would be a
    group of its own, and nothing would say so."""
    if node.config.getoption("dist") == "loadgroup" and ids and "@" not in ids[0]:
        pytest.exit(
            "pytest-xdist's --dist loadgroup did not group the tests (pytest 9.2 with "
            "pytest-xdist 3.8, pytest-xdist issue 1386): install the versions pyproject.toml names",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


def heaviest_groups_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """``items``, group by group, the groups with the most slow tests first (ties, and each
    group's own tests, in collection order)."""
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        groups.setdefault(_group(item), []).append(item)
    ordered = sorted(
        groups.values(),
        key=lambda tests: -sum(t.get_closest_marker("slow") is not None for t in tests),
    )
    return [item for tests in ordered for item in tests]


def _group(item: pytest.Item) -> str:
    marker = item.get_closest_marker("xdist_group")
    return str(marker.args[0]) if marker and marker.args else _module(item)


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]
