"""Real camera streams on loopback for the tests, the demo and the benchmarks.

``RtspServer`` runs Debian's GStreamer RTSP server (``tests/rtsp_server_gst.py``) under the system
Python, which has ``gi``; ``MjpegServer`` (``simulators/camera.py``) serves a generated scene as
``multipart/x-mixed-replace`` JPEG from a thread. Both pick a free loopback port when they start
and stop everything they started on exit. No pytest import here: the benchmarks use it too.
"""

from __future__ import annotations

from collections import deque
import os
from pathlib import Path
import selectors
import socket
import subprocess
import threading
import time
from types import TracebackType
from typing import Self

from simulators.camera import MjpegServer

__all__ = ["MjpegServer", "RtspServer", "free_port", "wait_for_port"]

SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_SERVER_SCRIPT = Path(__file__).resolve().parent / "rtsp_server_gst.py"
APT_PACKAGES = (
    "gir1.2-gst-rtsp-server-1.0",
    "python3-gi",
    "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-bad",
    "gstreamer1.0-plugins-ugly",
)


def wait_for_port(host: str, port: int, deadline: float) -> None:
    """Poll until ``host:port`` accepts a TCP connection, or raise TimeoutError at deadline."""
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{host}:{port} did not accept connections") from None
            # A short back-off between connection attempts, bounded by the deadline above.
            time.sleep(0.05)


def free_port() -> int:
    """A loopback TCP port nobody listens on (for 'connection refused' tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RtspServer:
    """GStreamer RTSP cameras on a free loopback port, as a context manager.

    Like real cameras, each runs one encoder from the start with a fixed keyframe interval
    (``gop`` frames) and every viewer shares it, so a viewer joins mid-GOP and waits for the
    next keyframe. ``pattern`` is a ``videotestsrc`` pattern: ``ball`` (moving, the default),
    ``smpte`` (a still picture, for the frozen check), ``black``. With ``username`` the server
    demands basic auth and answers wrong credentials with 401. ``paths`` names several cameras
    of the one server (each with its own encoder); a query string after a path (``/cam?home=3``)
    reaches the same camera. With ``onvif`` it answers ONVIF's device and media calls on
    ``onvif_port`` (same credentials): ``SetSynchronizationPoint`` makes that camera's encoder
    send a keyframe now.
    """

    def __init__(
        self,
        *,
        pattern: str = "ball",
        username: str | None = None,
        password: str | None = None,
        width: int = 640,
        height: int = 480,
        fps: int = 10,
        gop: int = 20,
        paths: tuple[str, ...] = ("/cam",),
        onvif: bool = False,
        start_timeout_s: float = 15.0,
    ) -> None:
        """Describe the cameras; nothing starts before ``__enter__``."""
        self.pattern = pattern
        self.username = username
        self.password = password
        self.paths = paths
        self.args = [
            f"--pattern={pattern}",
            f"--width={width}",
            f"--height={height}",
            f"--fps={fps}",
            f"--gop={gop}",
            *(f"--path={path}" for path in paths),
        ]
        if username is not None:
            self.args += [f"--username={username}", f"--password={password or ''}"]
        if onvif:
            self.args.append("--onvif")
        self.start_timeout_s = start_timeout_s
        self.port: int | None = None
        self.onvif_port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr_tail: deque[str] = deque(maxlen=40)
        self._stderr_reader: threading.Thread | None = None

    def url_of(self, path: str) -> str:
        """The stream URL of the camera at ``path`` (a query may follow), without credentials."""
        if self.port is None:
            raise RuntimeError("RtspServer is not running")
        return f"rtsp://127.0.0.1:{self.port}{path}"

    @property
    def url(self) -> str:
        """The stream URL of the first camera, without credentials."""
        return self.url_of(self.paths[0])

    def __enter__(self) -> Self:
        """Start the server and return once it accepts connections."""
        if not os.access(SYSTEM_PYTHON, os.X_OK):
            raise RuntimeError(f"{SYSTEM_PYTHON} is missing; install: {' '.join(APT_PACKAGES)}")
        self._process = subprocess.Popen(
            [SYSTEM_PYTHON, str(RTSP_SERVER_SCRIPT), *self.args],
            # Held open while we live: its end tells the server to stop (see the script).
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # The system Python must not see the venv's packages.
            env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")},
        )
        # Read stderr all along: a full pipe would stall the server; the tail explains a crash.
        self._stderr_reader = threading.Thread(
            target=self._drain_stderr, name="rtsp-server-stderr", daemon=True
        )
        self._stderr_reader.start()
        deadline = time.monotonic() + self.start_timeout_s
        try:
            kind, port = self._read_line(deadline)
            if kind == "ONVIF":
                self.onvif_port = port
                kind, port = self._read_line(deadline)
            if kind != "PORT":
                raise RuntimeError(f"unexpected output from the RTSP server: {kind} {port}")
            self.port = port
            wait_for_port("127.0.0.1", self.port, deadline)
        except BaseException:
            self._stop()
            raise
        return self

    def _drain_stderr(self) -> None:
        process = self._process
        assert process is not None
        assert process.stderr is not None
        for line in process.stderr:
            self._stderr_tail.append(line.decode(errors="replace"))

    def _read_line(self, deadline: float) -> tuple[str, int]:
        process = self._process
        assert process is not None
        assert process.stdout is not None
        line = b""
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise TimeoutError("the RTSP server did not report its ports in time")
                chunk = os.read(process.stdout.fileno(), 1)
                if not chunk:
                    process.wait(timeout=5)
                    if self._stderr_reader is not None:
                        self._stderr_reader.join(timeout=5)
                    raise RuntimeError(
                        "the RTSP server exited; is GStreamer installed? "
                        f"({' '.join(APT_PACKAGES)})\n{''.join(self._stderr_tail)}"
                    )
                line += chunk
        kind, _, port = line.decode().strip().partition(" ")
        if kind not in ("PORT", "ONVIF") or not port.isdigit():
            raise RuntimeError(f"unexpected output from the RTSP server: {line!r}")
        return kind, int(port)

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        # The process is gone, so stderr is at its end and the reader finishes.
        if self._stderr_reader is not None:
            self._stderr_reader.join(timeout=5)
            self._stderr_reader = None
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server process."""
        self._stop()
