"""The README shows the pytest examples exactly as they are in examples/pytest/ (which
tests/plugin/test_plugin.py runs), so the docs cannot rot."""

from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "examples" / "pytest").glob("test_*.py"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_readme_shows_the_example_verbatim(example: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"```python\n{example.read_text().rstrip()}\n```" in readme


FAULT_EXAMPLES = sorted((ROOT / "examples" / "faults").glob("test_*.py"))


@pytest.mark.parametrize("example", FAULT_EXAMPLES, ids=lambda p: p.name)
def test_readme_shows_the_fault_example_verbatim(example: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"```python\n{example.read_text().rstrip()}\n```" in readme


MQTT5_EXAMPLES = sorted((ROOT / "examples" / "mqtt5").glob("test_*.py"))


def test_there_are_mqtt5_examples() -> None:
    assert len(MQTT5_EXAMPLES) == 2


@pytest.mark.parametrize("example", MQTT5_EXAMPLES, ids=lambda p: p.name)
def test_readme_shows_the_mqtt5_example_verbatim(example: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"```python\n{example.read_text().rstrip()}\n```" in readme
