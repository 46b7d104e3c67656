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
from typing import NamedTuple

from ..runtime.errors import EngineNotInstalledError


class ClientCertificate(NamedTuple):
    """A client certificate signed by the broker's CA, and its key (PEM files)."""

    cert_file: Path
    key_file: Path


class BrokerTLS:
    """The CA a broker's clients trust, and the server certificate for its host.

    ``ca_file`` is the CA certificate (PEM) to hand to a client configured by file;
    :meth:`client_context` is an :class:`ssl.SSLContext` that trusts it. With
    ``require_certificate`` the broker refuses a client without a certificate from this CA:
    :meth:`client_cert` makes one.
    """

    def __init__(self, host: str, require_certificate: bool = False) -> None:
        self.require_certificate = require_certificate
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

    def client_cert(self, name: str) -> ClientCertificate:
        """A client certificate for ``name`` (its common name, and its subject alternative name:
        letters, digits, '-' and '.'), signed by this broker's CA."""
        cert, key = self._dir / f"client-{name}.crt", self._dir / f"client-{name}.key"
        if not cert.exists():  # made once per name: the readiness probe asks at every start
            issued = self._ca.issue_cert(name, common_name=name)
            issued.cert_chain_pems[0].write_to_path(str(cert))
            issued.private_key_pem.write_to_path(str(key))
        return ClientCertificate(cert, key)

    def client_context(self, cert: str | None = None) -> ssl.SSLContext:
        """A client context that trusts this broker's CA (and nothing else); with ``cert``, it
        also presents the client certificate of that name (:meth:`client_cert`)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if cert is not None:
            issued = self.client_cert(cert)
            context.load_cert_chain(str(issued.cert_file), str(issued.key_file))
        return context

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server.configure_cert(context)
        if self.require_certificate:
            context.verify_mode = ssl.CERT_REQUIRED
            self._ca.configure_trust(context)
        return context
