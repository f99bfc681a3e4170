"""Bad-input fuzz (issue 7, scenario 6): hypothesis examples against the configuration loader, the realtime
WebSocket server and the task queues of a real worker; prints counts, outcomes and timings.

    .venv/bin/python bench/fuzz.py                 # 11,500 examples (about 5 minutes on 2 cores)
    .venv/bin/python bench/fuzz.py --scale 0.1     # a quick look
    .venv/bin/python bench/fuzz.py --only ws,queue --seed 7

Targets and their properties (the same ones tests/chaos checks with fewer examples):
- config documents / one-value mutations / whole files: only ConfigError comes out, every problem names
  its key path, no secret is echoed, nothing a YAML tag asks for is executed;
- ws: random text, bytes, JSON, deep nesting, invalid UTF-8 sent to a running realtime server: each gets
  the right reply (``error``/``subscribed``) or the protocol's close code; a listener connected alongside
  receives every event published meanwhile; the server still accepts clients;
- queue: random task arguments, bodies, headers, properties and non-message items LPUSHed onto the
  ingest/health/notify.log queues of one worker process: the same process survives, drains every queue,
  and the good trades sent between them are counted exactly.
A failure stops that target, prints hypothesis' minimal example and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from graphwiz_monitoring.config import Settings, load_settings, parse_settings  # noqa: E402
from graphwiz_monitoring.errors import ConfigError  # noqa: E402
from tests.chaos import strategies as S  # noqa: E402
from tests.chaos.test_fuzz_config import check_problems as _check_error  # noqa: E402  # the tests' own oracle

DEFAULT_EXAMPLES = {"config": 4000, "mutation": 3000, "file": 1000, "ws": 2000, "queue": 1500}
ENV = {"HOME": "/home/trader", "X": "7"}
# The test suite's properties, imported so that the bench and the tests cannot drift apart.


def args_seed_of(target: Target) -> str:
    return str(getattr(target, "seed", "x"))


class Target:
    """One fuzz target: runs its examples, counts outcomes, remembers a failure."""

    def __init__(self, name: str, examples: int) -> None:
        self.name, self.examples = name, examples
        self.outcomes: Counter[str] = Counter()
        self.notes: list[str] = []
        self.ran = 0
        self.seconds = 0.0
        self.failure: str | None = None

    def run(self, strategy: Any, check: Callable[[Any], str], rng_seed: int) -> None:
        @seed(rng_seed)
        @settings(max_examples=self.examples, deadline=None, database=None, print_blob=True,
                  suppress_health_check=list(HealthCheck))
        @given(value=strategy)
        def fuzz(value: Any) -> None:
            self.ran += 1
            self.outcomes[check(value)] += 1

        self.seed = rng_seed
        started = time.perf_counter()
        try:
            fuzz()
        except Exception as exc:  # hypothesis re-raises the (shrunk) failure
            self.failure = f"{type(exc).__name__}: {str(exc)[:2000]}"
        self.seconds = time.perf_counter() - started

    def line(self) -> str:
        rate = self.ran / self.seconds if self.seconds else 0.0
        top = ", ".join([f"{k} {v}" for k, v in self.outcomes.most_common(6)] + self.notes)
        status = "FAIL" if self.failure else "ok"
        return f"{self.name:<9} {self.ran:>7} {self.seconds:>8.1f} {rate:>9.0f}  {status:<4}  {top}"


# ------------------------------------------------------------------ configuration


def check_config(data: Any) -> str:
    try:
        parse_settings(data, env=ENV)
        return "valid"
    except ConfigError as exc:
        _check_error(exc, data)
        return "ConfigError"


def check_mutation(mutation: tuple[dict[str, Any], tuple[str, ...]]) -> str:
    doc, path = mutation
    try:
        parse_settings(doc, env=ENV)
        return "valid"
    except ConfigError as exc:
        _check_error(exc, doc)
        assert any(p.startswith(path[0]) and (len(path) < 2 or str(path[1]) in p) for p in exc.problems), (
            path, exc.problems)
        return "ConfigError"


def file_checker(directory: Path) -> Callable[[bytes], str]:
    file = directory / "monitoring.yaml"
    marker = directory / "executed"

    def check(content: bytes) -> str:
        file.write_bytes(content.replace(b"['true']", f"['touch {marker}']".encode()))
        try:
            load_settings(file, env=ENV)
            outcome = "valid"
        except ConfigError as exc:
            assert exc.problems and exc.source == str(file)
            outcome = exc.problems[0].split(":", 1)[0][:24] if exc.problems[0].startswith("not ") else "ConfigError"
        assert not marker.exists(), "a YAML tag executed code"
        return outcome

    return check


# ------------------------------------------------------------------ services for ws / queue


class Services:
    """A private redis-server, and on demand a realtime server (in-process) and a worker process."""

    def __init__(self, workdir: Path) -> None:
        from tests.conftest import RedisServer

        self.workdir = workdir
        self.redis = RedisServer(workdir / "redis")
        self.redis.start()
        self.client = redis.Redis.from_url(self.redis.url, decode_responses=True)
        self.settings = parse_settings({"redis": {"url": self.redis.url}}, env={})
        self.stoppers: list[Callable[[], None]] = [self.redis.stop]

    def close(self) -> None:
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception as exc:  # keep closing the rest
                print(f"  (cleanup: {type(exc).__name__}: {exc})")


def ws_target(services: Services, target: Target, rng_seed: int) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from graphwiz_monitoring.events import EventType, publish
    from graphwiz_monitoring.realtime.server import MAX_CLIENT_MESSAGE_BYTES
    from graphwiz_monitoring.state import KeySpace, Store
    from tests.chaos.wsraw import INVALID_DATA, TOO_BIG, expected_reply, reply_type, send_bad_utf8
    from tests.conftest import free_port
    from tests.fakes.realtime_harness import ServerThread

    settings = parse_settings({"redis": {"url": services.redis.url}, "websocket": {"port": free_port()}}, env={})
    store, keys = Store(services.redis.url), KeySpace()
    server = ServerThread(settings, store, keys, metrics_push_seconds=1.0).start()
    services.stoppers.append(server.stop)
    markers: list[int] = []
    listener = connect(server.ws_url, open_timeout=10, max_size=None)

    def listen() -> None:
        try:
            for raw in listener:
                message = json.loads(raw)
                if message["type"] == "alert" and "marker" in message["data"]:
                    markers.append(message["data"]["marker"])
        except ConnectionClosed:
            pass

    threading.Thread(target=listen, daemon=True).start()
    state: dict[str, Any] = {"ws": connect(server.ws_url, open_timeout=10), "published": 0}
    state["ws"].recv(timeout=10)

    def check(message: tuple[str, Any]) -> str:
        kind, payload = message
        if target.ran % 50 == 0:
            publish(store, keys, EventType.ALERT, {"marker": state["published"]})
            state["published"] += 1
        if kind == "bad_utf8":
            code = send_bad_utf8(server.port, payload)
            assert code == INVALID_DATA, code
            return "closed 1007"
        try:
            state["ws"].send(payload)
            got = reply_type(state["ws"])
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            size = len(payload.encode() if isinstance(payload, str) else payload)
            assert code == TOO_BIG and size > MAX_CLIENT_MESSAGE_BYTES, (code, size)
            state["ws"] = connect(server.ws_url, open_timeout=10)
            state["ws"].recv(timeout=10)
            return "closed 1009"
        assert got == expected_reply(payload), (got, str(payload)[:200])
        return got

    target.run(S.ws_message(), check, rng_seed)
    if target.failure is None:
        publish(store, keys, EventType.ALERT, {"marker": state["published"]})
        state["published"] += 1
        deadline = time.monotonic() + 10
        while len(markers) < state["published"] and time.monotonic() < deadline:
            time.sleep(0.05)
        if markers != list(range(state["published"])):
            target.failure = f"listener missed events: got {len(markers)} of {state['published']} markers"
        target.notes.append(f"listener received {len(markers)}/{state['published']} events")
    state["ws"].close()
    listener.close()


def queue_target(services: Services, target: Target, rng_seed: int) -> None:
    from graphwiz_monitoring.state import KeySpace
    from tests.chaos.rawqueue import QUEUE_OF, Pusher, call_body, crash_signs, envelope, good_trade
    from tests.conftest import CeleryProcess, child_env, write_config

    config = write_config(services.workdir / "worker.yaml", services.redis.url)
    worker = CeleryProcess(["worker", "-Q", "ingest,health,notify.log", "-c", "1", "--loglevel", "INFO",
                            "--without-mingle", "--without-gossip"],
                           child_env(config, services.redis.url, services.workdir / "state"),
                           services.workdir / "worker.log")
    services.stoppers.append(worker.stop)
    deadline = time.monotonic() + 60
    while "ready." not in worker.output():
        assert worker.alive() and time.monotonic() < deadline, worker.output()[-2000:]
        time.sleep(0.1)
    pid = worker.proc.pid
    push = Pusher(redis.Redis.from_url(services.redis.url))
    good = [0]

    def send_good() -> None:
        push.call("workers.ingest.record_trade", good_trade(good[0]))
        good[0] += 1

    journal: list[str] = []  # what was pushed, to reproduce a failure from the kept log

    def check(item: tuple[str, str, Any]) -> str:
        kind, task, payload = item
        queue = QUEUE_OF[task]
        task_id = "-"
        if kind == "call":
            args, kwargs = payload
            task_id = push.body(task, call_body(args, kwargs))
        elif kind == "body":
            task_id = push.body(task, payload)
        elif kind == "headers":
            task_id = push.body(task, call_body(["api_rate_limits"]), headers=payload)
        elif kind == "properties":
            message = json.loads(envelope(task, call_body([]), queue))
            message["properties"].update(payload)
            push.raw(queue, json.dumps(message))
        else:
            push.raw(queue, payload)
        journal.append(f"{task_id} {kind} {task} {str(payload)[:300]!r}")
        if target.ran % 25 == 0:
            send_good()
            assert worker.alive(), "worker exited: " + worker.output()[-3000:]
        return kind

    send_good()
    target.run(S.raw_queue_item(), check, rng_seed)
    send_good()
    keys = KeySpace()
    deadline = time.monotonic() + 120
    queues = ("ingest", "health", "notify.log")
    while time.monotonic() < deadline:
        drained = all(services.client.llen(q) == 0 for q in queues) and services.client.hlen("unacked") == 0
        if drained and services.client.hget(keys.trading_agg, "total_trades") == str(good[0]):
            break
        time.sleep(0.2)
    output = worker.output()
    problems = []
    if not worker.alive() or worker.proc.pid != pid:
        problems.append("worker process gone")
    if services.client.hget(keys.trading_agg, "total_trades") != str(good[0]):
        problems.append(f"good trades {services.client.hget(keys.trading_agg, 'total_trades')} != {good[0]}")
    if any(services.client.llen(q) for q in queues):
        problems.append("queues not drained: " + str({q: services.client.llen(q) for q in queues}))
    problems.extend(f"worker log: {line}" for line in crash_signs(output))
    if problems:
        kept = Path(tempfile.gettempdir()) / f"graphwiz-fuzz-worker-{args_seed_of(target)}.log"
        kept.write_text(output + "\n\n=== pushed ===\n" + "\n".join(journal))
        problems.append(f"worker log kept at {kept}")
        if target.failure is None:
            target.failure = "; ".join(problems)
    reasons = Counter()
    for pattern, label in (("Received invalid task message", "invalid message"), ("Can't decode message body", "undecodable"),
                           ("broker: dropped", "dropped item"), ("Received unregistered task", "unregistered"),
                           ("raised unexpected", "task raised"), ("succeeded in", "task ran")):
        reasons[label] = output.count(pattern)
    dead = services.client.llen(keys.dead_letters)
    target.outcomes.clear()
    target.outcomes.update({**reasons, "dead letters": dead})
    target.notes.append(f"good trades counted {services.client.hget(keys.trading_agg, 'total_trades')}/{good[0]}, "
                        f"worker pid {'unchanged' if worker.proc.pid == pid and worker.alive() else 'GONE'}")


# ------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every example count")
    parser.add_argument("--only", default=",".join(DEFAULT_EXAMPLES), help="targets to run (comma-separated)")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000, help="hypothesis seed")
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)  # websockets' sync connect() outside a with-block
    chosen = [t for t in args.only.split(",") if t]
    targets = {name: Target(name, max(1, int(n * args.scale))) for name, n in DEFAULT_EXAMPLES.items() if name in chosen}
    Settings()  # import/validation warm-up outside the timings
    print(f"bench/fuzz.py: seed {args.seed}, targets {', '.join(f'{t.name}={t.examples}' for t in targets.values())}")
    with tempfile.TemporaryDirectory(prefix="graphwiz-fuzz-") as tmp:
        workdir = Path(tmp)
        if "config" in targets:
            targets["config"].run(S.config_data(), check_config, args.seed)
        if "mutation" in targets:
            targets["mutation"].run(S.config_mutation(), check_mutation, args.seed)
        if "file" in targets:
            targets["file"].run(S.config_file_bytes(), file_checker(workdir), args.seed)
        if "ws" in targets or "queue" in targets:
            services = Services(workdir)
            try:
                if "ws" in targets:
                    ws_target(services, targets["ws"], args.seed)
                if "queue" in targets:
                    queue_target(services, targets["queue"], args.seed)
            finally:
                services.close()
    total = sum(t.ran for t in targets.values())
    print(f"\n{'target':<9} {'examples':>7} {'seconds':>8} {'per s':>9}  {'':<4}  outcomes")
    for target in targets.values():
        print(target.line())
    print(f"{'total':<9} {total:>7} {sum(t.seconds for t in targets.values()):>8.1f}")
    failed = [t for t in targets.values() if t.failure]
    for target in failed:
        print(f"\nFAILED {target.name}: {target.failure}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
