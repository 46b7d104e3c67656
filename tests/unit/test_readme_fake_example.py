"""The README's FakeBroker example runs as shown (its asserts are the test)."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).parents[2] / "README.md"
MARK = "**Your subscriber logic without a broker.**"


def test_the_readme_fake_broker_example_runs() -> None:
    text = README.read_text()
    after = text[text.index(MARK) :]
    start = after.index("```python\n") + len("```python\n")
    code = after[start : after.index("\n```", start)]
    assert "FakeBroker()" in code
    exec(compile(code, f"{README}:FakeBroker example", "exec"), {})
