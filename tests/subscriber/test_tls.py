"""tls=: a real TLS listener (mosquitto, a certificate made here with openssl)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from mqtt_surge import ConnectError, MosquittoBroker, Subscriber
from mqtt_surge.brokers._base import free_port
from mqtt_surge.testing import Publisher, Recorder


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is needed to make a test certificate (apt-get install openssl)")
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
        "-keyout", str(ca_key), "-out", str(ca_cert))  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(key), "-out", str(csr))  # fmt: skip
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    for path in (ca_cert, key, cert):
        path.chmod(0o644)
    directory.chmod(0o755)
    return ca_cert, cert, key


def test_subscriber_over_tls(tmp_path: Path, topic: str) -> None:
    ca, cert, key = _certificates(tmp_path)
    tls_port = free_port("127.0.0.1")
    # a second, TLS-only listener next to the plain one the broker's readiness check uses
    extra = f"listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}"
    context = ssl.create_default_context(cafile=str(ca))
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
