"""The shipped blueprints: loaded through Home Assistant's blueprint schema and run for real.

Each blueprint is copied into the test's config folder, loaded by the `automation` integration's
own blueprint store, instantiated with `use_blueprint` and driven by the integration through a
night. Notifications go to `persistent_notification`, a real notify target that tests can read.
"""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
import shutil
from typing import Any

import freezegun.api
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import persistent_notification
from homeassistant.components.automation.helpers import async_get_blueprints
from homeassistant.components.blueprint import BlueprintInputs
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.core import (
    Event as HassEvent,
    EventStateChangedData,
    HomeAssistant,
    ServiceCall,
    callback,
)
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.trygghetskamera.const import (
    CONF_NAME,
    CONF_STREAM_URL,
    DOMAIN,
    EVENT_VISIT_ACKNOWLEDGED,
    EVENT_VISIT_CLEARED,
    EVENT_VISIT_REQUIRED,
)
from custom_components.trygghetskamera.health import PROBE_LEAD
from custom_components.trygghetskamera.runtime import STORAGE_VERSION
from custom_components.trygghetskamera.supervision import Outcome

from .conftest import home_options
from .test_health import PLUG, faults, set_up_equipment
from .test_runtime import Home, at, new_home
from .test_visits import call

SHIPPED = Path(__file__).parent.parent / "blueprints" / "automation" / DOMAIN
# How long (real seconds) `advance` lets Home Assistant work towards what a step waits for.
ADVANCE_TIMEOUT_S = 20.0
BLUEPRINTS = (
    "notify_visit_required.yaml",
    "power_cycle_camera.yaml",
    "night_summary.yaml",
    "escalate_visit.yaml",
    "access_review_reminder.yaml",
)


@pytest.fixture(autouse=True)
def installed_blueprints(hass: HomeAssistant) -> None:
    """Install the shipped blueprints where Home Assistant looks for them."""
    shutil.copytree(SHIPPED, Path(hass.config.path("blueprints", "automation", DOMAIN)))


def notifications(hass: HomeAssistant) -> dict[str, str]:
    """The persistent notifications shown now: id -> title + message."""
    shown = persistent_notification._async_get_or_create_notifications(hass)
    return {key: f"{value['title']} | {value['message']}" for key, value in shown.items()}


def notify_action(notification_id: str) -> list[dict[str, Any]]:
    """What a user would put in the blueprint's action selector."""
    return [
        {
            "action": "persistent_notification.create",
            "data": {
                "title": "{{ title }}",
                "message": "{{ message }}",
                "notification_id": notification_id,
            },
        }
    ]


async def advance(home: Home, moment: datetime, done: Callable[[], bool]) -> None:
    """Move HA's clock to `moment` and let HA run until `done()` holds.

    `Home.go` waits for every task, which would include an automation run that is waiting for
    a later moment of the frozen clock: that wait never ends by itself. The frozen clock also
    stops timed sleeps, so this yields to the loop until `done()` holds, bounded by the real
    clock (work in executor threads, such as the audit log's writes, takes real time, more of it
    on a busy machine).
    """
    home.freezer.move_to(moment)
    async_fire_time_changed(home.hass, moment)
    deadline = freezegun.api.real_monotonic() + ADVANCE_TIMEOUT_S
    while freezegun.api.real_monotonic() < deadline:
        await asyncio.sleep(0)
        if done():
            return
    raise AssertionError(f"still waiting at {moment}")


def idle(hass: HomeAssistant, name: str) -> Callable[[], bool]:
    """Tell whether an automation has no run in progress."""
    return lambda: hass.states.get(f"automation.{name}").attributes.get("current") == 0


async def use_blueprint(hass: HomeAssistant, name: str, inputs: dict[str, Any]) -> None:
    """Set up one automation from a shipped blueprint."""
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "id": name,
                "alias": name.removesuffix(".yaml"),
                "use_blueprint": {"path": f"{DOMAIN}/{name}", "input": inputs},
            }
        },
    )
    await hass.async_block_till_done()
    assert hass.states.get(f"automation.{name.removesuffix('.yaml')}") is not None


async def test_blueprints_load_through_home_assistants_schema(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, "automation", {})
    store = async_get_blueprints(hass)
    loaded = await store.async_get_blueprints()
    for name in BLUEPRINTS:
        blueprint = loaded[f"{DOMAIN}/{name}"]
        assert not isinstance(blueprint, Exception), (name, blueprint)
        assert blueprint is not None
        assert blueprint.domain == "automation"
        # Every input has a name, and the required ones are reported missing when left out.
        assert all(spec.get("name") for spec in (blueprint.inputs or {}).values()), name
        required = {
            key for key, spec in (blueprint.inputs or {}).items() if "default" not in (spec or {})
        }
        with pytest.raises(Exception, match="Missing input"):
            BlueprintInputs(blueprint, {"use_blueprint": {"path": name, "input": {}}}).validate()
        assert required, name


async def test_the_patrol_is_notified_and_reminded_until_the_visit_is_done(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    home = await new_home(hass, freezer, night_video, at("21:00"))
    assert await async_setup_component(hass, "persistent_notification", {})
    await use_blueprint(
        hass,
        "notify_visit_required.yaml",
        {
            "home": home.device_id,
            "notify": notify_action("visit-{{ reminder }}"),
            "reminder_minutes": 10,
            "reminders": 3,
        },
    )
    # Who listens for a cleared visit before the blueprint does (the test's own capture).
    listeners = hass.bus.async_listeners().get(EVENT_VISIT_CLEARED, 0)
    await advance(home, at("23:00"), lambda: "visit-0" in notifications(hass))  # check missed
    shown = notifications(hass)
    assert list(shown) == ["visit-0"]
    assert shown["visit-0"].startswith("Visit required: Lgh 1203 | Lgh 1203: physical visit")
    assert "the digital check was missed" in shown["visit-0"]
    assert "22:30" in shown["visit-0"]

    await advance(home, at("23:09:59"), lambda: True)
    assert list(notifications(hass)) == ["visit-0"]

    def waiting_for_the_visit() -> bool:
        # The blueprint waits for `trygghetskamera_visit_cleared` again after each reminder.
        return hass.bus.async_listeners().get(EVENT_VISIT_CLEARED, 0) == listeners + 1

    await advance(
        home, at("23:10"), lambda: "visit-1" in notifications(hass) and waiting_for_the_visit()
    )
    assert notifications(hass)["visit-1"].startswith(
        "Reminder 1 \N{EN DASH} Visit required: Lgh 1203"
    )

    # Staff record the visit: no more reminders.
    await hass.services.async_call(
        DOMAIN, "visit_done", {"device_id": home.device_id}, blocking=True
    )
    await advance(home, at("23:40"), idle(hass, "notify_visit_required"))
    assert sorted(notifications(hass)) == ["visit-0", "visit-1"]


async def test_urgent_visits_say_so(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    home = await new_home(hass, freezer, night_video, at("21:00"))
    assert await async_setup_component(hass, "persistent_notification", {})
    await use_blueprint(
        hass, "notify_visit_required.yaml", {"notify": notify_action("visit"), "reminders": 0}
    )
    await home.go(at("22:31"))
    await home.look(Outcome.NEEDS_HELP)
    shown = notifications(hass)["visit"]
    assert shown.startswith("URGENT: Visit required: Lgh 1203")
    assert "(needs help), URGENT" in shown


async def test_a_hung_camera_is_power_cycled_once_and_no_visit_is_needed(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
    black_video: Path,
    night_video: Path,
) -> None:
    camera = tmp_path / "camera.mp4"
    shutil.copy(black_video, camera)
    freezer.move_to(at("21:00"))
    await set_up_equipment(hass)
    home = await new_home(hass, freezer, camera, at("21:00"), plug_entity=PLUG)
    plug_states: list[str] = []

    @callback
    def camera_hardware(event: HassEvent[EventStateChangedData]) -> None:
        """The camera reboots when its power returns, and then shows the room again."""
        if event.data["entity_id"] != PLUG or event.data["new_state"] is None:
            return
        plug_states.append(event.data["new_state"].state)
        if event.data["new_state"].state == "on":
            shutil.copy(night_video, camera)

    hass.bus.async_listen("state_changed", camera_hardware)
    await use_blueprint(
        hass,
        "power_cycle_camera.yaml",
        {
            "supervision_event": home.entity_id("supervision"),
            "plug": PLUG,
            "off_seconds": 3,
            "boot_seconds": 60,
        },
    )
    await advance(home, at("22:30") - PROBE_LEAD, lambda: plug_states == ["off"])
    assert faults(home) == ["camera"]
    await advance(home, home.now() + timedelta(seconds=3), lambda: plug_states == ["off", "on"])
    # Off for less than the plug's debounce: the plug itself never became a fault.
    assert faults(home) == ["camera"]
    await advance(home, home.now() + timedelta(seconds=60), idle(hass, "power_cycle_camera"))
    assert faults(home) == []
    await home.go(at("22:30"))
    assert home.status == "due"
    assert home.visits_required == []
    assert plug_states == ["off", "on"]


async def test_a_camera_that_stays_broken_is_cycled_once_and_the_visit_goes_ahead(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, black_video: Path
) -> None:
    freezer.move_to(at("21:00"))
    await set_up_equipment(hass)
    home = await new_home(hass, freezer, black_video, at("21:00"))
    await use_blueprint(
        hass,
        "power_cycle_camera.yaml",
        {"supervision_event": home.entity_id("supervision"), "plug": PLUG},
    )
    offs: list[str] = []
    hass.bus.async_listen(
        "call_service",
        lambda event: (
            offs.append(event.data["service"]) if event.data["domain"] == "switch" else None
        ),
    )
    await advance(home, at("22:30") - PROBE_LEAD, lambda: offs == ["turn_off"])
    await advance(home, home.now() + timedelta(seconds=3), lambda: len(offs) == 2)
    await advance(home, home.now() + timedelta(seconds=90), idle(hass, "power_cycle_camera"))
    assert offs == ["turn_off", "turn_on"]
    assert faults(home) == ["camera"]
    await home.go(at("22:30"))
    assert home.reason == "fault"
    assert offs == ["turn_off", "turn_on"]


# The automation's daily time trigger stays armed when the test's Home Assistant stops.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_the_morning_summary_lists_every_home_in_one_message(
    expected_lingering_timers: bool,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
) -> None:
    home = await new_home(hass, freezer, night_video, at("21:00"))
    other = MockConfigEntry(
        domain=DOMAIN,
        title="Lgh 1105",
        unique_id="lgh-1105",
        data={CONF_NAME: "Lgh 1105", CONF_STREAM_URL: str(night_video)},
        options=home_options([home.operator_id]),
    )
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    assert await async_setup_component(hass, "persistent_notification", {})
    await use_blueprint(
        hass, "night_summary.yaml", {"send_at": "07:30:00", "notify": notify_action("night")}
    )
    await home.go(at("22:31"))
    await home.look(Outcome.OK)
    await home.go(at("01:31"))
    await home.look(Outcome.NOT_VISIBLE)
    await home.go(at("01:52"))
    await home.look(Outcome.OK)
    # The 04:30 check is missed at Lgh 1203; nobody looks at Lgh 1105 all night.
    await home.go(at("05:30"))
    assert len(home.night_reports) == 2
    assert "night" not in notifications(hass)  # not before the chosen time
    await home.go(at("07:30"))
    title, message = notifications(hass)["night"].split(" | ")
    assert title == "Night 2026-01-15: 2 homes, 4 visits required"
    assert message.splitlines() == [
        "Lgh 1105: 3 checks, 0 done digitally, 0 follow-ups, 3 visits required (missed, missed,"
        " missed), 0 because of equipment faults, 0 skipped, 3 visits still open",
        "Lgh 1203: 3 checks, 2 done digitally, 1 follow-ups, 1 visits required (missed),"
        " 0 because of equipment faults, 0 skipped, 1 visits still open",
    ]


# The automation's daily time trigger stays armed when the test's Home Assistant stops.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_the_morning_summary_names_a_home_without_a_report(
    expected_lingering_timers: bool,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
) -> None:
    # Added at 06:00, after the night's last check: it has no report for that night.
    home = await new_home(hass, freezer, night_video, at("06:00"))
    assert await async_setup_component(hass, "persistent_notification", {})
    await use_blueprint(
        hass, "night_summary.yaml", {"send_at": "07:30:00", "notify": notify_action("night")}
    )
    await home.go(at("07:30"))
    title, message = notifications(hass)["night"].split(" | ")
    assert title == "Night 2026-01-15: 1 homes, 0 visits required"
    assert message.strip() == "No report: Lgh 1203"


# The automation's daily time trigger stays armed when the test's Home Assistant stops.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_the_morning_summary_lists_homes_not_running_with_their_watchdog_visits(
    expected_lingering_timers: bool,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    hass_storage: dict[str, Any],
) -> None:
    """A disabled home and a home whose setup failed have no entities and no night report.

    Their checks are the watchdog's visits: the summary names each home, why it is not running
    and every visit the watchdog required (id, agreed time, reason, acknowledged or done).
    """
    home = await new_home(hass, freezer, night_video, at("21:00"))
    disabled = MockConfigEntry(
        domain=DOMAIN,
        title="Lgh 1105",
        unique_id="lgh-1105",
        data={CONF_NAME: "Lgh 1105", CONF_STREAM_URL: str(night_video)},
        options=home_options([home.operator_id]),
    )
    disabled.add_to_hass(hass)
    assert await hass.config_entries.async_setup(disabled.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_set_disabled_by(
        disabled.entry_id, ConfigEntryDisabler.USER
    )
    failed = MockConfigEntry(
        domain=DOMAIN,
        title="Lgh 1307",
        unique_id="lgh-1307",
        data={CONF_NAME: "Lgh 1307", CONF_STREAM_URL: str(night_video)},
        options=home_options([home.operator_id], times=["23:00"]),
    )
    failed.add_to_hass(hass)
    # A state saved by a newer version of the integration (after a downgrade): setup fails.
    key = f"{DOMAIN}.{failed.entry_id}"
    hass_storage[key] = {"version": STORAGE_VERSION + 1, "minor_version": 1, "key": key, "data": {}}
    assert not await hass.config_entries.async_setup(failed.entry_id)
    await hass.async_block_till_done()
    assert failed.state is ConfigEntryState.SETUP_ERROR
    assert await async_setup_component(hass, "persistent_notification", {})
    await use_blueprint(
        hass, "night_summary.yaml", {"send_at": "07:30:00", "notify": notify_action("night")}
    )
    required = async_capture_events(hass, EVENT_VISIT_REQUIRED)

    def watchdog_visit(entry: MockConfigEntry, clock: str) -> str:
        [event] = [
            event
            for event in required
            if event.data["entry_id"] == entry.entry_id and event.data["slot"][11:16] == clock
        ]
        return str(event.data["visit_id"])

    await home.go(at("22:31"))
    await home.look(Outcome.OK)
    visit_2230 = watchdog_visit(disabled, "22:30")
    await home.go(at("22:40"))
    await call(hass, "visit_acknowledge", {"visit_id": visit_2230}, home.operator_id)
    await home.go(at("22:52"))
    await call(hass, "visit_done", {"visit_id": visit_2230}, home.operator_id)
    await home.go(at("23:05"))
    visit_2300 = watchdog_visit(failed, "23:00")
    await home.go(at("01:31"))
    await home.look(Outcome.OK)
    visit_0130 = watchdog_visit(disabled, "01:30")
    await home.go(at("01:35"))
    await call(hass, "visit_acknowledge", {"visit_id": visit_0130}, home.operator_id)
    await home.go(at("04:31"))
    await home.look(Outcome.OK)
    visit_0430 = watchdog_visit(disabled, "04:30")
    await home.go(at("05:30"))
    assert len(home.night_reports) == 1
    await home.go(at("07:30"))
    title, message = notifications(hass)["night"].split(" | ")
    assert title == "Night 2026-01-15: 3 homes, 4 visits required"
    assert message.splitlines() == [
        f"Lgh 1105: NOT RUNNING (disabled), 3 visits required by the watchdog: {visit_2230}"
        f" (22:30, fault) done 22:52; {visit_0130} (01:30, fault) acknowledged 01:35, open;"
        f" {visit_0430} (04:30, fault) open",
        f"Lgh 1307: NOT RUNNING (setup failed), 1 visits required by the watchdog: {visit_2300}"
        " (23:00, fault) open",
        "Lgh 1203: 3 checks, 3 done digitally, 0 follow-ups, 0 visits required,"
        " 0 because of equipment faults, 0 skipped, 0 visits still open",
    ]


async def test_the_phones_buttons_acknowledge_and_finish_the_visit_in_swedish(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    """The Companion app's answer is its real event (`mobile_app_notification_action`).

    No phone runs here: the test fires the event the mobile_app integration fires when a
    button of a notification is tapped, with the action the blueprint gave that button.
    """
    home = await new_home(hass, freezer, night_video, at("21:00"))
    assert await async_setup_component(hass, "persistent_notification", {})
    sent: list[dict[str, Any]] = []

    async def phone(call: ServiceCall) -> None:
        sent.append(dict(call.data))

    hass.services.async_register("notify", "night_phone", phone)
    await use_blueprint(
        hass,
        "notify_visit_required.yaml",
        {
            "notify": [
                {
                    "action": "notify.night_phone",
                    "data": {
                        "title": "{{ title }}",
                        "message": "{{ message }}",
                        "data": {"actions": "{{ actions }}"},
                    },
                }
            ],
            "reminder_minutes": 10,
            "reminders": 3,
            "language": "sv",
        },
    )
    acknowledged = async_capture_events(hass, EVENT_VISIT_ACKNOWLEDGED)
    await advance(home, at("23:00"), lambda: len(sent) == 1)
    [message] = sent
    assert message["title"] == "Besök krävs: Lgh 1203"
    assert "den digitala tillsynen blev inte gjord" in message["message"]
    [visit] = home.runtime.supervisor.open_visits
    assert message["data"]["actions"] == [
        {"action": f"TRYGGHETSKAMERA_ACK_{visit.visit_id}", "title": "På väg"},
        {"action": f"TRYGGHETSKAMERA_DONE_{visit.visit_id}", "title": "Besök gjort"},
    ]
    # "På väg": the visit is acknowledged by the automation, and no reminder follows.
    hass.bus.async_fire(
        "mobile_app_notification_action", {"action": f"TRYGGHETSKAMERA_ACK_{visit.visit_id}"}
    )
    await advance(home, at("23:01"), lambda: len(acknowledged) == 1)
    assert acknowledged[0].data["visit_id"] == visit.visit_id
    await advance(home, at("23:30"), lambda: True)
    assert len(sent) == 1
    # "Besök gjort": done.
    hass.bus.async_fire(
        "mobile_app_notification_action", {"action": f"TRYGGHETSKAMERA_DONE_{visit.visit_id}"}
    )
    await advance(home, at("23:31"), lambda: not home.runtime.supervisor.visit_required)
    await advance(home, at("23:32"), idle(hass, "notify_visit_required"))


async def test_a_visit_nobody_acknowledges_goes_to_the_team_leader(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    home = await new_home(hass, freezer, night_video, at("21:00"))
    assert await async_setup_component(hass, "persistent_notification", {})
    await use_blueprint(
        hass,
        "escalate_visit.yaml",
        {"notify": notify_action("leader-{{ level }}"), "from_level": 2},
    )
    await advance(home, at("23:10"), lambda: True)
    assert notifications(hass) == {}  # level 1 stays with the patrol
    await advance(home, at("23:20"), lambda: "leader-2" in notifications(hass))
    assert notifications(hass)["leader-2"].startswith("Escalation 2: Lgh 1203 | ")
    assert "not acknowledged after 20 min" in notifications(hass)["leader-2"]
    await hass.services.async_call(
        DOMAIN, "visit_acknowledge", {"device_id": home.device_id}, blocking=True
    )
    await advance(home, at("23:45"), lambda: "leader-0" in notifications(hass))
    assert notifications(hass)["leader-0"].startswith("Visit overdue: Lgh 1203 | ")
    assert "not done after 45 min" in notifications(hass)["leader-0"]
    assert "leader-3" not in notifications(hass)
    await advance(home, at("23:46"), idle(hass, "escalate_visit"))
    await hass.async_block_till_done()
