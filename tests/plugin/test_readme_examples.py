"""The docs show the examples exactly as they are in examples/ (which the suite runs: the pytest
ones in tests/plugin/test_plugin.py, the quick start below): the pages include the files
(pymdownx snippets, ``--8<-- "examples/..."``), and the README, which a package index renders
without includes, holds its two quick starts verbatim. So the docs cannot rot."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
EXAMPLES = sorted((ROOT / "examples" / "pytest").glob("test_*.py"))
SHOWN = [
    *EXAMPLES,
    *sorted((ROOT / "examples" / "faults").glob("test_*.py")),
    *sorted((ROOT / "examples" / "mqtt5").glob("test_*.py")),
    *sorted((ROOT / "examples" / "production").glob("test_*.py")),
    *sorted((ROOT / "examples" / "broker_view").glob("test_*.py")),
    ROOT / "examples" / "quickstart" / "subscriber.py",
    ROOT / "examples" / "brokers" / "engines.py",
    ROOT / "examples" / "brokers" / "tls.py",
    ROOT / "examples" / "subscriber" / "fake_broker.py",
    ROOT / "examples" / "subscriber" / "processes.py",
    ROOT / "examples" / "faults" / "fault_proxy_tour.py",
    ROOT / "examples" / "needs" / "test_example_needs.py",
]
# scripts the docs show, each run here as a user would run it (the pytest examples run in
# tests/plugin/test_plugin.py, the FakeBroker one in tests/unit/test_readme_fake_example.py)
SCRIPTS = [
    ROOT / "examples" / "brokers" / "engines.py",
    ROOT / "examples" / "brokers" / "tls.py",
    ROOT / "examples" / "subscriber" / "processes.py",
    ROOT / "examples" / "faults" / "fault_proxy_tour.py",
]
README_QUICK_STARTS = [
    ROOT / "examples" / "pytest" / "test_example_basic.py",
    ROOT / "examples" / "quickstart" / "subscriber.py",
]


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 4
    assert len(SHOWN) >= 8


@pytest.mark.parametrize("example", SHOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_docs_page_includes_the_example(example: Path) -> None:
    directive = f'```python\n--8<-- "{example.relative_to(ROOT)}"\n```'
    assert any(directive in page.read_text() for page in DOCS)


@pytest.mark.parametrize("example", README_QUICK_STARTS, ids=lambda p: p.name)
def test_the_readme_shows_the_quick_start_verbatim(example: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"```python\n{example.read_text().rstrip()}\n```" in readme


def test_the_subscriber_quick_start_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart" / "subscriber.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "sensors/kitchen 21.5\n"
    assert done.stderr == ""


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_example_script_runs(script: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize("spec", [[], ["--mqtt-broker=amqtt"]], ids=["embedded", "amqtt"])
def test_the_needs_example_runs_on_a_broker_that_has_what_it_needs(
    pytester: pytest.Pytester, spec: list[str]
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    example = ROOT / "examples" / "needs" / "test_example_needs.py"
    (pytester.path / example.name).write_text(example.read_text())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *spec, timeout=120)
    result.assert_outcomes(passed=1)
    if spec:  # amqtt speaks 3.1.1 only: the MQTT 5 test went to the embedded broker
        result.stdout.fnmatch_lines(["*that amqtt cannot serve run on the embedded broker*"])


def test_the_fixture_table_names_what_mqtt_faults_offers() -> None:
    """The plugin page's row for ``mqtt_faults`` names every address property and fault of the
    proxy (``host`` and ``port`` are what many apps are configured with)."""
    from mqtt_surge.faults import FaultProxy

    page = (ROOT / "docs" / "pytest-plugin.md").read_text()
    (row,) = [line for line in page.splitlines() if line.startswith("| `mqtt_faults` |")]
    offered = [
        name
        for name, value in vars(FaultProxy).items()
        if not name.startswith("_")
        and name not in ("start", "stop", "upstream", "counts")
        and (isinstance(value, property) or callable(value))
    ]
    missing = [name for name in offered if f"`{name}" not in row]
    assert missing == [], row
