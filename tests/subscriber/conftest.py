"""Every subscriber test runs once per engine: the same behaviour is promised for both."""

from __future__ import annotations

import pytest

from mqtt_surge.transports import ENGINE_ENV, ENGINES


@pytest.fixture(autouse=True, params=ENGINES)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The engine every Subscriber in the test gets (through ``$MQTT_SURGE_ENGINE``, so that the
    tests construct subscribers exactly as users do)."""
    name: str = request.param
    monkeypatch.setenv(ENGINE_ENV, name)
    return name
