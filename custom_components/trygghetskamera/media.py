"""Camera media: open a stream, probe it, decode live frames, encode JPEG, make test scenes.

Everything here blocks and imports nothing from Home Assistant: the HA layer runs it in an
executor or a thread. Only PyAV is needed (no numpy, no Pillow), so the manifest's single
requirement covers it.

Privacy: nothing visual is written anywhere. Probing keeps a 16x16 two-level hash of the picture
(which cannot be turned back into an image of the room) and throws the frame away; live frames
only ever exist in memory. The scene generators at the bottom write synthetic test videos for the
demo and the tests, never camera content.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
import math
import os
from pathlib import Path
import threading
import time
from typing import Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import av
import av.container
import av.error
import av.filter
import av.video.stream

NETWORK_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https"})

# Reasons a probe (or opening a stream) can fail; the HA layer maps them to repair issues.
REASON_INVALID_URL = "invalid_url"
REASON_CANNOT_CONNECT = "cannot_connect"
REASON_INVALID_AUTH = "invalid_auth"
REASON_NO_VIDEO = "no_video"
REASON_BLACK = "black"
REASON_FROZEN = "frozen"

# Minimal probing: FFmpeg otherwise reads up to 5 s of stream to guess things (frame rate,
# decoder delay) that a live look does not need. Measured on a loopback camera: 0.2 s to the
# first frame instead of 2.9 s. RTSP describes the codec in its SDP and MP4 in its header, so
# nothing is lost; a stream that does need probing is reopened with _FALLBACK_PROBING.
_MINIMAL_PROBING = {"analyzeduration": "1", "probesize": "32", "fpsprobesize": "0"}
_FALLBACK_PROBING = {"analyzeduration": "2000000", "probesize": "1000000"}

# The picture is judged on a small grey thumbnail: averaging over blocks of pixels removes sensor
# and encoder noise while keeping the room's structure.
_STATS_SIZE = (64, 48)
# Full-range grey levels (0-255; video black is 0 after conversion). A covered lens without IR
# is dark and flat; a dark room that can still be seen has edges (bed, furniture), so a real
# night picture has far more spread than this.
_BLACK_MAX_MEAN = 28.0
_BLACK_MAX_STDDEV = 5.0
# A picture this flat shows nothing whatever its brightness: lens covered with IR reflecting off
# the cover, or the grey frame some cameras send when their sensor fails.
_FLAT_MAX_STDDEV = 1.5

_SIGNATURE_GRID = 16
# Two signatures this close are the same picture: a couple of cells sitting right on a
# threshold may flip with encoder noise, whereas anything that moves flips whole rows of cells
# along its outline.
_FROZEN_MAX_DIFFERENT_BITS = 3

_JPEG_FORMAT = "yuvj420p"


class StreamError(Exception):
    """Opening or reading a camera stream failed; ``reason`` is one of the probe reasons."""

    def __init__(self, reason: str, detail: str = "") -> None:
        """Keep the reason for callers and a redacted detail for logs."""
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Outcome of one camera probe: connect, decode one frame, judge it, close."""

    ok: bool
    reason: str | None
    ms: int
    signature: str | None = None
    width: int | None = None
    height: int | None = None


# --- URLs --------------------------------------------------------------------------------------


def _is_network_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() in NETWORK_SCHEMES


def validate_url(url: str) -> bool:
    """Tell whether ``url`` is an rtsp/rtsps/http/https URL with a host, or an existing file."""
    if not isinstance(url, str) or not url.strip() or any(ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a port that is not a number or out of range
    except ValueError:
        return False
    if parts.scheme.lower() in NETWORK_SCHEMES:
        # A space is no part of a URL (it would be %20); in a file name it is fine.
        return bool(parts.hostname) and " " not in url
    if "://" in url:
        return False
    return os.path.isfile(url)


def build_url(stream_url: str, username: str | None, password: str | None) -> str:
    """Put percent-encoded credentials into a network URL; return local paths unchanged.

    Credentials already in the URL are kept unless a username or password is given, which then
    replaces them (the config entry's fields are the source of truth).
    """
    if not _is_network_url(stream_url) or not (username or password):
        return stream_url
    parts = urlsplit(stream_url)
    host = parts.netloc.rpartition("@")[2]
    userinfo = quote(username or "", safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


# Query keys that cameras use to carry credentials (e.g. ``/videostream.cgi?user=x&pwd=y``).
_SECRET_QUERY_KEYS = frozenset(
    {"user", "username", "usr", "pwd", "pass", "password", "passwd", "auth", "token", "key"}
)


def redact_url(url: str) -> str:
    """Strip credentials (userinfo and credential-looking query values) from a URL for logs."""
    if not isinstance(url, str):
        return "<invalid>"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid>"
    if parts.scheme.lower() not in NETWORK_SCHEMES:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs], safe="*"
        )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


# --- opening -----------------------------------------------------------------------------------


def _reason_for_open_error(err: Exception, scheme: str) -> str:
    """Map an FFmpeg/OS error raised while opening to a probe reason."""
    if isinstance(err, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return REASON_INVALID_AUTH
    # FFmpeg builds before 6.1 report an RTSP 401/403 as a generic error with the status line
    # in the message, so look there too. The message only: str(err) also holds the URL, whose
    # port or path may well contain "401".
    message = getattr(err, "strerror", None) or ""
    if any(s in message for s in ("401", "403", "Unauthorized", "Forbidden")):
        return REASON_INVALID_AUTH
    if isinstance(err, FileNotFoundError) and scheme == "":
        return REASON_INVALID_URL
    if isinstance(err, av.error.InvalidDataError) and scheme in ("", "http", "https"):
        # The file or web resource was there but is not a video FFmpeg can read.
        return REASON_NO_VIDEO
    return REASON_CANNOT_CONNECT


def _open_options(scheme: str, timeout_s: float, probing: dict[str, str]) -> dict[str, str]:
    micros = str(max(1, int(timeout_s * 1_000_000)))
    options = dict(probing)
    if scheme in ("rtsp", "rtsps"):
        # TCP interleaving: UDP needs ports open back to us and loses packets on busy Wi-Fi.
        # `timeout` is RTSP's socket I/O timeout (FFmpeg >= 5 renamed `stimeout` to it), and
        # audio is never set up since nobody listens.
        options |= {"rtsp_transport": "tcp", "timeout": micros, "allowed_media_types": "video"}
    elif scheme in ("http", "https"):
        options |= {"timeout": micros, "rw_timeout": micros}
    return options


def _needs_more_probing(container: av.container.InputContainer) -> bool:
    if not container.streams.video:
        return True
    codec = container.streams.video[0].codec_context
    return not codec.width or not codec.height


def _open_once(
    url: str, scheme: str, timeout_s: float, probing: dict[str, str], fmt: str | None
) -> av.container.InputContainer:
    return av.open(
        url,
        format=fmt,
        options=_open_options(scheme, timeout_s, probing),
        # PyAV's interrupt callback bounds every blocking call, whatever the protocol's own
        # timeouts do (some FFmpeg protocol steps, like DNS, ignore them).
        timeout=(timeout_s, timeout_s),
    )


def open_stream(
    url: str, username: str | None, password: str | None, timeout_s: float
) -> av.container.InputContainer:
    """Open a camera stream or local file for decoding, fast, bounded by ``timeout_s``.

    Raises ``StreamError`` with reason ``invalid_url``, ``cannot_connect``, ``invalid_auth`` or
    ``no_video``. The caller owns (and must close) the returned container.
    """
    if not validate_url(url):
        raise StreamError(REASON_INVALID_URL, redact_url(url))
    scheme = urlsplit(url).scheme.lower() if _is_network_url(url) else ""
    # An absolute path keeps FFmpeg from reading "name:rest" as a protocol.
    target = build_url(url, username, password) if scheme else os.path.abspath(url)
    # The contract says http(s) is MJPEG; naming the demuxer spares the probing that format
    # detection needs. Anything else served over http is still tried, with detection (which
    # cannot work on the 32 bytes of minimal probing).
    attempts: list[tuple[str | None, dict[str, str]]] = [
        (None, _MINIMAL_PROBING),
        (None, _FALLBACK_PROBING),
    ]
    if scheme in ("http", "https"):
        attempts = [("mpjpeg", _MINIMAL_PROBING), ("mpjpeg", _FALLBACK_PROBING), *attempts[1:]]
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    refused: set[str | None] = set()
    for fmt, probing in attempts:
        if fmt in refused:
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StreamError(REASON_CANNOT_CONNECT, f"timed out: {redact_url(url)}")
        try:
            container = _open_once(target, scheme, remaining, probing, fmt)
        except av.error.InvalidDataError as err:
            # This demuxer cannot read it; more probing will not change that.
            last_error = err
            refused.add(fmt)
            continue
        except (av.error.FFmpegError, OSError) as err:
            raise StreamError(
                _reason_for_open_error(err, scheme), f"{type(err).__name__}: {redact_url(url)}"
            ) from None
        if probing is _FALLBACK_PROBING or not _needs_more_probing(container):
            if not container.streams.video:
                container.close()
                raise StreamError(REASON_NO_VIDEO, f"no video stream: {redact_url(url)}")
            return container
        # Minimal probing left the codec unknown (e.g. no parameter sets yet): look longer.
        container.close()
    assert last_error is not None
    raise StreamError(
        _reason_for_open_error(last_error, scheme),
        f"{type(last_error).__name__}: {redact_url(url)}",
    ) from None


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    stream = container.streams.video[0]
    # Slice threads only: frame threading holds back a frame per thread, which is latency a
    # live look and a one-frame probe cannot use.
    stream.thread_type = "SLICE"
    return stream


def _is_local(container: av.container.InputContainer) -> bool:
    return not _is_network_url(container.name)


def _duration_s(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return 0.0


# A local file plays the part of a live camera: what it "shows now" is the frame at wall-clock
# time modulo its length. Two probes seconds apart then see different frames, as they would on a
# camera, instead of both seeing frame 0 and calling the demo camera frozen. Tests replace this.
_wall_clock = time.time


def _seek_to_live_position(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float:
    """Seek a local file to where a live camera would be now; return that position (s)."""
    duration = _duration_s(container, stream)
    if duration <= 0 or not stream.time_base:
        return 0.0
    position = _wall_clock() % duration
    container.seek(int(position / stream.time_base), stream=stream, backward=True)
    return position


def _frame_time(frame: av.VideoFrame) -> float | None:
    return float(frame.time) if frame.time is not None else None


def _decoded_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    frame_timeout_s: float,
) -> Iterator[av.VideoFrame]:
    """Decode whole frames; raise ``no_video`` when none came for ``frame_timeout_s``.

    A decoder starting mid-GOP (a camera joined between keyframes) emits nothing until the next
    keyframe, and anything it still flags as corrupt is not shown or judged. A camera can send
    packets that never make a frame, so the wait is checked per packet, not per frame; time the
    consumer holds a frame does not count.
    """
    waiting_since = time.monotonic()
    try:
        for packet in container.demux(stream):
            for frame in stream.decode(packet):
                if not frame.is_corrupt:
                    yield frame
                    waiting_since = time.monotonic()
            if time.monotonic() - waiting_since > frame_timeout_s:
                raise StreamError(REASON_NO_VIDEO, "no frame decoded in time")
    except (av.error.FFmpegError, OSError) as err:
        # PyAV's read timeout, a reset connection, undecodable data: no picture either way.
        raise StreamError(REASON_NO_VIDEO, type(err).__name__) from None


# --- judging a frame ---------------------------------------------------------------------------


def _grey_thumbnail(frame: av.VideoFrame, width: int, height: int) -> bytes:
    """Block-averaged full-range grey pixels, row after row, without line padding."""
    grey = frame.reformat(width=width, height=height, format="gray", interpolation="AREA")
    plane = grey.planes[0]
    data = bytes(plane)
    stride = plane.line_size
    if stride == width:
        return data[: width * height]
    return b"".join(data[row * stride : row * stride + width] for row in range(height))


def luma_stats(frame: av.VideoFrame) -> tuple[float, float]:
    """Mean and standard deviation of full-range luma (0-255) over a block-averaged thumbnail."""
    pixels = _grey_thumbnail(frame, *_STATS_SIZE)
    count = len(pixels)
    mean = sum(pixels) / count
    variance = sum((p - mean) ** 2 for p in pixels) / count
    return mean, math.sqrt(variance)


def is_black(frame: av.VideoFrame) -> bool:
    """Tell whether a frame shows nothing: dark and flat, or entirely flat."""
    mean, stddev = luma_stats(frame)
    dark_and_flat = mean <= _BLACK_MAX_MEAN and stddev <= _BLACK_MAX_STDDEV
    return dark_and_flat or stddev <= _FLAT_MAX_STDDEV


def frame_signature(frame: av.VideoFrame) -> str:
    """A 128-hex-digit perceptual hash of the picture: two bits per cell of a 16x16 grid.

    Bit one says the cell is brighter than the picture's mean (walls versus bed), bit two that
    it is brighter than halfway from the mean to the brightest cell (the lit person versus the
    bed). One level alone would miss a person moving on a bed that is already above the mean.
    """
    cells = _grey_thumbnail(frame, _SIGNATURE_GRID, _SIGNATURE_GRID)
    mean = sum(cells) / len(cells)
    bright = mean + (max(cells) - mean) / 2
    above_mean = sum(1 << i for i, c in enumerate(cells) if c > mean)
    above_bright = sum(1 << i for i, c in enumerate(cells) if c > bright)
    digits = len(cells) // 4
    return f"{above_mean:0{digits}x}{above_bright:0{digits}x}"


def signatures_match(first: str, second: str) -> bool:
    """Tell whether two signatures show the same picture, allowing for encoder noise."""
    if len(first) != len(second):
        return False
    try:
        different = (int(first, 16) ^ int(second, 16)).bit_count()
    except ValueError:
        return False
    return different <= _FROZEN_MAX_DIFFERENT_BITS


# --- probe -------------------------------------------------------------------------------------


def probe(
    stream_url: str,
    username: str | None,
    password: str | None,
    *,
    timeout_s: float = 10.0,
    last_signature: str | None = None,
) -> ProbeResult:
    """Connect, decode one video frame, judge it and close, within ``timeout_s``.

    ``reason`` is None when ``ok``, else ``invalid_url`` (also for a local file that does not
    exist), ``cannot_connect``, ``invalid_auth``, ``no_video``, ``black`` or ``frozen`` (the
    picture matches ``last_signature``). The signature is returned whenever a frame was decoded,
    so the caller can pass it back next time.
    """
    started = time.monotonic()

    def elapsed_ms() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        container = open_stream(stream_url, username, password, timeout_s)
    except StreamError as err:
        return ProbeResult(ok=False, reason=err.reason, ms=elapsed_ms())
    try:
        frame = _first_frame(container, started + timeout_s)
    except StreamError as err:
        return ProbeResult(ok=False, reason=err.reason, ms=elapsed_ms())
    finally:
        container.close()
    ms = elapsed_ms()
    signature = frame_signature(frame)
    reason = None
    if is_black(frame):
        reason = REASON_BLACK
    elif last_signature is not None and signatures_match(signature, last_signature):
        reason = REASON_FROZEN
    return ProbeResult(
        ok=reason is None,
        reason=reason,
        ms=ms,
        signature=signature,
        width=frame.width,
        height=frame.height,
    )


def _first_frame(container: av.container.InputContainer, deadline: float) -> av.VideoFrame:
    stream = _video_stream(container)
    position = _seek_to_live_position(container, stream) if _is_local(container) else None
    for frame in _decoded_frames(container, stream, max(0.0, deadline - time.monotonic())):
        # After a seek the decoder restarts at the keyframe before the position.
        frame_time = _frame_time(frame)
        if position is None or frame_time is None or frame_time >= position - 0.05:
            return frame
        if time.monotonic() > deadline:
            return frame
    raise StreamError(REASON_NO_VIDEO, "stream ended before a frame decoded")


# --- live frames -------------------------------------------------------------------------------


def _scaled(frame: av.VideoFrame, max_width: int) -> av.VideoFrame:
    if frame.width <= max_width:
        return frame
    height = max(2, round(frame.height * max_width / frame.width / 2) * 2)
    return frame.reformat(width=max_width - max_width % 2, height=height, interpolation="AREA")


def iter_frames(
    stream_url: str,
    username: str | None,
    password: str | None,
    *,
    max_width: int = 1280,
    timeout_s: float = 10.0,
    stop: threading.Event,
) -> Iterator[av.VideoFrame]:
    """Decode frames continuously, scaled to at most ``max_width``, until ``stop`` is set.

    A local file loops forever at its own frame rate, starting where a live camera would be now
    (see ``_wall_clock``), so it behaves like a camera. Raises ``StreamError`` if the stream
    cannot be opened, or if it ends or delivers no frame for ``timeout_s`` (a live camera does
    neither). ``stop`` is checked between frames, so it takes effect within one frame interval.
    """
    if stop.is_set():
        return
    container = open_stream(stream_url, username, password, timeout_s)
    try:
        stream = _video_stream(container)
        if _is_local(container):
            yield from _paced_file_frames(container, stream, max_width, timeout_s, stop)
            return
        for frame in _decoded_frames(container, stream, timeout_s):
            if stop.is_set():
                return
            yield _scaled(frame, max_width)
        if not stop.is_set():
            raise StreamError(REASON_CANNOT_CONNECT, "stream ended")
    finally:
        container.close()


def _paced_file_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    max_width: int,
    timeout_s: float,
    stop: threading.Event,
) -> Iterator[av.VideoFrame]:
    duration = _duration_s(container, stream)
    rate = float(stream.average_rate or stream.guessed_rate or 10)
    position = _seek_to_live_position(container, stream)
    started = time.monotonic()
    timeline_offset = -position  # file time + offset = seconds since started
    previous: float | None = None
    while not stop.is_set():
        produced = False
        for frame in _decoded_frames(container, stream, timeout_s):
            frame_time = _frame_time(frame)
            if frame_time is None:
                frame_time = previous + 1 / rate if previous is not None else 0.0
            if frame_time < position - 0.05:
                continue  # decoding up from the keyframe before the live position
            position = -math.inf
            previous = frame_time
            produced = True
            # Pace by presentation time, so the file plays at its own rate, not as fast as it
            # decodes; waiting on the event keeps a stop request prompt.
            delay = started + frame_time + timeline_offset - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            if stop.is_set():
                return
            yield _scaled(frame, max_width)
        if not produced or duration <= 0:
            raise StreamError(REASON_NO_VIDEO, "file has no decodable frames")
        timeline_offset += duration
        previous = None
        container.seek(0, stream=stream, backward=True)


# --- JPEG --------------------------------------------------------------------------------------

_jpeg_encoders = threading.local()


def _jpeg_qscale(quality: int) -> int:
    """Map a libjpeg-style quality (1-100) to FFmpeg's MJPEG quantiser scale (2-31).

    libjpeg scales its tables by (200 - 2q)% from quality 50 up and by 5000/q % below. The
    linear fit to that scale was measured on the night scene at 640x480 so that sizes and PSNR
    match libjpeg's: quality 90 -> 2, 75 -> 3 (22 kB against libjpeg's 19 kB), 50 -> 5.
    """
    quality = min(100, max(1, quality))
    scale = 200 - 2 * quality if quality >= 50 else 5000 / quality
    return min(31, max(2, round(1.5 + 0.035 * scale)))


def _jpeg_encoder(width: int, height: int, quality: int) -> av.CodecContext:
    # One encoder per thread, size and quality: creating one adds 40 % to an encode (1.5 ms
    # instead of 1.1 ms at 640x480), and a codec context must not be shared between threads.
    key = (width, height, quality)
    cache: dict[tuple[int, int, int], av.CodecContext] = getattr(_jpeg_encoders, "cache", {})
    _jpeg_encoders.cache = cache
    encoder = cache.get(key)
    if encoder is None:
        if len(cache) > 4:
            cache.clear()
        encoder = av.CodecContext.create("mjpeg", "w")
        encoder.width = width
        encoder.height = height
        encoder.pix_fmt = _JPEG_FORMAT
        encoder.time_base = Fraction(1, 25)
        qscale = _jpeg_qscale(quality)
        encoder.qmin = qscale
        encoder.qmax = qscale
        encoder.open()
        cache[key] = encoder
    return encoder


def encode_jpeg(frame: av.VideoFrame, quality: int = 75) -> bytes:
    """Encode a frame as a baseline JPEG in memory with FFmpeg's MJPEG encoder."""
    encoder = _jpeg_encoder(frame.width, frame.height, quality)
    source = frame if frame.format.name == _JPEG_FORMAT else frame.reformat(format=_JPEG_FORMAT)
    # The encoder refuses timestamps that do not rise, and a reused encoder sees the same frame
    # twice or frames from another stream. A JPEG needs no timestamp, so stamp each frame with
    # the encoder's own count (in its time base, so PyAV rescales nothing) and give the
    # caller's frame its own timestamp back.
    pts, time_base = source.pts, source.time_base
    source.pts, source.time_base = encoder.frame_num, encoder.time_base
    try:
        packets = encoder.encode(source)
    except av.error.FFmpegError:
        _jpeg_encoders.cache.pop((frame.width, frame.height, quality), None)
        raise
    finally:
        # A frame made in memory (a filtered view) may have no time base to give back.
        source.pts = pts
        if time_base is not None:
            source.time_base = time_base
    return b"".join(bytes(packet) for packet in packets)


# --- synthetic scenes (demo and tests) ---------------------------------------------------------

SceneKind = Literal["night", "black", "still"]

# Limited-range luma (16 = black) of a dim room lit by a camera's IR or a night light.
_WALL_TOP, _WALL_BOTTOM, _FLOOR = 36, 46, 30
_DOOR, _BED, _HEADBOARD, _PILLOW = 50, 74, 58, 92
_PERSON_PEAK = 132
# The checkerboard "face" of the privacy tests: as much detail as luma can carry.
_FACE_DARK, _FACE_LIGHT = 40, 200

# Where the person of a night scene is: in the bed, on the floor beside it, or not in the room.
Pose = Literal["in_bed", "on_floor", "absent"]
# The bed of the night scene, relative (x0, y0, x1, y1); the floor starts at 0.62 of the height.
SCENE_BED = (0.30, 0.50, 0.92, 0.86)
SCENE_FLOOR_Y = 0.62


def _rect(size: tuple[int, int], box: tuple[float, float, float, float]) -> tuple[int, ...]:
    width, height = size
    x0, y0, x1, y1 = box
    return round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)


class _NightRoom:
    """Draws the scene with row runs and byte translation tables: C speed, no numpy."""

    def __init__(
        self, size: tuple[int, int], person: bool, pose: Pose = "in_bed", face: bool = False
    ) -> None:
        height = size[1]
        self.size = size
        self.person = person and pose != "absent"
        self.pose = pose
        self.face = face
        floor_y = round(0.62 * height)
        # Axis-aligned rectangles, later ones on top: (x0, y0, x1, y1, luma).
        self.rects = [
            (*_rect(size, (0.06, 0.14, 0.20, 0.62)), _DOOR),
            (*_rect(size, (0.90, 0.40, 0.95, 0.84)), _HEADBOARD),
            (*_rect(size, SCENE_BED), _BED),
            (*_rect(size, (0.79, 0.54, 0.90, 0.70)), _PILLOW),
        ]
        self.rows: list[list[tuple[int, int, int]]] = []
        for y in range(height):
            if y < floor_y:
                base = _WALL_TOP + (_WALL_BOTTOM - _WALL_TOP) * y // max(1, floor_y)
            else:
                base = _FLOOR
            self.rows.append(self._runs(y, base))
        self.background = b"".join(self._render_row(runs) for runs in self.rows)
        if pose == "on_floor":
            self.sprite, self.sprite_size = self._floor_sprite()
        else:
            self.sprite, self.sprite_size = self._person_sprite()

    def _runs(self, y: int, base: int) -> list[tuple[int, int, int]]:
        width = self.size[0]
        values = bytearray([base]) * width
        for x0, y0, x1, y1, luma in self.rects:
            if y0 <= y < y1:
                values[x0:x1] = bytes([luma]) * (x1 - x0)
        runs: list[tuple[int, int, int]] = []
        start = 0
        for x in range(1, width + 1):
            if x == width or values[x] != values[start]:
                runs.append((start, x, values[start]))
                start = x
        return runs

    @staticmethod
    def _render_row(runs: list[tuple[int, int, int]]) -> bytes:
        return b"".join(bytes([value]) * (x1 - x0) for x0, x1, value in runs)

    def _person_sprite(self) -> tuple[list[bytes], tuple[int, int]]:
        """Soft weights (0-255) of a body under a blanket and a head on the pillow."""
        width, height = self.size
        sprite_w, sprite_h = round(0.52 * width), round(0.22 * height)
        body = (0.40 * sprite_w, 0.55 * sprite_h, 0.38 * sprite_w, 0.40 * sprite_h)
        head = (0.86 * sprite_w, 0.42 * sprite_h, 0.09 * sprite_w, 0.22 * sprite_h)
        self.head = head
        return self._ellipses_sprite(sprite_w, sprite_h, (body, head))

    def _floor_sprite(self) -> tuple[list[bytes], tuple[int, int]]:
        """A body lying on the floor beside the bed, head away from the camera (foreshortened)."""
        width, height = self.size
        sprite_w, sprite_h = round(0.20 * width), round(0.36 * height)
        body = (0.50 * sprite_w, 0.60 * sprite_h, 0.40 * sprite_w, 0.38 * sprite_h)
        head = (0.50 * sprite_w, 0.14 * sprite_h, 0.24 * sprite_w, 0.12 * sprite_h)
        self.head = head
        return self._ellipses_sprite(sprite_w, sprite_h, (body, head))

    @staticmethod
    def _ellipses_sprite(
        sprite_w: int, sprite_h: int, ellipses: tuple[tuple[float, float, float, float], ...]
    ) -> tuple[list[bytes], tuple[int, int]]:
        body, head = ellipses
        rows = []
        for j in range(sprite_h):
            row = bytearray(sprite_w)
            for i in range(sprite_w):
                weight = 0.0
                for cx, cy, rx, ry in (body, head):
                    r2 = ((i - cx) / rx) ** 2 + ((j - cy) / ry) ** 2
                    if r2 < 1:
                        # Brighter towards the middle, as a rounded shape under a lamp.
                        weight = max(weight, (1 - r2) ** 0.6)
                row[i] = round(255 * weight)
            rows.append(bytes(row))
        return rows, (sprite_w, sprite_h)

    def luma(self, t: float) -> bytes:
        """The luma plane at time ``t`` seconds."""
        if not self.person:
            return self.background
        width, height = self.size
        sprite_w = self.sprite_size[0]
        left, top, gain = self._placement(t)
        tables: dict[int, bytes] = {}
        plane = bytearray(self.background)
        for j, weights in enumerate(self.sprite):
            y = top + j
            if not 0 <= y < height:
                continue
            pieces = []
            for x0, x1, value in self.rows[y]:
                a, b = max(x0, left), min(x1, left + sprite_w)
                if a >= b:
                    continue
                table = tables.get(value)
                if table is None:
                    lift = (_PERSON_PEAK - value) * gain
                    table = bytes(min(235, round(value + lift * w / 255)) for w in range(256))
                    tables[value] = table
                pieces.append(weights[a - left : b - left].translate(table))
            start = y * width + max(0, left)
            segment = b"".join(pieces)
            plane[start : start + len(segment)] = segment
        if self.face:
            self._draw_face(plane, left, top)
        return bytes(plane)

    def _placement(self, t: float) -> tuple[int, int, float]:
        """Where the sprite's corner is at time ``t``, and how brightly it is lit."""
        width, height = self.size
        # Slow, incommensurate drifts: turning over under the blanket, breathing light. At 10 fps
        # every frame differs a little; over a few seconds the outline moves by tens of pixels.
        # Someone lying on the floor hardly moves.
        spread = 1.0 if self.pose == "in_bed" else 0.15
        dx = round(spread * 0.07 * width * math.sin(2 * math.pi * t / 17))
        dy = round(spread * 0.015 * height * math.sin(2 * math.pi * t / 11 + 1))
        gain = 0.82 + 0.18 * math.sin(2 * math.pi * t / 6)
        if self.pose == "on_floor":
            return round(0.06 * width) + dx, round(0.62 * height) + dy, gain
        return round(0.36 * width) + dx, round(0.56 * height) + dy, gain

    def face_box(self, t: float) -> tuple[int, int, int, int]:
        """The checkerboard "face" in pixels, (x0, y0, x1, y1), at time ``t``."""
        left, top, _gain = self._placement(t)
        cx, cy, rx, ry = self.head
        half = max(4, round(0.8 * min(rx, ry)))
        x0, y0 = round(left + cx) - half, round(top + cy) - half
        return x0, y0, x0 + 2 * half, y0 + 2 * half

    def _draw_face(self, plane: bytearray, left: int, top: int) -> None:
        """A high-detail texture where a face would be: what a filtered view must not show."""
        width, height = self.size
        cx, cy, rx, ry = self.head
        half = max(4, round(0.8 * min(rx, ry)))
        x0, y0 = round(left + cx) - half, round(top + cy) - half
        square = max(2, width // 160)
        for y in range(max(0, y0), min(height, y0 + 2 * half)):
            row = bytes(
                _FACE_LIGHT if ((x - x0) // square + (y - y0) // square) % 2 else _FACE_DARK
                for x in range(x0, x0 + 2 * half)
            )
            a, b = max(0, x0), min(width, x0 + 2 * half)
            plane[y * width + a : y * width + b] = row[a - x0 : b - x0]


def _grey_frame(luma: bytes, size: tuple[int, int]) -> av.VideoFrame:
    width, height = size
    frame = av.VideoFrame(width, height, "yuv420p")
    planes = (
        (luma, width, height),
        (b"\x80" * (width // 2 * height // 2), width // 2, height // 2),
        (b"\x80" * (width // 2 * height // 2), width // 2, height // 2),
    )
    for plane, (data, plane_w, plane_h) in zip(frame.planes, planes, strict=True):
        stride = plane.line_size
        if stride == plane_w:
            plane.update(data)
        else:
            pad = bytes(stride - plane_w)
            plane.update(
                b"".join(data[row * plane_w : (row + 1) * plane_w] + pad for row in range(plane_h))
            )
    return frame


def scene_frames(
    kind: SceneKind = "night",
    *,
    seconds: float = 20,
    fps: int = 10,
    size: tuple[int, int] = (640, 480),
    person: bool = True,
    pose: Pose = "in_bed",
    face: bool = False,
) -> Iterator[av.VideoFrame]:
    """Synthetic camera frames: a dim bedroom at night, a covered lens, or a frozen picture.

    ``night``: dark walls, a lighter bed, a softly lit person whose position and brightness drift
    slowly, mild sensor noise. ``black``: near-black with faint noise. ``still``: the night room
    at t=0 without noise, identical in every frame. ``pose`` puts the person in the bed (the
    default), on the floor beside it, or nowhere (as ``person=False``); ``face`` draws a
    checkerboard where the face is (see ``scene_face_box``), the detail a filtered view must hide.
    """
    width, height = size
    if width % 2 or height % 2 or width < 32 or height < 32:
        raise ValueError("size must be even and at least 32x32")
    room = None if kind == "black" else _NightRoom(size, person, pose, face)
    graph = None
    if kind != "still":
        graph = av.filter.Graph()
        source = graph.add_buffer(
            width=width, height=height, format="yuv420p", time_base=Fraction(1, fps)
        )
        blur = graph.add("gblur", "sigma=1.2")
        strength = "2" if kind == "black" else "5"
        noise = graph.add("noise", f"c0s={strength}:c0f=t")
        sink = graph.add("buffersink")
        source.link_to(blur)
        blur.link_to(noise)
        noise.link_to(sink)
        graph.configure()
    black = b"\x10" * (width * height)
    for index in range(max(1, round(seconds * fps))):
        t = 0.0 if kind == "still" else index / fps
        luma = black if room is None else room.luma(t)
        frame = _grey_frame(luma, size)
        frame.pts = index
        frame.time_base = Fraction(1, fps)
        if graph is not None:
            graph.push(frame)
            frame = graph.pull()
            frame.pts = index
            frame.time_base = Fraction(1, fps)
        yield frame


def _h264_encoder() -> str:
    for name in ("libx264", "libopenh264", "h264_v4l2m2m"):
        try:
            av.Codec(name, "w")
        except av.error.FFmpegError, ValueError:
            continue
        return name
    raise RuntimeError("this PyAV build has no H.264 encoder")


def write_scene_video(
    path: str | os.PathLike[str],
    kind: SceneKind = "night",
    *,
    seconds: float = 20,
    fps: int = 10,
    size: tuple[int, int] = (640, 480),
    person: bool = True,
    pose: Pose = "in_bed",
    face: bool = False,
) -> None:
    """Write a synthetic scene as H.264 (yuv420p, keyframe every 2 s) in an MP4 file.

    Written beside the target and renamed into place, so a reader never sees half a file.
    """
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    encoder = _h264_encoder()
    try:
        with av.open(str(partial), "w", format="mp4") as output:
            stream = output.add_stream(encoder, rate=fps)
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.codec_context.gop_size = 2 * fps
            if encoder == "libx264":
                # No B-frames and no scene-cut keyframes: the GOP is the camera-like 2 s.
                stream.codec_context.options = {
                    "preset": "veryfast",
                    "crf": "23",
                    "bf": "0",
                    "sc_threshold": "0",
                }
            frames = scene_frames(
                kind, seconds=seconds, fps=fps, size=size, person=person, pose=pose, face=face
            )
            for frame in frames:
                output.mux(stream.encode(frame))
            output.mux(stream.encode(None))
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def generate_night_scene(
    path: str | os.PathLike[str],
    *,
    seconds: float = 20,
    fps: int = 10,
    size: tuple[int, int] = (640, 480),
    person: bool = True,
    pose: Pose = "in_bed",
    face: bool = False,
) -> None:
    """Write a dim bedroom at night with a slowly moving person as an H.264 MP4."""
    write_scene_video(
        path, "night", seconds=seconds, fps=fps, size=size, person=person, pose=pose, face=face
    )


def scene_face_box(size: tuple[int, int], pose: Pose, t: float = 0.0) -> tuple[int, int, int, int]:
    """Where the checkerboard face of a night scene is at ``t`` seconds: (x0, y0, x1, y1) px."""
    return _NightRoom(size, True, pose, face=True).face_box(t)


def generate_black_video(
    path: str | os.PathLike[str],
    *,
    seconds: float = 4,
    fps: int = 10,
    size: tuple[int, int] = (640, 480),
) -> None:
    """Write a covered-lens video (near-black, faint noise) as an H.264 MP4."""
    write_scene_video(path, "black", seconds=seconds, fps=fps, size=size)


def generate_still_video(
    path: str | os.PathLike[str],
    *,
    seconds: float = 4,
    fps: int = 10,
    size: tuple[int, int] = (640, 480),
) -> None:
    """Write a frozen camera (the night room, identical in every frame) as an H.264 MP4."""
    write_scene_video(path, "still", seconds=seconds, fps=fps, size=size)
