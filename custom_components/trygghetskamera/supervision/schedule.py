"""Agreed local times -> slots of a night, safe across midnight and daylight-saving changes.

A night runs from 12:00 local time to 12:00 the next day and is named by the date of its evening.
An agreed time from 12:00 on falls on the evening's date, one before 12:00 on the next morning.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
import re
from zoneinfo import ZoneInfo

NOON = time(12, 0)
MINUTES_PER_DAY = 24 * 60

_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::00)?$")


class ProblemCode(StrEnum):
    """What is wrong with a list of agreed times (the config flow's error keys)."""

    TIMES_REQUIRED = "times_required"
    INVALID_TIME = "invalid_time"
    DUPLICATE_TIME = "duplicate_time"
    OVERLAPPING_SLOTS = "overlapping_slots"


@dataclass(frozen=True, slots=True)
class TimeProblem:
    """One problem in a list of agreed times, with the times concerned."""

    code: ProblemCode
    times: tuple[str, ...] = ()

    def __str__(self) -> str:
        """A plain English message (the UI uses translations keyed by `code`)."""
        listed = ", ".join(self.times)
        match self.code:
            case ProblemCode.TIMES_REQUIRED:
                return "at least one agreed time is required"
            case ProblemCode.INVALID_TIME:
                return f"not a time of day as HH:MM: {listed}"
            case ProblemCode.DUPLICATE_TIME:
                return f"entered more than once: {listed}"
            case ProblemCode.OVERLAPPING_SLOTS:
                return f"closer than the slot length, the slots would overlap: {listed}"


@dataclass(frozen=True, slots=True)
class Slot:
    """One agreed time on one night: a window in which a look may be taken.

    `start` and `end` are aware UTC datetimes. `key` is the start as ISO 8601 in local time with
    its offset (the contract's `slot` field). `shifted` marks an agreed time that did not exist on
    that night (clocks went forward) and happens at the shifted local time instead.
    """

    night: date
    agreed: str
    start: datetime
    end: datetime
    shifted: bool
    key: str


def parse_time(value: str) -> time:
    """Parse an agreed time "HH:MM" (also "H:MM" and "HH:MM:00"); raise ValueError otherwise."""
    match = _TIME.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"not a time of day as HH:MM: {value!r}")
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        raise ValueError(f"not a time of day as HH:MM: {value!r}")
    return time(hour, minute)


def format_time(value: time) -> str:
    """The canonical "HH:MM" form of an agreed time."""
    return f"{value.hour:02d}:{value.minute:02d}"


def night_of(moment: datetime, tz: ZoneInfo) -> date:
    """The night a moment belongs to: the date of the evening, nights turning at 12:00 local."""
    local = moment.astimezone(tz)
    return local.date() if local.time() >= NOON else local.date() - timedelta(days=1)


def night_start(night: date, tz: ZoneInfo) -> datetime:
    """The instant (UTC) a night begins: 12:00 local on its evening's date."""
    return datetime.combine(night, NOON, tzinfo=tz).astimezone(UTC)


def _resolve(day: date, clock: time, tz: ZoneInfo) -> tuple[datetime, bool]:
    """The instant of a local clock time on a day, and whether it had to be shifted.

    A time in a spring-forward gap does not exist: with fold=0 zoneinfo applies the offset from
    before the change, which lands exactly as far past the gap as the time was into it (02:30 ->
    03:30). A time that happens twice (fall back) is taken at its first occurrence (fold=0).
    """
    local = datetime.combine(day, clock, tzinfo=tz)
    instant = local.astimezone(UTC)
    round_trip = instant.astimezone(tz)
    shifted = (round_trip.date(), round_trip.time()) != (day, clock)
    return instant, shifted


def slots_for_night(
    night: date, times: tuple[str, ...] | list[str], slot_minutes: int, tz: ZoneInfo
) -> list[Slot]:
    """The slots of a night, sorted by start.

    Two agreed times that land on the same instant (only possible on the spring-forward night,
    e.g. 02:30 shifted onto 03:30) make one slot: one look serves both, and keys stay unique.
    """
    length = timedelta(minutes=slot_minutes)
    by_key: dict[str, Slot] = {}
    for text in times:
        clock = parse_time(text)
        day = night if clock >= NOON else night + timedelta(days=1)
        start, shifted = _resolve(day, clock, tz)
        key = start.astimezone(tz).isoformat()
        slot = Slot(
            night=night,
            agreed=format_time(clock),
            start=start,
            end=start + length,
            shifted=shifted,
            key=key,
        )
        existing = by_key.get(key)
        # Of two times on one instant keep the one that really is that time (not shifted).
        if existing is None or (existing.shifted and not shifted):
            by_key[key] = slot
    return sorted(by_key.values(), key=lambda slot: slot.start)


def validate_times(times: list[str] | tuple[str, ...], slot_minutes: int) -> list[TimeProblem]:
    """Problems with agreed times: none given, bad format, duplicates, overlapping slots.

    Two slots overlap when their agreed times are closer than `slot_minutes` on the 24-hour
    circle, so 23:50 and 00:10 are 20 minutes apart. An empty list means the times are fine.
    """
    if not times:
        return [TimeProblem(ProblemCode.TIMES_REQUIRED)]
    problems: list[TimeProblem] = []
    parsed: dict[str, int] = {}
    seen_twice: list[str] = []
    for text in times:
        try:
            clock = parse_time(text)
        except ValueError:
            problems.append(TimeProblem(ProblemCode.INVALID_TIME, (str(text),)))
            continue
        canonical = format_time(clock)
        if canonical in parsed:
            if canonical not in seen_twice:
                seen_twice.append(canonical)
            continue
        parsed[canonical] = clock.hour * 60 + clock.minute
    problems.extend(TimeProblem(ProblemCode.DUPLICATE_TIME, (text,)) for text in seen_twice)
    ordered = sorted(parsed.items(), key=lambda item: item[1])
    for index, (first, first_minute) in enumerate(ordered):
        for second, second_minute in ordered[index + 1 :]:
            apart = second_minute - first_minute
            if min(apart, MINUTES_PER_DAY - apart) < slot_minutes:
                problems.append(TimeProblem(ProblemCode.OVERLAPPING_SLOTS, (first, second)))
    return problems
