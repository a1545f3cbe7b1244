"""The decision period (biståndsbeslut) through Home Assistant's clock, options flow and repairs.

A repair issue warns from 00:00 local fourteen days before `decision_end`, not earlier; from
00:00 on that date no look is granted and each agreed time raises a `decision_ended` visit;
moving the end on in the options stops it, and the audit log records the change.
"""

from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.trygghetskamera.const import (
    CONF_DECISION_END,
    CONF_DECISION_REFERENCE,
    CONF_OPERATORS,
    DOMAIN,
)
from custom_components.trygghetskamera.runtime import decision_issue_id
from custom_components.trygghetskamera.supervision import Refusal

from .conftest import Person, make_home_entry
from .test_consent import records
from .test_runtime import TZ, Home, at, expected_visit, new_home

REFERENCE = "Dnr SN 2026/42"
ENDS = date(2026, 1, 31)


def local(day: date, clock: str = "00:00") -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=TZ)


def issue(home: Home) -> ir.IssueEntry | None:
    return ir.async_get(home.hass).async_get_issue(DOMAIN, decision_issue_id(home.entry.entry_id))


async def walk_options(
    hass: HomeAssistant, entry: MockConfigEntry, operators_step: dict[str, Any]
) -> dict[str, Any]:
    """Walk the options flow, the schedule and equipment unchanged, to the operators step."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {key: entry.options[key] for key in ("times", "view_seconds")}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"min_power_w": 1}
    )
    assert result["step_id"] == "operators"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_OPERATORS: entry.options[CONF_OPERATORS]} | operators_step
    )
    if result["type"] is FlowResultType.FORM and result["step_id"] == "view":
        result = await hass.config_entries.options.async_configure(result["flow_id"], {})
        await hass.async_block_till_done()
    return result


async def test_warned_fourteen_days_ahead_then_visits_until_the_decision_is_extended(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    home = await new_home(
        hass,
        freezer,
        night_video,
        at("21:00"),
        decision_reference=REFERENCE,
        decision_end=ENDS.isoformat(),
    )
    # Not earlier than fourteen days before the end (00:00 local on 17 January).
    await home.go(local(date(2026, 1, 16), "23:59"))
    assert issue(home) is None
    await home.go(local(date(2026, 1, 17)))
    warning = issue(home)
    assert warning is not None
    assert warning.translation_key == "decision_ending"
    assert warning.severity is ir.IssueSeverity.WARNING
    assert warning.translation_placeholders == {
        "name": "Lgh 1203",
        "date": "2026-01-31",
        "reference": REFERENCE,
    }

    # The night of the 30th: 22:30 (still the 30th) is a look as ever.
    night = date(2026, 1, 30)
    await home.go(at("22:30", night))
    seen = len(home.visits_required)
    assert await home.begin() is None
    # From 00:00 on the 31st: the issue says it has ended, and 01:30 is a visit.
    await home.go(at("00:00", night))
    ended = issue(home)
    assert ended is not None
    assert ended.translation_key == "decision_ended"
    await home.go(at("01:30", night))
    assert home.visit_data()[seen:] == [
        expected_visit(home, "missed", "2026-01-30T22:30:00+01:00"),
        expected_visit(home, "decision_ended", "2026-01-31T01:30:00+01:00"),
    ]
    assert home.reason == "decision_ended"
    assert await home.runtime.async_start_session("s", home.operator_id) is (Refusal.DECISION_ENDED)

    # An admin enters the renewed decision: the notice goes, 04:30 is a look again.
    result = await walk_options(
        hass, home.entry, {CONF_DECISION_REFERENCE: REFERENCE, CONF_DECISION_END: "2026-07-01"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert home.entry.options[CONF_DECISION_END] == "2026-07-01"
    assert issue(home) is None
    raised = len(home.visits_required)
    await home.go(at("04:30", night))
    assert len(home.visits_required) == raised
    assert await home.begin() is None

    (changed,) = await records(hass, "decision_changed")
    assert changed.data["decision_reference"] == REFERENCE
    assert changed.data["decision_end"] == "2026-07-01"
    assert changed.data["changes"] == {
        CONF_DECISION_END: {"old": "2026-01-31", "new": "2026-07-01"}
    }


async def test_an_end_date_cleared_removes_the_notice_and_the_end(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path
) -> None:
    home = await new_home(hass, freezer, night_video, at("21:00"), decision_end="2026-01-20")
    assert issue(home) is not None
    result = await walk_options(hass, home.entry, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_DECISION_END not in home.entry.options
    assert home.runtime.config.decision_end is None
    assert issue(home) is None
    (changed,) = await records(hass, "decision_changed")
    assert changed.data["changes"] == {CONF_DECISION_END: {"old": "2026-01-20", "new": None}}


async def test_a_reference_shaped_like_a_personal_number_is_refused(
    hass: HomeAssistant, night_video: Path, operator: Person
) -> None:
    entry = make_home_entry(str(night_video), [operator.user.id])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    result = await walk_options(hass, entry, {CONF_DECISION_REFERENCE: "19121212-1212"})
    assert result["step_id"] == "operators"
    assert result["errors"] == {CONF_DECISION_REFERENCE: "personal_number_reference"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_OPERATORS: [operator.user.id], CONF_DECISION_REFERENCE: f"  {REFERENCE} "},
    )
    assert result["step_id"] == "view"
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_DECISION_REFERENCE] == REFERENCE
    assert CONF_DECISION_END not in entry.options
