"""The pure halves of the firewall kinds: ordered chain diffs, and nft text split into tables
and objects (the real-tool round trips are in tests/integration)."""

from __future__ import annotations

import pytest

from drtool import nftables_rules
from drtool.ruleset_diff import ordered_changes

ADMIN = "-A INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 22 -j ACCEPT"
DROP = "-A INPUT -p tcp -m tcp --dport 22 -j DROP"


def test_a_moved_rule_is_a_change_and_an_unmoved_chain_is_none() -> None:
    before = {
        "v4 filter INPUT": [":INPUT DROP", ADMIN, DROP],
        "v4 filter OUTPUT": [":OUTPUT ACCEPT"],
    }
    after = {
        "v4 filter INPUT": [":INPUT DROP", DROP, ADMIN],
        "v4 filter OUTPUT": [":OUTPUT ACCEPT"],
    }
    assert ordered_changes(before, after) == {
        "v4 filter INPUT": ["  :INPUT DROP", f"+ {DROP}", f"  {ADMIN}", f"- {DROP}"]
    }
    assert ordered_changes(before, before) == {}


def test_policies_and_whole_chains_on_one_side() -> None:
    changes = ordered_changes(
        {"INPUT": [":INPUT DROP"]}, {"INPUT": [":INPUT ACCEPT"], "NEW": [":NEW -"]}
    )
    assert changes == {"INPUT": ["- :INPUT DROP", "+ :INPUT ACCEPT"], "NEW": ["+ :NEW -"]}


RULESET = """\
table inet filter {
	set admins {
		type ipv4_addr
		elements = { 192.0.2.1, 192.0.2.2,
<CONTINUED>192.0.2.3 }
	}

	chain input {
		type filter hook input priority filter; policy drop;
		ip saddr @admins accept comment "a } in a comment"
	}
}
table ip f2b-table {
}
""".replace("<CONTINUED>", "\t\t\t     ")  # nft wraps long element lists so


def test_nft_text_splits_into_tables_and_objects() -> None:
    tables = nftables_rules.parse(RULESET)
    assert [table.key for table in tables] == ["inet filter", "ip f2b-table"]
    assert nftables_rules.render(tables) == RULESET
    blocks = tables[0].blocks()
    assert [block.header for block in blocks] == ["set admins", "chain input"]
    assert blocks[0].statements[1] == "elements = { 192.0.2.1, 192.0.2.2, 192.0.2.3 }"
    assert blocks[1].statements[1] == 'ip saddr @admins accept comment "a } in a comment"'
    owned = nftables_rules.host_owned(tables, nftables_rules.DEFAULT_RUNTIME_TABLES)
    assert [table.key for table in owned] == ["inet filter"]


def test_the_transaction_names_no_runtime_table() -> None:
    snapshot = nftables_rules.parse(RULESET)
    live = nftables_rules.parse("table inet old {\n}\ntable ip docker-bridges {\n}\n")
    script = nftables_rules.transaction(snapshot, live, nftables_rules.DEFAULT_RUNTIME_TABLES)
    assert "docker" not in script and "f2b" not in script
    assert script.startswith("table inet old\ndelete table inet old\n")


@pytest.mark.parametrize(
    "text", ["flush ruleset\n", "table inet filter {\n\tchain c {\n", "table nosuch x {\n}\n"]
)
def test_text_that_is_not_a_ruleset_is_refused(text: str) -> None:
    with pytest.raises(nftables_rules.RulesetError):
        nftables_rules.parse(text)


def test_a_flowtable_is_an_object_of_its_table() -> None:
    """This machine's kernel has no flowtable support, so no real round trip: the text is kept
    as nft printed it, and the flowtable is one object among the others."""
    text = (
        "table inet fast {\n\tflowtable ft {\n\t\thook ingress priority filter\n"
        '\t\tdevices = { "eth0", "eth1" }\n\t}\n\n\tchain forward {\n'
        "\t\ttype filter hook forward priority filter; policy accept;\n"
        "\t\tip protocol tcp flow add @ft\n\t}\n}\n"
    )
    (table,) = nftables_rules.parse(text)
    assert nftables_rules.render([table]) == text
    assert [(block.header, len(block.statements)) for block in table.blocks()] == [
        ("flowtable ft", 2),
        ("chain forward", 2),
    ]
