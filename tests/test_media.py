"""The camera media layer against real streams: files, a GStreamer RTSP camera, HTTP MJPEG."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
import io
import itertools
import os
from pathlib import Path
import socket
import threading
import time

import av
import pytest

from custom_components.trygghetskamera import media
from simulators import scenes
from tests.media_sources import MjpegServer, RtspServer, free_port

PASSWORD = "pä@ss:w/rd%20"  # every character that needs percent-encoding in a URL

# The cameras here are real servers on loopback; Home Assistant's harness blocks Python sockets
# unless a test asks for them.
pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    paths = {kind: folder / f"{kind}.mp4" for kind in ("night", "black", "still")}
    scenes.generate_night_scene(paths["night"], seconds=10)
    scenes.generate_black_video(paths["black"], seconds=2)
    scenes.generate_still_video(paths["still"], seconds=2)
    return paths


# A camera per test: the GStreamer server starts in well under 0.1 s.
@pytest.fixture
def camera(socket_enabled: None) -> Iterator[RtspServer]:
    with RtspServer() as server:
        yield server


@pytest.fixture
def locked_camera(socket_enabled: None) -> Iterator[RtspServer]:
    with RtspServer(username="nattpatrull", password=PASSWORD) as server:
        yield server


@pytest.fixture
def at_wall_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Set the time at which a local file, playing a live camera, is looked at."""
    now = [0.0]
    monkeypatch.setattr(media, "_wall_clock", lambda: now[0])
    return now


def _frames(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


# --- URLs ---------------------------------------------------------------------------------------


def test_credentials_are_percent_encoded_into_network_urls() -> None:
    url = media.build_url("rtsp://10.0.0.5:554/stream1", "nattpatrull", PASSWORD)
    assert url == "rtsp://nattpatrull:p%C3%A4%40ss%3Aw%2Frd%2520@10.0.0.5:554/stream1"
    assert (
        media.build_url("http://[::1]:8080/video.mjpg", "u", "p")
        == "http://u:p@[::1]:8080/video.mjpg"
    )
    # The entry's credentials replace any already in the URL; none given keeps the URL as it is.
    assert media.build_url("rtsps://old:secret@cam/x", "new", "pw") == "rtsps://new:pw@cam/x"
    assert media.build_url("rtsp://old:secret@cam/x", None, None) == "rtsp://old:secret@cam/x"
    assert media.build_url("https://cam/x", "", "") == "https://cam/x"


def test_local_paths_pass_through_build_url(videos: dict[str, Path]) -> None:
    assert media.build_url(str(videos["night"]), "u", "p") == str(videos["night"])


def test_test_files_may_have_spaces_and_colons(videos: dict[str, Path], tmp_path: Path) -> None:
    """A file is no camera, but the tests' own entries on files still play it."""
    odd = tmp_path / "demo videos" / "natt: lgh 1203.mp4"
    odd.parent.mkdir()
    odd.write_bytes(videos["night"].read_bytes())
    assert not media.validate_url(str(odd))
    assert media.is_file_reference(str(odd))
    assert media.probe(str(odd), None, None).ok


def test_redacted_urls_carry_no_credentials() -> None:
    url = media.build_url("rtsp://cam.local:554/live?channel=1", "nattpatrull", PASSWORD)
    assert media.redact_url(url) == "rtsp://cam.local:554/live?channel=1"
    redacted = media.redact_url("http://cam/videostream.cgi?user=admin&pwd=hemligt&rate=10")
    assert "admin" not in redacted
    assert "hemligt" not in redacted
    assert "rate=10" in redacted


def test_valid_urls_are_network_streams_only(videos: dict[str, Path]) -> None:
    for url in (
        "rtsp://192.168.1.20:554/stream1",
        "rtsps://cam.example/live",
        "http://cam/video.mjpg",
        "https://user:pw@cam:8443/mjpeg",
        "RTSP://CAM/Stream",
    ):
        assert media.validate_url(url), url
        assert not media.is_file_reference(url), url
    for url in (
        "",
        "   ",
        "not a url",
        "rtsp://",
        "http://cam:notaport/",
        "ftp://cam/video",
        "rtsp://cam/\r\nInjected: header",
        "rtsp://cam/my stream",
    ):
        assert not media.validate_url(url), url
        assert not media.is_file_reference(url), url
    # A file is never a camera, whether it exists or not: named so that the flows can say so.
    for url in (
        str(videos["night"]),
        f"file://{videos['night']}",
        "file:///etc/passwd",
        "FILE:/etc/passwd",
        "/no/such/file.mp4",
        "./bedroom.mp4",
        "../media/./bedroom.mp4",
        "~/videos/natt.mp4",
        r"C:\videos\natt.mp4",
        str(videos["night"].parent),  # a folder is no camera either
    ):
        assert not media.validate_url(url), url
        assert media.is_file_reference(url), url


# --- probing local files ------------------------------------------------------------------------


def test_night_scene_file_probes_ok_with_signature_and_size(videos: dict[str, Path]) -> None:
    result = media.probe(str(videos["night"]), None, None)
    assert result.ok
    assert result.reason is None
    assert (result.width, result.height) == (640, 480)
    assert result.signature is not None
    assert len(result.signature) == 128
    int(result.signature, 16)
    assert 0 <= result.ms < 2000


def test_missing_file_is_an_invalid_url(tmp_path: Path) -> None:
    # A path that does not exist is not a stream URL at all, exactly as validate_url (and so the
    # config flow) judges it; cannot_connect is kept for network streams.
    result = media.probe(str(tmp_path / "gone.mp4"), None, None)
    assert (result.ok, result.reason, result.signature) == (False, "invalid_url", None)


@pytest.mark.parametrize("url", ["", "not a url", "rtsp://", "ftp://cam/video", "rtsp://a b/"])
def test_garbage_url_is_an_invalid_url(url: str) -> None:
    result = media.probe(url, "user", "pw")
    assert (result.ok, result.reason) == (False, "invalid_url")


def test_file_that_is_no_video_has_no_video(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_bytes(b"this is not a video " * 100)
    assert media.probe(str(path), None, None).reason == "no_video"


def test_covered_lens_is_black(videos: dict[str, Path]) -> None:
    result = media.probe(str(videos["black"]), None, None)
    assert (result.ok, result.reason) == (False, "black")


def test_dim_night_room_is_not_black(videos: dict[str, Path]) -> None:
    frame = _frames(videos["night"])[0]
    mean, stddev = media.luma_stats(frame)
    assert mean < 60, "the scene should be a dim room"
    assert not media.is_black(frame)
    assert stddev > 10


def test_still_picture_probed_twice_is_frozen(
    videos: dict[str, Path], at_wall_clock: list[float]
) -> None:
    first = media.probe(str(videos["still"]), None, None)
    assert first.ok
    at_wall_clock[0] = 1.3  # a different frame of the file, showing the same picture
    second = media.probe(str(videos["still"]), None, None, last_signature=first.signature)
    assert (second.ok, second.reason) == (False, "frozen")


def test_night_scene_probed_seconds_apart_is_not_frozen(
    videos: dict[str, Path], at_wall_clock: list[float]
) -> None:
    for start in (0.0, 2.5, 5.0, 6.5):
        at_wall_clock[0] = start
        first = media.probe(str(videos["night"]), None, None)
        at_wall_clock[0] = start + 3.0
        second = media.probe(str(videos["night"]), None, None, last_signature=first.signature)
        assert second.ok, (start, second.reason)


def test_file_plays_a_live_camera_so_probes_follow_the_clock(
    videos: dict[str, Path], at_wall_clock: list[float]
) -> None:
    at_wall_clock[0] = 4.0
    first = media.probe(str(videos["night"]), None, None)
    # The same moment (or the same moment one loop later) is the same picture.
    at_wall_clock[0] = 14.0
    again = media.probe(str(videos["night"]), None, None, last_signature=first.signature)
    assert again.reason == "frozen"


# Issue 20: the demo's file camera, looked at 19.96-19.98 s into its 20 s loop, found no frame
# at or after that position (its last frame starts at 19.9 s) and said `no_video`.
@pytest.mark.parametrize("into_last_frame", [0.0, 0.04, 0.06, 0.08, 0.099])
def test_file_looked_at_during_its_last_frame_shows_that_frame(
    videos: dict[str, Path], at_wall_clock: list[float], into_last_frame: float
) -> None:
    last_frame = _frames(videos["night"])[-1]
    at_wall_clock[0] = 10 * 7 + float(last_frame.time) + into_last_frame  # the 10 s file, looped
    result = media.probe(str(videos["night"]), None, None)
    assert result.ok, result.reason
    assert result.signature == media.frame_signature(last_frame)

    stop = threading.Event()
    shown = []
    for frame in media.iter_frames(str(videos["night"]), None, None, stop=stop, timeout_s=5):
        shown.append(frame.time)
        if len(shown) == 3:
            stop.set()
    # The last frame first, then the loop goes on from the start.
    assert shown == pytest.approx([last_frame.time, 0.0, 0.1]), shown


def test_signature_ignores_encoder_noise_but_not_movement(videos: dict[str, Path]) -> None:
    rendered = list(scenes.scene_frames("still", seconds=0.1))
    decoded = _frames(videos["still"])
    reference = media.frame_signature(rendered[0])
    # Every decoded frame (I and P frames after lossy H.264) matches the rendered original.
    assert all(media.signatures_match(reference, media.frame_signature(f)) for f in decoded)

    night = [media.frame_signature(f) for f in _frames(videos["night"])]
    fps = 10
    for i in range(len(night) - 3 * fps):
        assert not media.signatures_match(night[i], night[i + 3 * fps]), i
    # Sensor noise from frame to frame rarely reaches the tolerance.
    next_frame_matches = [media.signatures_match(a, b) for a, b in itertools.pairwise(night)]
    assert sum(next_frame_matches) / len(next_frame_matches) > 0.8


def test_signature_is_no_picture() -> None:
    frame = next(scenes.scene_frames("night", seconds=0.1))
    signature = media.frame_signature(frame)
    # 512 bits for a 640x480 picture: two brightness levels of a 16x16 grid, nothing more.
    assert len(bytes.fromhex(signature)) == 64


# --- RTSP ---------------------------------------------------------------------------------------


def test_rtsp_camera_probes_ok_fast() -> None:
    # A keyframe every half second: the wait for it is the camera's, not the probe's.
    with RtspServer(gop=5) as camera:
        result = media.probe(camera.url, None, None)
    assert result.ok, result.reason
    assert (result.width, result.height) == (640, 480)
    # Minimal probing: the RTSP handshake plus the camera's next frame, not FFmpeg's 5 s.
    assert result.ms < 1500


def test_rtsp_first_frame_is_whole_with_minimal_probing(camera: RtspServer) -> None:
    with media.open_stream(camera.url, None, None, 10) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(media.luma_stats(frame))
            if len(frames) == 5:
                break
    # A torn first frame (half the slices missing) has a far lower mean than whole ones.
    means = [mean for mean, _ in frames]
    assert max(means) - min(means) < 3, means


def test_rtsp_closed_port_cannot_connect_fast() -> None:
    started = time.monotonic()
    result = media.probe(f"rtsp://127.0.0.1:{free_port()}/cam", None, None)
    assert (result.ok, result.reason) == (False, "cannot_connect")
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_silent_server_gives_up_within_the_timeout(scheme: str) -> None:
    # Accepts the TCP connection (the kernel does, from the backlog) and never says a word.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = media.probe(f"{scheme}://127.0.0.1:{port}/cam", None, None, timeout_s=1.0)
        elapsed = time.monotonic() - started
    assert (result.ok, result.reason) == (False, "cannot_connect")
    assert 0.9 < elapsed < 2.5


def test_rtsp_wrong_password_is_invalid_auth(locked_camera: RtspServer) -> None:
    result = media.probe(locked_camera.url, "nattpatrull", "fel-lösenord")
    assert (result.ok, result.reason) == (False, "invalid_auth")


def test_rtsp_without_credentials_is_invalid_auth(locked_camera: RtspServer) -> None:
    assert media.probe(locked_camera.url, None, None).reason == "invalid_auth"


def test_rtsp_right_password_is_ok(locked_camera: RtspServer) -> None:
    result = media.probe(locked_camera.url, "nattpatrull", PASSWORD)
    assert result.ok, result.reason


def test_rtsp_wrong_path_cannot_connect(camera: RtspServer) -> None:
    assert media.probe(camera.url + "-nope", None, None).reason == "cannot_connect"


def test_rtsp_black_camera_is_black() -> None:
    with RtspServer(pattern="black") as black:
        assert media.probe(black.url, None, None).reason == "black"


def test_rtsp_camera_showing_a_still_picture_is_frozen() -> None:
    # smpte colour bars never move: the next probe sees the same picture.
    with RtspServer(pattern="smpte") as still:
        first = media.probe(still.url, None, None)
        second = media.probe(still.url, None, None, last_signature=first.signature)
    assert first.ok
    assert second.reason == "frozen"


def test_rtsp_camera_joined_mid_gop_gives_a_whole_first_frame() -> None:
    # A keyframe every 4 s. A first viewer waits for one; a second joins right after it, so
    # nearly a whole GOP of frames that need the keyframe it missed comes before the next one.
    with RtspServer(gop=40) as camera:
        with media.open_stream(camera.url, None, None, 10) as watching:
            for packet in watching.demux(video=0):
                if packet.is_keyframe:
                    break
        with media.open_stream(camera.url, None, None, 10) as joining:
            stream = joining.streams.video[0]
            packets = joining.demux(stream)
            first = next(packets)
            # The camera kept its GOP for the newcomer: it starts between keyframes.
            assert not first.is_keyframe
            # What media decodes for a live look: nothing until the keyframe, then whole frames.
            decoded = media._decoded_frames(joining, media._video_stream(joining), 10)
            means = [media.luma_stats(frame)[0] for frame in itertools.islice(decoded, 5)]
        result = media.probe(camera.url, None, None)
    # A torn first frame (half the slices missing) has a far lower mean than whole ones.
    assert max(means) - min(means) < 3, means
    assert result.ok, result.reason


# --- HTTP MJPEG ---------------------------------------------------------------------------------


def test_mjpeg_camera_probes_ok() -> None:
    with MjpegServer() as server:
        result = media.probe(server.url, None, None)
    assert result.ok, result.reason
    assert (result.width, result.height) == (640, 480)


@pytest.mark.parametrize("reject_status", [401, 403])
def test_mjpeg_camera_with_auth(reject_status: int) -> None:
    with MjpegServer(username="nattpatrull", password=PASSWORD, reject_status=reject_status) as srv:
        assert media.probe(srv.url, None, None).reason == "invalid_auth"
        assert media.probe(srv.url, "nattpatrull", "fel").reason == "invalid_auth"
        assert media.probe(srv.url, "nattpatrull", PASSWORD).ok


def test_live_mjpeg_camera_shows_the_moment_a_client_comes() -> None:
    """The demo's camera renders the scene at the wall clock: later is another picture.

    A looped clip would show the same frame to probes a whole number of loops apart (minutes
    are whole numbers of a 20 s loop), and the health monitor would call the camera frozen.
    """
    camera = MjpegServer(live=True, size=(320, 240))

    def signature_at(now: float) -> str:
        jpeg = next(camera.frames_from(now))
        with av.open(io.BytesIO(jpeg)) as container:
            return media.frame_signature(next(container.decode(video=0)))

    now = 1_764_500_000.0
    assert media.signatures_match(signature_at(now), signature_at(now))
    for later in (5.0, 20.0, 60.0, 3600.0):
        assert not media.signatures_match(signature_at(now), signature_at(now + later)), later
    with camera:
        result = media.probe(camera.url, None, None)
    assert result.ok, result.reason


def test_mjpeg_black_camera_is_black() -> None:
    with MjpegServer(kind="black", seconds=1) as server:
        assert media.probe(server.url, None, None).reason == "black"


def test_camera_sending_parts_that_are_no_pictures_has_no_video() -> None:
    with MjpegServer(seconds=0.1) as server:
        server.jpegs = [b"\xff\xd8 this is no picture \xff\xd9"]
        started = time.monotonic()
        result = media.probe(server.url, None, None, timeout_s=2.0)
    assert (result.ok, result.reason) == (False, "no_video")
    assert time.monotonic() - started < 3.0


def test_http_stream_that_is_not_mjpeg_is_still_read(
    videos: dict[str, Path], tmp_path: Path
) -> None:
    # Some cameras serve MPEG-TS over http: the MJPEG demuxer refuses it, detection finds it.
    with av.open(str(videos["night"])) as source, av.open(str(tmp_path / "cam.ts"), "w") as ts:
        stream = ts.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                ts.mux(packet)
    handler = functools.partial(_QuietFiles, directory=str(tmp_path))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            port = server.server_address[1]
            ok = media.probe(f"http://127.0.0.1:{port}/cam.ts", None, None)
            page = media.probe(f"http://127.0.0.1:{port}/", None, None)
            missing = media.probe(f"http://127.0.0.1:{port}/none.mjpg", None, None)
        finally:
            server.shutdown()
    assert ok.ok, ok.reason
    assert page.reason == "no_video"
    assert missing.reason == "cannot_connect"


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def copyfile(self, source, outputfile) -> None:
        # The prober hangs up after one frame, as it should.
        with contextlib.suppress(ConnectionError):
            super().copyfile(source, outputfile)


# --- opening ------------------------------------------------------------------------------------


def test_codec_unknown_after_minimal_probing_reopens_with_more(
    videos: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    probings: list[dict[str, str]] = []
    real_open = media._open_once

    def recording_open(*args):
        probings.append(args[3])
        return real_open(*args)

    monkeypatch.setattr(media, "_open_once", recording_open)
    monkeypatch.setattr(media, "_needs_more_probing", lambda container: True)
    with media.open_stream(str(videos["night"]), None, None, 5) as container:
        frame = next(container.decode(video=0))
    assert probings == [media._MINIMAL_PROBING, media._FALLBACK_PROBING]
    assert (frame.width, frame.height) == (640, 480)


# --- live frames --------------------------------------------------------------------------------


def test_rtsp_frames_keep_coming_until_stopped(camera: RtspServer) -> None:
    stop = threading.Event()
    started = time.monotonic()
    frames = []
    for frame in media.iter_frames(camera.url, None, None, stop=stop, timeout_s=5):
        frames.append(frame)
        if len(frames) == 15:
            stop.set()
        assert time.monotonic() - started < 10, "15 frames of a 10 fps camera took too long"
    assert len(frames) == 15
    # 10 fps: 15 frames is about 1.4 s after the first one.
    assert time.monotonic() - started < 5


def test_stop_from_another_thread_ends_the_stream_promptly(camera: RtspServer) -> None:
    stop = threading.Event()
    ended = threading.Event()
    count = 0

    def watch() -> None:
        nonlocal count
        for _ in media.iter_frames(camera.url, None, None, stop=stop, timeout_s=5):
            count += 1
        ended.set()

    viewer = threading.Thread(target=watch, daemon=True)
    viewer.start()
    deadline = time.monotonic() + 10
    while count < 3:
        assert time.monotonic() < deadline, "no frames"
        assert not ended.wait(0.05)
    stop.set()
    assert ended.wait(2), "iter_frames did not end within a couple of frame intervals"
    viewer.join(2)


def test_frames_are_scaled_down_keeping_aspect(camera: RtspServer) -> None:
    stop = threading.Event()
    frame = next(media.iter_frames(camera.url, None, None, max_width=320, stop=stop))
    assert (frame.width, frame.height) == (320, 240)
    big = next(media.iter_frames(camera.url, None, None, max_width=1280, stop=stop))
    assert (big.width, big.height) == (640, 480)


def test_file_plays_at_its_own_rate_and_loops(tmp_path: Path) -> None:
    path = tmp_path / "short.mp4"
    scenes.generate_night_scene(path, seconds=1, fps=10)
    stop = threading.Event()
    started = time.monotonic()
    count = 0
    for _ in media.iter_frames(str(path), None, None, stop=stop):
        count += 1
        if count == 16:  # past the end of the one-second file
            stop.set()
    elapsed = time.monotonic() - started
    assert count == 16
    # Paced by timestamps: 15 frame intervals of 0.1 s, not as fast as decoding allows.
    assert 1.3 < elapsed < 3.0


def test_unreachable_stream_raises_stream_error() -> None:
    with pytest.raises(media.StreamError) as err:
        next(
            media.iter_frames(
                f"rtsp://127.0.0.1:{free_port()}/cam", None, None, stop=threading.Event()
            )
        )
    assert err.value.reason == "cannot_connect"


def test_wrong_password_is_logged_without_it(locked_camera: RtspServer) -> None:
    with pytest.raises(media.StreamError) as err:
        media.open_stream(locked_camera.url, "nattpatrull", "fel-lösenord", 5)
    assert err.value.reason == "invalid_auth"
    assert "fel" not in str(err.value)
    assert "nattpatrull" not in str(err.value)


# --- JPEG ---------------------------------------------------------------------------------------


def test_jpeg_is_valid_and_no_wider_than_asked(camera: RtspServer) -> None:
    stop = threading.Event()
    frame = next(media.iter_frames(camera.url, None, None, max_width=480, stop=stop))
    jpeg = media.encode_jpeg(frame, quality=75)
    assert jpeg.startswith(b"\xff\xd8")
    assert jpeg.endswith(b"\xff\xd9")
    with av.open(io.BytesIO(jpeg)) as container:
        decoded = next(container.decode(video=0))
    assert decoded.width <= 480
    assert (decoded.width, decoded.height) == (480, 360)
    # Same picture: brightness survives the trip through JPEG.
    assert abs(media.luma_stats(decoded)[0] - media.luma_stats(frame)[0]) < 2


def test_jpeg_quality_trades_size(videos: dict[str, Path]) -> None:
    frame = _frames(videos["night"])[0]
    sizes = [len(media.encode_jpeg(frame, quality=q)) for q in (30, 75, 95)]
    assert sizes[0] < sizes[1] < sizes[2]
    # The same frame twice (a reused encoder) gives the same bytes and leaves its timestamp.
    pts = frame.pts
    assert media.encode_jpeg(frame) == media.encode_jpeg(frame)
    assert frame.pts == pts


# --- nothing on disk ----------------------------------------------------------------------------


def test_probing_and_viewing_write_no_file(
    videos: dict[str, Path],
    camera: RtspServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    before = sorted(os.listdir(videos["night"].parent))
    stop = threading.Event()
    assert media.probe(str(videos["night"]), None, None).ok
    assert media.probe(camera.url, None, None).ok
    with MjpegServer(seconds=1) as mjpeg:
        assert media.probe(mjpeg.url, None, None).ok
    for url in (camera.url, str(videos["night"])):
        for count, frame in enumerate(media.iter_frames(url, None, None, stop=stop), 1):
            media.encode_jpeg(frame)
            if count == 5:
                break
    assert os.listdir(workdir) == []
    assert sorted(os.listdir(videos["night"].parent)) == before


# --- the synthetic scenes -----------------------------------------------------------------------


def test_night_scene_is_h264_with_two_second_gop_and_moving_person(
    videos: dict[str, Path],
) -> None:
    with av.open(str(videos["night"])) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (640, 480)
        keyframes = [i for i, p in enumerate(container.demux(stream)) if p.is_keyframe]
    assert keyframes[:3] == [0, 20, 40]
    frames = _frames(videos["night"])
    assert len(frames) == 100
    # Consecutive frames differ: the person drifts and the light breathes.
    first, second = (bytes(f.planes[0]) for f in frames[10:12])
    assert first != second


def test_empty_room_is_still_a_room(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    scenes.generate_night_scene(path, seconds=1, person=False)
    result = media.probe(str(path), None, None)
    assert result.ok, result.reason


def test_scene_needs_an_even_size() -> None:
    with pytest.raises(ValueError, match="even"):
        next(scenes.scene_frames("night", size=(641, 480)))
