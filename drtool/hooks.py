"""Hooks: the commands a snapshot's configuration would make the host run besides the service
itself, found before anything runs. Each is listed as ``file:line: what``; a restore or a drill
refuses a snapshot that holds any unless the operator allowed them (drtool.validation).

The readers here are pure and read each file as its tool reads it.
"""

from __future__ import annotations

from pathlib import Path

WIREGUARD_HOOKS = ("preup", "postup", "predown", "postdown")
# iptables' short options that take an argument (its getopt string, required or optional):
# in a cluster such as ``-vM``, the letters after one of these are its argument.
_IPTABLES_ARGUMENT_OPTIONS = frozenset("ACDEFILMNPRSWXZcdghijmopstw")


def wireguard_hooks(text: str, file: str) -> list[str]:
    """PreUp/PostUp/PreDown/PostDown of the [Interface] section, found as wg-quick's
    parse_options finds them: bash's ``read`` drops NUL bytes, then the text before ``#``, the
    key before ``=`` with blanks trimmed, keys and section names matched in any case
    (``nocasematch``: towlower in the locale, so ``İ`` is ``i`` in a UTF-8 one; casefold
    matches more, never less); a section starts with a key beginning with ``[``."""
    found = []
    in_interface = False
    for number, line in enumerate(text.replace("\0", "").split("\n"), 1):
        # [[:space:]] is iswspace in the locale (U+2003 in a UTF-8 one): strip() trims more.
        key = line.split("#", 1)[0].split("=", 1)[0].strip()
        folded = key.replace("\u0130", "i").casefold()  # towlower(İ) is i in a UTF-8 locale
        if key.startswith("["):
            in_interface = folded == "[interface]"
        elif in_interface and folded in WIREGUARD_HOOKS:
            found.append(f"{file}:{number}: {key} (a command wg-quick runs as root)")
    return found


def iptables_modprobe_hooks(rules: str, file: str) -> list[str]:
    """``--modprobe`` in iptables-save text: iptables-restore runs that program as root to load
    a kernel module. Each line is split into words as iptables-restore splits it, and each word
    read as getopt_long reads it: ``-M`` (alone, in a cluster such as ``-vM``, or with its
    argument attached) and any abbreviation of ``--modprobe`` (``--modp``, ``--mo=...``)."""
    return [
        f"{file}:{number}: --modprobe (a program iptables-restore runs as root)"
        for number, line in enumerate(rules.split("\n"), 1)
        if any(_is_modprobe(word) for word in _iptables_words(line.split("\0", 1)[0]))
    ]


def _iptables_words(line: str) -> list[str]:
    """The words of a line as iptables-restore's add_param_to_argv splits it: blanks separate,
    double quotes group (and end a word when they close), a backslash escapes inside quotes."""
    words: list[str] = []
    word: list[str] = []
    quoted = escaped = False
    for char in line:
        if quoted:
            if escaped:
                word.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
                words.append("".join(word))
                word = []
            else:
                word.append(char)
        elif char == '"':
            quoted = True
        elif char in " \t\n":
            if word:
                words.append("".join(word))
                word = []
        else:
            word.append(char)
    if word:
        words.append("".join(word))
    return words


def _is_modprobe(word: str) -> bool:
    if word.startswith("--"):
        name = word.split("=", 1)[0]
        return len(name) >= len("--m") and "--modprobe".startswith(name)
    if word.startswith("-"):
        for letter in word[1:]:
            if letter == "M":
                return True
            if letter in _IPTABLES_ARGUMENT_OPTIONS:
                return False
    return False


def fail2ban_action_hooks(staged: Path, shipped: Path, live: str) -> list[str]:
    """The commands of the fail2ban actions in ``staged`` (an action.d directory) that this
    host's own action files (``shipped``) do not hold: a new action, a ``.local`` override, a
    changed key of a shipped one (its [Init] values are substituted into its commands). Also
    a link (fail2ban follows it, wherever it leads) and a Python action (``.py``, loaded as
    code) that is not the host's own. One ``file:line: key`` each."""
    if staged.is_symlink():
        return [f"{live}:1: a link (fail2ban follows it to its actions)"]
    found = []
    for path in sorted(staged.glob("*")):
        if path.is_symlink():
            found.append(f"{live}/{path.name}:1: a link (fail2ban follows it to its action)")
            continue
        if path.suffix == ".py" and path.is_file() and not _same_file(path, shipped / path.name):
            found.append(f"{live}/{path.name}:1: Python code (a fail2ban action runs it as root)")
            continue
        if not path.is_file() or path.suffix not in (".conf", ".local"):
            continue
        own = _ini_values(shipped / path.name) if path.suffix == ".conf" else {}
        for (section, key), (value, number) in _ini_values(path).items():
            if own.get((section, key), (None,))[0] != value:
                found.append(
                    f"{live}/{path.name}:{number}: {key} (a command fail2ban runs as root)"
                )
    return found


def _same_file(path: Path, own: Path) -> bool:
    try:
        return path.read_bytes() == own.read_bytes()
    except OSError:
        return False


def ignorecommand_hooks(directory: Path, shipped_jails: Path, live: str) -> list[str]:
    """``ignorecommand`` (in any case, as fail2ban reads keys) in the jail files of a fail2ban
    directory (run for each failure), where it is set and differs from this host's own
    ``jail.conf`` (``shipped_jails``)."""
    own = _ini_values(shipped_jails)
    found = []
    for path in sorted([*directory.glob("jail.*"), *directory.glob("jail.d/*")]):
        if path.is_symlink() or not path.is_file():
            continue
        for (section, key), (value, number) in _ini_values(path).items():
            mine = own.get((section, "ignorecommand"), (None,))[0]
            if key.lower() == "ignorecommand" and value and mine != value:
                relative = path.relative_to(directory).as_posix()
                found.append(f"{live}/{relative}:{number}: ignorecommand (a command fail2ban runs)")
    return found


def _ini_values(path: Path) -> dict[tuple[str, str], tuple[str, int]]:
    """(section, key) -> (value, line) of a fail2ban .conf/.local file, continuation lines
    joined, as fail2ban's own parser (configparser) reads it."""
    values: dict[tuple[str, str], tuple[str, int]] = {}
    try:
        text = path.read_bytes().decode(errors="replace")
    except OSError:
        return values
    section, current = "", None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        if line[0] in " \t" and current is not None:
            value, first = values[current]
            values[current] = (f"{value}\n{line.strip()}", first)
        elif line.strip().startswith("["):
            section, current = line.strip().strip("[]"), None
        elif "=" in line or ":" in line:
            separator = min(i for i in (line.find("="), line.find(":")) if i >= 0)
            current = (section, line[:separator].strip())
            values[current] = (line[separator + 1 :].strip(), number)
    return values
