"""No fact without its record (issue 18, item 6), tried as the attacker and as a failing disk.

A crafted note (a JPEG in base64, a data URI, a URL with a password) used to be refused by the
audit log's secret filter after the fact had left the runtime's queue: the visit was raised, the
visit cleared, but `session_ended` / `visit_done` was never written. Now what the log must not
hold is redacted and the record written; and when the log cannot be written at all, the home
goes to `fault` and its visits are raised, until the log takes the queued facts again.
"""

from datetime import timedelta
from pathlib import Path

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Context, HomeAssistant
import pytest

from custom_components.trygghetskamera.audit import AuditRecord
from custom_components.trygghetskamera.audit_trail import AUDIT_TRAIL
from custom_components.trygghetskamera.const import DOMAIN
from custom_components.trygghetskamera.supervision import Outcome

from .test_runtime import Home, at, new_home

JPEG_NOTE = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwg"
DATA_URI = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"
URL_WITH_PASSWORD = "rtsp://admin:hunter2@192.0.2.7/stream"


@pytest.fixture
async def home(hass: HomeAssistant, freezer: FrozenDateTimeFactory, night_video: Path) -> Home:
    """A home set up at 21:00, its first agreed time at 22:30."""
    return await new_home(hass, freezer, night_video, at("21:00"))


async def records(hass: HomeAssistant, kind: str | None = None) -> list[AuditRecord]:
    log = hass.data[AUDIT_TRAIL].log
    found = await hass.async_add_executor_job(log.query)
    return [record for record in found if kind is None or record.kind == kind]


async def test_a_crafted_outcome_note_never_drops_the_session_record(
    home: Home,
) -> None:
    await home.go(at("22:31"))
    assert await home.begin() is None
    await home.go(at("22:31:20"))

    await home.runtime.async_set_outcome(
        home.session_id, Outcome.NOT_VISIBLE, home.operator_id, JPEG_NOTE
    )
    await home.hass.async_block_till_done()

    (ended,) = await records(home.hass, "session_ended")
    assert ended.data["outcome"] == "not_visible"
    assert ended.data["note"] == "[redacted]"
    assert ended.user_id == home.operator_id
    assert JPEG_NOTE not in str(await records(home.hass))
    assert home.runtime._audit_queue == []


async def test_a_crafted_visit_done_note_never_drops_the_visit_done_record(
    home: Home,
) -> None:
    await home.go(at("23:01"))
    assert home.status == "visit_required"

    await home.hass.services.async_call(
        DOMAIN,
        "visit_done",
        {"device_id": home.device_id, "note": f"{DATA_URI} {URL_WITH_PASSWORD}"},
        blocking=True,
        context=Context(home.operator_id),
    )
    await home.hass.async_block_till_done()
    done = await records(home.hass, "visit_done")
    assert done, "the visit was acknowledged, so its record is written"
    assert {record.data.get("note") for record in done} == {"[redacted]"}
    assert home.status != "visit_required"
    text = str(await records(home.hass))
    assert "hunter2" not in text
    assert "iVBORw0KGgo" not in text


async def test_a_log_that_cannot_be_written_puts_the_home_at_fault_until_it_can(
    home: Home,
) -> None:
    """The writer stops (the disk or the file failed): the next facts cannot be committed."""
    hass = home.hass
    log = hass.data[AUDIT_TRAIL].log
    await hass.async_add_executor_job(log.stop)

    await home.go(at("22:31"))
    assert home.state("equipment").state == "on"
    assert "audit_log" in home.state("equipment").attributes["faults"]
    assert home.state("visit_required").state == "on"
    assert home.reason == "fault"
    # The facts wait in the runtime's queue, in order, for the log to take them.
    queued = [fact.kind for fact in home.runtime._audit_queue]
    assert queued
    assert "visit_required" in queued

    await hass.async_add_executor_job(log.start)
    await home.go(at("22:31") + timedelta(minutes=1))
    await home.runtime.async_flush_audit()
    await home.go(at("22:33"))
    written = iter([record.kind for record in await records(hass)])
    assert all(kind in written for kind in queued), "every queued fact, in its order"
    assert "audit_log" not in home.state("equipment").attributes["faults"]
    assert home.runtime._audit_queue == []
    assert await hass.data[AUDIT_TRAIL].async_verify()
