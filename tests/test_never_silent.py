"""Never silently unsupervised: homes that are not running, guarded removal, the night report.

Through the real harness: config entries disabled, failing and removed through Home Assistant's
own websocket and HTTP APIs by a real admin, the integration's watchdog on HA's clock, repair
issues, persistent notifications and the audit log on disk.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from custom_components.trygghetskamera.audit_trail import AUDIT_TRAIL
from custom_components.trygghetskamera.const import (
    CONF_TIMES,
    DOMAIN,
    EVENT_HOME_REMOVED,
    EVENT_VISIT_REQUIRED,
)
from custom_components.trygghetskamera.runtime import STORAGE_VERSION
from custom_components.trygghetskamera.supervision import Outcome
from custom_components.trygghetskamera.watchdog import WATCHDOG, async_setup_watchdog

from .conftest import Person, make_home_entry
from .test_gate import ws_call
from .test_runtime import Home, at, new_home

SLOT_2230 = "2026-01-15T22:30:00+01:00"
SLOT_0130 = "2026-01-16T01:30:00+01:00"


@pytest.fixture(autouse=True)
async def afternoon(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """15:00 in Stockholm before anyone logs in; the config API is there for the admin.

    Everything that serves HTTP is set up before a client starts the server.
    """
    await hass.config.async_set_time_zone("Europe/Stockholm")
    freezer.move_to(at("15:00"))
    for component in ("config", "persistent_notification", DOMAIN):
        assert await async_setup_component(hass, component, {})


@pytest.fixture
async def admin(make_person: Callable[..., Awaitable[Person]]) -> Person:
    return await make_person("Systemförvaltare", admin=True)


async def go(hass: HomeAssistant, freezer: FrozenDateTimeFactory, moment: datetime) -> None:
    freezer.move_to(moment)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


async def records(hass: HomeAssistant, kind: str) -> list[Any]:
    log = hass.data[AUDIT_TRAIL].log
    found = await hass.async_add_executor_job(log.query)
    return [record for record in found if record.kind == kind]


def not_running_issue(hass: HomeAssistant, entry_id: str) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"not_running_{entry_id}")


async def test_a_disabled_home_still_raises_a_visit_at_each_agreed_time(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    admin: Person,
    hass_ws_client: WebSocketGenerator,
) -> None:
    ws = await hass_ws_client(hass, admin.token)
    home = await new_home(
        hass, freezer, night_video, at("15:00"), **{CONF_TIMES: ["22:30", "01:30"]}
    )
    device_id = home.device_id
    visits = async_capture_events(hass, EVENT_VISIT_REQUIRED)

    disabled = await ws_call(
        ws,
        {"type": "config_entries/disable", "entry_id": home.entry.entry_id, "disabled_by": "user"},
    )
    assert disabled["success"], disabled
    await hass.async_block_till_done()
    assert home.entry.state is ConfigEntryState.NOT_LOADED
    # Disabling is logged with who did it, and the installer is told at once what it means.
    [record] = await records(hass, "home_disabled")
    assert record.user_id == admin.user.id
    assert record.data["consent"] is True
    issue = not_running_issue(hass, home.entry.entry_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.CRITICAL
    assert issue.translation_placeholders == {"name": "Lgh 1203"}

    await go(hass, freezer, at("22:29:59"))
    assert visits == []
    await go(hass, freezer, at("22:30"))
    [visit_id] = [event.data["visit_id"] for event in visits]
    assert [event.data for event in visits] == [
        {
            "entry_id": home.entry.entry_id,
            "device_id": device_id,
            "name": "Lgh 1203",
            "reason": "fault",
            "urgent": False,
            "slot": SLOT_2230,
            "visit_id": visit_id,
        }
    ]
    await go(hass, freezer, at("01:45"))
    assert [event.data["slot"] for event in visits] == [SLOT_2230, SLOT_0130]
    assert [record.data["slot"] for record in await records(hass, "not_running")] == [
        SLOT_2230,
        SLOT_0130,
    ]

    # Enabled again: the home runs, the notice closes, and its own runtime takes over.
    assert await hass.config_entries.async_set_disabled_by(home.entry.entry_id, None)
    await hass.async_block_till_done()
    assert home.entry.state is ConfigEntryState.LOADED
    assert not_running_issue(hass, home.entry.entry_id) is None
    count = len(visits)
    await go(hass, freezer, at("22:30", home.now().date()))
    assert all(event.data["reason"] != "fault" for event in visits[count:])


async def test_a_home_whose_setup_fails_still_raises_its_visits(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    hass_storage: dict[str, Any],
    operator: Person,
) -> None:
    entry = make_home_entry(str(night_video), [operator.user.id])
    entry.add_to_hass(hass)
    # A state saved by a newer version of the integration (after a downgrade): setup fails.
    key = f"{DOMAIN}.{entry.entry_id}"
    hass_storage[key] = {"version": STORAGE_VERSION + 1, "minor_version": 1, "key": key, "data": {}}
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert not_running_issue(hass, entry.entry_id) is not None
    visits = async_capture_events(hass, EVENT_VISIT_REQUIRED)

    await go(hass, freezer, at("22:30"))
    [visit] = visits
    assert visit.data["reason"] == "fault"
    assert visit.data["slot"] == SLOT_2230
    assert visit.data["name"] == "Lgh 1203"
    [record] = await records(hass, "not_running")
    assert record.entry_id == entry.entry_id
    assert record.data["state"] == str(ConfigEntryState.SETUP_ERROR)


async def remove(hass: HomeAssistant, client: Any, entry: MockConfigEntry) -> None:
    response = await client.delete(f"/api/config/config_entries/entry/{entry.entry_id}")
    assert response.status == 200, await response.text()
    await hass.async_block_till_done()


async def notifications(hass: HomeAssistant, ws: Any) -> list[dict[str, Any]]:
    result = await ws_call(ws, {"type": "persistent_notification/get"})
    assert result["success"], result
    return result["result"]


@pytest.mark.parametrize("consent", [True, False], ids=["consent_on", "consent_withdrawn"])
async def test_removing_a_home_is_announced_logged_and_noticed_while_consent_is_on(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    admin: Person,
    hass_client: ClientSessionGenerator,
    hass_ws_client: WebSocketGenerator,
    consent: bool,
) -> None:
    client = await hass_client(admin.token)
    ws = await hass_ws_client(hass, admin.token)
    home = await new_home(hass, freezer, night_video, at("15:00"))
    if not consent:
        await home.runtime.async_set_consent(False, admin.user.id)
    removed = async_capture_events(hass, EVENT_HOME_REMOVED)

    await remove(hass, client, home.entry)

    [event] = removed
    assert set(event.data) == {"entry_id", "name", "consent", "next_supervision"}
    assert event.data["entry_id"] == home.entry.entry_id
    assert event.data["name"] == "Lgh 1203"
    assert event.data["consent"] is consent
    assert datetime.fromisoformat(event.data["next_supervision"]) == at("22:30")
    [record] = await records(hass, "home_removed")
    assert record.user_id == admin.user.id
    assert record.user_name == "Systemförvaltare"
    assert record.data["consent"] is consent
    shown = await notifications(hass, ws)
    if consent:
        # Somebody must now plan physical visits: the removal leaves a notice saying so.
        [notice] = shown
        assert notice["title"] == "Lgh 1203 was removed while the resident consents to supervision"
        assert "2026-01-15 22:30" in notice["message"]
    else:
        assert shown == []
    # Removed means removed: no watchdog visit for it any more, no notices left behind.
    visits = async_capture_events(hass, EVENT_VISIT_REQUIRED)
    await go(hass, freezer, at("23:00"))
    assert visits == []
    assert [issue for issue in ir.async_get(hass).issues.values() if issue.domain == DOMAIN] == []


# --- the night report ------------------------------------------------------------------------


async def test_night_report_exactly_once_across_a_restart_in_the_night(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    home: Home = await new_home(hass, freezer, night_video, at("21:00"))
    await home.go(at("22:31"))
    await home.look(Outcome.OK)
    await home.go(at("01:31"))
    await home.look(Outcome.NOT_VISIBLE)
    # Home Assistant is down from 01:40 to 04:40: the follow-up passes unseen, then 04:30 too.
    await home.restart(at("04:40"))
    assert home.night_reports == []
    await home.go(at("05:00"))
    [report] = home.night_reports
    results = [(slot["result"], slot["reason"]) for slot in report.data["slots"]]
    assert results == [("ok", None), ("visit_required", "missed"), ("visit_required", "missed")]
    assert report.data["slots"][1]["follow_ups"] == 1
    # Again down across the moment it was made: it is not made twice.
    await home.restart(at("06:00"))
    await home.go(at("11:00"))
    await home.go(at("13:00"))
    assert len(home.night_reports) == 1
    assert home.fired.count("night_report") == 1
    [record] = await records(hass, "night_report")
    assert record.data["night"] == "2026-01-15"
    assert [slot["result"] for slot in record.data["slots"]] == [
        "ok",
        "visit_required",
        "visit_required",
    ]


async def test_a_skipped_night_is_reported_once_and_raises_nothing(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    home: Home = await new_home(hass, freezer, night_video, at("21:00"))
    await hass.services.async_call(
        DOMAIN, "skip_night", {"device_id": home.device_id}, blocking=True
    )
    await home.restart(at("02:00"))
    await home.go(at("05:00"))
    await home.go(at("13:00"))
    [report] = home.night_reports
    assert {slot["result"] for slot in report.data["slots"]} == {"skipped"}
    assert len(report.data["slots"]) == 3
    assert report.data["visits_open"] == 0
    assert home.visits_required == []
    assert len(await records(hass, "night_report")) == 1


@pytest.mark.parametrize(
    ("night", "expected"),
    [
        # Clocks go forward at 02:00: the 02:30 check happens at 03:30, once.
        (date(2026, 3, 28), ["2026-03-29T03:30:00+02:00"]),
        # Clocks go back at 03:00: 02:30 comes twice, the check once.
        (date(2026, 10, 24), ["2026-10-25T02:30:00+02:00"]),
    ],
    ids=["spring_forward", "fall_back"],
)
async def test_the_watchdog_keeps_an_agreed_time_on_dst_nights(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    operator: Person,
    night: date,
    expected: list[str],
) -> None:
    freezer.move_to(at("15:00", night))
    entry = make_home_entry(str(night_video), [operator.user.id], **{CONF_TIMES: ["02:30"]})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_set_disabled_by(entry.entry_id, ConfigEntryDisabler.USER)
    await hass.async_block_till_done()
    visits = async_capture_events(hass, EVENT_VISIT_REQUIRED)
    # Hour by hour through the night, in UTC, as the clock really runs.
    moment = at("15:00", night).astimezone(UTC)
    while moment < at("11:00", night).astimezone(UTC):
        moment += timedelta(minutes=30)
        await go(hass, freezer, moment)
    assert [event.data["slot"] for event in visits] == expected


async def test_slots_of_a_disabled_home_that_passed_while_home_assistant_was_down(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    night_video: Path,
    operator: Person,
) -> None:
    """Home Assistant stops at 21:00 and starts at 02:00: the 22:30 and 01:30 checks are owed."""
    entry = make_home_entry(
        str(night_video), [operator.user.id], **{CONF_TIMES: ["22:30", "01:30", "04:30"]}
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_set_disabled_by(entry.entry_id, ConfigEntryDisabler.USER)
    await go(hass, freezer, at("21:00"))
    # Home Assistant stops: the watchdog's progress is written to disk as it goes down.
    hass.data[WATCHDOG].async_stop()
    await hass.async_block_till_done()
    visits = async_capture_events(hass, EVENT_VISIT_REQUIRED)
    freezer.move_to(at("02:00"))
    # ... and starts again: a new watchdog reads that progress and catches up.
    await async_setup_watchdog(hass)
    await hass.async_block_till_done()
    assert [event.data["slot"] for event in visits] == [SLOT_2230, SLOT_0130]
    assert {event.data["reason"] for event in visits} == {"fault"}
    await go(hass, freezer, at("04:30"))
    assert [event.data["slot"] for event in visits][2:] == ["2026-01-16T04:30:00+01:00"]


async def test_adding_or_reloading_a_home_is_not_mistaken_for_a_home_not_running(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    """A home is not set up at the instant it is added, nor while it reloads: no false alarm."""
    updates = async_capture_events(hass, ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED)
    home = await new_home(hass, freezer, night_video, at("15:00"))
    assert await hass.config_entries.async_reload(home.entry.entry_id)
    await hass.async_block_till_done()
    assert home.entry.state is ConfigEntryState.LOADED
    assert [
        event.data for event in updates if event.data["issue_id"].startswith("not_running")
    ] == []
