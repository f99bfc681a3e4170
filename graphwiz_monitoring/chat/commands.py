"""Text commands: ``/status`` ... ``/help``; each returns the HTML reply (and maybe buttons).

Reads go through ``realtime.sources.collect_snapshot`` (each section degrades on its own, as on the
status page and in ``graphwiz-monitoring status``); changes through ``Actions``. Arguments are user
data: they are validated here and escaped wherever they are echoed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphwiz_monitoring.alerting.channels.telegram_buttons import CANCEL, RESUME_CONFIRM, callback_data
from graphwiz_monitoring.chat import views
from graphwiz_monitoring.chat.access import Sender
from graphwiz_monitoring.chat.actions import Actions, CommandError
from graphwiz_monitoring.chat.html import escape
from graphwiz_monitoring.metrics.history import daily_pnl
from graphwiz_monitoring.realtime.sources import collect_snapshot

DAILY_DEFAULT_DAYS = 7
DAILY_MAX_DAYS = 90
MAX_ARGUMENT_CHARS = 200


@dataclass
class Reply:
    text: str  # HTML, every outside value escaped
    reply_markup: dict[str, Any] | None = None


def parse(text: str) -> tuple[str, list[str]] | None:
    """``("status", [args])`` for "/status@MyBot a b"; None when the text is not a command."""
    if not text.startswith("/"):
        return None
    head, *args = text.split()
    name = head[1:].split("@", 1)[0].lower()
    return name, args


class Commands:
    def __init__(self, actions: Actions) -> None:
        self.actions = actions
        self.handlers: dict[str, Callable[[list[str], Sender], Reply]] = {
            "status": self.status, "alerts": self.alerts, "ack": self.ack, "silence": self.silence,
            "pause": self.pause, "resume": self.resume, "health": self.health, "profit": self.profit,
            "daily": self.daily, "help": self.help, "start": self.help,
        }

    def run(self, name: str, args: list[str], sender: Sender) -> Reply:
        handler = self.handlers.get(name)
        if handler is None:
            return Reply(f"Unknown command /{escape(name[:40])}. /help lists the commands.")
        return handler([a[:MAX_ARGUMENT_CHARS] for a in args], sender)

    def _snapshot(self, *sections: str) -> dict[str, Any]:
        a = self.actions
        return collect_snapshot(a.store, a.keys, a.settings, sections)

    # ------------------------------------------------------------------ reading

    def status(self, args: list[str], sender: Sender) -> Reply:
        return Reply(views.status_text(self._snapshot("metrics", "alerts", "trading")))

    def alerts(self, args: list[str], sender: Sender) -> Reply:
        return Reply(views.alerts_text(self._snapshot("alerts")))

    def health(self, args: list[str], sender: Sender) -> Reply:
        return Reply(views.health_text(self._snapshot("health")))

    def profit(self, args: list[str], sender: Sender) -> Reply:
        return Reply(views.profit_text(self._snapshot("metrics")))

    def daily(self, args: list[str], sender: Sender) -> Reply:
        days = DAILY_DEFAULT_DAYS
        if args:
            if not args[0].isdigit() or not 1 <= int(args[0]) <= DAILY_MAX_DAYS:
                raise CommandError(f"/daily n: n must be a whole number of days from 1 to {DAILY_MAX_DAYS}, "
                                   f"got {args[0][:40]!r}")
            days = int(args[0])
        return Reply(views.daily_text(daily_pnl(self.actions.store, self.actions.keys, days)))

    def help(self, args: list[str], sender: Sender) -> Reply:
        return Reply(views.help_text())

    # ------------------------------------------------------------------ answering

    def ack(self, args: list[str], sender: Sender) -> Reply:
        if not args:
            raise CommandError("/ack ID [comment]: give the alert's id (see /alerts)")
        alert = self.actions.acknowledge(args[0], sender.actor, " ".join(args[1:]) or None)
        return Reply(f"✅ Acknowledged {views.alert_line(alert.to_dict())}\nby {escape(sender.display)}")

    def silence(self, args: list[str], sender: Sender) -> Reply:
        if not args:
            raise CommandError("/silence RULE [duration] [reason], e.g. /silence high_drawdown 1h")
        rule, duration = args[0], args[1] if len(args) > 1 else "1h"
        made = self.actions.silence_rule(rule, duration, sender.actor, " ".join(args[2:]))
        return Reply(f"🔕 Rule <b>{escape(rule)}</b> silenced until {views.when(made.ends_at)} by "
                     f"{escape(sender.display)} (silence <code>{escape(made.id)}</code>)")

    def pause(self, args: list[str], sender: Sender) -> Reply:
        """At once: pausing is the safe direction, and the one wanted in a hurry."""
        change = self.actions.set_trading(True, sender.actor, " ".join(args))
        return Reply(views.trading_change_text(change, sender.display))

    def resume(self, args: list[str], sender: Sender) -> Reply:
        """Only after a confirmation press: resuming puts money back at risk."""
        keyboard = {"inline_keyboard": [[{"text": "▶️ Resume trading", "callback_data": callback_data(RESUME_CONFIRM)},
                                         {"text": "Cancel", "callback_data": callback_data(CANCEL)}]]}
        return Reply("Resume trading on every live trader?", keyboard)
