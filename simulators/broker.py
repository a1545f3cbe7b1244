"""A real MQTT broker on a free loopback port with password authentication.

``Broker.mosquitto(workdir)`` runs Debian's mosquitto with a generated configuration: one listener
on 127.0.0.1, ``allow_anonymous false``, a generated password file (PBKDF2-SHA512, mosquitto's
``$7$`` format), no persistence, its log in ``workdir``. ``Broker.start_best(workdir)`` falls back
to amqtt from PyPI when mosquitto is missing (for the demo only; the tests need mosquitto). A
stopped broker starts again on the same port with the same credentials, as a restarted
municipal broker would, so clients reconnect to it by themselves.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
import contextlib
import getpass
import hashlib
import os
from pathlib import Path
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Self

from .child import REPO_ROOT, StartStop, child_env

# Where scripts/setup installs amqtt when mosquitto cannot be installed.
AMQTT_SITE = REPO_ROOT / ".tools" / "amqtt"

DEBIAN_MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_ENV = "SIMULATORS_MOSQUITTO"
INSTALL_HINT = (
    "Debian's mosquitto is not installed: run scripts/setup as root "
    "(or `apt-get install mosquitto`)"
)


# Runs the broker as its child and stops it when the pipe on its standard input closes: the
# process that started it has stopped or died (the operating system closes the pipe even after
# SIGKILL). Its exit status is the broker's.
_GUARDIAN = """
import signal, subprocess, sys, threading
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL)
def watch():
    sys.stdin.buffer.read()
    child.terminate()
threading.Thread(target=watch, daemon=True).start()
signal.signal(signal.SIGTERM, lambda *_: child.terminate())
sys.exit(child.wait())
"""


class BrokerError(RuntimeError):
    """The broker could not be started (missing, refused its configuration, or never ready)."""


def mosquitto_path() -> str | None:
    """Debian's ``/usr/sbin/mosquitto``, else ``mosquitto`` on PATH, else None.

    ``SIMULATORS_MOSQUITTO`` overrides: a path to another mosquitto, or empty for "none" (to
    see what the tests and the demo do without it).
    """
    if (override := os.environ.get(MOSQUITTO_ENV)) is not None:
        return override if override and os.access(override, os.X_OK) else None
    if os.access(DEBIAN_MOSQUITTO, os.X_OK):
        return DEBIAN_MOSQUITTO
    return shutil.which("mosquitto")


def amqtt_available() -> bool:
    """True when the amqtt broker from PyPI can be imported by the broker's child process.

    From this interpreter's packages, or from ``.tools/amqtt`` where ``scripts/setup`` puts it
    on a machine without mosquitto (beside .venv, so that its dependencies cannot move Home
    Assistant's pins).
    """
    probe = subprocess.run(
        [sys.executable, "-c", "import amqtt.broker"],
        env=child_env(None, AMQTT_SITE),
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def mosquitto_password_line(username: str, password: str) -> str:
    """One line of a mosquitto 2 password file: PBKDF2-SHA512, 101 rounds (``$7$``)."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101)
    salt_b64 = base64.b64encode(salt).decode()
    digest_b64 = base64.b64encode(digest).decode()
    return f"{username}:$7$101${salt_b64}${digest_b64}\n"


def mqtt_login(
    host: str, port: int, username: str, password: str, *, timeout_s: float = 2.0
) -> int:
    """Connect with MQTT 3.1.1, return the CONNACK return code (0 = accepted), disconnect.

    A raw CONNECT rather than a client library, so that the readiness check depends on nothing.
    """

    def field(value: str) -> bytes:
        raw = value.encode()
        return len(raw).to_bytes(2, "big") + raw

    # Protocol "MQTT", level 4, flags: username + password + clean session, keep-alive 10 s.
    variable = field("MQTT") + bytes([4, 0b1100_0010]) + (10).to_bytes(2, "big")
    payload = field(f"ready-{secrets.token_hex(4)}") + field(username) + field(password)
    body = variable + payload
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(bytes([0x10, len(body)]) + body)  # body < 128 bytes: one length byte
        answer = b""
        while len(answer) < 4:
            chunk = sock.recv(4 - len(answer))
            if not chunk:
                raise ConnectionError("broker closed the connection before CONNACK")
            answer += chunk
        if answer[0] != 0x20:
            raise ConnectionError(f"unexpected answer to CONNECT: {answer!r}")
        with contextlib.suppress(OSError):
            sock.sendall(bytes([0xE0, 0]))  # DISCONNECT
        return answer[3]


def _raise_fd_limit() -> None:
    """Let the broker hold as many connections as the hard limit allows (a 1000-hub bench)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class Broker(StartStop):
    """An MQTT broker process on 127.0.0.1 and a free port; a context manager.

    Attributes: ``host``, ``port``, ``username``, ``password``, ``kind`` (``"mosquitto"`` or
    ``"amqtt"``), ``workdir`` (its configuration, password file and log).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        kind: str = "mosquitto",
        username: str = "trygghetskamera",
        password: str | None = None,
        host: str = "127.0.0.1",
        start_timeout_s: float = 15.0,
    ) -> None:
        """Describe the broker; nothing runs before ``start()`` (or ``with``)."""
        if kind not in ("mosquitto", "amqtt"):
            raise ValueError(f"unknown broker kind {kind!r}")
        self.workdir = Path(workdir)
        self.kind = kind
        self.host = host
        self.port = 0
        self.username = username
        self.password = password or secrets.token_urlsafe(16)
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    # --- constructors ---------------------------------------------------------------------------
    @classmethod
    def mosquitto(cls, workdir: Path, **kwargs: object) -> Self:
        """Start Debian's mosquitto and return it once it accepts logins; BrokerError if missing."""
        broker = cls(workdir, kind="mosquitto", **kwargs)  # type: ignore[arg-type]
        broker.start()
        return broker

    @classmethod
    def amqtt(cls, workdir: Path, **kwargs: object) -> Self:
        """Start amqtt (PyPI) in a subprocess and return it once it accepts logins."""
        broker = cls(workdir, kind="amqtt", **kwargs)  # type: ignore[arg-type]
        broker.start()
        return broker

    @classmethod
    def start_best(
        cls, workdir: Path, *, say: Callable[[str], None] | None = None, **kwargs: object
    ) -> Self:
        """Mosquitto if installed, else amqtt if importable (saying so), else BrokerError."""
        say = say or (lambda line: print(line, file=sys.stderr))
        if mosquitto_path() is not None:
            broker = cls.mosquitto(workdir, **kwargs)
            say(f"MQTT broker: Debian's mosquitto on {broker.host}:{broker.port}")
            return broker
        if amqtt_available():
            broker = cls.amqtt(workdir, **kwargs)
            say(
                f"MQTT broker: mosquitto is not installed, using amqtt (PyPI) on "
                f"{broker.host}:{broker.port} instead; scripts/setup as root installs mosquitto"
            )
            return broker
        raise BrokerError(f"{INSTALL_HINT}; and amqtt (PyPI) is not importable either")

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the broker process runs."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self.running and self._process else None

    @property
    def log_path(self) -> Path:
        """The broker's own log (mosquitto) or its captured output (amqtt)."""
        return self.workdir / f"{self.kind}.log"

    def start(self) -> None:
        """Start (after a stop: on the same port) and wait until the broker accepts logins."""
        if self.running:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        first = self.port == 0
        attempts = 3 if first else 1
        for attempt in range(attempts):
            if first:
                self.port = free_port(self.host)
            try:
                self._launch()
                self._wait_ready()
            except BrokerError:
                self._terminate(signal.SIGKILL)
                # Another process may have taken the free port between our probe and the bind.
                if attempt == attempts - 1:
                    raise
            else:
                return

    def stop(self) -> None:
        """Stop the broker cleanly (SIGTERM, then SIGKILL after 5 s)."""
        self._terminate(signal.SIGTERM)

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL), like a crashed or cut-off broker host."""
        self._terminate(signal.SIGKILL)

    def __repr__(self) -> str:
        """Kind, address and whether it runs; never the password."""
        state = "running" if self.running else "stopped"
        return f"<Broker {self.kind} {self.host}:{self.port} {state}>"

    # --- internals ------------------------------------------------------------------------------
    def _launch(self) -> None:
        mosquitto = self.kind == "mosquitto"
        command = self._mosquitto_command() if mosquitto else self._amqtt_command()
        out = self.workdir / f"{self.kind}.out"
        # The amqtt wrapper takes the password from its environment, never from argv, and runs
        # `-m simulators.amqtt_broker` in the work directory: child_env lets it find this package.
        env = child_env(self.password, AMQTT_SITE)
        with out.open("ab") as sink:
            # Through a guardian that stops the broker when this process goes, however it goes
            # (a test run killed by a timeout leaves no broker behind).
            self._process = subprocess.Popen(
                [sys.executable, "-c", _GUARDIAN, *command],
                stdin=subprocess.PIPE,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
                preexec_fn=_raise_fd_limit,  # noqa: PLW1509 - no threads run user code here
                start_new_session=True,
            )

    def _mosquitto_command(self) -> list[str]:
        binary = mosquitto_path()
        if binary is None:
            raise BrokerError(INSTALL_HINT)
        passwords = self.workdir / "mosquitto.passwd"
        passwords.write_text(mosquitto_password_line(self.username, self.password))
        passwords.chmod(0o600)
        config = self.workdir / "mosquitto.conf"
        config.write_text(
            "\n".join(
                [
                    "# Generated by simulators/broker.py; rewritten on every start.",
                    # Running as root, mosquitto would switch to the 'mosquitto' user, which
                    # cannot read a private work directory; stay who we are.
                    f"user {getpass.getuser()}",
                    "per_listener_settings false",
                    f"listener {self.port} {self.host}",
                    "allow_anonymous false",
                    f"password_file {passwords}",
                    "persistence false",
                    "set_tcp_nodelay true",
                    "max_queued_messages 10000",
                    f"log_dest file {self.log_path}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "log_type information",
                    "connection_messages true",
                    "log_timestamp_format %Y-%m-%dT%H:%M:%S",
                    "",
                ]
            )
        )
        return [binary, "-c", str(config)]

    def _amqtt_command(self) -> list[str]:
        if not amqtt_available():
            raise BrokerError("amqtt (PyPI) is not importable by this interpreter")
        return [
            sys.executable,
            "-m",
            "simulators.amqtt_broker",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--username",
            self.username,
            "--workdir",
            str(self.workdir),
        ]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            process = self._process
            if process is None or process.poll() is not None:
                raise BrokerError(
                    f"{self.kind} exited with {process.returncode if process else None} "
                    f"on port {self.port}: {self._log_tail()}"
                )
            try:
                code = mqtt_login(self.host, self.port, self.username, self.password)
            except OSError as err:
                last_error = err
                # Polls a port that the broker opens within a few tens of milliseconds.
                time.sleep(0.02)
                continue
            if code != 0:
                raise BrokerError(f"{self.kind} refused our own login (CONNACK {code})")
            return
        raise BrokerError(
            f"{self.kind} did not accept logins on {self.host}:{self.port} within "
            f"{self.start_timeout_s} s ({last_error}): {self._log_tail()}"
        )

    def _terminate(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            # The guardian and the broker are one process group (their own session).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        if process.stdin is not None:
            process.stdin.close()

    def _log_tail(self) -> str:
        lines: list[str] = []
        for name in (f"{self.kind}.out", f"{self.kind}.log"):
            with contextlib.suppress(OSError):
                lines += (self.workdir / name).read_text(errors="replace").splitlines()[-5:]
        return " | ".join(lines) or "(no log)"
