"""The fast engine: gmqtt's asyncio protocol on a loop thread of our own, feeding the same buffer.

gmqtt parses every packet one ``recv`` brought in a single ``data_received`` call, about a
quarter of paho's cost per message. It is used through its public API but where
``_gmqtt_hooks`` reads its internals: we read QoS 0 and 1 PUBLISH packets before its handler
(:func:`._base.publish_item`), and the watchdog reads its connection. Two of its behaviours are
worked around:

- Its automatic reconnect always reconnects with ``clean_session=False`` (a 3.1.1 broker would
  then keep a session for us after we stop). We switch it off and reconnect ourselves, with a
  fresh ``gmqtt.Client`` per connection and paho's back-off (1 s doubling to 30 s): an ack can
  then never reach a later connection.
- Its message callback does not get the packet id. Our own PUBLISH path has it: an ack after
  processing of a QoS 1 message is a PUBACK we send with that id once a worker is done.
  Messages gmqtt still reads (QoS 2, topic aliases) have ``Message.mid`` 0 and use its
  ``optimistic_acknowledgement=False`` mode: gmqtt sends the PUBACK (PUBREC for QoS 2) when its
  coroutine callback returns, which is when a worker resolves the future that travels with the
  item.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import threading
import time
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv50, MQTTv311

from ...runtime.errors import ConfigError
from ...runtime.loop import LoopThread
from . import _base
from ._gmqtt_hooks import (
    _ClientLog,
    _close_quietly,
    _exception_handler,
    _live_connection,
    _properties,
    _publish_properties,
    _take_publishes,
    _text,
)

logger = logging.getLogger("mqtt_surge")

RECONNECT_MIN, RECONNECT_MAX = 1.0, 30.0
CONNECT_TIMEOUT = 10.0  # seconds from TCP connect to CONNACK, at most (and at most the keepalive)
_ACK_CHAIN_STEPS = 3  # loop iterations from a resolved ack future to gmqtt's PUBACK write
_NO_RECONNECT = -2  # any value but -1 (unlimited) that zero failed attempts already exceed


class GmqttTransport:
    def __init__(self, settings: _base.Settings, events: _base.Events) -> None:
        if settings.url.websocket:
            raise ConfigError(
                f"gmqtt 0.8 has no WebSocket transport, and {settings.url} is a WebSocket URL: "
                "use engine='paho' (or the broker's mqtt:// listener, broker.listeners)"
            )
        self._settings = settings
        self._events = events
        self._enqueue = events.enqueue
        self._with_properties = settings.protocol == 5
        self._parse_properties: _base.PropertyParser | None = None
        self.generation = 0
        self.silence_limit = _base.silence_limit(settings.keepalive)
        self._thread = LoopThread(f"mqtt-surge-gmqtt-{settings.client_id}")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: gmqtt.Client | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._lost: asyncio.Event | None = None
        self._refusal: asyncio.Future[int] | None = None  # a CONNACK refusal while connecting
        self._closing = False
        self._acks: collections.deque[_base.Item] = collections.deque()
        self._ack_scheduled = False

    def start(self) -> None:
        loop = self._loop = self._thread.start()
        loop.set_exception_handler(_exception_handler)
        loop.call_soon_threadsafe(self._start_keeper)

    def _start_keeper(self) -> None:
        self._lost = asyncio.Event()
        self._keeper = asyncio.ensure_future(self._keep_connected())

    # -- on the loop thread -----------------------------------------------------------------------

    def _new_client(self, first: bool) -> gmqtt.Client:
        settings = self._settings
        extra: dict[str, Any] = {}
        if settings.protocol == 5:
            # MQTT 5 clean start: a fresh session on the first connect only (paho's
            # MQTT_CLEAN_START_FIRST_ONLY), never with a session to resume
            clean = first and settings.session_expiry is None
            if settings.session_expiry is not None:
                extra["session_expiry_interval"] = settings.session_expiry
        else:
            clean = settings.clean_session is not False
        client = gmqtt.Client(
            settings.client_id,
            clean_session=clean,
            optimistic_acknowledgement=not settings.manual_ack,
            logger=_ClientLog(self._connack_refused),
            **extra,
        )
        client.reconnect_retries = _NO_RECONNECT
        if settings.url.username is not None:
            client.set_auth_credentials(settings.url.username, settings.url.password)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message_acked if settings.manual_ack else self._on_message
        if self._with_properties:  # each client has its own handler, which parses properties
            handler = client._package_handler  # noqa: SLF001 - see _take_publishes
            self._parse_properties = functools.partial(_publish_properties, handler)
        _take_publishes(client, self._publish_packet)
        return client

    async def _keep_connected(self) -> None:
        settings = self._settings
        url = settings.url
        version = MQTTv50 if settings.protocol == 5 else MQTTv311
        context = settings.ssl_context()
        backoff, first = RECONNECT_MIN, True
        assert self._lost is not None
        while not self._closing:
            client = self._client = self._new_client(first)
            self._lost.clear()
            failed = True  # refused or unreachable: wait longer each time, as paho does
            try:
                await self._connect(client, version, context)
            except gmqtt.MQTTConnectError as exc:
                code = exc.args[0] if exc.args else 0
                self._events.refused(_base.connect_error(code, exc.message, url))
            except asyncio.TimeoutError:
                logger.debug("mqtt_surge: no CONNACK from %s in time", url)
                self._events.unreachable(None)
                # the try itself waited for an answer: no growing back-off on top, so a link
                # that heals is used again within a second
                failed = False
            except OSError as exc:
                logger.debug("mqtt_surge: gmqtt could not connect to %s: %r", url, exc)
                self._events.unreachable(exc)
            else:
                first, failed = False, False
                await self._lost.wait()
                if self._closing:
                    return
            pause = backoff if failed else RECONNECT_MIN
            backoff = min(backoff * 2, RECONNECT_MAX) if failed else RECONNECT_MIN
            await _close_quietly(client)
            await asyncio.sleep(pause)  # backoff: reconnect pace

    async def _connect(self, client: gmqtt.Client, version: int, context: Any) -> None:
        """``client.connect()``, failing on a refusal gmqtt does not raise (see _ClientLog) and
        after a time limit: gmqtt waits for CONNACK without one, and a broker that accepts the
        socket but never answers would hold us here for good."""
        settings, url = self._settings, self._settings.url
        refusal = self._refusal = asyncio.get_running_loop().create_future()
        connecting = asyncio.ensure_future(
            client.connect(
                url.host,
                url.port,
                ssl=context or False,
                keepalive=settings.keepalive,
                version=version,
            )
        )
        try:
            done, _ = await asyncio.wait(
                {connecting, refusal},
                timeout=min(CONNECT_TIMEOUT, settings.keepalive or CONNECT_TIMEOUT),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            if not connecting.done():
                connecting.cancel()
            self._refusal = None
        if connecting in done:
            connecting.result()  # raises what connect() raised
        elif refusal in done:
            raise gmqtt.MQTTConnectError(refusal.result())
        else:
            raise asyncio.TimeoutError

    def _connack_refused(self, code: int) -> None:
        refusal = self._refusal
        if refusal is not None and not refusal.done():
            refusal.set_result(code)

    def _on_connect(self, client: gmqtt.Client, _flags: object, _rc: object, _p: object) -> None:
        if client is not self._client or client is None:
            return  # a late CONNACK for a client we gave up on
        self.generation += 1
        self._events.connected()
        client.subscribe([gmqtt.Subscription(name, qos=qos) for name, qos in self._settings.topics])

    def _on_subscribe(self, _c: object, _mid: int, granted: tuple[int, ...], _p: object) -> None:
        self._events.subscribed(
            [
                f"{name} ({code})"
                for (name, _), code in zip(self._settings.topics, granted, strict=False)
                if code >= 0x80
            ]
        )

    def _on_disconnect(self, client: gmqtt.Client, _packet: object, exc: object = None) -> None:
        if client is self._client and self._lost is not None:
            self._lost.set()
            self._events.disconnected(exc or "connection lost")

    def _item(
        self, topic: str | bytes, payload: bytes, qos: int, props: dict[str, Any], token: Any = None
    ) -> _base.Item:
        """A message gmqtt read itself (QoS 2, an alias) as an item; its packet id is not known."""
        properties = _properties(props) if self._with_properties else None
        text = topic if topic.__class__ is str else _text(topic)
        fields = (text, payload, qos, props["retain"] == 1, 0, properties, time.time())
        return _base.new_item((*fields, self.generation, token))

    def _publish_packet(self, handler: Any, cmd: int, raw: bytes) -> bool:
        """A PUBLISH of QoS 0 or 1 straight into the buffer (:func:`._base.publish_item`:
        gmqtt's own path costs about 1 us a message more, and hides the packet id, which this
        path keeps); False leaves it to gmqtt."""
        manual = self._settings.manual_ack  # then a worker's ack sends the PUBACK (_send_acks)
        item = _base.publish_item(cmd, raw, self._parse_properties, self.generation, manual)
        if item is None:
            return False
        self._enqueue(item)
        if item.qos and not manual:
            handler._send_puback(item.mid)  # noqa: SLF001 - see _take_publishes
        return True

    def _on_message(
        self, _c: object, topic: str | bytes, payload: bytes, qos: int, props: dict[str, Any]
    ) -> int:
        self._enqueue(self._item(topic, payload, qos, props))
        return 0

    async def _on_message_acked(
        self, _c: object, topic: str | bytes, payload: bytes, qos: int, props: dict[str, Any]
    ) -> int:
        if not qos:
            return self._on_message(_c, topic, payload, qos, props)
        assert self._loop is not None
        future: asyncio.Future[int] = self._loop.create_future()
        self._enqueue(self._item(topic, payload, qos, props, future))
        # gmqtt sends the PUBACK once this returns 0; a stale or abandoned item cancels it instead
        return await future

    # -- called from other threads ----------------------------------------------------------------

    def ack(self, item: _base.Item) -> None:
        # a batch of acks costs one wake-up of the loop, not one each
        self._acks.append(item)
        if not self._ack_scheduled and self._loop is not None:
            self._ack_scheduled = True
            self._loop.call_soon_threadsafe(self._send_acks)

    def _send_acks(self) -> None:
        self._ack_scheduled = False  # before draining: an ack appended from now on schedules again
        acks, generation = self._acks, self.generation
        client = self._client
        while acks:
            item = acks.popleft()
            token = item.ack_token
            if token.__class__ is int:  # a packet id, from _publish_packet
                if item.generation == generation and client is not None:
                    client._package_handler._send_puback(token)  # noqa: SLF001 - see _take_publishes
                else:
                    logger.debug("not acking a message that came on an earlier connection")
                continue
            future: asyncio.Future[int] = token
            if future.done():
                continue
            if item.generation == generation:
                future.set_result(0)
            else:
                logger.debug("not acking a message that came on an earlier connection")
                future.cancel()

    def unsubscribe(self, timeout: float) -> bool:
        loop, client = self._loop, self._client
        if loop is None or client is None:
            return False
        done = threading.Event()
        filters = [name for name, _ in self._settings.topics]

        def send() -> None:
            client.on_unsubscribe = lambda *_args: done.set()
            client.unsubscribe(filters)

        loop.call_soon_threadsafe(send)
        return done.wait(timeout)

    def is_connected(self) -> bool:
        client = self._client
        try:
            return client is not None and bool(client.is_connected)
        except AttributeError:  # no client yet, or one that never got a connection
            return False

    def silent_for(self) -> float | None:
        connection = _live_connection(self._client) if self.is_connected() else None
        if connection is None:
            return None
        return time.monotonic() - float(connection._last_data_in)  # noqa: SLF001 - see _live_connection

    def drop(self) -> None:
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._abort)

    def _abort(self) -> None:
        # abort, not close: a close waits to flush what a dead link will never take
        connection = _live_connection(self._client)
        if connection is not None:
            connection._transport.abort()  # noqa: SLF001 - see _live_connection

    def on_network_thread(self) -> bool:
        return threading.current_thread() is self._thread.thread

    def close(self) -> None:
        loop = self._loop
        if loop is None or self.on_network_thread():
            return
        try:
            self._thread.run(self._shutdown(), timeout=5.0)
        except (TimeoutError, RuntimeError):
            logger.warning("mqtt_surge: gmqtt did not disconnect in time; closing its loop")
        self._thread.stop(5.0)
        self._loop = None

    async def _shutdown(self) -> None:
        self._closing = True
        # acks handed over before the stop go out before the DISCONNECT: resolve them now, then
        # yield to the loop so gmqtt's chain runs (our callback returns, then the done-callback
        # of its task writes the PUBACK); a few iterations, no waiting on a clock
        self._send_acks()
        for _ in range(_ACK_CHAIN_STEPS):
            await asyncio.sleep(0)
        if self._lost is not None:
            self._lost.set()
        if self._keeper is not None:
            self._keeper.cancel()
        if self._client is not None:
            await _close_quietly(self._client)
