"""The buffer alone (no broker): policies, lanes, and the accounting invariant under any sequence
of operations (hypothesis)."""

from __future__ import annotations

import contextlib
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqtt_surge import ConfigError
from mqtt_surge.subscriber._buffer import Buffer, BufferClosed


def drain(buffer: Buffer[int], lane: int = 0) -> list[int]:
    """Everything queued in ``lane``, taken and reported as a worker would."""
    taken: list[int] = []
    while buffer._lanes[lane]:
        batch = buffer.get_batch(lane)
        taken += batch
        buffer.report(ok=len(batch))
    return taken


def test_drop_oldest_keeps_the_newest() -> None:
    buffer: Buffer[int] = Buffer(5, "drop_oldest", linger=0)
    dropped = [buffer.put(i) for i in range(12)]
    assert dropped == [None] * 5 + list(range(7))
    assert drain(buffer) == list(range(7, 12))
    stats = buffer.counts()
    assert (stats.received, stats.dropped, stats.processed, stats.max_queue_depth) == (12, 7, 5, 5)


def test_drop_newest_keeps_the_oldest() -> None:
    buffer: Buffer[int] = Buffer(5, "drop_newest", linger=0)
    dropped = [buffer.put(i) for i in range(12)]
    assert dropped == [None] * 5 + list(range(5, 12))
    assert drain(buffer) == list(range(5))


def test_block_waits_for_room_and_loses_nothing() -> None:
    buffer: Buffer[int] = Buffer(3, "block", linger=0)
    done = threading.Event()

    def producer() -> None:
        for i in range(20):
            buffer.put(i)
        done.set()

    thread = threading.Thread(target=producer)
    thread.start()
    taken: list[int] = []
    batch: list[int] = []
    while len(taken) < 20:
        batch = buffer.get_batch(0, ok=len(batch))
        taken += batch
        assert buffer.counts().queued <= 3
    buffer.report(ok=len(batch))
    assert done.wait(5)
    thread.join()
    assert taken == list(range(20))
    assert buffer.counts().dropped == 0


def test_close_unblocks_a_blocked_put_and_counts_it_abandoned() -> None:
    buffer: Buffer[int] = Buffer(1, "block", linger=0)
    buffer.put(0)
    raised = threading.Event()

    def producer() -> None:
        try:
            buffer.put(1)
        except BufferClosed:
            raised.set()

    thread = threading.Thread(target=producer)
    thread.start()
    buffer.close()
    thread.join(5)
    assert raised.is_set()
    stats = buffer.counts()
    assert (stats.received, stats.abandoned, stats.queued) == (2, 1, 1)
    assert stats.accounted


def test_lanes_keep_fifo_and_drop_the_globally_oldest() -> None:
    buffer: Buffer[str] = Buffer(4, "drop_oldest", lanes=2, linger=0)
    for item, lane in [("a0", 0), ("b0", 1), ("a1", 0), ("b1", 1), ("a2", 0)]:
        buffer.put(item, lane)
    # a0 was the oldest of all: it goes, from lane 0
    assert drain(buffer, 0) == ["a1", "a2"]
    assert drain(buffer, 1) == ["b0", "b1"]
    assert buffer.counts().dropped == 1


def test_workers_end_once_closed_and_drained() -> None:
    buffer: Buffer[int] = Buffer(10, linger=0)
    buffer.put(1)
    buffer.close()
    with pytest.raises(BufferClosed):
        buffer.put(2)
    assert buffer.get_batch(0) == [1]
    assert buffer.get_batch(0, ok=1) == []
    stats = buffer.counts()
    assert (stats.received, stats.processed, stats.abandoned) == (2, 1, 1)


def test_abandon_queued_counts_the_rest() -> None:
    buffer: Buffer[int] = Buffer(10, linger=0)
    for i in range(6):
        buffer.put(i)
    assert buffer.get_batch(0) != []
    abandoned = buffer.abandon_queued()
    stats = buffer.counts()
    assert stats.abandoned == len(abandoned)
    assert stats.queued == 0
    assert stats.accounted


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_bad_size_is_refused(bad: object) -> None:
    with pytest.raises(ConfigError, match="max_queue_size"):
        Buffer(bad)  # type: ignore[arg-type]


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ConfigError, match="drop_oldest, drop_newest, block"):
        Buffer(10, "drop_random")  # type: ignore[arg-type]


operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(0, 2)),
        st.tuples(st.just("take"), st.integers(0, 2)),
        st.tuples(st.just("finish"), st.integers(0, 5)),
        st.tuples(st.just("fail"), st.integers(0, 5)),
        st.tuples(st.just("close"), st.just(0)),
        st.tuples(st.just("abandon"), st.just(0)),
    ),
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(
    ops=operations,
    maxsize=st.integers(1, 8),
    lanes=st.integers(1, 3),
    policy=st.sampled_from(["drop_oldest", "drop_newest"]),
)
def test_every_item_is_accounted_for(
    ops: list[tuple[str, int]], maxsize: int, lanes: int, policy: str
) -> None:
    buffer: Buffer[int] = Buffer(maxsize, policy, lanes, linger=0)  # type: ignore[arg-type]
    in_hand: list[int] = []
    next_item = 0
    for op, arg in ops:
        if op == "put":
            lane = arg % lanes
            with contextlib.suppress(BufferClosed):
                buffer.put(next_item, lane)
            next_item += 1
        elif op == "take":
            lane = arg % lanes
            if buffer._lanes[lane]:  # a worker only asks when it would not block
                in_hand += buffer.get_batch(lane)
        elif op in ("finish", "fail"):
            n = min(arg, len(in_hand))
            del in_hand[:n]
            buffer.report(ok=n) if op == "finish" else buffer.report(failed=n)
        elif op == "close":
            buffer.close()
        else:
            buffer.abandon_queued()
        stats = buffer.counts()
        assert stats.accounted, stats
        assert stats.queued <= maxsize
        assert stats.in_flight == len(in_hand)
        assert stats.max_queue_depth <= maxsize


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 60), maxsize=st.integers(1, 10))
def test_drop_oldest_survivors_are_the_newest(n: int, maxsize: int) -> None:
    buffer: Buffer[int] = Buffer(maxsize, "drop_oldest", linger=0)
    for i in range(n):
        buffer.put(i)
    assert drain(buffer) == list(range(max(0, n - maxsize), n))
