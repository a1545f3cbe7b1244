"""Privacy mode and the camera probe: a camera whose picture really turns black in privacy mode.

What is real here: the camera is `simulators.camera.MjpegServer`, an HTTP MJPEG camera on
loopback whose every frame is black while its privacy mode is on (also on a stream already
open), switched over its own HTTP API (`GET /privacy`, `POST /privacy/on|off`). The privacy
switch is Home Assistant's own `command_line` switch platform talking to that API with `curl`
(real subprocesses, real HTTP; the `rest` switch would be the obvious choice, but its
requirement `xmltodict` is not installed in the test harness). The probe decodes the real JPEG
stream with PyAV, the audit records are read back from the real audit log, the repair issue from
Home Assistant's issue registry. Nothing is mocked.

Waits: Home Assistant's loop clock stands still under `freezer`, so the gate's bounded wait for
a switch that never reports (`PRIVACY_CONFIRM_S`) would never end there. The tests whose switch
refuses run on the real clock, with a slot open now (`add_home_with_open_slot`), and drive the
automatic probe directly; every other wait is on an event, bounded by `asyncio.timeout`.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
import threading
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.trygghetskamera import media
from custom_components.trygghetskamera.audit_trail import AUDIT_TRAIL
from custom_components.trygghetskamera.const import (
    CONF_BED_ENTITY,
    CONF_PLUG_ENTITY,
    CONF_POWER_ENTITY,
    CONF_PRIVACY_ENTITY,
    DOMAIN,
    EVENT_VISIT_REQUIRED,
)
from custom_components.trygghetskamera.health import PROBE_LEAD
from custom_components.trygghetskamera.runtime import privacy_issue_id
from simulators.camera import MjpegServer

from .conftest import Person, make_home_entry
from .test_gate import add_home_with_open_slot, client_luma, read_frames, ws_call
from .test_runtime import at, new_home

SWITCH = "switch.camera_privacy"
# How long a test waits for something that must happen (generous: a loaded 2-core machine).
WAIT_S = 30


class HeldCamera(MjpegServer):
    """A camera that can hold its next stream client until released (a probe caught mid-way)."""

    def __init__(self) -> None:
        super().__init__(seconds=2, size=(320, 240), privacy=True)
        self.hold_next = False
        self.asked = threading.Event()
        self.release = threading.Event()

    def frames_from(self, now: float) -> Iterator[bytes]:
        if self.hold_next:
            self.hold_next = False
            self.asked.set()
            self.release.wait(WAIT_S)
        yield from super().frames_from(now)

    def stop(self) -> None:
        self.release.set()
        super().stop()


@pytest.fixture
async def camera(hass: HomeAssistant, socket_enabled: None) -> AsyncIterator[MjpegServer]:
    """A bedroom camera, in privacy mode (black) as Home Assistant keeps it between looks.

    The homes are unloaded while it still runs: their last act is to switch privacy mode on.
    """
    with MjpegServer(seconds=2, size=(320, 240), privacy=True) as server:
        yield server
        await unload_homes(hass)


async def unload_homes(hass: HomeAssistant) -> None:
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def add_privacy_switch(hass: HomeAssistant, camera: MjpegServer) -> None:
    """The camera's privacy mode as a real Home Assistant switch (command_line + curl)."""
    api = camera.privacy_url
    # Home Assistant's own actions (`homeassistant.update_entity`).
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(
        hass,
        "command_line",
        {
            "command_line": [
                {
                    "switch": {
                        "name": "Camera privacy",
                        "unique_id": "camera_privacy",
                        "command_on": f"curl -sf -X POST {api}/on",
                        "command_off": f"curl -sf -X POST {api}/off",
                        "command_state": f"curl -sf {api}",
                        "value_template": '{{ value == "on" }}',
                    }
                }
            ]
        },
    )
    await hass.async_block_till_done()
    # The switch reads the camera: it says on once it has asked (at its first update).
    await hass.services.async_call(
        "homeassistant", "update_entity", {"entity_id": SWITCH}, blocking=True
    )
    assert hass.states.is_state(SWITCH, "on")


def switch_history(hass: HomeAssistant) -> list[str]:
    """Every state the privacy switch reports from now on."""
    states: list[str] = []

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if event.data["entity_id"] != SWITCH or new is None:
            return
        if not states or states[-1] != new.state:
            states.append(new.state)

    hass.bus.async_listen("state_changed", changed)
    return states


async def audit_records(hass: HomeAssistant, entry_id: str, kind: str) -> list[Any]:
    """The home's records of one kind, read back from the audit log on disk."""
    log = hass.data[AUDIT_TRAIL].log
    records = await hass.async_add_executor_job(lambda: log.query(entry_id=entry_id))
    return [record for record in records if record.kind == kind]


def equipment_faults(hass: HomeAssistant) -> list[str]:
    state = hass.states.get("binary_sensor.lgh_1203_equipment")
    assert state is not None
    return list(state.attributes["faults"])


def privacy_issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, privacy_issue_id(entry.entry_id))


async def wait_for(hass: HomeAssistant, entity_id: str, state: str) -> None:
    """Wait (bounded) until `entity_id` reports `state`, on its state-change events."""
    if hass.states.is_state(entity_id, state):
        return
    reached = asyncio.Event()

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None and new.state == state:
            reached.set()

    unsub = async_track_state_change_event(hass, entity_id, changed)
    try:
        async with asyncio.timeout(WAIT_S):
            await reached.wait()
    finally:
        unsub()


def test_the_simulated_camera_really_turns_black_in_privacy_mode(camera: MjpegServer) -> None:
    """The test camera is honest: in privacy mode its stream decodes to black, else the room."""
    assert media.probe(camera.url, None, None, timeout_s=10).reason == media.REASON_BLACK
    camera.privacy = False
    assert media.probe(camera.url, None, None, timeout_s=10).ok
    camera.privacy = True
    assert media.probe(camera.url, None, None, timeout_s=10).reason == media.REASON_BLACK


async def test_the_probe_before_a_slot_lifts_privacy_mode_for_its_frame_only(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, camera: MjpegServer
) -> None:
    """The attack: privacy mode on, the camera black; the probe 10 minutes before the slot.

    Before the fix the probe read `black`: a camera fault, every slot a physical visit.
    """
    await add_privacy_switch(hass, camera)
    home = await new_home(hass, freezer, camera.url, at("21:00"), **{CONF_PRIVACY_ENTITY: SWITCH})
    assert hass.states.is_state(SWITCH, "on")
    history = switch_history(hass)

    await home.go(at("22:30") - PROBE_LEAD)

    [probe] = await audit_records(hass, home.entry.entry_id, "camera_probe")
    assert probe.user_id is None
    assert probe.data["ok"] is True, probe.data
    assert probe.data["reason"] is None
    assert probe.data["privacy_lifted"] is True
    assert probe.data["privacy_restored"] is True
    # Off for the probe, on again after it; the camera itself is back in privacy mode.
    assert history == ["off", "on"]
    assert hass.states.is_state(SWITCH, "on")
    assert camera.privacy
    assert equipment_faults(hass) == []
    assert privacy_issue(hass, home.entry) is None

    await home.go(at("22:30"))
    assert home.status == "due"
    assert home.visits_required == []


async def test_privacy_mode_that_does_not_come_back_on_is_a_privacy_fault(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    camera: MjpegServer,
    operator: Person,
) -> None:
    """The camera's privacy API fails after the probe turned it off: fault, repair, visit.

    Real clock (no `freezer`): the gate waits its bounded few seconds for the switch to report
    on, and gives up. The slot is open now, so the fault requires the visit at once.
    """
    await add_privacy_switch(hass, camera)
    visits = async_capture_events(hass, EVENT_VISIT_REQUIRED)
    entry = await add_home_with_open_slot(
        hass, hass_storage, camera.url, [operator.user.id], **{CONF_PRIVACY_ENTITY: SWITCH}
    )
    runtime = entry.runtime_data
    assert equipment_faults(hass) == []
    # The camera's privacy API breaks: it still turns off, but no longer on.
    camera.refuse_privacy_on = True

    result = await runtime.async_probe_camera(None)
    await hass.async_block_till_done()

    assert result.ok, result
    assert hass.states.is_state(SWITCH, "off")
    assert not camera.privacy
    assert equipment_faults(hass) == ["privacy"]
    issue = privacy_issue(hass, entry)
    assert issue is not None
    assert issue.translation_key == "fault_privacy"
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders == {"name": "Lgh 1203"}
    [visit] = [event.data for event in visits]
    assert visit["reason"] == "fault"
    probes = await audit_records(hass, entry.entry_id, "camera_probe")
    assert [(p.data["privacy_lifted"], p.data["privacy_restored"]) for p in probes][-1] == (
        True,
        False,
    )
    [fault] = await audit_records(hass, entry.entry_id, "fault")
    assert fault.data["added"] == ["privacy"]

    # Someone fixes the camera and switches privacy mode on: the fault and its issue clear.
    camera.refuse_privacy_on = False
    await hass.services.async_call("switch", "turn_on", {"entity_id": SWITCH}, blocking=True)
    await hass.async_block_till_done()
    assert camera.privacy
    assert equipment_faults(hass) == []
    assert privacy_issue(hass, entry) is None
    [cleared] = await audit_records(hass, entry.entry_id, "fault_cleared")
    assert cleared.data["cleared"] == ["privacy"]


async def test_a_probe_cut_short_by_unloading_the_home_leaves_privacy_mode_on(
    hass: HomeAssistant, hass_storage: dict[str, Any], operator: Person, socket_enabled: None
) -> None:
    """The home unloads (or Home Assistant stops) while the probe waits for the camera."""
    with HeldCamera() as camera:
        await add_privacy_switch(hass, camera)
        entry = await add_home_with_open_slot(
            hass, hass_storage, camera.url, [operator.user.id], **{CONF_PRIVACY_ENTITY: SWITCH}
        )
        assert hass.states.is_state(SWITCH, "on")

        camera.hold_next = True
        probe = hass.async_create_task(entry.runtime_data.async_probe_camera(None))
        await wait_for(hass, SWITCH, "off")
        async with asyncio.timeout(WAIT_S):
            assert await hass.async_add_executor_job(camera.asked.wait, WAIT_S)
        assert not camera.privacy
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        assert probe.done()

        assert hass.states.is_state(SWITCH, "on")
        assert camera.privacy


async def test_a_probe_during_a_look_leaves_privacy_mode_to_the_look(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    camera: MjpegServer,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Test camera pressed during a look: privacy mode stays off until the look ends, once."""
    await add_privacy_switch(hass, camera)
    entry = await add_home_with_open_slot(
        hass, hass_storage, camera.url, [operator.user.id], **{CONF_PRIVACY_ENTITY: SWITCH}
    )
    history = switch_history(hass)
    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
    assert started["success"], started
    assert hass.states.is_state(SWITCH, "off")

    result = await entry.runtime_data.async_probe_camera(operator.user.id)
    assert result.ok
    # The look still sees the room: the probe did not switch privacy mode on under it.
    assert hass.states.is_state(SWITCH, "off")
    assert not camera.privacy
    client = await hass_client_no_auth()
    response = await client.get(started["result"]["stream_path"])
    # The room is about 48 (limited-range luma), privacy mode black. Decoding starts while the
    # switch is still being turned off (for a quick first picture), so the look's first frames
    # may be black on a busy machine: the room must come within a few frames, and stay.
    lumas = [client_luma(frame).mean() for frame in await read_frames(response, 20)]
    assert len(lumas) == 20
    assert lumas[-1] > 30, lumas
    response.close()

    done = await ws_call(
        ws,
        {
            "type": f"{DOMAIN}/session/outcome",
            "session_id": started["result"]["session_id"],
            "outcome": "ok",
        },
    )
    assert done["success"], done
    await hass.async_block_till_done()
    assert history == ["off", "on"]
    assert camera.privacy
    [probe] = [
        record
        for record in await audit_records(hass, entry.entry_id, "camera_probe")
        if record.user_id == operator.user.id
    ]
    assert probe.data["privacy_lifted"] is False
    assert probe.data["privacy_restored"] is None
    assert equipment_faults(hass) == []


@pytest.fixture
async def afternoon(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """15:00 in Stockholm, before any login is made (tokens carry the time they were made)."""
    await hass.config.async_set_time_zone("Europe/Stockholm")
    freezer.move_to(at("15:00"))


async def test_commissioning_passes_its_camera_test_in_privacy_mode(
    hass: HomeAssistant,
    afternoon: None,
    camera: MjpegServer,
    operator: Person,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """A new home with privacy mode on: the commissioning look's camera test sees the room."""
    await add_privacy_switch(hass, camera)
    plug, power, bed = "switch.lgh_1203_plug", "sensor.lgh_1203_power", "binary_sensor.lgh_1203_bed"
    for entity_id, state in ((plug, "on"), (power, "5.0"), (bed, "off")):
        hass.states.async_set(entity_id, state)
    entry = make_home_entry(
        camera.url,
        [operator.user.id],
        **{
            CONF_PLUG_ENTITY: plug,
            CONF_POWER_ENTITY: power,
            CONF_BED_ENTITY: bed,
            CONF_PRIVACY_ENTITY: SWITCH,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime = entry.runtime_data
    assert "camera_probe" in runtime.commissioning_missing
    history = switch_history(hass)

    ws = await hass_ws_client(hass, operator.token)
    started = await ws_call(
        ws,
        {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id, "purpose": "commissioning"},
    )
    assert started["success"], started
    assert runtime.commissioning_missing == ["session"]
    [probe] = await audit_records(hass, entry.entry_id, "camera_probe")
    assert probe.data["ok"] is True, probe.data
    assert probe.data["privacy_lifted"] is True
    assert probe.data["privacy_restored"] is True
    done = await ws_call(
        ws,
        {
            "type": f"{DOMAIN}/session/outcome",
            "session_id": started["result"]["session_id"],
            "outcome": "ok",
        },
    )
    assert done["success"], done
    await hass.async_block_till_done()
    assert runtime.commissioning_missing == []
    # Off and on for the probe, then off and on for the look with the staff.
    assert history == ["off", "on", "off", "on"]
    assert camera.privacy
    assert equipment_faults(hass) == []


async def test_without_consent_the_camera_stays_in_privacy_mode(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, camera: MjpegServer
) -> None:
    """Consent withdrawn: no probe before the slot, and a person's test does not lift it."""
    await add_privacy_switch(hass, camera)
    home = await new_home(hass, freezer, camera.url, at("21:00"), **{CONF_PRIVACY_ENTITY: SWITCH})
    await home.runtime.async_set_consent(False, home.operator_id)
    await hass.async_block_till_done()
    history = switch_history(hass)

    await home.go(at("22:30") - PROBE_LEAD)
    assert await audit_records(hass, home.entry.entry_id, "camera_probe") == []

    result = await home.runtime.async_probe_camera(home.operator_id)
    # The camera was never taken out of privacy mode: the probe sees what it shows, black.
    assert result.reason == media.REASON_BLACK
    [probe] = await audit_records(hass, home.entry.entry_id, "camera_probe")
    assert probe.data["privacy_lifted"] is False
    assert probe.data["privacy_restored"] is True
    assert history == []
    assert camera.privacy


async def test_without_consent_no_probe_decodes_the_room_even_without_a_privacy_switch(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, camera: MjpegServer
) -> None:
    """Consent withdrawn: the room is not decoded before the slot, privacy switch or not."""
    home = await new_home(hass, freezer, camera.url, at("21:00"))
    await home.runtime.async_set_consent(False, home.operator_id)
    await hass.async_block_till_done()

    await home.go(at("22:30") - PROBE_LEAD)
    assert await audit_records(hass, home.entry.entry_id, "camera_probe") == []
    # With consent given again, the next slot's probe runs as before.
    await home.runtime.async_set_consent(True, home.operator_id)
    await hass.async_block_till_done()
    await home.go(at("23:30"))  # the 22:30 slot is over; the probe is armed for 01:30's
    await home.go(at("01:30") - PROBE_LEAD)
    assert len(await audit_records(hass, home.entry.entry_id, "camera_probe")) == 1


async def test_a_look_ending_while_a_probe_decodes_leaves_privacy_mode_to_the_probe(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    operator: Person,
    hass_ws_client: WebSocketGenerator,
    socket_enabled: None,
) -> None:
    """The look ends while Test camera waits for its frame: privacy mode on only after it.

    Switched on at the look's end, the probe would read black: a false camera fault.
    """
    with HeldCamera() as camera:
        await add_privacy_switch(hass, camera)
        entry = await add_home_with_open_slot(
            hass, hass_storage, camera.url, [operator.user.id], **{CONF_PRIVACY_ENTITY: SWITCH}
        )
        history = switch_history(hass)
        ws = await hass_ws_client(hass, operator.token)
        started = await ws_call(ws, {"type": f"{DOMAIN}/session/start", "entry_id": entry.entry_id})
        assert started["success"], started

        camera.hold_next = True
        probe = hass.async_create_task(entry.runtime_data.async_probe_camera(operator.user.id))
        async with asyncio.timeout(WAIT_S):
            assert await hass.async_add_executor_job(camera.asked.wait, WAIT_S)
        done = await ws_call(
            ws,
            {
                "type": f"{DOMAIN}/session/outcome",
                "session_id": started["result"]["session_id"],
                "outcome": "ok",
            },
        )
        assert done["success"], done
        assert entry.runtime_data.gate.live is None
        assert hass.states.is_state(SWITCH, "off")

        camera.release.set()
        async with asyncio.timeout(WAIT_S):
            result = await probe
        await hass.async_block_till_done()
        assert result.ok, result
        assert history == ["off", "on"]
        assert camera.privacy
        assert equipment_faults(hass) == []
        await unload_homes(hass)
