"""The README and the docs site as a stranger meets them: short, no link that breaks outside the
repository, and every ``mqtt_surge.`` name they mention importable."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

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


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(dotted)


def _mentioned() -> list[str]:
    names = set()
    for path in (README, *PAGES):
        names.update(NAME.findall(path.read_text()))
    return sorted(names)


def test_the_docs_mention_names() -> None:
    assert len(_mentioned()) >= 10


@pytest.mark.parametrize("dotted", _mentioned())
def test_every_name_the_docs_mention_exists(dotted: str) -> None:
    try:
        _resolve(dotted)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{dotted} is in the docs and does not exist: {exc}")
