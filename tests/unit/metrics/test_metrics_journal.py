"""The trader's spill journal: FIFO, survives the process, adopted only when its owner is gone."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import pytest

from graphwiz_monitoring.trader.journal import SEGMENTS_PER_BOUND, Journal


def _batch(n: int) -> dict:
    return {"batch_id": f"b{n}", "records": [{"kind": "trade", "data": {"n": n}}]}


def test_fifo_and_truncate_when_drained(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    for n in range(3):
        journal.append(_batch(n))
    assert journal.pending == 3
    seen = []
    while (batch := journal.peek()) is not None:
        seen.append(batch["batch_id"])
        journal.consume()
    assert seen == ["b0", "b1", "b2"] and journal.pending == 0
    own = next(tmp_path.glob("journal-*.jsonl"))
    assert own.stat().st_size == 0  # drained: the file starts over
    journal.close()
    assert not list(tmp_path.glob("journal-*.jsonl"))  # empty journals are removed at close


def test_undelivered_batches_survive_and_are_adopted_first(tmp_path: Path) -> None:
    first = Journal(tmp_path)
    first.append(_batch(1))
    first.append(_batch(2))
    first.peek()
    first.consume()  # b1 delivered, b2 not
    first.close()
    second = Journal(tmp_path)
    second.open()
    second.append(_batch(3))
    assert second.pending == 2
    order = []
    while (batch := second.peek()) is not None:
        order.append(batch["batch_id"])
        second.consume()
    assert order == ["b2", "b3"]
    second.close()
    assert not list(tmp_path.glob("journal-*.jsonl"))


def test_a_live_journal_is_not_adopted(tmp_path: Path) -> None:
    owner = Journal(tmp_path)
    owner.append(_batch(1))
    other = Journal(tmp_path)
    other.open()
    assert other.pending == 0 and other.peek() is None  # the owner still holds its lock
    owner.close()
    other.close()
    third = Journal(tmp_path)
    third.open()
    assert third.peek()["batch_id"] == "b1"
    third.close()


def test_corrupt_lines_are_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(_batch(1))
    journal.close()
    path = next(tmp_path.glob("journal-*.jsonl"))
    path.write_bytes(b'{"batch_id": "b0", "rec\n' + path.read_bytes() + b"not json\n")
    journal = Journal(tmp_path)
    journal.open()
    assert journal.peek()["batch_id"] == "b1"
    journal.consume()
    assert journal.peek() is None
    journal.close()


def _line_bytes(n: int) -> int:
    return len(json.dumps(_batch(n), separators=(",", ":"))) + 1


def _on_disk(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.glob("journal-*.jsonl"))


def test_the_bound_refuses_a_batch_that_does_not_fit(tmp_path: Path) -> None:
    line = _line_bytes(1)
    journal = Journal(tmp_path, max_bytes=2 * line + line // 2)
    assert journal.append(_batch(1)) and journal.append(_batch(2))
    assert journal.append(_batch(3)) is False  # nothing written
    assert journal.size == _on_disk(tmp_path) == 2 * line and journal.pending == 2
    assert journal.append(_batch(4), force=True)  # stop(): accepted records go over the bound
    assert journal.pending == 3
    journal.close()
    small = Journal(tmp_path / "small", max_bytes=1)
    assert small.append(_batch(5))  # an empty journal takes one batch larger than the bound
    assert small.append(_batch(6)) is False
    small.close()


def test_delivered_segments_free_disk_space_and_the_rest_is_adopted_in_order(tmp_path: Path) -> None:
    line = _line_bytes(1)
    journal = Journal(tmp_path, max_bytes=SEGMENTS_PER_BOUND * 2 * line)  # two lines per segment
    for n in range(6):
        assert journal.append(_batch(n))
        time.sleep(0.01)  # distinct mtimes (the clock of file times is coarse): the order must come from them
    assert len(list(tmp_path.glob("journal-*.jsonl"))) == 3
    assert journal.size == _on_disk(tmp_path) == 6 * line
    for expected in ("b0", "b1", "b2"):
        assert journal.peek()["batch_id"] == expected
        journal.consume()
    # The first segment is gone; the second is half delivered (its bytes still on disk until it is done).
    assert journal.size == _on_disk(tmp_path) == 4 * line and journal.pending == 3
    journal.close()  # drops the delivered line of the second segment, keeps the files' order
    successor = Journal(tmp_path)
    successor.open()
    order = []
    while (batch := successor.peek()) is not None:
        order.append(batch["batch_id"])
        successor.consume()
    assert order == ["b3", "b4", "b5"]
    assert successor.size == 0
    successor.close()
    assert not list(tmp_path.glob("journal-*.jsonl"))


def test_a_failed_write_leaves_no_partial_line(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.append(_batch(0))
    size = journal.size
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 10, hard))  # like a disk that fills up mid-line
    try:
        with pytest.raises(OSError):
            journal.append(_batch(1))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert journal.size == _on_disk(tmp_path) == size and journal.pending == 1
    assert journal.append(_batch(2))
    seen = []
    while (batch := journal.peek()) is not None:
        seen.append(batch["batch_id"])
        journal.consume()
    assert seen == ["b0", "b2"]  # b2 intact: not glued to a fragment of b1
    journal.close()


def _trade_batch(n: int, trades: int = 10) -> dict:
    return {"batch_id": f"b{n}", "records": [{"kind": "trade", "data": {"n": n * trades + i}} for i in range(trades)]}


def _drain(journal: Journal) -> list[dict]:
    batches = []
    while (batch := journal.peek()) is not None:
        batches.append(batch)
        journal.consume()
    return batches


def test_an_empty_line_in_a_journal_file_drops_no_batch(tmp_path: Path, caplog) -> None:
    """Finding 4: 50 trades in 5 batches, blank lines in the file: all 50 read back, nothing reported corrupt."""
    journal = Journal(tmp_path)
    for n in range(5):
        journal.append(_trade_batch(n))
    journal.close()
    path = next(tmp_path.glob("journal-*.jsonl"))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"\n" + lines[0] + b"\n" + lines[1] + b"  \n" + b"".join(lines[2:]) + b"\n\n")
    successor = Journal(tmp_path)
    successor.open()
    assert successor.pending == 5
    with caplog.at_level("WARNING"):
        batches = _drain(successor)
    trades = [r["data"]["n"] for b in batches for r in b["records"]]
    assert trades == list(range(50))
    assert successor.corrupt_lines == 0 and "corrupt" not in caplog.text
    successor.close()
    assert not list(tmp_path.glob("journal-*.jsonl"))


def test_a_corrupt_journal_line_is_logged_and_counted_and_the_rest_delivered(tmp_path: Path, caplog) -> None:
    journal = Journal(tmp_path)
    for n in range(3):
        journal.append(_trade_batch(n))
    journal.close()
    path = next(tmp_path.glob("journal-*.jsonl"))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b'{"batch_id": "cut-off", "rec\n' + b"[1, 2]\n" + b"".join(lines[1:]))
    successor = Journal(tmp_path)
    successor.open()
    assert successor.pending == 5
    with caplog.at_level("ERROR"):
        batches = _drain(successor)
    assert [b["batch_id"] for b in batches] == ["b0", "b1", "b2"]
    assert successor.corrupt_lines == 2 and successor.pending == 0
    assert caplog.text.count("corrupt journal line") == 2 and path.name in caplog.text
    successor.close()


def test_prepended_batches_are_delivered_and_adopted_first(tmp_path: Path) -> None:
    """The client's outbox (older than all journaled) goes in front when the broker becomes unreachable."""
    journal = Journal(tmp_path)
    journal.append(_batch(2))
    journal.append(_batch(3))
    assert journal.peek()["batch_id"] == "b2"
    assert journal.prepend([_batch(0), _batch(1)])
    journal.consume()  # b2 is no longer the head: nothing is consumed (b2 was not lost, b0 not skipped)
    assert journal.pending == 4 and journal.unsynced_since is not None
    assert journal.sync() and journal.unsynced_since is None and not journal.sync()
    assert journal.peek()["batch_id"] == "b0"
    journal.close()
    successor = Journal(tmp_path)
    successor.open()
    assert [b["batch_id"] for b in _drain(successor)] == ["b0", "b1", "b2", "b3"]
    successor.close()


def test_prepend_obeys_the_bound(tmp_path: Path) -> None:
    line = _line_bytes(1)
    journal = Journal(tmp_path, max_bytes=3 * line)
    assert journal.append(_batch(5))
    assert journal.prepend([_batch(1), _batch(2), _batch(3)]) is False  # nothing written
    assert journal.pending == 1 and journal.size == _on_disk(tmp_path) == line
    assert journal.prepend([_batch(1), _batch(2), _batch(3)], force=True)
    assert [b["batch_id"] for b in _drain(journal)] == ["b1", "b2", "b3", "b5"]
    journal.close()
