"""A real RTSP camera on loopback, served by Debian's GStreamer RTSP server.

Run by the system Python (``/usr/bin/python3``, which has ``gi``; Debian 12 ships 3.11, so this
file keeps to 3.11 syntax), never imported by the tests:
``tests/media_sources.py`` starts it as a subprocess. It binds port 0 on 127.0.0.1 so the kernel
picks a free port without a race, prints ``PORT <n>`` on stdout once it is listening, and runs
until it is terminated.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def _pipeline(pattern: str, width: int, height: int, fps: int, gop: int) -> str:
    # key-int-max bounds the wait for a keyframe that a client joining mid-stream has to make;
    # zerolatency keeps x264 from buffering frames, like a camera's hardware encoder. One thread
    # means one slice per frame: with zerolatency's sliced threads, rtph264pay's parameter sets
    # before every IDR slice make FFmpeg's parser cut each keyframe into torn halves, which no
    # real camera sends.
    return (
        # The ball's position follows the wall clock, so a client connecting later sees it
        # elsewhere even though every client gets its own pipeline: a live camera, not a replay.
        # A dim grey background, so the ball pattern is a picture rather than a covered lens.
        f"( videotestsrc is-live=true pattern={pattern} animation-mode=wall-time "
        "background-color=0xff404040 "
        f"! video/x-raw,width={width},height={height},framerate={fps}/1 "
        "! videoconvert ! video/x-raw,format=I420 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast threads=1 key-int-max={gop} "
        "! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


def main() -> None:
    """Serve one test camera at rtsp://127.0.0.1:<port><path> until terminated."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--pattern", default="ball")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--gop", type=int, default=20)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--shared", action="store_true")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(_pipeline(args.pattern, args.width, args.height, args.fps, args.gop))
    # Shared: every client watches the same running encoder, so a client joins mid-GOP as it
    # would on a real camera. Not shared: each client gets its own pipeline, starting on a
    # keyframe.
    factory.set_shared(args.shared)
    # A shared camera keeps running when its last viewer leaves, so the next one can join.
    factory.set_stop_on_disconnect(not args.shared)

    if args.username is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        basic = GstRtspServer.RTSPAuth.make_basic(args.username, args.password or "")
        auth.add_basic(basic, token)
        server.set_auth(auth)
        factory.add_role_from_structure(
            Gst.Structure.new_from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
        )

    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        sys.exit("could not attach the RTSP server")

    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    # The end of stdin (a pipe from whoever started us) means they are gone, even if killed
    # without warning: stop rather than serve on as an orphan.
    GLib.io_add_watch(
        GLib.IOChannel.unix_new(sys.stdin.fileno()),
        GLib.PRIORITY_DEFAULT,
        GLib.IOCondition.HUP | GLib.IOCondition.IN | GLib.IOCondition.ERR,
        lambda *_: loop.quit() or False,
    )
    print(f"PORT {server.get_bound_port()}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
