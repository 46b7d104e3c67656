"""The docs' FakeBroker example (examples/subscriber/fake_broker.py, included in the subscriber
page) runs as shown; its asserts are the test."""

from __future__ import annotations

from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "subscriber" / "fake_broker.py"


def test_the_docs_fake_broker_example_runs() -> None:
    code = EXAMPLE.read_text()
    assert "FakeBroker()" in code
    exec(compile(code, str(EXAMPLE), "exec"), {})
