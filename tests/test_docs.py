"""The README and the docs site as a stranger meets them: short, no link that breaks outside the
repository, and every ``mqtt_surge.`` name they mention importable."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
NAME = re.compile(r"\bmqtt_surge(?:\.[A-Za-z_]\w*)+")


def test_the_readme_is_short() -> None:
    assert len(README.read_text().splitlines()) <= 150


def test_the_readme_links_only_to_absolute_urls() -> None:
    """A package index renders the README away from the repository: a relative link breaks."""
    links = re.findall(r"\]\(([^)]+)\)", README.read_text())
    assert links
    assert [link for link in links if not link.startswith("https://")] == []


# Resolved in a child process: some names import locust, whose gevent patching must never reach
# the test process (tests/conftest.py refuses a session where it did).
_RESOLVE = """
import importlib, json, sys

def resolve(dotted):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return
    raise ModuleNotFoundError(dotted)

missing = {}
for name in sys.argv[1:]:
    try:
        resolve(name)
    except Exception as exc:
        missing[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(missing))
"""


def _mentioned() -> list[str]:
    names = set()
    for path in (README, *PAGES):
        names.update(NAME.findall(path.read_text()))
    return sorted(names)


def test_the_docs_mention_names() -> None:
    assert len(_mentioned()) >= 10


def test_every_name_the_docs_mention_exists() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _RESOLVE, *_mentioned()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout) == {}


def test_a_name_that_does_not_exist_is_caught() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _RESOLVE, "mqtt_surge.brokers.NO_SUCH_NAME", "mqtt_surge.nope"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert sorted(json.loads(done.stdout)) == ["mqtt_surge.brokers.NO_SUCH_NAME", "mqtt_surge.nope"]
