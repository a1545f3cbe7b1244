"""A network camera on loopback: a generated scene served as MJPEG over HTTP.

It serves ``multipart/x-mixed-replace`` JPEG, as many IP cameras do on ``/video.mjpg``: the frames
of a ``scenes`` scene (a dim bedroom at night by default), every client at the camera's frame rate.
For the tests a short clip is encoded once and looped; a ``live`` camera (the demo's) renders the
scene at the wall clock's time for each client, so no two moments of a night show the same
picture (a looped clip seen at times a whole number of loops apart would look frozen). With a
username it asks for HTTP basic auth: no credentials get 401, wrong ones ``reject_status`` (401
asks again, 403 says no; cameras differ).

Like many home cameras it has a *privacy mode* that really changes its picture: while it is on,
every client sees black (a lens shutter closed, or the camera turned to the ceiling: either way
nothing of the room), frame by frame, also on a stream that was already open. It is switched
over HTTP as a camera's API is: ``GET /privacy`` answers ``on`` or ``off``, ``POST /privacy/on``
and ``POST /privacy/off`` switch it (behind the same basic auth as the stream). A camera whose
privacy API breaks (``refuse_privacy_on``) answers ``POST /privacy/on`` with 503 and stays open.

In one process (the tests)::

    with MjpegServer(kind="night", username="kamera", password="…") as camera:
        camera.url  # http://127.0.0.1:<port>/video.mjpg

As a process of its own (the demo), from the repository root::

    SIMULATORS_BROKER_PASSWORD=… python -m simulators.camera --username kamera --port 0
    # a live camera; prints "ready <port>", serves until its stdin ends or SIGTERM
    # (--privacy: it starts in privacy mode, as Home Assistant leaves it between looks)

(the password travels in the variable the other simulators use for theirs, out of ``ps``).
No Home Assistant import here; PyAV encodes the JPEGs.
"""

from __future__ import annotations

import argparse
import base64
from collections.abc import Iterable, Iterator
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import ClassVar, get_args

import av
from av.video.codeccontext import VideoCodecContext

from .child import PASSWORD_ENV, StartStop
from .scenes import SceneKind, scene_frames

# FFmpeg's MJPEG quantiser scale: 3 is about libjpeg's quality 75 (22 kB at 640x480).
_QSCALE = 3
# The camera's privacy API (see the module's docstring).
PRIVACY_PATH = "/privacy"


def jpeg_frames(frames: Iterable[av.VideoFrame], fps: int) -> Iterator[bytes]:
    """Encode frames as baseline JPEGs with FFmpeg's MJPEG encoder."""
    encoder: VideoCodecContext | None = None
    for index, frame in enumerate(frames):
        if encoder is None:
            created = av.CodecContext.create("mjpeg", "w")
            assert isinstance(created, VideoCodecContext)
            encoder = created
            encoder.width, encoder.height = frame.width, frame.height
            encoder.pix_fmt = "yuvj420p"
            encoder.time_base = Fraction(1, fps)
            encoder.qmin = encoder.qmax = _QSCALE
            encoder.open()
        source = frame.reformat(format="yuvj420p")
        source.pts, source.time_base = index, encoder.time_base
        yield b"".join(bytes(packet) for packet in encoder.encode(source))


class _MjpegHandler(BaseHTTPRequestHandler):
    server: _MjpegHttpServer
    protocol_version = "HTTP/1.0"
    boundary: ClassVar[str] = "trygghetskameraframe"

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: a test's or the demo's output is not the place for an access log."""

    def do_GET(self) -> None:
        """Check the credentials, then send JPEG parts at the camera's frame rate."""
        owner = self.server.owner
        if not self._authorised():
            return
        if self.path == PRIVACY_PATH:
            self._answer(200, "on" if owner.privacy else "off")
            return
        self._stream(owner)

    def do_POST(self) -> None:
        """Switch privacy mode (``/privacy/on``, ``/privacy/off``), as a camera's API does."""
        owner = self.server.owner
        if not self._authorised():
            return
        # Whatever a client sends with it is read and ignored (curl -X POST sends nothing).
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == f"{PRIVACY_PATH}/off":
            owner.privacy = False
        elif self.path == f"{PRIVACY_PATH}/on":
            if owner.refuse_privacy_on:
                self._answer(503, "privacy mode unavailable")
                return
            owner.privacy = True
        else:
            self._answer(404, "not found")
            return
        self._answer(200, "on" if owner.privacy else "off")

    def _answer(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        """True with the camera's credentials (or none needed); else the refusal is sent."""
        owner = self.server.owner
        if owner.username is not None:
            expected = f"{owner.username}:{owner.password or ''}"
            header = self.headers.get("Authorization", "")
            given = ""
            if header.startswith("Basic "):
                try:
                    given = base64.b64decode(header[6:]).decode()
                except ValueError:
                    given = ""
            if given != expected:
                status = 401 if not header else owner.reject_status
                self.send_response(status)
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False
        return True

    def _stream(self, owner: MjpegServer) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={self.boundary}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        started = time.monotonic()
        sent = 0
        try:
            for jpeg in owner.frames_from(time.time()):
                if owner.stopping.is_set():
                    return
                self.wfile.write(
                    f"--{self.boundary}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg
                    + b"\r\n"
                )
                self.wfile.flush()
                sent += 1
                # Pace like a camera: the next frame is due at its place on the timeline.
                owner.stopping.wait(max(0.0, started + sent / owner.fps - time.monotonic()))
        except BrokenPipeError, ConnectionResetError:
            return


class _MjpegHttpServer(ThreadingHTTPServer):
    # Handler threads are joined on close (they end once `stopping` is set), so no thread
    # outlives the server: test harnesses check for lingering threads.
    daemon_threads = False
    block_on_close = True
    owner: MjpegServer


class MjpegServer(StartStop):
    """An HTTP MJPEG camera on loopback (``port`` 0: a free one), served from a thread.

    Frames are a synthetic scene (``night``, ``black`` or ``still``): ``seconds`` of it encoded to
    JPEG once at start and looped in real time, or with ``live`` rendered for each client from
    the moment it comes (about 10 ms of CPU a frame at 640x480).
    """

    def __init__(
        self,
        *,
        kind: SceneKind = "night",
        username: str | None = None,
        password: str | None = None,
        reject_status: int = 401,
        seconds: float = 10,
        fps: int = 10,
        size: tuple[int, int] = (640, 480),
        port: int = 0,
        live: bool = False,
        privacy: bool = False,
    ) -> None:
        """Describe the camera; frames are made and served from ``start``.

        ``privacy``: the camera starts in privacy mode (black for everyone until it is switched
        off over its HTTP API, or by setting the attribute).
        """
        self.kind: SceneKind = kind
        self.username = username
        self.password = password
        self.reject_status = reject_status
        self.seconds = seconds
        self.fps = fps
        self.size = size
        self.live = live
        # Read by the streaming threads before each frame: the picture changes mid-stream.
        self.privacy = privacy
        self.refuse_privacy_on = False
        self.jpegs: list[bytes] = []
        # What privacy mode shows: one second of black, looped.
        self.private_jpegs: list[bytes] = []
        self.stopping = threading.Event()
        self.port: int | None = port or None
        self._server: _MjpegHttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The stream URL without credentials."""
        if self.port is None:
            raise RuntimeError("MjpegServer is not running")
        return f"http://127.0.0.1:{self.port}/video.mjpg"

    @property
    def privacy_url(self) -> str:
        """The privacy API's address (``GET`` it; ``POST`` to it with ``/on`` or ``/off``)."""
        if self.port is None:
            raise RuntimeError("MjpegServer is not running")
        return f"http://127.0.0.1:{self.port}{PRIVACY_PATH}"

    def frames_from(self, now: float) -> Iterator[bytes]:
        """The JPEGs a client coming at ``now`` (wall clock, s) sees: what the camera shows then.

        Each frame is black while privacy mode is on at the moment it is sent.
        """
        index = round(now * self.fps)
        for room in self._scene_from(now):
            yield self.private_jpegs[index % len(self.private_jpegs)] if self.privacy else room
            index += 1

    def _scene_from(self, now: float) -> Iterator[bytes]:
        """The room's JPEGs for a client coming at ``now``."""
        if self.live:
            # Seconds into the day: the scene's drifts are smooth in t, and t stays small.
            frames = scene_frames(
                self.kind, seconds=None, fps=self.fps, size=self.size, start=now % 86400
            )
            yield from jpeg_frames(frames, self.fps)
            return
        index = round(now * self.fps)
        while True:
            yield self.jpegs[index % len(self.jpegs)]
            index += 1

    def start(self) -> None:
        """Encode the clip (unless live), then serve on the port (OSError if it is taken)."""
        if not self.live and not self.jpegs:
            frames = scene_frames(self.kind, seconds=self.seconds, fps=self.fps, size=self.size)
            self.jpegs = list(jpeg_frames(frames, self.fps))
        if not self.private_jpegs:
            black = scene_frames("black", seconds=1, fps=self.fps, size=self.size)
            self.private_jpegs = list(jpeg_frames(black, self.fps))
        self.stopping.clear()
        server = _MjpegHttpServer(("127.0.0.1", self.port or 0), _MjpegHandler)
        server.owner = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """End the streaming responses and the server thread."""
        self.stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def run(argv: Iterable[str] | None = None) -> int:
    """Serve one camera until SIGTERM/SIGINT or the end of stdin; see ``--help``."""
    parser = argparse.ArgumentParser(
        prog="python -m simulators.camera",
        description=(
            "A camera on 127.0.0.1 serving a generated scene as MJPEG over HTTP at /video.mjpg."
            " Prints 'ready <port>' once it listens; stops at the end of stdin or on SIGTERM."
        ),
    )
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument(
        "--or-any-port",
        action="store_true",
        help="if --port is taken, take any free port instead of failing",
    )
    parser.add_argument("--scene", choices=get_args(SceneKind), default="night")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--username", help="ask for basic auth; the password is in the env")
    parser.add_argument(
        "--privacy",
        action="store_true",
        help="start in privacy mode (black until POST /privacy/off)",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    password = os.environ.get(PASSWORD_ENV) if args.username else None

    camera = MjpegServer(
        kind=args.scene,
        username=args.username,
        password=password,
        fps=args.fps,
        size=(args.width, args.height),
        port=args.port,
        live=True,
        privacy=args.privacy,
    )
    try:
        camera.start()
    except OSError as err:
        if not args.or_any_port:
            print(f"cannot listen on 127.0.0.1:{args.port}: {err.strerror}", file=sys.stderr)
            return 1
        camera.port = None
        camera.start()
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def watch_stdin() -> None:
        # Whoever started us holds the other end: its end, however it ended, is our cue.
        sys.stdin.buffer.read()
        stopping.set()

    threading.Thread(target=watch_stdin, name="camera-stdin", daemon=True).start()
    print(f"ready {camera.port}", flush=True)
    stopping.wait()
    camera.stop()
    return 0


if __name__ == "__main__":
    sys.exit(run())
