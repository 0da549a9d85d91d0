"""`fundtrail users ...`, `fundtrail tokens ...` and `fundtrail audit ...`: thin over AccessOps.

Users, passwords and tokens are managed from the machine that holds the store (whoever can run
these can read the store's files anyway); the REST API checks tokens and roles, the web workbench
passwords and sessions (docs/security.md). A password is read from the terminal without echo or
from one line of standard input (`--password-stdin`), never from an argument: arguments show in
`ps` and in the audit log.
"""

from __future__ import annotations

import contextlib
import getpass
import sys

import typer

from fundtrail.cli.context import workspace
from fundtrail.cli.output import echo_json
from fundtrail.errors import DataError, NotFoundError, UsageError
from fundtrail.workspace.access import AuditRecord, TokenRecord, UserRecord, check_password, check_role

users_app = typer.Typer(help="Users of the REST API and their roles (analyst, investigator, auditor, "
                             "admin).", no_args_is_help=True)
PASSWORD_STDIN_HELP = "Read the password from one line of standard input (instead of asking on the terminal)."
tokens_app = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log of every lookup and change.", no_args_is_help=True)

JSON_HELP = "Print the result as JSON."


def register(app: typer.Typer) -> None:
    """Add the `users`, `tokens` and `audit` command groups to the top-level app."""
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(audit_app, name="audit")


def _user_line(u: UserRecord) -> str:
    state = "active" if u.active else f"disabled {u.disabled_at} by {u.disabled_by}"
    login = "password set" if u.has_password else "no password"
    return f"{u.name:24} {u.role:13} created {u.created_at} by {u.created_by}; {state}; {login}"


def read_password(name: str, *, from_stdin: bool, optional: bool) -> str | None:
    """The new password of `name`: one line of standard input (`from_stdin`; only the line end is
    stripped), else asked twice on the terminal without echo. `optional` (users add): an empty
    answer, or no terminal at all, means no password; otherwise no terminal is a UsageError."""
    if from_stdin:
        try:
            line = sys.stdin.readline()
        except UnicodeDecodeError:
            raise UsageError("password read from standard input is not valid UTF-8", field="password") from None
        return line.removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        if optional:
            return None
        raise UsageError("password cannot be asked for: standard input is not a terminal (give "
                         "--password-stdin and the password on one line of standard input)", field="password")
    try:
        first = getpass.getpass(f"Password for {name}" + (" (empty: none, API tokens only)" if optional else "")
                                + ": ")
        if optional and first == "":
            return None
        check_password(first, name)
        second = getpass.getpass("Repeat the password: ")
    except EOFError:
        raise UsageError("password was not given (end of input)", field="password") from None
    if first != second:
        raise UsageError("password and its repetition differ; nothing was changed", field="password")
    return first


def _token_line(t: TokenRecord) -> str:
    state = "active" if t.active else f"revoked {t.revoked_at} by {t.revoked_by}"
    return f"{t.id}  {t.user:24} created {t.created_at} by {t.created_by}; {state}"


@users_app.command("add")
def users_add(ctx: typer.Context, name: str = typer.Argument(..., help="User name (1-64 of A-Z a-z 0-9 . _ @ -)."),
              role: str = typer.Option(..., "--role", help="analyst, investigator, auditor or admin."),
              password_stdin: bool = typer.Option(False, "--password-stdin", help=PASSWORD_STDIN_HELP),
              as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Add a user with a role (and a password for the web workbench, asked on the terminal)."""
    ws = workspace(ctx, writable=True)
    check_role(role)  # a typo, a bad or taken name are reported before a password is asked for
    with contextlib.suppress(NotFoundError):
        ws.users_get(name)
        raise UsageError(f"name {name!r} is already a user", field="name")
    password = read_password(name, from_stdin=password_stdin, optional=True)
    user = ws.users_add(name, role=role, password=password)
    if as_json:
        echo_json(user)
        return
    login = "with a password" if user.has_password else "without a password (API tokens only)"
    typer.echo(f"added user {user.name} ({user.role}) {login}")


@users_app.command("passwd")
def users_passwd(ctx: typer.Context, name: str = typer.Argument(..., help="User name."),
                 password_stdin: bool = typer.Option(False, "--password-stdin", help=PASSWORD_STDIN_HELP),
                 as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Set a user's web password (asked twice on the terminal); their web sessions end."""
    ws = workspace(ctx, writable=True)
    ws.users_get(name)  # an unknown user is reported before a password is asked for
    password = read_password(name, from_stdin=password_stdin, optional=False)
    assert password is not None  # not optional: read_password returned one or raised
    user = ws.users_passwd(name, password)
    echo_json(user) if as_json else typer.echo(f"password of {user.name} set; their web sessions have ended")


@users_app.command("list")
def users_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the users, their roles and whether they are active."""
    result = workspace(ctx).users_list()
    if as_json:
        echo_json(result)
        return
    for u in result.users:
        typer.echo(_user_line(u))
    if not result.users:
        typer.echo("no users (add one with `fundtrail users add NAME --role admin`)")


@users_app.command("disable")
def users_disable(ctx: typer.Context, name: str = typer.Argument(..., help="User name."),
                  as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Disable a user: their tokens and web sessions are refused from the next request on."""
    user = workspace(ctx, writable=True).users_disable(name)
    echo_json(user) if as_json else typer.echo(f"user {user.name} is disabled (since {user.disabled_at})")


@tokens_app.command("create")
def tokens_create(ctx: typer.Context, user: str = typer.Argument(..., help="The user the token acts as."),
                  as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Create an API token; it is printed this once and cannot be shown again."""
    created = workspace(ctx, writable=True).tokens_create(user)
    if as_json:
        echo_json(created)
        return
    typer.echo(created.token)
    typer.echo(f"token {created.id} for {created.user}: store it now, it is not shown again "
               "(send it as `Authorization: Bearer <token>`)", err=True)


@tokens_app.command("revoke")
def tokens_revoke(ctx: typer.Context, token_id: str = typer.Argument(..., metavar="ID",
                                                                     help="Token id (as `tokens list` shows)."),
                  as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Revoke a token: refused from the next request on."""
    token = workspace(ctx, writable=True).tokens_revoke(token_id)
    echo_json(token) if as_json else typer.echo(f"token {token.id} of {token.user} is revoked")


@tokens_app.command("list")
def tokens_list(ctx: typer.Context, user: str | None = typer.Option(None, "--user", help="Only this user's."),
                as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List token ids, owners and states (never the tokens)."""
    result = workspace(ctx).tokens_list(user=user)
    if as_json:
        echo_json(result)
        return
    for t in result.tokens:
        typer.echo(_token_line(t))
    if not result.tokens:
        typer.echo("no tokens")


def _record_line(r: AuditRecord) -> str:
    who = f"{r.user}" + (f" ({r.role})" if r.role else "")
    subjects = " ".join(r.subjects[:5]) + (f" …(+{len(r.subjects) - 5})" if len(r.subjects) > 5 else "")
    what = f"{r.action} {subjects}" if subjects else r.action
    return f"{r.seq:>6} {r.time} {who} via {r.via}: {what} -> {r.outcome} ({r.status})"


@audit_app.command("show")
def audit_show(ctx: typer.Context,
               user: str | None = typer.Option(None, "--user", help="Only this user's records."),
               since: str | None = typer.Option(None, "--since", help="From this time (ISO 8601, UTC "
                                                   "unless given, or unix seconds)."),
               until: str | None = typer.Option(None, "--until", help="Up to this time (inclusive)."),
               limit: int = typer.Option(100, "--limit", help="At most this many (the newest)."),
               as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show audit records, newest last."""
    page = workspace(ctx).audit_show(user=user, since=since, until=until, limit=limit)
    if as_json:
        echo_json(page)
        return
    for r in page.records:
        typer.echo(_record_line(r))
    if page.next_cursor:
        typer.echo(f"(older records not shown: raise --limit above {limit})", err=True)


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Check every record, the hash chain and the head anchor; names the first bad record.
    Exit 0 when intact, 3 when not."""
    result = workspace(ctx).audit_verify()
    if as_json:
        echo_json(result)
    elif result.problem is None:
        typer.echo(f"audit log intact: {result.records:,} records, last seq {result.last_seq}, "
                   f"hash {result.last_hash}")
        if result.note:
            typer.echo(f"note: {result.note}")
    if result.problem is not None:
        p = result.problem
        where = f"line {p.line}" if p.line is not None else "the head anchor"
        seq = f" (seq {p.seq})" if p.seq is not None else ""
        raise DataError(f"audit log not intact: first bad record at {where}{seq}: {p.what}; the "
                        f"{result.records:,} records before it are intact")
