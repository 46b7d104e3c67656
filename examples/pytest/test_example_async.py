"""Async tests (pytest-asyncio): async callbacks run on the test's own event loop."""

import asyncio

import pytest


@pytest.mark.asyncio
async def test_async_callback_on_the_tests_loop(mqtt_subscriber, mqtt_publish, mqtt_topic):
    test_loop = asyncio.get_running_loop()
    loops = []

    async def handle(message):
        await asyncio.sleep(0)
        loops.append(asyncio.get_running_loop())

    sub = mqtt_subscriber(mqtt_topic, callback=handle)
    mqtt_publish(mqtt_topic, b"ping", qos=1)

    await sub.async_wait_for(1)  # waits in a thread, so this loop keeps running callbacks
    assert loops == [test_loop]
