"""Hardening of Celery and kombu for a worker that must never die: the Celery glue beside celery/factory.py.

Celery and kombu trust the queue: an item that is not a kombu envelope, or a task body that is not
[args, kwargs, options], raises inside the worker's consumer loop and stops the whole worker
("Unrecoverable error"). A guarded Redis transport and a checked task strategy log and drop or
reject such messages instead (tests/chaos/test_raw_queue.py). Also: reconnection after a Redis
outage within seconds, and task messages that carry a secret-free view of their arguments.
"""

from __future__ import annotations

import binascii
import logging
import ssl
from json import JSONDecodeError
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import redis
from celery import Celery, Task
from celery.app.amqp import AMQP
from celery.exceptions import InvalidTaskError
from kombu import Connection
from kombu.transport import redis as redis_transport

from graphwiz_monitoring.celery import liveness as consumer_liveness
from graphwiz_monitoring.celery.redaction import task_argsrepr
from graphwiz_monitoring.config.redis_url import normalised_sentinel_url
from graphwiz_monitoring.errors import ConfigError
from graphwiz_monitoring.tasks import ALL_QUEUES

log = logging.getLogger(__name__)


def _envelope_problem(message: Any, queue: str) -> str | None:
    """Why a raw item popped from ``queue`` cannot be a kombu message (None when it can)."""
    if not isinstance(message, dict):
        return f"not a JSON object but {type(message).__name__}"
    props, headers = message.get("properties"), message.get("headers")
    info = props.get("delivery_info") if isinstance(props, dict) else None
    if not isinstance(props, dict) or not isinstance(props.get("delivery_tag"), str) or not props["delivery_tag"]:
        return "no properties.delivery_tag"
    if not (isinstance(info, dict) and isinstance(info.get("exchange"), str)
            and isinstance(info.get("routing_key"), str)):  # kombu reads both on ack and requeue
        return "no properties.delivery_info with exchange and routing_key"
    if props.get("body_encoding") not in (None, "base64") or not isinstance(props.get("priority") or 0, int):
        return "unknown properties.body_encoding or priority"
    if not isinstance(headers or {}, dict):
        return "headers is not an object"
    if queue in ALL_QUEUES and not isinstance((headers or {}).get("task"), str):  # only protocol 2 tasks here
        return "not a task message (no headers.task)"
    texts = (message.get("body"), message.get("content-type"), message.get("content-encoding"),
             (headers or {}).get("task"))
    if not all(isinstance(t or "", str) for t in texts):
        return "body, content-type, content-encoding or headers.task is not text"
    return None


# Delivery tags this process held unacknowledged when its broker connection was lost (the requeue on
# close failed): the next channel, once Redis answers, puts them back on their queues.
_ORPHANED_TAGS: set[str] = set()
# Messages popped (BRPOP) whose entry in kombu's unacked hash could not be confirmed because Redis died
# in between: kombu drops them and the worker never sees them, while the entry may or may not have been
# written (its reply may be what got lost). tag -> (raw message, exchange, routing key); the next channel
# puts each back on its queue exactly once.
_POPPED_UNRECORDED: dict[str, tuple[Any, str, str]] = {}


class _GuardedQoS(redis_transport.QoS):
    """kombu's QoS, plus: popped-but-unrecorded messages are kept, and each unacknowledged message has
    an owner whose death requeues it within seconds (celery/liveness.py)."""

    def append(self, message: Any, delivery_tag: str) -> None:
        try:
            super().append(message, delivery_tag)
        except self.channel.connection_errors:
            info = message.delivery_info
            _POPPED_UNRECORDED[delivery_tag] = (message._raw, info["exchange"], info["routing_key"])
            log.warning("broker: connection lost while taking a message; it goes back on %s after reconnect",
                        info["routing_key"])
            raise
        try:
            owner = consumer_liveness.consumer_id(self.channel.own_client)
            with self.channel.conn_or_acquire() as client:
                client.hset(consumer_liveness.OWNERS_KEY, delivery_tag, owner)
        except self.channel.connection_errors as exc:  # no owner: the visibility timeout still applies
            log.debug("broker: owner of %s not recorded: %s", delivery_tag, type(exc).__name__)

    def _remove_from_indices(self, delivery_tag: str, pipe: Any = None) -> Any:
        # Used by ack, reject and every restore: the owner entry goes with kombu's own.
        return super()._remove_from_indices(delivery_tag, pipe).hdel(consumer_liveness.OWNERS_KEY, delivery_tag)

    def restore_visible(self, start: int = 0, num: int = 10, interval: int = 10) -> None:
        # Called at start-up and every unacked_restore_interval (10 s); kombu's own pass (messages
        # older than the visibility timeout) is throttled further inside.
        with self.channel.conn_or_acquire() as client:
            tags = consumer_liveness.dead_owners_tags(client)
            for tag in tags:
                self.restore_by_tag(tag, client)
        if tags:
            log.warning("broker: requeued %d message(s) held by a worker that stopped (no heartbeat)", len(tags))
        super().restore_visible(start, num, interval)


class GuardedChannel(redis_transport.Channel):
    QoS = _GuardedQoS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # pings Redis: it answers from here on
        consumer_liveness.beat_now()  # before any restore pass could take this worker for dead
        if _ORPHANED_TAGS or _POPPED_UNRECORDED:
            self._requeue_orphans()

    def own_client(self) -> redis.Redis:
        """A client on a pool of its own to this channel's Redis (the liveness heartbeat thread's)."""
        return redis.Redis(connection_pool=redis.ConnectionPool(**self._connparams()))

    def close(self) -> None:
        try:
            super().close()
        except Exception as exc:  # broker unreachable while requeueing our unacknowledged messages
            tags = list(self._qos._delivered) if self._qos is not None else []
            _ORPHANED_TAGS.update(tags)
            log.warning("broker: %d unacknowledged message(s) kept for requeueing after reconnect (%s)",
                        len(tags), type(exc).__name__)

    def _requeue_orphans(self) -> None:
        done = 0
        try:
            for tag in list(_ORPHANED_TAGS):
                self.qos.restore_by_tag(tag, client=self.client)  # no-op if acked or requeued meanwhile
                _ORPHANED_TAGS.discard(tag)
                done += 1
            for tag, (raw, exchange, routing_key) in list(_POPPED_UNRECORDED.items()):
                self._put_back(tag, raw, exchange, routing_key)
                del _POPPED_UNRECORDED[tag]
                done += 1
        except Exception as exc:  # lost again: the next channel tries the rest
            log.warning("broker: requeueing after reconnect stopped: %s", type(exc).__name__)
        log.warning("broker: requeued %d message(s) left unacknowledged by the lost connection", done)

    def _put_back(self, tag: str, raw: Any, exchange: str, routing_key: str) -> None:
        """Requeue a popped message and drop its unacked entry, if written, in one transaction."""

        def put_back(pipe: Any) -> None:
            pipe.multi()
            self.qos._remove_from_indices(tag, pipe)
            self._do_restore_message(raw, exchange, routing_key, pipe, leftmost=True)

        self.client.transaction(put_back, self.unacked_key)

    def _brpop_read(self, **options: Any) -> Any:
        try:
            return super()._brpop_read(**options)
        except (JSONDecodeError, UnicodeDecodeError) as exc:  # already popped: nothing to ack or requeue
            log.error("broker: dropped a queue item that is not a message: %s", str(exc)[:200])
            return True


class GuardedRedisTransport(redis_transport.Transport):
    """kombu's Redis transport, except that a malformed queue item is logged and dropped."""

    Channel = GuardedChannel

    def _deliver(self, message: Any, queue: str) -> None:
        problem = _envelope_problem(message, queue)
        if problem is None:
            try:
                return super()._deliver(message, queue)
            except binascii.Error:  # raised while building the message, before anyone took it
                problem = "body is not valid base64"
        log.error("broker: dropped a malformed message on %s: %s", queue, problem)


# Real arguments nest about 6 deep; ~250 levels already break pickling them for the pool.
MAX_ARGUMENT_DEPTH = 32
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")


def _maybe_too_deep(raw: Any, limit: int = MAX_ARGUMENT_DEPTH) -> bool:
    """Cheap test on the JSON text: False only when it surely nests no deeper than ``limit``."""
    if not isinstance(raw, bytes):
        return True
    brackets = raw.translate(None, _NOT_BRACKETS)  # each pass below peels one level off every innermost pair
    for _ in range(limit + 1):
        if not brackets:
            return False
        shorter = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if shorter == brackets:  # brackets inside strings: decide on the decoded value
            return True
        brackets = shorter
    return True


def _too_deep(value: Any, limit: int = MAX_ARGUMENT_DEPTH) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, tuple, dict)):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return False


# Protocol 2 headers Celery uses without checking their types (timers, dict keys, iteration): a wrong type
# there stops the worker or leaves a task reserved forever. None is allowed for each.
_HEADER_TYPES: dict[str, type | tuple[type, ...]] = {
    "lang": str, "id": str, "root_id": str, "parent_id": str, "group": str, "shadow": str, "origin": str,
    "argsrepr": str, "kwargsrepr": str, "eta": str, "expires": str, "retries": int, "group_index": int,
    "replaced_task_nesting": int, "ignore_result": bool, "stamped_headers": list, "stamps": dict,
}


def _header_problem(headers: Any) -> str | None:
    """Why a task message's headers would break the worker (None when they are fine)."""
    if not isinstance(headers, dict):
        return "headers is not an object"
    for name, kind in _HEADER_TYPES.items():
        if headers.get(name) is not None and not isinstance(headers[name], kind):
            return f"header {name} must be {getattr(kind, '__name__', kind)}, got {type(headers[name]).__name__}"
    if not all(isinstance(h, str) for h in headers.get("stamped_headers") or ()):
        return "header stamped_headers must list names"
    limits = headers.get("timelimit")
    if limits is not None and not (isinstance(limits, (list, tuple)) and len(limits) == 2 and all(
            limit is None or (isinstance(limit, (int, float)) and not isinstance(limit, bool)
                              and 0 <= limit < float("inf")) for limit in limits)):
        return f"invalid timelimit header {str(limits)[:80]}"
    return None


def checked_strategy(task: Any, app: Any, consumer: Any, **kwargs: Any) -> Any:
    """Celery's default strategy, refusing (InvalidTaskError: logged, rejected) what would stop the worker."""
    from celery.worker.strategy import default

    handler = default(task, app, consumer, **kwargs)

    def on_message(message: Any, body: Any, *args: Any, **kw: Any) -> Any:
        if body is None:  # protocol 2: the body is [args, kwargs, options]
            problem = _header_problem(message.headers)
            if problem:
                raise InvalidTaskError(problem)
            payload = message.decode()
            if not (isinstance(payload, (list, tuple)) and len(payload) == 3 and isinstance(payload[0], (list, tuple))
                    and isinstance(payload[1], dict) and isinstance(payload[2] or {}, dict)):
                raise InvalidTaskError(f"task body must be [args, kwargs, options], got {type(payload).__name__}")
            if _maybe_too_deep(message.body) and _too_deep(payload):
                raise InvalidTaskError(f"task arguments nested deeper than {MAX_ARGUMENT_DEPTH} levels")
        try:
            return handler(message, body, *args, **kw)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # malformed headers (eta, expires, ...)
            raise InvalidTaskError(f"malformed task message: {type(exc).__name__}: {str(exc)[:200]}") from None

    return on_message


class HardenedTask(Task):
    Strategy = f"{__name__}:checked_strategy"


# kombu waits 2, 4, 6, ... up to 30 s between reconnection attempts, so a worker or beat could stay away
# for up to 30 s after Redis is back; this bounds the wait (tests/chaos/test_chaos_redis_outage.py).
RECONNECT_INTERVAL_MAX_SECONDS = 2.0


GUARDED_TRANSPORT = f"{__name__}:GuardedRedisTransport"
# celery/sentinel.py: the same guards over kombu's Sentinel transport (sentinel:// URLs).
GUARDED_SENTINEL_TRANSPORT = "graphwiz_monitoring.celery.sentinel:GuardedSentinelTransport"


def broker_settings(url: str) -> dict[str, Any]:
    """Celery's broker options for ``redis.url``: every accepted form (config REDIS_URL_SCHEMES) is hardened.

    - ``redis://``, ``rediss://``: the guarded transport. TLS settings come from the URL's ``ssl_*``
      parameters, as redis-py reads them for the store; without any, the server's certificate is checked
      (redis-py's default; kombu's own would be ``CERT_NONE``).
    - ``unix:///path?db=N`` (redis-py's form, which kombu does not know) becomes kombu's
      ``redis+socket:///path?virtual_host=N``; _Connection gives it the guarded transport too.
    - ``sentinel://...;sentinel://.../db`` (kombu's own form): the guarded Sentinel transport; the master
      name and sentinel password come in through ``sentinel_transport_options``.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options: dict[str, Any] = {"broker_url": url, "broker_transport": GUARDED_TRANSPORT, "broker_use_ssl": None}
    if scheme == "rediss":
        options["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}  # the URL's ssl_* replace this
    elif scheme == "unix":
        query = parse_qs(parts.query)
        user = unquote(parts.username or "") or (query.get("username") or [""])[0]
        password = unquote(parts.password or "") or (query.get("password") or [""])[0]
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user or password else ""
        db = (query.get("db") or ["0"])[0]
        options["broker_url"] = f"redis+socket://{auth}{parts.path}?virtual_host={quote(db, safe='')}"
    elif scheme == "sentinel":
        options["broker_transport"] = GUARDED_SENTINEL_TRANSPORT
        options["broker_url"] = normalised_sentinel_url(url)  # one database and password through every sentinel
    elif scheme != "redis":  # settings refuse these: never run a broker connection without the guards
        raise ConfigError([f"redis.url: scheme {scheme[:20]!r} is not supported (redis://, rediss://, unix://, "
                           "sentinel://)"])
    return options


class _Connection(Connection):
    def __init__(self, hostname: Any = "localhost", *args: Any, **kwargs: Any) -> None:
        super().__init__(hostname, *args, **kwargs)
        # kombu takes the transport of "redis+socket://" from the URL's prefix, ignoring broker_transport
        # (clones pass through here again, with the same URL).
        if self.uri_prefix == "redis" and self.transport_cls == "redis":
            self.transport_cls = GUARDED_TRANSPORT

    def switch(self, conn_str: str) -> None:
        # kombu moves to the next ';'-separated address after failed connection attempts, and takes that
        # address's scheme as the transport: a sentinel:// one keeps the guarded Sentinel transport.
        super().switch(conn_str)
        if self.transport_cls == "sentinel":
            self.transport_cls = GUARDED_SENTINEL_TRANSPORT

    def ensure_connection(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) <= 2:  # (errback, max_retries): the intervals are kombu's defaults
            kwargs.setdefault("interval_start", 1.0)
            kwargs.setdefault("interval_step", 1.0)
            kwargs.setdefault("interval_max", RECONNECT_INTERVAL_MAX_SECONDS)
        return super().ensure_connection(*args, **kwargs)


class _AMQP(AMQP):
    Connection = _Connection


class HardenedApp(Celery):
    """Every task message carries a short, secret-free view of its arguments (what events/Flower show)."""

    amqp_cls = f"{__name__}:_AMQP"

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        if "argsrepr" not in options:
            options["argsrepr"], options["kwargsrepr"] = task_argsrepr(name, args, kwargs)
        return super().send_task(name, args, kwargs, **options)
