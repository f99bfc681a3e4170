"""The trader's spill journal: FIFO, survives the process, adopted only when its owner is gone."""

from __future__ import annotations

from pathlib import Path

from graphwiz_monitoring.metrics.journal import Journal


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
