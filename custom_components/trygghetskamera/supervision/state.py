"""The mutable records a home keeps between facts, and their JSON-safe form for persistence."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .model import Event, EventType, Outcome, Purpose, Reason, Session, SlotResult
from .schedule import Slot

# A session whose stream ended without an outcome counts as `not_visible` this long after.
OUTCOME_GRACE = timedelta(minutes=5)


def dump_time(moment: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC."""
    return moment.astimezone(UTC).isoformat()


def load_time(text: str) -> datetime:
    """The inverse of `dump_time` (any ISO 8601 with an offset), in UTC."""
    return datetime.fromisoformat(text).astimezone(UTC)


def _maybe_time(text: str | None) -> datetime | None:
    return None if text is None else load_time(text)


def _maybe_dump(moment: datetime | None) -> str | None:
    return None if moment is None else dump_time(moment)


@dataclass(slots=True)
class SlotState:
    """A slot that has started (or was skipped ahead of time) and what became of it.

    `follow_ups` counts the follow-ups scheduled so far; the check in progress is the slot itself
    while it is 0, else follow-up number `follow_ups`, whose window is `window_start`..`window_end`.
    `opened` is set once the check's window has opened (consent and faults were looked at then).
    """

    slot: Slot
    window_start: datetime
    window_end: datetime
    closes_at: datetime
    result: SlotResult | None = None
    reason: Reason | None = None
    follow_ups: int = 0
    opened: bool = False
    visit_done: bool = False

    @classmethod
    def new(cls, slot: Slot) -> SlotState:
        """A slot whose own window is the check in progress."""
        return cls(slot=slot, window_start=slot.start, window_end=slot.end, closes_at=slot.end)

    @property
    def resolved(self) -> bool:
        """The slot has its one result."""
        return self.result is not None

    def is_open(self, now: datetime) -> bool:
        """The check in progress accepts a look at `now` (unresolved, window open)."""
        return self.result is None and self.opened and self.window_start <= now < self.window_end

    def pending_follow_up(self) -> bool:
        """A follow-up is scheduled and its window has not opened yet."""
        return self.result is None and self.follow_ups > 0 and not self.opened

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "night": self.slot.night.isoformat(),
            "agreed": self.slot.agreed,
            "start": dump_time(self.slot.start),
            "end": dump_time(self.slot.end),
            "shifted": self.slot.shifted,
            "key": self.slot.key,
            "window_start": dump_time(self.window_start),
            "window_end": dump_time(self.window_end),
            "closes_at": dump_time(self.closes_at),
            "result": None if self.result is None else str(self.result),
            "reason": None if self.reason is None else str(self.reason),
            "follow_ups": self.follow_ups,
            "opened": self.opened,
            "visit_done": self.visit_done,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SlotState:
        """The inverse of `to_dict`."""
        slot = Slot(
            night=date.fromisoformat(data["night"]),
            agreed=data["agreed"],
            start=load_time(data["start"]),
            end=load_time(data["end"]),
            shifted=bool(data["shifted"]),
            key=data["key"],
        )
        return cls(
            slot=slot,
            window_start=load_time(data["window_start"]),
            window_end=load_time(data["window_end"]),
            closes_at=load_time(data["closes_at"]),
            result=None if data["result"] is None else SlotResult(data["result"]),
            reason=None if data["reason"] is None else Reason(data["reason"]),
            follow_ups=int(data["follow_ups"]),
            opened=bool(data["opened"]),
            visit_done=bool(data["visit_done"]),
        )


@dataclass(slots=True)
class SessionState:
    """A look in progress: who, why, since when, for which slot and check."""

    session_id: str
    user_id: str
    purpose: Purpose
    started: datetime
    view_seconds: int
    slot_key: str | None
    follow_up: int
    stream_ended: datetime | None = None
    # Set once settled (the session is then only kept to catch a late `needs_help`).
    outcome: Outcome | None = None

    @property
    def view_until(self) -> datetime:
        """The longest a look may last."""
        return self.started + timedelta(seconds=self.view_seconds)

    @property
    def outcome_due(self) -> datetime:
        """When a missing outcome counts as `not_visible`.

        5 minutes after the stream ended, or, when its end was never reported (Home Assistant
        restarted mid-look), 5 minutes after the longest the stream could have lasted.
        """
        ended = self.stream_ended if self.stream_ended is not None else self.view_until
        return ended + OUTCOME_GRACE

    def streaming(self, now: datetime) -> bool:
        """Frames may still be flowing (the stream has not ended nor run out of time)."""
        return self.stream_ended is None and now < self.view_until

    def snapshot(self) -> Session:
        """The public, frozen view."""
        return Session(
            session_id=self.session_id,
            user_id=self.user_id,
            purpose=self.purpose,
            started=self.started,
            view_until=self.view_until,
            slot=self.slot_key,
            follow_up=self.follow_up,
            stream_ended=self.stream_ended,
            outcome_due=self.outcome_due,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "session_id": self.session_id,
            "user_id": self.user_id,
            "purpose": str(self.purpose),
            "started": dump_time(self.started),
            "view_seconds": self.view_seconds,
            "slot_key": self.slot_key,
            "follow_up": self.follow_up,
            "stream_ended": _maybe_dump(self.stream_ended),
            "outcome": None if self.outcome is None else str(self.outcome),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionState:
        """The inverse of `to_dict`."""
        return cls(
            session_id=data["session_id"],
            user_id=data["user_id"],
            purpose=Purpose(data["purpose"]),
            started=load_time(data["started"]),
            view_seconds=int(data["view_seconds"]),
            slot_key=data["slot_key"],
            follow_up=int(data["follow_up"]),
            stream_ended=_maybe_time(data["stream_ended"]),
            outcome=None if data["outcome"] is None else Outcome(data["outcome"]),
        )


def event_to_dict(event: Event) -> dict[str, Any]:
    """JSON-safe form of an event (its data already is)."""
    return {
        "type": str(event.type),
        "at": dump_time(event.at),
        "slot": event.slot,
        "data": event.data,
    }


def event_from_dict(data: dict[str, Any]) -> Event:
    """The inverse of `event_to_dict`."""
    return Event(
        type=EventType(data["type"]),
        at=load_time(data["at"]),
        slot=data["slot"],
        data=dict(data["data"]),
    )
