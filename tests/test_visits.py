"""The patrol's loop through Home Assistant: visits acknowledged, escalated, overdue and done.

Real config entries, HA's clock (`freezer` + `async_fire_time_changed`), the integration's own
actions called with real users' contexts, its bus events, entities, audit records, restarts
from the Store, and the watchdog for homes that are not running.
"""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.trygghetskamera.const import (
    CONF_ACK_MINUTES,
    CONF_PHYSICAL_TIMES,
    CONF_TIMES,
    DOMAIN,
    EVENT_VISIT_ACKNOWLEDGED,
    EVENT_VISIT_CLEARED,
    EVENT_VISIT_ESCALATED,
    EVENT_VISIT_OVERDUE,
    EVENT_VISIT_REQUIRED,
)
from custom_components.trygghetskamera.health import repair_issue_id
from custom_components.trygghetskamera.runtime import AuditFact
from custom_components.trygghetskamera.supervision import Outcome
from custom_components.trygghetskamera.watchdog import WATCHDOG, async_setup_watchdog

from .conftest import Person
from .test_runtime import NIGHT, Home, at, new_home
from .test_services import assert_translated

SLOT_2230 = "2026-01-15T22:30:00+01:00"
SLOT_0130 = "2026-01-16T01:30:00+01:00"


class Loop:
    """The visit events of the bus, as a dispatch board would follow them."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.required = async_capture_events(hass, EVENT_VISIT_REQUIRED)
        self.acknowledged = async_capture_events(hass, EVENT_VISIT_ACKNOWLEDGED)
        self.escalated = async_capture_events(hass, EVENT_VISIT_ESCALATED)
        self.overdue = async_capture_events(hass, EVENT_VISIT_OVERDUE)
        self.cleared = async_capture_events(hass, EVENT_VISIT_CLEARED)

    def ids(self) -> list[str]:
        return [event.data["visit_id"] for event in self.required]

    def levels(self, visit_id: str) -> list[int]:
        return [
            event.data["level"] for event in self.escalated if event.data["visit_id"] == visit_id
        ]


async def call(
    hass: HomeAssistant, service: str, data: dict[str, Any], user_id: str | None = None
) -> None:
    await hass.services.async_call(
        DOMAIN, service, data, blocking=True, context=Context(user_id=user_id)
    )


@pytest.fixture
async def home(hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path) -> Home:
    """A typical home (22:30, 01:30, 04:30), set up at 21:00."""
    return await new_home(hass, freezer, night_video, at("21:00"))


@pytest.fixture
def facts(home: Home) -> list[AuditFact]:
    collected: list[AuditFact] = []
    home.runtime.async_add_audit_sink(collected.append)
    return collected


async def test_each_visit_has_an_id_on_the_bus_the_entity_and_the_action(
    hass: HomeAssistant, home: Home
) -> None:
    loop = Loop(hass)
    await home.go(at("23:00"))
    [visit_id] = loop.ids()
    [listed] = home.state("visit_required").attributes["open_visits"]
    assert listed["visit_id"] == visit_id
    assert listed["reason"] == "missed"
    assert listed["stage"] == "required"
    await call(hass, "visit_done", {"visit_id": visit_id}, home.operator_id)
    assert home.state("visit_required").state == "off"
    assert home.state("visit_required").attributes["open_visits"] == []


async def test_acknowledged_visit_escalates_no_more_and_says_who(
    hass: HomeAssistant, home: Home, facts: list[AuditFact]
) -> None:
    loop = Loop(hass)
    await home.go(at("23:00"))
    [visit_id] = loop.ids()
    await home.go(at("23:10"))
    assert [(event.data["visit_id"], event.data["level"]) for event in loop.escalated] == [
        (visit_id, 1)
    ]
    await home.go(at("23:12"))
    await call(
        hass, "visit_acknowledge", {"device_id": home.device_id, "note": "10 min"}, home.operator_id
    )
    [acknowledged] = loop.acknowledged
    assert acknowledged.data["visit_id"] == visit_id
    assert acknowledged.data["user"] == home.operator_id
    assert acknowledged.data["device_id"] == home.device_id
    [listed] = home.state("visit_required").attributes["open_visits"]
    assert listed["stage"] == "acknowledged"
    assert home.state("visit_required").state == "on"
    await home.go(at("23:40"))
    assert loop.levels(visit_id) == [1]
    # Both facts are in the audit log, with who acknowledged.
    kinds = [fact.kind for fact in facts]
    assert "visit_escalated" in kinds
    [record] = [fact for fact in facts if fact.kind == "visit_acknowledged"]
    assert record.user_id == home.operator_id
    assert record.data["visit_id"] == visit_id
    assert record.data["note"] == "10 min"


async def test_escalation_levels_every_ack_minutes_and_every_urgent_ack_minutes(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    home = await new_home(hass, freezer, night_video, at("21:00"), **{CONF_ACK_MINUTES: 15})
    loop = Loop(hass)
    await home.go(at("22:31"))
    await home.look(Outcome.NEEDS_HELP)  # urgent: every 5 minutes (the default)
    [urgent] = loop.ids()
    for minute in range(31, 50):
        await home.go(at(f"22:{minute:02d}:30"))
    assert loop.levels(urgent) == [1, 2, 3]
    # The next slot missed: not urgent, every 15 minutes (this home's option).
    await home.go(at("02:00"))
    missed = loop.ids()[1]
    for clock in ("02:14", "02:15", "02:29", "02:30", "02:45"):
        await home.go(at(clock))
    assert loop.levels(missed) == [1, 2, 3]
    assert [
        event.data["minutes"] for event in loop.escalated if event.data["visit_id"] == missed
    ] == [15, 30, 45]


async def test_visit_not_done_in_45_minutes_is_overdue_once(
    hass: HomeAssistant, home: Home, facts: list[AuditFact]
) -> None:
    loop = Loop(hass)
    await home.go(at("23:00"))
    [visit_id] = loop.ids()
    await call(hass, "visit_acknowledge", {"visit_id": visit_id}, home.operator_id)
    await home.go(at("23:44:59"))
    assert loop.overdue == []
    await home.go(at("23:45"))
    [overdue] = loop.overdue
    assert overdue.data["visit_id"] == visit_id
    assert overdue.data["minutes"] == 45
    await home.go(at("01:00"))
    assert len(loop.overdue) == 1
    assert [fact.data["visit_id"] for fact in facts if fact.kind == "visit_overdue"] == [visit_id]


async def test_a_visit_raised_after_the_acknowledgement_stays_open(
    hass: HomeAssistant, home: Home
) -> None:
    loop = Loop(hass)
    await home.go(at("23:00"))
    await call(hass, "visit_acknowledge", {"device_id": home.device_id}, home.operator_id)
    # While the patrol is on the way, the next look sees someone who needs help.
    await home.go(at("01:31"))
    await home.look(Outcome.NEEDS_HELP)
    first, urgent = loop.ids()
    # The patrol reports "their" visit done for the home: the urgent one stays.
    await call(hass, "visit_done", {"device_id": home.device_id}, home.operator_id)
    [still] = home.state("visit_required").attributes["open_visits"]
    assert still["visit_id"] == urgent
    assert still["urgent"] is True
    assert home.state("visit_required").state == "on"
    assert loop.cleared == []
    assert home.runtime.supervisor.visit(first) is None


async def test_unknown_visit_and_callers_without_a_role_are_refused(
    hass: HomeAssistant, home: Home, make_person: Callable[..., Awaitable[Person]]
) -> None:
    loop = Loop(hass)
    await home.go(at("23:00"))
    [visit_id] = loop.ids()
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "visit_done", {"visit_id": "nope-1"}, home.operator_id)
    assert_translated(err.value, "unknown_visit")
    stranger = await make_person("Granne")
    for service in ("visit_acknowledge", "visit_done"):
        with pytest.raises(Unauthorized):
            await call(hass, service, {"visit_id": visit_id}, stranger.user.id)
    assert loop.acknowledged == []
    assert home.runtime.supervisor.visit(visit_id) is not None
    # Automations (no user) may: that is how the notification blueprint answers.
    await call(hass, "visit_acknowledge", {"visit_id": visit_id})
    assert [event.data["user"] for event in loop.acknowledged] == [None]


async def test_restarts_between_each_step_lose_nothing_and_fire_nothing_twice(
    hass: HomeAssistant, home: Home
) -> None:
    loop = Loop(hass)
    await home.go(at("23:00"))
    [visit_id] = loop.ids()
    await home.restart(at("23:05"))
    await home.go(at("23:10"))
    await home.restart(at("23:15"))
    await home.restart(at("23:21"))  # down over the second level: fired once, on the way up
    assert loop.levels(visit_id) == [1, 2]
    await call(hass, "visit_acknowledge", {"visit_id": visit_id}, home.operator_id)
    await home.restart(at("23:35"))
    assert loop.levels(visit_id) == [1, 2]
    [listed] = home.state("visit_required").attributes["open_visits"]
    assert listed["stage"] == "acknowledged"
    await home.restart(at("23:50"))  # down over the deadline
    assert [event.data["visit_id"] for event in loop.overdue] == [visit_id]
    await home.restart(at("23:55"))
    assert len(loop.overdue) == 1
    await call(hass, "visit_done", {"visit_id": visit_id, "note": "asleep"}, home.operator_id)
    await home.restart(at("00:10"))
    assert home.state("visit_required").state == "off"
    assert len(loop.required) == 1
    assert len(loop.acknowledged) == 1
    assert len(loop.cleared) == 1


async def test_a_physical_time_raises_a_planned_visit_through_the_same_loop(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    home = await new_home(
        hass, freezer, night_video, at("21:00"), **{CONF_PHYSICAL_TIMES: ["01:30"]}
    )
    loop = Loop(hass)
    await home.go(at("22:31"))
    await home.look(Outcome.OK)
    await home.go(at("01:30"))
    [planned] = loop.required
    assert planned.data["reason"] == "planned"
    assert planned.data["slot"] == SLOT_0130
    # No look at a physical time.
    assert await home.begin() is not None
    await call(hass, "visit_acknowledge", {"visit_id": planned.data["visit_id"]}, home.operator_id)
    await home.go(at("01:50"))
    await call(hass, "visit_done", {"visit_id": planned.data["visit_id"]}, home.operator_id)
    await home.go(at("04:31"))
    await home.look(Outcome.OK)
    await home.go(at("05:00"))
    [report] = home.night_reports
    [slot] = [slot for slot in report.data["slots"] if slot["slot"] == SLOT_0130]
    assert slot["reason"] == "planned"
    assert slot["visit_id"] == planned.data["visit_id"]
    assert slot["acknowledged"]["user"] == home.operator_id
    assert slot["done"]["user"] == home.operator_id
    assert slot["response_minutes"] == 20.0


# --- homes that are not running ------------------------------------------------------------


async def test_visits_of_a_home_that_is_not_running_have_the_same_life(
    hass: HomeAssistant, home: Home
) -> None:
    loop = Loop(hass)
    device_id = home.device_id
    entry = home.entry
    assert await hass.config_entries.async_set_disabled_by(entry.entry_id, ConfigEntryDisabler.USER)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    await home.go(at("22:30"))
    [raised] = loop.required
    visit_id = raised.data["visit_id"]
    assert visit_id
    assert raised.data["reason"] == "fault"
    await home.go(at("22:40"))
    assert loop.levels(visit_id) == [1]
    # Home Assistant restarts: the watchdog's visits are on disk.
    hass.data[WATCHDOG].async_stop()
    await hass.async_block_till_done()
    await home.go(at("22:45"))
    await async_setup_watchdog(hass)
    await hass.async_block_till_done()
    await home.go(at("22:50"))
    assert loop.levels(visit_id) == [1, 2]
    await call(hass, "visit_acknowledge", {"visit_id": visit_id}, home.operator_id)
    assert [(event.data["visit_id"], event.data["user"]) for event in loop.acknowledged] == [
        (visit_id, home.operator_id)
    ]
    assert loop.acknowledged[0].data["device_id"] == device_id
    await home.go(at("23:15"))
    assert [event.data["visit_id"] for event in loop.overdue] == [visit_id]
    assert loop.levels(visit_id) == [1, 2]
    await call(hass, "visit_done", {"device_id": device_id}, home.operator_id)
    assert [event.data["entry_id"] for event in loop.cleared] == [entry.entry_id]
    assert hass.data[WATCHDOG].open_visits(entry.entry_id) == []
    # Nothing left: a second `done` for the home that is not running says so.
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, "visit_done", {"device_id": device_id}, home.operator_id)
    assert_translated(err.value, "home_not_running")
    await home.go(at("23:30") + timedelta(minutes=1))
    assert loop.levels(visit_id) == [1, 2]


async def homes_not_running(
    hass: HomeAssistant, user_id: str | None, night: str | None = None
) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN,
        "homes_not_running",
        {} if night is None else {"date": night},
        blocking=True,
        context=Context(user_id=user_id),
        return_response=True,
    )
    assert response is not None
    return dict(response)


async def test_homes_not_running_lists_the_watchdogs_visits_of_the_night(
    hass: HomeAssistant, home: Home
) -> None:
    """The morning summary's source: a disabled home has no entities nor a night report."""
    device_id = home.device_id
    entry = home.entry
    assert await hass.config_entries.async_set_disabled_by(entry.entry_id, ConfigEntryDisabler.USER)
    await hass.async_block_till_done()
    await home.go(at("22:30"))
    [first] = hass.data[WATCHDOG].open_visits(entry.entry_id)
    await call(hass, "visit_acknowledge", {"visit_id": first.visit_id}, home.operator_id)
    await home.go(at("22:50"))
    await call(hass, "visit_done", {"visit_id": first.visit_id}, home.operator_id)
    await home.go(at("07:30"))
    answer = await homes_not_running(hass, home.operator_id)
    assert answer["night"] == "2026-01-15"
    [listed] = answer["homes"]
    assert listed["entry_id"] == entry.entry_id
    assert listed["device_id"] == device_id
    assert listed["name"] == "Lgh 1203"
    assert listed["state"] == "disabled"
    # The done one is kept for the summary; the two later ones are still open.
    assert [visit["slot"][11:16] for visit in listed["visits"]] == ["22:30", "01:30", "04:30"]
    done = listed["visits"][0]
    assert done["visit_id"] == first.visit_id
    assert done["reason"] == "fault"
    assert done["raised"] == SLOT_2230
    assert done["acknowledged"] == {"user": home.operator_id, "at": SLOT_2230}
    assert done["done"] == {"user": home.operator_id, "at": "2026-01-15T22:50:00+01:00"}
    assert done["response_minutes"] == 20.0
    assert [visit["done"] for visit in listed["visits"][1:]] == [None, None]
    # Another user sees no home of others; an automation (no user) sees every home.
    stranger = await hass.auth.async_create_user("Någon annan", group_ids=["system-users"])
    assert (await homes_not_running(hass, stranger.id))["homes"] == []
    assert [item["name"] for item in (await homes_not_running(hass, None))["homes"]] == ["Lgh 1203"]
    # The next night asked for: the done visit is not of it; the open ones are listed still.
    later = (await homes_not_running(hass, None, "2026-01-16"))["homes"][0]["visits"]
    assert [visit["slot"][11:16] for visit in later] == ["01:30", "04:30"]
    # Two nights on, the done visit has left the watchdog's book.
    for visit in hass.data[WATCHDOG].open_visits(entry.entry_id):
        await call(hass, "visit_done", {"visit_id": visit.visit_id}, home.operator_id)
    await home.go(at("13:00", NIGHT + timedelta(days=2)))
    earlier = {visit["visit_id"] for visit in listed["visits"]}
    last = (await homes_not_running(hass, None, "2026-01-15"))["homes"][0]["visits"]
    # Only the next night's visits, still open.
    assert [visit["slot"][:16] for visit in last] == [
        "2026-01-16T22:30",
        "2026-01-17T01:30",
        "2026-01-17T04:30",
    ]
    assert not earlier & {visit["visit_id"] for visit in last}
    # Running again: not listed any more.
    assert await hass.config_entries.async_set_disabled_by(entry.entry_id, None)
    await hass.async_block_till_done()
    assert (await homes_not_running(hass, None))["homes"] == []


async def test_physical_times_are_chosen_among_the_agreed_times_in_the_options(
    hass: HomeAssistant, home: Home
) -> None:
    flow = await hass.config_entries.options.async_init(home.entry.entry_id)
    assert flow["step_id"] == "schedule"
    schedule = {
        CONF_TIMES: ["22:30", "01:30", "04:30"],
        "view_seconds": 30,
        "slot_minutes": 30,
        "follow_up_minutes": 20,
        "follow_ups": 1,
    }
    result = await hass.config_entries.options.async_configure(
        flow["flow_id"], schedule | {CONF_PHYSICAL_TIMES: ["02:00"]}
    )
    assert result["errors"] == {CONF_PHYSICAL_TIMES: "physical_not_agreed"}
    result = await hass.config_entries.options.async_configure(
        flow["flow_id"], schedule | {CONF_PHYSICAL_TIMES: ["1:30"], CONF_ACK_MINUTES: 7}
    )
    assert result["step_id"] == "equipment"
    result = await hass.config_entries.options.async_configure(flow["flow_id"], {"min_power_w": 1})
    result = await hass.config_entries.options.async_configure(
        flow["flow_id"], {"operators": [home.operator_id]}
    )
    result = await hass.config_entries.options.async_configure(
        flow["flow_id"], {"view_mode": "full"}
    )
    await hass.async_block_till_done()
    assert home.entry.options[CONF_PHYSICAL_TIMES] == ["01:30"]
    assert home.entry.options[CONF_ACK_MINUTES] == 7
    config = home.runtime.supervisor.config
    assert (config.physical_times, config.ack_minutes) == (("01:30",), 7)


async def test_picture_unusable_is_a_camera_fault_until_a_person_tests_the_camera(
    hass: HomeAssistant, home: Home
) -> None:
    loop = Loop(hass)
    await home.go(at("22:31"))
    await home.look(Outcome.PICTURE_UNUSABLE)
    # The slot's visit at once, no follow-up 20 minutes later.
    [raised] = loop.required
    assert (raised.data["slot"], raised.data["reason"]) == (SLOT_2230, "fault")
    assert home.state("equipment").attributes["faults"] == ["camera"]
    issue_id = repair_issue_id(home.entry.entry_id, "camera")
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    # The automatic probe before a slot (no person asked) sees a picture: a camera turned to the
    # wall would too, so it is not taken as fixed; nor does a restart forget it.
    await home.go(at("01:20"))
    result = await home.runtime.async_probe_camera(None)
    assert result.ok
    await hass.async_block_till_done()
    assert home.state("equipment").attributes["faults"] == ["camera"]
    await home.restart(at("01:26"))
    assert home.state("equipment").attributes["faults"] == ["camera"]
    await home.go(at("01:30"))
    assert [event.data["reason"] for event in loop.required][1:] == ["fault"]
    # Someone fixed it and tests the camera: the fault and its notice clear.
    response = await hass.services.async_call(
        DOMAIN,
        "probe_camera",
        {"device_id": home.device_id},
        blocking=True,
        return_response=True,
        context=Context(user_id=home.operator_id),
    )
    assert response is not None
    assert response["ok"] is True
    await hass.async_block_till_done()
    assert home.state("equipment").attributes["faults"] == []
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
