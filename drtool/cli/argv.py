"""Global options anywhere on the line, as restic and borg accept them: ``drtool snapshots
--host web-1`` and ``drtool backup -v`` mean ``drtool --host web-1 snapshots`` and
``drtool -v backup``.

click parses a group's options only before the command, so the command line is rearranged
first: a global option found after the command (and not one of the command's own) moves, with
its value, before it. Values of the command's own options are skipped, never taken for options;
everything after ``--`` stays where it is.
"""

from __future__ import annotations

import click


def _options(command: click.Command) -> dict[str, bool]:
    """Every option string of ``command``, mapped to whether it takes a value."""
    found = {}
    for parameter in command.params:
        if isinstance(parameter, click.Option):
            takes_value = not (parameter.is_flag or parameter.count)
            for name in (*parameter.opts, *parameter.secondary_opts):
                found[name] = takes_value
    return found


def _split(token: str) -> tuple[str, bool]:
    """Given ``--name=value`` or ``--name``, return the name and whether a value is attached."""
    if token.startswith("--") and "=" in token:
        return token.split("=", 1)[0], True
    return token, False


def hoist_global_options(group: click.Group, arguments: list[str]) -> list[str]:
    """Return ``arguments`` with the group's options that follow the command moved before it."""
    global_options = _options(group)
    index = 0
    while index < len(arguments) and arguments[index].startswith("-"):
        name, attached = _split(arguments[index])
        if name == "--":
            return arguments
        index += 2 if global_options.get(name) and not attached else 1
    if index >= len(arguments):
        return arguments
    context = click.Context(group)
    command = group.get_command(context, arguments[index])  # a lazy group imports its module
    if command is None:
        return arguments
    own_options = _options(command)
    before, after = arguments[: index + 1], arguments[index + 1 :]
    if isinstance(command, click.Group):  # `drtool key add-writer --host H`: the subcommand's
        named = next((token for token in after if not token.startswith("-")), None)
        subcommand = command.get_command(context, named) if named else None
        if subcommand is not None:
            own_options.update(_options(subcommand))
    hoisted: list[str] = []
    kept: list[str] = []
    position = 0
    while position < len(after):
        token = after[position]
        name, attached = _split(token)
        if token == "--":
            kept += after[position:]
            break
        if name in own_options or name not in global_options:
            width = 2 if own_options.get(name) and not attached else 1
            kept += after[position : position + width]
            position += width
            continue
        width = 2 if global_options[name] and not attached else 1
        hoisted += after[position : position + width]
        position += width
    return [*before[:-1], *hoisted, before[-1], *kept]
