"""Shared brokers: one of each local engine per session, and a unique topic per test."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator

import pytest

from mqtt_surge import AmqttBroker, EmbeddedBroker, MosquittoBroker
from mqtt_surge.brokers import BrokerBase, NativeBroker

pytest_plugins = ["pytester"]


def pytest_collection_finish(session: pytest.Session) -> None:
    # importing locust monkey-patches this whole process with gevent: threads become greenlets
    # and every later test of brokers and subscribers misbehaves. The load suite's tests run
    # Locust in processes of their own.
    if "locust" in sys.modules:
        raise pytest.UsageError(
            "a test module imported locust (mqtt_surge.loadtest) into the test process; run "
            "it in a subprocess instead"
        )


@pytest.fixture(scope="session")
def embedded() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as broker:
        yield broker


@pytest.fixture(scope="session")
def amqtt() -> Iterator[AmqttBroker]:
    with AmqttBroker() as broker:
        yield broker


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[MosquittoBroker]:
    with MosquittoBroker() as broker:
        yield broker


# embedded is the native broker under its default name: the three are three implementations
@pytest.fixture(params=["embedded", "amqtt", "mosquitto"])
def broker(request: pytest.FixtureRequest) -> BrokerBase:
    """Each test that takes it runs once against each engine."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture
def topic() -> str:
    return f"test/{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def native() -> Iterator[NativeBroker]:
    with NativeBroker() as broker:
        yield broker
