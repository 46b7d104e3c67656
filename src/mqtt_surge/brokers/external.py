"""A broker somebody else runs: start() only checks that it answers CONNECT with CONNACK."""

from __future__ import annotations

import ssl

from ..runtime.errors import BrokerStartError, ConnectError
from ..runtime.url import BrokerURL, parse_broker
from ..runtime.wire import probe
from ._base import DEFAULT_START_TIMEOUT, BrokerBase


class ExternalBroker(BrokerBase):
    """A running broker named by URL (``mqtt://user:pass@host:1883``, ``mqtts://host``).

    Nothing is started or stopped; ``start()`` raises :class:`BrokerStartError` saying whether the
    broker was unreachable, refused the login or did not answer in time. The password never appears
    in ``repr``, ``str``, logs or errors.
    """

    engine = "external"

    def __init__(self, url: str | BrokerURL, *, tls_context: ssl.SSLContext | None = None) -> None:
        parsed = url if isinstance(url, BrokerURL) else parse_broker(url)
        super().__init__(parsed.host, parsed.port, parsed.username, parsed.password)
        self._parsed = parsed
        self._tls_context = tls_context

    @property
    def url(self) -> BrokerURL:
        return self._parsed

    def start(self, timeout: float = DEFAULT_START_TIMEOUT) -> ExternalBroker:
        with self._lock:
            try:
                probe(self._parsed, timeout=timeout, tls_context=self._tls_context)
            except ConnectError as exc:
                hint = {
                    "unreachable": "is it running, and is the host/port right?",
                    "timeout": "is something else listening there, or is it overloaded?",
                    "bad_credentials": "check the user name and password in the URL",
                    "not_authorized": "this login may not connect",
                }.get(exc.reason, "")
                raise BrokerStartError(
                    f"external broker not usable: {exc}" + (f" ({hint})" if hint else "")
                ) from exc
            self._running = True
            return self

    def _stop(self) -> None:
        """Nothing to stop: the broker is not ours."""

    def __repr__(self) -> str:
        return f"<ExternalBroker {self._parsed.redacted}>"
