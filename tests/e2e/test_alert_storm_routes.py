"""Issue 14 items 3 and 4 with real worker processes: storms grouped, routes to named destinations.

One module-scoped deployment (one worker consuming ingest, rules and every notify queue; loopback
fakes of Discord, Slack, Telegram and two webhook receivers) serves every test, each using its own
rules/labels so they do not see each other's alerts.

- Grouping: one trader batch reports 20 exchanges disconnected: each channel gets the first alert at
  once and one grouped message listing the other 19 when ``alerts.group_interval_seconds`` (2 s here)
  ends; all 20 exchanges named, no more than 2 messages per channel.
- Routing: ``alerts.routes`` sends alerts to ``webhook:pager`` / ``telegram:ops`` (second receiver,
  second chat) and with ``continue`` further on; a rule no route matches keeps its own channels.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from graphwiz_monitoring import tasks
from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.celery import create_app
from graphwiz_monitoring.celery.sender import CeleryTaskSender
from graphwiz_monitoring.config import Settings, parse_settings
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import CeleryProcess, RedisServer, child_env, wait_until, write_config
from tests.fakes.chat_apis import DiscordFake, SlackFake, TelegramFake, WebhookReceiver, telegram_parse_html
from tests.fakes.notify_fixtures import ALL_SECRETS, notifications_config

pytestmark = pytest.mark.e2e

GROUP_INTERVAL_SECONDS = 2.0
OPS_CHAT = "-100999"
EXCHANGES = [f"ex{i:02d}" for i in range(20)]
ROUTES = [
    {"match": {"severity": "emergency"}, "destinations": ["webhook:pager", "telegram:ops"], "continue": True},
    {"match": {"rule": "route_disk*"}, "destinations": ["telegram"]},
    {"match": {"rule": "route_latency", "exchange": "binance"}, "destinations": ["webhook"]},
]


@dataclass
class Deployment:
    settings: Settings
    store: Store
    keys: KeySpace
    worker: CeleryProcess
    discord: DiscordFake
    slack: SlackFake
    telegram: TelegramFake
    webhook: WebhookReceiver
    pager: WebhookReceiver
    manager: AlertManager


@pytest.fixture(scope="module")
def deployment(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    url = redis_server.clean()
    fakes = [DiscordFake(), SlackFake(), TelegramFake(), WebhookReceiver(), WebhookReceiver()]
    for fake in fakes:
        fake.start()
    discord, slack, telegram, webhook, pager = fakes
    notifications = notifications_config(discord=discord, slack=slack, telegram=telegram, webhook=webhook)
    notifications["telegram"]["destinations"] = {"ops": {"chat_id": OPS_CHAT}}
    notifications["webhook"]["destinations"] = {"pager": {"url": pager.url}}
    extra: dict[str, Any] = {"notifications": notifications,
                             "alerts": {"group_interval_seconds": GROUP_INTERVAL_SECONDS, "routes": ROUTES},
                             "monitoring": {"rule_evaluation_interval_seconds": 3600}}
    tmp = tmp_path_factory.mktemp("storm-routes")
    env = child_env(write_config(tmp / "monitoring.yaml", url, yaml.safe_dump(extra)), url, tmp / "state")
    queues = ",".join((tasks.INGEST, tasks.RULES, *tasks.NOTIFY_QUEUES))
    worker = CeleryProcess(["worker", "-Q", queues, "-c", "3", "--loglevel", "INFO", "--without-gossip",
                            "--without-mingle"], env, Path(tmp / "worker.log"))
    wait_until(lambda: "ready." in worker.output() or not worker.alive(), timeout=30, message="worker ready")
    assert worker.alive(), worker.output()[-3000:]
    settings = parse_settings({"redis": {"url": url}, **extra}, env={})
    store, keys = Store(url), KeySpace(settings.redis.namespace)
    manager = AlertManager(store, keys, settings, sender=CeleryTaskSender(create_app(settings)))
    yield Deployment(settings, store, keys, worker, discord, slack, telegram, webhook, pager, manager)
    worker.stop()
    for fake in fakes:
        fake.stop()
    store.close()


def _named(texts: list[str]) -> set[str]:
    return {ex for ex in EXCHANGES if any(f"Exchange {ex} disconnected" in t for t in texts)}


def test_twenty_disconnects_in_one_batch_give_two_messages_per_channel(deployment: Deployment) -> None:
    d = deployment
    batch = {"batch_id": "storm-1", "records": [{"kind": "exchange_status", "data": {"exchange": ex, "connected": False}}
                                                 for ex in EXCHANGES]}
    sent_at = time.monotonic()
    create_app(d.settings).send_task(tasks.INGEST_BATCH, args=(batch,))

    def discord_texts() -> list[str]:
        return [r.json["embeds"][0]["title"] + "\n" + r.json["embeds"][0].get("description", "")
                for r in d.discord.delivered()]

    def slack_texts() -> list[str]:
        return [a["title"] + "\n" + a.get("text", "") for r in d.slack.delivered() for a in r.json["attachments"]]

    wait_until(lambda: d.discord.delivered(), timeout=20, message="the storm's first message at discord")
    first = d.discord.delivered()[0].arrived - sent_at
    assert first < GROUP_INTERVAL_SECONDS, f"first notice after {first:.3f} s: held like the rest?"
    assert len(_named(discord_texts())) == 1  # the first alert alone, at once
    wait_until(lambda: len(_named(discord_texts())) == 20 and len(_named(slack_texts())) == 20, timeout=20,
               message="all 20 exchanges named at discord and slack")
    grouped = d.discord.delivered()[1]
    assert grouped.arrived - sent_at >= GROUP_INTERVAL_SECONDS * 0.9  # after the window, not before
    assert grouped.json["embeds"][0]["title"] == "19 alerts firing: exchange\\_disconnect"  # Markdown-escaped
    wait_until(lambda: d.worker.output().count("ALERT GROUP") == 1, timeout=10, message="the log channel's group")
    time.sleep(GROUP_INTERVAL_SECONDS)  # nothing else may follow
    assert len(d.discord.delivered()) == 2 and len(d.slack.delivered()) == 2
    assert all(r.ok for r in d.discord.delivered() + d.slack.delivered())
    log_lines = [line for line in d.worker.output().splitlines() if "ALERT " in line and "exchange_disconnect" in line]
    assert len(log_lines) == 2 and all(f"exchange={ex}" in "\n".join(log_lines) for ex in EXCHANGES)
    assert not d.store.r.zcard(d.keys.notify_outbox) and not d.store.r.zcard(d.keys.notify_groups_due)
    print(f"storm: first notification {first * 1000:.0f} ms after the batch was sent")


def _episode(d: Deployment, rule: str, severity: str, channels: list[str], labels: dict[str, str]) -> str:
    return d.manager.open_episode(rule, rule, f"{rule} title", f"{rule} message", severity, channels=channels,
                                  labels=labels)


def _chats(d: Deployment, title: str) -> list[str]:
    return [str(r.json["chat_id"]) for r in d.telegram.delivered() if title in telegram_parse_html(r.json["text"])]


def _hooks(receiver: WebhookReceiver, title: str) -> int:
    return sum(1 for r in receiver.delivered() if r.json.get("title") == title)


def test_routes_reach_named_destinations_with_continue(deployment: Deployment) -> None:
    d = deployment
    _episode(d, "route_risk", "emergency", ["discord", "log"], {})  # route 1 (continue), nothing further
    _episode(d, "route_disk_full", "emergency", ["discord"], {})  # route 1 (continue) then route 2
    _episode(d, "route_latency", "warning", ["discord"], {"exchange": "binance"})  # route 3
    default_chat = str(d.settings.notifications.telegram.chat_id)
    wait_until(lambda: _hooks(d.pager, "route_risk title") == 1 and _chats(d, "route_risk title") == [OPS_CHAT]
               and sorted(_chats(d, "route_disk_full title")) == sorted([OPS_CHAT, default_chat])
               and _hooks(d.pager, "route_disk_full title") == 1 and _hooks(d.webhook, "route_latency title") == 1,
               timeout=20, message="every routed notification")
    time.sleep(0.5)  # anything misrouted would have arrived by now too
    assert _chats(d, "route_risk title") == [OPS_CHAT]
    assert sorted(_chats(d, "route_disk_full title")) == sorted([OPS_CHAT, default_chat])
    assert _hooks(d.pager, "route_risk title") == 1 and _hooks(d.webhook, "route_risk title") == 0
    assert _hooks(d.pager, "route_latency title") == 0 and _chats(d, "route_latency title") == []
    # routes replace the rule's channels: none of these reached discord
    assert not any(r.json["embeds"][0]["title"].startswith("route_") for r in d.discord.delivered())
    counts = d.store.r.hgetall(d.keys.notification_counts)
    assert counts.get("webhook:pager|sent") == "2" and counts.get("telegram:ops|sent") == "2"


def test_a_rule_no_route_matches_keeps_its_channels(deployment: Deployment) -> None:
    d = deployment
    _episode(d, "route_plain", "warning", ["webhook", "slack"], {"exchange": "kraken"})
    wait_until(lambda: _hooks(d.webhook, "route_plain title") == 1
               and any(a["title"] == "route_plain title" for r in d.slack.delivered() for a in r.json["attachments"]),
               timeout=20, message="the rule's own channels")
    time.sleep(0.3)
    assert _hooks(d.pager, "route_plain title") == 0 and _chats(d, "route_plain title") == []
    output = d.worker.output()
    assert not any(secret in output for secret in ALL_SECRETS)
