"""The original design's subscriber, re-created faithfully as the reference to beat.

Its flaws are kept on purpose (see ../shared/ORIGINAL_DESIGN.md): payload decoded on the network
thread, drop-NEWEST on a full queue with a print, workers polling queue.get(timeout=1) and
handing every message to a ThreadPoolExecutor (whose queue is unbounded), asyncio.run() per
message for async callbacks, no drain and no join at stop.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import paho.mqtt.client as mqtt


class OriginalMQTTSubscriber:
    def __init__(
        self,
        broker: str,
        topic: str,
        callback: Callable[[str], Any],
        max_queue_size: int = 1000,
        worker_threads: int = 4,
        port: int = 1883,
    ) -> None:
        self.broker, self.port, self.topic, self.callback = broker, port, topic, callback
        self.queue: queue.Queue[str] = queue.Queue(maxsize=max_queue_size)
        self.worker_threads = worker_threads
        self.executor = ThreadPoolExecutor(max_workers=worker_threads)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.running = False
        self.threads: list[threading.Thread] = []

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        payload = msg.payload.decode()
        try:
            self.queue.put_nowait(payload)
        except queue.Full:
            print("Message queue full, dropping message.")

    def _worker(self) -> None:
        while self.running:
            try:
                payload = self.queue.get(timeout=1)
            except queue.Empty:
                continue
            if inspect.iscoroutinefunction(self.callback):
                asyncio.run(self.callback(payload))
            else:
                self.executor.submit(self.callback, payload)

    def start(self) -> None:
        self.running = True
        self.client.connect(self.broker, self.port)
        self.client.subscribe(self.topic)
        for _ in range(self.worker_threads):
            thread = threading.Thread(target=self._worker, daemon=True)
            thread.start()
            self.threads.append(thread)
        threading.Thread(target=self.client.loop_forever, daemon=True).start()

    def stop(self) -> None:
        self.running = False
        self.client.disconnect()
        self.executor.shutdown(wait=False)
