"""Equipment health: plug, power, network, bed sensor and camera faults, debounce and repairs.

The home's equipment are real entities in Home Assistant's state machine (template switches and
sensors driven by input helpers, and states written the way an integration writes them when a
device drops off the network); the camera is a real H.264 file decoded by PyAV. HA's clock is
moved with `freezer` and `async_fire_time_changed`.
"""

from datetime import timedelta
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest

from custom_components.trygghetskamera.const import DOMAIN
from custom_components.trygghetskamera.health import (
    BLIP_DELAY,
    FROZEN_RECHECK,
    PROBE_LEAD,
    SWITCHED_OFF_DELAY,
    repair_issue_id,
)
from custom_components.trygghetskamera.runtime import AuditFact
from custom_components.trygghetskamera.supervision import Outcome, Purpose
from simulators import scenes

from .conftest import CLIENT_ID
from .test_runtime import Home, at, new_home

PLUG = "switch.camera_plug"
POWER = "sensor.camera_power"
ROUTER = "binary_sensor.router"
BED = "binary_sensor.bed"

EQUIPMENT_OPTIONS = {
    "plug_entity": PLUG,
    "power_entity": POWER,
    "connectivity_entity": ROUTER,
    "bed_entity": BED,
    "min_power_w": 1.0,
}


async def set_up_equipment(hass: HomeAssistant) -> None:
    """A smart plug with a power meter, a router and a bed sensor, healthy."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(
        hass,
        "input_boolean",
        {
            "input_boolean": {
                "plug_relay": {"initial": True},
                "router_link": {"initial": True},
                "in_bed": {"initial": True},
            }
        },
    )
    assert await async_setup_component(
        hass,
        "input_number",
        {"input_number": {"watts": {"min": 0, "max": 50, "step": 0.1, "initial": 4.2}}},
    )
    relay = "input_boolean.plug_relay"
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "switch": [
                        {
                            "name": "Camera plug",
                            "state": f"{{{{ is_state('{relay}', 'on') }}}}",
                            "turn_on": {
                                "action": "input_boolean.turn_on",
                                "target": {"entity_id": relay},
                            },
                            "turn_off": {
                                "action": "input_boolean.turn_off",
                                "target": {"entity_id": relay},
                            },
                        }
                    ],
                    "sensor": [
                        {
                            "name": "Camera power",
                            "unit_of_measurement": "W",
                            "device_class": "power",
                            "state": (
                                "{{ states('input_number.watts') if"
                                " is_state('input_boolean.plug_relay', 'on') else 0 }}"
                            ),
                        }
                    ],
                    "binary_sensor": [
                        {
                            "name": "Router",
                            "device_class": "connectivity",
                            "state": "{{ is_state('input_boolean.router_link', 'on') }}",
                        },
                        {
                            "name": "Bed",
                            "device_class": "occupancy",
                            "state": "{{ is_state('input_boolean.in_bed', 'on') }}",
                        },
                    ],
                }
            ]
        },
    )
    await hass.async_block_till_done()
    for entity_id in (PLUG, POWER, ROUTER, BED):
        assert hass.states.get(entity_id) is not None, entity_id


@pytest.fixture
async def equipped(hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path) -> Home:
    """A home at 21:00 whose plug, power meter, router and bed sensor are all configured."""
    freezer.move_to(at("21:00"))
    await set_up_equipment(hass)
    return await new_home(hass, freezer, night_video, at("21:00"), **EQUIPMENT_OPTIONS)


async def switch(hass: HomeAssistant, helper: str, on: bool) -> None:
    """Flip an input_boolean through its action, as a person or device would."""
    await hass.services.async_call(
        "input_boolean", "turn_on" if on else "turn_off", {"entity_id": helper}, blocking=True
    )
    await hass.async_block_till_done()


def drop(hass: HomeAssistant, entity_id: str, state: str) -> None:
    """The device's integration reports it `unavailable` or `unknown` (radio gone, no value)."""
    current = hass.states.get(entity_id)
    hass.states.async_set(entity_id, state, current.attributes if current else {})


def faults(home: Home) -> list[str]:
    """The faults the `equipment` binary sensor lists."""
    return list(home.state("equipment").attributes["faults"])


def repair(hass: HomeAssistant, home: Home, kind: str) -> ir.IssueEntry | None:
    """The home's repair issue for one fault kind, if open."""
    return ir.async_get(hass).async_get_issue(DOMAIN, repair_issue_id(home.entry.entry_id, kind))


async def wait(home: Home, delay: timedelta) -> None:
    """Let `delay` pass on Home Assistant's clock."""
    await home.go(home.now() + delay)


# --- each fault from each transition --------------------------------------------------------

# (what happens, fault kind, how long it must last)
TRANSITIONS: dict[str, tuple[str, timedelta]] = {
    "plug_switched_off": ("plug", SWITCHED_OFF_DELAY),
    "plug_unavailable": ("plug", BLIP_DELAY),
    "plug_unknown": ("plug", BLIP_DELAY),
    "power_below_minimum": ("power", SWITCHED_OFF_DELAY),
    "power_unavailable": ("power", BLIP_DELAY),
    "power_unknown": ("power", BLIP_DELAY),
    "router_off": ("connectivity", BLIP_DELAY),
    "router_unavailable": ("connectivity", BLIP_DELAY),
    "router_unknown": ("connectivity", BLIP_DELAY),
    "bed_unavailable": ("bed_sensor", BLIP_DELAY),
    "bed_unknown": ("bed_sensor", BLIP_DELAY),
}


async def break_it(hass: HomeAssistant, transition: str) -> None:
    """Make one piece of equipment fail in the way `transition` names."""
    if transition == "plug_switched_off":
        await hass.services.async_call("switch", "turn_off", {"entity_id": PLUG}, blocking=True)
    elif transition == "power_below_minimum":
        await hass.services.async_call(
            "input_number", "set_value", {"entity_id": "input_number.watts", "value": 0.3}
        )
    elif transition == "router_off":
        await switch(hass, "input_boolean.router_link", False)
    else:
        device, _, state = transition.partition("_")
        drop(hass, {"plug": PLUG, "power": POWER, "router": ROUTER, "bed": BED}[device], state)
    await hass.async_block_till_done()


async def heal(hass: HomeAssistant) -> None:
    """Everything reports healthy again (the integrations write fresh states)."""
    await switch(hass, "input_boolean.plug_relay", True)
    await switch(hass, "input_boolean.router_link", True)
    await hass.services.async_call(
        "input_number", "set_value", {"entity_id": "input_number.watts", "value": 4.2}
    )
    for entity_id in (PLUG, POWER, ROUTER, BED):
        await hass.services.async_call(
            "homeassistant", "update_entity", {"entity_id": entity_id}, blocking=True
        )
    await hass.async_block_till_done()


@pytest.mark.parametrize("transition", list(TRANSITIONS))
async def test_each_failure_becomes_a_fault_after_its_debounce_and_clears(
    hass: HomeAssistant, equipped: Home, transition: str
) -> None:
    home = equipped
    kind, delay = TRANSITIONS[transition]
    assert faults(home) == []
    await break_it(hass, transition)
    await wait(home, delay - timedelta(seconds=1))
    assert faults(home) == []
    assert repair(hass, home, kind) is None

    await wait(home, timedelta(seconds=1))
    assert faults(home) == [kind]
    assert home.state("equipment").state == "on"
    assert home.status == "fault"
    assert home.fired == ["fault"]
    issue = repair(hass, home, kind)
    assert issue is not None
    assert issue.translation_key == f"fault_{kind}"
    assert issue.translation_placeholders == {"name": "Lgh 1203"}

    await heal(hass)
    assert faults(home) == []
    assert home.fired == ["fault", "fault_cleared"]
    assert repair(hass, home, kind) is None
    assert home.status == "waiting"


async def test_a_five_second_wifi_blip_is_not_a_fault(hass: HomeAssistant, equipped: Home) -> None:
    home = equipped
    drop(hass, ROUTER, "unavailable")
    drop(hass, PLUG, "unavailable")
    await wait(home, timedelta(seconds=5))
    await heal(hass)
    await wait(home, BLIP_DELAY * 2)
    assert faults(home) == []
    assert home.fired == []


async def test_a_power_cut_is_a_fault_within_seconds(hass: HomeAssistant, equipped: Home) -> None:
    home = equipped
    await switch(hass, "input_boolean.plug_relay", False)
    await wait(home, SWITCHED_OFF_DELAY)
    # The plug says it all: no power fault on top of it while the plug is off.
    assert faults(home) == ["plug"]


async def test_an_unoccupied_bed_is_no_fault_and_is_shown_to_the_operator(
    hass: HomeAssistant, equipped: Home
) -> None:
    home = equipped
    assert home.runtime.health.bed_occupied() is True
    await switch(hass, "input_boolean.in_bed", False)
    await wait(home, BLIP_DELAY * 2)
    assert faults(home) == []
    assert home.runtime.health.bed_occupied() is False


async def test_a_device_missing_at_start_up_is_a_fault(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    hass.states.async_set(PLUG, "unavailable")
    home = await new_home(hass, freezer, night_video, at("21:00"), plug_entity=PLUG)
    await wait(home, BLIP_DELAY)
    assert faults(home) == ["plug"]


async def test_changed_options_watch_the_new_plug(hass: HomeAssistant, equipped: Home) -> None:
    home = equipped
    hass.states.async_set("switch.other_plug", "off")
    hass.config_entries.async_update_entry(
        home.entry, options=dict(home.entry.options) | {"plug_entity": "switch.other_plug"}
    )
    await hass.async_block_till_done()
    await wait(home, SWITCHED_OFF_DELAY)
    assert faults(home) == ["plug"]
    # The old plug is no longer watched.
    drop(hass, PLUG, "unavailable")
    hass.states.async_set("switch.other_plug", "on")
    await wait(home, BLIP_DELAY)
    assert faults(home) == []


# --- faults and the night's slots -----------------------------------------------------------


async def test_power_cut_during_a_look_ends_it_and_requires_a_visit(
    hass: HomeAssistant, equipped: Home
) -> None:
    home = equipped
    await home.go(at("22:31"))
    gate = home.runtime.gate
    # A look belongs to a login of its operator (the websocket's).
    user = await hass.auth.async_get_user(home.operator_id)
    assert user is not None
    login = await hass.auth.async_create_refresh_token(user, CLIENT_ID)
    live = await gate.async_start(home.operator_id, login.id, Purpose.SUPERVISION)
    assert home.status == "viewing"
    await switch(hass, "input_boolean.plug_relay", False)
    await wait(home, SWITCHED_OFF_DELAY)
    # The camera is released at once: the look has ended.
    assert gate.live is None
    assert live.end_reason == "fault"
    assert home.state("visit_required").state == "on"
    assert home.reason == "fault"
    assert [visit["reason"] for visit in home.visit_data()] == ["fault"]


async def test_power_cut_turns_next_slot_into_visit(hass: HomeAssistant, equipped: Home) -> None:
    home = equipped
    await switch(hass, "input_boolean.plug_relay", False)
    await wait(home, SWITCHED_OFF_DELAY)
    assert home.visits_required == []
    await home.go(at("22:30"))
    assert home.reason == "fault"
    assert [visit["slot"] for visit in home.visit_data()] == ["2026-01-15T22:30:00+01:00"]


async def test_fault_cleared_before_the_slot_needs_no_visit(
    hass: HomeAssistant, equipped: Home
) -> None:
    home = equipped
    drop(hass, ROUTER, "unavailable")
    await wait(home, BLIP_DELAY)
    assert faults(home) == ["connectivity"]
    await home.go(at("22:00"))
    await heal(hass)
    assert repair(hass, home, "connectivity") is None
    await home.go(at("22:30"))
    assert home.status == "due"
    await home.look(Outcome.OK)
    assert home.visits_required == []


# --- the camera -----------------------------------------------------------------------------


@pytest.fixture
def camera_file(tmp_path: Path) -> Path:
    """Where the home's "camera" is read from; tests copy real videos there."""
    return tmp_path / "camera.mp4"


@pytest.fixture
def probes(hass: HomeAssistant) -> list[AuditFact]:
    """Collects every camera probe's audit fact (filled once a home is set up)."""
    return []


def watch_probes(home: Home, probes: list[AuditFact]) -> None:
    """Record the home's camera probes."""
    home.runtime.async_add_audit_sink(
        lambda fact: probes.append(fact) if fact.kind == "camera_probe" else None
    )


async def test_camera_is_probed_before_each_slot_and_nothing_polls(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path, probes: list[AuditFact]
) -> None:
    home = await new_home(hass, freezer, night_video, at("21:00"))
    watch_probes(home, probes)
    for slot in ("22:30", "01:30", "04:30"):
        await home.go(at(slot) - PROBE_LEAD - timedelta(seconds=1))
        count = len(probes)
        await home.go(at(slot) - PROBE_LEAD)
        assert len(probes) == count + 1, slot
        await home.go(at(slot) + timedelta(minutes=1))
        await home.look(Outcome.OK)
    await home.go(at("11:00"))
    assert [fact.at for fact in probes] == [
        at(slot) - PROBE_LEAD for slot in ("22:30", "01:30", "04:30")
    ]
    assert all(fact.data["ok"] for fact in probes)
    assert faults(home) == []


async def test_black_camera_is_a_fault_at_once_and_a_good_probe_clears_it(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    camera_file: Path,
    black_video: Path,
    night_video: Path,
) -> None:
    shutil.copy(black_video, camera_file)
    home = await new_home(hass, freezer, camera_file, at("21:00"))
    await home.go(at("22:30") - PROBE_LEAD)
    assert faults(home) == ["camera"]
    assert repair(hass, home, "camera") is not None
    # The installer uncovers the lens and tests the camera: the fault and its repair are gone.
    shutil.copy(night_video, camera_file)
    await hass.services.async_call(
        "button", "press", {"entity_id": home.entity_id("test_camera")}, blocking=True
    )
    await hass.async_block_till_done()
    assert faults(home) == []
    assert repair(hass, home, "camera") is None
    await home.go(at("22:30"))
    assert home.status == "due"


async def test_camera_still_black_at_the_slot_requires_a_visit(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, black_video: Path
) -> None:
    home = await new_home(hass, freezer, black_video, at("21:00"))
    await home.go(at("22:30") - PROBE_LEAD)
    assert home.visits_required == []
    await home.go(at("22:30"))
    assert home.reason == "fault"
    assert home.visit_data()[0]["slot"] == "2026-01-15T22:30:00+01:00"


async def test_frozen_picture_is_a_fault_only_after_three_probes(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
    probes: list[AuditFact],
) -> None:
    still = tmp_path / "still.mp4"
    scenes.generate_still_video(still, seconds=2, fps=10, size=(320, 240))
    home = await new_home(hass, freezer, still, at("21:00"))
    watch_probes(home, probes)
    # The installer's test gives the first picture; nothing to compare it with yet.
    await hass.services.async_call(
        "button", "press", {"entity_id": home.entity_id("test_camera")}, blocking=True
    )
    await home.go(at("22:30") - PROBE_LEAD)
    assert [fact.data["reason"] for fact in probes] == [None, "frozen"]
    # A sleeping resident in a still room looks the same: not a fault yet.
    assert faults(home) == []
    await wait(home, FROZEN_RECHECK)
    assert faults(home) == []
    await wait(home, FROZEN_RECHECK)
    assert [fact.data["reason"] for fact in probes] == [None, "frozen", "frozen", "frozen"]
    assert faults(home) == ["camera"]
    # No further probes: the fault stands until a probe succeeds.
    await wait(home, FROZEN_RECHECK * 3)
    assert len(probes) == 4
    await home.go(at("22:30"))
    assert home.reason == "fault"


async def test_a_moving_room_is_never_frozen(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    home = await new_home(hass, freezer, night_video, at("21:00"))
    for _ in range(4):
        await hass.services.async_call(
            "button", "press", {"entity_id": home.entity_id("test_camera")}, blocking=True
        )
    assert faults(home) == []


async def test_camera_lost_during_a_look_is_probed_and_becomes_a_fault(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, camera_file: Path, night_video: Path
) -> None:
    shutil.copy(night_video, camera_file)
    home = await new_home(hass, freezer, camera_file, at("21:00"))
    await home.go(at("22:31"))
    assert await home.begin() is None
    await hass.async_add_executor_job(camera_file.unlink)
    # What the gate does when its stream reports `camera_*`.
    await home.runtime.health.async_stream_lost("camera_cannot_connect")
    await hass.async_block_till_done()
    assert faults(home) == ["camera"]
    assert home.reason == "fault"


async def test_probe_camera_action_reports_and_sets_the_fault(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, tmp_path: Path
) -> None:
    home = await new_home(hass, freezer, tmp_path / "gone.mp4", at("21:00"))
    response: Any = await hass.services.async_call(
        DOMAIN,
        "probe_camera",
        {"device_id": home.device_id},
        blocking=True,
        return_response=True,
    )
    assert response["ok"] is False
    assert faults(home) == ["camera"]


# --- the log ----------------------------------------------------------------------------------


def fault_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    """(level, message) of what the health monitor logged about faults starting or clearing."""
    return [
        (record.levelname, record.getMessage())
        for record in caplog.records
        if record.name.endswith(".health") and " fault " in record.getMessage()
    ]


async def test_a_fault_is_logged_once_when_it_starts_and_once_when_it_clears(
    hass: HomeAssistant, equipped: Home, caplog: pytest.LogCaptureFixture
) -> None:
    home = equipped
    caplog.set_level("INFO")
    await switch(hass, "input_boolean.plug_relay", False)
    await wait(home, SWITCHED_OFF_DELAY)
    # Still off a minute later, and judged again after an unrelated change: no second line.
    await switch(hass, "input_boolean.in_bed", False)
    await wait(home, timedelta(minutes=1))
    assert faults(home) == ["plug"]
    assert fault_lines(caplog) == [
        (
            "WARNING",
            "Lgh 1203: plug fault started; its looks become physical visits until it clears",
        )
    ]
    await heal(hass)
    await wait(home, BLIP_DELAY * 2)
    assert faults(home) == []
    assert fault_lines(caplog)[1:] == [("INFO", "Lgh 1203: plug fault cleared")]


async def test_a_camera_fault_is_logged_when_it_starts_and_clears(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    camera_file: Path,
    black_video: Path,
    night_video: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO")
    shutil.copy(black_video, camera_file)
    home = await new_home(hass, freezer, camera_file, at("21:00"))
    await home.go(at("22:30") - PROBE_LEAD)
    shutil.copy(night_video, camera_file)
    await hass.services.async_call(
        "button", "press", {"entity_id": home.entity_id("test_camera")}, blocking=True
    )
    await hass.async_block_till_done()
    assert [level for level, _message in fault_lines(caplog)] == ["WARNING", "INFO"]
    assert [message.split(": ")[1] for _level, message in fault_lines(caplog)] == [
        "camera fault started; its looks become physical visits until it clears",
        "camera fault cleared",
    ]
