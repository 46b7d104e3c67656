"""The docs' FakeBroker example runs as shown (its asserts are the test)."""

from __future__ import annotations

from pathlib import Path

PAGE = Path(__file__).parents[2] / "docs" / "subscriber.md"
MARK = "**Your subscriber logic without a broker.**"


def test_the_docs_fake_broker_example_runs() -> None:
    text = PAGE.read_text()
    after = text[text.index(MARK) :]
    start = after.index("```python\n") + len("```python\n")
    code = after[start : after.index("\n```", start)]
    assert "FakeBroker()" in code
    exec(compile(code, f"{PAGE}:FakeBroker example", "exec"), {})
