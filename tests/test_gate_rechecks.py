"""The gate re-checks every condition of a look at every step, not only when it is granted.

Each test is an attack on a running (or just granted) look, through the real operator API: the
websocket, the signed MJPEG stream of real decoded H.264, real config entries, real users and
their logins, and real template switches as the camera's privacy mode. What counts is what the
client receives.
"""

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.trygghetskamera.audit import AuditLog
from custom_components.trygghetskamera.audit_trail import AUDIT_TRAIL
from custom_components.trygghetskamera.const import (
    CONF_OPERATORS,
    CONF_PRIVACY_ENTITY,
    CONF_VIEW_SECONDS,
    DOMAIN,
)

from .conftest import Person
from .test_gate import add_home_with_open_slot, audit_records, read_frames, wait_until, ws_call


async def add_privacy_switches(hass: HomeAssistant, *names: str) -> list[str]:
    """Real switches standing for cameras' privacy modes (template switches over booleans)."""
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {name: {"initial": True} for name in names}}
    )
    switches = [
        {
            "name": f"Privacy {name}",
            "unique_id": f"privacy_{name}",
            "state": f"{{{{ is_state('input_boolean.{name}', 'on') }}}}",
            "turn_on": {
                "action": "input_boolean.turn_on",
                "target": {"entity_id": f"input_boolean.{name}"},
            },
            "turn_off": {
                "action": "input_boolean.turn_off",
                "target": {"entity_id": f"input_boolean.{name}"},
            },
        }
        for name in names
    ]
    assert await async_setup_component(hass, "template", {"template": [{"switch": switches}]})
    await hass.async_block_till_done()
    return [f"switch.privacy_{name}" for name in names]


async def frames_after(response: Any) -> int:
    """Read a stream to its end (bounded) and count the JPEG frames it still delivered."""
    count = 0
    async with asyncio.timeout(10):
        while chunk := await response.content.readany():
            count += chunk.count(b"\xff\xd8\xff")
    return count


async def stream_end_reasons(hass: HomeAssistant, entry: MockConfigEntry) -> list[str]:
    await hass.async_block_till_done()
    records = await audit_records(hass, entry.entry_id)
    return [record.data["reason"] for record in records if record.kind == "stream_ended"]


async def _withdrawn_while_granting(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    withdraw: Callable[[], Awaitable[None]],
    code: str,
) -> None:
    """The moment the home shows `viewing` (the core granted the look), a condition goes.

    The gate then still awaits the saved state and the audit log's fsync before it holds the
    look: the withdrawal lands in that gap.
    """
    withdrawn = asyncio.Event()

    @callback
    def on_state(event: Event[Any]) -> None:
        new = event.data["new_state"]
        if (
            event.data["entity_id"] == "sensor.lgh_1203_status"
            and new is not None
            and new.state == "viewing"
            and not withdrawn.is_set()
        ):

            async def run() -> None:
                await withdraw()
                withdrawn.set()

            hass.async_create_task(run())

    unsub = hass.bus.async_listen(EVENT_STATE_CHANGED, on_state)
    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
    async with asyncio.timeout(5):
        await withdrawn.wait()
    unsub()
    if started["success"]:
        client = await hass_client_no_auth()
        response = await client.get(started["result"]["stream_path"])
        assert await frames_after(response) == 0
    else:
        assert started["error"]["code"] == code
    await wait_until(hass, lambda: entry.runtime_data.gate.live is None)
    assert hass.states.get("switch.privacy_camera").state == "on"
    assert code in await stream_end_reasons(hass, entry)


async def test_consent_withdrawn_while_the_look_is_granted_shows_no_frame(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    [privacy] = await add_privacy_switches(hass, "camera")
    entry = await add_home_with_open_slot(
        hass, hass_storage, str(night_video), [operator.user.id], **{CONF_PRIVACY_ENTITY: privacy}
    )

    async def withdraw() -> None:
        await hass.services.async_call(
            "switch", "turn_off", {"entity_id": "switch.lgh_1203_consent"}, blocking=True
        )

    await _withdrawn_while_granting(
        hass, entry, operator, hass_ws_client, hass_client_no_auth, withdraw, "no_consent"
    )


async def test_fault_while_the_look_is_granted_shows_no_frame(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The fault enters where the health monitor delivers its debounced facts."""
    [privacy] = await add_privacy_switches(hass, "camera")
    entry = await add_home_with_open_slot(
        hass, hass_storage, str(night_video), [operator.user.id], **{CONF_PRIVACY_ENTITY: privacy}
    )

    async def fault() -> None:
        await entry.runtime_data.async_set_faults(frozenset({"plug"}))

    await _withdrawn_while_granting(
        hass, entry, operator, hass_ws_client, hass_client_no_auth, fault, "fault"
    )


async def _running_look(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> tuple[Any, Any]:
    """A look running, its stream read by the client; returns the stream and the websocket."""
    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
    assert started["success"], started
    client = await hass_client_no_auth()
    response = await client.get(started["result"]["stream_path"])
    assert response.status == 200
    assert len(await read_frames(response, 2)) == 2
    return response, ws


async def test_operator_removed_mid_look_stops_watching(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    make_person: Callable[..., Awaitable[Person]],
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    colleague = await make_person("Kollega")
    [privacy] = await add_privacy_switches(hass, "camera")
    entry = await add_home_with_open_slot(
        hass,
        hass_storage,
        str(night_video),
        [operator.user.id, colleague.user.id],
        **{CONF_PRIVACY_ENTITY: privacy},
    )
    response, _ws = await _running_look(hass, entry, operator, hass_ws_client, hass_client_no_auth)
    # The admin takes the operator off this home (the options flow saves without a reload).
    hass.config_entries.async_update_entry(
        entry, options=dict(entry.options) | {CONF_OPERATORS: [colleague.user.id]}
    )
    await hass.async_block_till_done()
    # Whatever was in flight when the options changed, the stream ends by itself.
    async with asyncio.timeout(5):
        await response.content.read()
    await wait_until(hass, lambda: entry.runtime_data.gate.live is None)
    assert hass.states.get(privacy).state == "on"
    assert await stream_end_reasons(hass, entry) == ["not_operator"]


# Home Assistant cancels the websocket handler of a revoked login, which leaves aiohttp's
# heartbeat timer of that socket armed until the server stops.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_deactivated_operator_stops_watching(
    expected_lingering_timers: bool,
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    [privacy] = await add_privacy_switches(hass, "camera")
    entry = await add_home_with_open_slot(
        hass, hass_storage, str(night_video), [operator.user.id], **{CONF_PRIVACY_ENTITY: privacy}
    )
    response, ws = await _running_look(hass, entry, operator, hass_ws_client, hass_client_no_auth)
    await hass.auth.async_update_user(operator.user, is_active=False)
    async with asyncio.timeout(5):
        await response.content.read()
    # Home Assistant closes the user's websocket too.
    async with asyncio.timeout(5):
        assert (await ws.receive()).type is WSMsgType.CLOSE
    await ws.close()
    await wait_until(
        hass,
        lambda: entry.runtime_data.gate.live is None and hass.states.get(privacy).state == "on",
    )
    assert hass.states.get(privacy).state == "on"
    assert await stream_end_reasons(hass, entry) == ["user_inactive"]


# Home Assistant cancels the websocket handler of a revoked login, which leaves aiohttp's
# heartbeat timer of that socket armed until the server stops.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_operator_logged_out_mid_look_stops_watching(
    expected_lingering_timers: bool,
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The look belongs to the login that started it: revoking that login ends it."""
    [privacy] = await add_privacy_switches(hass, "camera")
    entry = await add_home_with_open_slot(
        hass, hass_storage, str(night_video), [operator.user.id], **{CONF_PRIVACY_ENTITY: privacy}
    )
    response, ws = await _running_look(hass, entry, operator, hass_ws_client, hass_client_no_auth)
    refresh_token = hass.auth.async_validate_access_token(operator.token)
    assert refresh_token is not None
    hass.auth.async_remove_refresh_token(refresh_token)
    async with asyncio.timeout(5):
        await response.content.read()
    async with asyncio.timeout(5):
        assert (await ws.receive()).type is WSMsgType.CLOSE
    await ws.close()
    await wait_until(
        hass,
        lambda: entry.runtime_data.gate.live is None and hass.states.get(privacy).state == "on",
    )
    assert hass.states.get(privacy).state == "on"
    assert await stream_end_reasons(hass, entry) == ["logged_out"]


async def test_privacy_entity_changed_mid_look_turns_the_old_one_back_on(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    old, new = await add_privacy_switches(hass, "old_camera", "new_camera")
    entry = await add_home_with_open_slot(
        hass, hass_storage, str(night_video), [operator.user.id], **{CONF_PRIVACY_ENTITY: old}
    )
    response, _ws = await _running_look(hass, entry, operator, hass_ws_client, hass_client_no_auth)
    assert hass.states.get(old).state == "off"
    assert hass.states.get(new).state == "on"
    hass.config_entries.async_update_entry(
        entry, options=dict(entry.options) | {CONF_PRIVACY_ENTITY: new}
    )
    await hass.async_block_till_done()
    async with asyncio.timeout(5):
        await response.content.read()
    await wait_until(
        hass,
        lambda: entry.runtime_data.gate.live is None and hass.states.get(old).state == "on",
    )
    # Neither camera is left out of privacy mode, and nothing counts as an equipment fault.
    assert hass.states.get(new).state == "on"
    assert hass.states.get("binary_sensor.lgh_1203_equipment").state == "off"
    assert await stream_end_reasons(hass, entry) == ["privacy_entity_changed"]


async def test_bearer_login_with_a_garbage_signature_is_refused(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client: ClientSessionGenerator,
) -> None:
    """`Authorization: Bearer` plus `?authSig=garbage` is not a signed path."""
    entry = await add_home_with_open_slot(hass, hass_storage, str(night_video), [operator.user.id])
    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
    path = started["result"]["stream_path"].split("?")[0]
    client = await hass_client(operator.token)
    response = await client.get(f"{path}?authSig=garbage")
    assert response.status == 403
    assert b"\xff\xd8\xff" not in await response.read()
    # Not even the real signature opens the stream to a request that carries a bearer token.
    response = await client.get(started["result"]["stream_path"])
    assert response.status == 403
    await hass.async_block_till_done()
    records = await audit_records(hass, entry.entry_id)
    reasons = [record.data["reason"] for record in records if record.kind == "stream_denied"]
    assert reasons == ["authorization_header"]


async def test_stream_denials_are_merged_per_user_and_minute(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    make_person: Callable[..., Awaitable[Person]],
    hass_ws_client: WebSocketGenerator,
    hass_client: ClientSessionGenerator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A user hammering the stream fills the log with one record per minute, with a count."""
    intruder = await make_person("Inkräktare")
    entry = await add_home_with_open_slot(
        hass, hass_storage, str(night_video), [operator.user.id], **{CONF_VIEW_SECONDS: 120}
    )
    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
    client = await hass_client(intruder.token)
    for _ in range(20):
        assert (await client.get(started["result"]["stream_path"])).status == 403
    await hass.async_block_till_done()

    async def denied() -> list[tuple[str | None, int]]:
        log = hass.data[AUDIT_TRAIL].log
        records = await hass.async_add_executor_job(log.query)
        return [(r.user_id, r.data["count"]) for r in records if r.kind == "stream_denied"]

    # The first attempt is in the log at once.
    assert await denied() == [(intruder.user.id, 1)]
    freezer.tick(30)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    for _ in range(5):
        assert (await client.get(started["result"]["stream_path"])).status == 403
    await hass.async_block_till_done()
    assert await denied() == [(intruder.user.id, 1)]
    # A minute after the first, one record counts the rest of that minute.
    freezer.tick(31)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert await denied() == [(intruder.user.id, 1), (intruder.user.id, 24)]
    # A quiet minute adds nothing; the next attempt after it is again logged at once (the look
    # is over by then: the record has no home).
    freezer.tick(61)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert (await client.get(started["result"]["stream_path"])).status == 403
    await hass.async_block_till_done()
    assert await denied() == [
        (intruder.user.id, 1),
        (intruder.user.id, 24),
        (intruder.user.id, 1),
    ]


async def test_counted_stream_denials_are_logged_when_home_assistant_stops(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    night_video: Path,
    operator: Person,
    make_person: Callable[..., Awaitable[Person]],
    hass_ws_client: WebSocketGenerator,
    hass_client: ClientSessionGenerator,
) -> None:
    """A refusal counted but not yet written is not lost to a stop within the minute."""
    intruder = await make_person("Inkräktare")
    entry = await add_home_with_open_slot(hass, hass_storage, str(night_video), [operator.user.id])
    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
    client = await hass_client(intruder.token)
    for _ in range(3):
        assert (await client.get(started["result"]["stream_path"])).status == 403
    await ws.close()
    path = hass.data[AUDIT_TRAIL].log.path
    await hass.async_stop()
    # Read back from disk, as an auditor would after the stop.
    log = AuditLog(path)
    await hass.async_add_executor_job(log.start)
    try:
        found = [r for r in log.query(entry_id=entry.entry_id) if r.kind == "stream_denied"]
    finally:
        await hass.async_add_executor_job(log.stop)
    assert [(r.user_id, r.data["count"]) for r in found] == [
        (intruder.user.id, 1),
        (intruder.user.id, 2),
    ]
    assert found[1].home == "Lgh 1203"
