"""A camera that speaks ONVIF is asked for a keyframe as soon as a look's stream plays.

The camera is the real GStreamer test camera with its minimal ONVIF device and media service
(`tests/rtsp_server_gst.py --onvif`): `SetSynchronizationPoint` sends GStreamer's force-key-unit
event into its encoder. Its keyframe interval here is a minute, and each test first waits for
the camera's keyframe before it looks: without the request, no picture could come for almost a
minute, so a picture that does come is the camera's answer to the request.
"""

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.trygghetskamera import media, onvif_keyframe
from custom_components.trygghetskamera.const import (
    CONF_NAME,
    CONF_ONVIF_PORT,
    CONF_PASSWORD,
    CONF_STREAM_URL,
    CONF_TIMES,
    CONF_USERNAME,
    DOMAIN,
)
from custom_components.trygghetskamera.runtime import STORAGE_VERSION, home_config
from custom_components.trygghetskamera.supervision import Supervisor

from .conftest import Person, make_home_entry
from .media_sources import RtspServer, free_port
from .test_gate import ws_call

pytestmark = pytest.mark.usefixtures("socket_enabled")

FPS = 10
GOP = 60 * FPS  # a keyframe a minute
USER, PASSWORD = "kamera", "hemligt"


@pytest.fixture
def onvif_camera(socket_enabled: None) -> Iterator[RtspServer]:
    """A camera with ONVIF, just past its keyframe: the next one is a minute away."""
    with RtspServer(
        onvif=True, fps=FPS, gop=GOP, width=320, height=240, username=USER, password=PASSWORD
    ) as camera:
        with media.open_stream(camera.url, USER, PASSWORD, 10) as watching:
            for packet in watching.demux(video=0):
                if packet.is_keyframe:
                    break
        yield camera


async def add_home_with_open_slot(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    stream_url: str,
    operators: list[str],
    on_camera: dict[str, Any],
) -> MockConfigEntry:
    """As test_gate's, with camera settings (login, ONVIF port) in the entry's data."""
    entry = make_home_entry(
        stream_url, operators, **{CONF_TIMES: [dt_util.now().strftime("%H:%M")]}
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=entry.title,
        unique_id=entry.unique_id,
        data=dict(entry.data) | on_camera,
        options=dict(entry.options),
    )
    entry.add_to_hass(hass)
    config = home_config(dict(entry.options))
    hour_ago = dt_util.utcnow() - timedelta(hours=1)
    supervisor = Supervisor(config, dt_util.get_default_time_zone(), hour_ago)
    key = f"{DOMAIN}.{entry.entry_id}"
    hass_storage[key] = {
        "version": STORAGE_VERSION,
        "minor_version": 1,
        "key": key,
        "data": {"config": config.as_dict(), "supervisor": supervisor.to_dict()},
    }
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def first_jpeg(response: Any) -> bytes:
    seen = b""
    while b"\xff\xd8" not in seen:
        chunk = await response.content.readany()
        assert chunk, "the look ended before its first picture"
        seen += chunk
    return seen


async def test_look_asks_an_onvif_camera_for_a_keyframe_at_once(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    onvif_camera: RtspServer,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    entry = await add_home_with_open_slot(
        hass,
        hass_storage,
        onvif_camera.url,
        [operator.user.id],
        on_camera={
            CONF_USERNAME: USER,
            CONF_PASSWORD: PASSWORD,
            CONF_ONVIF_PORT: onvif_camera.onvif_port,
        },
    )

    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
    assert started["success"], started
    client = await hass_client_no_auth()
    response = await client.get(started["result"]["stream_path"])
    assert response.status == 200
    # Bounded well below the camera's own next keyframe: only the request can bring it.
    async with asyncio.timeout(30):
        assert await first_jpeg(response)
    outcome = await ws_call(
        ws,
        {
            "type": f"{DOMAIN}/session/outcome",
            "session_id": started["result"]["session_id"],
            "outcome": "ok",
        },
    )
    assert outcome["success"], outcome
    assert await response.content.read() is not None
    await hass.async_block_till_done()


async def test_requester_finds_the_profile_of_the_homes_stream(
    onvif_camera: RtspServer,
) -> None:
    requester = onvif_keyframe.KeyframeRequester(
        onvif_camera.url, onvif_camera.onvif_port or 0, USER, PASSWORD
    )
    try:
        assert await requester.async_request()
        assert requester._tokens == ["cam"]
    finally:
        await requester.async_close()


@pytest.mark.parametrize(
    ("port", "password"),
    [("closed", PASSWORD), ("onvif", "fel")],
    ids=["no_service", "wrong_login"],
)
async def test_requester_says_when_the_camera_cannot_be_asked(
    onvif_camera: RtspServer, port: str, password: str
) -> None:
    number = onvif_camera.onvif_port if port == "onvif" else free_port()
    requester = onvif_keyframe.KeyframeRequester(onvif_camera.url, number or 0, USER, password)
    try:
        assert not await requester.async_request()
    finally:
        await requester.async_close()


async def test_camera_step_tries_the_onvif_port(
    hass: HomeAssistant, onvif_camera: RtspServer
) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    camera = {
        CONF_NAME: "Lgh 1203",
        CONF_STREAM_URL: onvif_camera.url,
        CONF_USERNAME: USER,
        CONF_PASSWORD: PASSWORD,
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], camera | {CONF_ONVIF_PORT: free_port()}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "onvif_failed"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], camera | {CONF_ONVIF_PORT: onvif_camera.onvif_port}
    )
    assert result["step_id"] == "schedule"
    flow = hass.config_entries.flow._progress[result["flow_id"]]
    assert flow._data[CONF_ONVIF_PORT] == onvif_camera.onvif_port  # type: ignore[attr-defined]
