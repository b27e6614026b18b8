"""``[[alerts]]``: tell someone about new kept items or stories, by webhook, email or chat.

Each alert picks what is new since it was first seen (items first seen after that, or
stories changed after that), filtered by ``min_score``, ``min_reach`` and ``topic``, and
sends it on each of its channels: a webhook (one JSON POST, httpx; HMAC-signed when it has
a secret), SMTP (one email with a plain-text and an escaped HTML part, smtplib) and each
``apprise`` URL (Slack, Teams, Telegram, Matrix, Discord, ntfy... through the apprise
library, which escapes the plain-text message for the service's format; each URL is a
channel of its own, named by its service, e.g. "slack"). ``immediate`` alerts send on
every run (the daemon runs them every ``DAEMON_SECONDS``, after feed passes);
``digest`` alerts send at most once per ``every``.

Never twice: before sending, an alert *claims* what it is about to send on that channel
(rows in ``alert_sent``, committed); after sending, it *confirms* them with the time and
updates the alert's state in one transaction, or on failure deletes the claim and records
the error, so the next run tries again. Two senders at once (the daemon and ``mediamon
alerts send``) cannot both claim a row, and a crash between sending and confirming leaves
a claim that is never sent again (at most once; ``alerts list`` shows it as unconfirmed).

Sending retries transient failures (connection errors, HTTP 5xx/429, SMTP 4xx, and any
failure apprise reports, since it does not say which kind it was) with exponential backoff,
a bounded number of times; other failures are not retried.

Alert content is plain text: titles with control characters removed, and only http(s)
links (``urls.safe_url``); the HTML email part escapes everything it shows.

This module decides nothing about relevance; it reads what the feed passes stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import logging
import os
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, Literal

import httpx

from mediamon import USER_AGENT
from mediamon.clock import utc_iso
from mediamon.config import AlertSettings, Config, SmtpSettings
from mediamon.core.urls import safe_url
from mediamon.errors import MediamonError
from mediamon.store.sqlite import Store

log = logging.getLogger("mediamon.desk.alerts")

MAX_PER_MESSAGE = 100  # more than this waits for the next run
RETRIES = 4  # attempts after the first one
BACKOFF = 1.0  # seconds before the first retry, doubled each time ...
MAX_BACKOFF = 30.0  # ... up to this
TIMEOUT = 30.0  # one webhook request or SMTP conversation
DAEMON_SECONDS = 30.0  # how often the daemon runs alerts


class AlertError(MediamonError):
    """A channel could not deliver; ``transient`` failures are retried.

    The reason names the target (URL, mail server), not the channel: callers put the
    channel in front once ("webhook: https://...: HTTP 503")."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        self.transient = transient
        super().__init__(reason)


@dataclass(frozen=True)
class Entry:
    """One item or story as an alert shows it: plain text, an http(s) link or None."""

    kind: Literal["item", "story", "spike"]
    id: str
    title: str
    url: str | None
    when: str  # published (items) or first published (stories), UTC ISO
    outlet: str | None
    reach: int | None
    score: float | None
    topics: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "url": self.url, "published": self.when,
                "outlet": self.outlet, "reach": self.reach, "score": self.score,
                "topics": list(self.topics), **self.extra}


@dataclass(frozen=True)
class Message:
    """What one channel of one alert sends in one run."""

    alert: AlertSettings
    channel: str
    entries: tuple[Entry, ...]

    @property
    def subject(self) -> str:
        count = len(self.entries)
        if self.alert.when == "spikes":  # volume surges (desk/trends.py)
            return f"[mediamon] {self.alert.name}: {count} volume spike{'s' * (count != 1)}"
        noun = "item" if self.alert.when == "items" else "story"
        plural = noun if count == 1 else ("items" if noun == "item" else "stories")
        return f"[mediamon] {self.alert.name}: {count} new {plural}"


# -- content (pure) -------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def plain(text: str | None, limit: int = 300) -> str:
    """One line of plain text: control characters and line breaks become spaces."""
    line = " ".join(_CONTROL.sub(" ", text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def why(entry: Entry) -> str:
    """Why it was sent: each topic it matched, with the first words that matched it
    (items; stories list their items' topics)."""
    matched: dict[str, list[str]] = entry.extra.get("matched") or {}
    parts = []
    for topic in entry.topics or tuple(matched):
        terms = [plain(t, 40) for t in (matched.get(topic) or [])[:3]]
        parts.append(f"{plain(topic, 60)} ({', '.join(terms)})" if terms else plain(topic, 60))
    return ", ".join(parts)


def text_body(message: Message, *, heading: bool = True) -> str:
    """The plain-text message (email, the webhook's ``text``, apprise): per entry its title,
    date, outlet, score or reach, what it matched and its link."""
    lines = [message.subject.removeprefix("[mediamon] "), ""] if heading else []
    for e in message.entries:
        facts = [e.when[:16].replace("T", " "), e.outlet or ""]
        if e.reach is not None and message.alert.when == "stories":
            facts.append(f"reach {e.reach}")
        if e.score is not None and message.alert.when == "items":
            facts.append(f"score {e.score:.2f}")
        lines.append(f"- {e.title}")
        lines.append("  " + " · ".join(f for f in facts if f))
        if why(e):
            lines.append(f"  matched: {why(e)}")
        if e.url:
            lines.append(f"  {e.url}")
    return "\n".join(lines) + "\n"


def html_body(message: Message) -> str:
    """The HTML part: every shown value escaped; only http(s) links are linked."""
    esc = html.escape
    rows = []
    for e in message.entries:
        title = esc(e.title)
        if e.url:
            title = f'<a href="{esc(e.url, quote=True)}">{title}</a>'
        facts = " · ".join(esc(f) for f in (
            e.when[:16].replace("T", " "), e.outlet or "",
            f"reach {e.reach}" if e.reach is not None and message.alert.when == "stories" else "",
            f"score {e.score:.2f}" if e.score is not None and message.alert.when == "items"
            else "") if f)
        matched = f"<br><small>matched: {esc(why(e))}</small>" if why(e) else ""
        rows.append(f"<li><strong>{title}</strong><br><small>{facts}</small>{matched}</li>")
    return ("<!doctype html><html><body>"
            f"<h2>{esc(message.subject.removeprefix('[mediamon] '))}</h2>"
            f"<ul>{''.join(rows)}</ul></body></html>")


def webhook_payload(message: Message, *, now: datetime) -> dict[str, Any]:
    key = message.alert.when  # items, stories or spikes
    return {
        "alert": message.alert.name,
        "mode": message.alert.mode,
        "sent": utc_iso(now),
        "count": len(message.entries),
        "text": text_body(message),  # for chat webhooks that show a "text" field
        key: [e.as_json() for e in message.entries],
    }


def email_message(message: Message, smtp: SmtpSettings) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = smtp.sender
    mail["To"] = ", ".join(smtp.to)
    mail.set_content(text_body(message))
    mail.add_alternative(html_body(message), subtype="html")
    return mail


# -- sending ---------------------------------------------------------------------------------


def with_retries(send: Callable[[], None], *, retries: int = RETRIES, backoff: float = BACKOFF,
                 sleep: Callable[[float], None] = time.sleep) -> int:
    """Call ``send`` until it succeeds; retry transient AlertErrors ``retries`` times with
    exponential backoff (``backoff``, 2x, 4x..., at most MAX_BACKOFF). Returns the attempts
    made; raises the last error."""
    attempt = 0
    while True:
        attempt += 1
        try:
            send()
            return attempt
        except AlertError as exc:
            if not exc.transient or attempt > retries:
                raise
            delay = min(backoff * 2 ** (attempt - 1), MAX_BACKOFF)
            log.warning("alert send failed, retrying in %.1fs: %s", delay, exc)
            sleep(delay)


SIGNATURE_HEADER = "X-Mediamon-Signature"
TIMESTAMP_HEADER = "X-Mediamon-Timestamp"


def webhook_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed): compact UTF-8 JSON."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def sign_webhook(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The signature headers for ``body``: ``X-Mediamon-Timestamp`` (Unix seconds) and
    ``X-Mediamon-Signature: sha256=<hex>``, the HMAC-SHA256 under ``secret`` of
    ``b"<timestamp>." + body``. The timestamp is signed so a receiver can refuse replays."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: f"sha256={mac.hexdigest()}"}


def webhook_secret(alert: AlertSettings) -> str | None:
    """The webhook's signing secret: ``secret``, or the variable ``secret_env`` names."""
    if alert.secret_env is None:
        return alert.secret
    secret = os.environ.get(alert.secret_env)
    if not secret:
        raise AlertError(f"environment variable {alert.secret_env} (the webhook's secret) is "
                         "not set", transient=False)
    return secret


def post_webhook(url: str, payload: dict[str, Any], *, secret: str | None = None,
                 client: httpx.Client | None = None,
                 clock: Callable[[], float] = time.time) -> None:
    """POST ``payload`` as JSON; with a ``secret``, signed (``sign_webhook``) at send time,
    so a retry carries a fresh timestamp."""
    body = webhook_body(payload)
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers |= sign_webhook(secret, body, int(clock()))
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT})
    try:
        response = http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise AlertError(f"{url}: {type(exc).__name__}: {exc}", transient=True) from exc
    finally:
        if own:
            http.close()
    if response.status_code >= 300:
        transient = response.status_code >= 500 or response.status_code in (408, 429)
        raise AlertError(f"{url}: HTTP {response.status_code}", transient=transient)


def send_mail(smtp: SmtpSettings, mail: EmailMessage) -> None:
    password = None
    if smtp.username:
        password = os.environ.get(smtp.password_env or "")
        if password is None:
            raise AlertError(f"environment variable {smtp.password_env} is not set",
                             transient=False)
    try:
        conn: smtplib.SMTP
        if smtp.tls:
            conn = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=TIMEOUT,
                                    context=ssl.create_default_context())
        else:
            conn = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT)
        with conn:
            if smtp.starttls:
                conn.starttls(context=ssl.create_default_context())
            if smtp.username and password is not None:
                conn.login(smtp.username, password)
            conn.send_message(mail, from_addr=smtp.sender, to_addrs=list(smtp.to))
    except smtplib.SMTPResponseException as exc:
        raise AlertError(f"{smtp.host}:{smtp.port}: {exc.smtp_code} {exc.smtp_error!r}",
                         transient=400 <= exc.smtp_code < 500) from exc
    except ssl.SSLCertVerificationError as exc:  # retrying will not make it valid
        raise AlertError(f"{smtp.host}:{smtp.port}: TLS certificate not valid: "
                         f"{exc.verify_message}", transient=False) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise AlertError(f"{smtp.host}:{smtp.port}: {type(exc).__name__}: {exc}",
                         transient=True) from exc


def _apprise() -> Any:
    try:
        import apprise
    except ImportError as exc:
        raise AlertError("needs the apprise package (pip install 'mediamon[notify]')",
                         transient=False) from exc
    return apprise


def apprise_target(url: str) -> str:
    """The URL as it may be shown: apprise's own privacy form (tokens and passwords
    elided), or only the service when apprise cannot use the URL."""
    service = f"{url.split('://', 1)[0]}://…"
    try:
        plugin = _apprise().Apprise.instantiate(url)
    except AlertError:
        return service
    if not plugin:
        return service
    return str(plugin.url(privacy=True)).split("?", 1)[0]


def notify_apprise(url: str, title: str, body: str) -> None:
    """Send one plain-text message through apprise to one service URL.

    apprise converts the text to what the service takes (escaped HTML, escaped Markdown).
    It only says whether it worked, so any failure counts as transient, and the reason is
    the last warning it logged."""
    apprise = _apprise()
    sender = apprise.Apprise()
    if not sender.add(url):
        raise AlertError(f"{apprise_target(url)}: apprise cannot use this URL (check the "
                         "service's URL format in the apprise docs)", transient=False)
    with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        sent = sender.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
    if not sent:
        said = [line for line in captured.getvalue().splitlines() if line.strip()]
        reason = plain(said[-1]) if said else "apprise could not deliver the message"
        raise AlertError(f"{apprise_target(url)}: {reason}", transient=True)


def channel_target(alert: AlertSettings, channel: str) -> str:
    """Where a channel sends, as it may be shown (``alerts send --dry-run``)."""
    if channel == "webhook":
        return alert.webhook or ""
    if channel == "smtp":
        return ", ".join(alert.smtp.to) if alert.smtp else ""
    return apprise_target(alert.apprise_channels[channel])


def deliver(message: Message, *, now: datetime, retries: int = RETRIES,
            backoff: float = BACKOFF, sleep: Callable[[float], None] = time.sleep) -> int:
    """Send one message on its channel, with retries. Returns the attempts made."""
    alert = message.alert
    send: Callable[[], None]
    if message.channel == "webhook":
        assert alert.webhook
        payload = webhook_payload(message, now=now)
        secret = webhook_secret(alert)
        send = lambda: post_webhook(alert.webhook or "", payload, secret=secret)  # noqa: E731
    elif message.channel == "smtp":
        assert alert.smtp
        mail = email_message(message, alert.smtp)
        send = lambda: send_mail(alert.smtp, mail)  # type: ignore[arg-type]  # noqa: E731
    else:
        url = alert.apprise_channels[message.channel]
        body = text_body(message, heading=False)
        send = lambda: notify_apprise(url, message.subject, body)  # noqa: E731
    return with_retries(send, retries=retries, backoff=backoff, sleep=sleep)


# -- state (SQLite, tables from store.m006_alerts; the SQL is in store.alerts) --------------


def register(store: Store, alerts: Sequence[AlertSettings], *, now: datetime) -> None:
    """Give each configured alert a state row; what it watches starts now."""
    store.register_alerts([alert.name for alert in alerts], now=now)


def state(store: Store, name: str) -> dict[str, Any]:
    row = store.alert_state(name)
    return dict(row) if row else {}


def digest_due(alert: AlertSettings, st: dict[str, Any], now: datetime) -> bool:
    """A digest is due ``every`` after the last one (or after the alert started)."""
    if alert.mode != "digest":
        return True
    last = st.get("last_digest") or st.get("since")
    if not last:
        return True
    return datetime.fromisoformat(last) + timedelta(seconds=alert.every) <= now


def pending(store: Store, alert: AlertSettings, channel: str, *, since: str,
            limit: int = MAX_PER_MESSAGE) -> list[Entry]:
    """What this alert has not yet sent (or claimed) on this channel, oldest first."""
    if alert.when == "spikes":
        return spike_entries(store, alert, channel, since=since, limit=limit)
    entries: list[Entry] = []
    if alert.when == "items":
        for item in store.unsent_alert_items(
                alert.name, channel, since=since, min_score=alert.min_score,
                min_reach=alert.min_reach, topic=alert.topic, limit=limit):
            topics = tuple(json.loads(item["topics"] or "[]"))
            entries.append(Entry(
                "item", item["id"], plain(item["title"]), safe_url(item["url"]),
                item["published"], plain(item["outlet"] or item["feed"]) or None,
                item["reach"], item["score"], topics,
                {"feed": plain(item["feed"]), "language": item["language"],
                 "story": item["story_id"], "matched": json.loads(item["matched"] or "{}")}))
    else:
        for story in store.unsent_alert_stories(
                alert.name, channel, since=since, min_score=alert.min_score,
                min_reach=alert.min_reach, topic=alert.topic, limit=limit):
            topics = tuple(json.loads(story["topics"] or "[]"))
            entries.append(Entry(
                "story", story["id"], plain(story["title"]), safe_url(story["url"]),
                story["published"], plain(story["outlet"]) or None, story["reach"],
                story["score"], topics, {"mentions": story["mentions"]}))
    return entries


def spike_entries(store: Store, alert: AlertSettings, channel: str, *, since: str,
                  limit: int = MAX_PER_MESSAGE) -> list[Entry]:
    """The volume surges (``desk.trends``) this alert has not sent on this channel: each
    entry's title is the alert's sentence ("unusual volume: 14 items in 6 h on topic
    relations, 1.2 expected (p < 0.001)"), a story's link its first item's."""
    from mediamon.desk.trends import spike_text

    entries = []
    for row in store.unsent_alert_spikes(alert.name, channel, since=since, topic=alert.topic,
                                         min_reach=alert.min_reach, limit=limit):
        text = spike_text(row["scope"], row["key"], title=plain(row["title"], 120) or None,
                          count=row["count"], window=row["window_hours"],
                          expected=row["expected"], p=row["p"])
        entries.append(Entry(
            "spike", row["id"], plain(text), safe_url(row["url"]), row["started"], None,
            row["reach"], None, (), {"scope": row["scope"], "key": row["key"],
                                     "count": row["count"], "expected": row["expected"],
                                     "p": row["p"], "window_hours": row["window_hours"]}))
    return entries


def claim(store: Store, alert: str, channel: str, entries: Sequence[Entry],
          *, now: datetime) -> list[Entry]:
    """Mark entries as being sent; returns those this caller claimed (not another sender)."""
    got = store.claim_alert_entries(alert, channel,
                                    [(e.kind, e.id, e.title, e.url) for e in entries],
                                    now=now)
    return [e for e, mine in zip(entries, got, strict=True) if mine]


def confirm(store: Store, message: Message, *, now: datetime, digest: bool) -> None:
    """Record that the message went out: when, and the alert's counters, in one transaction."""
    store.confirm_alert_sent(message.alert.name, message.channel,
                             [(e.kind, e.id) for e in message.entries],
                             now=now, digest=digest)


def release(store: Store, message: Message, error: str, *, now: datetime) -> None:
    """The message failed: forget the claim (so the next run tries again) and say why."""
    store.release_alert_claims(message.alert.name, message.channel,
                               [(e.kind, e.id) for e in message.entries],
                               error=f"{utc_iso(now)} {message.channel}: {error}")


# -- the orchestrator ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    alert: str
    channel: str
    count: int
    status: Literal["sent", "failed", "would send", "nothing new", "not due"]
    attempts: int = 0
    error: str | None = None
    message: Message | None = None


def send_alerts(
    alerts: Sequence[AlertSettings],
    store: Store,
    *,
    now: datetime,
    dry_run: bool = False,
    force: bool = False,
    only: str | None = None,
    retries: int = RETRIES,
    backoff: float = BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """Run every alert once.

    For each alert (``only``: just that one) and each of its channels::

        skip a digest that is not due (unless force)
        entries = pending(alert, channel)          # new since the alert started, unsent
        dry_run: report them, change nothing
        claim(entries) -> send with retries -> confirm | release

    A digest with nothing new still moves its clock on. Returns one Outcome per channel.
    """
    if not dry_run:
        register(store, alerts, now=now)
    outcomes: list[Outcome] = []
    for alert in alerts:
        if only and alert.name != only:
            continue
        st = state(store, alert.name) or {"since": utc_iso(now)}
        if not force and not digest_due(alert, st, now):
            outcomes += [Outcome(alert.name, ch, 0, "not due") for ch in alert.channels]
            continue
        digest = alert.mode == "digest"
        for channel in alert.channels:
            entries = pending(store, alert, channel, since=st["since"])
            if not entries:
                outcomes.append(Outcome(alert.name, channel, 0, "nothing new"))
                continue
            if dry_run:
                outcomes.append(Outcome(alert.name, channel, len(entries), "would send",
                                        message=Message(alert, channel, tuple(entries))))
                continue
            mine = claim(store, alert.name, channel, entries, now=now)
            if not mine:
                continue
            message = Message(alert, channel, tuple(mine))
            try:
                attempts = deliver(message, now=now, retries=retries, backoff=backoff,
                                   sleep=sleep)
            except AlertError as exc:
                release(store, message, str(exc), now=now)
                log.error("alert %s (%s) not sent: %s", alert.name, channel, exc)
                outcomes.append(Outcome(alert.name, channel, len(mine), "failed",
                                        attempts=retries + 1 if exc.transient else 1,
                                        error=str(exc), message=message))
                continue
            confirm(store, message, now=now, digest=digest)
            log.info("alert sent", extra={"fields": {"alert": alert.name, "channel": channel,
                                                     "count": len(mine)}})
            outcomes.append(Outcome(alert.name, channel, len(mine), "sent", attempts=attempts,
                                    message=message))
        if digest and not dry_run:  # nothing new is a digest too: next one in `every`
            store.advance_alert_digest(alert.name, now)
        if not dry_run:
            store.mark_alert_run(alert.name, now)
    return outcomes


def alert_states(store: Store, alerts: Sequence[AlertSettings],
                 *, now: datetime) -> list[dict[str, Any]]:
    """``alerts list``: each configured alert with its state (and unknown ones in the table)."""
    rows = []
    for alert in alerts:
        st = state(store, alert.name)
        unconfirmed = store.unconfirmed_alert_claims(alert.name)
        next_digest = None
        if alert.mode == "digest" and st:
            last = st.get("last_digest") or st["since"]
            next_digest = utc_iso(datetime.fromisoformat(last) + timedelta(seconds=alert.every))
        rows.append({
            "name": alert.name, "channels": ", ".join(alert.channels), "when": alert.when,
            "mode": alert.mode if alert.mode == "immediate" else f"digest every "
                                                                 f"{alert.every / 3600:g}h",
            "since": st.get("since"), "last_run": st.get("last_run"),
            "last_sent": st.get("last_sent"), "sent": st.get("sent", 0),
            "messages": st.get("messages", 0), "next_digest": next_digest,
            "unconfirmed": unconfirmed, "last_error": st.get("last_error"),
        })
    return rows


# -- the daemon's job ----------------------------------------------------------------------


async def daemon_job(
    get_config: Callable[[], Config],
    open_store: Callable[[Config], AbstractContextManager[Store]] | None = None,
) -> None:
    """Run the alerts in a thread with their own connection, so sending (and its retries)
    never holds up the event loop or the feed writer. ``open_store``: how to open the
    configured database (``desk.jobs.job_store`` opens PostgreSQL's too: with several
    daemons on one PostgreSQL database one of them sends, see ``schedule``, and the claims
    in ``alert_sent`` still guard each entry); by default its SQLite file. Never raises."""
    config = get_config()
    if not config.alerts:
        return

    def run() -> None:
        opened = open_store(config) if open_store else \
            Store(config.db_path, stories=config.stories)
        with opened as store:
            send_alerts(config.alerts, store, now=datetime.now(UTC))

    try:
        await asyncio.to_thread(run)
    except Exception:
        log.exception("alerts failed")
