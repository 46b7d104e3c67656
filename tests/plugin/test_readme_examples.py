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


def test_the_fixture_table_names_what_mqtt_faults_offers() -> None:
    """The README's row for ``mqtt_faults`` names every address property and fault of the
    proxy (``host`` and ``port`` are what many apps are configured with)."""
    from mqtt_surge.faults import FaultProxy

    readme = (ROOT / "README.md").read_text()
    (row,) = [line for line in readme.splitlines() if line.startswith("| `mqtt_faults` |")]
    offered = [
        name
        for name, value in vars(FaultProxy).items()
        if not name.startswith("_")
        and name not in ("start", "stop", "upstream", "counts")
        and (isinstance(value, property) or callable(value))
    ]
    missing = [name for name in offered if f"`{name}" not in row]
    assert missing == [], row
