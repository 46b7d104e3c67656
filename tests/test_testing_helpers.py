"""mqtt_surge.testing's pieces that need no broker: the sequence header and its report."""

from __future__ import annotations

import pytest

from mqtt_surge import Message
from mqtt_surge.testing import (
    HEADER,
    Recorder,
    pack_header,
    sequence_report,
    sequenced_payload,
    unpack_header,
)


def test_header_round_trip_and_layout() -> None:
    raw = pack_header(0xDEADBEEF, 2**40 + 5, 1234.5)
    assert len(raw) == HEADER.size == 22
    assert raw[:2] == b"MS"
    header = unpack_header(raw + b"rest of the payload")
    assert header is not None
    assert (header.publisher_id, header.sequence, header.sent_at) == (0xDEADBEEF, 2**40 + 5, 1234.5)


@pytest.mark.parametrize("payload", [b"", b"MS", b"hello world, no header here!!", b"X" * 30])
def test_payloads_without_a_header(payload: bytes) -> None:
    assert unpack_header(payload) is None


def test_sequenced_payload_pads_to_size() -> None:
    assert len(sequenced_payload(1, 2, size=64)) == 64
    assert len(sequenced_payload(1, 2, size=5)) == HEADER.size  # never shorter than the header


def _messages(pid: int, sequences: list[int]) -> list[Message]:
    return [Message("t", sequenced_payload(pid, s)) for s in sequences]


def test_sequence_report_finds_gaps_duplicates_and_reordering() -> None:
    messages = _messages(1, [0, 1, 3, 3, 2, 5]) + _messages(2, [0, 1]) + [Message("t", b"x")]
    report = sequence_report(messages, expected={1: 7, 2: 2})
    assert report.received == 8
    assert report.gaps == {1: [4, 6]}
    assert report.duplicates == {1: [3]}
    assert report.out_of_order == {1: 1}
    assert not report.clean
    assert sequence_report(_messages(3, [0, 1, 2]), expected={3: 3}).clean


def test_sequence_report_counts_a_missing_publisher_as_a_gap() -> None:
    assert sequence_report([], expected={9: 2}).gaps == {9: [0, 1]}


def test_recorder_records_and_reraises() -> None:
    def boom(message: Message) -> None:
        raise ValueError(message.text())

    recorder = Recorder(boom)
    with pytest.raises(ValueError, match="bad"):
        recorder(Message("t", b"bad"))
    assert recorder.messages == [Message("t", b"bad")]
    assert [str(e) for e in recorder.errors] == ["bad"]
    with pytest.raises(AssertionError, match=r"expected 2 message\(s\) within 0.01s, got 1"):
        recorder.wait_for(2, timeout=0.01)
