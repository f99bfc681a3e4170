"""The control stream protocol between workers (and the CLI) and the traders.

A command is one entry of the Redis stream ``KeySpace.control_stream`` (``MAXLEN ~ 1000``) with the
fields ``id`` (the command id: the same id on redelivery), ``action``, ``check``, ``service``,
``targets`` (JSON list), ``params`` (JSON object) and ``ttl_ms``. A command is a request, not an
order: each trader judges it by its own settings (control.py) and may refuse it.

Several traders: every trader reads the whole stream through a consumer group of its own
(``trader:<identity>``), so one command reaches each of them. A trader's identity is
``trader.name``, else the host name; its listener registers in ``control_traders`` (identity -> the
Redis time of its last poll) every ``LISTENER_POLL_SECONDS``. A sender takes the traders live on the
Redis clock (seen within ``live_window_seconds``) when it sends, and waits until each has answered:
``ask_traders`` returns a ``FanOut`` listing every trader's outcome. A trader that was live and did
not answer in time counts as ``timeout``; two live processes under one identity are a ``failed``
conflict (their answers cannot be told apart).

Each trader answers under its identity in the hash ``control_results(id)`` (TTL 1 day) and pushes to
``control_ack(id)`` to wake the sender. Outcome JSON: ``{"command_id", "action", "outcome":
"succeeded"|"failed"|"refused", "reason", "details", "finished_at", "trader"}``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from graphwiz_monitoring.config import Settings
from graphwiz_monitoring.state import KeySpace, Store

STREAM_MAXLEN = 1000
RESULT_TTL_SECONDS = 24 * 3600
ACK_TTL_SECONDS = 600
ACK_POLL_SECONDS = 1.0  # each BLPOP waits at most this long (below the socket timeout)
REGISTRY_TTL_SECONDS = 7 * 24 * 3600
LISTENER_POLL_SECONDS = 1.0  # a listener registers at least this often while idle
SUCCEEDED, FAILED, REFUSED, TIMEOUT = "succeeded", "failed", "refused", "timeout"
RESUME_TRADING = "resume_trading"  # CLI only; not a RecoveryAction


@dataclass
class Command:
    id: str
    action: str
    check: str = ""
    service: str | None = None
    targets: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    ttl_ms: int = 10_000
    entry_id: str = ""  # the stream entry id, set when read back

    def fields(self) -> dict[str, str]:
        return {"id": self.id, "action": self.action, "check": self.check, "service": self.service or "",
                "targets": json.dumps(self.targets), "params": json.dumps(self.params), "ttl_ms": str(self.ttl_ms)}

    @classmethod
    def from_entry(cls, entry_id: str, fields: dict[str, str]) -> Command:
        """Parse a stream entry; raises ValueError/KeyError on a malformed one."""
        targets = json.loads(fields.get("targets") or "[]")
        params = json.loads(fields.get("params") or "{}")
        if not isinstance(targets, list) or not isinstance(params, dict):
            raise ValueError("targets must be a list and params an object")
        return cls(id=fields["id"], action=fields["action"], check=fields.get("check", ""),
                   service=fields.get("service") or None, targets=[str(t) for t in targets], params=params,
                   ttl_ms=int(fields.get("ttl_ms") or 10_000), entry_id=entry_id)

    def age_ms(self, redis_now_ms: int) -> int:
        return redis_now_ms - int(self.entry_id.split("-", 1)[0])


def send_command(store: Store, keys: KeySpace, command: Command) -> str:
    """Append to the control stream; returns the entry id."""
    return store.r.xadd(keys.control_stream, command.fields(), maxlen=STREAM_MAXLEN, approximate=True)


def read_results(store: Store, keys: KeySpace, command_id: str) -> dict[str, dict[str, Any]]:
    """Every trader's answer to ``command_id`` so far: identity -> outcome JSON."""
    raw = store.r.hgetall(keys.control_results(command_id)) or {}
    return {identity: json.loads(value) for identity, value in raw.items()}


def write_result(store: Store, keys: KeySpace, command_id: str, identity: str, result: dict[str, Any]) -> None:
    """Store one trader's outcome and wake whoever waits for it."""
    # One connection, in order (the waiter woken by RPUSH finds the result), and durable (store.py): a
    # trader's acknowledgement lost in a failover would have the command timed out although it ran.
    pipe = store.r.pipeline(transaction=False)
    pipe.hset(keys.control_results(command_id), identity, json.dumps(result, default=str))
    pipe.expire(keys.control_results(command_id), RESULT_TTL_SECONDS)
    pipe.rpush(keys.control_ack(command_id), identity)
    pipe.expire(keys.control_ack(command_id), ACK_TTL_SECONDS)
    store.execute_durable(pipe)


def redis_now_ms(store: Store) -> int:
    seconds, micros = store.r.time()
    return int(seconds) * 1000 + int(micros) // 1000


# ------------------------------------------------------------------ live-trader registry


@dataclass(frozen=True)
class LiveTrader:
    identity: str
    age_seconds: float  # since its listener last polled, on the Redis clock
    pid: str = ""
    host: str = ""
    conflict: str = ""  # set when two live processes use this identity

    def to_dict(self) -> dict[str, Any]:
        return {"identity": self.identity, "age_seconds": round(self.age_seconds, 3), "pid": self.pid,
                "host": self.host, **({"conflict": self.conflict} if self.conflict else {})}


def touch_trader(store: Store, keys: KeySpace, identity: str, token: str, *, pid: int, host: str,
                 first: bool) -> bool:
    """Register ``identity`` as live now (Redis clock); True when another process wrote it since our last touch."""
    conflict, _ = store.run_script("control_touch", [keys.control_traders, keys.control_trader(identity)],
                                   [identity, token, pid, host, "1" if first else "0", REGISTRY_TTL_SECONDS])
    return bool(int(conflict))


def leave_trader(store: Store, keys: KeySpace, identity: str, token: str) -> bool:
    """A clean stop: no longer live (unless another process has taken the identity over)."""
    return bool(store.run_script("control_leave", [keys.control_traders, keys.control_trader(identity)],
                                 [identity, token]))


def live_window_seconds(settings: Settings) -> float:
    """How recently a listener must have polled to count as live: the deployment's trader staleness, but
    never less than one action's time plus two polls (a listener busy executing does not poll)."""
    return max(settings.health_checks.trader_stale_seconds,
               settings.recovery.ack_timeout_seconds + 2 * LISTENER_POLL_SECONDS)


def live_traders(store: Store, keys: KeySpace, window_seconds: float) -> dict[str, LiveTrader]:
    """Traders whose control listener polled within ``window_seconds`` (Redis clock), by identity."""
    now = redis_now_ms(store) / 1000
    seen = sorted(store.r.zrangebyscore(keys.control_traders, now - window_seconds, "+inf", withscores=True))
    if not seen:
        return {}
    pipe = store.r.pipeline(transaction=False)
    for identity, _ in seen:
        pipe.hgetall(keys.control_trader(identity))
    infos = pipe.execute()
    out = {}
    for (identity, score), info in zip(seen, infos, strict=True):
        info = info or {}
        conflict = ""
        try:
            conflict_at = float(info.get("conflict_at") or "nan")
        except ValueError:
            conflict_at = float("nan")
        if now - conflict_at <= window_seconds:
            conflict = (f"two live trader processes answer as {identity!r} (pids {info.get('conflict_pid') or '?'}"
                        f" on {info.get('conflict_host') or '?'} and {info.get('pid') or '?'} on "
                        f"{info.get('host') or '?'}): give each its own trader.name")
        out[identity] = LiveTrader(identity, max(0.0, now - score), info.get("pid", ""), info.get("host", ""),
                                   conflict)
    return out


# ------------------------------------------------------------------ sending to every live trader


@dataclass
class FanOut:
    """One command sent to the traders live when it was sent, and what each answered."""

    command_id: str
    expected: dict[str, LiveTrader]
    results: dict[str, dict[str, Any]]
    timeout: float

    def outcomes(self) -> dict[str, dict[str, Any]]:
        """Identity -> {outcome, reason, details}: every expected trader (timeout when silent), then any
        other trader that answered (it came up while the command was in flight)."""
        out: dict[str, dict[str, Any]] = {}
        for identity, trader in self.expected.items():
            got = self.results.get(identity)
            if trader.conflict:
                out[identity] = {"outcome": FAILED, "reason": trader.conflict,
                                 "details": {"answer": got} if got else {}}
            elif got is None:
                out[identity] = {"outcome": TIMEOUT, "reason": f"no acknowledgement within {self.timeout:g}s",
                                 "details": {}}
            else:
                out[identity] = {"outcome": str(got.get("outcome")), "reason": str(got.get("reason", "")),
                                 "details": got.get("details") or {}}
        for identity, got in self.results.items():
            if identity not in out:
                out[identity] = {"outcome": str(got.get("outcome")), "reason": str(got.get("reason", "")),
                                 "details": got.get("details") or {}, "late_joiner": True}
        return out

    @property
    def confirmed(self) -> bool:
        """Every trader live at sending time answered ``succeeded`` (False when none was live)."""
        outcomes = self.outcomes()
        return bool(self.expected) and all(outcomes[i]["outcome"] == SUCCEEDED for i in self.expected)

    def outcome(self) -> tuple[str, str]:
        """One outcome for the whole fleet: succeeded only when every live trader succeeded; one shared
        outcome when all agree; else failed. The reason names each trader's outcome."""
        outcomes = self.outcomes()
        own = [outcomes[i]["outcome"] for i in self.expected]
        if not own:
            return "skipped", "no live trader"
        if len(set(own)) == 1:
            verdict = own[0]
        else:
            verdict = FAILED
        if len(self.expected) == 1:
            reason = outcomes[next(iter(self.expected))]["reason"]
        else:
            reason = "; ".join(f"{i}: {o['outcome']}: {o['reason']}" for i, o in outcomes.items())
        return verdict, reason[:1000]


def ask_traders(store: Store, keys: KeySpace, command: Command, *, timeout: float,
                window_seconds: float) -> FanOut:
    """Send ``command`` to every live trader and wait up to ``timeout`` s for each one's answer.

    Nothing is sent when no trader is live (``FanOut.expected`` is empty)."""
    expected = live_traders(store, keys, window_seconds)
    fan = FanOut(command.id, expected, {}, timeout)
    if not expected:
        return fan
    send_command(store, keys, command)
    deadline = time.monotonic() + timeout
    while True:
        fan.results = read_results(store, keys, command.id)
        remaining = deadline - time.monotonic()
        if all(i in fan.results for i in expected) or remaining <= 0:
            return fan
        store.r.blpop([keys.control_ack(command.id)], timeout=min(ACK_POLL_SECONDS, remaining))
