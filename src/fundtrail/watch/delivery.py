"""Delivering the alert outbox to webhooks: never lost, at least once on the wire, once per key.

An alert and its outbox rows (one per webhook active then) are committed with the ingest batch that
raised it, so what is in the outbox survives any crash. A deliverer takes the due rows in order, up
to `CLAIM_BATCH` at a time:

1. **claim** them in one transaction: each attempt is counted and `next_attempt_at` is pushed a
   lease ahead (`webhook_timeout` + 5 s + the round's budget of 10 s), so a second deliverer (a
   `serve`, another `alerts deliver`) does not send the same row meanwhile; a deliverer killed
   mid-POST leaves rows that fall due again when the lease ends;
2. **POST** it, outside any transaction (the catalog is not held while a receiver answers), over the
   webhook's kept-alive connection, after the rows claimed before it for that webhook
   (`watch.poster`: other webhooks are served at the same time);
3. **record** the outcomes in one transaction, each only if the row still carries this claim's
   lease: 2xx -> `delivered`; otherwise the one-line error and a retry after
   `webhook_retry_base` * 2^(attempts-1) seconds (+ up to 20 % jitter, so receivers coming back
   are not hit by every deliverer at once), or `dead` once `webhook_max_attempts` attempts were made.

A crash between the POST and step 3 sends the row again later: delivery is at least once on the
wire, and exactly once per `X-Fundtrail-Idempotency-Key` at a receiver that remembers the keys it
has processed (docs/watch.md, "Delivery").
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass, field
from typing import Any

from fundtrail.errors import DataError, NotFoundError, UsageError
from fundtrail.store import Store
from fundtrail.watch.delivery_http import Attempt
from fundtrail.watch.poster import Poster, PostJob, ThreadPoster
from fundtrail.watch.webhooks import REMOVED_REASON, read_secret, utc_now

__all__ = ["CLAIM_BATCH", "LEASE_MARGIN_S", "MAX_DELAY_S", "ROUND_BUDGET_S", "DeliveryReport", "Outcome",
           "backoff_seconds", "dead_letters",
           "deliver_due", "deliveries_of", "outbox_state", "replay"]

log = logging.getLogger(__name__)
LEASE_MARGIN_S = 5.0
#: rows claimed (and their outcomes recorded) per catalog transaction: a catalog visit costs ~20 ms and
#: a POST on a kept-alive loopback connection well under 1 ms, so a block's hundreds of alerts go in few visits
CLAIM_BATCH = 500
#: a round starts no POST after this many seconds (the rest are released, due at once), so a claim's
#: lease need only outlast it and one POST, whatever the batch size and however slow a receiver is
ROUND_BUDGET_S = 10.0
MAX_DELAY_S = 86_400.0
JITTER = 0.2


@dataclass(frozen=True)
class Outcome:
    """One attempt: the row, what became of it (`delivered`, `retry`, `dead`), its attempts so far."""

    alert_id: str
    webhook_id: str
    status: str
    attempts: int
    http_status: int | None = None
    error: str | None = None


@dataclass
class DeliveryReport:
    """What one `deliver_due` did, and what is left: pending rows and when the next falls due."""

    outcomes: list[Outcome] = field(default_factory=list)
    pending: int = 0
    next_attempt_at: dt.datetime | None = None
    untried: int = 0  # claimed but not sent: the round's time was up (due again at once)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def backoff_seconds(attempts: int, base: float, *, jitter: float = JITTER, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempts` (1-based): base * 2^(attempts-1),
    plus up to `jitter` of that, at most a day."""
    delay = base * (2.0 ** max(attempts - 1, 0))
    delay *= 1.0 + (rng or random).uniform(0.0, jitter)
    return min(delay, MAX_DELAY_S)


_CLAIM_SQL = """
    SELECT o.alert_id, o.webhook_id, o.attempts, o.next_attempt_at, o.last_error, a.document,
           a.idempotency_key, w.url, w.removed_at
    FROM alert_outbox o JOIN alerts a USING (alert_id) JOIN webhooks w USING (webhook_id)
    WHERE o.status = 'pending' AND o.next_attempt_at <= ?
    ORDER BY a.created_at, a.alert_id, o.webhook_id LIMIT ?"""
_WHERE = "WHERE alert_id = ? AND webhook_id = ? AND status = 'pending' AND next_attempt_at = ?"
#: one statement for many rows: the keys come as three lists, joined back row by row
_KEYS = "(SELECT unnest(?) AS a, unnest(?) AS w, unnest(?) AS d) k"
_MATCH = "o.alert_id = k.a AND o.webhook_id = k.w AND o.next_attempt_at = k.d"


def _keys(rows: list[dict[str, Any]], due: str) -> list[list[Any]]:
    return [[r["alert_id"] for r in rows], [r["webhook_id"] for r in rows], [r[due] for r in rows]]


def _claim(store: Store, now: dt.datetime, lease_s: float, max_attempts: int,
           n: int = 1) -> list[dict[str, Any] | Outcome]:
    """Take the next `n` due rows, oldest alert first, in one transaction (see the module
    docstring): per row its fields and lease, or an Outcome when it was settled without a POST (its
    webhook removed, or its attempts used up); an empty list when none is due."""
    out: list[dict[str, Any] | Outcome] = []
    with store.connect() as con:
        con.execute("BEGIN")
        try:
            rows = con.execute(_CLAIM_SQL, [now, n]).fetchall()
            # the round stops starting POSTs after ROUND_BUDGET_S: a lease outlasting that and one POST suffices
            lease = utc_now() + dt.timedelta(seconds=lease_s + ROUND_BUDGET_S)
            taken: list[dict[str, Any]] = []
            for alert_id, webhook_id, attempts, due, last_error, document, key, url, removed in rows:
                if removed is not None or attempts >= max_attempts:
                    reason = REMOVED_REASON if removed is not None else (last_error or "interrupted during delivery")
                    con.execute(f"UPDATE alert_outbox SET status = 'dead', last_error = ? {_WHERE}",
                                [reason, alert_id, webhook_id, due])
                    out.append(Outcome(alert_id, webhook_id, "dead", attempts, error=reason))
                    continue
                claim = {"alert_id": alert_id, "webhook_id": webhook_id, "attempts": attempts + 1, "lease": lease,
                         "due": due, "document": document, "key": key, "url": url}
                taken.append(claim)
                out.append(claim)
            if taken:
                con.execute(f"UPDATE alert_outbox o SET attempts = o.attempts + 1, next_attempt_at = ? FROM {_KEYS} "
                            f"WHERE {_MATCH} AND o.status = 'pending'", [lease, *_keys(taken, "due")])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return out


def _record(store: Store, done: list[tuple[dict[str, Any], Attempt]], released: list[dict[str, Any]], *,
            base: float, max_attempts: int, untried: list[dict[str, Any]] | None = None) -> list[Outcome]:
    """Write the outcomes of claimed rows' POSTs in one transaction, each only if its row still
    carries the claim's lease; `released` rows (not tried: their webhook failed just before) get
    their attempt back and fall due again after `base` seconds, `untried` ones (the round's time
    was up) get it back and are due at once."""
    outcomes: list[Outcome] = []
    delivered = [claim for claim, attempt in done if attempt.ok]
    now = utc_now()
    with store.connect() as con:
        con.execute("BEGIN")
        try:
            if delivered:
                con.execute(f"UPDATE alert_outbox o SET status = 'delivered', delivered_at = ? FROM {_KEYS} "
                            f"WHERE {_MATCH} AND o.status IN ('pending', 'dead')", [now, *_keys(delivered, "lease")])
            for claim, attempt in done:
                outcomes.append(_record_one(con, claim, attempt, base=base, max_attempts=max_attempts, now=now))
            for rows, when in ((released, now + dt.timedelta(seconds=base)), (untried or [], now)):
                if rows:
                    con.execute(f"UPDATE alert_outbox o SET attempts = o.attempts - 1, next_attempt_at = ? "
                                f"FROM {_KEYS} WHERE {_MATCH} AND o.status = 'pending'", [when, *_keys(rows, "lease")])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return outcomes


def _record_one(con: Any, claim: dict[str, Any], attempt: Attempt, *, base: float, max_attempts: int,
                now: dt.datetime) -> Outcome:
    """The outcome of one POST; a failure's row updated here (a success's is, with the others', by the caller)."""
    n = claim["attempts"]
    if attempt.ok:
        outcome = Outcome(claim["alert_id"], claim["webhook_id"], "delivered", n, attempt.status, None)
        log.debug("alert %s delivered to webhook %s (attempt %d)", outcome.alert_id, outcome.webhook_id, n)
        return outcome
    status = "dead" if n >= max_attempts else "retry"
    later = now + dt.timedelta(seconds=backoff_seconds(n, base))
    con.execute("UPDATE alert_outbox SET status = ?, last_error = ?, next_attempt_at = ? WHERE alert_id = ? AND "
                "webhook_id = ? AND status = 'pending' AND next_attempt_at = ?",
                ["dead" if status == "dead" else "pending", attempt.error, now if status == "dead" else later,
                 claim["alert_id"], claim["webhook_id"], claim["lease"]])
    outcome = Outcome(claim["alert_id"], claim["webhook_id"], status, n, attempt.status, attempt.error)
    log.log(logging.WARNING if status == "dead" else logging.INFO, "alert %s to webhook %s: attempt %d failed "
            "(%s)%s", outcome.alert_id, outcome.webhook_id, n, attempt.error,
            "; dead-lettered" if status == "dead" else "")
    return outcome


def outbox_state(store: Store, *, read_only: bool = True) -> tuple[int, dt.datetime | None]:
    """(pending rows, when the earliest of them falls due)."""
    with store.connect(read_only=read_only) as con:
        row = con.execute("SELECT count(*), min(next_attempt_at) FROM alert_outbox "
                          "WHERE status = 'pending'").fetchone()
    return (int(row[0]), row[1]) if row else (0, None)


def deliver_due(store: Store, *, now: dt.datetime | None = None, limit: int = 100, timeout: float = 5.0,
                base: float = 2.0, max_attempts: int = 8, poster: Poster | None = None,
                count_pending: bool = True) -> DeliveryReport:
    """Attempt up to `limit` outbox rows due at `now` (naive UTC; default the present), in order:
    claim up to `CLAIM_BATCH` in one transaction, POST them (`poster`: per webhook in order,
    webhooks at once; default a `ThreadPoster` for this call), record their outcomes in one
    transaction; each row at most once. Returns each outcome and (`count_pending`: one more
    catalog visit) what is still pending."""
    if limit < 1:
        raise UsageError("limit must be at least 1", field="limit")
    own = poster is None
    sender: Poster = ThreadPoster(timeout) if poster is None else poster
    try:
        report = _deliver(store, sender, now=now, limit=limit, timeout=timeout, base=base, max_attempts=max_attempts)
    finally:
        if own:
            sender.close()
    if count_pending:
        report.pending, report.next_attempt_at = outbox_state(store, read_only=False)
    return report


def _deliver(store: Store, poster: Poster, *, now: dt.datetime | None, limit: int, timeout: float, base: float,
             max_attempts: int) -> DeliveryReport:
    report = DeliveryReport()
    lease_s = timeout + LEASE_MARGIN_S
    cutoff = now or utc_now()  # fixed for the round: a row retried in it is due after it, never twice in it
    left = limit
    secrets: dict[str, bytes | DataError] = {}
    while left > 0:
        claims = _claim(store, cutoff, lease_s, max_attempts, min(left, CLAIM_BATCH))
        if not claims:
            break
        left -= len(claims)
        rows: list[dict[str, Any]] = []
        done: list[tuple[dict[str, Any], Attempt]] = []
        for claim in claims:
            if isinstance(claim, Outcome):
                report.outcomes.append(claim)
                continue
            hook = claim["webhook_id"]
            if hook not in secrets:
                try:
                    secrets[hook] = read_secret(store, hook)
                except DataError as exc:
                    secrets[hook] = exc
            secret = secrets[hook]
            if isinstance(secret, DataError):
                done.append((claim, Attempt(False, None, secret.message)))
            else:
                rows.append(claim)
        jobs = [PostJob(r["webhook_id"], r["url"], r["document"].encode("utf-8"), r["alert_id"], r["key"],
                        secrets[r["webhook_id"]]) for r in rows]  # type: ignore[arg-type]
        attempts = poster.post(jobs, ROUND_BUDGET_S) if jobs else []
        failed = {c["webhook_id"] for c, a in done} | {r["webhook_id"] for r, a in zip(rows, attempts, strict=True)
                                                       if a is not None and not a.ok}
        released: list[dict[str, Any]] = []
        untried: list[dict[str, Any]] = []
        for row, attempt in zip(rows, attempts, strict=True):
            if attempt is not None:
                done.append((row, attempt))
            else:  # not tried: its webhook failed before it in this round, or the round's time was up
                (released if row["webhook_id"] in failed else untried).append(row)
        report.outcomes += _record(store, done, released, base=base, max_attempts=max_attempts, untried=untried)
        if untried:
            report.untried = len(untried)
            break
    return report


_DEAD_SQL = """
    SELECT o.alert_id, o.webhook_id, o.attempts, o.last_error, a.kind, a.rule, a.severity,
           a.chain, a.title, a.created_at, w.removed_at IS NOT NULL
    FROM alert_outbox o JOIN alerts a USING (alert_id) JOIN webhooks w USING (webhook_id)
    WHERE o.status = 'dead' ORDER BY a.created_at, o.alert_id, o.webhook_id"""
_DEAD_NAMES = ("alert_id", "webhook_id", "attempts", "last_error", "kind", "rule", "severity", "chain",
               "title", "created_at", "webhook_removed")


def deliveries_of(con: Any, alert_id: str) -> list[dict[str, Any]]:
    """Where one alert stands with each webhook: status, attempts, last error, when delivered or due."""
    rows = con.execute(
        "SELECT o.webhook_id, w.url, o.status, o.attempts, o.last_error, o.next_attempt_at, o.delivered_at, "
        "w.removed_at IS NOT NULL FROM alert_outbox o JOIN webhooks w USING (webhook_id) WHERE o.alert_id = ? "
        "ORDER BY o.webhook_id", [alert_id]).fetchall()
    names = ("webhook_id", "url", "status", "attempts", "last_error", "next_attempt_at", "delivered_at",
             "webhook_removed")
    return [dict(zip(names, r, strict=True)) for r in rows]


def dead_letters(store: Store, *, read_only: bool = True) -> list[dict[str, Any]]:
    """The dead-letter list: every `dead` delivery with its alert's title and last error, oldest alert first."""
    with store.connect(read_only=read_only) as con:
        return [dict(zip(_DEAD_NAMES, r, strict=True)) for r in con.execute(_DEAD_SQL).fetchall()]


def replay(store: Store, *, alert_id: str | None = None) -> tuple[int, int]:
    """Put dead deliveries back to `pending` with attempts 0, due now: those of `alert_id`, or all
    (None). Deliveries to removed webhooks stay dead. Returns (replayed, left dead: webhook removed)."""
    with store.connect() as con:
        known = alert_id is None or con.execute("SELECT 1 FROM alerts WHERE alert_id = ?", [alert_id]).fetchone()
        if not known:
            raise NotFoundError(f"no alert {alert_id}", hint="see `fundtrail alerts dead`")
        scope, params = ("AND o.alert_id = ?", [alert_id]) if alert_id is not None else ("", [])
        counts = con.execute(
            "SELECT count(*) FILTER (WHERE w.removed_at IS NULL), count(*) FILTER (WHERE w.removed_at IS NOT NULL) "
            f"FROM alert_outbox o JOIN webhooks w USING (webhook_id) WHERE o.status = 'dead' {scope}",
            params).fetchone()
        replayed, removed = (int(counts[0] or 0), int(counts[1] or 0)) if counts else (0, 0)
        if alert_id is not None and replayed == 0:
            why = " (its webhooks were removed)" if removed else ""
            raise UsageError(f"alert {alert_id} has no dead deliveries to replay{why}", field="alert_id")
        con.execute(
            "UPDATE alert_outbox SET status = 'pending', attempts = 0, next_attempt_at = ? "
            "WHERE status = 'dead' AND webhook_id IN (SELECT webhook_id FROM webhooks WHERE removed_at IS NULL)"
            + (" AND alert_id = ?" if alert_id is not None else ""), [utc_now(), *params])
    return replayed, removed
