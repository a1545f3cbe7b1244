"""The camera gate: only a home's operators see it, only inside a slot, only for view_seconds."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
import threading
import time
from typing import Any

from aiohttp import ClientSession
from homeassistant.auth.models import User
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.trygghetskamera.audit_trail import AUDIT_TRAIL
from custom_components.trygghetskamera.const import (
    CONF_PRIVACY_ENTITY,
    CONF_TIMES,
    CONF_VIEW_SECONDS,
    DOMAIN,
)
from custom_components.trygghetskamera.gate import LIVE_SESSIONS
from custom_components.trygghetskamera.runtime import STORAGE_VERSION, home_config
from custom_components.trygghetskamera.supervision import Supervisor

from .conftest import make_home_entry

CLIENT_ID = "https://nattpatrull.example/"


class Person:
    """A real Home Assistant user with a login (refresh and access token)."""

    def __init__(self, user: User, token: str) -> None:
        self.user = user
        self.token = token


@pytest.fixture
async def make_person(
    hass: HomeAssistant, hass_owner_user: User
) -> Callable[..., Awaitable[Person]]:
    """Staff with their own logins (the owner exists first, so nobody else becomes it)."""

    async def make(name: str, *, admin: bool = False) -> Person:
        group = "system-admin" if admin else "system-users"
        user = await hass.auth.async_create_user(name, group_ids=[group])
        refresh = await hass.auth.async_create_refresh_token(user, CLIENT_ID)
        return Person(user, hass.auth.async_create_access_token(refresh))

    return make


@pytest.fixture
async def operator(make_person: Callable[..., Awaitable[Person]]) -> Person:
    return await make_person("Nattpersonal")


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
    [("consent_off", "no_consent"), ("skip", "skipped"), ("fault", "fault")],
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
        await runtime.async_skip_night(runtime.tonight(), None)
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

    records = await hass.async_add_executor_job(
        lambda: hass.data[AUDIT_TRAIL].log.query(entry_id=home.entry_id)
    )
    reasons = [r.data["reason"] for r in records if r.kind == "stream_denied"]
    assert reasons.count("other_user") >= 1
    assert "unsigned" in reasons
    assert "already_viewing" in reasons


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
    await wait_until(hass, lambda: entry.runtime_data.gate.live is None)
    assert live.ended
    assert live.end_reason == "viewer_gone"
    assert hass.states.get("switch.camera_privacy").state == "on"
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
