"""The trader-side client with an in-process sender: batching, backoff, memory bound, journal, stop()."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from graphwiz_monitoring.config import parse_settings
from graphwiz_monitoring.errors import BackpressureError
from graphwiz_monitoring.metrics.models import parse
from graphwiz_monitoring.trader.shipper import MetricsClient


class Receiver:
    """Stands in for the broker: stores batches, or refuses them while ``down``."""

    def __init__(self) -> None:
        self.batches: list[dict] = []
        self.down = False
        self.lock = threading.Lock()

    def __call__(self, batch: dict) -> None:
        if self.down:
            raise ConnectionError("broker down")
        with self.lock:
            self.batches.append(batch)

    def trades(self) -> list[int]:
        with self.lock:
            return [r["data"]["n"] for b in self.batches for r in b["records"] if r["kind"] == "item"]


def _settings(tmp_path: Path, **trader: object):
    return parse_settings({"trader": {"journal_dir": str(tmp_path / "journal"), "flush_interval_seconds": 0.01,
                                      "batch_max_records": 10, "host_metrics_interval_seconds": 3600,
                                      "stop_timeout_seconds": 2, **trader}}, env={})


def _wait(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_batches_are_bounded_ordered_and_complete(tmp_path: Path) -> None:
    receiver = Receiver()
    client = MetricsClient(_settings(tmp_path), sender=receiver, host="test-host")
    for n in range(95):
        client.add("item", {"n": n})
    assert client.flush(10)
    assert receiver.trades() == list(range(95))
    assert all(len(b["records"]) <= 10 for b in receiver.batches)
    assert len({b["batch_id"] for b in receiver.batches}) == len(receiver.batches)
    kinds = {r["kind"] for b in receiver.batches for r in b["records"]}
    assert "heartbeat" in kinds
    assert client.stop() is True


def test_outage_keeps_everything_and_spills_beyond_the_memory_bound(tmp_path: Path) -> None:
    receiver = Receiver()
    receiver.down = True
    client = MetricsClient(_settings(tmp_path, buffer_max_records=30), sender=receiver, host="h")
    started = time.perf_counter()
    for n in range(200):
        client.add("item", {"n": n})
    assert time.perf_counter() - started < 0.5  # add() never waits for the broker
    _wait(lambda: client.journal_pending > 0)
    _wait(lambda: not client._buffer)
    assert client.pending_records <= 30 + 10  # memory bound (+ at most one batch being cut)
    _wait(lambda: client.stats["send_failures"] > 0)
    receiver.down = False
    assert client.flush(20)
    assert receiver.trades() == list(range(200))  # nothing lost, order kept across memory and journal
    client.stop()


def test_stop_journals_what_cannot_be_sent_and_a_new_client_delivers_it(tmp_path: Path) -> None:
    receiver = Receiver()
    receiver.down = True
    settings = _settings(tmp_path)
    client = MetricsClient(settings, sender=receiver, host="h")
    for n in range(25):
        client.add("item", {"n": n})
    assert client.stop(timeout=0.3) is False
    assert list((tmp_path / "journal").glob("journal-*.jsonl"))
    receiver.down = False
    successor = MetricsClient(settings, sender=receiver, host="h")
    successor.start()
    assert successor.flush(10)
    assert receiver.trades() == list(range(25))
    assert successor.stop() is True
    assert not list((tmp_path / "journal").glob("journal-*.jsonl"))


@pytest.mark.parametrize("records", [0, 5])
def test_stop_without_outage_delivers_everything(tmp_path: Path, records: int) -> None:
    receiver = Receiver()
    client = MetricsClient(_settings(tmp_path), sender=receiver, host="h")
    client.start()
    for n in range(records):
        client.add("item", {"n": n})
    assert client.stop() is True
    assert receiver.trades() == list(range(records))


def test_trades_ship_as_one_columnar_record_per_batch(tmp_path: Path) -> None:
    from graphwiz_monitoring.metrics.codec import TRADE_FIELDS, fast_trade, unpack_columns

    receiver = Receiver()
    client = MetricsClient(_settings(tmp_path), sender=receiver, host="h")
    trades = [fast_trade({"symbol": "BTC/USDT", "side": "buy", "price": 1.0, "quantity": float(n)}) for n in range(15)]
    for t in trades:
        client.add("trade", t)
    assert client.flush(10)
    columnar = [{**r, "data": unpack_columns(r["data"])} for b in receiver.batches for r in b["records"]
                if r["kind"] == "trades"]
    assert [len(r["data"]["symbol"]) for r in columnar] == [10, 5]
    assert set(columnar[0]["data"]) == set(TRADE_FIELDS)
    assert columnar[0]["data"]["quantity"] + columnar[1]["data"]["quantity"] == [float(n) for n in range(15)]
    assert client.stats["records_sent"] >= 15
    client.stop()


def _fill_until_refused(client: MetricsClient, limit: int = 100_000, pause: float = 0.0) -> tuple[list[int], str]:
    """Add items until add() refuses one; the accepted numbers and the refusal message."""
    accepted: list[int] = []
    with pytest.raises(BackpressureError) as err:
        for n in range(limit):
            client.add("item", {"n": n})
            accepted.append(n)
            time.sleep(pause)
    return accepted, str(err.value)


def _accept_again(client: MetricsClient, accepted: list[int], timeout: float = 20.0) -> None:
    """Retry add() until it accepts the next item (the backlog drained)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.add("item", {"n": accepted[-1] + 1})
            accepted.append(accepted[-1] + 1)
            return
        except BackpressureError:
            assert time.monotonic() < deadline, "never accepted again"
            time.sleep(0.01)


def _refusal_logs(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    messages = [r.getMessage() for r in caplog.records if r.name == "graphwiz_monitoring.trader.shipper"]
    return (sum(m.startswith("record refused") for m in messages),
            sum(m.startswith("accepting records again") for m in messages))


def test_full_journal_and_memory_refuse_records_until_the_backlog_drains(tmp_path: Path, caplog) -> None:
    receiver = Receiver()
    receiver.down = True
    journal = tmp_path / "journal"
    client = MetricsClient(_settings(tmp_path, buffer_max_records=30, journal_max_bytes=2000,
                                     heartbeat_interval_seconds=0.02), sender=receiver, host="h")
    accepted, message = _fill_until_refused(client, pause=0.0005)  # about one batch per flush interval
    assert "trader.journal_max_bytes=2000" in message and str(journal) in message and "is full" in message
    assert "trader.buffer_max_records=30" in message
    assert client.stats["journal_bytes"] > 1000  # both bounds were used before refusing
    on_disk = lambda: sum(f.stat().st_size for f in journal.glob("journal-*.jsonl"))  # noqa: E731
    assert on_disk() <= 2000
    held = client.pending_records  # the memory bound, plus what arrived in the interval the journal filled up in
    assert held >= 30
    _wait(lambda: client.stats["send_failures"] > 0)
    time.sleep(0.2)  # several flush and heartbeat intervals: nothing grows while refusing
    for _ in range(5):
        with pytest.raises(BackpressureError, match=r"unreachable for \d+ s"):
            client.add("item", {"n": -1})
    assert client.pending_records <= held and on_disk() <= 2000
    assert client.stats["refused"] == 6
    assert _refusal_logs(caplog) == (1, 0)  # logged once, not per call

    receiver.down = False
    _accept_again(client, accepted)
    assert client.flush(20)
    assert receiver.trades() == accepted  # every accepted record exactly once, in order; refused ones never
    assert _refusal_logs(caplog) == (1, 1)
    assert client.stats["journal_bytes"] == 0 and client.stop() is True
    # The heartbeat reports it (exported as graphwiz_trader_*): the one added at stop carries the final counts.
    beats = [parse("heartbeat", r["data"]) for b in receiver.batches for r in b["records"] if r["kind"] == "heartbeat"]
    last = beats[-1].client
    assert last is not None and last.refused == client.stats["refused"] >= 6
    assert last.send_failures == client.stats["send_failures"] > 0
    assert last.journal_max_bytes == 2000 and last.journal_bytes == 0


def test_an_unwritable_journal_bounds_memory_and_refuses(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    receiver = Receiver()
    receiver.down = True
    client = MetricsClient(_settings(tmp_path, journal_dir=str(blocker / "journal"), buffer_max_records=30),
                           sender=receiver, host="h")
    accepted, message = _fill_until_refused(client)  # as fast as it goes: the bound is counted, not timed
    assert "cannot be written" in message and "NotADirectoryError" in message
    assert "trader.journal_max_bytes" in message and str(blocker / "journal") in message
    assert len(accepted) <= 30 and client.pending_records <= 30 + 10
    _wait(lambda: client.stats["send_failures"] > 0)
    time.sleep(0.2)
    with pytest.raises(BackpressureError):
        client.add("item", {"n": -1})
    assert client.pending_records <= 30 + 10 and client.stats["journaled_batches"] == 0
    receiver.down = False
    _accept_again(client, accepted)
    assert client.flush(10)
    assert receiver.trades() == accepted  # kept in memory, delivered once the broker is back
    assert _refusal_logs(caplog) == (1, 1)
    assert client.stop() is True


def test_restart_after_stop_keeps_one_sender(tmp_path: Path) -> None:
    receiver = Receiver()
    client = MetricsClient(_settings(tmp_path), sender=receiver, host="h")
    for round_ in range(3):
        for n in range(5):
            client.add("item", {"n": round_ * 5 + n})  # add() restarts a stopped client
        assert client.flush(10)
        assert client.stop() is True
    assert receiver.trades() == list(range(15))
    assert sum(t.name == "graphwiz-sender" and t.is_alive() for t in threading.enumerate()) == 0


def test_an_empty_line_in_a_journal_file_still_delivers_all_50_trades(tmp_path: Path) -> None:
    """Finding 4 through the client: a journal left with a blank line is delivered whole by the next client."""
    receiver = Receiver()
    receiver.down = True
    settings = _settings(tmp_path)
    client = MetricsClient(settings, sender=receiver, host="h")
    for n in range(50):
        client.add("item", {"n": n})
    client.stop(timeout=0.3)
    (path,) = (tmp_path / "journal").glob("journal-*.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"\n" + b"".join(lines[1:]))
    journaled = [json.loads(line)["batch_id"] for line in lines]
    receiver.down = False
    successor = MetricsClient(settings, sender=receiver, host="h")
    successor.start()
    assert successor.flush(10)
    assert receiver.trades() == list(range(50))
    assert successor.stop() is True
    assert [b["batch_id"] for b in receiver.batches][:len(journaled)] == journaled  # the last one too
    assert successor.stats["journal_corrupt_lines"] == 0


def _journaled_items(directory: Path) -> list[int]:
    items = []
    for path in directory.glob("journal-*.jsonl"):
        for line in path.read_bytes().splitlines():
            if line.strip():
                items += [r["data"]["n"] for r in json.loads(line)["records"] if r["kind"] == "item"]
    return sorted(items)


def _on_disk(client: MetricsClient, items: list[int]) -> bool:
    """``items`` are in the journal files and everything written to them has been fsync'ed."""
    return (_journaled_items(Path(client.settings.trader.journal_dir)) == items
            and client.stats["journal_syncs"] > 0 and client._journal.unsynced_since is None)


def test_kill_9_during_an_outage_finds_every_accepted_record_on_disk_within_journal_sync_seconds(
        tmp_path: Path) -> None:
    """Finding 3: once a send failed, what was accepted is in the journal files and fsync'ed within
    journal_sync_seconds, while the client is still running (a kill -9 now would lose nothing)."""
    receiver = Receiver()
    client = MetricsClient(_settings(tmp_path, journal_sync_seconds=0.2), sender=receiver, host="h")
    client.add("item", {"n": -1})
    assert client.flush(10)
    receiver.down = True
    try:
        for n in range(25):
            client.add("item", {"n": n})
        accepted = time.monotonic()
        _wait(lambda: _on_disk(client, list(range(25))), timeout=2)
        assert time.monotonic() - accepted <= 0.2 + 0.1  # the deadline, with room for a slow scheduler
        assert client.stats["send_failures"] > 0
        for n in range(25, 30):  # while the outage lasts, new records go to the journal as well
            client.add("item", {"n": n})
        accepted = time.monotonic()
        _wait(lambda: _on_disk(client, list(range(30))), timeout=2)
        assert time.monotonic() - accepted <= 0.2 + 0.1
    finally:
        receiver.down = False
    assert client.flush(10)
    assert receiver.trades() == list(range(-1, 30))
    assert client.stop() is True


class StuckReceiver(Receiver):
    """A broker that accepts, but whose first ``stuck`` sends hang until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.hung = 0

    def __call__(self, batch: dict) -> None:
        if not self.release.is_set():
            self.hung += 1
            self.release.wait()
        super().__call__(batch)

    def unique_trades(self) -> list[int]:
        seen, items = set(), []
        with self.lock:
            for b in self.batches:
                if b["batch_id"] not in seen:
                    seen.add(b["batch_id"])
                    items += [r["data"]["n"] for r in b["records"] if r["kind"] == "item"]
        return items


def test_a_send_hanging_longer_than_journal_sync_seconds_counts_as_unreachable_and_keeps_the_order(
        tmp_path: Path) -> None:
    """Memory and journal both in use, then the broker hangs: the outbox goes to disk ahead of the journal,
    and a batch both journaled and sent keeps its id (the worker counts it once)."""
    receiver = StuckReceiver()
    settings = _settings(tmp_path, buffer_max_records=30, journal_sync_seconds=0.2)
    client = MetricsClient(settings, sender=receiver, host="h")
    for n in range(200):
        client.add("item", {"n": n})
    _wait(lambda: receiver.hung == 1)
    _wait(lambda: client.pending_records == 0, timeout=2)  # the outbox (30) went to the journal
    assert _journaled_items(tmp_path / "journal") == list(range(200))
    receiver.release.set()
    assert client.flush(10)
    assert receiver.unique_trades() == list(range(200))  # in order, each batch id once
    assert client.stop() is True
