"""Commissioning with the staff: camera test, equipment states and a commissioning look.

A new home (or one whose camera was changed) is not commissioned until all three have passed.
Everything runs through the real harness: config entries, entity states, the operator websocket
API, PyAV probing the generated video, repair issues and the audit log.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import Unauthorized
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.trygghetskamera.audit_trail import AUDIT_TRAIL
from custom_components.trygghetskamera.const import (
    CONF_BED_ENTITY,
    CONF_PLUG_ENTITY,
    CONF_POWER_ENTITY,
    CONF_STREAM_URL,
    CONF_VIEW_MODE,
    CONF_VIEW_REGION,
    DOMAIN,
)

from .conftest import Person, make_home_entry
from .media_sources import MjpegServer
from .test_gate import client_luma, laplacian_variance, read_frames, ws_call
from .test_runtime import at

PLUG, POWER, BED = "switch.lgh_1203_plug", "sensor.lgh_1203_power", "binary_sensor.lgh_1203_bed"


@pytest.fixture(autouse=True)
async def afternoon(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """15:00 in Stockholm, before any login is made (tokens carry the time they were made)."""
    await hass.config.async_set_time_zone("Europe/Stockholm")
    freezer.move_to(at("15:00"))


async def add_new_home(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    video: Path,
    operators: list[str],
    *,
    equipment: bool = False,
) -> MockConfigEntry:
    """A home added at 15:00 with its agreed time at 22:30 and a plug, meter and bed sensor.

    With `equipment`, the three report valid states from the start.
    """
    if equipment:
        for entity_id, state in ((PLUG, "on"), (POWER, "5.0"), (BED, "off")):
            hass.states.async_set(entity_id, state)
    entry = make_home_entry(
        str(video),
        operators,
        **{CONF_PLUG_ENTITY: PLUG, CONF_POWER_ENTITY: POWER, CONF_BED_ENTITY: BED},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def missing(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, str] | None:
    """What the repair issue marks as done (✓) or missing (✗); None without an issue."""
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"not_commissioned_{entry.entry_id}")
    if issue is None:
        return None
    assert issue.translation_key == "not_commissioned"
    placeholders = dict(issue.translation_placeholders or {})
    assert placeholders.pop("name") == "Lgh 1203"
    return placeholders


def commissioned(hass: HomeAssistant) -> bool:
    return hass.states.get("sensor.lgh_1203_status").attributes["commissioned"]


async def audit(hass: HomeAssistant, entry_id: str) -> list[Any]:
    log = hass.data[AUDIT_TRAIL].log
    return await hass.async_add_executor_job(lambda: log.query(entry_id=entry_id))


async def start(ws: Any, entry: MockConfigEntry) -> dict[str, Any]:
    return await ws_call(
        ws,
        {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id, "purpose": "commissioning"},
    )


async def outcome(ws: Any, started: dict[str, Any], outcome: str) -> None:
    done = await ws_call(
        ws,
        {
            "type": f"{DOMAIN}/session/outcome",
            "session_id": started["result"]["session_id"],
            "outcome": outcome,
        },
    )
    assert done["success"], done


async def test_commissioning_needs_camera_equipment_and_a_look_with_the_staff(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
) -> None:
    hass.states.async_set(PLUG, "unavailable")
    hass.states.async_set(POWER, "unknown")
    hass.states.async_set(BED, "on", {"device_class": "occupancy"})
    entry = await add_new_home(hass, freezer, night_video, [operator.user.id])
    assert commissioned(hass) is False
    assert missing(hass, entry) == {
        "camera_probe": "✗",
        "equipment": "✗",
        "session": "✗",
    }
    ws = await hass_ws_client(hass, operator.token)
    [listed] = (await ws_call(ws, {"type": f"{DOMAIN}/homes"}))["result"]
    assert listed["commissioned"] is False

    # The plug comes on and its meter reports: every equipment entity has a valid state.
    hass.states.async_set(PLUG, "on")
    await hass.async_block_till_done()
    assert missing(hass, entry) == {
        "camera_probe": "✗",
        "equipment": "✗",
        "session": "✗",
    }
    hass.states.async_set(POWER, "4.2", {"unit_of_measurement": "W"})
    await hass.async_block_till_done()
    assert missing(hass, entry) == {
        "camera_probe": "✗",
        "equipment": "✓",
        "session": "✗",
    }

    # Outside any slot, the operator starts the commissioning look; it begins with a camera test.
    started = await start(ws, entry)
    assert started["success"], started
    assert missing(hass, entry) == {
        "camera_probe": "✓",
        "equipment": "✓",
        "session": "✗",
    }
    assert hass.states.get("sensor.lgh_1203_status").state == "viewing"
    await outcome(ws, started, "ok")
    await hass.async_block_till_done()

    assert commissioned(hass) is True
    assert missing(hass, entry) is None
    # A commissioning look is not a supervision: nothing is counted as a check.
    assert hass.states.get("sensor.lgh_1203_last_supervision").state == "unknown"
    records = await audit(hass, entry.entry_id)
    kinds = [record.kind for record in records]
    assert kinds.count("commissioning_check") == 3
    [record] = [record for record in records if record.kind == "commissioned"]
    assert record.user_id == operator.user.id
    assert record.data["checks"] == ["camera_probe", "equipment", "session"]
    [look] = [record for record in records if record.kind == "session_started"]
    assert look.data["purpose"] == "commissioning"
    assert look.user_id == operator.user.id

    # Once commissioned, no more looks outside the slots.
    refused = await start(ws, entry)
    assert refused["error"]["code"] == "commissioning_closed"


async def test_commissioning_look_refused_without_consent_and_for_others(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    operator: Person,
    make_person: Callable[..., Awaitable[Person]],
    hass_ws_client: WebSocketGenerator,
) -> None:
    entry = await add_new_home(hass, freezer, night_video, [operator.user.id], equipment=True)
    admin = await make_person("Systemadministratör", admin=True)

    admin_ws = await hass_ws_client(hass, admin.token)
    assert (await start(admin_ws, entry))["error"]["code"] == "not_operator"

    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.lgh_1203_consent"}, blocking=True
    )
    ws = await hass_ws_client(hass, operator.token)
    assert (await start(ws, entry))["error"]["code"] == "no_consent"
    await hass.async_block_till_done()

    # Neither refusal touched the camera: without consent not even a test of it is run.
    records = await audit(hass, entry.entry_id)
    assert "camera_probe" not in [record.kind for record in records]
    assert missing(hass, entry) == {
        "camera_probe": "✗",
        "equipment": "✓",
        "session": "✗",
    }
    assert commissioned(hass) is False


async def test_another_camera_must_be_commissioned_again(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    socket_enabled: None,
) -> None:
    entry = await add_new_home(hass, freezer, night_video, [operator.user.id], equipment=True)
    ws = await hass_ws_client(hass, operator.token)
    await outcome(ws, await start(ws, entry), "ok")
    await hass.async_block_till_done()
    assert commissioned(hass) is True

    # The technician points the home at another camera (the reconfigure flow tries it first).
    flow = await entry.start_reconfigure_flow(hass)
    with MjpegServer(kind="black", seconds=1, size=(320, 240)) as covered:
        result = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {CONF_STREAM_URL: covered.url}
        )
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()

        assert commissioned(hass) is False
        assert missing(hass, entry) == {
            "camera_probe": "✗",
            "equipment": "✓",
            "session": "✗",
        }
        kinds = [record.kind for record in await audit(hass, entry.entry_id)]
        assert "commissioning_reset" in kinds
        # The new camera shows only black: its test fails, the look is refused as a fault.
        ws = await hass_ws_client(hass, operator.token)
        assert (await start(ws, entry))["error"]["code"] == "fault"
        faults = hass.states.get("binary_sensor.lgh_1203_equipment").attributes["faults"]
        assert faults == ["camera"]
        assert missing(hass, entry) == {
            "camera_probe": "✗",
            "equipment": "✓",
            "session": "✗",
        }
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


async def test_slots_run_as_usual_before_commissioning(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
) -> None:
    entry = await add_new_home(hass, freezer, night_video, [operator.user.id], equipment=True)
    ws = await hass_ws_client(hass, operator.token)  # logged in before the token ages
    freezer.move_to(at("22:31"))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.lgh_1203_status").state == "due"
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
    assert started["success"], started
    assert commissioned(hass) is False


# --- the commissioning period ------------------------------------------------------------------


async def records_of(hass: HomeAssistant, entry: MockConfigEntry, kind: str) -> list[Any]:
    return [record for record in await audit(hass, entry.entry_id) if record.kind == kind]


async def homes(ws: Any) -> dict[str, Any]:
    [home] = (await ws_call(ws, {"type": f"{DOMAIN}/homes"}))["result"]
    return home


async def test_no_commissioning_look_fourteen_days_after_the_home_was_added(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """An uncommissioned home is no backdoor to the picture at any hour, for ever."""
    entry = await add_new_home(hass, freezer, night_video, [operator.user.id], equipment=True)
    ws = await hass_ws_client(hass, operator.token)  # logged in before the token ages
    listed = await homes(ws)
    assert listed["may_commission"] is True
    assert listed["commissioning_looks_left"] == 10
    assert datetime.fromisoformat(listed["commissioning_until"]) == at("15:00").replace(day=29)

    freezer.move_to(at("15:00").replace(day=29))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert (await homes(ws))["may_commission"] is False
    refused = await start(ws, entry)
    assert refused["error"]["code"] == "commissioning_closed"
    await hass.async_block_till_done()
    [denied] = await records_of(hass, entry, "session_denied")
    assert denied.data == {"reason": "commissioning_closed", "purpose": "commissioning"}
    # Closed means closed: not even the camera test that begins a commissioning look ran.
    probes = await records_of(hass, entry, "camera_probe")
    assert [probe for probe in probes if probe.user_id == operator.user.id] == []
    assert commissioned(hass) is False


async def test_at_most_ten_commissioning_looks(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
) -> None:
    entry = await add_new_home(hass, freezer, night_video, [operator.user.id], equipment=True)
    ws = await hass_ws_client(hass, operator.token)
    for number in range(1, 11):
        started = await start(ws, entry)
        assert started["success"], (number, started)
        # A look that showed nothing useful keeps the home uncommissioned, and uses one up.
        await outcome(ws, started, "not_visible")
        await hass.async_block_till_done()
    assert (await homes(ws))["commissioning_looks_left"] == 0
    assert (await start(ws, entry))["error"]["code"] == "commissioning_closed"
    looks = await records_of(hass, entry, "session_started")
    assert [(r.data["purpose"], r.data["commissioning_look"]) for r in looks] == [
        ("commissioning", number) for number in range(1, 11)
    ]
    assert {r.user_id for r in looks} == {operator.user.id}


async def test_commissioning_look_shows_the_home_view_once_a_bed_area_is_set(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A silhouette home's commissioning look is a silhouette once the bed is marked."""
    entry = await add_new_home(hass, freezer, night_video, [operator.user.id], equipment=True)
    hass.config_entries.async_update_entry(
        entry,
        options=dict(entry.options)
        | {CONF_VIEW_MODE: "silhouette", CONF_VIEW_REGION: [0.3, 0.45, 0.95, 0.9]},
    )
    await hass.async_block_till_done()
    ws = await hass_ws_client(hass, operator.token)
    started = await start(ws, entry)
    assert started["result"]["view_mode"] == "silhouette"
    client = await hass_client_no_auth()
    response = await client.get(started["result"]["stream_path"])
    frames = await read_frames(response, 3)
    assert len(frames) == 3
    for frame in frames:
        # The wall above the bed: camera noise in the full picture, one flat tone here.
        assert laplacian_variance(client_luma(frame)[:30, -100:]) == 0.0
    await outcome(ws, started, "not_visible")
    await hass.async_block_till_done()
    [ended] = await records_of(hass, entry, "stream_ended")
    assert ended.data["view_mode"] == "silhouette"


async def test_an_admin_restarts_commissioning_with_who_and_why(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    operator: Person,
    make_person: Callable[..., Awaitable[Person]],
    hass_ws_client: WebSocketGenerator,
) -> None:
    entry = await add_new_home(hass, freezer, night_video, [operator.user.id], equipment=True)
    admin = await make_person("Systemadministratör", admin=True)
    ws = await hass_ws_client(hass, operator.token)
    device_id = entry.runtime_data.device_id
    freezer.move_to(at("15:00").replace(day=30))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert (await start(ws, entry))["error"]["code"] == "commissioning_closed"

    data = {"device_id": device_id, "reason": "Kameran flyttad till andra väggen"}
    # Neither the operator nor an automation may reopen it.
    for context in (Context(user_id=operator.user.id), Context()):
        with pytest.raises(Unauthorized):
            await hass.services.async_call(
                DOMAIN, "restart_commissioning", data, blocking=True, context=context
            )
    assert (await start(ws, entry))["error"]["code"] == "commissioning_closed"
    denied = await records_of(hass, entry, "action_denied")
    assert [(r.user_id, r.data["action"]) for r in denied] == [
        (operator.user.id, "restart_commissioning"),
        (None, "restart_commissioning"),
    ]

    await hass.services.async_call(
        DOMAIN, "restart_commissioning", data, blocking=True, context=Context(user_id=admin.user.id)
    )
    await hass.async_block_till_done()
    [restarted] = await records_of(hass, entry, "commissioning_restarted")
    assert restarted.user_id == admin.user.id
    assert restarted.data["reason"] == "Kameran flyttad till andra väggen"
    assert restarted.data["until"] == at("15:00").replace(day=30 + 14 - 31, month=2).isoformat()
    listed = await homes(ws)
    assert listed["may_commission"] is True
    assert listed["commissioning_looks_left"] == 10
    assert missing(hass, entry) == {
        "camera_probe": "✗",
        "equipment": "✓",
        "session": "✗",
    }
    started = await start(ws, entry)
    assert started["success"], started


async def test_the_commissioning_period_survives_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
) -> None:
    entry = await add_new_home(hass, freezer, night_video, [operator.user.id], equipment=True)
    ws = await hass_ws_client(hass, operator.token)
    for _ in range(3):
        started = await start(ws, entry)
        await outcome(ws, started, "not_visible")
        await hass.async_block_till_done()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    listed = await homes(ws)
    assert listed["commissioning_looks_left"] == 7
    assert datetime.fromisoformat(listed["commissioning_until"]) == at("15:00").replace(day=29)
