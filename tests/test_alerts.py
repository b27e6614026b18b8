"""`[[alerts]]`: webhook and SMTP alerts over real loopback sockets, sent once each."""

from __future__ import annotations

import email
import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from email.message import Message as MailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import REPO, default_settings_text
from mediamon.cli import cli
from mediamon.config import load_config
from mediamon.desk.alerts import send_alerts
from mediamon.errors import ConfigError
from mediamon.store.sqlite import Store

DEMO = REPO / "config" / "demo.toml"
HOSTILE = '<script>alert(1)</script>'


class Receiver:
    """A loopback webhook receiver answering with the queued statuses, then 200."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.bodies.append({"status": status, "json": json.loads(body),
                                        "type": self.headers["Content-Type"], "raw": body,
                                        "headers": dict(self.headers), "path": self.path})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free loopback port."""
    r = Receiver()
    yield r
    r.close()


class Mailbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], MailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              email.message_from_bytes(envelope.content)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on a free loopback port."""
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    box = Mailbox()
    port = free_port()
    controller = controller_mod.Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def write_config(tmp_path: Path, alerts: str) -> Path:
    """The demo config (default topics, the example feeds) with these [[alerts]]."""
    feeds = "[[feeds]]" + DEMO.read_text(encoding="utf-8").split("[[feeds]]", 1)[1]
    path = tmp_path / "alerts.toml"
    path.write_text(default_settings_text(tmp_path / "demo.db") + "\n"
                    + feeds.replace('"../tests/', f'"{REPO}/tests/') + "\n" + alerts,
                    encoding="utf-8")
    return path


def invoke(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "--log-level", "error", *args])


def ingest(config: Path) -> None:
    """Register the alerts on an empty database, then poll the demo feeds once (14 kept)."""
    assert invoke(config, "alerts", "send").exit_code == 0
    result = invoke(config, "run", "--once")
    assert result.exit_code == 0, result.output


def test_webhook_retries_a_500_then_sends_each_item_once(tmp_path: Path,
                                                         receiver: Receiver) -> None:
    """A 500 is retried and the items arrive once; a second run sends nothing again."""
    config = write_config(tmp_path, f'[[alerts]]\nname = "desk"\nwebhook = "{receiver.url}"\n')
    ingest(config)
    with sqlite3.connect(tmp_path / "demo.db") as conn:
        kept = {r[0] for r in conn.execute("SELECT id FROM items WHERE kept = 1")}
    receiver.statuses = [500]
    cfg = load_config(config)
    with Store(cfg.db_path) as store:
        outcomes = send_alerts(cfg.alerts, store, now=_now(), backoff=0.01)
    assert [(o.status, o.attempts) for o in outcomes] == [("sent", 2)]
    assert [b["status"] for b in receiver.bodies] == [500, 200]
    payload = receiver.bodies[1]["json"]
    assert receiver.bodies[1]["type"] == "application/json"
    assert payload["alert"] == "desk" and payload["count"] == len(kept) == 14
    assert {i["id"] for i in payload["items"]} == kept
    assert all(i["matched"] for i in payload["items"])  # topic -> the words that matched it
    assert all(i["url"] is None or i["url"].startswith("https://") for i in payload["items"])

    second = invoke(config, "alerts", "send")
    assert second.exit_code == 0 and "nothing new" in second.output
    assert len(receiver.bodies) == 2
    listed = json.loads(invoke(config, "alerts", "list", "--json").output)
    assert listed[0]["sent"] == 14 and listed[0]["messages"] == 1
    assert listed[0]["unconfirmed"] == 0 and listed[0]["last_error"] is None


def test_dry_run_prints_and_sends_nothing(tmp_path: Path, receiver: Receiver) -> None:
    """--dry-run lists what would go out, contacts nobody and records nothing."""
    config = write_config(tmp_path, f'[[alerts]]\nname = "desk"\nwebhook = "{receiver.url}"\n'
                                    'min_score = 0.9\n')
    ingest(config)
    with sqlite3.connect(tmp_path / "demo.db") as conn:
        (high,) = conn.execute("SELECT count(*) FROM items WHERE kept = 1 AND score >= 0.9"
                               ).fetchone()
    assert 0 < high < 14
    result = invoke(config, "alerts", "send", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"would send {high} to {receiver.url}" in result.output
    assert "Russia becomes first country to recognise Taliban government" in result.output
    assert receiver.bodies == []
    with sqlite3.connect(tmp_path / "demo.db") as conn:
        assert conn.execute("SELECT count(*) FROM alert_sent").fetchone()[0] == 0
    sent = invoke(config, "alerts", "send")
    assert f"desk (webhook): sent {high}" in sent.output
    assert [len(b["json"]["items"]) for b in receiver.bodies] == [high]


def test_failure_is_recorded_and_retried_next_run(tmp_path: Path, receiver: Receiver) -> None:
    """A webhook that keeps failing is reported (exit 1), and the items go out next time."""
    config = write_config(tmp_path, f'[[alerts]]\nname = "desk"\nwebhook = "{receiver.url}"\n'
                                    'when = "stories"\nmin_reach = 1\ntopic = "recognition"\n')
    ingest(config)
    receiver.statuses = [503] * 5
    cfg = load_config(config)
    with Store(cfg.db_path) as store:
        failed = send_alerts(cfg.alerts, store, now=_now(), backoff=0.001)
        assert [(o.status, o.attempts) for o in failed] == [("failed", 5)]
        assert "HTTP 503" in (failed[0].error or "")
        assert store.db.execute("SELECT count(*) FROM alert_sent").fetchone()[0] == 0
        assert "HTTP 503" in store.db.execute("SELECT last_error FROM alerts").fetchone()[0]
        again = send_alerts(cfg.alerts, store, now=_now(), backoff=0.001)
    assert [o.status for o in again] == ["sent"]
    stories = receiver.bodies[-1]["json"]["stories"]
    assert len(stories) == again[0].count > 0
    assert all("recognition" in s["topics"] for s in stories)
    assert json.loads(invoke(config, "alerts", "list", "--json").output)[0]["last_error"] is None


def test_a_failure_names_its_channel_once(tmp_path: Path, receiver: Receiver) -> None:
    """The failure line and the recorded error name the channel once: "webhook: URL: reason",
    not "webhook: webhook URL"."""
    config = write_config(tmp_path, f'[[alerts]]\nname = "desk"\nwebhook = "{receiver.url}"\n')
    ingest(config)
    receiver.statuses = [404]  # not transient: one attempt
    result = invoke(config, "alerts", "send")
    assert result.exit_code == 1
    assert (f"desk (webhook): FAILED after 1 attempt(s): {receiver.url}: HTTP 404"
            in result.output), result.output
    error = json.loads(invoke(config, "alerts", "list", "--json").output)[0]["last_error"]
    assert error.endswith(f" webhook: {receiver.url}: HTTP 404"), error
    assert "webhook: webhook" not in result.output + error


def test_email_goes_out_once_with_escaped_html(tmp_path: Path,
                                               smtp_server: tuple[Mailbox, int]) -> None:
    """SMTP delivers one email with a plain and an escaped HTML part, and never again."""
    box, port = smtp_server
    config = write_config(tmp_path, '[[alerts]]\nname = "mail"\nmode = "digest"\nevery = "6h"\n'
                                    f'[alerts.smtp]\nhost = "127.0.0.1"\nport = {port}\n'
                                    'from = "mediamon@example.org"\n'
                                    'to = ["desk@example.org", "chief@example.org"]\n')
    ingest(config)
    with sqlite3.connect(tmp_path / "demo.db") as conn:
        conn.execute("UPDATE items SET title = ?, url = 'javascript:alert(2)' WHERE id = "
                     "(SELECT id FROM items WHERE kept = 1 ORDER BY score DESC LIMIT 1)",
                     [f"Taliban {HOSTILE}"])
    not_due = invoke(config, "alerts", "send")
    assert "mail (smtp): not due" in not_due.output and box.messages == []
    result = invoke(config, "alerts", "send", "--force")
    assert result.exit_code == 0, result.output
    assert len(box.messages) == 1
    sender, rcpts, mail = box.messages[0]
    assert sender == "mediamon@example.org"
    assert rcpts == ["desk@example.org", "chief@example.org"]
    assert mail["Subject"] == "[mediamon] mail: 14 new items"
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in mail.walk()
             if not p.is_multipart()}
    assert f"Taliban {HOSTILE}" in parts["text/plain"]
    assert "<script>" not in parts["text/html"] and "&lt;script&gt;" in parts["text/html"]
    assert "javascript:" not in parts["text/html"] + parts["text/plain"]
    with sqlite3.connect(tmp_path / "demo.db") as conn:
        (linked,) = conn.execute("SELECT count(*) FROM items WHERE kept = 1 AND url LIKE "
                                 "'http%'").fetchone()
    assert 0 < linked == parts["text/html"].count('<a href="http')
    assert "mail (smtp): nothing new" in invoke(config, "alerts", "send", "--force").output
    assert len(box.messages) == 1
    listed = invoke(config, "alerts", "list")
    assert "digest every 6h" in listed.output and "mail" in listed.output


@pytest.mark.parametrize(("alerts", "key", "reason"), [
    ('[[alerts]]\nname = "a"\n', "alerts[0].webhook", "needs a webhook and/or"),
    ('[[alerts]]\nname = "a"\nwebhook = "ftp://x"\n', "alerts[0].webhook", "not an http(s) URL"),
    ('[[alerts]]\nname = "a"\nwebhook = "http://x"\nwhen = "posts"\n', "alerts[0].when",
     'not one of: items, stories'),
    ('[[alerts]]\nname = "a"\nwebhook = "http://x"\nevery = "2h"\n', "alerts[0].every",
     'only for mode = "digest"'),
    ('[[alerts]]\nname = "a"\nwebhook = "http://x"\nmode = "digest"\nevery = "6x"\n',
     "alerts[0].every", "not a duration"),
    ('[[alerts]]\nname = "a"\nwebhook = "http://x"\nmin_score = 2\n', "alerts[0].min_score",
     "between 0 and 1"),
    ('[[alerts]]\nname = "a"\nwebhook = "http://x"\ntopic = "nope"\n', "alerts[0].topic",
     "not a topic"),
    ('[[alerts]]\nname = "a"\nwebhook = "http://x"\n[[alerts]]\nname = "a"\nwebhook = "http://y"\n',
     "alerts[1].name", "duplicate of alerts[0]"),
    ('[[alerts]]\nname = "a"\nwebhok = "http://x"\n', "alerts[0].webhok", "did you mean"),
    ('[[alerts]]\nname = "a"\n[alerts.smtp]\nhost = "h"\nfrom = "a@b.c"\nto = "d@e.f"\n'
     'tls = true\nstarttls = true\n', "alerts[0].smtp.tls", "choose one"),
    ('[[alerts]]\nname = "a"\n[alerts.smtp]\nhost = "h"\nfrom = "a@b.c"\n', "alerts[0].smtp.to",
     "missing"),
    ('[[alerts]]\nname = "a"\n[alerts.smtp]\nhost = "h"\nfrom = "a@b.c"\nto = ["x"]\n',
     "alerts[0].smtp.to", "not an email address"),
    ('[[alerts]]\nname = "a"\n[alerts.smtp]\nhost = "h"\nfrom = "a@b.c"\nto = "d@e.f"\n'
     'username = "u"\n', "alerts[0].smtp.password_env", "name the environment variable"),
    ('[[alerts]]\nname = "a"\n[alerts.smtp]\nhost = "h"\nfrom = "a@b.c"\nto = "d@e.f"\n'
     'port = 70000\n', "alerts[0].smtp.port", "at most 65535"),
    ('[[alerts]]\nname = "a"\napprise = 3\n', "alerts[0].apprise", "must be a URL or an array"),
    ('[[alerts]]\nname = "a"\napprise = ["ntfy://x/y", "slack"]\n', "alerts[0].apprise",
     "item 2 is not an apprise URL"),
    ('[[alerts]]\nname = "a"\napprise = []\n', "alerts[0].apprise", "at least one URL"),
    ('[[alerts]]\nname = "a"\napprise = "ntfy://x/y"\nsecret = "k"\n', "alerts[0].secret",
     "only for a webhook"),
    ('[[alerts]]\nname = "a"\nwebhook = "http://x"\nsecret = "k"\nsecret_env = "K"\n',
     "alerts[0].secret_env", "choose one"),
    ('[[alerts]]\nname = "a"\nwebhook = "http://x"\nsecret_env = "not a name"\n',
     "alerts[0].secret_env", "not an environment variable name"),
])
def test_config_errors_name_the_key(tmp_path: Path, alerts: str, key: str, reason: str) -> None:
    """Each mistake in [[alerts]] names the file, the key and the reason."""
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, alerts))
    assert info.value.key == key
    assert reason in info.value.reason
    assert str(info.value).startswith(f"{tmp_path / 'alerts.toml'}: {key}: ")


def test_send_without_alerts_says_so(tmp_path: Path) -> None:
    """`alerts send` with no [[alerts]] is a one-line error, not a silent success."""
    result = invoke(write_config(tmp_path, ""), "alerts", "send")
    assert result.exit_code == 1 and "no [[alerts]] configured" in result.output


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_the_daemon_sends_new_items_once(tmp_path: Path, receiver: Receiver,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`mediamon run`'s alerts job (a real Daemon and scheduler, the demo feeds, a loopback
    webhook): every kept item of its first pass arrives, none twice, however the job's runs
    fall between the passes. The job's 30 s period is shortened for the test."""
    import asyncio

    from mediamon.desk import alerts
    from mediamon.schedule import Daemon

    monkeypatch.setattr(alerts, "DAEMON_SECONDS", 0.3)
    config = write_config(tmp_path, f'[[alerts]]\nname = "desk"\nwebhook = "{receiver.url}"\n')
    assert invoke(config, "alerts", "send").exit_code == 0  # registered on the empty database
    cfg = load_config(config)

    async def main(daemon: Daemon) -> None:
        running = asyncio.get_running_loop().create_task(daemon.run())
        deadline = asyncio.get_running_loop().time() + 30
        while not receiver.bodies and not running.done():
            assert asyncio.get_running_loop().time() < deadline, "no alert within 30 s"
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.0)  # the pass ends; the job runs several more times
        daemon.request_stop()
        await running

    with Store(cfg.db_path) as store:
        asyncio.run(main(Daemon(cfg, store, config_path=config)))
    with sqlite3.connect(cfg.db_path) as conn:
        kept = {r[0] for r in conn.execute("SELECT id FROM items WHERE kept = 1")}
    sent = [i["id"] for b in receiver.bodies for i in b["json"]["items"]]
    assert all(b["json"]["alert"] == "desk" and b["status"] == 200 for b in receiver.bodies)
    assert len(sent) == len(set(sent)), "an item was sent twice"
    assert set(sent) == kept and len(kept) == 14


@pytest.fixture
def tls_server_context(tmp_path: Path) -> tuple[Any, Path]:
    """A server TLS context with a certificate for 127.0.0.1 from a throwaway CA (trustme),
    and the CA's bundle, for SSL_CERT_FILE."""
    import ssl

    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    bundle = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    return context, bundle


@pytest.mark.parametrize("mode", ["tls", "starttls"])
def test_email_over_tls_and_starttls(tmp_path: Path, mode: str, tls_server_context: Any,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`tls = true` (SMTPS, TLS from the first byte) and `starttls = true` (STARTTLS, which
    the server requires) deliver through a real TLS handshake with a certificate the system
    trusts (SSL_CERT_FILE); without that trust nothing is sent and the alert records the
    certificate error in one line."""
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    context, bundle = tls_server_context
    box, port = Mailbox(), free_port()
    kwargs = ({"ssl_context": context} if mode == "tls"
              else {"tls_context": context, "require_starttls": True})
    controller = controller_mod.Controller(box, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        config = write_config(tmp_path, f'[[alerts]]\nname = "mail"\n[alerts.smtp]\n'
                                        f'host = "127.0.0.1"\nport = {port}\n{mode} = true\n'
                                        'from = "mediamon@example.org"\n'
                                        'to = ["desk@example.org"]\n')
        ingest(config)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
        untrusted = invoke(config, "alerts", "send")
        assert untrusted.exit_code == 1, untrusted.output
        assert box.messages == []
        error = json.loads(invoke(config, "alerts", "list", "--json").output)[0]["last_error"]
        assert "TLS certificate not valid" in error and "\n" not in error

        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
        result = invoke(config, "alerts", "send")
        assert result.exit_code == 0, result.output
    finally:
        controller.stop()
    assert len(box.messages) == 1
    sender, rcpts, mail = box.messages[0]
    assert (sender, rcpts) == ("mediamon@example.org", ["desk@example.org"])
    assert mail["Subject"] == "[mediamon] mail: 14 new items"


# -- apprise channels (Slack, Teams, Telegram, Matrix, Discord, ntfy...) -----------------------


def kept_titles(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT title FROM items WHERE kept = 1")}


def test_apprise_json_retries_and_sends_each_item_once(tmp_path: Path,
                                                       receiver: Receiver) -> None:
    """An apprise URL (json://, to a loopback receiver) is a channel of its own, named by its
    service: a 500 is retried, every kept item arrives once with what matched, and a second
    run sends nothing again."""
    pytest.importorskip("apprise")
    url = receiver.url.replace("http://", "json://")
    config = write_config(tmp_path, f'[[alerts]]\nname = "chat"\napprise = "{url}"\n')
    ingest(config)
    receiver.statuses = [500]
    cfg = load_config(config)
    with Store(cfg.db_path) as store:
        outcomes = send_alerts(cfg.alerts, store, now=_now(), backoff=0.01)
    assert [(o.channel, o.status, o.attempts) for o in outcomes] == [("json", "sent", 2)]
    assert [b["status"] for b in receiver.bodies] == [500, 200]
    sent = receiver.bodies[1]["json"]
    assert sent["title"] == "[mediamon] chat: 14 new items"
    message = sent["message"]
    titles = kept_titles(tmp_path / "demo.db")
    assert len(titles) == 14 and all(t in message for t in titles)
    assert message.count("\n- ") + message.startswith("- ") == 14
    assert "matched: " in message and "score " in message

    again = invoke(config, "alerts", "send")
    assert again.exit_code == 0 and "chat (json): nothing new" in again.output
    assert len(receiver.bodies) == 2
    listed = json.loads(invoke(config, "alerts", "list", "--json").output)[0]
    assert (listed["channels"], listed["sent"], listed["unconfirmed"]) == ("json", 14, 0)


def test_each_apprise_url_is_sent_once_even_when_another_fails(tmp_path: Path,
                                                               receiver: Receiver) -> None:
    """With a webhook, json:// and ntfy:// in one alert, the ntfy server failing leaves the
    others sent once; the next run sends only what ntfy missed."""
    pytest.importorskip("apprise")
    ntfy = Receiver()
    try:
        port = ntfy.url.split(":")[2].split("/")[0]
        config = write_config(tmp_path, (
            f'[[alerts]]\nname = "desk"\nwebhook = "{receiver.url}"\napprise = ['
            f'"{receiver.url.replace("http://", "json://")}", "ntfy://127.0.0.1:{port}/osint"]\n'
            'min_score = 0.9\n'))
        ingest(config)
        ntfy.statuses = [503] * 5
        cfg = load_config(config)
        with Store(cfg.db_path) as store:
            first = send_alerts(cfg.alerts, store, now=_now(), backoff=0.001)
            assert [(o.channel, o.status) for o in first] == [
                ("webhook", "sent"), ("json", "sent"), ("ntfy", "failed")]
            assert first[2].attempts == 5 and "\n" not in (first[2].error or "")
            second = send_alerts(cfg.alerts, store, now=_now(), backoff=0.001)
        assert [(o.channel, o.status) for o in second] == [
            ("webhook", "nothing new"), ("json", "nothing new"), ("ntfy", "sent")]
        assert len(receiver.bodies) == 2  # one webhook POST, one json:// POST
        assert [b["status"] for b in ntfy.bodies] == [503] * 5 + [200]
        delivered = ntfy.bodies[-1]["json"]
        assert delivered["topic"] == "osint"
        assert delivered["title"] == f"[mediamon] desk: {first[0].count} new items"
    finally:
        ntfy.close()


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_apprise_message_is_escaped_for_the_channel(tmp_path: Path, receiver: Receiver,
                                                    fmt: str) -> None:
    """A title full of markup reaches a Markdown or HTML channel as text, not as markup; a
    javascript: link is left out."""
    pytest.importorskip("apprise")
    url = receiver.url.replace("http://", "json://") + f"?format={fmt}"
    config = write_config(tmp_path, f'[[alerts]]\nname = "chat"\napprise = "{url}"\n'
                                    'min_score = 0.95\n')
    ingest(config)
    hostile = f"Taliban {HOSTILE} [click](https://evil.example/) **now**"
    with sqlite3.connect(tmp_path / "demo.db") as conn:
        conn.execute("UPDATE items SET title = ?, url = 'javascript:alert(2)' WHERE id = "
                     "(SELECT id FROM items WHERE kept = 1 ORDER BY score DESC LIMIT 1)",
                     [hostile])
    result = invoke(config, "alerts", "send")
    assert result.exit_code == 0, result.output
    message = receiver.bodies[-1]["json"]["message"]
    assert "javascript:" not in message
    if fmt == "html":
        assert "<script>" not in message and "&lt;script&gt;alert(1)&lt;/script&gt;" in message
    else:
        assert "[click](https://evil.example/)" not in message and "**now**" not in message
        assert r"\[click\]\(https://evil\.example/\)" in message


def test_apprise_url_it_cannot_use_is_one_line_naming_the_alert(tmp_path: Path) -> None:
    """A URL apprise cannot use (apprise says no) fails that channel with one line naming the
    alert and the service, without the URL's secret parts; nothing is marked as sent."""
    pytest.importorskip("apprise")
    config = write_config(tmp_path, '[[alerts]]\nname = "chat"\n'
                                    'apprise = "slack://T1JJ3T3L2/s3cr3t-token"\n')
    ingest(config)
    result = invoke(config, "alerts", "send")
    assert result.exit_code == 1
    failed = [line for line in result.output.splitlines() if "FAILED" in line]
    assert failed == ["chat (slack): FAILED after 1 attempt(s): slack://…: apprise cannot use "
                      "this URL (check the service's URL format in the apprise docs)"]
    assert "s3cr3t" not in result.output and "Traceback" not in result.output
    listed = json.loads(invoke(config, "alerts", "list", "--json").output)[0]
    assert listed["sent"] == 0 and "slack: slack://…: apprise cannot use" in listed["last_error"]


def test_apprise_without_the_extra_is_a_config_error(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`apprise = ...` without the apprise package names the key and the extra to install."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "apprise" else real(name, *a))
    config = write_config(tmp_path, '[[alerts]]\nname = "chat"\napprise = "ntfy://x/y"\n')
    result = invoke(config, "alerts", "list")
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: {config}: alerts[0].apprise: needs the apprise "
                                     "package (pip install 'mediamon[notify]')")


# -- signed webhooks ---------------------------------------------------------------------------


def readme_verifier() -> Any:
    """The receiver-side check the README shows, run as it is written there."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("```python\n", readme.index("X-Mediamon-Signature")) + len("```python\n")
    namespace: dict[str, Any] = {}
    exec(readme[start:readme.index("```", start)], namespace)
    return namespace["verify_mediamon_signature"]


@pytest.mark.parametrize("how", ["secret", "secret_env"])
def test_signed_webhook_verifies_and_tampering_fails(tmp_path: Path, receiver: Receiver,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     how: str) -> None:
    """With a secret, each POST carries an HMAC-SHA256 of timestamp and exact body that the
    README's receiver code accepts; a changed body, another secret or an old timestamp is
    refused. Without a secret nothing is signed."""
    verify = readme_verifier()
    monkeypatch.setenv("DESK_SECRET", "s3cret-key")
    key = 'secret = "s3cret-key"' if how == "secret" else 'secret_env = "DESK_SECRET"'
    config = write_config(tmp_path, f'[[alerts]]\nname = "desk"\nwebhook = "{receiver.url}"\n'
                                    f'{key}\n[[alerts]]\nname = "plain"\n'
                                    f'webhook = "{receiver.url}"\n')
    ingest(config)
    result = invoke(config, "alerts", "send")
    assert result.exit_code == 0, result.output
    signed, unsigned = receiver.bodies
    assert signed["json"]["alert"] == "desk" and unsigned["json"]["alert"] == "plain"
    headers, body = signed["headers"], signed["raw"]
    assert headers["X-Mediamon-Signature"].startswith("sha256=")
    assert verify(b"s3cret-key", body, headers)
    assert not verify(b"s3cret-key", body.replace(b'"count":14', b'"count":15'), headers)
    assert not verify(b"another-key", body, headers)
    old = {**headers, "X-Mediamon-Timestamp": str(int(headers["X-Mediamon-Timestamp"]) - 3600)}
    assert not verify(b"s3cret-key", body, old)
    assert "X-Mediamon-Signature" not in unsigned["headers"]


def test_signed_webhook_with_its_variable_unset_fails_in_one_line(tmp_path: Path,
                                                                   receiver: Receiver,
                                                                   monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    """secret_env naming an unset variable: nothing is sent, one line says which variable."""
    monkeypatch.delenv("DESK_SECRET", raising=False)
    config = write_config(tmp_path, f'[[alerts]]\nname = "desk"\nwebhook = "{receiver.url}"\n'
                                    'secret_env = "DESK_SECRET"\n')
    ingest(config)
    result = invoke(config, "alerts", "send")
    assert result.exit_code == 1 and receiver.bodies == []
    assert ("desk (webhook): FAILED after 1 attempt(s): environment variable DESK_SECRET "
            "(the webhook's secret) is not set") in result.output
