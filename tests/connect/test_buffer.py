"""The store-and-forward buffer: order, stable batch ids, acks, the bound, value types, crash durability."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from commonworks.connect.buffer import BufferFileError, SampleBuffer, batch_range
from commonworks.connect.samples import Block, Sample

T0 = 1_795_770_000_000


def samples(tag: str, start: int, count: int) -> list[Sample]:
    return [Sample(tag, T0 + i, float(i)) for i in range(start, start + count)]


def drain(buffer: SampleBuffer, batch_size: int = 7) -> list[Sample]:
    out: list[Sample] = []
    while (batch := buffer.peek_batch(batch_size)) is not None:
        out += batch.samples
        buffer.ack(batch.batch_id)
    return out


def test_buffer_keeps_order_across_appends(tmp_path: Path) -> None:
    sent: list[Sample] = []
    with SampleBuffer(tmp_path / "b.db", gateway_key="gw-1") as buffer:
        for round_ in range(20):
            chunk = samples("a.x", round_ * 10, 5) + samples("b.y", round_ * 10, 3) + samples("a.x", round_ * 10 + 5, 2)
            buffer.append(chunk)
            sent += chunk
        assert buffer.size() == len(sent)
        assert drain(buffer) == sent
        assert buffer.size() == 0


def test_batch_id_is_stable_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    with SampleBuffer(path, gateway_key="gw-1") as buffer:
        buffer.append(samples("a.x", 0, 100))
        first = buffer.peek_batch(40)
        assert first is not None and len(first.samples) == 40
        assert first.batch_id.startswith("gw-1:")
    with SampleBuffer(path, gateway_key="gw-1") as reopened:
        again = reopened.peek_batch(40)
        assert again == first  # same rows, same id: a resend after a crash is recognisable
        assert reopened.size() == 100


def test_batch_ids_are_never_reused_after_the_queue_runs_empty(tmp_path: Path) -> None:
    with SampleBuffer(tmp_path / "b.db", gateway_key="gw-1") as buffer:
        buffer.append(samples("a.x", 0, 5))
        first = buffer.peek_batch(5)
        assert first is not None
        buffer.ack(first.batch_id)
        buffer.append(samples("a.x", 5, 5))
        second = buffer.peek_batch(5)
        assert second is not None and second.batch_id != first.batch_id


def test_ack_removes_exactly_that_batch(tmp_path: Path) -> None:
    with SampleBuffer(tmp_path / "b.db", gateway_key="gw-1") as buffer:
        buffer.append(samples("a.x", 0, 30))
        first = buffer.peek_batch(10)
        assert first is not None
        second = buffer.peek_batch(10, after=first.batch_id)  # pipelining: the next batch while one is in flight
        assert second is not None and second.samples == samples("a.x", 10, 10)
        assert buffer.ack(second.batch_id) == 10
        assert buffer.size() == 20
        assert buffer.ack(second.batch_id) == 0  # a second ack of the same batch deletes nothing
        remaining = drain(buffer)
        assert remaining == samples("a.x", 0, 10) + samples("a.x", 20, 10)


def test_ack_of_a_foreign_batch_id_is_refused(tmp_path: Path) -> None:
    with SampleBuffer(tmp_path / "b.db", gateway_key="gw-1") as buffer:
        buffer.append(samples("a.x", 0, 3))
        with pytest.raises(BufferFileError):
            buffer.ack("gw-2:00000000:000000000001-000000000003")
        assert buffer.size() == 3


def test_full_buffer_drops_oldest_with_a_count_and_a_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "b.db"
    caplog.set_level(logging.WARNING, logger="commonworks.connect.buffer")
    with SampleBuffer(path, gateway_key="gw-1", max_samples=100) as buffer:
        for start in range(0, 150, 10):
            buffer.append(samples("a.x", start, 10))
        assert buffer.size() == 100
        assert buffer.dropped() == 50
        full = [r for r in caplog.records if "full" in r.getMessage()]
        assert len(full) == 1, "one log line per drop episode, not one per append"
        assert "dropping the oldest" in full[0].getMessage()
        batch = buffer.peek_batch(1000)
        assert batch is not None and batch.samples == samples("a.x", 50, 100)  # the newest survive
        buffer.ack(batch.batch_id)
        buffer.append(samples("a.x", 150, 10))  # room again: the episode ends with its count
        assert any("50 oldest samples were dropped" in r.getMessage() for r in caplog.records)
    with SampleBuffer(path, gateway_key="gw-1", max_samples=100) as reopened:
        assert reopened.dropped() == 50  # the counter is persisted


def test_one_append_larger_than_the_bound_keeps_its_newest(tmp_path: Path) -> None:
    with SampleBuffer(tmp_path / "b.db", gateway_key="gw-1", max_samples=10) as buffer:
        buffer.append(samples("a.x", 0, 25))
        assert buffer.size() == 10 and buffer.dropped() == 15
        assert drain(buffer) == samples("a.x", 15, 10)


def test_values_keep_their_type(tmp_path: Path) -> None:
    values: list[Any] = [1.0, 2.5, 0, -7, 2**62, True, False, "RUNNING", "主轴报警", "", None, 1, 0.0]
    path = tmp_path / "b.db"
    with SampleBuffer(path, gateway_key="gw-1") as buffer:
        buffer.append([Sample("m.v", T0 + i, v) for i, v in enumerate(values)])
    with SampleBuffer(path, gateway_key="gw-1") as reopened:
        batch = reopened.peek_batch(100)
        assert batch is not None
        got = [s.value for s in batch.samples]
        assert got == values
        assert [type(v) for v in got] == [type(v) for v in values]


def test_unusual_values_are_stored_not_crashed_on(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    with SampleBuffer(tmp_path / "b.db", gateway_key="gw-1") as buffer:
        odd: list[Any] = [np.int64(5), np.bool_(True), 2**70, 1.5]  # what a careless connector might emit
        buffer.append([Sample("m.v" if i < 3 else "new.tag", T0 + i, value) for i, value in enumerate(odd)])
        batch = buffer.peek_batch(10)
        assert batch is not None
        assert [s.value for s in batch.samples] == [5, True, float(2**70), 1.5]
        assert type(batch.samples[1].value) is bool


_CHILD = textwrap.dedent("""
    import sys
    from commonworks.connect.buffer import SampleBuffer
    from commonworks.connect.samples import Sample
    buffer = SampleBuffer(sys.argv[1], gateway_key="gw-1")
    n = 0
    while True:
        buffer.append([Sample(f"t.{i % 7}", n + i, n + i) for i in range(500)])
        n += 500
        print(n, flush=True)
""")


def test_committed_samples_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    committed = 0
    try:
        for line in child.stdout:
            committed = int(line)
            if committed >= 50_000:
                break
    finally:
        child.send_signal(signal.SIGKILL)  # mid-append, most likely: no chance to clean up
        child.wait(timeout=30)
    assert committed >= 50_000, "the child stopped before it committed enough"
    with SampleBuffer(path, gateway_key="gw-1") as reopened:
        assert reopened.size() >= committed
        kept = drain(reopened, batch_size=20_000)
    # Every committed sample is there, in order, with nothing half-written after them.
    assert [s.value for s in kept] == list(range(len(kept)))
    assert len(kept) % 500 == 0


def test_a_batch_takes_whole_blocks_and_splits_only_a_block_larger_than_itself(tmp_path: Path) -> None:
    with SampleBuffer(tmp_path / "b.db", gateway_key="gw-1") as buffer:
        buffer.append(samples("a.x", 0, 6))  # one block of 6
        buffer.append(samples("a.x", 6, 6))  # another
        first = buffer.peek_batch(10)
        assert first is not None and first.samples == samples("a.x", 0, 6)  # the second block does not fit
        second = buffer.peek_batch(4, after=first.batch_id)
        assert second is not None and second.samples == samples("a.x", 6, 4)  # head of a block too big for it
        third = buffer.peek_batch(10, after=second.batch_id)
        assert third is not None and third.samples == samples("a.x", 10, 2)
        assert buffer.ack(second.batch_id) == 4 and buffer.size() == 8
        assert drain(buffer) == samples("a.x", 0, 6) + samples("a.x", 10, 2)


def test_dropping_the_oldest_cuts_into_a_block(tmp_path: Path) -> None:
    with SampleBuffer(tmp_path / "b.db", gateway_key="gw-1", max_samples=100) as buffer:
        buffer.append(samples("a.x", 0, 60))
        buffer.append(samples("b.y", 0, 60))  # 20 too many: the oldest 20 of the first block go
        assert (buffer.size(), buffer.dropped()) == (100, 20)
        assert drain(buffer, batch_size=1000) == samples("a.x", 20, 40) + samples("b.y", 0, 60)


def test_blocks_hold_columns_and_read_as_samples(tmp_path: Path) -> None:
    block = Block(["m.a", "m.b", "m.a"], [T0, T0, T0 + 1], [1.5, None, 2.5])
    assert len(block) == 3 and block[1] == Sample("m.b", T0, None) and list(block)[2] == Sample("m.a", T0 + 1, 2.5)
    assert block[:2] == [Sample("m.a", T0, 1.5), Sample("m.b", T0, None)]
    with pytest.raises(ValueError):
        Block(["m.a"], [T0, T0 + 1], [1.0])
    with SampleBuffer(tmp_path / "b.db", gateway_key="gw-1") as buffer:
        buffer.append(block)
        buffer.append_columns(["m.c"], [T0], ["RUNNING"])
        columns = buffer.peek_columns(10)
        assert columns is not None and len(columns) == 4
        assert columns.samples() == [*block, Sample("m.c", T0, "RUNNING")]


def test_a_queue_written_by_an_earlier_release_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value);
        CREATE TABLE tags (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
        CREATE TABLE samples (id INTEGER PRIMARY KEY AUTOINCREMENT, tag INTEGER NOT NULL, ts INTEGER NOT NULL, value);
        INSERT INTO meta VALUES ('epoch', 'cafe0001'), ('dropped', 3);
        INSERT INTO tags VALUES (1, 'm.speed'), (2, 'm.running');
    """)
    db.executemany(
        "INSERT INTO samples (tag, ts, value) VALUES (?, ?, ?)",
        [(1, T0, 1.5), (2, T0, b"\x01"), (1, T0 + 1, None), (2, T0 + 1, b"\x00"), (1, T0 + 2, 7)],
    )
    db.execute("DELETE FROM samples WHERE id = 1")  # acknowledged before the upgrade
    db.commit()
    db.close()
    with SampleBuffer(path, gateway_key="gw-1") as buffer:
        assert (buffer.size(), buffer.dropped()) == (4, 3)
        batch = buffer.peek_batch(10)
        assert batch is not None and batch.batch_id.startswith("gw-1:cafe0001:")
        assert batch.samples == [
            Sample("m.running", T0, True),
            Sample("m.speed", T0 + 1, None),
            Sample("m.running", T0 + 1, False),
            Sample("m.speed", T0 + 2, 7),
        ]
        assert type(batch.samples[0].value) is bool and type(batch.samples[3].value) is int
        assert batch_range(batch.batch_id)[0] > 5  # sample numbers go on after the old row ids
        buffer.append(samples("m.speed", 10, 2))
    with SampleBuffer(path, gateway_key="gw-1") as reopened:
        assert drain(reopened)[-2:] == samples("m.speed", 10, 2)
