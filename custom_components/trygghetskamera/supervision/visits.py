"""A required visit's life: required -> acknowledged -> done, with escalation and a deadline.

The rules (the patrol's loop, docs/contract.md):
- each visit has its own `visit_id`, and is acknowledged ("on my way") and done one by one;
- a visit nobody acknowledged escalates every `ack_minutes` after it was raised (every
  `urgent_ack_minutes` when urgent): level 1, 2, ... until someone acknowledges it (or reports
  it done), up to level `MAX_ESCALATION_LEVEL`;
- a visit not done `response_minutes` after it was raised is overdue, once;
- acting on a home rather than on one visit means the visits open at that moment; `done` never
  closes a visit raised after the caller's own acknowledgement (it is a new visit the caller
  has not seen: an urgent one raised while they were on their way stays open);
- after a long outage the escalation resumes at the level it has reached, in one event, rather
  than flooding the patrol's phones with every level it missed; overdue is reported once.

`VisitBook` keeps one home's visits: the open ones, and the closed ones until their night has
been reported (the night report lists each visit's life). It is pure and driven by `now`, so the
same book serves a running home (inside `Supervisor`) and the watchdog's homes that are not
running.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
import secrets
from typing import Any

from .model import Event, EventType, HomeConfig, Reason, Visit

# Visits that replace a whole check and therefore stay open until its window has ended.
HELD_REASONS = frozenset({Reason.FAULT, Reason.NO_CONSENT, Reason.DECISION_ENDED})
# The chain above the patrol is short (team leader, alarm centre): past this level a visit stays
# escalated without another event, rather than paging every few minutes all night (and filling
# the audit log) while, say, consent is withdrawn and nobody acknowledges.
MAX_ESCALATION_LEVEL = 6


@dataclass(frozen=True, slots=True)
class VisitPolicy:
    """How long staff have to acknowledge a visit and to be there."""

    ack_minutes: int = 10
    urgent_ack_minutes: int = 5
    response_minutes: int = 45

    @classmethod
    def of(cls, config: HomeConfig) -> VisitPolicy:
        """The policy of a home's configuration."""
        return cls(config.ack_minutes, config.urgent_ack_minutes, config.response_minutes)

    def ack_period(self, visit: Visit) -> timedelta:
        """Time between escalation levels of this visit."""
        return timedelta(minutes=self.urgent_ack_minutes if visit.urgent else self.ack_minutes)

    def next_escalation(self, visit: Visit) -> datetime | None:
        """When this visit escalates next (None once acknowledged, done or at the top level)."""
        if visit.acknowledged or visit.escalations >= MAX_ESCALATION_LEVEL:
            return None
        return visit.raised_at + (visit.escalations + 1) * self.ack_period(visit)

    def overdue_at(self, visit: Visit) -> datetime | None:
        """When this visit becomes overdue (None once done or already overdue)."""
        if visit.done or visit.overdue:
            return None
        return visit.raised_at + timedelta(minutes=self.response_minutes)


def response_minutes(visit: Visit) -> float | None:
    """Minutes from raised to done, if done."""
    if visit.done_at is None:
        return None
    return round((visit.done_at - visit.raised_at).total_seconds() / 60, 1)


def _by(user_id: str | None, at: datetime | None, tz: tzinfo | None) -> dict[str, Any] | None:
    return None if at is None else {"user": user_id, "at": at.astimezone(tz).isoformat()}


def visit_summary(visit: Visit, tz: tzinfo | None = None) -> dict[str, Any]:
    """A visit's life as the night report lists it (JSON-safe; times in `tz`)."""
    return {
        "visit_id": visit.visit_id,
        "reason": str(visit.reason),
        "urgent": visit.urgent,
        "raised": visit.raised_at.astimezone(tz).isoformat(),
        "acknowledged": _by(visit.acknowledged_by, visit.acknowledged_at, tz),
        "done": _by(visit.done_by, visit.done_at, tz),
        "response_minutes": response_minutes(visit),
        "escalations": visit.escalations,
        "overdue": visit.overdue,
    }


def visit_state(visit: Visit) -> dict[str, Any]:
    """An open visit as entities, the panel and a dispatch board show it (no user ids)."""
    return {
        "visit_id": visit.visit_id,
        "reason": str(visit.reason),
        "urgent": visit.urgent,
        "slot": visit.slot,
        "raised": visit.raised_at.isoformat(),
        "stage": str(visit.stage),
        "escalations": visit.escalations,
        "overdue": visit.overdue,
        # A done visit that replaced a whole check stays open until that check's window ends.
        "held_until": _dump(visit.slot_end) if visit.done else None,
    }


def _dump(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _load(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def visit_to_dict(visit: Visit) -> dict[str, Any]:
    """JSON-safe form of a visit."""
    return {
        "visit_id": visit.visit_id,
        "slot": visit.slot,
        "reason": str(visit.reason),
        "urgent": visit.urgent,
        "raised_at": visit.raised_at.isoformat(),
        "slot_end": _dump(visit.slot_end),
        "acknowledged_by": visit.acknowledged_by,
        "acknowledged_at": _dump(visit.acknowledged_at),
        "done_by": visit.done_by,
        "done_at": _dump(visit.done_at),
        "note": visit.note,
        "escalations": visit.escalations,
        "overdue": visit.overdue,
    }


def visit_from_dict(data: dict[str, Any], fallback_id: str) -> Visit:
    """The inverse of `visit_to_dict`.

    A visit saved before visits had their own life (no `visit_id`) gets `fallback_id`; its
    `acknowledged_*` then meant done (there was no "on my way" yet).
    """
    raised = _load(data["raised_at"])
    assert raised is not None
    common = {
        "slot": data["slot"],
        "reason": Reason(data["reason"]),
        "urgent": bool(data["urgent"]),
        "raised_at": raised,
        "slot_end": _load(data["slot_end"]),
    }
    if "visit_id" not in data:
        return Visit(
            **common,
            visit_id=fallback_id,
            done_by=data["acknowledged_by"],
            done_at=_load(data["acknowledged_at"]),
            # Visits raised before escalation existed are not escalated after the fact.
            escalations=0,
            overdue=data["acknowledged_at"] is not None,
        )
    return Visit(
        **common,
        visit_id=data["visit_id"],
        acknowledged_by=data["acknowledged_by"],
        acknowledged_at=_load(data["acknowledged_at"]),
        done_by=data["done_by"],
        done_at=_load(data["done_at"]),
        note=data["note"],
        escalations=int(data["escalations"]),
        overdue=bool(data["overdue"]),
    )


class VisitBook:
    """One home's visits: open ones, and closed ones until their night is reported."""

    def __init__(self, prefix: str | None = None) -> None:
        """An empty book; `prefix` makes its visit ids unique (random unless given)."""
        self._prefix = prefix if prefix is not None else secrets.token_hex(4)
        self._serial = 0
        self._open: list[Visit] = []
        self._closed: list[Visit] = []

    # --- persistence ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "prefix": self._prefix,
            "serial": self._serial,
            "open": [visit_to_dict(visit) for visit in self._open],
            "closed": [visit_to_dict(visit) for visit in self._closed],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VisitBook:
        """The inverse of `to_dict`."""
        book = cls(str(data["prefix"]))
        book._serial = int(data["serial"])
        book._open = [book._load(item) for item in data["open"]]
        book._closed = [book._load(item) for item in data["closed"]]
        return book

    @classmethod
    def from_legacy(cls, visits: list[dict[str, Any]]) -> VisitBook:
        """A book from the open visits saved before visits had ids."""
        book = cls()
        book._open = [book._load(item) for item in visits]
        return book

    def _load(self, data: dict[str, Any]) -> Visit:
        if "visit_id" in data:
            return visit_from_dict(data, "")
        return visit_from_dict(data, self._next_id())

    def _next_id(self) -> str:
        self._serial += 1
        return f"{self._prefix}-{self._serial}"

    # --- facts ------------------------------------------------------------------------------

    def raise_visit(
        self,
        at: datetime,
        slot: str | None,
        reason: Reason,
        *,
        urgent: bool = False,
        slot_end: datetime | None = None,
    ) -> Visit:
        """A new visit is required; returns it (with its id)."""
        visit = Visit(
            slot=slot,
            reason=reason,
            urgent=urgent,
            raised_at=at,
            slot_end=slot_end if reason in HELD_REASONS else None,
            visit_id=self._next_id(),
        )
        self._open.append(visit)
        return visit

    def acknowledge(
        self, at: datetime, user_id: str | None, visit_ids: Collection[str], note: str | None
    ) -> list[Event]:
        """Someone is on their way to these visits (those not yet acknowledged)."""
        events: list[Event] = []
        for index, visit in enumerate(self._open):
            if visit.visit_id not in visit_ids or visit.acknowledged:
                continue
            self._open[index] = replace(visit, acknowledged_by=user_id, acknowledged_at=at)
            events.append(
                Event(
                    EventType.VISIT_ACKNOWLEDGED,
                    at,
                    visit.slot,
                    {
                        "visit_id": visit.visit_id,
                        "user_id": user_id,
                        "note": note,
                        "reason": str(visit.reason),
                        "urgent": visit.urgent,
                        "escalations": visit.escalations,
                    },
                )
            )
        return events

    def done(
        self, at: datetime, user_id: str | None, visit_ids: Collection[str], note: str | None
    ) -> list[Visit]:
        """These visits were made; returns the ones that were not done before.

        A done visit leaves the open ones, except a `fault`/`no_consent` visit whose window is
        still open: it stays (done) until `expire` passes that window's end.
        """
        finished: list[Visit] = []
        for index, visit in enumerate(self._open):
            if visit.visit_id not in visit_ids or visit.done:
                continue
            current = replace(visit, done_by=user_id, done_at=at, note=note)
            self._open[index] = current
            finished.append(current)
        self.expire(at)
        return finished

    def expire(self, now: datetime) -> None:
        """Done visits whose window has ended leave the open ones."""
        still: list[Visit] = []
        for visit in self._open:
            if visit.done and (visit.slot_end is None or visit.slot_end <= now):
                self._closed.append(visit)
            else:
                still.append(visit)
        self._open = still

    def advance(self, policy: VisitPolicy, now: datetime) -> list[Event]:
        """Fire the escalations and overdue deadlines due by `now`, each level at most once."""
        events: list[Event] = []
        for index, visit in enumerate(self._open):
            current = visit
            escalate = policy.next_escalation(current)
            if escalate is not None and escalate <= now:
                period = policy.ack_period(current)
                # After an outage, the level it has reached by now, in one event.
                level = max(current.escalations + 1, int((now - current.raised_at) / period))
                level = min(level, MAX_ESCALATION_LEVEL)
                at = current.raised_at + level * period
                current = replace(current, escalations=level)
                events.append(
                    Event(
                        EventType.VISIT_ESCALATED,
                        at,
                        current.slot,
                        {
                            "visit_id": current.visit_id,
                            "level": level,
                            "reason": str(current.reason),
                            "urgent": current.urgent,
                            "minutes": int((at - current.raised_at).total_seconds() // 60),
                        },
                    )
                )
            deadline = policy.overdue_at(current)
            if deadline is not None and deadline <= now:
                current = replace(current, overdue=True)
                events.append(
                    Event(
                        EventType.VISIT_OVERDUE,
                        deadline,
                        current.slot,
                        {
                            "visit_id": current.visit_id,
                            "minutes": int((now - current.raised_at).total_seconds() // 60),
                            "reason": str(current.reason),
                            "urgent": current.urgent,
                            "acknowledged": current.acknowledged,
                        },
                    )
                )
            self._open[index] = current
        events.sort(key=lambda event: event.at)
        return events

    def keep_closed(self, slot_keys: Collection[str]) -> None:
        """Closed visits leave the book unless their slot is still to be reported."""
        self._closed = [visit for visit in self._closed if visit.slot in slot_keys]

    # --- queries ----------------------------------------------------------------------------

    @property
    def open(self) -> list[Visit]:
        """Visits required and not yet cleared, oldest first."""
        return list(self._open)

    @property
    def closed(self) -> list[Visit]:
        """Visits done and cleared that the book still keeps, oldest first."""
        return list(self._closed)

    def all_of(self, slot_keys: Collection[str]) -> list[Visit]:
        """Every visit (open or closed) of these slots, in the order raised."""
        visits = [visit for visit in self._closed + self._open if visit.slot in slot_keys]
        return sorted(visits, key=lambda visit: visit.raised_at)

    def get(self, visit_id: str) -> Visit | None:
        """The open visit with this id."""
        return next((visit for visit in self._open if visit.visit_id == visit_id), None)

    def next_due(self, policy: VisitPolicy) -> datetime | None:
        """The next escalation, deadline or end of a held window."""
        moments: list[datetime] = []
        for visit in self._open:
            moments += [
                moment
                for moment in (policy.next_escalation(visit), policy.overdue_at(visit))
                if moment is not None
            ]
            if visit.done and visit.slot_end is not None:
                moments.append(visit.slot_end)
        return min(moments, default=None)


def to_acknowledge(visits: Iterable[Visit]) -> list[str]:
    """Acting on a home: the visits open now that nobody acknowledged yet."""
    return [visit.visit_id for visit in visits if not visit.acknowledged]


def to_finish(visits: Iterable[Visit], user_id: str | None) -> list[str]:
    """Acting on a home: the visits open now, but none raised after the caller acknowledged.

    When the caller has acknowledged open visits, they were on their way to those: a visit
    raised after their (last) acknowledgement is one they have not seen, and stays open.
    """
    pending = [visit for visit in visits if not visit.done]
    acknowledged = [
        visit.acknowledged_at
        for visit in pending
        if visit.acknowledged_at is not None and visit.acknowledged_by == user_id
    ]
    if not acknowledged:
        return [visit.visit_id for visit in pending]
    last = max(acknowledged)
    return [visit.visit_id for visit in pending if visit.raised_at <= last]
