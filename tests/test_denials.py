"""The one merging of refusals that `action_denied` and `stream_denied` records share.

On Home Assistant's own clock (`async_fire_time_changed`); the records it would write are
collected as written. The records themselves are tested where they are made: tests/test_authz.py
(`action_denied`) and tests/test_gate.py (`stream_denied`).
"""

from datetime import datetime, timedelta

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.trygghetskamera.denials import DENIAL_WINDOW, DenialLog, Denials

type Written = list[tuple[str, int, dict[str, int], bool, bool]]


def make_log(hass: HomeAssistant) -> tuple[DenialLog[str, str], Written]:
    """A log whose records are (subject, count, reasons, merged, stopping) in writing order."""
    written: Written = []

    async def write(subject: str, denials: Denials, _at: datetime, stopping: bool) -> None:
        written.append((subject, denials.count, dict(denials.reasons), denials.merged, stopping))

    return DenialLog(hass, "test denials", write), written


async def a_minute_later(hass: HomeAssistant) -> None:
    async_fire_time_changed(hass, dt_util.utcnow() + DENIAL_WINDOW + timedelta(seconds=1))
    await hass.async_block_till_done()


async def test_first_at_once_then_one_merged_record_a_minute_per_key(hass: HomeAssistant) -> None:
    log, written = make_log(hass)
    await log.async_denied("a", "A", "unsigned")
    # Written before async_denied returns: the first refusal is on record at once.
    assert written == [("A", 1, {"unsigned": 1}, False, False)]
    for reason in ("unsigned", "other_user", "other_user"):
        await log.async_denied("a", "A, renamed", reason)
    await log.async_denied("b", "B")
    assert written[1:] == [("B", 1, {}, False, False)]

    await a_minute_later(hass)
    # The repeats as one record, about the subject the window opened with; the most frequent
    # reason is the caller's to pick from `reasons`.
    # B's window had no repeats: it closed without a record.
    assert written[2:] == [("A", 3, {"unsigned": 1, "other_user": 2}, True, False)]
    # The flood goes on: counted into the window the merged record opened.
    await log.async_denied("a", "A", "unsigned")
    await a_minute_later(hass)
    assert written[3:] == [("A", 1, {"unsigned": 1}, True, False)]
    await a_minute_later(hass)
    assert len(written) == 4
    await log.async_denied("a", "A", "unsigned")
    # A quiet minute: the next refusal is written at once again.
    assert written[4:] == [("A", 1, {"unsigned": 1}, False, False)]


async def test_the_merged_record_knows_its_first_and_last_repeat(hass: HomeAssistant) -> None:
    seen: list[Denials] = []

    async def write(_subject: str, denials: Denials, _at: datetime, _stopping: bool) -> None:
        seen.append(denials)

    log: DenialLog[str, str] = DenialLog(hass, "test denials", write)
    for _ in range(3):
        await log.async_denied("a", "A", "x")
    await a_minute_later(hass)
    once, merged = seen
    assert (once.first, once.last, once.reason) == (None, None, "x")
    assert merged.first is not None
    assert merged.last is not None
    assert merged.first <= merged.last
    assert (merged.count, merged.reason) == (2, "x")


async def test_counts_still_open_are_written_when_home_assistant_stops(
    hass: HomeAssistant,
) -> None:
    log, written = make_log(hass)
    await log.async_denied("a", "A", "unsigned")
    await log.async_denied("a", "A", "unsigned")
    await log.async_denied("b", "B", "other_login")
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert written == [
        ("A", 1, {"unsigned": 1}, False, False),
        ("B", 1, {"other_login": 1}, False, False),
        # Only the window with repeats; written as stopping, so the caller can go straight to
        # the trail while the homes unload.
        ("A", 1, {"unsigned": 1}, True, True),
    ]
    # Nothing is left to fire after the stop.
    await a_minute_later(hass)
    assert len(written) == 3
