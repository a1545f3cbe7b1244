"""A real RTSP camera on loopback, served by Debian's GStreamer RTSP server.

Run by the system Python (``/usr/bin/python3``, which has ``gi``; Debian 12 ships 3.11, so this
file keeps to 3.11 syntax), never imported by the tests:
``tests/media_sources.py`` starts it as a subprocess. It binds port 0 on 127.0.0.1 so the kernel
picks a free port without a race, prints ``PORT <n>`` on stdout once it is listening (and, with
``--onvif``, ``ONVIF <n>`` before it), and runs until it is terminated or its stdin ends.

Like a real camera, it has one encoder that runs from the start, whether anybody watches or not,
with a fixed keyframe interval (``--gop`` frames): every viewer shares it and joins wherever the
GOP is, so a viewer waits for the next keyframe. GStreamer's RTSP server would otherwise answer
each PLAY with a flushing seek, which restarts the encoder and hands every viewer a keyframe at
once; the source here refuses seeks, as a camera's sensor would. ``--fresh-encoder`` gives each
viewer its own pipeline instead, which starts on a keyframe: a kind camera, for comparison only.

With ``--onvif`` it also answers the few ONVIF device and media calls a client needs to find the
camera's profile and ask for a keyframe now (``SetSynchronizationPoint``), which sends
GStreamer's force-key-unit event into the encoder.
"""

import argparse
import base64
import datetime
import hashlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import signal
import sys
import threading
from xml.etree import ElementTree

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer, GstVideo  # noqa: E402


def _camera_pipeline(pattern: str, width: int, height: int, fps: int, channel: str) -> str:
    # The sensor: runs from the start whether anybody watches or not, like a camera's.
    # The ball's position follows the wall clock, a live camera rather than a replay.
    # A dim grey background, so the ball pattern is a picture rather than a covered lens.
    return (
        f"videotestsrc is-live=true pattern={pattern} animation-mode=wall-time "
        "background-color=0xff404040 "
        f"! video/x-raw,width={width},height={height},framerate={fps}/1 "
        f"! intervideosink channel={channel}"
    )


def _stream_pipeline(width: int, height: int, fps: int, gop: int, channel: str) -> str:
    # intervideosrc cannot seek: GStreamer's RTSP server answers a PLAY with a flushing seek on
    # a seekable source, and the flush restarts the encoder, handing each viewer a keyframe.
    # The leaky queue keeps the sensor's side running while nobody plays the stream (GStreamer
    # blocks an RTSP media's output until a viewer plays it): a blocked source would fall behind
    # the clock and then send its backlog as fast as it encodes, several times the frame rate.
    # key-int-max is the camera's keyframe interval; zerolatency keeps x264 from buffering
    # frames, like a camera's hardware encoder. One thread means one slice per frame: with
    # zerolatency's sliced threads, rtph264pay's parameter sets before every IDR slice make
    # FFmpeg's parser cut each keyframe into torn halves, which no real camera sends.
    return (
        f"( intervideosrc channel={channel} timeout=18446744073709551615 "
        "! queue leaky=downstream max-size-buffers=1 max-size-time=0 max-size-bytes=0 "
        f"! video/x-raw,width={width},height={height},framerate={fps}/1 "
        "! videoconvert ! video/x-raw,format=I420 "
        f"! x264enc name=encoder tune=zerolatency speed-preset=ultrafast threads=1 "
        f"key-int-max={gop} "
        "! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


class _OneStreamPerPath(GstRtspServer.RTSPMediaFactory):
    """A shared factory whose viewers share one media whatever the URL's query says.

    GStreamer keys a shared media by port, path and query; a camera serves the same stream
    to ``/cam?home=1`` and ``/cam?home=2``, which gives many test homes distinct URLs of one
    camera.
    """

    def do_gen_key(self, url: GstRtsp.RTSPUrl) -> str:
        return url.abspath


class Camera:
    """One camera: its sensor pipeline and its encoder, for ONVIF to ask for a keyframe."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.token = path.strip("/").replace("/", "_") or "main"
        self.sensor: Gst.Element | None = None
        self.media: GstRtspServer.RTSPMedia | None = None

    def force_keyframe(self) -> bool:
        """Ask the encoder for a keyframe now (what a camera does on SetSynchronizationPoint)."""
        if self.media is None:
            return False
        encoder = self.media.get_element().get_by_name("encoder")
        event = GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0)
        # Sending an event into a running pipeline is thread-safe in GStreamer.
        return encoder.get_static_pad("src").send_event(event)


# --- ONVIF --------------------------------------------------------------------------------------

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "ter": "http://www.onvif.org/ver10/error",
}


def _envelope(body: str) -> bytes:
    namespaces = " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items())
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope {namespaces}>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _fault(subcode: str, text: str) -> bytes:
    return _envelope(
        "<s:Fault><s:Code><s:Value>s:Sender</s:Value>"
        f"<s:Subcode><s:Value>{subcode}</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en">{text}</s:Text></s:Reason></s:Fault>'
    )


class _OnvifHandler(BaseHTTPRequestHandler):
    server: "_OnvifServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: stderr is the starter's crash report."""

    def do_POST(self) -> None:
        """Answer one SOAP call: find the operation, check the credentials, reply."""
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            envelope = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            self._reply(400, _fault("ter:WellFormed", "not XML"))
            return
        request = envelope.find("s:Body/*", NS)
        operation = request.tag.rpartition("}")[2] if request is not None else ""
        # GetSystemDateAndTime is the one call ONVIF lets through without credentials.
        if operation != "GetSystemDateAndTime" and not self._authorised(envelope):
            self._reply(400, _fault("ter:NotAuthorized", "Sender not authorized"))
            return
        answer = getattr(self, f"_op_{operation}", None)
        if answer is None:
            self._reply(400, _fault("ter:ActionNotSupported", f"{operation} not supported"))
            return
        reply = answer(request)
        if reply is None:
            self._reply(400, _fault("ter:NoProfile", "no such profile"))
            return
        self._reply(200, _envelope(reply))

    def _reply(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _authorised(self, envelope: ElementTree.Element) -> bool:
        """WS-Security UsernameToken with a password digest, as ONVIF clients send it."""
        username, password = self.server.credentials
        if username is None:
            return True
        token = envelope.find("s:Header/wsse:Security/wsse:UsernameToken", NS)
        if token is None:
            return False
        given_user = token.findtext("wsse:Username", "", NS)
        digest = token.findtext("wsse:Password", "", NS)
        nonce = base64.b64decode(token.findtext("wsse:Nonce", "", NS) or "")
        created = token.findtext("wsu:Created", "", NS) or ""
        expected = base64.b64encode(
            hashlib.sha1(nonce + created.encode() + (password or "").encode()).digest()
        ).decode()
        return given_user == username and digest == expected

    def _xaddr(self, service: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/onvif/{service}"

    def _op_GetSystemDateAndTime(self, _request: ElementTree.Element) -> str:
        now = datetime.datetime.now(datetime.UTC)
        return (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
            "<tt:UTCDateTime>"
            f"<tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
            f"<tt:Second>{now.second}</tt:Second></tt:Time>"
            f"<tt:Date><tt:Year>{now.year}</tt:Year><tt:Month>{now.month}</tt:Month>"
            f"<tt:Day>{now.day}</tt:Day></tt:Date>"
            "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    def _op_GetServices(self, _request: ElementTree.Element) -> str:
        services = "".join(
            f"<tds:Service><tds:Namespace>{NS[prefix]}</tds:Namespace>"
            f"<tds:XAddr>{self._xaddr(path)}</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version>"
            "</tds:Service>"
            for prefix, path in (("tds", "device_service"), ("trt", "media_service"))
        )
        return f"<tds:GetServicesResponse>{services}</tds:GetServicesResponse>"

    def _op_GetCapabilities(self, _request: ElementTree.Element) -> str:
        return (
            "<tds:GetCapabilitiesResponse><tds:Capabilities>"
            f"<tt:Device><tt:XAddr>{self._xaddr('device_service')}</tt:XAddr></tt:Device>"
            f"<tt:Media><tt:XAddr>{self._xaddr('media_service')}</tt:XAddr>"
            "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>"
            "<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>"
            "</tt:StreamingCapabilities></tt:Media>"
            "</tds:Capabilities></tds:GetCapabilitiesResponse>"
        )

    def _op_GetProfiles(self, _request: ElementTree.Element) -> str:
        profiles = "".join(
            f'<trt:Profiles token="{token}" fixed="true"><tt:Name>{token}</tt:Name></trt:Profiles>'
            for token in self.server.cameras
        )
        return f"<trt:GetProfilesResponse>{profiles}</trt:GetProfilesResponse>"

    def _op_GetStreamUri(self, request: ElementTree.Element) -> str | None:
        camera = self.server.cameras.get(request.findtext("trt:ProfileToken", "", NS) or "")
        if camera is None:
            return None
        return (
            "<trt:GetStreamUriResponse><trt:MediaUri>"
            f"<tt:Uri>rtsp://127.0.0.1:{self.server.rtsp_port}{camera.path}</tt:Uri>"
            "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
            "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>"
            "</trt:MediaUri></trt:GetStreamUriResponse>"
        )

    def _op_SetSynchronizationPoint(self, request: ElementTree.Element) -> str | None:
        camera = self.server.cameras.get(request.findtext("trt:ProfileToken", "", NS) or "")
        if camera is None:
            return None
        camera.force_keyframe()
        self.server.synchronization_points += 1
        return "<trt:SetSynchronizationPointResponse/>"


class _OnvifServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, cameras: list[Camera], credentials: tuple[str | None, str | None], rtsp_port: int
    ) -> None:
        super().__init__(("127.0.0.1", 0), _OnvifHandler)
        # One ONVIF device for the process, one media profile per camera path.
        self.cameras = {camera.token: camera for camera in cameras}
        self.credentials = credentials
        self.rtsp_port = rtsp_port
        self.synchronization_points = 0


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    """Serve test cameras at rtsp://127.0.0.1:<port><path> until terminated."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--pattern", default="ball")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--gop", type=int, default=20, help="frames from keyframe to keyframe")
    parser.add_argument("--path", action="append", help="a camera's path; repeat for several")
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--onvif", action="store_true", help="answer ONVIF on a port of its own")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    cameras = [Camera(path) for path in args.path or ["/cam"]]
    for number, camera in enumerate(cameras):
        channel = f"camera{number}"
        camera.sensor = Gst.parse_launch(
            _camera_pipeline(args.pattern, args.width, args.height, args.fps, channel)
        )
        camera.sensor.set_state(Gst.State.PLAYING)
        factory = _OneStreamPerPath()
        factory.set_launch(_stream_pipeline(args.width, args.height, args.fps, args.gop, channel))
        # One encoder for every viewer, as a camera has: a viewer joins wherever its GOP is.
        factory.set_shared(True)
        factory.set_stop_on_disconnect(False)
        if args.username is not None:
            factory.add_role_from_structure(
                Gst.Structure.new_from_string(
                    "viewer, media.factory.access=(boolean)true,"
                    " media.factory.construct=(boolean)true"
                )
            )
        server.get_mount_points().add_factory(camera.path, factory)

    if args.username is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        basic = GstRtspServer.RTSPAuth.make_basic(args.username, args.password or "")
        auth.add_basic(basic, token)
        server.set_auth(auth)

    if server.attach(None) == 0:
        sys.exit("could not attach the RTSP server")
    port = server.get_bound_port()

    mounts = server.get_mount_points()
    pool = server.get_thread_pool()
    for camera in cameras:
        # Start the encoder now, before anyone looks, as a camera's runs from power-on: the
        # factory keeps this media (its key is the port and path) for every viewer.
        _result, url = GstRtsp.RTSPUrl.parse(f"rtsp://127.0.0.1:{port}{camera.path}")
        factory, _matched = mounts.match(camera.path)
        camera.media = factory.construct(url)
        thread = pool.get_thread(GstRtspServer.RTSPThreadType.MEDIA, GstRtspServer.RTSPContext())
        if camera.media is None or not camera.media.prepare(thread):
            sys.exit(f"could not start the camera at {camera.path}")

    if args.onvif:
        onvif = _OnvifServer(cameras, (args.username, args.password), port)
        threading.Thread(target=onvif.serve_forever, name="onvif", daemon=True).start()
        print(f"ONVIF {onvif.server_address[1]}", flush=True)

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
    print(f"PORT {port}", flush=True)
    loop.run()
    for camera in cameras:
        if camera.media is not None:
            camera.media.unprepare()
        if camera.sensor is not None:
            camera.sensor.set_state(Gst.State.NULL)


if __name__ == "__main__":
    main()
