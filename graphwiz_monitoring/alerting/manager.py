"""AlertManager: the alert lifecycle in Redis, shared by every worker and the trader process.

pending (``for_seconds``) -> firing -> resolved, per (rule, fingerprint); the fingerprint names what
the alert is about (e.g. ``{"exchange": "binance"}``). Each decision is one Lua script
(state/scripts/alert_*.lua) timed by the Redis clock, so however many processes evaluate the same
breach, exactly one opens the episode, sends each repeat, and resolves it. The same script
records the notification in the outbox (alerting/outbox.py); then only that process publishes the
ALERT event and hands one notification per channel to ``dispatch(alert_id, channel, kind)``, and the
outbox entry goes once all are enqueued (if it dies first, the outbox sweep hands them over). The
library never imports Celery: callers hand in a ``TaskSender`` (or a dispatcher); a manager with
neither leaves its notifications to the workers' outbox sweep.

An alert is an episode (docs/ALERTS.md): one alert id per (rule, fingerprint) from the moment its
condition holds (after ``for_seconds``) until it stops holding, active at once whatever its
notifications do. Its first notification goes at the start; each evaluation of a still-breached rule
checks (atomically, in alert_fire.lua) whether a repeat is due, one cooldown (``alerts.cooldowns`` of its
severity, or the rule's ``cooldown_seconds``) after the last, and exactly one process sends it as
``repeat-<n>`` of the same alert. A breach back within the cooldown after a resolution (or before the
resolved notice went out) re-opens the same alert, unannounced. The resolved notice goes once the
condition stayed clear ``alerts.resolve_after_seconds``. Health checks open episodes too
(``open_episode``/``close_episode``, rule ``health:<check>``). Manual alerts (``create_manual_alert``)
are one-shot: stored in history and sent, never "active".
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from graphwiz_monitoring.alerting import acks, escalation, outbox
from graphwiz_monitoring.alerting.maintenance import MaintenanceGate
from graphwiz_monitoring.alerting.models import Alert, AlertChannel, AlertSeverity, AlertState
from graphwiz_monitoring.alerting.notifier import Dispatch, Notifier, sender_dispatch
from graphwiz_monitoring.alerting.published import rule_for
from graphwiz_monitoring.alerting.records import get_active_alerts, get_alert_history, load_alert, save_alert
from graphwiz_monitoring.alerting.rules import MANUAL_RULE, AlertRule, CustomRules, RuleRegistry, load_rules
from graphwiz_monitoring.alerting.silences import (
    Silence,
    active_silences,
    alert_labels,
    config_silences,
    inhibited,
    muting_silence,
)
from graphwiz_monitoring.config import AlertsSettings, Settings
from graphwiz_monitoring.errors import AlertNotFoundError
from graphwiz_monitoring.events import AlertEvent, EventType, publish
from graphwiz_monitoring.rulebook.rules import TRADER_SECTIONS
from graphwiz_monitoring.state import KeySpace, Store
from graphwiz_monitoring.tasks import TaskSender
from graphwiz_monitoring.vocabulary import NotificationKind, escalated_kind, repeat_kind

log = logging.getLogger(__name__)

# ALERT event kinds of an ack given or taken back (the status page and stream show "acknowledged by X").
ACKNOWLEDGED, UNACKNOWLEDGED, ESCALATED = "acknowledged", "unacknowledged", "escalated"
# Lifecycle state outlives the cooldown by this much, and is refreshed on every evaluation.
STATE_GRACE_SECONDS = 86_400
TRADER_RULES_TTL_SECONDS = 7 * 86_400  # a trader's registered custom rule names (KeySpace.trader_rules)


def fingerprint(rule_name: str, labels: Mapping[str, str]) -> str:
    """Stable id of what an alert is about (rule + match labels); safe inside Redis keys."""
    text = rule_name + "\n" + "\n".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def data_stale(snapshot: Mapping[str, Any]) -> bool:
    """True when traders reported and every one of them is stale now (``traders.<name>.stale``, judged on the
    Redis clock against ``health_checks.trader_stale_seconds``): what they fed is no fact any more."""
    traders = snapshot.get("traders")
    if not isinstance(traders, Mapping) or not traders:
        return False
    return all(isinstance(t, Mapping) and t.get("stale") is True for t in traders.values())


def stale_feeders(snapshot: Mapping[str, Any]) -> set[str]:
    """The exchanges every trader that reported them is stale for (``traders.<name>.exchanges``): alerts on
    them are no facts, though fresher traders report other exchanges."""
    traders = snapshot.get("traders")
    if not isinstance(traders, Mapping):
        return set()
    feeders: dict[str, list[bool]] = {}
    for t in traders.values():
        if isinstance(t, Mapping) and isinstance(t.get("exchanges"), Mapping):
            for exchange in t["exchanges"]:
                feeders.setdefault(str(exchange), []).append(t.get("stale") is True)
    return {exchange for exchange, stale in feeders.items() if all(stale)}


def reads_trader_data(rule: AlertRule) -> bool:
    """A rule whose inputs only traders feed (exchanges, trading, portfolio, risk, agents, neo4j)."""
    return rule.sections is not None and bool(set(rule.sections) & TRADER_SECTIONS)


def _alert_event(kind: str, alert: Alert) -> AlertEvent:
    return cast(AlertEvent, {"event": kind, **alert.to_dict()})


@dataclass
class EvaluationResult:
    created: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    stale: list[Alert] = field(default_factory=list)  # episodes ended now because their data stopped coming
    repeated: list[str] = field(default_factory=list)  # alert ids whose repeat this evaluation sent
    reopened: list[str] = field(default_factory=list)  # alert ids a flap brought back (same episode)
    pending: int = 0
    suppressed: int = 0
    evaluated: int = 0
    skipped: list[str] = field(default_factory=list)  # rules whose condition raised

    def summary(self) -> dict[str, Any]:
        return {"evaluated": self.evaluated, "created": [a.alert_id for a in self.created],
                "resolved": [a.alert_id for a in self.resolved], "stale": [a.alert_id for a in self.stale],
                "repeated": self.repeated,
                "reopened": self.reopened, "pending": self.pending,
                "suppressed": self.suppressed, "skipped": self.skipped}


class AlertManager:
    """Evaluates rules against metrics snapshots and runs the shared lifecycle.

    ``custom_rules`` (name -> AlertRule) are evaluated by this process (e.g. the trader, from
    ``get_metrics()`` snapshots) through the same lifecycle as the rules every worker evaluates.
    """

    def __init__(self, store: Store, keys: KeySpace, settings: Settings, *, dispatch: Dispatch | None = None,
                 sender: TaskSender | None = None, registry: RuleRegistry | None = None,
                 load_modules: bool = False) -> None:
        self.store, self.keys, self.settings = store, keys, settings
        self.registry = registry if registry is not None else load_rules(settings.alerts, load_modules=load_modules)
        self.custom_rules: CustomRules = CustomRules()
        self.notifier = Notifier(store, keys, settings,
                                 dispatch if dispatch is not None else (sender_dispatch(sender) if sender else None),
                                 sender=sender)
        self._config_silences = config_silences(settings)
        self.maintenance = MaintenanceGate(store, keys, settings)
        alerts = settings.alerts
        self._alert_ttl = max(1, int(alerts.history_retention_hours * 3600))

    # ------------------------------------------------------------ evaluation

    def evaluate(self, snapshot: Mapping[str, Any], *, fast: bool = False) -> EvaluationResult:
        """All enabled rules (only those reading ingested data when ``fast``), plus ``custom_rules``."""
        rules = [r for r in itertools.chain(self.registry, list(self.custom_rules.values()))
                 if r.enabled and (not fast or r.fast)]
        result = self._evaluate(rules, snapshot)
        if not fast:
            result.stale += self._end_stale_traders_rules(snapshot)
        return result

    def register_custom_rules(self, trader: str) -> None:
        """Record that ``trader`` evaluates ``custom_rules`` itself: should it go stale (killed without
        ``stop()``), the workers end those rules' episodes as ``stale`` (``evaluate``)."""
        key, names = self.keys.trader_rules(trader), list(self.custom_rules)
        pipe = self.store.r.pipeline(transaction=True)
        pipe.delete(key)
        if names:
            pipe.sadd(key, *names)
            pipe.expire(key, TRADER_RULES_TTL_SECONDS)
        pipe.execute()

    def _end_stale_traders_rules(self, snapshot: Mapping[str, Any]) -> list[Alert]:
        """The custom rules only stale traders evaluate (``register_custom_rules``): nobody judges them
        now, so their open episodes end as ``stale``."""
        traders = snapshot.get("traders")
        if not isinstance(traders, Mapping):
            return []
        stale = [n for n, t in traders.items() if isinstance(t, Mapping) and t.get("stale") is True]
        if not stale:
            return []
        fresh = [n for n in traders if n not in stale]
        pipe = self.store.r.pipeline(transaction=False)
        for name in [*stale, *fresh]:
            pipe.smembers(self.keys.trader_rules(name))
        sets = pipe.execute()
        orphaned = set().union(*sets[:len(stale)]) - set().union(*sets[len(stale):]) - set(self.custom_rules)
        return self.end_stale(orphaned)

    def evaluate_custom(self, snapshot: Mapping[str, Any]) -> EvaluationResult:
        """Only ``custom_rules`` (what the trader process runs; workers evaluate the rest)."""
        return self._evaluate([r for r in list(self.custom_rules.values()) if r.enabled], snapshot)

    def check_alert(self, rule_name: str, metrics: Mapping[str, Any],
                    context: Mapping[str, Any] | None = None) -> Alert | None:
        """Evaluate one rule now; the alert it created, if any. ``context`` adds template values/metadata."""
        # Own rules first, then the deployment's published YAML rules (alerting/published.py).
        rule = rule_for(rule_name, local=self.custom_rules, registry=self.registry, settings=self.settings,
                        store=self.store, keys=self.keys)
        result = self._evaluate([rule], metrics, dict(context or {}))
        return result.created[0] if result.created else None

    def _evaluate(self, rules: Iterable[AlertRule], snapshot: Mapping[str, Any],
                  extra: dict[str, Any] | None = None) -> EvaluationResult:
        result = EvaluationResult()
        observed = []
        stale_rules = []
        traders_stale = data_stale(snapshot)
        for rule in rules:
            if traders_stale and reads_trader_data(rule):
                stale_rules.append(rule)  # its last values are no facts: end its episodes, fire nothing
                continue
            matches = rule.evaluate(snapshot)
            if matches is None:
                result.skipped.append(rule.name)
            else:
                observed.append((rule, matches))
        result.evaluated = len(observed)
        if stale_rules:
            tracked = self.store.r.smembers(self.keys.alerts_tracked)
            for rule in stale_rules:
                for member in tracked:
                    if member.startswith(rule.name + "|"):
                        ended = self._end_stale(member)
                        if ended is not None:
                            result.stale.append(ended)
        if not observed:
            return result
        tracked = self.store.r.smembers(self.keys.alerts_tracked)
        silences, now = self._silences()  # now: the Redis clock's, which silences are judged by
        candidates = [(rule, m, {**rule.labels, **m.label_dict}, fingerprint(rule.name, m.label_dict))
                      for rule, matches in observed for m in matches]
        seen: set[str] = set()
        fed_by_stale = stale_feeders(snapshot)
        if fed_by_stale:  # several traders, some stale: an exchange only stale traders reported is no fact
            kept = []
            for rule, m, labels, fp in candidates:
                if reads_trader_data(rule) and labels.get("exchange") in fed_by_stale:
                    member = f"{rule.name}|{fp}"
                    seen.add(member)
                    if member in tracked:
                        ended = self._end_stale(member)
                        if ended is not None:
                            result.stale.append(ended)
                else:
                    kept.append((rule, m, labels, fp))
            candidates = kept
        # Inhibition sources: this round's matches, plus active alerts of rules not evaluated now
        # (for the rules evaluated now, the current matches are the truth).
        evaluated = {rule.name for rule, _ in observed}
        sources = [(f"{a.rule_name}|{a.fingerprint}", alert_labels(a.rule_name, a.severity, a.labels))
                   for a in self._active() if a.rule_name not in evaluated]
        sources += [(f"{r.name}|{fp}", alert_labels(r.name, r.severity, labels)) for r, _, labels, fp in candidates]
        for rule, match, labels, fp in candidates:
            member = f"{rule.name}|{fp}"
            seen.add(member)
            matchable = alert_labels(rule.name, rule.severity, labels)
            if muting_silence(silences, matchable, now) or inhibited(matchable, sources, self.settings.alerts.inhibit,
                                                                     member):
                result.suppressed += self._suppress(rule, fp)
                continue
            outcome, alert_id, alert = self._fire(rule, match, labels, fp, snapshot, extra)
            if alert is not None:
                result.created.append(alert)
            elif outcome == "pending":
                result.pending += 1
            elif outcome == "repeat":
                result.repeated.append(alert_id)
            elif outcome == "reopened":
                result.reopened.append(alert_id)
        for rule, _ in observed:
            for member in tracked:
                if member.startswith(rule.name + "|") and member not in seen:
                    if self._host_gone(member, snapshot):  # its host stopped reporting: no fact, not resolved
                        ended = self._end_stale(member)
                        if ended is not None:
                            result.stale.append(ended)
                        continue
                    resolved = self._resolve_member(member, silences=silences, now=now)
                    if resolved is not None:
                        result.resolved.append(resolved)
        return result

    def _fire(self, rule: AlertRule, match: Any, labels: dict[str, str], fp: str, snapshot: Mapping[str, Any],
              extra: dict[str, Any] | None) -> tuple[str, str, Alert | None]:
        title, message = rule.render(match, snapshot, extra, fp)
        metadata = {"value": match.value, "threshold": rule.threshold, **(extra or {})}
        alert = Alert(rule_name=rule.name, title=title, message=message, severity=rule.severity,  # type: ignore[arg-type]
                      channels=list(rule.channels), labels=labels,  # type: ignore[arg-type]
                      metadata=json.loads(json.dumps(metadata, default=str)), fingerprint=fp)
        return self._observe(alert, rule.for_seconds, rule.cooldown(self.settings.alerts.cooldowns))

    def _observe(self, alert: Alert, for_seconds: float, cooldown: float) -> tuple[str, str, Alert | None]:
        """One breach observation of ``alert``'s (rule, fingerprint) (alert_fire.lua) and what it asks for:
        (outcome, alert id, the alert when created now)."""
        k, alerts, rule_name, fp = self.keys, self.settings.alerts, alert.rule_name, alert.fingerprint
        # Should this observation open the episode: its steps and channels, the deployment's (a trader's own
        # configuration does not decide who is told, notifier.policy), read once for what follows.
        policy = self.notifier.policy()
        plan = escalation.start(alert, policy)
        outcome, alert_id, _now, sequence, rise = self.store.run_script(  # durable: the episode and its outbox entry
            "alert_fire",
            [k.alert_state(rule_name, fp), k.alerts_active, k.alerts_tracked, k.alert(alert.alert_id),
             k.alerts_history, k.alert_counts, k.notify_outbox, k.alerts_escalation],
            [for_seconds, cooldown, alert.alert_id, json.dumps(alert.to_dict()), self._alert_ttl,
             f"{rule_name}|{fp}", f"{rule_name}|{alert.severity.value}", self._state_ttl(cooldown, for_seconds),
             self._alert_ttl, alerts.history_max_entries, outbox.entry(alert.alert_id, NotificationKind.FIRING),
             alert.severity.rank, *(plan.argv() if plan else escalation.NO_PLAN_ARGV)],
            durable=True)
        if outcome == "created":
            log.info("alert %s created: %s [%s]", alert.alert_id, alert.title, rule_name)
            self._announce(alert, NotificationKind.FIRING, policy)
            return outcome, alert.alert_id, alert
        if outcome == "repeat":
            current = self._load(alert_id)
            kind = repeat_kind(int(sequence))
            if current is not None and int(rise):
                current = self._severity_rose(current, alert)
            if current is None:  # its record expired: nothing to tell
                outbox.remove(self.store, k, alert_id, kind)
            else:
                log.info("alert %s still firing: repeat %s [%s]", alert_id, sequence, rule_name)
                self.notify(current, kind, policy)
        elif outcome == "reopened":
            current = self._sync_state(alert_id, f"{rule_name}|{fp}")
            if current is not None:
                log.info("alert %s firing again within its cooldown (same episode) [%s]", alert_id, rule_name)
                publish(self.store, self.keys, EventType.ALERT, _alert_event(NotificationKind.FIRING, current))
        return outcome, alert_id, None

    def _severity_rose(self, current: Alert, observed: Alert) -> Alert:
        """The episode got worse than it ever was (alert_fire.lua broke its ack): the record takes the new
        severity, title and message, the ack hash goes, and everyone watching hears of it."""
        if self.store.r.delete(self.keys.alert_ack(current.alert_id)):
            log.info("alert %s: acknowledgement by %s broken: severity rose to %s", current.alert_id,
                     current.acknowledged_by, observed.severity.value)
        current.severity, current.title, current.message = observed.severity, observed.title, observed.message
        acks.apply(current, None)
        save_alert(self.store, self.keys, current)
        publish(self.store, self.keys, EventType.ALERT, _alert_event(NotificationKind.FIRING, current))
        return current

    # ------------------------------------------------------------ acknowledge

    def acknowledge_alert(self, alert_id: str, by: str, comment: str | None = None,
                          for_seconds: float | None = None) -> Alert:
        """Acknowledge the active alert ``alert_id`` (alerting/acks.py): no repeats and no escalation until it
        resolves, ``for_seconds`` run out (Redis clock), it is taken back, or its severity rises.
        Acknowledging again replaces the ack. AlertNotFoundError when no active alert has that id;
        ValueError naming the field for bad input."""
        by, comment, for_seconds = acks.validate(by, comment, for_seconds)
        alert = self._active_alert(alert_id)
        ack = acks.acknowledge(self.store, self.keys, alert, by, comment, for_seconds, self._alert_ttl)
        if ack is None:  # resolved between the two reads
            raise AlertNotFoundError(f"no active alert with id {alert_id!r}")
        acks.apply(alert, ack)
        until = f" for {for_seconds:g}s" if for_seconds else ""
        log.info("alert %s acknowledged by %s%s [%s]", alert.alert_id, by, until, alert.rule_name)
        publish(self.store, self.keys, EventType.ALERT, _alert_event(ACKNOWLEDGED, alert))
        return alert

    def unacknowledge_alert(self, alert_id: str, by: str) -> Alert:
        """Take back the ack of the active alert ``alert_id``: its repeats and escalation go on at once (a
        repeat already due is sent at the next evaluation). AlertNotFoundError when no active alert has
        that id; an alert without an ack is returned unchanged."""
        by, _, _ = acks.validate(by, None, None)
        alert = self._active_alert(alert_id)
        if acks.unacknowledge(self.store, self.keys, alert):
            log.info("alert %s: acknowledgement by %s taken back by %s [%s]", alert.alert_id,
                     alert.acknowledged_by, by, alert.rule_name)
            acks.apply(alert, None)
            publish(self.store, self.keys, EventType.ALERT, _alert_event(UNACKNOWLEDGED, alert))
        return alert

    def _active_alert(self, alert_id: Any) -> Alert:
        """The record of the active alert ``alert_id``; AlertNotFoundError naming the id otherwise."""
        if not isinstance(alert_id, str) or not alert_id or len(alert_id) > 200:
            raise AlertNotFoundError(f"no active alert with id {alert_id!r:.80}")
        alert = self._load(alert_id)
        if alert is None or alert.state is not AlertState.FIRING or self.store.r.hget(
                self.keys.alerts_active, f"{alert.rule_name}|{alert.fingerprint}") != alert_id:
            raise AlertNotFoundError(f"no active alert with id {alert_id!r}")
        return alert

    def _suppress(self, rule: AlertRule, fp: str) -> int:
        cooldown = rule.cooldown(self.settings.alerts.cooldowns)
        fields = [f"{c.value}|suppressed" for c in self._channels(rule.channels, NotificationKind.FIRING)]  # type: ignore[arg-type]
        return int(self.store.run_script("alert_suppress", [self.keys.alert_state(rule.name, fp),
                                                             self.keys.notification_counts],
                                         [cooldown, self._state_ttl(cooldown, 0), *fields]))

    def _state_ttl(self, cooldown: float, for_seconds: float) -> int:
        return int(max(cooldown, for_seconds)) + STATE_GRACE_SECONDS

    # ------------------------------------------------------------ resolution

    def resolve_alert(self, rule_name: str, fingerprint: str | None = None) -> list[Alert]:
        """Resolve the active alerts of ``rule_name`` (one fingerprint, or all) now, notice included (no
        ``resolve_after_seconds`` wait); an alert id works too."""
        active = self.store.r.hgetall(self.keys.alerts_active)
        members = [m for m, aid in active.items()
                   if (m.startswith(rule_name + "|") and (fingerprint is None or m.endswith("|" + fingerprint)))
                   or aid == rule_name]
        silences, now = self._silences()
        resolved = [self._resolve_member(m, silences=silences, now=now, force=True) for m in members]
        return [a for a in resolved if a is not None]

    def _resolve_member(self, member: str, *, silences: list[Silence], now: float,
                        force: bool = False) -> Alert | None:
        """The condition of ``member`` does not hold (alert_resolve.lua): the alert it resolved now, if any;
        its resolved notice is announced when due."""
        rule_name, fp = member.split("|", 1)
        k = self.keys
        outcome, alert_id, kind = self.store.run_script(
            "alert_resolve", [k.alert_state(rule_name, fp), k.alerts_active, k.alerts_tracked, k.notify_outbox],
            [member, "", outbox.entry("", ""), self.settings.alerts.resolve_after_seconds, "1" if force else "0"],
            durable=True)
        if outcome in ("none", "waiting"):
            return None
        alert = self._sync_state(alert_id, member) if outcome != "noticed" else self._load(alert_id)
        if alert is None:  # its record expired: nothing to tell
            if kind:
                outbox.remove(self.store, k, alert_id, kind)
            return None
        if outcome in ("resolved", "resolved_noticed"):
            log.info("alert %s resolved: %s [%s]", alert.alert_id, alert.title, rule_name)
            publish(self.store, self.keys, EventType.ALERT, _alert_event(NotificationKind.RESOLVED, alert))
        if outcome in ("noticed", "resolved_noticed"):
            if self.muted(alert, silences, now):
                outbox.remove(self.store, k, alert.alert_id, kind)
            else:
                self.notify(alert, kind)
        return alert if outcome != "noticed" else None

    def end_stale(self, rule_names: Iterable[str]) -> list[Alert]:
        """The process that evaluates ``rule_names`` stops (e.g. the trader, for its ``custom_rules``): their
        open episodes end as ``stale`` now, one "stale" notice each, since nobody will judge them again."""
        names = set(rule_names)
        if not names:
            return []
        ended = [self._end_stale(m) for m in self.store.r.smembers(self.keys.alerts_tracked)
                 if m.split("|", 1)[0] in names]
        return [a for a in ended if a is not None]

    def _host_gone(self, member: str, snapshot: Mapping[str, Any]) -> bool:
        """True when ``member``'s open alert is about a host (label ``host``) that left ``system.hosts``
        (silent for ``retention.host_stale_seconds``): its condition did not clear, its data stopped."""
        system = snapshot.get("system")
        hosts = system.get("hosts") if isinstance(system, Mapping) else None
        if not isinstance(hosts, Mapping):
            return False
        alert_id = self.store.r.hget(self.keys.alerts_active, member)
        alert = self._load(alert_id) if alert_id else None
        host = alert.labels.get("host") if alert is not None else None
        return host is not None and host not in hosts

    def _end_stale(self, member: str) -> Alert | None:
        """The data ``member``'s rule reads stopped coming (alert_stale.lua): its open episode ends as
        ``stale`` with one "stale" notice; a pending one is forgotten. The alert ended now, if any."""
        rule_name, fp = member.split("|", 1)
        k = self.keys
        outcome, alert_id = self.store.run_script(
            "alert_stale", [k.alert_state(rule_name, fp), k.alerts_active, k.alerts_tracked, k.notify_outbox],
            [member, outbox.entry("", "")], durable=True)
        if outcome != "stale":
            return None
        kind = NotificationKind.STALE.value
        alert = self._load(alert_id)
        if alert is None:  # its record expired: nothing to tell
            outbox.remove(self.store, k, alert_id, kind)
            return None
        alert.state, alert.resolved_at = AlertState.STALE, time.time()
        save_alert(self.store, k, alert)
        log.info("alert %s stale: %s [%s] (its data stopped coming)", alert_id, alert.title, rule_name)
        publish(self.store, k, EventType.ALERT, _alert_event(NotificationKind.STALE, alert))
        if self.muted(alert):
            outbox.remove(self.store, k, alert_id, kind)
        else:
            self.notify(alert, kind)
        return alert

    def _sync_state(self, alert_id: str, member: str) -> Alert | None:
        """Bring the record's state in line with the active hash (the truth, written by the Lua scripts)."""
        alert = self._load(alert_id)
        if alert is None:
            return None
        firing = self.store.r.hget(self.keys.alerts_active, member) == alert_id
        if firing:
            alert.state, alert.resolved_at = AlertState.FIRING, None
        else:
            alert.state, alert.resolved_at = AlertState.RESOLVED, time.time()
        save_alert(self.store, self.keys, alert)
        return alert

    def muted(self, alert: Alert, silences: list[Silence] | None = None, now: float | None = None) -> bool:
        """True when a silence mutes ``alert`` now (its resolution is then not notified).

        ``silences`` and ``now`` come together from ``_silences()``; either missing, both are read afresh.
        """
        if silences is None or now is None:
            silences, now = self._silences()
        return muting_silence(silences, alert_labels(alert.rule_name, alert.severity, alert.labels), now) is not None

    # ------------------------------------------------------------ notification handoff

    def _announce(self, alert: Alert, kind: str, policy: AlertsSettings | None = None) -> None:
        policy = policy or self.notifier.policy()
        held = self.maintenance.hold(alert, kind, policy)  # first: the event shows the alert "in maintenance"
        publish(self.store, self.keys, EventType.ALERT, _alert_event(kind, alert))
        if not held:
            self._hand_over(alert, kind, policy)

    def _channels(self, channels: Iterable[AlertChannel], kind: str) -> list[AlertChannel]:
        return self.notifier.channels(channels, kind)

    def notify(self, alert: Alert, kind: str, policy: AlertsSettings | None = None) -> bool:
        """Hand ``alert``'s notification to its channels' queues (notifier.py), unless a maintenance window
        holds it (alerting/maintenance.py); True when all were enqueued or it was held. An escalation
        step's (``escalated-<n>``) goes to that step's destinations only, and the other notices of an
        escalated episode to the steps' it reached (routing.destinations), whatever ``alerts.routes`` say. Windows,
        routes and grouping are one policy: the deployment's, as the notifier reads it (notifier.policy);
        ``policy``: the caller's read of it, not read again."""
        policy = policy or self.notifier.policy()
        step = escalation.step_of(kind)
        # Recorded here, held or not, so the outbox sweep's handoff of a step records it too.
        if step is not None and escalation.reach(alert, step):
            save_alert(self.store, self.keys, alert)
        return self.maintenance.hold(alert, kind, policy) or self._hand_over(alert, kind, policy)

    def _hand_over(self, alert: Alert, kind: str, policy: AlertsSettings) -> bool:
        step = escalation.step_of(kind)
        steps = escalation.step_destinations(alert, step) if step is not None else None
        return self.notifier.notify(alert, kind, steps, policy=policy)

    def escalated(self, alert_id: str, step: int) -> None:
        """Step ``step`` of ``alert_id``'s escalation was reached now (claimed once, escalation.py): its
        destinations are told, and get the episode's repeats and end from now on."""
        kind = escalated_kind(step)
        alert = self._load(alert_id)
        if alert is None:  # its record expired: nothing to tell
            outbox.remove(self.store, self.keys, alert_id, kind)
            return
        log.info("alert %s escalated: step %s [%s]", alert_id, step, alert.rule_name)
        self.notify(alert, kind)  # records the step reached on the alert
        publish(self.store, self.keys, EventType.ALERT, _alert_event(ESCALATED, alert))

    def escalate_due(self) -> list[tuple[str, int]]:
        """Every escalation step due now (the beat task's work): [(alert id, step)] reached by this call."""
        return escalation.run_due(self)

    def dispatch_one(self, alert_id: str, channel: str, kind: str) -> bool:
        return self.notifier.dispatch_one(alert_id, channel, kind)

    async def send_alert(self, alert: Alert) -> bool:
        """Store ``alert`` if new and hand it to its channels (idempotent per alert id and kind).

        A known alert is sent again only when it is reported resolved and its record is not resolved
        yet; the record then takes the resolved state. False when an enqueue failed (the outbox
        sweep retries it).
        """
        kind = NotificationKind.RESOLVED if alert.state is AlertState.RESOLVED else NotificationKind.FIRING
        stored, queued = self._store(alert, kind)
        if stored:
            self._record_history(alert)
        if not queued:
            return True  # already handed over (e.g. check_alert followed by send_alert)
        publish(self.store, self.keys, EventType.ALERT, _alert_event(kind, alert))
        return self.notify(alert, kind)

    def create_manual_alert(self, title: str, message: str, severity: AlertSeverity | str = AlertSeverity.INFO,
                            channels: Iterable[AlertChannel | str] | None = None,
                            metadata: Mapping[str, Any] | None = None, rule_name: str = MANUAL_RULE) -> Alert:
        """A one-shot alert sent now (no cooldown, never "active"); default channels: every active one.
        ``rule_name`` is one of ``ONE_SHOT_RULES`` (the digest passes its own)."""
        chosen = [AlertChannel.parse(c) for c in channels] if channels is not None else list(AlertChannel)
        alert = Alert(rule_name=rule_name, title=str(title), message=str(message),
                      severity=AlertSeverity.parse(severity), channels=chosen,
                      metadata=json.loads(json.dumps(dict(metadata or {}), default=str)))
        alert.fingerprint = alert.alert_id[:16]
        self._store(alert, NotificationKind.FIRING)
        self._record_history(alert)
        self._announce(alert, NotificationKind.FIRING)
        return alert

    def open_episode(self, rule_name: str, fingerprint: str, title: str, message: str,
                     severity: AlertSeverity | str, channels: Iterable[AlertChannel | str] | None = None,
                     metadata: Mapping[str, Any] | None = None, labels: Mapping[str, str] | None = None) -> str:
        """A condition judged outside the rules (e.g. a health check gone bad) holds now: open its episode,
        or go on with it (a repeat when due). Returns the episode's alert id. Call it on every bad
        observation; ``close_episode`` when it is good again."""
        chosen = [AlertChannel.parse(c) for c in channels] if channels is not None else list(AlertChannel)
        sev = AlertSeverity.parse(severity)
        alert = Alert(rule_name=rule_name, title=str(title), message=str(message), severity=sev, channels=chosen,
                      labels={str(k): str(v) for k, v in (labels or {}).items()},
                      metadata=json.loads(json.dumps(dict(metadata or {}), default=str)), fingerprint=fingerprint)
        _outcome, alert_id, _ = self._observe(alert, 0, self.settings.alerts.cooldowns.for_severity(sev))
        return alert_id

    def close_episode(self, rule_name: str, fingerprint: str) -> Alert | None:
        """The condition of ``open_episode`` holds no more: the alert resolved now, if one was open (its
        notice follows ``alerts.resolve_after_seconds``; call again on later good observations)."""
        member = f"{rule_name}|{fingerprint}"
        if not self.store.r.sismember(self.keys.alerts_tracked, member):
            return None  # nothing open or owed: a healthy check costs one round trip
        silences, now = self._silences()
        return self._resolve_member(member, silences=silences, now=now)

    def _store(self, alert: Alert, kind: str) -> tuple[bool, bool]:
        """(stored, queued): the record if new, and its outbox entry, in one step (alert_store.lua)."""
        stored, queued = self.store.run_script(
            "alert_store", [self.keys.alert(alert.alert_id), self.keys.notify_outbox],
            [json.dumps(alert.to_dict()), self._alert_ttl, kind, outbox.entry(alert.alert_id, kind)], durable=True)
        return bool(stored), bool(queued)

    def _record_history(self, alert: Alert) -> None:
        alerts, now = self.settings.alerts, time.time()
        pipe = self.store.r.pipeline(transaction=False)
        pipe.zadd(self.keys.alerts_history, {alert.alert_id: alert.created_at})
        pipe.zremrangebyscore(self.keys.alerts_history, "-inf", now - self._alert_ttl)
        pipe.zremrangebyrank(self.keys.alerts_history, 0, -(alerts.history_max_entries + 1))
        pipe.hincrby(self.keys.alert_counts, f"{alert.rule_name}|{alert.severity.value}", 1)
        pipe.execute()

    # ------------------------------------------------------------ reading

    def _silences(self) -> tuple[list[Silence], float]:
        """Silences in force and the Redis time they are judged at (a host's clock may be hours off)."""
        return active_silences(self.store, self.keys, self._config_silences)

    def _load(self, alert_id: str) -> Alert | None:
        return load_alert(self.store, self.keys, alert_id)

    def _active(self) -> list[Alert]:
        return get_active_alerts(self.store, self.keys)

    def get_active_alerts(self) -> list[Alert]:
        return get_active_alerts(self.store, self.keys)

    def get_alert_history(self, hours: float = 24, severity: AlertSeverity | str | None = None) -> list[Alert]:
        return get_alert_history(self.store, self.keys, hours=hours, severity=severity)
