"""Small helpers shared by the core tests: the home's zone, local times, event filters."""

from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from custom_components.trygghetskamera.supervision import (
    Event,
    EventType,
    HomeConfig,
    Supervisor,
)

TZ = ZoneInfo("Europe/Stockholm")
NIGHT = date(2026, 1, 15)
TIMES = ("22:30", "01:30", "04:30")


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, fold: int = 0
) -> datetime:
    """An aware local time in the home's zone."""
    return datetime(year, month, day, hour, minute, second, tzinfo=TZ, fold=fold)


def jan(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A local time in January 2026 (no DST change near)."""
    return local(2026, 1, day, hour, minute, second)


def key(moment: datetime) -> str:
    """A slot's key for a local start time."""
    return moment.astimezone(TZ).isoformat()


def home(
    times: tuple[str, ...] = TIMES,
    *,
    now: datetime | None = None,
    consent: bool = True,
    **options: int,
) -> Supervisor:
    """A home created at noon of the test night (or `now`)."""
    config = HomeConfig(times=times, **options)
    return Supervisor(config, TZ, now or jan(15, 12), consent=consent)


# A visit's own life (escalations, deadlines, acknowledgements): tested in test_visits.py.
LIFE = frozenset({EventType.VISIT_ESCALATED, EventType.VISIT_OVERDUE, EventType.VISIT_ACKNOWLEDGED})


def without_life(events: Iterable[Event]) -> list[Event]:
    """The events of slots and looks, without those of the visits' own life."""
    return [event for event in events if event.type not in LIFE]


def types(events: Iterable[Event]) -> list[EventType]:
    """The types of some events, in order."""
    return [event.type for event in events]


def of_type(events: Iterable[Event], kind: EventType) -> list[Event]:
    """The events of one type."""
    return [event for event in events if event.type is kind]


def run_until(supervisor: Supervisor, until: datetime, start: datetime) -> list[Event]:
    """Drive the home as the runtime does: advance only at each `next_wakeup` until `until`."""
    events: list[Event] = []
    now = start
    for _ in range(10_000):
        wake = supervisor.next_wakeup(now)
        if wake is None or wake > until:
            break
        assert wake >= now, "next_wakeup is in the past"
        now = wake
        events += supervisor.advance(now)
    else:
        raise AssertionError("the home keeps asking to be woken at the same instant")
    events += supervisor.advance(until)
    return events
