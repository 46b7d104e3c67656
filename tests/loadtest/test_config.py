"""locustfiles/locust.conf and pyproject.toml's [tool.locust] hold the same defaults: one is
read from locustfiles/, the other from the repository root."""

from pathlib import Path

import tomllib

ROOT = Path(__file__).parents[2]


def _conf() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / "locustfiles" / "locust.conf").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def test_both_config_files_agree() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        pyproject = tomllib.load(f)["tool"]["locust"]
    as_text = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in pyproject.items()}
    assert as_text == _conf()
    assert as_text["headless"] == "true"
