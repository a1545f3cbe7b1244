"""A home's night through Home Assistant: slots, looks, follow-ups, visits, DST and restarts.

Everything runs through the real harness: a config entry set up by Home Assistant, HA's clock
moved with `freezer` and `async_fire_time_changed`, state persisted in `hass_storage` and read
back by a fresh setup. Looks are driven through the runtime's Python API, which is what the
camera gate calls.

The helpers at the top (`Home`, `new_home`, `at`, `utc`) are shared with the other HA-level test
modules.
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from itertools import count
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE
from homeassistant.core import Context, Event as HassEvent, HomeAssistant, State, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.trygghetskamera.const import (
    CONF_FOLLOW_UP_MINUTES,
    CONF_FOLLOW_UPS,
    CONF_TIMES,
    DOMAIN,
    EVENT_HOME_REMOVED,
    EVENT_NIGHT_REPORT,
    EVENT_VISIT_CLEARED,
    EVENT_VISIT_REQUIRED,
)
from custom_components.trygghetskamera.runtime import HomeRuntime
from custom_components.trygghetskamera.supervision import Outcome, Refusal
from custom_components.trygghetskamera.watchdog import WATCHDOG

from .conftest import home_options, make_home_entry

TZ = ZoneInfo("Europe/Stockholm")
# An ordinary winter night (CET, +01:00), named by its evening.
NIGHT = date(2026, 1, 15)

# Platform of each entity key of the contract.
ENTITY_KEYS: dict[str, str] = {
    "status": "sensor",
    "next_supervision": "sensor",
    "last_supervision": "sensor",
    "visit_required": "binary_sensor",
    "equipment": "binary_sensor",
    "consent": "switch",
    "skip_tonight": "button",
    "test_camera": "button",
    "supervision": "event",
}


def at(clock: str, night: date = NIGHT) -> datetime:
    """A local clock time of a night: from 12:00 on its evening, before 12:00 the next morning."""
    parsed = time.fromisoformat(clock)
    day = night if parsed >= time(12) else night + timedelta(days=1)
    return datetime.combine(day, parsed, tzinfo=TZ)


def utc(text: str) -> datetime:
    """An instant given in UTC (for the hours that local time makes ambiguous)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def iso_utc(moment: datetime) -> str:
    """A moment as a timestamp sensor's state shows it."""
    return moment.astimezone(UTC).isoformat()


class Home:
    """One home set up in Home Assistant, and what staff, time and restarts do to it."""

    def __init__(
        self, hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: MockConfigEntry
    ) -> None:
        self.hass = hass
        self.freezer = freezer
        self.entry = entry
        self.operator_id: str = entry.options["operators"][0]
        self._sessions = count(1)
        self._current = 0
        self.visits_required = async_capture_events(hass, EVENT_VISIT_REQUIRED)
        self.visits_cleared = async_capture_events(hass, EVENT_VISIT_CLEARED)
        self.night_reports = async_capture_events(hass, EVENT_NIGHT_REPORT)
        # The event types the `supervision` event entity fired, in order.
        self.fired: list[str] = []
        self._event_entity_id = self.entity_id("supervision")
        hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_state_changed)

    @callback
    def _on_state_changed(self, event: HassEvent) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if event.data["entity_id"] != self._event_entity_id or new is None:
            return
        if new.state == STATE_UNAVAILABLE:  # unloaded (disabled, or Home Assistant stopping)
            return
        # Set up (again), the entity writes its first or restored state: not a firing.
        if old is None or old.state == STATE_UNAVAILABLE:
            return
        self.fired.append(new.attributes["event_type"])

    @property
    def runtime(self) -> HomeRuntime:
        """The running home."""
        return self.entry.runtime_data

    @property
    def device_id(self) -> str:
        """The home's device."""
        device = dr.async_get(self.hass).async_get_device_by_identifier(
            (DOMAIN, self.entry.entry_id), self.entry.entry_id
        )
        assert device is not None
        return device.id

    def entity_id(self, key: str) -> str:
        """The entity id of one of the contract's entities, found by its unique id."""
        entity_id = er.async_get(self.hass).async_get_entity_id(
            ENTITY_KEYS[key], DOMAIN, f"{self.entry.entry_id}_{key}"
        )
        assert entity_id is not None, key
        return entity_id

    def state(self, key: str) -> State:
        """The current state of one of the home's entities."""
        state = self.hass.states.get(self.entity_id(key))
        assert state is not None, key
        return state

    @property
    def status(self) -> str:
        """The status sensor's state."""
        return self.state("status").state

    @property
    def reason(self) -> str | None:
        """Why a visit is required (the binary sensor's attribute)."""
        return self.state("visit_required").attributes["reason"]

    @property
    def next_supervision(self) -> str:
        """The next supervision sensor's state (UTC ISO)."""
        return self.state("next_supervision").state

    async def go(self, moment: datetime) -> None:
        """Move Home Assistant's clock to `moment` and let every timer due by then run."""
        self.freezer.move_to(moment)
        async_fire_time_changed(self.hass, moment)
        await self.hass.async_block_till_done()

    async def begin(self) -> Refusal | None:
        """The operator asks to start a new look; returns the refusal, if any."""
        self._current = next(self._sessions)
        return await self.runtime.async_start_session(self.session_id, self.operator_id)

    @property
    def session_id(self) -> str:
        """The id of the current (or last) session."""
        return f"session-{self._current}"

    async def look(self, outcome: Outcome, seconds: int = 20) -> None:
        """A granted look of `seconds` that ends with `outcome`."""
        assert await self.begin() is None
        await self.go(self.now() + timedelta(seconds=seconds))
        await self.runtime.async_set_outcome(self.session_id, outcome, self.operator_id)
        await self.hass.async_block_till_done()

    def now(self) -> datetime:
        """Home Assistant's clock."""
        return datetime.now(UTC)

    async def restart(self, down_until: datetime) -> None:
        """Home Assistant is down: the home is unloaded and the integration's watchdog stops.

        Time passes; then the home is set up again from its Store and the watchdog restarts.
        """
        watchdog = self.hass.data[WATCHDOG]
        assert await self.hass.config_entries.async_unload(self.entry.entry_id)
        watchdog.async_stop()
        await self.hass.async_block_till_done()
        assert self.entry.state is ConfigEntryState.NOT_LOADED
        await self.go(down_until)
        assert await self.hass.config_entries.async_setup(self.entry.entry_id)
        await watchdog.async_start()
        await self.hass.async_block_till_done()

    def visit_data(self) -> list[dict[str, Any]]:
        """The data of every `trygghetskamera_visit_required` bus event so far.

        Each carries its own visit id (checked here, then left out of the comparison).
        """
        data = [dict(event.data) for event in self.visits_required]
        ids = [item.pop("visit_id") for item in data]
        assert all(ids)
        assert len(set(ids)) == len(ids)
        return data


async def new_home(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    stream_url: Path | str,
    start: datetime,
    **options: Any,
) -> Home:
    """Set up a home at `start` (Stockholm time) with a real operator and the given options."""
    await hass.config.async_set_time_zone("Europe/Stockholm")
    freezer.move_to(start)
    operator = await hass.auth.async_create_user("Nattpersonal", group_ids=["system-users"])
    entry = make_home_entry(str(stream_url), [operator.id], **options)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return Home(hass, freezer, entry)


@pytest.fixture
def evening_home(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> Callable[..., Any]:
    """Set up a home at 21:00 on NIGHT with options overriding the typical home's."""

    async def setup(start: datetime | None = None, **options: Any) -> Home:
        return await new_home(hass, freezer, night_video, start or at("21:00"), **options)

    return setup


def expected_visit(home: Home, reason: str, slot: str, *, urgent: bool = False) -> dict[str, Any]:
    """The contract's data of one `trygghetskamera_visit_required` event."""
    return {
        "entry_id": home.entry.entry_id,
        "device_id": home.device_id,
        "name": "Lgh 1203",
        "reason": reason,
        "urgent": urgent,
        "slot": slot,
    }


# --- slots and looks -----------------------------------------------------------------------


async def test_slot_opening_makes_the_home_due(evening_home: Callable[..., Any]) -> None:
    home: Home = await evening_home()
    assert home.status == "waiting"
    assert home.next_supervision == iso_utc(at("22:30"))

    await home.go(at("22:29:59"))
    assert home.status == "waiting"
    await home.go(at("22:30"))
    assert home.status == "due"
    assert home.next_supervision == iso_utc(at("01:30"))
    assert home.state("visit_required").state == "off"


async def test_missed_slot_requires_visit(evening_home: Callable[..., Any]) -> None:
    home: Home = await evening_home()
    await home.go(at("22:30"))
    await home.go(at("22:59:59"))
    assert home.status == "due"
    assert home.visits_required == []

    await home.go(at("23:00"))
    assert home.state("visit_required").state == "on"
    assert home.reason == "missed"
    assert home.state("visit_required").attributes["urgent"] is False
    assert home.status == "visit_required"
    assert home.visit_data() == [expected_visit(home, "missed", "2026-01-15T22:30:00+01:00")]
    assert home.fired == ["missed", "visit_required"]

    # Fired once per requirement: time passing does not repeat it.
    await home.go(at("01:00"))
    assert len(home.visits_required) == 1


async def test_ok_completes_the_slot(evening_home: Callable[..., Any]) -> None:
    home: Home = await evening_home()
    await home.go(at("22:31"))
    await home.look(Outcome.OK, seconds=20)

    assert home.status == "waiting"
    last = home.state("last_supervision")
    assert last.state == iso_utc(at("22:31:20"))
    assert last.attributes["outcome"] == "ok"
    assert home.fired == ["completed"]
    assert home.next_supervision == iso_utc(at("01:30"))

    await home.go(at("23:05"))
    assert home.visits_required == []
    assert home.state("visit_required").state == "off"


async def test_a_second_look_in_a_completed_slot_is_refused(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.go(at("22:31"))
    await home.look(Outcome.OK)
    assert await home.runtime.async_start_session("again", home.operator_id) is Refusal.OUTSIDE_SLOT


async def test_no_look_outside_the_agreed_slots(evening_home: Callable[..., Any]) -> None:
    home: Home = await evening_home()
    assert await home.begin() is Refusal.OUTSIDE_SLOT
    await home.go(at("23:00"))
    assert await home.begin() is Refusal.OUTSIDE_SLOT


async def test_status_is_viewing_while_the_look_runs(evening_home: Callable[..., Any]) -> None:
    home: Home = await evening_home(view_seconds=30)
    await home.go(at("22:31"))
    assert await home.begin() is None
    assert home.status == "viewing"
    # The look ends itself after view_seconds; the outcome is still awaited.
    await home.go(at("22:31:30"))
    assert home.status == "due"


@pytest.mark.parametrize("follow_ups", [0, 1, 3])
async def test_not_visible_leads_to_follow_ups_then_a_visit(
    evening_home: Callable[..., Any], follow_ups: int
) -> None:
    home: Home = await evening_home(**{CONF_FOLLOW_UPS: follow_ups, CONF_FOLLOW_UP_MINUTES: 20})
    await home.go(at("22:31"))
    await home.look(Outcome.NOT_VISIBLE, seconds=20)

    for number in range(1, follow_ups + 1):
        assert home.visits_required == [], number
        assert home.status == "follow_up"
        assert home.fired[-1] == "follow_up"
        follow_up = home.now() + timedelta(minutes=20)
        assert home.next_supervision == iso_utc(follow_up)
        # Not a moment before the follow-up is due.
        await home.go(follow_up - timedelta(seconds=1))
        assert await home.runtime.async_start_session("early", home.operator_id) is (
            Refusal.OUTSIDE_SLOT
        )
        await home.go(follow_up)
        await home.look(Outcome.NOT_VISIBLE, seconds=20)

    assert home.state("visit_required").state == "on"
    assert home.reason == "not_visible"
    assert home.visit_data() == [expected_visit(home, "not_visible", "2026-01-15T22:30:00+01:00")]
    assert home.fired.count("follow_up") == follow_ups
    assert home.state("last_supervision").attributes["outcome"] == "not_visible"


async def test_follow_up_moves_next_supervision(evening_home: Callable[..., Any]) -> None:
    home: Home = await evening_home(**{CONF_FOLLOW_UP_MINUTES: 15})
    await home.go(at("22:40"))
    await home.look(Outcome.NOT_VISIBLE, seconds=10)
    assert home.next_supervision == iso_utc(at("22:55:10"))
    await home.go(at("22:55:10"))
    assert home.status == "follow_up"
    await home.look(Outcome.OK, seconds=10)
    assert home.status == "waiting"
    assert home.next_supervision == iso_utc(at("01:30"))
    assert home.visits_required == []


async def test_missed_follow_up_requires_visit(evening_home: Callable[..., Any]) -> None:
    home: Home = await evening_home()
    await home.go(at("22:31"))
    await home.look(Outcome.NOT_VISIBLE)
    # The follow-up opens 20 minutes later and stays open for 15 minutes.
    await home.go(at("23:06:19"))
    assert home.visits_required == []
    await home.go(at("23:06:20"))
    assert home.reason == "missed"
    assert home.visit_data() == [expected_visit(home, "missed", "2026-01-15T22:30:00+01:00")]


async def test_needs_help_requires_urgent_visit_at_once(evening_home: Callable[..., Any]) -> None:
    home: Home = await evening_home()
    await home.go(at("22:31"))
    await home.look(Outcome.NEEDS_HELP, seconds=15)

    visit = home.state("visit_required")
    assert visit.state == "on"
    assert visit.attributes["reason"] == "needs_help"
    assert visit.attributes["urgent"] is True
    assert home.visit_data() == [
        expected_visit(home, "needs_help", "2026-01-15T22:30:00+01:00", urgent=True)
    ]
    assert home.fired == ["visit_required"]


async def test_look_without_outcome_counts_not_visible_after_five_minutes(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home(**{CONF_FOLLOW_UPS: 0})
    await home.go(at("22:31"))
    assert await home.begin() is None
    await home.go(at("22:31:20"))
    await home.runtime.async_end_session(home.session_id)
    await home.hass.async_block_till_done()

    await home.go(at("22:36:19"))
    assert home.visits_required == []
    await home.go(at("22:36:20"))
    assert home.reason == "not_visible"
    assert home.visit_data() == [expected_visit(home, "not_visible", "2026-01-15T22:30:00+01:00")]
    assert home.state("last_supervision").attributes["outcome"] == "not_visible"


async def test_look_without_outcome_leads_to_the_follow_up(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.go(at("22:31"))
    assert await home.begin() is None
    await home.go(at("22:31:20"))
    await home.runtime.async_end_session(home.session_id)
    await home.go(at("22:36:20"))
    assert home.status == "follow_up"
    assert home.next_supervision == iso_utc(at("22:56:20"))
    assert home.visits_required == []


async def test_needs_help_given_after_the_timeout_is_not_lost(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.go(at("22:31"))
    assert await home.begin() is None
    await home.runtime.async_end_session(home.session_id)
    await home.go(at("22:37"))
    assert home.status == "follow_up"
    await home.runtime.async_set_outcome(home.session_id, Outcome.NEEDS_HELP, home.operator_id)
    await home.hass.async_block_till_done()
    assert home.reason == "needs_help"
    assert home.state("visit_required").attributes["urgent"] is True


# --- skipping a night ----------------------------------------------------------------------


async def test_skip_tonight_button_skips_remaining_slots_and_raises_nothing(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.hass.services.async_call(
        "button",
        "press",
        {"entity_id": home.entity_id("skip_tonight")},
        blocking=True,
        context=Context(user_id=home.operator_id),
    )
    assert home.status == "skipped"
    assert home.fired[-1] == "skipped"
    assert home.next_supervision == iso_utc(at("22:30", NIGHT + timedelta(days=1)))
    await home.go(at("22:35"))
    assert await home.runtime.async_start_session("x", home.operator_id) is Refusal.SKIPPED

    for clock in ("22:30", "23:00", "01:30", "02:00", "04:30", "05:00", "06:00"):
        await home.go(at(clock))
        assert home.status in {"skipped", "waiting"}, clock
    assert home.visits_required == []
    assert home.state("visit_required").state == "off"
    [report] = home.night_reports
    assert report.data["night"] == "2026-01-15"
    assert [slot["result"] for slot in report.data["slots"]] == ["skipped"] * 3
    assert report.data["visits_open"] == 0


async def test_skip_night_service_skips_only_that_night(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    tomorrow = NIGHT + timedelta(days=1)
    await home.hass.services.async_call(
        DOMAIN,
        "skip_night",
        {"device_id": home.device_id, "date": tomorrow.isoformat()},
        blocking=True,
    )
    assert home.status == "waiting"
    await home.go(at("22:30"))
    assert home.status == "due"
    await home.look(Outcome.OK)
    await home.go(at("01:31"))
    await home.look(Outcome.OK)
    await home.go(at("04:31"))
    await home.look(Outcome.OK)

    await home.go(at("13:00", tomorrow))
    assert home.status == "skipped"
    await home.go(at("23:30", tomorrow))
    assert home.status == "skipped"
    assert home.visits_required == []
    assert home.next_supervision == iso_utc(at("22:30", tomorrow + timedelta(days=1)))


async def test_skip_keeps_a_pending_follow_up(evening_home: Callable[..., Any]) -> None:
    home: Home = await evening_home()
    await home.go(at("22:31"))
    await home.look(Outcome.NOT_VISIBLE)
    await home.go(at("22:40"))
    await home.hass.services.async_call(
        DOMAIN, "skip_night", {"device_id": home.device_id}, blocking=True
    )
    # The follow-up was promised before the skip: it still happens.
    assert home.status == "follow_up"
    assert home.next_supervision == iso_utc(at("22:51:20"))
    await home.go(at("22:51:20"))
    await home.look(Outcome.NOT_VISIBLE)
    assert home.reason == "not_visible"
    assert len(home.visits_required) == 1

    await home.go(at("06:00"))
    assert len(home.visits_required) == 1
    [report] = home.night_reports
    assert [(slot["result"], slot["reason"]) for slot in report.data["slots"]] == [
        ("visit_required", "not_visible"),
        ("skipped", None),
        ("skipped", None),
    ]


async def test_skip_tonight_in_the_morning_skips_the_coming_night(
    evening_home: Callable[..., Any],
) -> None:
    """After last night's report, "tonight" is the evening to come, not the night just over."""
    home: Home = await evening_home()
    await home.go(at("22:31"))
    await home.look(Outcome.OK)
    await home.go(at("01:31"))
    await home.look(Outcome.OK)
    await home.go(at("04:31"))
    await home.look(Outcome.OK)
    await home.go(at("07:00"))
    assert len(home.night_reports) == 1

    await home.hass.services.async_call(
        "button", "press", {"entity_id": home.entity_id("skip_tonight")}, blocking=True
    )
    tomorrow = NIGHT + timedelta(days=1)
    assert home.next_supervision == iso_utc(at("22:30", tomorrow + timedelta(days=1)))
    await home.go(at("22:30", tomorrow))
    assert home.status == "skipped"
    await home.go(at("23:30", tomorrow))
    assert home.visits_required == []


# --- consent -------------------------------------------------------------------------------


async def test_consent_withdrawn_turns_the_next_slot_into_a_visit(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.hass.services.async_call(
        "switch",
        "turn_off",
        {"entity_id": home.entity_id("consent")},
        blocking=True,
        context=Context(user_id=home.operator_id),
    )
    assert home.state("consent").state == "off"
    assert home.status == "no_consent"
    assert home.visits_required == []

    await home.go(at("22:29"))
    assert home.visits_required == []
    await home.go(at("22:30"))
    assert home.reason == "no_consent"
    assert home.visit_data() == [expected_visit(home, "no_consent", "2026-01-15T22:30:00+01:00")]
    assert await home.runtime.async_start_session("s", home.operator_id) is Refusal.NO_CONSENT

    # Every slot without consent is a visit, at its agreed time.
    await home.hass.services.async_call(
        DOMAIN, "visit_done", {"device_id": home.device_id}, blocking=True
    )
    await home.go(at("01:30"))
    assert [data["slot"] for data in home.visit_data()] == [
        "2026-01-15T22:30:00+01:00",
        "2026-01-16T01:30:00+01:00",
    ]
    assert home.status == "visit_required"


async def test_consent_withdrawn_while_a_slot_is_open_requires_visit_at_once(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.go(at("22:35"))
    assert home.status == "due"
    await home.hass.services.async_call(
        "switch", "turn_off", {"entity_id": home.entity_id("consent")}, blocking=True
    )
    assert home.reason == "no_consent"
    assert home.visit_data() == [expected_visit(home, "no_consent", "2026-01-15T22:30:00+01:00")]
    assert await home.runtime.async_start_session("s", home.operator_id) is Refusal.NO_CONSENT
    # Not a second visit for the same slot when it closes.
    await home.go(at("23:30"))
    assert len(home.visits_required) == 1


async def test_consent_withdrawn_cuts_a_running_look(evening_home: Callable[..., Any]) -> None:
    home: Home = await evening_home()
    await home.go(at("22:35"))
    assert await home.begin() is None
    assert home.runtime.supervisor.may_view(home.now(), home.session_id) is None
    await home.hass.services.async_call(
        "switch", "turn_off", {"entity_id": home.entity_id("consent")}, blocking=True
    )
    assert home.runtime.supervisor.may_view(home.now(), home.session_id) is Refusal.NO_CONSENT
    assert home.reason == "no_consent"


async def test_consent_given_again_restores_digital_checks(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    consent = {"entity_id": home.entity_id("consent")}
    await home.hass.services.async_call("switch", "turn_off", consent, blocking=True)
    # Given again in the options' consent step (tests/test_consent.py walks it as an admin).
    await home.runtime.async_give_consent({"document": "Dnr 1"}, None)
    assert home.state("consent").state == "on"
    await home.go(at("22:30"))
    assert home.status == "due"
    await home.look(Outcome.OK)
    assert home.visits_required == []


# --- equipment faults ----------------------------------------------------------------------


async def test_fault_before_the_slot_turns_it_into_a_visit(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.go(at("22:00"))
    await home.runtime.async_set_faults(frozenset({"plug"}))
    await home.hass.async_block_till_done()
    equipment = home.state("equipment")
    assert equipment.state == "on"
    assert equipment.attributes["faults"] == ["plug"]
    assert home.status == "fault"
    assert home.fired == ["fault"]
    assert home.visits_required == []

    await home.go(at("22:30"))
    assert home.reason == "fault"
    assert home.visit_data() == [expected_visit(home, "fault", "2026-01-15T22:30:00+01:00")]
    assert await home.runtime.async_start_session("s", home.operator_id) is Refusal.FAULT


async def test_fault_at_the_slot_start_turns_it_into_a_visit(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.go(at("22:30"))
    await home.runtime.async_set_faults(frozenset({"plug"}))
    await home.hass.async_block_till_done()
    assert home.reason == "fault"
    assert len(home.visits_required) == 1


async def test_fault_while_the_slot_is_open_requires_visit_at_once(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.go(at("22:40"))
    await home.runtime.async_set_faults(frozenset({"camera", "connectivity"}))
    await home.hass.async_block_till_done()
    assert home.reason == "fault"
    assert home.state("equipment").attributes["faults"] == ["camera", "connectivity"]
    assert home.visit_data() == [expected_visit(home, "fault", "2026-01-15T22:30:00+01:00")]


async def test_fault_cleared_before_the_slot_raises_nothing(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.go(at("22:00"))
    await home.runtime.async_set_faults(frozenset({"plug"}))
    await home.go(at("22:20"))
    await home.runtime.async_set_faults(frozenset())
    await home.hass.async_block_till_done()
    assert home.state("equipment").state == "off"
    assert home.state("equipment").attributes["faults"] == []
    assert home.fired == ["fault", "fault_cleared"]

    await home.go(at("22:30"))
    assert home.status == "due"
    await home.look(Outcome.OK)
    await home.go(at("23:30"))
    assert home.visits_required == []


async def test_fault_visit_stays_until_the_slot_has_passed_and_was_acknowledged(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.go(at("22:35"))
    await home.runtime.async_set_faults(frozenset({"power"}))
    await home.go(at("22:45"))
    await home.runtime.async_set_faults(frozenset())
    await home.hass.services.async_call(
        DOMAIN, "visit_done", {"device_id": home.device_id}, blocking=True
    )
    # The visit replaces the whole check: it stays on until the slot's window is over.
    assert home.state("visit_required").state == "on"
    assert home.visits_cleared == []
    await home.go(at("23:00"))
    assert home.state("visit_required").state == "off"
    assert len(home.visits_cleared) == 1


async def test_fault_cleared_after_a_restart_clears_it(
    hass: HomeAssistant, evening_home: Callable[..., Any]
) -> None:
    hass.states.async_set("switch.plug", "off")
    home: Home = await evening_home(plug_entity="switch.plug")
    await home.go(at("21:00:10"))
    await home.restart(at("21:30"))
    assert home.status == "fault"
    # The plug reports back after the restart: the fault is gone and the slot is digital again.
    hass.states.async_set("switch.plug", "on")
    await home.hass.async_block_till_done()
    assert home.state("equipment").state == "off"
    assert home.status == "waiting"
    await home.go(at("22:30"))
    assert home.status == "due"
    assert home.visits_required == []


# --- daylight saving time and midnight ----------------------------------------------------


async def test_spring_forward_slot_in_the_gap_happens_an_hour_later(
    evening_home: Callable[..., Any],
) -> None:
    night = date(2026, 3, 28)
    home: Home = await evening_home(start=at("12:00", night), times=["22:30", "02:30"])
    await home.go(at("22:31", night))
    await home.look(Outcome.OK)
    # 02:30 does not exist that night; the check is at 03:30 CEST, an hour after 01:30 CET.
    assert home.next_supervision == "2026-03-29T01:30:00+00:00"

    await home.go(utc("2026-03-29T01:29:59"))
    assert home.status == "waiting"
    await home.go(utc("2026-03-29T01:30:00"))
    assert home.status == "due"
    await home.go(utc("2026-03-29T02:00:00"))
    assert home.visit_data() == [expected_visit(home, "missed", "2026-03-29T03:30:00+02:00")]


async def test_fall_back_slot_in_the_repeated_hour_happens_once(
    evening_home: Callable[..., Any],
) -> None:
    night = date(2026, 10, 24)
    home: Home = await evening_home(start=at("12:00", night), times=["02:30"])
    moment = utc("2026-10-24T10:00:00")
    while moment <= utc("2026-10-25T11:00:00"):
        await home.go(moment)
        moment += timedelta(minutes=10)

    # 02:30 happens twice on the clock, the check once: at its first occurrence (CEST).
    assert home.visit_data() == [expected_visit(home, "missed", "2026-10-25T02:30:00+02:00")]
    [report] = home.night_reports
    assert report.data["night"] == "2026-10-24"
    assert [slot["slot"] for slot in report.data["slots"]] == ["2026-10-25T02:30:00+02:00"]


async def test_fall_back_second_half_hour_is_not_a_second_check(
    evening_home: Callable[..., Any],
) -> None:
    night = date(2026, 10, 24)
    home: Home = await evening_home(start=at("12:00", night), times=["02:30"])
    await home.go(utc("2026-10-25T00:31:00"))  # 02:31 CEST
    await home.look(Outcome.OK)
    await home.go(utc("2026-10-25T01:31:00"))  # 02:31 CET, the clock's second 02:31
    assert home.status == "waiting"
    assert await home.runtime.async_start_session("x", home.operator_id) is Refusal.OUTSIDE_SLOT
    await home.go(utc("2026-10-25T03:00:00"))
    assert home.visits_required == []
    assert home.next_supervision == iso_utc(at("02:30", date(2026, 10, 25)))


async def test_schedule_across_midnight(evening_home: Callable[..., Any]) -> None:
    home: Home = await evening_home(times=["23:50", "00:30"])
    assert home.next_supervision == iso_utc(at("23:50"))
    await home.go(at("23:50"))
    assert home.status == "due"
    await home.look(Outcome.OK)
    assert home.next_supervision == iso_utc(at("00:30"))
    await home.go(at("00:30"))
    assert home.status == "due"
    await home.go(at("01:00"))
    assert home.visit_data() == [expected_visit(home, "missed", "2026-01-16T00:30:00+01:00")]
    [report] = home.night_reports
    assert report.data["night"] == "2026-01-15"
    assert [(slot["slot"], slot["result"]) for slot in report.data["slots"]] == [
        ("2026-01-15T23:50:00+01:00", "ok"),
        ("2026-01-16T00:30:00+01:00", "visit_required"),
    ]


# --- night report --------------------------------------------------------------------------


async def test_night_report_lists_every_slot_once_the_night_is_over(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.go(at("22:31"))
    await home.look(Outcome.OK)
    await home.go(at("01:31"))
    await home.look(Outcome.NOT_VISIBLE)
    await home.go(at("01:52"))
    await home.look(Outcome.OK)
    await home.go(at("04:59:59"))
    assert home.night_reports == []
    await home.go(at("05:00"))
    [report] = home.night_reports
    [visit_id] = [event.data["visit_id"] for event in home.visits_required]
    no_visit = {
        "visit_id": None,
        "raised": None,
        "acknowledged": None,
        "done": None,
        "response_minutes": None,
        "escalations": 0,
        "visits": [],
    }
    missed = {
        "visit_id": visit_id,
        "raised": "2026-01-16T05:00:00+01:00",
        "acknowledged": None,
        "done": None,
        "response_minutes": None,
        "escalations": 0,
    }
    assert report.data == {
        "entry_id": home.entry.entry_id,
        "device_id": home.device_id,
        "name": "Lgh 1203",
        "night": "2026-01-15",
        "slots": [
            {
                "slot": "2026-01-15T22:30:00+01:00",
                "result": "ok",
                "reason": None,
                "follow_ups": 0,
                "visit_done": False,
            }
            | no_visit,
            {
                "slot": "2026-01-16T01:30:00+01:00",
                "result": "ok",
                "reason": None,
                "follow_ups": 1,
                "visit_done": False,
            }
            | no_visit,
            {
                "slot": "2026-01-16T04:30:00+01:00",
                "result": "visit_required",
                "reason": "missed",
                "follow_ups": 0,
                "visit_done": False,
            }
            | missed
            | {"visits": [missed | {"reason": "missed", "urgent": False, "overdue": False}]},
        ],
        "visits_open": 1,
    }
    assert home.fired[-1] == "night_report"


# --- restarts ------------------------------------------------------------------------------


@pytest.mark.parametrize("restarted", ["02:15", "02:19"])
async def test_restart_mid_follow_up_keeps_follow_up_time(
    evening_home: Callable[..., Any], hass_storage: dict[str, Any], restarted: str
) -> None:
    home: Home = await evening_home(times=["02:00"], **{CONF_FOLLOW_UP_MINUTES: 20})
    await home.go(at("02:00"))
    assert await home.begin() is None
    await home.runtime.async_set_outcome(home.session_id, Outcome.NOT_VISIBLE, home.operator_id)
    assert home.next_supervision == iso_utc(at("02:20"))
    assert f"{DOMAIN}.{home.entry.entry_id}" in hass_storage

    await home.go(at("02:01"))
    await home.restart(at(restarted))
    assert home.status == "follow_up"
    assert home.next_supervision == iso_utc(at("02:20"))
    assert await home.runtime.async_start_session("early", home.operator_id) is (
        Refusal.OUTSIDE_SLOT
    )
    await home.go(at("02:20"))
    await home.look(Outcome.OK)
    assert home.status == "waiting"
    assert home.visits_required == []


async def test_restart_after_the_follow_up_window_counts_it_missed(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home(times=["02:00"])
    await home.go(at("02:00"))
    await home.look(Outcome.NOT_VISIBLE, seconds=0)
    await home.restart(at("02:40"))
    assert home.reason == "missed"
    assert home.visit_data() == [expected_visit(home, "missed", "2026-01-16T02:00:00+01:00")]


async def test_slot_that_passed_while_down_is_missed_on_start_up(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.go(at("22:00"))
    await home.restart(at("23:10"))
    assert home.state("visit_required").state == "on"
    assert home.reason == "missed"
    assert home.status == "visit_required"
    assert home.visit_data() == [expected_visit(home, "missed", "2026-01-15T22:30:00+01:00")]
    # The event entity tells automations too, as it does for a slot missed while running.
    assert home.fired == ["missed", "visit_required"]


async def test_slot_open_when_restarted_can_still_be_done(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.go(at("22:00"))
    await home.restart(at("22:45"))
    assert home.status == "due"
    await home.look(Outcome.OK)
    await home.go(at("23:30"))
    assert home.visits_required == []


async def test_visit_required_survives_a_restart(evening_home: Callable[..., Any]) -> None:
    home: Home = await evening_home()
    await home.go(at("23:00"))
    assert home.reason == "missed"
    await home.restart(at("23:30"))
    assert home.state("visit_required").state == "on"
    assert home.reason == "missed"
    # The requirement was announced once; a restart does not announce it again.
    assert len(home.visits_required) == 1

    await home.hass.services.async_call(
        DOMAIN, "visit_done", {"device_id": home.device_id}, blocking=True
    )
    assert home.state("visit_required").state == "off"
    assert len(home.visits_cleared) == 1


async def test_consent_and_skip_survive_a_restart(evening_home: Callable[..., Any]) -> None:
    home: Home = await evening_home()
    tomorrow = NIGHT + timedelta(days=1)
    await home.hass.services.async_call(
        DOMAIN, "skip_night", {"device_id": home.device_id, "date": str(tomorrow)}, blocking=True
    )
    await home.hass.services.async_call(
        "switch", "turn_off", {"entity_id": home.entity_id("consent")}, blocking=True
    )
    await home.restart(at("22:00"))
    assert home.state("consent").state == "off"
    assert home.status == "no_consent"
    assert home.next_supervision == iso_utc(at("22:30"))
    await home.runtime.async_give_consent({"document": "Dnr 1"}, None)
    assert home.next_supervision == iso_utc(at("22:30"))
    await home.go(at("22:31"))
    await home.look(Outcome.OK)
    await home.go(at("01:31"))
    await home.look(Outcome.OK)
    assert home.next_supervision == iso_utc(at("04:30"))
    await home.go(at("04:31"))
    await home.look(Outcome.OK)
    assert home.next_supervision == iso_utc(at("22:30", tomorrow + timedelta(days=1)))


async def test_look_running_at_a_restart_counts_not_visible(
    evening_home: Callable[..., Any],
) -> None:
    """A look whose end was never reported times out from its longest possible end."""
    home: Home = await evening_home(**{CONF_FOLLOW_UPS: 0}, view_seconds=30)
    await home.go(at("22:31"))
    assert await home.begin() is None
    await home.restart(at("22:31:10"))
    await home.go(at("22:36:29"))
    assert home.visits_required == []
    await home.go(at("22:36:30"))
    assert home.reason == "not_visible"


# --- schedule changes ----------------------------------------------------------------------


async def test_schedule_change_mid_night_keeps_passed_slots_and_applies_new_times(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.go(at("23:00"))
    assert home.reason == "missed"
    await home.go(at("23:10"))
    await home.hass.services.async_call(
        DOMAIN, "visit_done", {"device_id": home.device_id}, blocking=True
    )

    home.hass.config_entries.async_update_entry(
        home.entry, options=home_options([home.operator_id], **{CONF_TIMES: ["00:30", "03:00"]})
    )
    await home.hass.async_block_till_done()
    assert home.next_supervision == iso_utc(at("00:30"))

    await home.go(at("00:31"))
    await home.look(Outcome.OK)
    await home.go(at("01:30"))
    assert home.status == "waiting"
    assert await home.runtime.async_start_session("old", home.operator_id) is (Refusal.OUTSIDE_SLOT)
    await home.go(at("03:30"))
    assert [data["slot"] for data in home.visit_data()] == [
        "2026-01-15T22:30:00+01:00",
        "2026-01-16T03:00:00+01:00",
    ]
    [report] = home.night_reports
    assert [
        (slot["slot"], slot["result"], slot["reason"], slot["visit_done"])
        for slot in report.data["slots"]
    ] == [
        ("2026-01-15T22:30:00+01:00", "visit_required", "missed", True),
        ("2026-01-16T00:30:00+01:00", "ok", None, False),
        ("2026-01-16T03:00:00+01:00", "visit_required", "missed", False),
    ]


async def test_schedule_change_keeps_a_running_follow_up(
    evening_home: Callable[..., Any],
) -> None:
    home: Home = await evening_home()
    await home.go(at("22:31"))
    await home.look(Outcome.NOT_VISIBLE)
    home.hass.config_entries.async_update_entry(
        home.entry,
        options=home_options([home.operator_id], **{CONF_TIMES: ["02:00"], CONF_FOLLOW_UPS: 2}),
    )
    await home.hass.async_block_till_done()
    assert home.status == "follow_up"
    assert home.next_supervision == iso_utc(at("22:51:20"))
    await home.go(at("22:51:20"))
    await home.look(Outcome.OK)
    assert home.next_supervision == iso_utc(at("02:00"))
    assert home.visits_required == []


@pytest.mark.parametrize("while_down", [False, True], ids=["running", "while_down"])
async def test_a_night_skipped_ahead_stays_skipped_under_a_new_schedule(
    evening_home: Callable[..., Any], while_down: bool
) -> None:
    """A new time on a night skipped ahead of time is skipped too, however the change arrives."""
    home: Home = await evening_home()
    tomorrow = NIGHT + timedelta(days=1)
    await home.hass.services.async_call(
        DOMAIN, "skip_night", {"device_id": home.device_id, "date": str(tomorrow)}, blocking=True
    )
    new_options = home_options([home.operator_id], **{CONF_TIMES: ["23:00"]})
    if while_down:
        assert await home.hass.config_entries.async_unload(home.entry.entry_id)
        home.hass.config_entries.async_update_entry(home.entry, options=new_options)
        await home.hass.async_block_till_done()
        assert await home.hass.config_entries.async_setup(home.entry.entry_id)
    else:
        home.hass.config_entries.async_update_entry(home.entry, options=new_options)
    await home.hass.async_block_till_done()
    assert home.next_supervision == iso_utc(at("23:00"))

    await home.go(at("23:01"))
    await home.look(Outcome.OK)
    assert home.next_supervision == iso_utc(at("23:00", tomorrow + timedelta(days=1)))
    await home.go(at("23:00", tomorrow))
    assert home.status == "skipped"
    await home.go(at("12:00", tomorrow + timedelta(days=1)))
    assert home.visits_required == []
    reports = [report.data for report in home.night_reports]
    assert [report["night"] for report in reports] == ["2026-01-15", "2026-01-16"]
    skipped = {slot["slot"]: slot["result"] for slot in reports[1]["slots"]}
    assert skipped["2026-01-16T23:00:00+01:00"] == "skipped"
    assert set(skipped.values()) == {"skipped"}


# --- removal -------------------------------------------------------------------------------


async def test_removing_a_home_is_announced_and_forgets_its_state(
    evening_home: Callable[..., Any], hass_storage: dict[str, Any]
) -> None:
    home: Home = await evening_home()
    removed = async_capture_events(home.hass, EVENT_HOME_REMOVED)
    storage_key = f"{DOMAIN}.{home.entry.entry_id}"
    assert storage_key in hass_storage

    await home.hass.config_entries.async_remove(home.entry.entry_id)
    await home.hass.async_block_till_done()

    assert storage_key not in hass_storage
    [event] = removed
    assert set(event.data) == {"entry_id", "name", "consent", "next_supervision"}
    assert event.data["entry_id"] == home.entry.entry_id
    assert event.data["name"] == "Lgh 1203"
    assert event.data["consent"] is True
    assert datetime.fromisoformat(event.data["next_supervision"]) == at("22:30")
