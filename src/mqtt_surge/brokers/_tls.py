"""A certificate authority per broker, for ``tls=True``: made with trustme when the broker is
made, so no certificate file is ever committed or shared between brokers.

trustme's certificates carry the extensions strict verifiers ask for (Python 3.13 sets
VERIFY_X509_STRICT by default); the files sit in a temporary directory, readable by mosquitto
(which may switch users), removed when the broker object goes.
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
import weakref
from pathlib import Path

from ..runtime.errors import EngineNotInstalledError


class BrokerTLS:
    """The CA a broker's clients trust, and the server certificate for its host.

    ``ca_file`` is the CA certificate (PEM) to hand to a client configured by file;
    :meth:`client_context` is an :class:`ssl.SSLContext` that trusts it.
    """

    def __init__(self, host: str) -> None:
        try:
            import trustme  # noqa: PLC0415 - an optional dependency, only for tls=True
        except ImportError:
            raise EngineNotInstalledError(
                "tls=True makes the broker's certificates with trustme: "
                "pip install 'mqtt-surge[tls]'"
            ) from None
        self._ca = trustme.CA()
        names = dict.fromkeys([host, "127.0.0.1", "localhost"])  # ordered, no repeats
        self._server = self._ca.issue_cert(*names)
        self._dir = Path(tempfile.mkdtemp(prefix="mqtt-surge-tls-"))
        weakref.finalize(self, shutil.rmtree, self._dir, True)
        self.ca_file = self._dir / "ca.crt"
        self.cert_file = self._dir / "server.crt"
        self.key_file = self._dir / "server.key"
        self._ca.cert_pem.write_to_path(str(self.ca_file))
        self._server.cert_chain_pems[0].write_to_path(str(self.cert_file))
        self._server.private_key_pem.write_to_path(str(self.key_file))
        for path in (self.ca_file, self.cert_file, self.key_file):
            path.chmod(0o644)  # mosquitto, run as root, switches to another user to read them
        self._dir.chmod(0o755)

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this broker's CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server.configure_cert(context)
        return context
