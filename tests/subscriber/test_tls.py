"""tls=: a real TLS listener (mosquitto) with a certificate authority made here with trustme.

trustme makes certificates with the extensions Python 3.13's stricter verification requires
(Python 3.13 sets VERIFY_X509_STRICT by default); the openssl-made CA this test used before was
refused there. No certificate file is committed: a fresh CA per test.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from mqtt_surge import ConnectError, MosquittoBroker, Subscriber
from mqtt_surge.brokers._base import free_port
from mqtt_surge.testing import Publisher, Recorder


def _certificates(directory: Path) -> tuple[trustme.CA, Path, Path, Path]:
    """A CA, and its certificate and a server certificate and key for 127.0.0.1 as files
    mosquitto reads (the directory and files world-readable: mosquitto may drop privileges)."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    ca_file, cert, key = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    ca.cert_pem.write_to_path(str(ca_file))
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    for path in (ca_file, cert, key):
        path.chmod(0o644)
    directory.chmod(0o755)
    return ca, ca_file, cert, key


def test_subscriber_over_tls(tmp_path: Path, topic: str) -> None:
    ca, ca_file, cert, key = _certificates(tmp_path)
    tls_port = free_port("127.0.0.1")
    # a second, TLS-only listener next to the plain one the broker's readiness check uses
    extra = f"listener {tls_port} 127.0.0.1\ncafile {ca_file}\ncertfile {cert}\nkeyfile {key}"
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with MosquittoBroker(extra_config=extra) as broker:
        recorder = Recorder()
        url = f"mqtts://127.0.0.1:{tls_port}"
        with (
            Subscriber(broker=url, topic=topic, callback=recorder, tls=context),
            Publisher(broker.url) as pub,
        ):
            pub.publish(topic, b"encrypted on the way in", qos=1)
            (message,) = recorder.wait_for(1)
        assert message.payload == b"encrypted on the way in"
        # without the CA the certificate cannot be verified: a clear error, not a hang
        untrusted = Subscriber(broker=url, topic=topic, callback=recorder)
        with pytest.raises(ConnectError):
            untrusted.start(timeout=3)
        assert not untrusted.running
