"""The CLI's audit hook: one audit record per command that used a store.

`cli/main.py` calls `plan` before running a command (which also refuses to run it, with an
AuditError, when its record could not be written) and `record_command` after it, with the exit
code and outcome. The record names the command path (`trace`, `cluster show`), the subjects asked
about (positional arguments and the values of options naming addresses, txids, seed files or
cases; a seeds file is named, never read) and the other options given; values of options named
like a password, token or secret are never recorded, nor the `user:password@` of a URL (`--rpc`).
The free text of a case (a note, a finding, its basis, a seed's note) is not recorded either, only
its length (`text_chars`, `fact_chars`, ...): the audit log says who touched which case, not what
the case file says. A command may add subjects
known only once it ran (`add_subject`: the id of the case `case new` opened). `--help` and
`--version` are not recorded, nor commands on a directory without a store catalog (nothing to audit),
nor `verify`, which reads a bundle and never a store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fundtrail.errors import AuditError, ConfigError
from fundtrail.settings import Settings
from fundtrail.workspace import Actor
from fundtrail.workspace.access import AuditEntry, append_audit, check_audit_writable, is_store

#: Options whose values are subjects (what was asked about), not parameters.
SUBJECT_OPTIONS = frozenset({"--seeds-file", "--address", "--txid", "--case", "--cluster", "--ref"})
#: The global options: where the store is and who acts are the record's own fields.
_GLOBAL_NAMES = frozenset({"store", "as", "quiet", "verbose", "version"})
_NOT_RECORDED = frozenset({"--help", "--version"})
#: Commands that never use a store, so they leave no record in one (`verify` checks a bundle alone).
_NO_STORE_COMMANDS = frozenset({"verify"})
#: Case commands' free-text options and arguments: recorded as their length only.
_TEXT_OPTIONS = frozenset({"--fact", "--inference", "--basis", "--note"})
_TEXT_ARGUMENTS = frozenset({"text"})
#: Subjects the running command added (`add_subject`), taken by the next `record_command`.
_ADDED: list[str] = []


def add_subject(value: str) -> None:
    """Name a subject known only once the command ran (a new case's id) in its audit record."""
    _ADDED.append(str(value))


@dataclass
class AuditPlan:
    """What the hook knows before a command runs: its store settings, actor and command path."""

    settings: Settings
    actor: Actor
    command_path: str


def _options(cmd: Any) -> dict[str, Any]:
    """Every option string of a click command -> its parameter."""
    found: dict[str, Any] = {}
    for param in getattr(cmd, "params", []):
        if getattr(param, "param_type_name", "") == "option":
            for opt in (*param.opts, *getattr(param, "secondary_opts", ())):
                found[opt] = param
    return found


def _takes_value(param: Any) -> bool:
    return not (getattr(param, "is_flag", False) or getattr(param, "count", False))


def parse(command: Any, argv: list[str]) -> tuple[list[str], list[str], dict[str, Any]]:
    """(command path words, subjects, params) of `argv` for the click command tree `command`,
    read the way click reads it (options and their values, positionals, `--`), without running
    any option callback or opening any file."""
    path: list[str] = []
    subjects: list[str] = []
    params: dict[str, Any] = {}
    cmd, opts = command, _options(command)
    i, only_args, positional = 0, False, 0
    while i < len(argv):
        tok = argv[i]
        i += 1
        if not only_args and tok == "--":
            only_args = True
            continue
        if not only_args and tok.startswith("-") and len(tok) > 1 and not _is_number(tok):
            name, _, inline = tok.partition("=")
            param = opts.get(name)
            if param is None:  # unknown (the command reports it) or combined short flags (-qv)
                if name.startswith("--"):
                    params.setdefault("unknown_options", []).append(name)
                continue
            value: Any = None
            if not _takes_value(param):
                value = name not in getattr(param, "secondary_opts", ())
            elif "=" in tok:
                value = inline
            elif i < len(argv):
                value, i = argv[i], i + 1
            _add_option(param, name, value, subjects, params, text=bool(path) and path[0] == "case")
            continue
        subs = getattr(cmd, "commands", None)
        if subs and not only_args and tok in subs:
            path.append(tok)
            cmd = subs[tok]
            opts = _options(cmd)
            positional = 0
            continue
        arg = _argument(cmd, positional)
        positional += 1
        if path and path[0] == "case" and arg in _TEXT_ARGUMENTS:
            params[f"{arg}_chars"] = len(tok)
            continue
        if path == ["webhooks", "add"]:  # a receiver's URL may hold a token in its path or query
            tok = _origin(tok)
        subjects.append(tok)
    return path, subjects, params


def _argument(cmd: Any, index: int) -> str | None:
    """The name of the command's positional parameter that the `index`-th positional fills."""
    args = [p for p in getattr(cmd, "params", []) if getattr(p, "param_type_name", "") == "argument"]
    for p in args:
        if getattr(p, "nargs", 1) < 0:
            return str(p.name)
        if index < getattr(p, "nargs", 1):
            return str(p.name)
        index -= getattr(p, "nargs", 1)
    return None


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


def _add_option(param: Any, name: str, value: Any, subjects: list[str], params: dict[str, Any], *,
                text: bool = False) -> None:
    longs = [o for o in param.opts if o.startswith("--")]
    key = (longs[0] if longs else name).lstrip("-").replace("-", "_")
    if key in _GLOBAL_NAMES:
        return
    if text and any(o in _TEXT_OPTIONS for o in param.opts):
        params[f"{key}_chars"] = len(str(value or ""))
        return
    if any(o in SUBJECT_OPTIONS for o in param.opts):
        if value is not None:
            subjects.append(str(value))
        return
    value = _without_userinfo(value)
    if getattr(param, "multiple", False) or key in params:
        prior = params.get(key, [])
        params[key] = [*(prior if isinstance(prior, list) else [prior]), value]
    elif getattr(param, "count", False):
        params[key] = int(params.get(key, 0)) + 1
    else:
        params[key] = value


def _origin(url: str) -> str:
    """Only the scheme and host of a URL (`https://hooks.example.com`), without user info."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "[not a URL]"
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0].rsplit('@', 1)[-1]}"


def _without_userinfo(value: Any) -> Any:
    """A URL option value with any `user:password@` removed (`--rpc http://u:p@host:8332`): a
    node's credentials must never reach the audit log; other values as given."""
    if isinstance(value, str) and "://" in value and "@" in value:
        scheme, rest = value.split("://", 1)
        host, sep, path = rest.partition("/")
        if "@" in host:
            return f"{scheme}://***@{host.rsplit('@', 1)[1]}{sep}{path}"
    return value


def _global_value(argv: list[str], option: str) -> str | None:
    """The last value given to a global option (`--store`, `--as`) anywhere in argv."""
    value: str | None = None
    for i, tok in enumerate(argv):
        if tok == "--":
            break
        if tok == option and i + 1 < len(argv):
            value = argv[i + 1]
        elif tok.startswith(option + "="):
            value = tok.split("=", 1)[1]
    return value


#: Commands that examine the audit log itself: they run (unrecorded) when it cannot be appended to,
#: since finding out what is wrong with it is their purpose.
_EXAMINE_LOG = {("audit", "verify"), ("audit", "show")}


def plan(command: Any, argv: list[str]) -> AuditPlan | None:
    """The audit plan of a command line, checked before it runs: None when nothing will be
    recorded (`--help`, `--version`, no subcommand, unreadable settings: the command itself
    reports those). Raises AuditError when the store has a catalog but its audit log cannot be
    written: the command must then not run."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    if any(a in _NOT_RECORDED for a in options):
        return None
    _ADDED.clear()
    path, _subjects, _params = parse(command, argv)
    if not path or path[0] in _NO_STORE_COMMANDS:
        return None
    store = _global_value(argv, "--store")
    try:
        settings = Settings.load(store=Path(store).expanduser() if store else None)
    except ConfigError:
        return None
    actor = Actor.local(via="cli", user=_global_value(argv, "--as"))
    try:
        check_writable(settings)
    except AuditError:
        if tuple(path[:2]) in _EXAMINE_LOG:  # reading a damaged log must stay possible: unrecorded
            return None
        raise
    return AuditPlan(settings=settings, actor=actor, command_path=" ".join(path))


def check_writable(settings: Settings) -> None:
    """AuditError when the store has a catalog and a record could not be appended to its audit
    log now (checked before a command runs, so it is refused rather than run unrecorded)."""
    if is_store(settings.store):
        check_audit_writable(settings.store)


def record_command(settings: Settings, actor: Actor, command_path: str, argv: list[str], status: int,
                   outcome: str, *, command: Any = None) -> None:
    """Append the record of one finished CLI command (exit `status`, `outcome` `ok` or the error
    code); nothing when the store has no catalog. `command` is the click command tree, to tell
    options from positionals (built here when not given). AuditError when it cannot be written."""
    if not command_path or not is_store(settings.store):
        return
    if command is None:
        from fundtrail.cli.main import build_command  # the tree main.py ran; imported late (cycle)
        command = build_command()
    _path, subjects, params = parse(command, argv)
    subjects += [s for s in _ADDED if s not in subjects]
    _ADDED.clear()
    entry = AuditEntry(user=actor.user, role=actor.role, via="cli", action=command_path,
                       subjects=subjects, params=params, outcome=outcome, status=status)
    append_audit(settings.store, entry)
