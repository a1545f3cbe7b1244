"""The config, options and reconfigure flows, with real streams as the camera.

The flows take only network cameras: their tests run a real MJPEG camera over HTTP
(``simulators/camera.py``) or a GStreamer RTSP camera; entries made directly (``MockConfigEntry``)
may still play a generated video file.
"""

import asyncio
from collections.abc import Iterator
import contextlib
import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import threading
from typing import Any

import av
from homeassistant.auth.models import User
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.trygghetskamera import config_flow
from custom_components.trygghetskamera.audit_trail import AUDIT_TRAIL
from custom_components.trygghetskamera.const import (
    CONF_AUDIT_RETENTION_MONTHS,
    CONF_BED_ENTITY,
    CONF_CONNECTIVITY_ENTITY,
    CONF_FOLLOW_UP_MINUTES,
    CONF_FOLLOW_UPS,
    CONF_MIN_POWER_W,
    CONF_NAME,
    CONF_OPERATORS,
    CONF_PASSWORD,
    CONF_PLUG_ENTITY,
    CONF_POWER_ENTITY,
    CONF_PRIVACY_ENTITY,
    CONF_SLOT_MINUTES,
    CONF_STREAM_URL,
    CONF_TIMES,
    CONF_USERNAME,
    CONF_VIEW_MODE,
    CONF_VIEW_REGION,
    CONF_VIEW_SECONDS,
    DOMAIN,
)

from .conftest import make_home_entry
from .media_sources import MjpegServer, RtspServer, free_port

SCHEDULE = {
    CONF_TIMES: ["22:30", "01:30", "04:30"],
    CONF_VIEW_SECONDS: 30,
    CONF_SLOT_MINUTES: 30,
    CONF_FOLLOW_UP_MINUTES: 20,
    CONF_FOLLOW_UPS: 1,
}


@pytest.fixture
async def operator(hass: HomeAssistant, hass_owner_user: User) -> User:
    """A real, active night-staff user (the owner exists first, so this one is no admin)."""
    return await hass.auth.async_create_user("Nattpersonal", group_ids=["system-users"])


@pytest.fixture
def rtsp_camera(socket_enabled: None) -> Any:
    """A real RTSP camera (GStreamer) that asks for a password."""
    with RtspServer(username="kamera", password="hemligt") as server:
        yield server


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def copyfile(self, source: Any, outputfile: Any) -> None:
        # The prober hangs up once it has seen enough, as it should.
        with contextlib.suppress(ConnectionError):
            super().copyfile(source, outputfile)


@contextlib.contextmanager
def web_server(folder: Path) -> Iterator[str]:
    """Serve a folder over HTTP on loopback; yield its base URL."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietFiles, directory=str(folder))
    )
    server.daemon_threads = False
    server.block_on_close = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def audio_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real media file without any video stream."""
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame(format="s16", layout="mono", samples=8000)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


async def start_flow(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "camera"
    return result


async def camera_step(hass: HomeAssistant, flow_id: str, **data: Any) -> dict[str, Any]:
    return await hass.config_entries.flow.async_configure(flow_id, {CONF_NAME: "Lgh 1203"} | data)


async def test_full_flow_creates_home(
    hass: HomeAssistant, network_camera: MjpegServer, operator: User
) -> None:
    result = await start_flow(hass)
    result = await camera_step(hass, result["flow_id"], **{CONF_STREAM_URL: network_camera.url})
    assert result["step_id"] == "schedule"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], SCHEDULE | {CONF_TIMES: ["04:30", "22:30 ", "1:30"]}
    )
    assert result["step_id"] == "equipment"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_PLUG_ENTITY: "switch.plug",
            CONF_MIN_POWER_W: 2.5,
            CONF_BED_ENTITY: "binary_sensor.bed",
        },
    )
    assert result["step_id"] == "operators"
    choices = result["data_schema"].schema[CONF_OPERATORS].config["options"]
    assert {"value": operator.id, "label": "Nattpersonal"} in choices
    # System users (e.g. Supervisor, cloud) can never be operators.
    assert all(choice["label"] != "Home Assistant Content" for choice in choices)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_OPERATORS: [operator.id]}
    )
    assert result["step_id"] == "consent"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"consent": True})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.title == "Lgh 1203"
    assert entry.unique_id == network_camera.url
    assert entry.data[CONF_STREAM_URL] == network_camera.url
    assert entry.data["consent_confirmed_at"]
    assert entry.options == {
        # Sorted in night order: the evening first.
        CONF_TIMES: ["22:30", "01:30", "04:30"],
        CONF_VIEW_SECONDS: 30,
        CONF_SLOT_MINUTES: 30,
        "physical_times": [],
        "ack_minutes": 10,
        "urgent_ack_minutes": 5,
        "response_minutes": 45,
        CONF_FOLLOW_UP_MINUTES: 20,
        CONF_FOLLOW_UPS: 1,
        CONF_PRIVACY_ENTITY: None,
        CONF_PLUG_ENTITY: "switch.plug",
        CONF_POWER_ENTITY: None,
        CONF_MIN_POWER_W: 2.5,
        CONF_BED_ENTITY: "binary_sensor.bed",
        CONF_CONNECTIVITY_ENTITY: None,
        CONF_OPERATORS: [operator.id],
        CONF_AUDIT_RETENTION_MONTHS: 24,
    }


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("   ", "name_required"),
        ("Anna 19450312-1234", "personal_number"),
        ("4503121234", "personal_number"),
    ],
)
async def test_label_must_be_pseudonymous(hass: HomeAssistant, name: str, error: str) -> None:
    url = "rtsp://10.0.0.5:554/stream1"
    result = await start_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: name, CONF_STREAM_URL: url}
    )
    assert result["errors"] == {CONF_NAME: error}
    # Nothing typed is lost: the form comes back with the label and URL filled in.
    assert result["data_schema"]({})[CONF_STREAM_URL] == url


@pytest.mark.parametrize("url", ["ftp://camera/stream", "not a url", "rtsp://", "bedroom.mp4"])
async def test_invalid_url(hass: HomeAssistant, url: str) -> None:
    result = await start_flow(hass)
    result = await camera_step(hass, result["flow_id"], **{CONF_STREAM_URL: url})
    assert result["errors"] == {CONF_STREAM_URL: "invalid_url"}


@pytest.mark.parametrize("form", ["path", "file_url", "missing"])
async def test_a_file_is_no_camera(hass: HomeAssistant, night_video: Path, form: str) -> None:
    """A local video, even one that plays, is refused on the camera step with its own message."""
    url = {
        "path": f" {night_video} ",
        "file_url": f"file://{night_video}",
        "missing": "/no/such/file.mp4",
    }[form]
    result = await start_flow(hass)
    result = await camera_step(hass, result["flow_id"], **{CONF_STREAM_URL: url})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "camera"
    assert result["errors"] == {CONF_STREAM_URL: "local_file"}


async def test_camera_that_does_not_answer(hass: HomeAssistant, socket_enabled: None) -> None:
    result = await start_flow(hass)
    result = await camera_step(
        hass, result["flow_id"], **{CONF_STREAM_URL: f"rtsp://127.0.0.1:{free_port()}/stream"}
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_rtsp_camera_wrong_then_right_password(hass: HomeAssistant, rtsp_camera: Any) -> None:
    result = await start_flow(hass)
    result = await camera_step(
        hass,
        result["flow_id"],
        **{CONF_STREAM_URL: rtsp_camera.url, CONF_USERNAME: "kamera", CONF_PASSWORD: "fel"},
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await camera_step(
        hass,
        result["flow_id"],
        **{CONF_STREAM_URL: rtsp_camera.url, CONF_USERNAME: "kamera", CONF_PASSWORD: "hemligt"},
    )
    assert result["step_id"] == "schedule"


async def test_mjpeg_camera_with_credentials(hass: HomeAssistant, socket_enabled: None) -> None:
    with MjpegServer(username="kamera", password="hemligt") as server:
        result = await start_flow(hass)
        result = await camera_step(hass, result["flow_id"], **{CONF_STREAM_URL: server.url})
        assert result["errors"] == {"base": "invalid_auth"}
        result = await camera_step(
            hass,
            result["flow_id"],
            **{CONF_STREAM_URL: server.url, CONF_USERNAME: "kamera", CONF_PASSWORD: "hemligt"},
        )
        assert result["step_id"] == "schedule"


async def test_stream_without_video(
    hass: HomeAssistant, audio_only: Path, socket_enabled: None
) -> None:
    with web_server(audio_only.parent) as base:
        result = await start_flow(hass)
        result = await camera_step(
            hass, result["flow_id"], **{CONF_STREAM_URL: f"{base}/{audio_only.name}"}
        )
    assert result["errors"] == {"base": "no_video"}


async def test_black_picture_is_left_to_commissioning(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    with MjpegServer(kind="black", seconds=1, size=(320, 240)) as covered:
        result = await start_flow(hass)
        result = await camera_step(hass, result["flow_id"], **{CONF_STREAM_URL: covered.url})
    assert result["step_id"] == "schedule"


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://admin:secret@10.0.0.5:554/stream",
        # The same camera written differently: default port, case, dot segments, slashes.
        "RTSP://10.0.0.5/stream",
        "rtsp://10.0.0.5:554/./stream",
        "rtsp://10.0.0.5:554//media/../stream/",
        "rtsp://user:pw@10.0.0.5/stream?password=other",
    ],
)
async def test_same_camera_cannot_be_added_twice(hass: HomeAssistant, url: str) -> None:
    """Said on the camera step, naming the home that has it; before: an abort after all fields,
    and `/./` in the path made a second home on the same camera."""
    other = make_home_entry("rtsp://10.0.0.5:554/stream", [])
    MockConfigEntry(
        domain=DOMAIN,
        title="Lgh 0907",
        unique_id="rtsp://10.0.0.5:554/stream",
        data={CONF_NAME: "Lgh 0907", CONF_STREAM_URL: "rtsp://10.0.0.5:554/stream"},
        options=other.options,
    ).add_to_hass(hass)
    result = await start_flow(hass)
    result = await camera_step(hass, result["flow_id"], **{CONF_STREAM_URL: url})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "camera"
    assert result["errors"] == {CONF_STREAM_URL: "camera_in_use"}
    assert result["description_placeholders"]["home"] == "Lgh 0907"


def test_camera_address_is_normalised() -> None:
    """The entry's unique id: scheme, host, port, path; no credentials; a channel is kept."""
    same = config_flow.camera_unique_id
    assert same("rtsp://a:b@Cam.local/x/./y//z/") == "rtsp://cam.local:554/x/y/z"
    assert same("http://cam.local:80/") == same("http://cam.local") == "http://cam.local:80/"
    assert same("https://cam.local/s?token=1&channel=2") == "https://cam.local:443/s?channel=2"
    assert same("rtsp://nvr/live?channel=1") != same("rtsp://nvr/live?channel=2")


@pytest.mark.parametrize(
    ("schedule", "errors"),
    [
        ({CONF_TIMES: []}, {CONF_TIMES: "times_required"}),
        ({CONF_TIMES: ["25:00"]}, {CONF_TIMES: "impossible_time"}),
        ({CONF_TIMES: ["12:61"]}, {CONF_TIMES: "impossible_time"}),
        ({CONF_TIMES: ["22:30, 25:00"]}, {CONF_TIMES: "impossible_time"}),
        ({CONF_TIMES: ["22.30"]}, {CONF_TIMES: "invalid_time"}),
        ({CONF_TIMES: ["22:30", "22:30"]}, {CONF_TIMES: "duplicate_time"}),
        ({CONF_TIMES: ["22:30", "22:50"]}, {CONF_TIMES: "overlapping_slots"}),
        # Across midnight: 23:50 and 00:10 are 20 minutes apart.
        ({CONF_TIMES: ["23:50", "00:10"]}, {CONF_TIMES: "overlapping_slots"}),
    ],
)
async def test_schedule_errors(
    hass: HomeAssistant,
    network_camera: MjpegServer,
    schedule: dict[str, Any],
    errors: dict[str, str],
) -> None:
    result = await start_flow(hass)
    result = await camera_step(hass, result["flow_id"], **{CONF_STREAM_URL: network_camera.url})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], SCHEDULE | schedule)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "schedule"
    assert result["errors"] == errors


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (CONF_VIEW_SECONDS, 5),
        (CONF_VIEW_SECONDS, 121),
        (CONF_SLOT_MINUTES, 121),
        (CONF_FOLLOW_UP_MINUTES, 0),
        (CONF_FOLLOW_UPS, 4),
    ],
)
async def test_schedule_ranges(
    hass: HomeAssistant, network_camera: MjpegServer, field: str, value: int
) -> None:
    """The form itself refuses values outside the contract's ranges, naming the field."""
    result = await start_flow(hass)
    result = await camera_step(hass, result["flow_id"], **{CONF_STREAM_URL: network_camera.url})
    with pytest.raises(InvalidData) as raised:
        await hass.config_entries.flow.async_configure(result["flow_id"], SCHEDULE | {field: value})
    assert field in raised.value.schema_errors
    # The flow is still at the schedule step: nothing entered before is lost.
    result = await hass.config_entries.flow.async_configure(result["flow_id"], SCHEDULE)
    assert result["step_id"] == "equipment"


async def test_operators_and_consent_are_required(
    hass: HomeAssistant, network_camera: MjpegServer, operator: User, hass_admin_user: User
) -> None:
    result = await start_flow(hass)
    result = await camera_step(hass, result["flow_id"], **{CONF_STREAM_URL: network_camera.url})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], SCHEDULE)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_OPERATORS: []})
    assert result["errors"] == {CONF_OPERATORS: "operators_required"}
    await hass.auth.async_update_user(hass_admin_user, is_active=False)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_OPERATORS: [hass_admin_user.id]}
    )
    assert result["errors"] == {CONF_OPERATORS: "unknown_user"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_OPERATORS: [operator.id, operator.id]}
    )
    assert result["step_id"] == "consent"
    assert result["description_placeholders"] == {"name": "Lgh 1203"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"consent": False})
    assert result["errors"] == {"consent": "consent_required"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"consent": True})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].options[CONF_OPERATORS] == [operator.id]


async def test_options_flow_edits_schedule_equipment_operators(
    hass: HomeAssistant, night_video: Path, operator: User, hass_admin_user: User
) -> None:
    entry = make_home_entry(str(night_video), [operator.id])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "schedule"
    # The form starts from the current options.
    assert result["data_schema"]({})[CONF_TIMES] == ["22:30", "01:30", "04:30"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], SCHEDULE | {CONF_TIMES: ["23:00", "23:10"]}
    )
    assert result["errors"] == {CONF_TIMES: "overlapping_slots"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], SCHEDULE | {CONF_TIMES: ["23:00", "03:00"], CONF_FOLLOW_UPS: 2}
    )
    assert result["step_id"] == "equipment"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CONNECTIVITY_ENTITY: "binary_sensor.router", CONF_MIN_POWER_W: 1}
    )
    assert result["step_id"] == "operators"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_OPERATORS: []}
    )
    assert result["errors"] == {CONF_OPERATORS: "operators_required"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_OPERATORS: [operator.id, hass_admin_user.id]}
    )
    assert result["step_id"] == "view"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_VIEW_MODE: "full"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_TIMES] == ["23:00", "03:00"]
    assert entry.options[CONF_FOLLOW_UPS] == 2
    assert entry.options[CONF_CONNECTIVITY_ENTITY] == "binary_sensor.router"
    assert entry.options[CONF_OPERATORS] == [operator.id, hass_admin_user.id]
    # Applied to the running home without a reload.
    assert entry.runtime_data.config.times == ("23:00", "03:00")
    assert entry.runtime_data.config.follow_ups == 2


async def test_reconfigure_changes_camera_and_keeps_password(
    hass: HomeAssistant, night_video: Path, black_video: Path, operator: User, socket_enabled: None
) -> None:
    """The stored password stays in use when the field is left empty on the same camera host."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Lgh 1203",
        unique_id="http://127.0.0.1:9/old.mjpg",
        data={
            CONF_NAME: "Lgh 1203",
            CONF_STREAM_URL: "http://127.0.0.1:9/old.mjpg",
            CONF_USERNAME: "kamera",
            CONF_PASSWORD: "hemligt",
        },
        options=make_home_entry("x", [operator.id]).options,
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    # The stored password is never shown back.
    assert CONF_PASSWORD not in result["data_schema"]({CONF_STREAM_URL: "x"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STREAM_URL: "gopher://camera"}
    )
    assert result["errors"] == {CONF_STREAM_URL: "invalid_url"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STREAM_URL: f"rtsp://127.0.0.1:{free_port()}/x"}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    # A file, even one that plays, is not a camera: reconfigure refuses it as the camera step does.
    for url in (str(night_video), f"file://{night_video}"):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_STREAM_URL: url, CONF_USERNAME: "kamera"}
        )
        assert result["errors"] == {CONF_STREAM_URL: "local_file"}
    with MjpegServer(username="kamera", password="hemligt", seconds=1, size=(320, 240)) as new:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_STREAM_URL: new.url, CONF_USERNAME: "kamera"}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        # Our own message ("commission it again"), not Home Assistant's generic one: the
        # frontend looks the reason up in the translation domain the flow names.
        assert result.get("translation_domain") in (None, DOMAIN), result
        await hass.async_block_till_done()
    assert entry.data[CONF_STREAM_URL] == new.url
    assert entry.data[CONF_PASSWORD] == "hemligt"
    assert entry.unique_id == new.url


async def test_reconfigure_never_sends_the_password_to_another_host(
    hass: HomeAssistant, operator: User, socket_enabled: None
) -> None:
    """As the attacker: point the home at your own host and leave the password empty.

    The stored password must not be sent there: the form asks for it again and nothing connects
    to the new host until it is entered. The change is logged, without credentials.
    """
    assert await async_setup_component(hass, DOMAIN, {})
    connections: list[str] = []

    async def note(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append((await reader.read(4096)).decode(errors="replace"))
        writer.close()

    server = await asyncio.start_server(note, "127.0.0.2", 0)
    port = server.sockets[0].getsockname()[1]
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Lgh 1203",
        unique_id="http://127.0.0.1:9/old.mjpg",
        data={
            CONF_NAME: "Lgh 1203",
            CONF_STREAM_URL: "http://127.0.0.1:9/old.mjpg",
            CONF_USERNAME: "kamera",
            CONF_PASSWORD: "hemligt",
        },
        options=make_home_entry("x", [operator.id]).options,
    )
    entry.add_to_hass(hass)
    try:
        result = await entry.start_reconfigure_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {CONF_STREAM_URL: f"http://127.0.0.2:{port}/cam.mjpg", CONF_USERNAME: "kamera"},
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {CONF_PASSWORD: "password_for_new_host"}
        assert connections == []
        # Entered again, the password goes to the new host (which is no camera here).
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                CONF_STREAM_URL: f"http://127.0.0.2:{port}/cam.mjpg",
                CONF_USERNAME: "kamera",
                CONF_PASSWORD: "annat",
            },
        )
        assert result["type"] is FlowResultType.FORM
        assert "base" in result["errors"]
        assert connections
        assert all("hemligt" not in request for request in connections)
    finally:
        server.close()
        await server.wait_closed()
    assert entry.data[CONF_STREAM_URL] == "http://127.0.0.1:9/old.mjpg"


async def test_reconfigure_is_logged_with_the_user_and_without_credentials(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: User,
    operator: User,
    socket_enabled: None,
) -> None:
    """An admin changes the camera through Home Assistant's own HTTP API: logged with who."""
    assert await async_setup_component(hass, "config", {})
    assert await async_setup_component(hass, DOMAIN, {})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Lgh 1203",
        unique_id="http://127.0.0.1:9/old.mjpg",
        data={
            CONF_NAME: "Lgh 1203",
            CONF_STREAM_URL: "http://127.0.0.1:9/old.mjpg",
            CONF_USERNAME: "kamera",
            CONF_PASSWORD: "hemligt",
        },
        options=make_home_entry("x", [operator.id]).options,
    )
    entry.add_to_hass(hass)
    client = await hass_client()
    response = await client.post(
        "/api/config/config_entries/flow", json={"handler": DOMAIN, "entry_id": entry.entry_id}
    )
    flow = await response.json()
    assert flow["step_id"] == "reconfigure"
    with MjpegServer(username="kamera", password="hemligt", seconds=1, size=(320, 240)) as new:
        response = await client.post(
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            json={CONF_STREAM_URL: new.url, CONF_USERNAME: "kamera"},
        )
        result = await response.json()
        assert result.get("reason") == "reconfigure_successful", result
        await hass.async_block_till_done()
    log = hass.data[AUDIT_TRAIL].log
    found = [
        record
        for record in await hass.async_add_executor_job(log.query)
        if record.kind == "camera_reconfigured"
    ]
    assert len(found) == 1
    assert found[0].user_id == hass_admin_user.id
    assert found[0].data["from"] == "http://127.0.0.1:9/old.mjpg"
    assert found[0].data["to"].startswith("http://127.0.0.1:")
    assert "hemligt" not in repr(found[0])


async def test_reconfigure_to_another_homes_camera_aborts(
    hass: HomeAssistant, black_video: Path
) -> None:
    make_home_entry("rtsp://10.0.0.5:554/stream", []).add_to_hass(hass)
    entry = make_home_entry(str(black_video), [])
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STREAM_URL: "rtsp://admin:secret@10.0.0.5:554/stream"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_STREAM_URL: "camera_in_use"}
    assert result["description_placeholders"]["home"] == "Lgh 1203"


async def test_camera_that_accepts_but_never_answers(
    hass: HomeAssistant, socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hung camera costs the installer the probe timeout, then a clear error."""
    monkeypatch.setattr(config_flow, "PROBE_TIMEOUT_S", 1.0)
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await start_flow(hass)
        result = await camera_step(
            hass, result["flow_id"], **{CONF_STREAM_URL: f"rtsp://127.0.0.1:{port}/stream"}
        )
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
    assert result["errors"] == {"base": "cannot_connect"}
    assert held, "the probe never reached the camera"


async def test_options_change_is_logged_with_the_user(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: User,
    night_video: Path,
    operator: User,
) -> None:
    """Options edited through the UI reach the audit log with who changed what."""
    entry = make_home_entry(str(night_video), [operator.id])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    facts: list[Any] = []
    entry.runtime_data.async_add_audit_sink(facts.append)
    assert await async_setup_component(hass, "config", {})

    client = await hass_client()
    response = await client.post(
        "/api/config/config_entries/options/flow", json={"handler": entry.entry_id}
    )
    flow = await response.json()
    assert flow["step_id"] == "schedule"
    url = f"/api/config/config_entries/options/flow/{flow['flow_id']}"
    flow = await (await client.post(url, json=SCHEDULE | {CONF_TIMES: ["23:15"]})).json()
    flow = await (await client.post(url, json={CONF_MIN_POWER_W: 1})).json()
    flow = await (await client.post(url, json={CONF_OPERATORS: [operator.id]})).json()
    assert flow["step_id"] == "view"
    flow = await (await client.post(url, json={CONF_VIEW_MODE: "full"})).json()
    assert flow["type"] == "create_entry"
    await hass.async_block_till_done()

    changed = [fact for fact in facts if fact.kind == "options_changed"]
    assert len(changed) == 1
    assert changed[0].user_id == hass_admin_user.id
    assert changed[0].data["changes"] == {
        CONF_TIMES: {"old": ["22:30", "01:30", "04:30"], "new": ["23:15"]}
    }


async def test_saving_an_older_homes_options_unchanged_logs_no_change(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: User,
    night_video: Path,
    operator: User,
) -> None:
    """Defaults made explicit are not changes: a home added before the patrol's options.

    Its options have no `ack_minutes`, `urgent_ack_minutes`, `response_minutes` nor
    `physical_times`; saved once through the UI they are written with their defaults, which
    were in force already. A real change after that is logged as before.
    """
    older = make_home_entry(str(night_video), [operator.id])
    options = dict(older.options)
    for key in ("ack_minutes", "urgent_ack_minutes", "response_minutes", "physical_times"):
        del options[key]
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=older.title,
        unique_id=older.unique_id,
        data=older.data,
        options=options,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    facts: list[Any] = []
    entry.runtime_data.async_add_audit_sink(facts.append)
    assert await async_setup_component(hass, "config", {})
    client = await hass_client()

    async def save(schedule: dict[str, Any]) -> None:
        response = await client.post(
            "/api/config/config_entries/options/flow", json={"handler": entry.entry_id}
        )
        flow = await response.json()
        url = f"/api/config/config_entries/options/flow/{flow['flow_id']}"
        flow = await (await client.post(url, json=schedule)).json()
        flow = await (await client.post(url, json={CONF_MIN_POWER_W: 1})).json()
        flow = await (await client.post(url, json={CONF_OPERATORS: [operator.id]})).json()
        flow = await (await client.post(url, json={CONF_VIEW_MODE: "full"})).json()
        assert flow["type"] == "create_entry", flow
        await hass.async_block_till_done()

    # As the form sends it: every field, the new ones at the defaults it shows.
    await save(SCHEDULE | {"ack_minutes": 10, "urgent_ack_minutes": 5, "response_minutes": 45})
    assert entry.options["ack_minutes"] == 10
    assert entry.options["physical_times"] == []
    assert [fact.data for fact in facts if fact.kind == "options_changed"] == []

    await save(SCHEDULE | {"ack_minutes": 15, "urgent_ack_minutes": 5, "response_minutes": 45})
    changed = [fact for fact in facts if fact.kind == "options_changed"]
    assert [fact.data["changes"] for fact in changed] == [{"ack_minutes": {"old": 10, "new": 15}}]
    assert changed[0].user_id == hass_admin_user.id


async def test_options_of_a_home_that_is_not_running_can_be_fixed(
    hass: HomeAssistant, operator: User
) -> None:
    """A home whose setup failed is still configurable (that is how it gets repaired)."""
    entry = make_home_entry("rtsp://127.0.0.1:9/none", [operator.id])
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(result["flow_id"], SCHEDULE)
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_OPERATORS: [operator.id]}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_VIEW_MODE: "full"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_TIMES] == SCHEDULE[CONF_TIMES]


async def options_to_view_step(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    """Walk the options flow through schedule, equipment and operators, unchanged."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(result["flow_id"], SCHEDULE)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_MIN_POWER_W: 1}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_OPERATORS: entry.options[CONF_OPERATORS]}
    )
    assert result["step_id"] == "view"
    return result


@pytest.mark.parametrize(
    ("mode", "region", "error"),
    [
        ("bed_area", "", "region_required"),
        ("bed_area", "0.3, 0.45, 0.95", "region_format"),
        ("bed_area", "left, top, right, bottom", "region_format"),
        ("silhouette", "0.3, 0.45, 1.2, 0.9", "region_outside"),
        ("bed_area", "-0.1, 0.45, 0.95, 0.9", "region_outside"),
        ("bed_area", "0.95, 0.45, 0.3, 0.9", "region_order"),
        ("bed_area", "0.3, 0.45, 0.95, 0.5", "region_too_small"),
        ("silhouette", "0.3, 0.45, 0.35, 0.9", "region_too_small"),
    ],
)
async def test_view_step_checks_the_bed_area(
    hass: HomeAssistant, night_video: Path, operator: User, mode: str, region: str, error: str
) -> None:
    """The bed area lies inside the picture, in order, at least a tenth each way."""
    entry = make_home_entry(str(night_video), [operator.id])
    entry.add_to_hass(hass)
    result = await options_to_view_step(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_VIEW_MODE: mode, CONF_VIEW_REGION: region}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_VIEW_REGION: error}
    # What was typed stays in the form to be corrected.
    assert result["data_schema"]({})[CONF_VIEW_MODE] == mode
    assert CONF_VIEW_MODE not in entry.options


async def test_view_step_rejects_an_unknown_mode(
    hass: HomeAssistant, night_video: Path, operator: User
) -> None:
    entry = make_home_entry(str(night_video), [operator.id])
    entry.add_to_hass(hass)
    result = await options_to_view_step(hass, entry)
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_VIEW_MODE: "blurred"}
        )


async def test_view_mode_and_bed_area_are_saved_and_logged(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    hass_admin_user: User,
    night_video: Path,
    operator: User,
) -> None:
    """Chosen through the UI: saved as options, applied without a reload, logged with who."""
    entry = make_home_entry(str(night_video), [operator.id])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime = entry.runtime_data
    facts: list[Any] = []
    runtime.async_add_audit_sink(facts.append)
    assert await async_setup_component(hass, "config", {})

    client = await hass_client()
    response = await client.post(
        "/api/config/config_entries/options/flow", json={"handler": entry.entry_id}
    )
    flow = await response.json()
    url = f"/api/config/config_entries/options/flow/{flow['flow_id']}"
    flow = await (await client.post(url, json=SCHEDULE)).json()
    flow = await (await client.post(url, json={CONF_MIN_POWER_W: 1})).json()
    flow = await (await client.post(url, json={CONF_OPERATORS: [operator.id]})).json()
    assert flow["step_id"] == "view"
    flow = await (
        await client.post(
            url, json={CONF_VIEW_MODE: "bed_area", CONF_VIEW_REGION: " 0.3, 0.45, 0.95, 0.9 "}
        )
    ).json()
    assert flow["type"] == "create_entry", flow
    await hass.async_block_till_done()

    assert entry.options[CONF_VIEW_MODE] == "bed_area"
    assert entry.options[CONF_VIEW_REGION] == [0.3, 0.45, 0.95, 0.9]
    assert entry.runtime_data is runtime  # not reloaded
    changed = [fact for fact in facts if fact.kind == "options_changed"]
    assert len(changed) == 1
    assert changed[0].user_id == hass_admin_user.id
    changes = changed[0].data["changes"]
    assert changes[CONF_VIEW_MODE] == {"old": None, "new": "bed_area"}
    assert changes[CONF_VIEW_REGION] == {"old": None, "new": [0.3, 0.45, 0.95, 0.9]}
    assert CONF_TIMES not in changes

    # The form shows the saved bed area back as text; clearing it with the silhouette is fine.
    result = await options_to_view_step(hass, entry)
    assert result["data_schema"]({})[CONF_VIEW_MODE] == "bed_area"
    region_key = next(k for k in result["data_schema"].schema if k == CONF_VIEW_REGION)
    assert region_key.description == {"suggested_value": "0.3, 0.45, 0.95, 0.9"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_VIEW_MODE: "silhouette", CONF_VIEW_REGION: ""}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_VIEW_MODE] == "silhouette"
    assert entry.options[CONF_VIEW_REGION] is None


async def to_schedule(hass: HomeAssistant, url: str) -> dict[str, Any]:
    result = await start_flow(hass)
    return await camera_step(hass, result["flow_id"], **{CONF_STREAM_URL: url})


@pytest.mark.parametrize(
    "times",
    [
        ["22:30, 01:30 och 04:30"],
        ["22:30 01:30", "4:30"],
        ["22:30; 1:30 and 04:30"],
        ["22:30", "01:30", "04:30"],
    ],
)
async def test_several_agreed_times_per_field(
    hass: HomeAssistant, network_camera: MjpegServer, times: list[str]
) -> None:
    """As the help text invites: one field with several times; `4:30` is saved as `04:30`.

    Before: "22:30, 01:30 och 04:30" was refused as "must be written as HH:MM"."""
    result = await to_schedule(hass, network_camera.url)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], SCHEDULE | {CONF_TIMES: times, "physical_times": ["4:30"]}
    )
    assert result["step_id"] == "equipment", result.get("errors")
    flow = hass.config_entries.flow._progress[result["flow_id"]]
    assert flow._options[CONF_TIMES] == ["22:30", "01:30", "04:30"]
    assert flow._options["physical_times"] == ["04:30"]


@pytest.mark.parametrize(
    ("times", "error", "placeholders"),
    [
        (["22:30, 22:50"], "overlapping_slots", {"first": "22:30", "second": "22:50"}),
        (["23:50 0:10"], "overlapping_slots", {"first": "00:10", "second": "23:50"}),
        (["25:00"], "impossible_time", {"time": "25:00"}),
        (["22.30"], "invalid_time", {"time": "22.30"}),
        (["22:30", "22:30"], "duplicate_time", {"time": "22:30"}),
    ],
)
async def test_time_messages_name_the_times(
    hass: HomeAssistant,
    network_camera: MjpegServer,
    times: list[str],
    error: str,
    placeholders: dict[str, str],
) -> None:
    """Before: the overlap message did not say which two times overlap."""
    result = await to_schedule(hass, network_camera.url)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], SCHEDULE | {CONF_TIMES: times}
    )
    assert result["errors"] == {CONF_TIMES: error}
    assert placeholders.items() <= result["description_placeholders"].items()


def other_home(hass: HomeAssistant, **equipment: str) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Lgh 0907",
        unique_id="rtsp://10.9.9.9:554/other",
        data={CONF_NAME: "Lgh 0907", CONF_STREAM_URL: "rtsp://10.9.9.9:554/other"},
        options=make_home_entry("rtsp://10.9.9.9/other", [], **equipment).options,
    )
    entry.add_to_hass(hass)
    return entry


async def to_equipment(hass: HomeAssistant, url: str) -> dict[str, Any]:
    result = await to_schedule(hass, url)
    return await hass.config_entries.flow.async_configure(result["flow_id"], SCHEDULE)


async def test_another_homes_bed_sensor_is_refused(
    hass: HomeAssistant, network_camera: MjpegServer
) -> None:
    """Before: another home's bed sensor was accepted, and the panel showed that resident's bed.

    Never shared, even when the installer ticks "shared on purpose"."""
    other_home(hass, **{CONF_BED_ENTITY: "binary_sensor.bed_0907"})
    result = await to_equipment(hass, network_camera.url)
    for shared in (False, True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {CONF_BED_ENTITY: "binary_sensor.bed_0907", "shared_equipment": shared},
        )
        assert result["step_id"] == "equipment"
        assert result["errors"] == {CONF_BED_ENTITY: "bed_entity_shared"}
        assert result["description_placeholders"]["home"] == "Lgh 0907"


async def test_a_shared_router_needs_the_installers_word(
    hass: HomeAssistant, network_camera: MjpegServer
) -> None:
    other_home(hass, **{CONF_CONNECTIVITY_ENTITY: "binary_sensor.building_router"})
    result = await to_equipment(hass, network_camera.url)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CONNECTIVITY_ENTITY: "binary_sensor.building_router"}
    )
    assert result["errors"] == {CONF_CONNECTIVITY_ENTITY: "equipment_shared"}
    assert result["description_placeholders"]["home"] == "Lgh 0907"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_CONNECTIVITY_ENTITY: "binary_sensor.building_router", "shared_equipment": True},
    )
    assert result["step_id"] == "operators"
    flow = hass.config_entries.flow._progress[result["flow_id"]]
    assert flow._options[CONF_CONNECTIVITY_ENTITY] == "binary_sensor.building_router"
    assert "shared_equipment" not in flow._options


async def test_a_home_keeps_its_own_equipment_in_options(
    hass: HomeAssistant, black_video: Path
) -> None:
    """The options flow does not count the home's own bed sensor as another home's."""
    entry = make_home_entry(str(black_video), [], **{CONF_BED_ENTITY: "binary_sensor.bed"})
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(result["flow_id"], SCHEDULE)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_BED_ENTITY: "binary_sensor.bed"}
    )
    assert result["step_id"] == "operators"


@pytest.mark.parametrize("months", [0, 121, 2.5])
async def test_retention_out_of_range_has_a_message(
    hass: HomeAssistant, network_camera: MjpegServer, operator: User, months: float
) -> None:
    """Before: 0 showed the raw "Value 0.0 is too small"."""
    result = await to_equipment(hass, network_camera.url)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_OPERATORS: [operator.id], CONF_AUDIT_RETENTION_MONTHS: months}
    )
    assert result["step_id"] == "operators"
    assert result["errors"] == {CONF_AUDIT_RETENTION_MONTHS: "retention_range"}
    assert result["description_placeholders"] == {"low": "1", "high": "120"}
