"""The words of the domain: statuses, outcomes, reasons, events and a home's configuration."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """What a home is doing right now (the `status` sensor)."""

    WAITING = "waiting"
    DUE = "due"
    VIEWING = "viewing"
    FOLLOW_UP = "follow_up"
    VISIT_REQUIRED = "visit_required"
    SKIPPED = "skipped"
    NO_CONSENT = "no_consent"
    FAULT = "fault"


class Outcome(StrEnum):
    """What the operator saw during a session."""

    OK = "ok"
    NOT_VISIBLE = "not_visible"
    NEEDS_HELP = "needs_help"


class Reason(StrEnum):
    """Why a physical visit is required."""

    NOT_VISIBLE = "not_visible"
    NEEDS_HELP = "needs_help"
    MISSED = "missed"
    FAULT = "fault"
    NO_CONSENT = "no_consent"


class Refusal(StrEnum):
    """Why frames may not be shown (the session API's error codes, minus `not_operator`)."""

    OUTSIDE_SLOT = "outside_slot"
    NO_CONSENT = "no_consent"
    SKIPPED = "skipped"
    FAULT = "fault"
    BUSY = "busy"


class EventType(StrEnum):
    """What the core reports; the first eight are the `supervision` event entity's types."""

    COMPLETED = "completed"
    FOLLOW_UP = "follow_up"
    VISIT_REQUIRED = "visit_required"
    MISSED = "missed"
    FAULT = "fault"
    FAULT_CLEARED = "fault_cleared"
    SKIPPED = "skipped"
    NIGHT_REPORT = "night_report"
    # For the bus and the audit log only.
    VISIT_CLEARED = "visit_cleared"
    VISIT_DONE = "visit_done"
    SESSION_STARTED = "session_started"
    SESSION_ENDED = "session_ended"
    CONSENT_CHANGED = "consent_changed"
    SCHEDULE_CHANGED = "schedule_changed"
    COMMISSIONING_CHECK = "commissioning_check"
    COMMISSIONED = "commissioned"
    COMMISSIONING_RESET = "commissioning_reset"
    UNSKIPPED = "unskipped"


class SlotResult(StrEnum):
    """How a slot ended: exactly one of these per slot."""

    OK = "ok"
    VISIT_REQUIRED = "visit_required"
    SKIPPED = "skipped"


class Check(StrEnum):
    """What commissioning with the staff must have seen pass before a home is commissioned."""

    CAMERA_PROBE = "camera_probe"
    EQUIPMENT = "equipment"
    SESSION = "session"


class Purpose(StrEnum):
    """Why a session is run."""

    SUPERVISION = "supervision"
    COMMISSIONING = "commissioning"


@dataclass(frozen=True, slots=True)
class HomeConfig:
    """A home's schedule and look rules (the config entry's options the core needs)."""

    times: tuple[str, ...]
    slot_minutes: int = 30
    follow_up_minutes: int = 20
    follow_ups: int = 1
    view_seconds: int = 30

    @property
    def follow_up_window_minutes(self) -> int:
        """How long a follow-up stays open: a short slot, at most 15 minutes."""
        return min(self.slot_minutes, 15)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (for the audit of schedule changes)."""
        return {
            "times": list(self.times),
            "slot_minutes": self.slot_minutes,
            "follow_up_minutes": self.follow_up_minutes,
            "follow_ups": self.follow_ups,
            "view_seconds": self.view_seconds,
        }


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened; `slot` is the slot's key (ISO local start) when it concerns one.

    `data` holds only JSON-safe values (strings, numbers, booleans, None, lists, dicts).
    """

    type: EventType
    at: datetime
    slot: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Visit:
    """A physical visit that is required (open until it clears).

    `slot` is the key of the slot it replaces (None for a visit raised by a commissioning look).
    `slot_end` is when that slot's (or follow-up's) window ends: a `fault` or `no_consent` visit
    stays open until then even once acknowledged, because the visit replaces that whole check.
    """

    slot: str | None
    reason: Reason
    urgent: bool
    raised_at: datetime
    slot_end: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None

    @property
    def acknowledged(self) -> bool:
        """Staff reported the visit done."""
        return self.acknowledged_at is not None


@dataclass(frozen=True, slots=True)
class Session:
    """A running look (or one whose stream ended and whose outcome is awaited)."""

    session_id: str
    user_id: str
    purpose: Purpose
    started: datetime
    view_until: datetime
    slot: str | None
    follow_up: int
    stream_ended: datetime | None
    outcome_due: datetime
