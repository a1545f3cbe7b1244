"""Homes at a distance: equipment over MQTT from a Zigbee2MQTT hub in each home.

Everything is real: Debian's mosquitto with password authentication on a free loopback port,
Home Assistant's own MQTT integration set up as a config entry against it, Zigbee2MQTT hub
simulators in a child process publishing discovery, states and their last will, and a paho
subscriber in a child process reading what the integration publishes. Hubs are killed with
SIGKILL and the broker is stopped for real. Home Assistant's clock is held by `freezer` and moved
by the test (`Home.go`); while the test waits for the broker's messages, it follows the real time
spent (`wait_for`).
"""

from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.models import User
from homeassistant.components import mqtt
from homeassistant.config_entries import SOURCE_USER, ConfigEntryDisabler
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.trygghetskamera import config_flow
from custom_components.trygghetskamera.const import (
    CONF_MIN_POWER_W,
    CONF_MQTT_PUBLISH,
    CONF_NAME,
    CONF_OPERATORS,
    CONF_STREAM_URL,
    DOMAIN,
)
from custom_components.trygghetskamera.health import (
    BLIP_DELAY,
    BROKER_ISSUE_ID,
    SWITCHED_OFF_DELAY,
)
from custom_components.trygghetskamera.mqtt_publish import (
    issue_id as publish_issue_id,
    night_report_topic,
    state_topic,
)
from custom_components.trygghetskamera.watchdog import WATCHDOG
from simulators.broker import Broker
from simulators.hub import Hub, HubProcess
from simulators.subscriber import Subscriber

from .media_sources import MjpegServer
from .mqtt_fixtures import (  # the fixture_* functions are pytest fixtures used by name
    equipment_ready,
    fixture_broker,  # noqa: F401
    fixture_configuration_yaml,  # noqa: F401
    fixture_hubs,  # noqa: F401
    fixture_mqtt_entry,  # noqa: F401
    fixture_subscriber,  # noqa: F401
    mqtt_entity_ids,
    wait_for,
)
from .test_config_flow import SCHEDULE
from .test_health import faults, repair
from .test_runtime import Home, at, new_home

STATE_KEYS = {
    "name",
    "status",
    "visit_required",
    "reason",
    "urgent",
    "next_supervision",
    "visit_ids",
    "open_visits",
    "updated",
}


def now() -> datetime:
    """Home Assistant's clock."""
    return datetime.now(UTC)


async def hub_home(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, stream: Path, hub: Hub, **options: Any
) -> Home:
    """A home whose plug, power meter, bed sensor and router are its hub's discovered entities."""
    await wait_for(hass, freezer, lambda: equipment_ready(hass, hub), f"{hub.hub_id}'s entities")
    return await new_home(hass, freezer, stream, now(), **hub.equipment(), **options)


def our_issues(hass: HomeAssistant) -> set[str]:
    """The integration's open repair issues, but for the homes' commissioning reminders."""
    return {
        issue_id
        for (domain, issue_id) in ir.async_get(hass).issues
        if domain == DOMAIN and not issue_id.startswith("not_commissioned_")
    }


async def reconnected(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Wait for HA's MQTT client to reconnect; it retries every 10 s of its clock, let it run."""
    await wait_for(
        hass,
        freezer,
        lambda: mqtt.is_connected(hass),
        "HA to reconnect",
        step=timedelta(seconds=1),
    )


def copy_of(video: Path, folder: Path, name: str) -> Path:
    """Another camera for another home (a home is identified by its stream)."""
    path = folder / f"{name}.mp4"
    shutil.copy(video, path)
    return path


# --- discovery and the config flow --------------------------------------------------------


async def test_discovery_creates_the_plug_power_bed_and_connectivity_entities(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mqtt_entry: MockConfigEntry,
    hubs: Any,
) -> None:
    hub = hubs("lgh1203").hubs["lgh1203"]
    await wait_for(hass, freezer, lambda: equipment_ready(hass, hub), "the hub's entities")
    equipment = hub.equipment()
    # Home Assistant created them by itself, from the hub's discovery, with the ids it asked for.
    assert mqtt_entity_ids(hass, hub) == equipment
    plug = hass.states.get(equipment["plug_entity"])
    power = hass.states.get(equipment["power_entity"])
    bed = hass.states.get(equipment["bed_entity"])
    router = hass.states.get(equipment["connectivity_entity"])
    assert plug.state == "on"
    assert (power.state, power.attributes["unit_of_measurement"]) == ("6.5", "W")
    assert power.attributes["device_class"] == "power"
    assert (bed.state, bed.attributes["device_class"]) == ("on", "occupancy")
    assert (router.state, router.attributes["device_class"]) == ("on", "connectivity")
    # Each device is registered behind its home's Zigbee2MQTT bridge.
    entities, devices = er.async_get(hass), dr.async_get(hass)
    plug_device = devices.async_get(entities.async_get(equipment["plug_entity"]).device_id)
    bridge = devices.async_get(entities.async_get(equipment["connectivity_entity"]).device_id)
    assert plug_device.via_device_id == bridge.id
    assert bridge.name == "Zigbee2MQTT Bridge lgh1203"

    # Switching the plug in Home Assistant reaches the hub, which reports the plug off.
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": equipment["plug_entity"]}, blocking=True
    )
    await wait_for(
        hass,
        freezer,
        lambda: hass.states.get(equipment["plug_entity"]).state == "off",
        "the plug to report off",
    )
    assert float(hass.states.get(equipment["power_entity"]).state) == 0.0


async def test_the_equipment_step_accepts_the_hub_entities(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mqtt_entry: MockConfigEntry,
    hubs: Any,
    network_camera: MjpegServer,
    hass_owner_user: User,
) -> None:
    hub = hubs("lgh1203").hubs["lgh1203"]
    await wait_for(hass, freezer, lambda: equipment_ready(hass, hub), "the hub's entities")
    operator = await hass.auth.async_create_user("Nattpersonal", group_ids=["system-users"])
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Lgh 1203", CONF_STREAM_URL: network_camera.url}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], SCHEDULE)
    assert result["step_id"] == "equipment"
    # The form offers each hub entity: its domain and device class pass the selector's filter.
    schema = result["data_schema"].schema
    for key, entity_id in hub.equipment().items():
        entity_filter = schema[key].config
        state = hass.states.get(entity_id)
        assert entity_id.partition(".")[0] in entity_filter["domain"], key
        if entity_filter.get("device_class"):
            assert state.attributes.get("device_class") in entity_filter["device_class"], key
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], hub.equipment() | {CONF_MIN_POWER_W: 1.0, CONF_MQTT_PUBLISH: True}
    )
    assert result["step_id"] == "operators"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_OPERATORS: [operator.id]}
    )
    # Another step (the sensor view) may stand before the consent: its defaults will do.
    while result["type"] is FlowResultType.FORM and result["step_id"] != "consent":
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"consent": True})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert {key: entry.options[key] for key in hub.equipment()} == hub.equipment()
    assert entry.options[CONF_MQTT_PUBLISH] is True
    await hass.async_block_till_done()
    # Every hub entity reported a valid state: that commissioning check passed by itself.
    assert "equipment" not in entry.runtime_data.commissioning_missing


async def test_publishing_is_refused_in_the_equipment_step_without_mqtt(
    hass: HomeAssistant, network_camera: MjpegServer, hass_owner_user: User
) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: "Lgh 1203", CONF_STREAM_URL: network_camera.url}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], SCHEDULE)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MIN_POWER_W: 1.0, CONF_MQTT_PUBLISH: True}
    )
    assert result["step_id"] == "equipment"
    assert result["errors"] == {CONF_MQTT_PUBLISH: "mqtt_not_set_up"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MIN_POWER_W: 1.0, CONF_MQTT_PUBLISH: False}
    )
    assert result["step_id"] == "operators"
    hass.config_entries.flow.async_abort(result["flow_id"])
    await hass.async_block_till_done()


async def test_a_home_that_should_publish_without_mqtt_gets_a_repair_issue(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    home = await new_home(hass, freezer, night_video, at("21:00"), mqtt_publish=True)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, publish_issue_id(home.entry.entry_id))
    assert issue is not None
    assert issue.translation_key == "mqtt_publish_unavailable"
    assert issue.translation_placeholders == {"name": "Lgh 1203"}
    # The supervision itself runs as usual.
    assert home.status == "waiting"
    # Switched off in the options, the notice goes.
    hass.config_entries.async_update_entry(
        home.entry, options=dict(home.entry.options) | {CONF_MQTT_PUBLISH: False}
    )
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, publish_issue_id(home.entry.entry_id)) is None


# --- hub loss -----------------------------------------------------------------------------


async def test_a_killed_hub_is_a_fault_that_requires_a_visit_until_it_returns(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mqtt_entry: MockConfigEntry,
    hubs: Any,
    night_video: Path,
) -> None:
    process: HubProcess = hubs("lgh1203")
    hub = process.hubs["lgh1203"]
    home = await hub_home(hass, freezer, night_video, hub)
    equipment = hub.equipment()
    await home.go(at("22:31"))
    assert home.status == "due"
    assert faults(home) == []

    # The hub's power is cut: no DISCONNECT, so the broker publishes its will.
    process.kill()
    await wait_for(
        hass,
        freezer,
        lambda: hass.states.get(equipment["connectivity_entity"]).state == "off",
        "the hub's will",
    )
    will_at = now()
    for key in ("plug_entity", "power_entity", "bed_entity"):
        assert hass.states.get(equipment[key]).state == "unavailable", key
    # A radio blip is not a fault: only after the debounce.
    await home.go(will_at + BLIP_DELAY - timedelta(seconds=1))
    assert faults(home) == []
    assert home.visits_required == []
    await home.go(will_at + BLIP_DELAY)
    # With the plug gone its power says nothing more: no power fault on top.
    assert faults(home) == ["bed_sensor", "connectivity", "plug"]
    # The slot is open: the fault turns it into a visit at once.
    assert home.fired[0] == "fault"
    assert "visit_required" in home.fired
    assert home.state("visit_required").state == "on"
    assert home.reason == "fault"
    assert [(visit["reason"], visit["slot"]) for visit in home.visit_data()] == [
        ("fault", "2026-01-15T22:30:00+01:00")
    ]
    assert repair(hass, home, "connectivity") is not None
    assert BROKER_ISSUE_ID not in our_issues(hass)

    # The hub is back (its router has power again): the fault clears by itself.
    hubs("lgh1203")
    fired_before = len(home.fired)
    await wait_for(hass, freezer, lambda: faults(home) == [], "the fault to clear")
    # One `fault_cleared` per fault that went (the hub's entities return one by one).
    assert set(home.fired[fired_before:]) == {"fault_cleared"}
    assert home.state("equipment").state == "off"
    assert repair(hass, home, "connectivity") is None
    assert repair(hass, home, "plug") is None
    # The visit stands until the staff acknowledge it (the contract): a fault visit is not undone.
    assert home.state("visit_required").state == "on"


# --- broker loss --------------------------------------------------------------------------


async def test_broker_loss_is_one_repair_issue_and_every_mqtt_home_at_fault(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mqtt_entry: MockConfigEntry,
    broker: Broker,
    hubs: Any,
    night_video: Path,
    tmp_path: Path,
) -> None:
    process: HubProcess = hubs("lgh1", "lgh2")
    homes = [
        await hub_home(hass, freezer, copy_of(night_video, tmp_path, hub_id), process.hubs[hub_id])
        for hub_id in ("lgh1", "lgh2")
    ]
    # A home whose equipment is not on MQTT has nothing to do with the broker.
    other = await new_home(hass, freezer, copy_of(night_video, tmp_path, "other"), now())
    assert [home.status for home in [*homes, other]] == ["waiting"] * 3

    broker.stop()
    await wait_for(hass, freezer, lambda: not mqtt.is_connected(hass), "HA to lose the broker")
    lost_at = now()
    await homes[0].go(lost_at + BLIP_DELAY - timedelta(seconds=1))
    assert our_issues(hass) == set()
    assert [faults(home) for home in homes] == [[], []]
    await homes[0].go(lost_at + BLIP_DELAY)

    # One repair issue, for the broker; none per home.
    assert our_issues(hass) == {BROKER_ISSUE_ID}
    issue = ir.async_get(hass).async_get_issue(DOMAIN, BROKER_ISSUE_ID)
    assert issue.translation_key == BROKER_ISSUE_ID
    assert issue.translation_placeholders == {"homes": "2"}
    for home in homes:
        assert faults(home) == ["connectivity"]
        assert home.status == "fault"
        assert home.fired == ["fault"]
    assert (other.status, faults(other), other.fired) == ("waiting", [], [])

    # The broker is back: Home Assistant reconnects, and so do the hubs.
    broker.start()
    await reconnected(hass, freezer)
    await wait_for(
        hass,
        freezer,
        lambda: all(equipment_ready(hass, hub) for hub in process.hubs.values()),
        "the hubs' entities",
    )
    await hass.async_block_till_done()
    assert our_issues(hass) == set()
    for home in homes:
        assert faults(home) == []
        assert home.status == "waiting"
        assert home.fired == ["fault", "fault_cleared"]


async def test_a_fault_that_stood_before_the_broker_was_lost_stays_through_it(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mqtt_entry: MockConfigEntry,
    broker: Broker,
    hubs: Any,
    night_video: Path,
) -> None:
    process: HubProcess = hubs("lgh1203")
    hub = process.hubs["lgh1203"]
    home = await hub_home(hass, freezer, night_video, hub)
    plug = hub.equipment()["plug_entity"]
    process.command("lgh1203", plug=False)
    await wait_for(hass, freezer, lambda: hass.states.get(plug).state == "off", "the plug off")
    await home.go(now() + SWITCHED_OFF_DELAY)
    assert faults(home) == ["plug"]

    broker.stop()
    await wait_for(hass, freezer, lambda: not mqtt.is_connected(hass), "HA to lose the broker")
    await home.go(now() + BLIP_DELAY)
    # Unavailable for lack of a broker says nothing about the plug: its fault and issue stay.
    assert faults(home) == ["connectivity", "plug"]
    assert our_issues(hass) == {BROKER_ISSUE_ID, f"fault_plug_{home.entry.entry_id}"}

    broker.start()
    await reconnected(hass, freezer)
    await wait_for(hass, freezer, lambda: faults(home) == ["plug"], "the broker fault to clear")
    assert our_issues(hass) == {f"fault_plug_{home.entry.entry_id}"}


# --- publishing for a dispatch board ------------------------------------------------------


async def test_mqtt_publish_follows_the_contract(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mqtt_entry: MockConfigEntry,
    subscriber: Any,
    night_video: Path,
) -> None:
    board: Subscriber = subscriber("trygghetskamera/#")
    home = await new_home(hass, freezer, night_video, now(), mqtt_publish=True)
    entry_id = home.entry.entry_id
    state, report = state_topic(entry_id), night_report_topic(entry_id)
    assert state == f"trygghetskamera/{entry_id}/state"

    async def states(count: int) -> list[dict[str, Any]]:
        await wait_for(
            hass, freezer, lambda: len(board.on(state)) >= count, f"state message {count}"
        )
        messages = board.on(state)
        assert all(message["qos"] == 1 for message in messages)
        return [json.loads(message["payload"]) for message in messages]

    first = (await states(1))[0]
    assert set(first) == STATE_KEYS
    assert {key: first[key] for key in STATE_KEYS - {"updated", "next_supervision"}} == {
        "name": "Lgh 1203",
        "status": "waiting",
        "visit_required": False,
        "reason": None,
        "urgent": False,
        "visit_ids": [],
        "open_visits": [],
    }
    assert datetime.fromisoformat(first["next_supervision"]) == at("22:30")
    assert datetime.fromisoformat(first["updated"]) == home.runtime.now()

    # The slot opens, and is missed: each change is one message, with when it changed.
    await home.go(at("22:30"))
    due = (await states(2))[-1]
    assert due["status"] == "due"
    await home.go(at("23:00"))
    missed = (await states(3))[-1]
    assert (missed["status"], missed["visit_required"], missed["reason"], missed["urgent"]) == (
        "visit_required",
        True,
        "missed",
        False,
    )
    assert datetime.fromisoformat(missed["updated"]) == at("23:00")
    assert datetime.fromisoformat(missed["next_supervision"]) == at("01:30")
    [visit_id] = [event.data["visit_id"] for event in home.visits_required]
    assert missed["visit_ids"] == [visit_id]
    [open_visit] = missed["open_visits"]
    assert (open_visit["visit_id"], open_visit["stage"], open_visit["escalations"]) == (
        visit_id,
        "required",
        0,
    )
    # Nothing changed, nothing published: a wake-up without news sends no message.
    await home.go(at("23:05"))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(board.on(state)) == 3
    # Nobody acknowledged it in 10 minutes: the board sees it escalate.
    await home.go(at("23:10"))
    escalated = (await states(4))[-1]
    assert escalated["open_visits"][0]["escalations"] == 1
    assert board.on(report) == []

    # The night ends: its report is published, exactly as the bus event carries it.
    await home.go(at("05:00"))
    await wait_for(hass, freezer, lambda: bool(board.on(report)), "the night report")
    (event,) = home.night_reports
    assert json.loads(board.on(report)[0]["payload"]) == json.loads(json.dumps(event.data))
    assert json.loads(board.on(report)[0]["payload"])["night"] == "2026-01-15"
    last_state = (await states(len(board.on(state))))[-1]

    # Both are retained: a dispatch board that starts later reads them at once.
    late: Subscriber = subscriber(state, report)
    await wait_for(hass, freezer, lambda: len(late.poll()) >= 2, "the retained messages")
    retained = {message["topic"]: message for message in late.poll()}
    assert retained[state]["retain"] is True
    assert retained[report]["retain"] is True
    assert json.loads(retained[state]["payload"]) == last_state
    assert json.loads(retained[report]["payload"]) == json.loads(json.dumps(event.data))

    # A removed home is cleared from the board: empty retained messages on both topics.
    assert await hass.config_entries.async_remove(entry_id)
    await hass.async_block_till_done()
    await wait_for(
        hass,
        freezer,
        lambda: [message["payload"] for message in late.poll()[2:]] == ["", ""],
        "the retained messages to be cleared",
    )


def test_the_equipment_form_carries_the_publish_switch_off_by_default() -> None:
    assert config_flow.equipment_schema({})({CONF_MIN_POWER_W: 1.0})[CONF_MQTT_PUBLISH] is False
    on = config_flow.equipment_schema({CONF_MQTT_PUBLISH: True})({CONF_MIN_POWER_W: 1.0})
    assert on[CONF_MQTT_PUBLISH] is True


async def test_a_home_that_is_not_running_is_published_as_such(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mqtt_entry: MockConfigEntry,
    subscriber: Any,
    night_video: Path,
) -> None:
    """A disabled home cannot publish for itself: the dispatch board must not show 'waiting'."""
    board: Subscriber = subscriber("trygghetskamera/#")
    home = await new_home(hass, freezer, night_video, now(), mqtt_publish=True)
    state = state_topic(home.entry.entry_id)

    def last() -> dict[str, Any] | None:
        messages = board.on(state)
        return json.loads(messages[-1]["payload"]) if messages else None

    await wait_for(hass, freezer, lambda: (last() or {}).get("status") == "waiting", "waiting")
    assert await hass.config_entries.async_set_disabled_by(
        home.entry.entry_id, ConfigEntryDisabler.USER
    )
    await wait_for(hass, freezer, lambda: (last() or {}).get("status") == "fault", "not running")
    disabled = last()
    assert disabled is not None
    assert set(disabled) == STATE_KEYS
    assert (disabled["visit_required"], disabled["reason"]) == (False, None)
    assert datetime.fromisoformat(disabled["next_supervision"]) == at("22:30")

    # Its agreed time comes: the watchdog raises the visit, and the board hears of it.
    await home.go(at("22:30"))
    await wait_for(hass, freezer, lambda: (last() or {}).get("visit_required") is True, "visit")
    raised = last()
    assert raised is not None
    assert (raised["status"], raised["reason"], raised["urgent"]) == ("fault", "fault", False)
    assert datetime.fromisoformat(raised["next_supervision"]) == at("01:30")
    # The watchdog's visit, with its id: what the patrol acknowledges.
    [watchdog_visit] = hass.data[WATCHDOG].open_visits(home.entry.entry_id)
    assert raised["visit_ids"] == [watchdog_visit.visit_id]
