"""`nft -s list ruleset` text split as nft prints it (drtool/nftables_rules.py), fast: comments
and blank lines between tables, a table's own statements, element lists wrapped over lines, the
exact refusals, and the transaction's text. Expected results are written out by hand; the real
round trips through nft are tests/integration/test_nftables.py. Written for the mutants that
survived tests/unit/test_rulesets.py."""

from __future__ import annotations

import pytest

from drtool.nftables_rules import (
    DEFAULT_RUNTIME_TABLES,
    Block,
    RulesetError,
    Table,
    parse,
    render,
    transaction,
)

FILTER = """\
table inet filter {
\tcomment "the host's own"
\tflags dormant

\tset admins {
\t\ttype ipv4_addr
\t\telements = { 192.0.2.1, 192.0.2.2,
\t\t\t     192.0.2.3 }
\t}

\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tip saddr @admins accept comment "{ not a block"
\t}
}
"""
DOCKER = """\
table ip docker-bridges {
\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t}
}
"""
RULESET = (
    "# nft -s list ruleset, saved by hand with a comment\n"
    + FILTER
    + "\n  # an indented comment between tables\n"
    + DOCKER
)


def test_tables_blocks_and_statements_are_split_as_nft_prints_them() -> None:
    filter_, docker = parse(RULESET)
    assert (filter_.key, docker.key) == ("inet filter", "ip docker-bridges")
    assert filter_.blocks() == [
        Block("table", ('comment "the host\'s own"', "flags dormant")),
        Block(
            "set admins",
            ("type ipv4_addr", "elements = { 192.0.2.1, 192.0.2.2, 192.0.2.3 }"),
        ),
        Block(
            "chain input",
            (
                "type filter hook input priority filter; policy drop;",
                'ip saddr @admins accept comment "{ not a block"',
            ),
        ),
    ]
    assert docker.blocks() == [
        Block("chain forward", ("type filter hook forward priority filter; policy accept;",))
    ]
    assert render([filter_, docker]) == FILTER + DOCKER


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\n# c\nflush ruleset\n", 'line 3: expected a table, found "flush ruleset"'),
        ("table nosuch x {\n}\n", 'line 1: expected a table, found "table nosuch x {"'),
        ("table inet filter {\n\tchain c {\n\t}\n", "table inet filter is not closed"),
        (
            "add rule " + "x" * 100,
            f'line 1: expected a table, found "{("add rule " + "x" * 100)[:80]}"',
        ),
    ],
)
def test_text_that_is_not_a_ruleset_is_refused_in_words(text: str, message: str) -> None:
    with pytest.raises(RulesetError) as refused:
        parse(text)
    assert str(refused.value) == message


def test_a_block_left_open_inside_a_table_is_refused() -> None:
    table = Table("inet", "t", "table inet t {\n\tchain c {\n\t\taccept\n}\n")
    with pytest.raises(RulesetError) as refused:
        table.blocks()
    assert str(refused.value) == 'table inet t: block "chain c" is not closed'


def test_the_transaction_deletes_each_host_table_once_then_creates_the_snapshots() -> None:
    snapshot = parse("table inet filter {\n}\ntable ip f2b-table {\n}\n")
    live = parse("table inet old {\n}\ntable inet filter {\n}\ntable ip docker-nat {\n}\n")
    assert transaction(snapshot, live, DEFAULT_RUNTIME_TABLES) == (
        "table inet old\ndelete table inet old\n"
        "table inet filter\ndelete table inet filter\n"
        "table inet filter {\n}\n"
    )
