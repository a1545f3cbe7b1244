"""The camera gate: only a home's operators see it, only inside a slot, only for view_seconds."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
import io
import itertools
from pathlib import Path
import threading
import time
from typing import Any

from aiohttp import ClientSession
import av
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import numpy as np
from PIL import Image
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.trygghetskamera import media, view_filter
from custom_components.trygghetskamera.audit_trail import AUDIT_TRAIL
from custom_components.trygghetskamera.const import (
    CONF_PRIVACY_ENTITY,
    CONF_TIMES,
    CONF_VIEW_MODE,
    CONF_VIEW_REGION,
    CONF_VIEW_SECONDS,
    DOMAIN,
)
from custom_components.trygghetskamera.gate import LIVE_SESSIONS
from custom_components.trygghetskamera.runtime import STORAGE_VERSION, home_config
from custom_components.trygghetskamera.supervision import Supervisor
from custom_components.trygghetskamera.view_filter import region_pixels
from simulators import scenes

from .conftest import Person, make_home_entry


async def add_home_with_open_slot(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    stream_url: str,
    operators: list[str],
    **options: Any,
) -> MockConfigEntry:
    """A home set up an hour ago whose agreed time is this minute: its slot is open now."""
    now_local = dt_util.now()
    times = [now_local.strftime("%H:%M")]
    entry = make_home_entry(stream_url, operators, **{CONF_TIMES: times} | options)
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


@pytest.fixture
async def home(
    hass: HomeAssistant, hass_storage: dict[str, Any], night_video: Path, operator: Person
) -> MockConfigEntry:
    return await add_home_with_open_slot(hass, hass_storage, str(night_video), [operator.user.id])


async def wait_until(hass: HomeAssistant, predicate: Callable[[], bool]) -> None:
    """Let Home Assistant run until `predicate` holds (bounded: 5 s)."""
    async with asyncio.timeout(5):
        while not predicate():
            await hass.async_block_till_done()
            await asyncio.sleep(0.01)


async def ws_call(client: Any, message: dict[str, Any]) -> dict[str, Any]:
    await client.send_json_auto_id(message)
    return await client.receive_json()


async def read_frames(response: Any, count: int) -> list[bytes]:
    """Read `count` JPEG parts of a multipart MJPEG response."""
    buffer = b""
    frames: list[bytes] = []
    while len(frames) < count:
        chunk = await response.content.readany()
        if not chunk:
            break
        buffer += chunk
        while (start_at := buffer.find(b"\xff\xd8")) >= 0 and (
            end_at := buffer.find(b"\xff\xd9", start_at)
        ) >= 0:
            frames.append(buffer[start_at : end_at + 2])
            buffer = buffer[end_at + 2 :]
    return frames


async def audit_kinds(hass: HomeAssistant, entry_id: str | None = None) -> list[str]:
    log = hass.data[AUDIT_TRAIL].log
    records = await hass.async_add_executor_job(lambda: log.query(entry_id=entry_id))
    return [record.kind for record in records]


async def test_operator_sees_live_frames_then_records_outcome(
    hass: HomeAssistant,
    home: MockConfigEntry,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    ws = await hass_ws_client(hass, operator.token)
    homes = await ws_call(ws, {"type": f"{DOMAIN}/homes"})
    assert homes["success"]
    assert [(h["entry_id"], h["status"], h["may_view"]) for h in homes["result"]] == [
        (home.entry_id, "due", True)
    ]

    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": home.entry_id})
    assert started["success"], started
    result = started["result"]
    assert result["view_seconds"] == 30
    assert "authSig=" in result["stream_path"]
    assert hass.states.get("sensor.lgh_1203_status").state == "viewing"

    client = await hass_client_no_auth()
    response = await client.get(result["stream_path"])
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
    assert "no-store" in response.headers["Cache-Control"]
    frames = await read_frames(response, 3)
    assert len(frames) == 3
    assert all(frame.startswith(b"\xff\xd8") for frame in frames)
    # The picture moves: the scene is live, not one still sent again.
    assert len(set(frames)) == 3

    outcome = await ws_call(
        ws,
        {"type": f"{DOMAIN}/session/outcome", "session_id": result["session_id"], "outcome": "ok"},
    )
    assert outcome["success"], outcome
    # The outcome ends the stream at once and releases the camera.
    assert await response.content.read() is not None
    await hass.async_block_till_done()
    assert home.runtime_data.gate.live is None
    assert not hass.data[LIVE_SESSIONS]
    assert hass.states.get("sensor.lgh_1203_last_supervision").attributes["outcome"] == "ok"
    kinds = await audit_kinds(hass, home.entry_id)
    assert "session_started" in kinds
    assert "stream_ended" in kinds
    assert "completed" in kinds
    records = await hass.async_add_executor_job(
        lambda: hass.data[AUDIT_TRAIL].log.query(entry_id=home.entry_id)
    )
    started_record = next(r for r in records if r.kind == "session_started")
    assert started_record.user_id == operator.user.id
    assert started_record.user_name == "Nattpersonal"
    assert started_record.home == "Lgh 1203"


async def test_refusal_codes_are_logged(
    hass: HomeAssistant,
    home: MockConfigEntry,
    operator: Person,
    make_person: Callable[..., Awaitable[Person]],
    hass_ws_client: WebSocketGenerator,
) -> None:
    admin = await make_person("Systemadministratör", admin=True)
    stranger = await make_person("Annan personal")

    # An admin who is not an operator of the home sees it but may not look.
    admin_ws = await hass_ws_client(hass, admin.token)
    homes = await ws_call(admin_ws, {"type": f"{DOMAIN}/homes"})
    assert [h["may_view"] for h in homes["result"]] == [False]
    refused = await ws_call(
        admin_ws, {"type": f"{DOMAIN}/session/start", "entry_id": home.entry_id}
    )
    assert refused["error"]["code"] == "not_operator"

    # Another member of staff does not even see the home.
    stranger_ws = await hass_ws_client(hass, stranger.token)
    assert (await ws_call(stranger_ws, {"type": f"{DOMAIN}/homes"}))["result"] == []
    refused = await ws_call(
        stranger_ws, {"type": f"{DOMAIN}/session/start", "entry_id": home.entry_id}
    )
    assert refused["error"]["code"] == "not_operator"

    ws = await hass_ws_client(hass, operator.token)
    first = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": home.entry_id})
    assert first["success"]
    second = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": home.entry_id})
    assert second["error"]["code"] == "busy"
    # The refusal carries its translation, so a client can show it in the user's language.
    assert second["error"]["translation_key"] == "refusal_busy"
    assert second["error"]["translation_domain"] == DOMAIN
    await ws_call(
        ws,
        {
            "type": f"{DOMAIN}/session/outcome",
            "session_id": first["result"]["session_id"],
            "outcome": "ok",
        },
    )
    # The slot has its result: no more looks in it.
    after = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": home.entry_id})
    assert after["error"]["code"] == "outside_slot"

    unknown = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": "nope"})
    assert unknown["error"]["code"] == "not_found"
    malformed = await ws_call(ws, {"type": f"{DOMAIN}/session/start"})
    assert malformed["error"]["code"] == "invalid_format"
    bad_outcome = await ws_call(
        ws, {"type": f"{DOMAIN}/session/outcome", "session_id": "x", "outcome": "fine"}
    )
    assert bad_outcome["error"]["code"] == "invalid_format"

    records = await hass.async_add_executor_job(
        lambda: hass.data[AUDIT_TRAIL].log.query(entry_id=home.entry_id)
    )
    denied = [(r.user_id, r.data["reason"]) for r in records if r.kind == "session_denied"]
    assert denied == [
        (admin.user.id, "not_operator"),
        (stranger.user.id, "not_operator"),
        (operator.user.id, "busy"),
        (operator.user.id, "outside_slot"),
    ]


@pytest.mark.parametrize(
    ("fact", "code"),
    [
        ("consent_off", "no_consent"),
        ("skip", "skipped"),
        ("fault", "fault"),
        ("decision_ended", "decision_ended"),
    ],
)
async def test_no_look_without_consent_on_skipped_night_or_with_fault(
    hass: HomeAssistant,
    home: MockConfigEntry,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    fact: str,
    code: str,
) -> None:
    runtime = home.runtime_data
    if fact == "consent_off":
        await runtime.async_set_consent(False, None)
    elif fact == "skip":
        # The night in progress (its only slot is open; "tonight" would be the next evening).
        current_night, _last = runtime.supervisor.skippable_nights(runtime.now())
        await runtime.async_skip_night(current_night, None)
    elif fact == "decision_ended":
        # The decision ends today (local): from 00:00 no look, and the open slot is a visit.
        today = runtime.now().astimezone(runtime.tz).date().isoformat()
        hass.config_entries.async_update_entry(home, options=home.options | {"decision_end": today})
        await hass.async_block_till_done()
        assert runtime.config.decision_end is not None
    else:
        await runtime.async_set_faults(frozenset({"plug"}))
    ws = await hass_ws_client(hass, operator.token)
    homes = await ws_call(ws, {"type": f"{DOMAIN}/homes"})
    assert homes["result"][0]["may_view"] is False
    refused = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": home.entry_id})
    assert refused["error"]["code"] == code


async def test_consent_withdrawn_during_a_look_cuts_the_stream(
    hass: HomeAssistant,
    home: MockConfigEntry,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": home.entry_id})
    client = await hass_client_no_auth()
    response = await client.get(started["result"]["stream_path"])
    assert len(await read_frames(response, 1)) == 1
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.lgh_1203_consent"}, blocking=True
    )
    # The response ends by itself, promptly.
    async with asyncio.timeout(5):
        await response.content.read()
    await hass.async_block_till_done()
    assert home.runtime_data.gate.live is None
    assert hass.states.get("binary_sensor.lgh_1203_visit_required").attributes["reason"] == (
        "no_consent"
    )


async def test_stream_path_is_for_its_operator_only(
    hass: HomeAssistant,
    home: MockConfigEntry,
    operator: Person,
    make_person: Callable[..., Awaitable[Person]],
    hass_ws_client: WebSocketGenerator,
    hass_client: ClientSessionGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    colleague = await make_person("Kollega")
    # Both are operators of the home.
    hass.config_entries.async_update_entry(
        home,
        options=dict(home.options) | {"operators": [operator.user.id, colleague.user.id]},
    )
    await hass.async_block_till_done()
    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": home.entry_id})
    path = started["result"]["stream_path"]
    session_id = started["result"]["session_id"]
    unsigned = path.split("?")[0]

    # The colleague's own login, with the operator's path: refused.
    colleague_client = await hass_client(colleague.token)
    assert (await colleague_client.get(unsigned)).status == 403
    assert (await colleague_client.get(path)).status == 403
    # The operator's own login without the signature: refused too.
    operator_client = await hass_client(operator.token)
    assert (await operator_client.get(unsigned)).status == 403
    # Nobody logged in: 401.
    anonymous = await hass_client_no_auth()
    assert (await anonymous.get(unsigned)).status == 401
    # A signature made for another session id does not open this one.
    forged = path.replace(session_id, session_id[:-2] + "xx")
    assert (await anonymous.get(forged)).status == 401

    response = await anonymous.get(path)
    assert response.status == 200
    # The same path cannot be watched twice at once.
    assert (await anonymous.get(path)).status == 403
    response.close()
    await hass.async_block_till_done()

    # Refusals are logged at once, then merged per user and minute.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
    await hass.async_block_till_done()
    records = await hass.async_add_executor_job(
        lambda: hass.data[AUDIT_TRAIL].log.query(entry_id=home.entry_id)
    )
    denied = [
        (r.user_id, r.data["reason"], r.data["count"]) for r in records if r.kind == "stream_denied"
    ]
    # A request with a bearer token is refused before anything else: the stream is opened by
    # its signed path alone (the colleague's and the operator's own logins alike). The first
    # refusal of each user is logged at once, in the order they came; the two merged minutes
    # close together, in either order.
    assert denied[:2] == [
        (colleague.user.id, "authorization_header", 1),
        (operator.user.id, "authorization_header", 1),
    ]
    assert sorted(denied[2:]) == sorted(
        [
            (colleague.user.id, "authorization_header", 1),
            (operator.user.id, "already_viewing", 1),
        ]
    )


async def test_closing_the_browser_releases_the_camera_and_restores_privacy(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"privacy": {"initial": True}}}
    )
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "switch": [
                        {
                            "name": "Camera privacy",
                            "state": "{{ is_state('input_boolean.privacy', 'on') }}",
                            "turn_on": {
                                "action": "input_boolean.turn_on",
                                "target": {"entity_id": "input_boolean.privacy"},
                            },
                            "turn_off": {
                                "action": "input_boolean.turn_off",
                                "target": {"entity_id": "input_boolean.privacy"},
                            },
                        }
                    ]
                }
            ]
        },
    )
    await hass.async_block_till_done()
    entry = await add_home_with_open_slot(
        hass,
        hass_storage,
        str(night_video),
        [operator.user.id],
        **{CONF_PRIVACY_ENTITY: "switch.camera_privacy"},
    )
    assert hass.states.get("switch.camera_privacy").state == "on"
    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
    assert started["success"]
    # Privacy mode is off only while somebody looks.
    assert hass.states.get("switch.camera_privacy").state == "off"
    client = await hass_client_no_auth()
    response = await client.get(started["result"]["stream_path"])
    assert len(await read_frames(response, 2)) == 2
    live = entry.runtime_data.gate.live
    assert live is not None
    response.close()
    # The gate lets go of the look first, then switches privacy mode back on (a service call).
    await wait_until(
        hass,
        lambda: (
            entry.runtime_data.gate.live is None
            and hass.states.get("switch.camera_privacy").state == "on"
        ),
    )
    assert live.ended
    assert live.end_reason == "viewer_gone"
    assert not any(t.name.startswith("trygghetskamera-look") for t in threading.enumerate())
    assert hass.states.get("binary_sensor.lgh_1203_equipment").state == "off"


async def test_stream_ends_after_view_seconds(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    clean_cwd: Path,
) -> None:
    """A look lasts view_seconds (±1 s) and then ends by itself; nothing reaches the disk."""
    entry = await add_home_with_open_slot(
        hass, hass_storage, str(night_video), [operator.user.id], **{CONF_VIEW_SECONDS: 10}
    )
    ws = await hass_ws_client(hass, operator.token)
    began = time.monotonic()
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
    client: ClientSession = await hass_client_no_auth()
    response = await client.get(started["result"]["stream_path"])
    frames = 0
    async with asyncio.timeout(15):
        while chunk := await response.content.readany():
            frames += chunk.count(b"\xff\xd8\xff")
    lasted = time.monotonic() - began
    assert 9.0 <= lasted <= 11.0, lasted
    assert frames >= 50  # the 10 fps camera, for about 10 s
    await hass.async_block_till_done()
    assert entry.runtime_data.gate.live is None

    # Not a frame, still or temp file anywhere in the config directory or the working dir.
    for folder in (Path(hass.config.config_dir), clean_cwd):
        for path in folder.rglob("*"):
            if path.is_file():
                head = path.read_bytes()[:16]
                assert not head.startswith(b"\xff\xd8"), path
                assert not head.startswith(b"\x89PNG"), path
                assert b"ftyp" not in head, path
                if path.suffix != ".db" and path.stat().st_size:
                    assert b"\xff\xd8\xff" not in path.read_bytes(), path


# --- the sensor view -----------------------------------------------------------------------------

BED_REGION = [0.3, 0.45, 0.95, 0.9]


@pytest.fixture(scope="session")
def fallen_video(media_dir: Path) -> Path:
    """A real H.264 night scene (640x480): a person on the floor beside the bed, with a face."""
    path = media_dir / "fallen.mp4"
    scenes.generate_night_scene(
        path, seconds=4, fps=10, size=(640, 480), pose="on_floor", face=True
    )
    return path


def client_luma(jpeg: bytes) -> np.ndarray:
    """The luma a browser decodes from one JPEG of the stream."""
    image = Image.open(io.BytesIO(jpeg))
    image.draft("YCbCr", image.size)
    return np.asarray(image, dtype=np.float64)[..., 0]


def laplacian_variance(luma: np.ndarray) -> float:
    """Detail: the variance of the 4-neighbour Laplacian (0 for a flat area)."""
    laplacian = (
        luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4 * luma[1:-1, 1:-1]
    )
    return float(laplacian.var()) if laplacian.size else 0.0


def finest_detail(luma: np.ndarray, block: int = 16) -> float:
    """The most detail in any block of the picture (where a face would be, if one is shown)."""
    height, width = luma.shape
    return max(
        laplacian_variance(luma[y : y + block, x : x + block])
        for y in range(0, height - block + 1, block // 2)
        for x in range(0, width - block + 1, block // 2)
    )


async def audit_records(hass: HomeAssistant, entry_id: str) -> list[Any]:
    return await hass.async_add_executor_job(
        lambda: hass.data[AUDIT_TRAIL].log.query(entry_id=entry_id)
    )


async def finish_look(hass: HomeAssistant, ws: Any, session_id: str) -> None:
    outcome = await ws_call(
        ws, {"type": f"{DOMAIN}/session/outcome", "session_id": session_id, "outcome": "ok"}
    )
    assert outcome["success"], outcome
    await hass.async_block_till_done()


async def test_bed_area_look_sends_nothing_outside_the_bed_area(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    entry = await add_home_with_open_slot(
        hass,
        hass_storage,
        str(night_video),
        [operator.user.id],
        **{CONF_VIEW_MODE: "bed_area", CONF_VIEW_REGION: BED_REGION},
    )
    ws = await hass_ws_client(hass, operator.token)
    homes = await ws_call(ws, {"type": f"{DOMAIN}/homes"})
    assert homes["result"][0]["view_mode"] == "bed_area"
    assert homes["result"][0]["view_region"] == BED_REGION
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
    assert started["success"], started
    assert started["result"]["view_mode"] == "bed_area"
    client = await hass_client_no_auth()
    response = await client.get(started["result"]["stream_path"])
    frames = await read_frames(response, 12)
    assert len(frames) == 12
    for jpeg in frames:
        luma = client_luma(jpeg)
        height, width = luma.shape
        left, top, right, bottom = region_pixels(BED_REGION, width, height)
        outside = np.ones_like(luma, dtype=bool)
        outside[top:bottom, left:right] = False
        # Every pixel outside the bed area is the same black: not a trace of the room.
        assert luma[outside].max() == luma[outside].min() == 0
        for strip in (luma[:top], luma[bottom:], luma[:, :left], luma[:, right:]):
            assert laplacian_variance(strip) == 0.0
        assert laplacian_variance(luma[top:bottom, left:right]) > 1.0
    await finish_look(hass, ws, started["result"]["session_id"])
    ended = [r for r in await audit_records(hass, entry.entry_id) if r.kind == "stream_ended"]
    assert [r.data["view_mode"] for r in ended] == ["bed_area"]


async def test_silhouette_look_shows_where_the_person_lies_but_no_face(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    fallen_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    entry = await add_home_with_open_slot(
        hass, hass_storage, str(fallen_video), [operator.user.id], **{CONF_VIEW_MODE: "silhouette"}
    )
    # What the camera shows, as the full view would send it: a face full of detail.
    with av.open(str(fallen_video)) as container:
        full = [
            client_luma(media.encode_jpeg(frame, 75))
            for frame in itertools.islice(container.decode(video=0), 0, 40, 8)
        ]
    face_detail = min(finest_detail(luma) for luma in full)
    assert face_detail > 1000

    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
    assert started["result"]["view_mode"] == "silhouette"
    client = await hass_client_no_auth()
    response = await client.get(started["result"]["stream_path"])
    frames = await read_frames(response, 8)
    assert len(frames) == 8
    bed_x0, _bed_y0, _bed_x1, _bed_y1 = scenes.SCENE_BED
    for jpeg in frames:
        luma = client_luma(jpeg)
        # Nowhere in the picture is there detail like the face's.
        assert finest_detail(luma) < 0.05 * face_detail
        # The light shape lies on the floor, left of the bed: "on the floor beside the bed".
        ys, xs = np.nonzero(luma > 160)
        assert len(xs) > 0.01 * luma.size
        assert xs.mean() / luma.shape[1] < bed_x0
        assert ys.mean() / luma.shape[0] > scenes.SCENE_FLOOR_Y
    await finish_look(hass, ws, started["result"]["session_id"])
    ended = [r for r in await audit_records(hass, entry.entry_id) if r.kind == "stream_ended"]
    assert [r.data["view_mode"] for r in ended] == ["silhouette"]


async def test_a_view_that_cannot_be_made_ends_the_look_without_a_frame(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A bed area stored wrong (edited outside the options flow): no picture, not the full one."""
    entry = await add_home_with_open_slot(
        hass,
        hass_storage,
        str(night_video),
        [operator.user.id],
        **{CONF_VIEW_MODE: "bed_area", CONF_VIEW_REGION: [0.6, 0.5, 0.4, 0.9]},
    )
    facts: list[Any] = []
    entry.runtime_data.async_add_audit_sink(facts.append)
    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
    assert started["success"]
    client = await hass_client_no_auth()
    response = await client.get(started["result"]["stream_path"])
    # The look ends as the view fails, before or after the browser asks: either way no frame.
    async with asyncio.timeout(5):
        body = await response.content.read()
    assert response.status in (200, 403)
    assert b"\xff\xd8" not in body
    await wait_until(hass, lambda: any(fact.kind == "stream_ended" for fact in facts))
    assert entry.runtime_data.gate.live is None
    ended = [fact for fact in facts if fact.kind == "stream_ended"]
    assert [(f.data["reason"], f.data["view_mode"]) for f in ended] == [
        ("filter_error", "bed_area")
    ]
    await hass.async_block_till_done()
    # A broken view is not a broken camera: no probe, no equipment fault.
    assert hass.states.get("binary_sensor.lgh_1203_equipment").state == "off"
    assert "camera_probe" not in await audit_kinds(hass, entry.entry_id)


async def test_a_view_that_fails_mid_look_ends_the_stream(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fail closed: after a filter fault the client gets no further frame, filtered or not.

    No real frame makes numpy fail half-way through a look, so the fault is injected: the
    silhouette's filter raises from its fourth frame on.
    """
    applied = itertools.count(1)
    real_apply = view_filter.SilhouetteView.apply

    def failing_apply(self: view_filter.SilhouetteView, frame: av.VideoFrame) -> av.VideoFrame:
        if next(applied) > 3:
            raise MemoryError("injected")
        return real_apply(self, frame)

    monkeypatch.setattr(view_filter.SilhouetteView, "apply", failing_apply)
    entry = await add_home_with_open_slot(
        hass, hass_storage, str(night_video), [operator.user.id], **{CONF_VIEW_MODE: "silhouette"}
    )
    facts: list[Any] = []
    entry.runtime_data.async_add_audit_sink(facts.append)
    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
    client = await hass_client_no_auth()
    response = await client.get(started["result"]["stream_path"])
    async with asyncio.timeout(5):
        body = await response.content.read()
    # At most the three filtered frames, and the stream is over.
    assert body.count(b"\xff\xd8\xff") <= 3
    await wait_until(hass, lambda: any(fact.kind == "stream_ended" for fact in facts))
    assert entry.runtime_data.gate.live is None
    ended = [fact for fact in facts if fact.kind == "stream_ended"]
    assert [(f.data["reason"], f.data["view_mode"]) for f in ended] == [
        ("filter_error", "silhouette")
    ]
    await hass.async_block_till_done()


async def test_installer_marks_the_bed_area_in_the_commissioning_look(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    make_person: Callable[..., Awaitable[Person]],
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    colleague = await make_person("Kollega")
    entry = await add_home_with_open_slot(
        hass,
        hass_storage,
        str(night_video),
        [operator.user.id, colleague.user.id],
        **{CONF_VIEW_MODE: "silhouette"},
    )
    facts: list[Any] = []
    entry.runtime_data.async_add_audit_sink(facts.append)
    ws = await hass_ws_client(hass, operator.token)
    homes = await ws_call(ws, {"type": f"{DOMAIN}/homes"})
    assert homes["result"][0]["commissioned"] is False
    assert "session" in homes["result"][0]["commissioning_missing"]
    assert homes["result"][0]["may_commission"] is True
    started = await ws_call(
        ws,
        {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id, "purpose": "commissioning"},
    )
    assert started["success"], started
    # The installer sees the whole picture to place the camera and mark the bed.
    assert started["result"]["view_mode"] == "full"
    session_id = started["result"]["session_id"]
    live = entry.runtime_data.gate.live
    # One look at a time: nobody may start another while this one runs.
    homes = await ws_call(ws, {"type": f"{DOMAIN}/homes"})
    assert homes["result"][0]["may_commission"] is False
    client = await hass_client_no_auth()
    response = await client.get(started["result"]["stream_path"])
    first = await read_frames(response, 1)
    assert laplacian_variance(client_luma(first[0])) > 5.0  # the camera's own noise and edges

    def region_set(user_ws: Any, region: Any, session: str = session_id) -> Any:
        return ws_call(
            user_ws,
            {"type": f"{DOMAIN}/view_region/set", "session_id": session, "region": region},
        )

    colleague_ws = await hass_ws_client(hass, colleague.token)
    assert (await region_set(colleague_ws, BED_REGION))["error"]["code"] == "not_operator"
    assert (await region_set(ws, [0.3, 0.45, 0.35, 0.9]))["error"]["code"] == "region_too_small"
    assert (await region_set(ws, [0.3, 0.45, 1.5, 0.9]))["error"]["code"] == "region_outside"
    assert (await region_set(ws, [0.9, 0.45, 0.3, 0.9]))["error"]["code"] == "region_order"
    assert (await region_set(ws, [0.3, 0.45]))["error"]["code"] == "region_format"
    assert (await region_set(ws, BED_REGION, "nope"))["error"]["code"] == "not_found"
    assert entry.options.get(CONF_VIEW_REGION) is None

    saved = await region_set(ws, BED_REGION)
    assert saved["success"], saved
    assert saved["result"] == {"view_region": BED_REGION, "view_mode": "silhouette"}
    await hass.async_block_till_done()
    assert entry.options[CONF_VIEW_REGION] == BED_REGION
    # Saved without ending the look, which now shows what staff will see.
    assert entry.runtime_data.gate.live is live
    assert not live.ended
    switched = False
    for _ in range(30):
        frame = await read_frames(response, 1)
        # The wall above the bed: camera noise in the full view, one flat tone in a silhouette.
        if frame and laplacian_variance(client_luma(frame[0])[:30, -100:]) == 0.0:
            switched = True
            break
    assert switched, "the look never switched to the silhouette"
    await finish_look(hass, ws, session_id)

    by_kind = {fact.kind: fact for fact in facts}
    assert by_kind["view_region_set"].user_id == operator.user.id
    assert by_kind["view_region_set"].data["region"] == BED_REGION
    assert by_kind["options_changed"].user_id == operator.user.id
    assert by_kind["options_changed"].data["changes"] == {
        CONF_VIEW_REGION: {"old": None, "new": BED_REGION}
    }
    assert by_kind["stream_ended"].data["view_mode"] == "full"
    assert by_kind["stream_ended"].data["view_mode_after"] == "silhouette"
    denied = [fact.data["reason"] for fact in facts if fact.kind == "view_region_denied"]
    assert denied == [
        "not_operator",
        "region_too_small",
        "region_outside",
        "region_order",
        "region_format",
    ]


async def test_the_bed_area_is_marked_in_a_commissioning_look_only(
    hass: HomeAssistant,
    home: MockConfigEntry,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
) -> None:
    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": home.entry_id})
    assert started["result"]["view_mode"] == "full"
    refused = await ws_call(
        ws,
        {
            "type": f"{DOMAIN}/view_region/set",
            "session_id": started["result"]["session_id"],
            "region": BED_REGION,
        },
    )
    assert refused["error"]["code"] == "not_commissioning"
    assert home.options.get(CONF_VIEW_REGION) is None
