"""Scenario 7 (security), secrets and injection, end to end.

Every secret the system can hold is configured (Discord webhook token, Slack webhook path, Telegram bot
token, SMTP password, webhook HMAC secret, a secret webhook header and URL path, the WebSocket token, the
Flower password via ``${VAR}``), pointing at loopback fakes. Real worker processes (DEBUG logging) run a
custom rule whose title and message carry HTML/Markdown injection through firing, failed deliveries
(500s, a 429, an SMTP 451, Telegram down until its notifications are dead-lettered) and resolution.
Then everything the system produced is searched for every secret: worker logs, in-process logging,
task messages and their ``argsrepr``, all Redis pub/sub traffic (Celery events, realtime events),
every Redis value (SCAN), dead letters, exception texts, WebSocket messages, CLI output, /metrics.
None may contain a secret. Every channel must receive the injection escaped for its markup.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import threading
import traceback
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from graphwiz_monitoring.alerting.channels.discord import DiscordChannel
from graphwiz_monitoring.alerting.channels.webhook import verify_signature
from graphwiz_monitoring.alerting.delivery import deliver_notification
from graphwiz_monitoring.celery import create_app
from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.errors import DeliveryFailed
from graphwiz_monitoring.exporter.server import ExporterServer
from graphwiz_monitoring.state.dead_letters import list_dead_letters
from graphwiz_monitoring.tasks import NOTIFY_QUEUES
from tests.conftest import ROOT, child_env, free_port, wait_until, write_config
from tests.fakes.chat_apis import (
    DISCORD_TOKEN,
    SLACK_PATH,
    TELEGRAM_TOKEN,
    WebhookReceiver,
    telegram_parse_html,
)
from tests.fakes.notify_fixtures import (
    ALL_SECRETS,
    WEBHOOK_HEADER_SECRET,
    WEBHOOK_SECRET,
    notifications_config,
    put_alert,
)
from tests.fakes.realtime_harness import ServerThread
from tests.fakes.smtp import SMTP_PASSWORD

pytestmark = pytest.mark.chaos

WS_TOKEN = f"SECRET-ws-{uuid.uuid4().hex}"
FLOWER_PASSWORD = f"SECRET-flower-{uuid.uuid4().hex}"
SECRETS = {
    "discord webhook token": DISCORD_TOKEN, "slack webhook path": SLACK_PATH.rsplit("/", 1)[-1],
    "telegram bot token": TELEGRAM_TOKEN, "smtp password": SMTP_PASSWORD, "webhook hmac secret": WEBHOOK_SECRET,
    "webhook header": WEBHOOK_HEADER_SECRET, "webhook url path": WebhookReceiver.PATH.rsplit("/", 1)[-1],
    "websocket token": WS_TOKEN, "flower password": FLOWER_PASSWORD,
    **{f"fragment {s}": s for s in ALL_SECRETS},  # distinctive parts: no partial or re-encoded leak either
}
TITLE = "<script>alert('x')</script> @everyone _*[click](http://evil.example)*_ & <b>bold</b>"
MESSAGE = "P&L {pnl_usd} <img src=x onerror=alert(1)> @here `code` ~~strike~~ <!channel>"
CHANNELS = ["discord", "slack", "email", "telegram", "webhook", "log"]
MARKDOWN_SPECIALS = "*_[]~`>|"


def sections(fakes: dict[str, Any], cert: Path) -> dict[str, Any]:
    notifications = notifications_config(discord=fakes["discord"], slack=fakes["slack"], telegram=fakes["telegram"],
                                         webhook=fakes["webhook"], smtp=fakes["smtp"], cert=cert,
                                         retry={"max_retries": 3})
    return {
        "notifications": notifications,
        "alerts": {"custom_rules": {"injected": {
            "condition": "trading.pnl_usd < -100", "severity": "emergency", "channels": CHANNELS,
            "title": TITLE, "message": MESSAGE, "labels": {"team": "<i>ops</i> @everyone"}}},
            # The Telegram dead letters would fire this built-in (issue 15) and add its notifications to
            # the exact per-channel counts below; the secrets it could carry are covered by "injected".
            "rules": {"notify_dead_letters": {"enabled": False}}},
        "circuit_breakers": {"recovery_timeout_seconds": 0.5},
        "websocket": {"token": WS_TOKEN},
        "flower": {"basic_auth_password": "${GRAPHWIZ_CHAOS_FLOWER_PASSWORD}"},
    }


def envelope_texts(raw: bytes | str) -> list[str]:
    """A value as text, plus the decoded body when it is a kombu envelope (bodies are base64)."""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    out = [text]
    try:
        message = json.loads(text)
    except ValueError:
        return out
    if isinstance(message, dict) and isinstance(message.get("body"), str):
        encoding = (message.get("properties") or {}).get("body_encoding")
        out.append(base64.b64decode(message["body"]).decode(errors="replace") if encoding == "base64"
                   else message["body"])
    return out


def redis_dump(client: redis.Redis) -> tuple[int, str]:
    """Every key and every value in Redis, as text (kombu envelopes decoded)."""
    parts: list[str] = []
    count = 0
    for key in client.scan_iter(count=1000):
        count += 1
        kind = client.type(key).decode()
        parts.append(key.decode(errors="replace"))
        if kind == "string":
            values = [client.get(key) or b""]
        elif kind == "hash":
            values = [b for kv in client.hgetall(key).items() for b in kv]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            values = [b for _, fields in client.xrange(key) for kv in fields.items() for b in kv]
        else:
            values = []
        for value in values:
            parts.extend(envelope_texts(value))
    return count, "\n".join(parts)


class PubSubTap:
    """Every message published on any channel (Celery events, realtime events) while the test runs."""

    def __init__(self, url: str) -> None:
        self.pubsub = redis.Redis.from_url(url).pubsub()
        self.pubsub.psubscribe("*")
        self.messages: list[str] = []
        self.channels: set[str] = set()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self.pubsub.get_message(timeout=0.2)
            if message and message["type"] == "pmessage":
                self.channels.add(message["channel"].decode(errors="replace"))
                self.messages.extend(envelope_texts(message["data"]))

    def close(self) -> str:
        self._stop.set()
        self.thread.join(5)
        self.pubsub.close()
        return "\n".join(self.messages)


class WsTap:
    """A client holding the token, recording every message the realtime server sends it."""

    def __init__(self, url: str) -> None:
        self.ws = connect(url, open_timeout=10, max_size=None)
        self.messages: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for raw in self.ws:
                self.messages.append(raw if isinstance(raw, str) else raw.decode(errors="replace"))
        except ConnectionClosed:
            pass

    def types(self) -> list[str]:
        return [json.loads(m)["type"] for m in self.messages]

    def close(self) -> str:
        self.ws.close()
        self.thread.join(5)
        return "\n".join(self.messages)


@pytest.fixture
def fakes(discord_fake, slack_fake, telegram_fake, webhook_receiver, smtp_server) -> Iterator[dict[str, Any]]:
    yield {"discord": discord_fake, "slack": slack_fake, "telegram": telegram_fake, "webhook": webhook_receiver,
           "smtp": smtp_server("starttls")}


def cli(config: Path, redis_url: str, tmp_path: Path, *args: str) -> str:
    env = child_env(config, redis_url, tmp_path / "state")
    out = subprocess.run([sys.executable, "-m", "graphwiz_monitoring.cli", "--config", str(config), *args],
                         cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout + out.stderr


def unescaped(text: str, specials: str) -> list[str]:
    """Markdown specials not preceded by a backslash."""
    return [c for i, c in enumerate(text) if c in specials and (i == 0 or text[i - 1] != "\\")]


def test_secrets_appear_nowhere_and_injection_is_escaped_everywhere(
        celery_processes, redis_url, store, keys, tmp_path, fakes, smtp_cert, caplog, monkeypatch) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("GRAPHWIZ_CHAOS_FLOWER_PASSWORD", FLOWER_PASSWORD)
    config = sections(fakes, smtp_cert[0])
    extra = yaml.safe_dump(config, sort_keys=False)
    config_file = write_config(tmp_path / "secure.yaml", redis_url, extra)
    settings = parse_settings({"redis": {"url": redis_url}, **config})
    assert settings.flower.basic_auth_password.get_secret_value() == FLOWER_PASSWORD
    client = redis.Redis.from_url(redis_url)
    sources: dict[str, str] = {}

    tap = PubSubTap(redis_url)
    realtime = ServerThread(parse_settings({"redis": {"url": redis_url},
                                            "websocket": {"port": free_port(), "token": WS_TOKEN}}),
                            store, keys, metrics_push_seconds=1.0).start()
    ws = WsTap(realtime.ws_url + f"?token={WS_TOKEN}")
    discord, slack, telegram, webhook, smtp = (fakes[c] for c in ("discord", "slack", "telegram", "webhook", "smtp"))
    discord.fail(2)
    slack.throttle(1, 1)
    webhook.fail(1, 503)
    smtp.reject_next = [451]
    telegram.down(500)
    try:
        # 1. Fire: a losing trade through ingest, then the periodic evaluation by name (no beat needed).
        rules_worker = celery_processes("worker", "-Q", "ingest,rules", "-c", "1", "--loglevel", "DEBUG",
                                        "--without-mingle", "--without-gossip", config_extra=extra)
        app = create_app(settings)
        trade = {"symbol": "BTC/USDT", "side": "sell", "price": 50_000.0, "quantity": 0.1, "success": True}
        app.send_task("workers.ingest.ingest_batch", args=({"batch_id": "loss", "records": [
            {"kind": "trade", "data": {**trade, "trade_id": "t-loss", "pnl": -500.0}}]},))
        wait_until(lambda: store.r.hget(keys.trading_agg, "total_trades") == "1", timeout=30, message="trade")
        app.send_task("workers.rules.evaluate")
        wait_until(lambda: sum(client.llen(q) for q in NOTIFY_QUEUES) == len(CHANNELS), timeout=30,
                   message="one notification task per channel")
        queued = [text for q in NOTIFY_QUEUES for raw in client.lrange(q, 0, -1) for text in envelope_texts(raw)]
        (alert_id,) = store.r.hvals(keys.alerts_active)
        assert all(alert_id in text or "{" not in text for text in queued)  # the tasks carry the alert id
        sources["task messages (headers, argsrepr, bodies)"] = "\n".join(queued)

        # 2. Deliver, through failures: Discord 500 x2, Slack 429, webhook 503, SMTP 451, Telegram down.
        notify_worker = celery_processes("worker", "-Q", ",".join(NOTIFY_QUEUES), "-c", "2", "--loglevel", "DEBUG",
                                         "--without-mingle", "--without-gossip", config_extra=extra)

        def all_delivered(n: int) -> bool:
            dead = [d for d in list_dead_letters(store, keys) if d["payload"].get("channel") == "telegram"]
            return (len(discord.delivered()) == n and len(slack.delivered()) == n and len(webhook.delivered()) == n
                    and len(smtp.received()) == n and len(dead) == n)

        wait_until(lambda: all_delivered(1), timeout=45, message="firing delivered (Telegram dead-lettered)")
        # 3. Recover: a winning trade; the rule resolves and every channel gets the resolved notification.
        app.send_task("workers.ingest.ingest_batch", args=({"batch_id": "win", "records": [
            {"kind": "trade", "data": {**trade, "trade_id": "t-win", "pnl": 1_000.0}}]},))
        wait_until(lambda: store.r.hget(keys.trading_agg, "total_trades") == "2", timeout=30, message="trade")
        app.send_task("workers.rules.evaluate")
        wait_until(lambda: all_delivered(2), timeout=45, message="resolved delivered (Telegram dead-lettered)")
        wait_until(lambda: notify_worker.output().count("ALERT [EMERGENCY]") >= 1
                   and "alert" in ws.types(), timeout=15, message="log channel and realtime alert")

        # 4. In-process: exporter scrape, a failing send and its exception chain, the CLI.
        exporter = ExporterServer(settings, "127.0.0.1", 0).start()
        try:
            for path in ("/metrics", "/snapshot", "/healthz"):
                with urllib.request.urlopen(exporter.url + path, timeout=10) as response:
                    sources[f"exporter {path}"] = response.read().decode()
        finally:
            exporter.stop()
        assert "graphwiz_notifications_total" in sources["exporter /metrics"]
        discord.down(500)
        probe = put_alert(store, keys, title=TITLE, message="in-process")
        result = deliver_notification(store, keys, settings, probe.alert_id, "discord")
        assert result.outcome == "retry" and "HTTP 500" in result.reason
        failures = []
        for target in (discord.webhook_url, f"http://127.0.0.1:{free_port()}/api/webhooks/1/{DISCORD_TOKEN}"):
            channel = DiscordChannel(parse_settings({"notifications": {"discord": {"webhook_url": target}}},
                                                    env={}).notifications.discord)
            with pytest.raises(DeliveryFailed) as info:
                channel.send(probe, "firing")
            failures.append("".join(traceback.format_exception(info.value)) + repr(info.value))
        discord.up()
        sources["exception texts"] = "\n".join(failures + [result.reason])
        for args in (("check-config",), ("status",), ("status", "--json"), ("dlq", "list", "--json"),
                     ("alerts", "list", "--history", "--json")):
            sources["cli " + " ".join(args)] = cli(config_file, redis_url, tmp_path, *args)
    finally:
        sources["websocket messages"] = ws.close()
        realtime.stop()
        sources["redis pub/sub (celery + realtime events)"] = tap.close()
    sources["worker log (ingest, rules)"] = rules_worker.output()
    sources["worker log (notify)"] = notify_worker.output()
    # Everything logged in this process except the test's own WebSocket client (which logs its request line).
    sources["in-process logging"] = "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in caplog.records
                                              if not r.name.startswith("websockets.client"))
    keys_seen, sources["redis values (SCAN)"] = redis_dump(client)
    dead = list_dead_letters(store, keys, limit=1000)
    sources["dead letters"] = json.dumps(dead)

    # What was searched really holds the story (so a clean result means something).
    assert keys_seen > 20 and "celeryev" in "".join(tap.channels) and any("events" in c for c in tap.channels)
    assert sources["worker log (notify)"].count("HTTP 500") >= 2 and "dead-letter" in sources["worker log (notify)"]
    assert alert_id in sources["websocket messages"] and "task-received" in sources["redis pub/sub (celery + realtime events)"]
    assert len(dead) == 2 and {d["payload"]["kind"] for d in dead} == {"firing", "resolved"}
    assert "**********" in sources["cli check-config"]  # secrets shown masked
    # The HTTP stack logs each request line at DEBUG: there, redacted (the path of these URLs is the secret).
    assert '"POST *** HTTP/1.1" 500' in sources["worker log (notify)"] and "/bot***/sendMessage" in sources[
        "worker log (notify)"] and '"POST *** HTTP/1.1" 500' in sources["in-process logging"]
    assert "realtime: serving" in sources["in-process logging"]

    leaks = {name: [where for where, text in sources.items() if secret in text] for name, secret in SECRETS.items()}
    assert {name: where for name, where in leaks.items() if where} == {}
    print(f"\nscenario 7: {len(SECRETS)} secret strings searched in {len(sources)} sources "
          f"({sum(map(len, sources.values())) // 1024} KiB: {keys_seen} Redis keys, {len(tap.messages)} pub/sub "
          f"payloads, {len(ws.messages)} WebSocket messages, {len(dead)} dead letters): 0 found")

    # Injection arrives escaped for each channel's markup.
    for request in discord.delivered():
        payload = request.json
        assert payload["allowed_mentions"] == {"parse": []}  # @everyone/@here cannot ping
        embed = payload["embeds"][0]
        assert unescaped(embed["title"], MARKDOWN_SPECIALS) == []
        assert unescaped(embed["description"], MARKDOWN_SPECIALS) == []
    for request in slack.delivered():
        attachment = request.json["attachments"][0]
        for text in (attachment["title"], attachment["text"], *(f["value"] for f in attachment["fields"])):
            assert "<" not in text and ">" not in text, text  # <!channel>, <script>, <url|text> are inert
    for mail in smtp.received():
        html = mail.part("html")
        assert "<script>" not in html and "<img" not in html and "&lt;script&gt;" in html
        assert TITLE in mail.message["Subject"]  # a header is plain text: shown as written
    for request in telegram.received():  # Telegram never accepted one, but each was valid HTML
        body = request.json
        assert body["parse_mode"] == "HTML" and "<script>" not in body["text"]
        assert TITLE in telegram_parse_html(body["text"])
    for request in webhook.delivered():
        assert request.json["title"] == TITLE  # JSON carries the text as is; the receiver renders it
        assert verify_signature(WEBHOOK_SECRET, request.body, request.headers)
        assert request.headers.get("Authorization") == f"Bearer {WEBHOOK_HEADER_SECRET}"
    assert f"ALERT [EMERGENCY] {TITLE}" in sources["worker log (notify)"]
