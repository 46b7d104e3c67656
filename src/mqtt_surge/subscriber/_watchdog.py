"""Notice a silent link within 1.5x the keepalive, whatever the engine.

A link can die without a FIN or a reset: a pulled cable, a NAT that forgot the flow, a broker
stopped with SIGSTOP. Only the keepalive notices, and the libraries are slow at it: paho waits a
whole keepalive for its PINGRESP after waiting a keepalive to send the PINGREQ (2x), gmqtt closes
after 2x keepalive without a packet. MQTT's own rule for the server is 1.5x
(3.1.1 [MQTT-3.1.2-24], 5.0 [MQTT-3.1.2-22]); we hold the client to the same.

The engines keep pinging as before, so a healthy idle link always has a packet (a PINGRESP) well
inside the limit; the watchdog only measures the silence and, past the limit, ends the connection
the way the network would have, so that the engine's ordinary reconnect (and session resume) runs.
"""

from __future__ import annotations

import logging
import threading

from .transports import Transport

logger = logging.getLogger("mqtt_surge")


class Watchdog:
    """A thread that checks the transport's silence a few times per keepalive."""

    def __init__(self, transport: Transport, keepalive: int, name: str) -> None:
        self._transport = transport
        self._keepalive = keepalive
        # checks often enough that the check itself adds at most a small fraction of the limit
        self._interval = min(0.5, max(0.05, keepalive / 20))
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        transport = self._transport
        limit = transport.silence_limit
        dropped = -1  # the generation last dropped: one drop per connection
        wait = self._interval
        while not self._stopping.wait(wait):
            wait = self._interval
            silent = transport.silent_for()
            if silent is None or transport.generation == dropped:
                continue
            if silent < limit:
                # wake when the limit would be reached, not up to an interval after it
                wait = min(wait, max(0.01, limit - silent))
                continue
            dropped = transport.generation
            logger.warning(
                "mqtt_surge: no packet from the broker for %.1fs (keepalive %ds); "
                "dropping the connection to reconnect",
                silent,
                self._keepalive,
            )
            transport.drop()
