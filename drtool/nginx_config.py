"""nginx's configuration language, read as nginx reads it, from a staged tree (pure: no tool run).

Enough of it to tell what a snapshot's configuration would make the host do before nginx ever
reads it: directives with their arguments (quoted tokens, escapes, comments), blocks, and
``include`` followed as nginx follows it (relative to the configuration's directory, a glob in
any path segment, sorted). Paths are resolved inside the staged tree: a link, absolute or not,
never leads out of it. A control character is refused: nginx's own lexer would take it, and
it hides what a reviewer sees.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from drtool.staged_paths import GLOB_CHARACTERS, canonical, glob_matches, in_tree

MODULES_DIRECTORY = "/usr/lib/nginx/modules"
PREFIX = "/usr/share/nginx"  # Debian's --prefix: where a relative load_module path starts
# Directives that run code other than nginx's own, or load it.
_HOOK_DIRECTIVES = {
    "perl_modules",
    "perl_require",
    "perl_set",
    "perl",
    "js_import",
    "js_include",
    "js_path",
    "js_preload_object",
    "ssl_engine",
}
# A key or certificate named ``engine:name:id`` makes OpenSSL load the engine ``name`` (a path
# is dlopen()ed); ``store:uri`` opens it through OSSL_STORE, whose loaders may do the same.
_OPENSSL_LOADERS = ("engine:", "store:")
_MAX_INCLUDES = 10_000
_LOADER_VARIABLES = (
    "LD_",
    "GCONV_PATH",
    "GLIBC_TUNABLES",
    "MALLOC_",
    "LOCPATH",
    "NLSPATH",
    "HOSTALIASES",
    "OPENSSL_",
    "SSL_CERT_",
    "PERL",
)


class NginxConfigError(ValueError):
    """The configuration cannot be read safely (a control character, an unclosed quote…)."""


@dataclass(frozen=True)
class Directive:
    name: str
    arguments: tuple[str, ...]
    file: str  # the live path of the file it is in
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


_SPACE = " \t\r\n"
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}


def tokens(text: str, file: str) -> Iterator[tuple[str, int, bool]]:
    """(token, line, quoted) for each token: words, quoted strings, ``{``, ``}``, ``;``, as
    nginx's ngx_conf_read_token splits them: ``#`` starts a comment only where a token could
    start (``A#`` is a word), a word ends only at a blank, ``;`` or ``{`` (``${`` excepted),
    a quoted string must be followed by one of those (or ``)``)."""
    line, index, length = 1, 0, len(text)
    while index < length:
        char = text[index]
        if char == "\n":
            line += 1
            index += 1
        elif char in " \t\r":
            index += 1
        elif ord(char) < 32 or ord(char) == 127:
            raise NginxConfigError(f"{file}:{line}: control character {char!r}")
        elif char == "#":
            while index < length and text[index] != "\n":
                index += 1
        elif char in "{};":
            yield char, line, False
            index += 1
        elif char in "\"'":
            start_line, start = line, index + 1
            index = start
            while True:
                if index >= length:
                    raise NginxConfigError(f"{file}:{start_line}: unclosed quote")
                current = text[index]
                if current == "\\":
                    line += _escaped(text, index + 1, file, line)
                    index += 2
                    continue
                if current == char:
                    break
                if current == "\n":
                    line += 1
                elif (ord(current) < 32 and current != "\t") or ord(current) == 127:
                    raise NginxConfigError(f"{file}:{line}: control character {current!r}")
                index += 1
            yield _unescape(text[start:index]), start_line, True
            index += 1
            if index < length and text[index] not in _SPACE + ";{)":
                raise NginxConfigError(f"{file}:{line}: unexpected {text[index]!r} after a quote")
        else:
            start, variable = index, False
            while index < length:
                current = text[index]
                if (ord(current) < 32 and current not in _SPACE) or ord(current) == 127:
                    raise NginxConfigError(f"{file}:{line}: control character {current!r}")
                if current == "{" and variable:
                    index += 1
                    continue
                variable = current == "$"
                if current == "\\":
                    line += _escaped(text, index + 1, file, line)
                    index += 2
                    continue
                if current in _SPACE + ";{":
                    break
                index += 1
            index = min(index, length)
            yield _unescape(text[start:index]), line, False


def _escaped(text: str, index: int, file: str, line: int) -> int:
    """Check the character a backslash escapes; 1 when it is a newline (a line more)."""
    if index >= len(text):
        return 0
    char = text[index]
    if (ord(char) < 32 and char not in _SPACE) or ord(char) == 127:
        raise NginxConfigError(f"{file}:{line}: control character {char!r}")
    return int(char == "\n")


def _unescape(raw: str) -> str:
    """A token's text as nginx keeps it: ``\\"``, ``\\'``, ``\\\\``, ``\\t``, ``\\r``, ``\\n``
    replaced; any other backslash kept."""
    value, index = [], 0
    while index < len(raw):
        if raw[index] == "\\" and raw[index + 1 : index + 2] in _ESCAPES:
            value.append(_ESCAPES[raw[index + 1]])
            index += 2
        else:
            value.append(raw[index])
            index += 1
    return "".join(value)


def directives(root: Path, config: str = "/etc/nginx/nginx.conf") -> Iterator[Directive]:
    """Every directive of the configuration at live path ``config`` in the tree at ``root``,
    includes expanded in place, blocks flattened (a block's opening directive comes first)."""
    budget = [_MAX_INCLUDES]
    yield from _file_directives(root, config, posixpath.dirname(config), budget, ())


def _file_directives(
    root: Path, file: str, base: str, budget: list[int], stack: tuple[str, ...]
) -> Iterator[Directive]:
    if file in stack:
        raise NginxConfigError(f"{file}: included from itself")
    budget[0] -= 1
    if budget[0] < 0:
        raise NginxConfigError(f"{file}: more than {_MAX_INCLUDES} includes")
    real = resolve(root, file)
    if real is None or not real.is_file():
        return
    text = real.read_bytes().decode("utf-8", errors="replace")
    words: list[tuple[str, int]] = []
    for token, line, quoted in tokens(text, file):
        if token in ("{", ";") and not quoted:
            if words:
                name, first = words[0]
                directive = Directive(name, tuple(w for w, _ in words[1:]), file, first)
                yield directive
                if name == "include" and token == ";" and directive.arguments:
                    for included in expand(root, directive.arguments[0], base):
                        yield from _file_directives(root, included, base, budget, (*stack, file))
            words = []
        elif token == "}" and not quoted:
            words = []
        else:
            words.append((token, line))


def expand(root: Path, pattern: str, base: str, in_tree_only: bool = True) -> list[str]:
    """The live paths an include ``pattern`` names in the tree, sorted (as glob(3) sorts),
    each with its links resolved (``..`` after a link leaves the link's target); with
    ``in_tree_only`` False, a glob's matches whose links lead out of the tree as well."""
    lookup = in_tree(root)
    globbed = any(char in pattern for char in GLOB_CHARACTERS)
    found = ["/"]
    for segment in posixpath.join(base, pattern).split("/"):
        if segment in ("", "."):
            continue
        following = []
        for directory in found:
            if not globbed or not any(char in segment for char in GLOB_CHARACTERS):
                following.append(posixpath.join(directory, segment))
                continue
            real = lookup(directory)
            if not real.is_dir():
                continue
            names = sorted(name for name in _listing(real) if glob_matches(segment, name))
            following += [posixpath.join(directory, name) for name in names]
        found = [path for path in map(lambda path: canonical(path, lookup), following) if path]
    if globbed and in_tree_only:
        return [path for path in found if lookup(path).exists()]
    return found


def included_paths(root: Path, config: str) -> list[tuple[Directive, str]]:
    """Every file an ``include`` reads, as a live path with the snapshot's links resolved:
    one outside the tree is read from the host (nginx quotes what it cannot parse)."""
    base = posixpath.dirname(config)
    return [
        (directive, path)
        for directive in directives(root, config)
        if directive.name == "include" and directive.arguments
        for path in expand(root, directive.arguments[0], base, in_tree_only=False)
    ]


def _listing(directory: Path) -> list[str]:
    try:
        return [entry.name for entry in directory.iterdir()]
    except OSError:
        return []


def resolve(root: Path, live_path: str) -> Path | None:
    """Where ``live_path`` is in the tree at ``root``, links followed as if ``root`` were
    ``/`` (an absolute link stays inside); None when it leads nowhere."""
    path = canonical(live_path, in_tree(root))
    return None if path is None else root / path.lstrip("/")


def hooks(root: Path, staged_roots: tuple[str, ...], config: str) -> list[str]:
    """What in the configuration would run code that is not this host's own nginx: a module
    from outside its module directory (or one the snapshot itself brings), perl, njs, lua,
    an OpenSSL engine. One ``file:line: directive`` each."""
    found = []
    for directive in directives(root, config):
        name = directive.name
        if name == "load_module" and directive.arguments:
            written = posixpath.join(PREFIX, directive.arguments[0])
            module = canonical(written, restored_host(root, staged_roots)) or written
            brought = any(
                path == f"/{staged}" or path.startswith(f"/{staged}/")
                for staged in staged_roots
                for path in (posixpath.normpath(written), module)
            )
            if brought or not module.startswith(MODULES_DIRECTORY + "/"):
                found.append(
                    f"{directive.where}: load_module {directive.arguments[0]} "
                    f"(a module from outside {MODULES_DIRECTORY})"
                )
        elif name in _HOOK_DIRECTIVES or name.startswith("lua_") or "_by_lua" in name:
            found.append(f"{directive.where}: {name} (runs code of the snapshot's)")
        elif name == "env" and directive.arguments and _loader_variable(directive.arguments[0]):
            found.append(
                f"{directive.where}: env {directive.arguments[0].split('=', 1)[0]}= (a new "
                "nginx binary, exec()ed on an upgrade, would load the code it names)"
            )
        elif "ssl_" in name and any(
            arg.startswith(_OPENSSL_LOADERS) for arg in directive.arguments
        ):
            found.append(f"{directive.where}: {name} engine:/store: (OpenSSL loads that code)")
    return found


def _loader_variable(assignment: str) -> bool:
    """Whether ``env NAME=value`` sets a variable that makes the loader, libc, OpenSSL or perl
    load code (``LD_PRELOAD``, ``OPENSSL_CONF``…): nginx passes it to the binary it exec()s
    on an upgrade (USR2, Debian's ``service nginx upgrade`` after a package upgrade)."""
    name, assigned, _ = assignment.partition("=")
    return bool(assigned) and name.upper().startswith(_LOADER_VARIABLES)


def restored_host(root: Path, staged_roots: tuple[str, ...]) -> Callable[[str], Path]:
    """Where a live path is read on the restored host: in the tree at ``root`` inside the
    snapshot's roots, on this machine elsewhere (Debian's /usr/share/nginx/modules is a link
    to /usr/lib/nginx/modules)."""
    tree = in_tree(root)

    def lookup(live_path: str) -> Path:
        inside = any(
            live_path == f"/{staged}" or live_path.startswith(f"/{staged}/")
            for staged in staged_roots
        )
        return tree(live_path) if inside else Path(live_path)

    return lookup


# Directives naming a file nginx reads at start: a host that lacks it does not start nginx.
_FILE_DEPENDENCIES = {
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_trusted_certificate",
    "ssl_client_certificate",
    "ssl_crl",
    "ssl_dhparam",
    "ssl_password_file",
    "ssl_stapling_file",
    "ssl_session_ticket_key",
    "auth_basic_user_file",
    "proxy_ssl_certificate",
    "proxy_ssl_certificate_key",
    "proxy_ssl_trusted_certificate",
    "grpc_ssl_certificate",
    "grpc_ssl_certificate_key",
    "grpc_ssl_trusted_certificate",
    "geoip_country",
    "geoip_city",
    "geoip_org",
}


def dependencies(root: Path, config: str) -> list[tuple[Directive, str]]:
    """The files the configuration reads at start, each with the directive naming it, as live
    paths (includes without a glob, certificates, keys, password files). Paths with a variable
    are read per request, not at start: left out."""
    found = []
    for directive in directives(root, config):
        if directive.name not in _FILE_DEPENDENCIES and directive.name != "include":
            continue
        if not directive.arguments or "$" in directive.arguments[0]:
            continue
        argument = directive.arguments[0]
        if argument.startswith("data:") or any(char in argument for char in "*?["):
            continue
        found.append(
            (directive, posixpath.normpath(posixpath.join(posixpath.dirname(config), argument)))
        )
    return found
