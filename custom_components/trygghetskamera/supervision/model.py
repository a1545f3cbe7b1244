"""The words of the domain: statuses, outcomes, reasons, events and a home's configuration."""

from dataclasses import dataclass, field
from datetime import date, datetime
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
    # The camera was moved, covered or blurred: a camera fault at once, and a visit.
    PICTURE_UNUSABLE = "picture_unusable"


class Reason(StrEnum):
    """Why a physical visit is required."""

    NOT_VISIBLE = "not_visible"
    NEEDS_HELP = "needs_help"
    MISSED = "missed"
    FAULT = "fault"
    NO_CONSENT = "no_consent"
    # A physical visit by plan (an agreed time of `physical_times`).
    PLANNED = "planned"
    # The needs-assessed decision for night supervision has ended.
    DECISION_ENDED = "decision_ended"


class Refusal(StrEnum):
    """Why frames may not be shown (the session API's error codes, minus `not_operator`)."""

    OUTSIDE_SLOT = "outside_slot"
    NO_CONSENT = "no_consent"
    SKIPPED = "skipped"
    FAULT = "fault"
    BUSY = "busy"
    # A commissioning look outside the commissioning period, beyond its looks, or once the home
    # is commissioned.
    COMMISSIONING_CLOSED = "commissioning_closed"
    # The needs-assessed decision has ended (`HomeConfig.decision_end`): no digital supervision.
    DECISION_ENDED = "decision_ended"


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
    # A visit's life (see `visits`): on the bus and in the audit log.
    VISIT_ACKNOWLEDGED = "visit_acknowledged"
    VISIT_ESCALATED = "visit_escalated"
    VISIT_OVERDUE = "visit_overdue"
    COMMISSIONING_RESTARTED = "commissioning_restarted"


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
    # The agreed times that are physical visits by plan (a subset of `times`).
    physical_times: tuple[str, ...] = ()
    # A visit not acknowledged this long after it was raised (or its last escalation) escalates.
    ack_minutes: int = 10
    urgent_ack_minutes: int = 5
    # A visit not done this long after it was raised is overdue.
    response_minutes: int = 45
    # The first local date on which the decision (*biståndsbeslut*) no longer holds: from 00:00
    # that day no look is granted and each agreed time raises a `decision_ended` visit.
    decision_end: date | None = None

    def decision_ended(self, at: datetime) -> bool:
        """The decision no longer holds at `at` (an aware time, read in its own time zone)."""
        return self.decision_end is not None and at.date() >= self.decision_end

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
            "physical_times": list(self.physical_times),
            "ack_minutes": self.ack_minutes,
            "urgent_ack_minutes": self.urgent_ack_minutes,
            "response_minutes": self.response_minutes,
            "decision_end": None if self.decision_end is None else self.decision_end.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HomeConfig:
        """The inverse of `as_dict`; keys saved before they existed take their defaults."""
        defaults = cls(times=())
        return cls(
            times=tuple(data["times"]),
            slot_minutes=int(data["slot_minutes"]),
            follow_up_minutes=int(data["follow_up_minutes"]),
            follow_ups=int(data["follow_ups"]),
            view_seconds=int(data["view_seconds"]),
            physical_times=tuple(data.get("physical_times", ())),
            ack_minutes=int(data.get("ack_minutes", defaults.ack_minutes)),
            urgent_ack_minutes=int(data.get("urgent_ack_minutes", defaults.urgent_ack_minutes)),
            response_minutes=int(data.get("response_minutes", defaults.response_minutes)),
            decision_end=None
            if data.get("decision_end") is None
            else date.fromisoformat(data["decision_end"]),
        )


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened; `slot` is the slot's key (ISO local start) when it concerns one.

    `data` holds only JSON-safe values (strings, numbers, booleans, None, lists, dicts).
    """

    type: EventType
    at: datetime
    slot: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class VisitStage(StrEnum):
    """Where a visit is in its life."""

    REQUIRED = "required"
    ACKNOWLEDGED = "acknowledged"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Visit:
    """A physical visit that is required, and how far staff have got with it.

    `slot` is the key of the slot it replaces (None for a visit raised by a commissioning look).
    `slot_end` is when that slot's (or follow-up's) window ends: a `fault` or `no_consent` visit
    stays open until then even once done, because the visit replaces that whole check.
    Life: required -> acknowledged ("on my way": `acknowledged_by`/`_at`) -> done (`done_by`/
    `_at`, `note`). `escalations` counts the escalation levels fired while nobody acknowledged;
    `overdue` is set once it was not done within the response time.
    """

    slot: str | None
    reason: Reason
    urgent: bool
    raised_at: datetime
    slot_end: datetime | None = None
    visit_id: str = ""
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    done_by: str | None = None
    done_at: datetime | None = None
    note: str | None = None
    escalations: int = 0
    overdue: bool = False

    @property
    def acknowledged(self) -> bool:
        """Someone said they are on their way (or already reported it done)."""
        return self.acknowledged_at is not None or self.done_at is not None

    @property
    def done(self) -> bool:
        """Staff reported the visit done."""
        return self.done_at is not None

    @property
    def stage(self) -> VisitStage:
        """required, acknowledged or done."""
        if self.done:
            return VisitStage.DONE
        if self.acknowledged:
            return VisitStage.ACKNOWLEDGED
        return VisitStage.REQUIRED


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
