"""The entities of the public contract: one device per home, stable unique ids, translated names."""

from pathlib import Path

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest

from custom_components.trygghetskamera.const import DOMAIN
from custom_components.trygghetskamera.supervision import Outcome, Purpose, Refusal

from .conftest import make_home_entry
from .test_runtime import ENTITY_KEYS, Home, at, new_home

ENGLISH_NAMES = {
    "status": "Lgh 1203 Supervision status",
    "next_supervision": "Lgh 1203 Next agreed check",
    "last_supervision": "Lgh 1203 Last supervision result",
    "visit_required": "Lgh 1203 Physical visit needed",
    "equipment": "Lgh 1203 Equipment",
    "consent": "Lgh 1203 Consent",
    "skip_tonight": "Lgh 1203 Skip tonight",
    "test_camera": "Lgh 1203 Test camera",
    "supervision": "Lgh 1203 Supervision",
}
SWEDISH_NAMES = {
    "status": "Lgh 1203 Tillsynsstatus",
    "next_supervision": "Lgh 1203 Nästa avtalade tillsyn",
    "last_supervision": "Lgh 1203 Senaste tillsynens resultat",
    "visit_required": "Lgh 1203 Fysiskt besök behövs",
    "equipment": "Lgh 1203 Utrustning",
    "consent": "Lgh 1203 Samtycke",
    "skip_tonight": "Lgh 1203 Hoppa över i natt",
    "test_camera": "Lgh 1203 Testa kameran",
    "supervision": "Lgh 1203 Tillsyn",
}


@pytest.fixture
async def home(hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path) -> Home:
    """A typical home, set up at 21:00."""
    return await new_home(hass, freezer, night_video, at("21:00"))


async def test_every_contract_entity_exists_with_its_unique_id(
    hass: HomeAssistant, home: Home
) -> None:
    registry = er.async_get(hass)
    entries = er.async_entries_for_config_entry(registry, home.entry.entry_id)
    assert {entry.unique_id: entry.domain for entry in entries} == {
        f"{home.entry.entry_id}_{key}": platform for key, platform in ENTITY_KEYS.items()
    }
    for key in ENTITY_KEYS:
        assert hass.states.get(home.entity_id(key)) is not None, key


async def test_one_device_per_home(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    first = await new_home(hass, freezer, night_video, at("21:00"))
    second_entry = make_home_entry(f"{night_video}?home=2", [first.operator_id])
    second_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(second_entry.entry_id)
    await hass.async_block_till_done()

    devices = dr.async_get(hass)
    entities = er.async_get(hass)
    for entry in (first.entry, second_entry):
        [device] = dr.async_entries_for_config_entry(devices, entry.entry_id)
        assert device.identifiers == {(DOMAIN, entry.entry_id)}
        assert device.name == "Lgh 1203"
        # A home is a device: Home Assistant lists "1 device", not "1 service".
        assert device.entry_type is None
        home_entities = er.async_entries_for_config_entry(entities, entry.entry_id)
        assert len(home_entities) == len(ENTITY_KEYS)
        assert {entity.device_id for entity in home_entities} == {device.id}


async def test_entity_names_are_translated(home: Home) -> None:
    names = {key: home.state(key).attributes["friendly_name"] for key in ENTITY_KEYS}
    assert names == ENGLISH_NAMES


async def test_entity_names_in_swedish(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    await hass.config.async_update(language="sv")
    home = await new_home(hass, freezer, night_video, at("21:00"))
    names = {key: home.state(key).attributes["friendly_name"] for key in ENTITY_KEYS}
    assert names == SWEDISH_NAMES
    # Ids are the keys in every language, so a reworded name never changes an automation's id.
    for key in ENTITY_KEYS:
        assert home.state(key).entity_id.endswith(f".lgh_1203_{key}"), key


async def test_a_new_home_waits_with_consent_and_without_faults(home: Home) -> None:
    status = home.state("status")
    assert status.state == "waiting"
    assert status.attributes["device_class"] == "enum"
    assert status.attributes["options"] == [
        "waiting",
        "due",
        "viewing",
        "follow_up",
        "visit_required",
        "skipped",
        "no_consent",
        "fault",
    ]
    assert status.attributes["commissioned"] is False

    assert home.state("next_supervision").attributes["device_class"] == "timestamp"
    last = home.state("last_supervision")
    assert last.state == "unknown"
    assert last.attributes["outcome"] is None

    visit = home.state("visit_required")
    assert visit.state == "off"
    assert visit.attributes["device_class"] == "problem"
    assert visit.attributes["reason"] is None

    equipment = home.state("equipment")
    assert equipment.state == "off"
    assert equipment.attributes["device_class"] == "problem"
    assert equipment.attributes["faults"] == []

    assert home.state("consent").state == "on"


async def test_supervision_event_entity_offers_the_contract_event_types(home: Home) -> None:
    assert home.state("supervision").attributes["event_types"] == [
        "completed",
        "follow_up",
        "visit_required",
        "missed",
        "fault",
        "fault_cleared",
        "skipped",
        "night_report",
    ]


async def test_supervision_event_carries_the_slot(home: Home) -> None:
    await home.go(at("22:31"))
    await home.look(Outcome.OK)
    event = home.state("supervision")
    assert event.attributes["event_type"] == "completed"
    assert event.attributes["slot"] == "2026-01-15T22:30:00+01:00"
    # Who looked belongs in the audit log, not in an entity's attributes.
    assert "user_id" not in event.attributes


async def test_test_camera_is_a_diagnostic_button(hass: HomeAssistant, home: Home) -> None:
    entry = er.async_get(hass).async_get(home.entity_id("test_camera"))
    assert entry is not None
    assert entry.entity_category == er.EntityCategory.DIAGNOSTIC


async def test_commissioning_look_marks_the_home_commissioned(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    home = await new_home(hass, freezer, night_video, at("15:00"))
    runtime = home.runtime
    # The one look allowed outside the slots, and only until the home is commissioned.
    assert await runtime.async_start_session("c1", home.operator_id, Purpose.COMMISSIONING) is None
    await home.go(at("15:00:20"))
    await runtime.async_set_outcome("c1", Outcome.OK, home.operator_id)
    await hass.async_block_till_done()
    assert home.state("status").attributes["commissioned"] is True
    assert home.state("last_supervision").state == "unknown"
    assert await runtime.async_start_session("c2", home.operator_id, Purpose.COMMISSIONING) is (
        Refusal.COMMISSIONING_CLOSED
    )

    await home.restart(at("16:00"))
    assert home.state("status").attributes["commissioned"] is True


async def test_visit_required_attributes_follow_the_most_pressing_visit(home: Home) -> None:
    await home.go(at("23:00"))
    visit = home.state("visit_required")
    assert visit.attributes["reason"] == "missed"
    assert visit.attributes["urgent"] is False
    [missed] = visit.attributes["open_visits"]
    assert missed["reason"] == "missed"
    assert missed["stage"] == "required"
    assert missed["visit_id"]

    await home.go(at("01:31"))
    await home.look(Outcome.NEEDS_HELP)
    visit = home.state("visit_required")
    assert visit.attributes["reason"] == "needs_help"
    assert visit.attributes["urgent"] is True
    assert [open_visit["reason"] for open_visit in visit.attributes["open_visits"]] == [
        "missed",
        "needs_help",
    ]


@pytest.mark.parametrize(
    ("faults", "listed"),
    [
        ({"plug"}, ["plug"]),
        ({"power", "camera", "bed_sensor"}, ["bed_sensor", "camera", "power"]),
    ],
)
async def test_equipment_lists_the_faults(home: Home, faults: set[str], listed: list[str]) -> None:
    await home.runtime.async_set_faults(frozenset(faults))
    await home.hass.async_block_till_done()
    equipment = home.state("equipment")
    assert equipment.state == "on"
    assert equipment.attributes["faults"] == listed
    assert home.status == "fault"


async def test_equipment_fault_is_still_shown_after_a_restart(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    hass.states.async_set("switch.plug", "off")
    home = await new_home(hass, freezer, night_video, at("21:00"), plug_entity="switch.plug")
    await home.go(at("21:00:10"))
    await home.restart(at("21:30"))
    equipment = home.state("equipment")
    assert equipment.state == "on"
    assert equipment.attributes["faults"] == ["plug"]
    assert home.status == "fault"


async def test_entities_come_back_after_a_restart(home: Home) -> None:
    await home.go(at("22:31"))
    await home.look(Outcome.OK)
    before = {key: home.state(key).state for key in ("status", "last_supervision")}
    await home.restart(at("22:40"))
    assert {key: home.state(key).state for key in ("status", "last_supervision")} == before
    assert home.state("last_supervision").attributes["outcome"] == "ok"


async def test_a_device_name_like_a_personal_number_is_taken_back(
    hass: HomeAssistant, home: Home
) -> None:
    """HA's "name and area" step (and the device page) rename the device without the flow.

    Before: "Anna 19450312-1234" stayed as the home's name on every screen."""
    devices = dr.async_get(hass)
    [device] = dr.async_entries_for_config_entry(devices, home.entry.entry_id)
    devices.async_update_device(device.id, name_by_user="Anna 19450312-1234")
    await hass.async_block_till_done()
    assert devices.async_get(device.id).name_by_user is None
    devices.async_update_device(device.id, name_by_user="Lgh 1203 (hörnet)")
    await hass.async_block_till_done()
    assert devices.async_get(device.id).name_by_user == "Lgh 1203 (hörnet)"


async def test_one_device_name_guard_for_every_home(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    """Every home's device is guarded by one listener, kept while any home is loaded.

    Before: one listener per home, each called for every other home's device update (N x N
    calls while N homes are set up: 499,500 for 1000 homes in bench/fleet.py).
    """

    def listening() -> int:
        return hass.bus.async_listeners().get(dr.EVENT_DEVICE_REGISTRY_UPDATED, 0)

    first = await new_home(hass, freezer, night_video, at("21:00"))
    with_one = listening()
    second_entry = make_home_entry(f"{night_video}?home=2", [first.operator_id])
    second_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(second_entry.entry_id)
    await hass.async_block_till_done()
    assert listening() == with_one
    devices = dr.async_get(hass)
    # The second home's device is guarded, and stays so once the first home is unloaded.
    assert await hass.config_entries.async_unload(first.entry.entry_id)
    await hass.async_block_till_done()
    [device] = dr.async_entries_for_config_entry(devices, second_entry.entry_id)
    devices.async_update_device(device.id, name_by_user="Anna 19450312-1234")
    await hass.async_block_till_done()
    assert devices.async_get(device.id).name_by_user is None
