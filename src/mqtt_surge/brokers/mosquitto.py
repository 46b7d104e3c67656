"""The mosquitto engine: the ``mosquitto`` binary as a child process with a generated config."""

from __future__ import annotations

import base64
import collections
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

from ..runtime import children as _children
from ..runtime.errors import BrokerStartError, ConfigError, EngineNotInstalledError
from ._base import DEFAULT_STOP_TIMEOUT, BrokerBase, free_port, logger
from ._capabilities import EVERYTHING, OPTIONS, OURS_ONLY, Capabilities

# Debian installs mosquitto in /usr/sbin, which is not on an ordinary user's PATH
FALLBACK_LOCATIONS: tuple[str, ...] = (
    "/usr/sbin/mosquitto",
    "/usr/local/sbin/mosquitto",
    "/opt/homebrew/sbin/mosquitto",
)
_READY_MARK = " running"
_PORT_TAKEN = "Address already in use"
_LOG_LINES = 200
UNLIMITED_QUEUE = 1_000_000  # see MosquittoBroker: more than any test queues, and not 0
# the ranges mosquitto 2.0's config parser accepts, narrower than the protocol's
MOSQUITTO_MINIMUM = {"server_keepalive": 10, "max_packet_size": 20}


_INSTALL_HINT = (
    "  - install it: apt-get install mosquitto   (macOS: brew install mosquitto)\n"
    "  - name the binary: MQTT_SURGE_MOSQUITTO=/path/to/mosquitto or executable=...\n"
    "  - use the embedded engine, which needs nothing: --mqtt-broker=embedded / engine='embedded'"
)


def find_mosquitto(executable: str | os.PathLike[str] | None = None) -> str:
    """Locate the mosquitto binary: argument, ``$MQTT_SURGE_MOSQUITTO``, ``PATH``, usual places."""
    explicit = executable or os.environ.get("MQTT_SURGE_MOSQUITTO")
    if explicit:
        found = shutil.which(os.fspath(explicit))
        if found:
            return found
        raise EngineNotInstalledError(
            f"mosquitto executable {os.fspath(explicit)!r} not found or not executable "
            f"(from the executable argument or $MQTT_SURGE_MOSQUITTO). Either:\n{_INSTALL_HINT}"
        )
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in FALLBACK_LOCATIONS:
        if os.access(candidate, os.X_OK):
            return candidate
    raise EngineNotInstalledError(
        "the mosquitto broker is not installed (not on PATH nor in "
        f"{', '.join(FALLBACK_LOCATIONS)}). Either:\n{_INSTALL_HINT}"
    )


def password_line(username: str, password: str) -> str:
    """One mosquitto 2.x password-file line (PBKDF2-SHA512, as ``mosquitto_passwd`` writes)."""
    salt = secrets.token_bytes(12)
    iterations = 101
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"{username}:$7${iterations}${b64(salt).decode()}${b64(digest).decode()}\n"


class MosquittoBroker(BrokerBase):
    """A mosquitto process on ``127.0.0.1`` and a free port, with a config generated in a temp dir.

    ``max_queued_messages`` is 1,000,000 unless told otherwise: mosquitto's default silently
    drops once a client lags about 1,000 messages, which would fake any drop-oldest measurement
    on our side; and not 0 ("no limit"), because Debian's 2.0.11 then closes the connection of
    every client whose PUBLISH it refuses (an ACL's deny included), where a stock mosquitto
    answers and goes on.
    """

    engine = "mosquitto"
    capabilities = Capabilities(
        protocols=EVERYTHING.protocols,
        features=EVERYTHING.features - OURS_ONLY,
        options=frozenset(OPTIONS)
        - {
            "wildcard_subscriptions",
            "shared_subscriptions",
            "max_session_expiry",
            "outgoing_topic_aliases",
            "clock",
        },
        reasons=(
            *((name, "only the embedded broker (ours) has it") for name in (*OURS_ONLY, "clock")),
            ("wildcard_subscriptions", "mosquitto 2.0 has no setting: it always grants them"),
            ("shared_subscriptions", "mosquitto 2.0 has no setting: it always grants them"),
            ("max_session_expiry", "mosquitto 2.0 has no setting that caps or announces it"),
            ("outgoing_topic_aliases", "mosquitto 2.0 sets no topic aliases on what it sends"),
        ),
    )

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str | None = None,
        password: str | None = None,
        *,
        executable: str | os.PathLike[str] | None = None,
        extra_config: str = "",
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        **options: Any,
    ) -> None:
        super().__init__(host, port, username, password)
        self._configure(**options)
        for name, least in MOSQUITTO_MINIMUM.items():
            value = getattr(self.options, name)
            if value is not None and value < least:
                raise ConfigError(
                    f"{name}={value}: mosquitto 2.0 refuses less than {least} (the embedded "
                    "broker takes it)"
                )
        self._executable = executable
        self._extra_config = extra_config
        self._stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: collections.deque[str] = collections.deque(maxlen=_LOG_LINES)
        self._log_reader: threading.Thread | None = None
        self._tmpdir: Path | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def log(self) -> str:
        """The last lines mosquitto wrote to its log."""
        return "\n".join(self._log)

    def _listener(self, port: int, websockets: bool = False) -> list[str]:
        """One listener's lines: in mosquitto.conf these follow their ``listener`` line."""
        options = self.options
        lines = [f"listener {port} {self._host}"]
        if websockets:
            lines.append("protocol websockets")
        if self.tls:
            lines += [
                f"cafile {self.tls.ca_file}",
                f"certfile {self.tls.cert_file}",
                f"keyfile {self.tls.key_file}",
                f"require_certificate {'true' if self.tls.require_certificate else 'false'}",
            ]
            if options.use_identity_as_username:
                lines.append("use_identity_as_username true")
        if options.topic_alias_maximum is not None:
            lines.append(f"max_topic_alias {options.topic_alias_maximum}")
        if options.max_qos != 2:
            lines.append(f"max_qos {options.max_qos}")
        return lines

    def _limits(self) -> list[str]:
        options = self.options
        lines = [f"max_queued_messages {options.max_queued_messages or UNLIMITED_QUEUE}"]
        for option, setting in (
            (options.max_packet_size, "max_packet_size"),
            (options.receive_maximum, "max_inflight_messages"),
            (options.server_keepalive, "max_keepalive"),
        ):
            if option is not None:
                lines.append(f"{setting} {option}")
        if not options.retain_available:
            lines.append("retain_available false")
        return lines

    def _write_config(self, port: int) -> Path:
        assert self._tmpdir is not None
        lines = [
            *self._listener(port),
            # mosquitto 2.0 starts no WebSocket listener without an MQTT one beside it
            *(self._listener(self._ws_port, websockets=True) if self.options.websockets else []),
            *self._limits(),
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            # run as root, mosquitto switches to user "mosquitto", who cannot read our temp dir
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
        ]
        logins = self.logins
        if logins:
            pwfile = self._tmpdir / "passwords"
            pwfile.write_text("".join(password_line(n, p) for n, p in logins.items()))
            pwfile.chmod(0o600)
            lines.append(f"password_file {pwfile}")
        lines.append(f"allow_anonymous {'true' if self.allows_anonymous() else 'false'}")
        if self.options.acl is not None:
            aclfile = self._tmpdir / "acl"
            aclfile.write_text(self.options.acl.text + "\n")  # as given: mosquitto reads it
            aclfile.chmod(0o644)
            lines.append(f"acl_file {aclfile}")
        if self._extra_config:
            lines.append(self._extra_config)
        conf = self._tmpdir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def _start(self, timeout: float) -> None:
        exe = find_mosquitto(self._executable)
        self._tmpdir = Path(tempfile.mkdtemp(prefix="mqtt-surge-mosquitto-"))
        # a free port can be taken between our check and mosquitto's bind: try again then
        attempts = 3 if self._requested_port == 0 and not self._port else 1
        for attempt in range(attempts):
            port = self._port or free_port(self._host)
            if self.options.websockets and (attempt or not self._ws_port):
                self._ws_port = free_port(self._host)
            if self._launch(exe, port, timeout):
                self._port = port
                return
            taken = _PORT_TAKEN in self.log
            self._reap()
            if not (taken and attempt + 1 < attempts):
                raise BrokerStartError(
                    f"mosquitto ({exe}) could not start on {self._host}:{port}{self._diagnostics()}"
                )

    def _launch(self, exe: str, port: int, timeout: float) -> bool:
        """Run mosquitto; True once it logs that it is running, False if it exits first."""
        conf = self._write_config(port)
        self._log.clear()
        ready = threading.Event()
        self._proc = _children.popen(
            [exe, "-c", str(conf)],
            # SIGKILL: a broker paused with SIGSTOP (pause()) would never act on a SIGTERM
            death_signal=signal.SIGKILL,
            open_files=True,  # a descriptor per client: a load test's fleet holds thousands
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C in a terminal goes to us, and we stop it in order
        )
        assert self._proc.stderr is not None
        self._log_reader = threading.Thread(
            target=self._read_log,
            args=(self._proc.stderr, ready),
            name="mqtt-surge-mosquitto-log",
            daemon=True,
        )
        self._log_reader.start()
        if not ready.wait(timeout):
            raise BrokerStartError(
                f"mosquitto on {self._host}:{port} did not report running within {timeout:g}s"
                f"{self._diagnostics()}"
            )
        return self._proc.poll() is None and any(_READY_MARK in line for line in self._log)

    def _read_log(self, stream: IO[bytes], ready: threading.Event) -> None:
        # ready is set when mosquitto says it runs, or when it exits (end of its stderr)
        with stream:
            for raw in stream:
                line = raw.decode(errors="replace").rstrip()
                self._log.append(line)
                if line.endswith(_READY_MARK):
                    ready.set()
        ready.set()

    def _diagnostics(self) -> str:
        log = self.log
        return f"; mosquitto said:\n{log}" if log else ""

    def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a paused broker acts on nothing else
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self._stop_timeout)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "mosquitto pid %d ignored SIGTERM for %gs; killing it",
                    proc.pid,
                    self._stop_timeout,
                )
                proc.kill()
                proc.wait()
        if self._log_reader is not None:
            self._log_reader.join(self._stop_timeout)
            self._log_reader = None

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a paused broker is killed too, not left stopped
            proc.kill()
            proc.wait()
        self._stop()

    def pause(self) -> None:
        """SIGSTOP: the process freezes, its sockets stay open."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        self._signal(signal.SIGCONT)

    def _signal(self, sig: int) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise RuntimeError(f"{self!r} is not running: start() it first")
        proc.send_signal(sig)

    def _stop(self) -> None:
        self._reap()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None
