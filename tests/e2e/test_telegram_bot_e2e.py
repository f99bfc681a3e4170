"""The Telegram control bot as a real process (`graphwiz-monitoring telegram`) against a loopback Bot API
(tests/fakes/telegram_bot_api.py), two real trader processes (tests/fakes/health_trader.py) and Redis.

One bot, one pair of traders and one fake for the whole module (the tests run in file order: pause,
then resume, then the buttons); the last test stops the bot with SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

import pytest
from pydantic import SecretStr

from graphwiz_monitoring.alerting.channels.telegram import TelegramChannel
from graphwiz_monitoring.alerting.manager import AlertManager
from graphwiz_monitoring.alerting.records import get_active_alerts, load_alert
from graphwiz_monitoring.alerting.silences import list_silences
from graphwiz_monitoring.config import load_settings
from graphwiz_monitoring.health.commands import live_traders
from graphwiz_monitoring.health.pause import trading_pause_status
from graphwiz_monitoring.metrics import ingest
from graphwiz_monitoring.state import KeySpace, Store
from tests.conftest import ROOT, child_env, wait_until, write_config
from tests.fakes.chat_apis import TELEGRAM_TOKEN
from tests.fakes.telegram_bot_api import TelegramBotFake
from tests.fakes.trader_process import TraderProcess
from tests.fakes.trader_world import World

pytestmark = pytest.mark.e2e

OPS_CHAT = -100500  # allowed; also where alerts go
OTHER_CHAT = -100666
ANNA = TelegramBotFake.user(7001, "Anna", "ops_anna")
EVE = TelegramBotFake.user(7002, "<Eve & Co> </b>")  # no username: named by her (hostile) first name
NASTY = "<b>x</b>&amp;<script>"
TRADERS = ("trader-a", "trader-b")


class Rig:
    def __init__(self, fake: TelegramBotFake, store: Store, keys: KeySpace, settings: Any,
                 traders: dict[str, TraderProcess], bot: subprocess.Popen[bytes], log: Any) -> None:
        self.fake, self.store, self.keys, self.settings = fake, store, keys, settings
        self.traders, self.bot, self.log = traders, bot, log

    def ask(self, chat: int, user: dict[str, Any], text: str, **kw: Any) -> dict[str, Any]:
        """Send ``text`` as ``user`` and wait for the bot's reply to it."""
        message_id = self.fake.send(chat, user, text, **kw)
        return wait_until(lambda: next((m for m in self.fake.sent(chat) if m["reply_to"] == message_id), None),
                          timeout=20, message=f"the bot's reply to {text!r}\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def paused_calls(self, name: str) -> list[dict[str, Any]]:
        return self.traders[name].calls("trading_engine.pause")


@pytest.fixture(scope="module")
def rig(redis_server, tmp_path_factory):
    redis_server.clean()
    url, workdir = redis_server.url, tmp_path_factory.mktemp("telegram-bot")
    fake = TelegramBotFake()
    fake.start()
    config = write_config(workdir / "monitoring.yaml", url, (
        f"notifications:\n  telegram:\n    bot_token: '{TELEGRAM_TOKEN}'\n    chat_id: '{OPS_CHAT}'\n"
        f"    api_base: {fake.api_base}\n    allowed_chat_ids: [{OPS_CHAT}]\n    poll_timeout_seconds: 20\n"
        f"    max_retries: 0\n"
        "recovery:\n  ack_timeout_seconds: 8\nhealth_checks:\n  trader_stale_seconds: 6\n"))
    settings = load_settings(config, env={})
    traders: dict[str, TraderProcess] = {}
    for name in TRADERS:
        home = workdir / name
        home.mkdir()
        trader_yaml = write_config(home / "trader.yaml", url, (
            f"trader:\n  name: {name}\n  poll_interval_seconds: 0.2\n  heartbeat_interval_seconds: 0.5\n"
            f"  journal_dir: {home / 'journal'}\nhealth_checks:\n  trader_stale_seconds: 6\n"
            "recovery:\n  ack_timeout_seconds: 8\n"))
        traders[name] = TraderProcess(home, trader_yaml, url)
        World({}, state_path=str(traders[name].state_path))
        traders[name].start()
    log = workdir / "bot.log"
    with open(log, "wb") as out:
        bot = subprocess.Popen([sys.executable, "-m", "graphwiz_monitoring.cli", "--config", str(config), "telegram"],
                               cwd=str(ROOT), env=child_env(config, url, workdir / "state"), stdout=out,
                               stderr=subprocess.STDOUT)
    store = Store(url)
    keys = KeySpace(settings.redis.namespace)
    rig = Rig(fake, store, keys, settings, traders, bot, log)
    try:
        wait_until(lambda: set(TRADERS) <= set(live_traders(store, keys, 5)), timeout=30,
                   message="both traders' control listeners live")
        wait_until(lambda: fake.polling or bot.poll() is not None, timeout=20, message="the bot long-polling")
        assert bot.poll() is None, rig.output()
        yield rig
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait(timeout=10)
        for trader in traders.values():
            trader.kill()
        store.close()
        fake.stop()


def test_read_commands_are_answered(rig):
    trade = {"symbol": "BTC/USDT", "side": "buy", "price": 10.0, "quantity": 1.0, "exchange": "binance"}
    ingest.ingest_batch(rig.store, rig.keys, rig.settings, {"batch_id": "tg-1", "records": [
        {"kind": "trade", "data": {**trade, "pnl": 5.0}},
        {"kind": "trade", "data": {**trade, "pnl": -2.0, "success": False}},
        {"kind": "portfolio", "data": {"value": 1000.0, "cash": 400.0,
                                       "positions": [{"symbol": "BTC/USDT", "quantity": 1, "value": 600.0}]}}]})
    help_text = rig.ask(OPS_CHAT, ANNA, "/help")["text"]
    assert all(f"/{c}" in help_text for c in ("status", "alerts", "ack", "silence", "pause", "resume", "health",
                                              "profit", "daily", "help"))
    status = rig.ask(OPS_CHAT, ANNA, "/status@graphwiz_test_bot")["text"]
    assert "P&L: +$3.00 total, +$3.00 today" in status and "Drawdown: 0.0% now" in status, status
    assert "Portfolio: $1,000.00, 1 position(s), exposure $600.00" in status, status
    assert "Trading: running" in status and "Active alerts: none" in status
    assert rig.ask(OPS_CHAT, ANNA, "/alerts")["text"] == "No active alerts."
    health = rig.ask(OPS_CHAT, ANNA, "/health")["text"]
    assert health.startswith("Health:") and "Trader:" in health
    profit = rig.ask(OPS_CHAT, ANNA, "/profit")["text"]
    assert "Trades: 2 (1 succeeded, 1 failed), win rate 50.0%" in profit and "Volume: $20.00" in profit, profit
    daily = rig.ask(OPS_CHAT, ANNA, "/daily 3")["text"].splitlines()
    assert daily[0] == "Daily P&L, last 3 day(s) (UTC)" and daily[2].endswith(" +$3.00 · 2 trade(s)"), daily
    assert daily[3].endswith(" $0.00 · 0 trade(s)") and daily[-1] == "Total: +$3.00"
    assert "from 1 to 90" in rig.ask(OPS_CHAT, ANNA, "/daily 1000")["text"]


def test_pause_from_another_chat_is_refused_and_nothing_changes(rig):
    stream_before = rig.store.r.xlen(rig.keys.control_stream)
    reply = rig.ask(OTHER_CHAT, ANNA, "/pause")
    assert reply["text"].startswith("⛔ Not allowed") and str(OTHER_CHAT) in reply["text"]
    assert trading_pause_status(rig.store, rig.keys)["paused"] is False
    assert rig.store.r.xlen(rig.keys.control_stream) == stream_before  # no trader was even asked
    assert all(rig.paused_calls(n) == [] for n in TRADERS)
    assert f"refused /pause from user {ANNA['id']}" in rig.output() and str(OTHER_CHAT) in rig.output()


def test_pause_from_an_allowed_chat_pauses_every_trader_and_names_each_outcome(rig):
    reply = rig.ask(OPS_CHAT, ANNA, "/pause")["text"]
    assert reply.startswith("Trading paused by @ops_anna"), reply
    for name, trader in rig.traders.items():
        assert f"{name} (" in reply and f"pid {trader.pid}): succeeded: trading_engine.pause()" in reply, reply
        assert [c["pid"] for c in rig.paused_calls(name)] == [trader.pid]
        wait_until(lambda t=trader: (t.status() or {}).get("paused") is True, message=f"{name} sees the pause")
    assert "All 2 live trader(s) confirmed." in reply
    status = trading_pause_status(rig.store, rig.keys)
    assert status["paused"] is True and status["by"] == "telegram:ops_anna"


def test_resume_waits_for_the_confirmation_press(rig):
    cancelled = rig.ask(OPS_CHAT, ANNA, "/resume")
    rig.fake.press(OPS_CHAT, EVE, cancelled["message_id"], "cancel:")
    wait_until(lambda: rig.fake.messages[cancelled["message_id"]]["edits"], timeout=20, message="cancelled")
    assert rig.fake.messages[cancelled["message_id"]]["text"] == f"Resume cancelled by {EVE['first_name']}."
    question = rig.ask(OPS_CHAT, ANNA, "/resume")
    buttons = question["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["▶️ Resume trading", "Cancel"]
    assert trading_pause_status(rig.store, rig.keys)["paused"] is True  # asking is not resuming
    query = rig.fake.press(OPS_CHAT, ANNA, question["message_id"], buttons[0]["callback_data"])
    wait_until(lambda: rig.fake.messages[question["message_id"]]["edits"], timeout=20,
               message=f"the question edited into the outcome\n{rig.output()}")
    edited = rig.fake.messages[question["message_id"]]
    assert edited["text"].startswith("Trading resumed by @ops_anna") and not edited["reply_markup"]
    assert edited["text"].count(": succeeded: trading_engine.resume()") == 2, edited["text"]
    assert rig.fake.answers[query] == {"text": "Resuming trading…", "show_alert": False}
    assert trading_pause_status(rig.store, rig.keys)["paused"] is False
    for name in TRADERS:
        assert len(rig.traders[name].calls("trading_engine.resume")) == 1


def _alert_message(rig: Rig) -> tuple[str, str, int]:
    """Two active alerts; the first sent through the real Telegram channel (with its buttons)."""
    manager = AlertManager(rig.store, rig.keys, rig.settings)
    manager.evaluate({"risk": {"leverage": 9}, "exchanges": {"kraken": {"connected": False}}})
    alerts = {a.rule_name: a for a in get_active_alerts(rig.store, rig.keys)}
    breach, disconnect = alerts["risk_limit_breach"], alerts["exchange_disconnect"]
    TelegramChannel(rig.settings.notifications.telegram).send(breach, "firing")
    message_id = max(i for i, m in rig.fake.messages.items() if m["html"].startswith("<b>[EMERGENCY]"))
    return breach.alert_id, disconnect.alert_id, message_id


def test_alert_buttons_acknowledge_and_silence_and_the_message_says_who(rig):
    breach, disconnect, message_id = _alert_message(rig)
    query = rig.fake.press(OPS_CHAT, EVE, message_id, f"ack:{breach}")
    wait_until(lambda: rig.fake.answers[query], timeout=20, message=f"the press answered\n{rig.output()}")
    assert rig.fake.answers[query]["text"] == "Acknowledged"
    alert = load_alert(rig.store, rig.keys, breach)
    assert alert is not None and alert.acknowledged and alert.acknowledged_by == f"telegram:{EVE['id']}"
    wait_until(lambda: rig.fake.messages[message_id]["edits"] == 1, message="the alert message edited")
    edited = rig.fake.messages[message_id]
    assert f"✅ Acknowledged by {EVE['first_name']} at " in edited["text"]
    assert edited["html"].startswith("<b>[EMERGENCY]")  # the edit kept the channel's formatting
    assert [b["text"] for b in edited["reply_markup"]["inline_keyboard"][0]] == ["Silence 1 h", "Pause trading"]

    query = rig.fake.press(OPS_CHAT, ANNA, message_id, f"silence:{breach}")
    wait_until(lambda: rig.fake.messages[message_id]["edits"] == 2, timeout=20, message="silenced")
    silences = [s for s in list_silences(rig.store, rig.keys) if s.matchers.get("rule") == "risk_limit_breach"]
    assert len(silences) == 1 and 3590 < silences[0].ends_at - silences[0].starts_at <= 3600
    assert silences[0].author == "telegram:ops_anna"
    edited = rig.fake.messages[message_id]
    assert "🔕 Silenced for 1 h by @ops_anna" in edited["text"] and "✅ Acknowledged by" in edited["text"]
    assert [b["text"] for b in edited["reply_markup"]["inline_keyboard"][0]] == ["Pause trading"]

    # a press from a chat that is not allowed: refused in a pop-up, nothing acknowledged
    query = rig.fake.press(OTHER_CHAT, ANNA, message_id, f"ack:{disconnect}")
    wait_until(lambda: rig.fake.answers[query], timeout=20, message="the refused press answered")
    assert rig.fake.answers[query]["show_alert"] is True and "Not allowed" in rig.fake.answers[query]["text"]
    assert load_alert(rig.store, rig.keys, disconnect).acknowledged_by is None  # type: ignore[union-attr]

    # the command: an 8-character prefix as /alerts shows it
    reply = rig.ask(OPS_CHAT, ANNA, f"/ack {disconnect[:8]} on it")["text"]
    assert reply.startswith("✅ Acknowledged") and "by @ops_anna" in reply
    acked = load_alert(rig.store, rig.keys, disconnect)
    assert acked is not None and acked.acknowledged_by == "telegram:ops_anna" and acked.ack_comment == "on it"
    listing = rig.ask(OPS_CHAT, ANNA, "/alerts")["text"]
    assert listing.count("acknowledged by telegram:") == 2 and disconnect[:8] in listing
    assert "no active alert with id '0000" in rig.ask(OPS_CHAT, ANNA, f"/ack {'0' * 32}")["text"]

    # Pause trading: the press is answered at once, the outcomes follow as a reply to the alert
    rig.fake.press(OPS_CHAT, ANNA, message_id, f"pause:{breach}")
    outcome = wait_until(lambda: next((m for m in rig.fake.sent(OPS_CHAT) if m["reply_to"] == message_id), None),
                         timeout=20, message=f"the pause outcome\n{rig.output()}")
    assert outcome["text"].startswith("Trading paused by @ops_anna") and "All 2 live trader(s) confirmed." in \
        outcome["text"], outcome["text"]
    assert all(len(rig.paused_calls(n)) == 2 for n in TRADERS)
    wait_until(lambda: rig.fake.messages[message_id]["edits"] == 3, message="the alert marked paused")
    assert "⏸ Trading paused by @ops_anna" in rig.fake.messages[message_id]["text"]
    assert rig.fake.messages[message_id]["reply_markup"] == {"inline_keyboard": []}  # every action used


def test_user_data_is_escaped_everywhere(rig):
    replies = [rig.ask(OPS_CHAT, EVE, f"/silence {NASTY} 1h")["text"],
               rig.ask(OPS_CHAT, EVE, f"/ack {NASTY}")["text"],
               rig.ask(OPS_CHAT, EVE, f"/daily {NASTY}")["text"],
               rig.ask(OPS_CHAT, EVE, f"/{NASTY}")["text"],
               rig.ask(OTHER_CHAT, EVE, "/status")["text"],
               rig.ask(OPS_CHAT, EVE, "/silence exchange_disconnect 20m")["text"]]
    assert all(NASTY in r for r in replies[:4]), replies  # shown literally, as the user typed it
    assert replies[4].startswith("⛔ Not allowed")
    assert "silenced until" in replies[5] and EVE["first_name"] in replies[5]
    assert rig.fake.rejected() == [], [r.body[:300] for r in rig.fake.rejected()]  # no 400 "can't parse entities"


def test_a_command_sent_while_the_bot_was_down_is_not_executed(rig):
    reply = rig.ask(OPS_CHAT, ANNA, "/pause", age_seconds=3600)["text"]
    assert reply.startswith("Not executed: /pause was sent 60 min ago")
    assert all(len(rig.paused_calls(n)) == 2 for n in TRADERS)  # no trader was asked again


def test_run_starts_the_bot_only_when_someone_may_use_it(rig, tmp_path):
    from graphwiz_monitoring.cli.supervisor import build_children

    def names(settings) -> list[str]:
        return [c.name for c in build_children(settings, demo=False, config_args=[], state_dir=tmp_path)]

    assert "telegram" in names(rig.settings)
    alerts_only = rig.settings.model_copy(deep=True)
    alerts_only.notifications.telegram.allowed_chat_ids = []
    assert "telegram" not in names(alerts_only)  # a token for alerts alone starts no poller


def test_sigterm_stops_the_bot_at_once_and_confirms_what_it_handled(rig):
    wait_until(lambda: rig.fake.polling, message="the bot waiting in its 20 s long poll")
    started = time.monotonic()
    rig.bot.send_signal(signal.SIGTERM)
    assert rig.bot.wait(timeout=10) == 0, rig.output()
    assert time.monotonic() - started < 5
    confirm = rig.fake.received()[-1]  # the cut-short poll itself ends with 409, as on Telegram
    assert confirm.path.endswith("/getUpdates") and confirm.json["timeout"] == 0 and confirm.status == 200
    assert rig.fake.pending() == 0  # nothing handled is delivered again to the next bot
    assert [r for r in rig.fake.rejected() if not r.path.endswith("/getUpdates")] == []


def test_a_wrong_token_ends_the_bot_with_a_clear_error(rig):
    """401 will not fix itself: the process exits naming the setting (run's supervisor restarts it later)."""
    from graphwiz_monitoring.chat.bot import TelegramBot
    from graphwiz_monitoring.errors import GraphwizError

    settings = rig.settings.model_copy(deep=True)
    settings.notifications.telegram.bot_token = SecretStr("123:wrong-token-0000")
    with pytest.raises(GraphwizError, match="HTTP 401.*bot_token") as caught:
        TelegramBot(settings, rig.store, rig.keys).run()
    assert "wrong-token" not in str(caught.value)
