"""Camera media: open a stream, probe it, decode live frames, encode JPEG.

Everything here blocks and imports nothing from Home Assistant: the HA layer runs it in an
executor or a thread. Only PyAV is needed (no numpy, no Pillow), so the manifest's single
requirement covers it.

Privacy: nothing visual is written anywhere. Probing keeps a 16x16 two-level hash of the picture
(which cannot be turned back into an image of the room) and throws the frame away; live frames
only ever exist in memory.

A camera is a network stream (``validate_url``): the config and reconfigure flows accept nothing
else. Opening also plays a local video file as if it were a live camera, for the tests' config
entries made directly on generated videos (``simulators/scenes.py``); no flow can lead here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
import math
import os
import re
import threading
import time
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import av
import av.container
import av.error
from av.video.codeccontext import VideoCodecContext
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
    """Tell whether ``url`` is a camera's address: rtsp, rtsps, http or https, with a host.

    This is what the config and reconfigure flows accept; a local file is never a camera.
    """
    if not isinstance(url, str) or not url.strip() or any(ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a port that is not a number or out of range
    except ValueError:
        return False
    # A space is no part of a URL (it would be %20).
    return parts.scheme.lower() in NETWORK_SCHEMES and bool(parts.hostname) and " " not in url


# A Windows drive letter ("C:\videos\x.mp4"): a path, though urlsplit reads "c" as a scheme.
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def is_file_reference(url: str) -> bool:
    """Tell whether ``url`` names a local file (a path or ``file:`` URL) instead of a camera."""
    if not isinstance(url, str) or not url.strip():
        return False
    url = url.strip()
    if urlsplit(url).scheme.lower() == "file" or _DRIVE.match(url):
        return True
    if "://" in url:
        return False
    return url.startswith(("/", "./", "../", "~")) or os.path.isfile(url)


def _is_local_video(url: str) -> bool:
    """An existing local file: played as a camera for the tests' entries, never from a flow."""
    return (
        isinstance(url, str)
        and "://" not in url
        and not any(ord(c) < 32 for c in url)
        and os.path.isfile(url)
    )


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


def redact_url(url: object) -> str:
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
    if not validate_url(url) and not _is_local_video(url):
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


def _frame_interval(stream: av.video.stream.VideoStream) -> float:
    return 1 / float(stream.average_rate or stream.guessed_rate or 10)


def _from_live_position(
    frames: Iterator[av.VideoFrame], position: float, interval: float
) -> Iterator[av.VideoFrame]:
    """Start a file's frames with the one on screen at ``position`` (s): the last to begin by then.

    After a seek the decoder restarts at the keyframe before the position, so the frames over
    before it are dropped. The one on screen may be the file's last: a look 19.97 s into a 20 s
    loop sees the frame shown from 19.9 s, not nothing.
    """
    on_screen: av.VideoFrame | None = None
    previous: float | None = None
    for frame in frames:
        frame_time = _frame_time(frame)
        if frame_time is None:
            frame_time = previous + interval if previous is not None else 0.0
        previous = frame_time
        # A frame starting within a microsecond of the position is the one on screen at it.
        if frame_time <= position + 1e-6:
            on_screen = frame
            continue
        if on_screen is not None:
            yield on_screen
        yield frame
        yield from frames
        return
    if on_screen is not None:
        yield on_screen


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
    on_open: Callable[[], None] | None = None,
) -> ProbeResult:
    """Connect, decode one video frame, judge it and close, within ``timeout_s``.

    ``reason`` is None when ``ok``, else ``invalid_url`` (also for a local file that does not
    exist), ``cannot_connect``, ``invalid_auth``, ``no_video``, ``black`` or ``frozen`` (the
    picture matches ``last_signature``). The signature is returned whenever a frame was decoded,
    so the caller can pass it back next time. ``on_open`` is called once the stream plays (to ask
    the camera for a keyframe now).
    """
    started = time.monotonic()

    def elapsed_ms() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        container = open_stream(stream_url, username, password, timeout_s)
    except StreamError as err:
        return ProbeResult(ok=False, reason=err.reason, ms=elapsed_ms())
    try:
        if on_open is not None:
            on_open()
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
    frames = _decoded_frames(container, stream, max(0.0, deadline - time.monotonic()))
    if _is_local(container):
        position = _seek_to_live_position(container, stream)
        frames = _from_live_position(frames, position, _frame_interval(stream))
    for frame in frames:
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
    on_open: Callable[[], None] | None = None,
) -> Iterator[av.VideoFrame]:
    """Decode frames continuously, scaled to at most ``max_width``, until ``stop`` is set.

    A local file loops forever at its own frame rate, starting where a live camera would be now
    (see ``_wall_clock``), so it behaves like a camera. Raises ``StreamError`` if the stream
    cannot be opened, or if it ends or delivers no frame for ``timeout_s`` (a live camera does
    neither). ``stop`` is checked between frames, so it takes effect within one frame interval.
    ``on_open`` is called once the stream plays (to ask the camera for a keyframe now).
    """
    if stop.is_set():
        return
    container = open_stream(stream_url, username, password, timeout_s)
    try:
        if on_open is not None:
            on_open()
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
    interval = _frame_interval(stream)
    position = _seek_to_live_position(container, stream)
    started = time.monotonic()
    timeline_offset = -position  # file time + offset = seconds since started
    frames = _from_live_position(_decoded_frames(container, stream, timeout_s), position, interval)
    while not stop.is_set():
        produced = False
        previous: float | None = None
        for frame in frames:
            frame_time = _frame_time(frame)
            if frame_time is None:
                frame_time = previous + interval if previous is not None else 0.0
            previous = frame_time
            produced = True
            # Pace by presentation time, so the file plays at its own rate, not as fast as it
            # decodes (the frame on screen at the live position is due at once); waiting on the
            # event keeps a stop request prompt.
            delay = started + frame_time + timeline_offset - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            if stop.is_set():
                return
            yield _scaled(frame, max_width)
        if not produced or duration <= 0:
            raise StreamError(REASON_NO_VIDEO, "file has no decodable frames")
        timeline_offset += duration
        container.seek(0, stream=stream, backward=True)
        frames = _decoded_frames(container, stream, timeout_s)


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


def _jpeg_encoder(width: int, height: int, quality: int) -> VideoCodecContext:
    # One encoder per thread, size and quality: creating one adds 40 % to an encode (1.5 ms
    # instead of 1.1 ms at 640x480), and a codec context must not be shared between threads.
    key = (width, height, quality)
    cache: dict[tuple[int, int, int], VideoCodecContext] = getattr(_jpeg_encoders, "cache", {})
    _jpeg_encoders.cache = cache
    encoder = cache.get(key)
    if encoder is None:
        if len(cache) > 4:
            cache.clear()
        encoder = av.CodecContext.create("mjpeg", "w")
        assert isinstance(encoder, VideoCodecContext)
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
