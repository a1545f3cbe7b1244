"""The per-home state machine: slots, looks, outcomes, follow-ups, visits and night reports.

Every fact (time passing, a look, consent, a fault, a skip, a visit done, a schedule change) is a
method that takes `now` and returns the events it caused; decisions are queries. The object never
reads a clock: the Home Assistant runtime calls `advance(now)` at `next_wakeup(now)` and feeds it
every other fact as it happens, and queries answer for the `now` they are given even when the
runtime's timer is late.

The rules (the municipalities' promises to their residents; the contract is docs/contract.md):
- each agreed time opens a slot of `slot_minutes`; frames only while a slot's (or follow-up's)
  window is open and unresolved, with consent, without fault, on a night not skipped, and for one
  session at a time;
- `ok` completes the slot; `not_visible` schedules a follow-up `follow_up_minutes` later (a short
  window of min(slot_minutes, 15) minutes); after `follow_ups` follow-ups still not visible, or
  at once when `follow_ups` is 0, a visit is required; `needs_help` requires an urgent visit;
- a window that closes without a look is missed (visit required); a look still running at the
  close is waited for; a look without an outcome counts as not visible 5 minutes after its end;
- consent withdrawn: no frames, each slot raises a visit at its start, and the open slot and
  pending follow-ups raise one at once; a fault present at a window's start, or arising while it
  is open, raises a visit too;
- the decision ended (`decision_end`, from 00:00 local that day): as consent withdrawn, no
  frames and each window that opens raises a `decision_ended` visit, until the end is moved on;
- skipping a night skips its slots that have had no look yet; pending follow-ups still happen;
  a night may be skipped from tonight up to a year ahead, and the skip undone until its first
  slot begins;
- a visit stays required until staff report it done (`visit_done`); a `fault`, `no_consent` or
  `decision_ended` visit also stays until the window it replaces has ended; each visit's own
  life (acknowledged, escalated, overdue, done) is the `visits` module's;
- an agreed time of `physical_times` is a physical visit by plan: it raises a `planned` visit at
  its start and takes no look;
- each slot ends in exactly one of ok, visit required or skipped, and each night with slots gets
  one night report once its last slot and follow-ups have closed;
- commissioning looks (the only looks outside slots) only in a commissioning period: it opens when
  the home is added, its camera changes or an admin restarts commissioning, and lasts
  `COMMISSIONING_DAYS` days with at most `COMMISSIONING_LOOKS` looks; none once commissioned.
"""

from collections.abc import Callable, Iterable
import copy
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, partial
from typing import Any, NamedTuple, Self
from zoneinfo import ZoneInfo

from .model import (
    Check,
    Event,
    EventType,
    HomeConfig,
    Outcome,
    Purpose,
    Reason,
    Refusal,
    Session,
    SlotResult,
    Status,
    Visit,
)
from .schedule import Slot, night_of, night_start, slots_for_night
from .state import (
    SessionState,
    SlotState,
    dump_time,
    event_from_dict,
    event_to_dict,
    load_time,
)
from .visits import VisitBook, VisitPolicy, to_acknowledge, to_finish, visit_summary

STATE_VERSION = 1
# After a long outage only the current night and this many before it are caught up with: older
# slots are not materialised, so a restart after months cannot flood the bus with missed slots.
CATCH_UP_NIGHTS = 7
# How far ahead to look for the next slot (nights can be skipped well in advance).
_SCAN_NIGHTS = 800
_TICK = timedelta(microseconds=1)
# A commissioning period: how long it lasts and how many commissioning looks it allows.
COMMISSIONING_DAYS = 14
COMMISSIONING_LOOKS = 10


def _one_year_after(night: date) -> date:
    """The same date a year later (a leap day becomes the 28th of February)."""
    try:
        return night.replace(year=night.year + 1)
    except ValueError:
        return night.replace(year=night.year + 1, day=28)


class _Timer(NamedTuple):
    """A moment at which the state must change, and the change."""

    at: datetime
    order: int
    fire: Callable[[datetime], list[Event]]


def _utc(moment: datetime) -> datetime:
    """Keep every stored instant in UTC, whatever zone the caller's clock uses."""
    return moment.astimezone(UTC)


def _config_from_dict(data: dict[str, Any]) -> HomeConfig:
    return HomeConfig.from_dict(data)


@lru_cache(maxsize=256)
def _night_slots(
    night: date, times: tuple[str, ...], slot_minutes: int, tz: ZoneInfo
) -> tuple[Slot, ...]:
    return tuple(slots_for_night(night, times, slot_minutes, tz))


class Supervisor:
    """The supervision state of one home.

    `set_outcome` and `end_session` are both kept: `end_session(outcome=None)` reports that the
    stream ended while the operator still chooses an outcome; `end_session(outcome=...)` is the
    same as `set_outcome(...)` without a note. An outcome given while the stream still runs ends
    the stream too.
    """

    def __init__(
        self,
        config: HomeConfig,
        tz: ZoneInfo,
        now: datetime,
        *,
        consent: bool = True,
        visit_prefix: str | None = None,
    ) -> None:
        """A new home: slots starting at `now` or later are owed, earlier ones are not.

        `visit_prefix` begins each of its visit ids (random unless given).
        """
        self._config = config
        self._tz = tz
        now = _utc(now)
        # Every slot starting after the cursor is still to come; everything up to it is handled.
        self._cursor = now - _TICK
        self._consent = consent
        self._faults: frozenset[str] = frozenset()
        self._commissioned = False
        # Commissioning checks passed since the home was added (or its camera changed).
        self._checks: set[Check] = set()
        # The commissioning period (None: closed until an admin restarts commissioning) and
        # how many commissioning looks it has had.
        self._commissioning_since: datetime | None = now
        self._commissioning_looks = 0
        self._slots: dict[str, SlotState] = {}
        self._skipped: set[date] = set()
        self._reported: set[date] = set()
        self._book = VisitBook(visit_prefix)
        # The `now` that time is being advanced to (an escalation after an outage resumes at the
        # level reached by then). Not state: set by each advance.
        self._horizon = now
        self._session: SessionState | None = None
        # Kept so that a `needs_help` arriving after the outcome timed out is not lost.
        self._last_finished: SessionState | None = None
        self._last_supervision: tuple[datetime, Outcome] | None = None
        self._last_report: dict[str, Any] | None = None
        # Events caused by `start_session`, which returns a decision rather than events; handed
        # out by the next fact (and `next_wakeup` asks for one at once while any wait).
        self._outbox: list[Event] = []
        # A schedule given to `from_dict` that differs from the saved one: applied by the next
        # fact, once the time that passed has been caught up with under the saved schedule.
        self._pending_config: HomeConfig | None = None

    # --- persistence ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-safe data (strings, numbers, booleans, None, lists, dicts)."""
        return {
            "version": STATE_VERSION,
            "config": self._config.as_dict(),
            "pending_config": (
                None if self._pending_config is None else self._pending_config.as_dict()
            ),
            "cursor": dump_time(self._cursor),
            "consent": self._consent,
            "faults": sorted(self._faults),
            "commissioned": self._commissioned,
            "checks": sorted(str(check) for check in self._checks),
            "commissioning_period": (
                None
                if self._commissioning_since is None
                else {
                    "since": dump_time(self._commissioning_since),
                    "looks": self._commissioning_looks,
                }
            ),
            "slots": [record.to_dict() for record in self._ordered_slots()],
            "skipped": sorted(night.isoformat() for night in self._skipped),
            "reported": sorted(night.isoformat() for night in self._reported),
            "visits": self._book.to_dict(),
            "session": None if self._session is None else self._session.to_dict(),
            "last_finished": (
                None if self._last_finished is None else self._last_finished.to_dict()
            ),
            "last_supervision": (
                None
                if self._last_supervision is None
                else {
                    "at": dump_time(self._last_supervision[0]),
                    "outcome": str(self._last_supervision[1]),
                }
            ),
            "last_report": copy.deepcopy(self._last_report),
            "outbox": [event_to_dict(event) for event in self._outbox],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], config: HomeConfig, tz: ZoneInfo) -> Self:
        """Restore a state saved by `to_dict`; call `advance(now)` next to catch up.

        `config` is the schedule in force now. If it differs from the one saved, the time that
        passed meanwhile is caught up with under the saved one (the one that was in force), and
        the new one applies from the next fact on, as `set_config` at that moment.
        Raises ValueError for a state written by a newer version of the core.
        """
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unknown supervision state version: {data.get('version')!r}")
        cursor = load_time(data["cursor"])
        saved = _config_from_dict(data["config"])
        home = cls(saved, tz, cursor + _TICK, consent=bool(data["consent"]))
        if config != saved or data["pending_config"] is not None:
            home._pending_config = config
        home._faults = frozenset(data["faults"])
        home._commissioned = bool(data["commissioned"])
        # States saved before the checks were kept: a commissioned home passed them all.
        checks = data.get("checks", list(Check) if home._commissioned else [])
        home._checks = {Check(check) for check in checks}
        # A state saved before periods were kept has none: commissioning stays closed until an
        # admin restarts it (never an unbounded backdoor because of an upgrade).
        period = data.get("commissioning_period")
        home._commissioning_since = None if period is None else load_time(period["since"])
        home._commissioning_looks = 0 if period is None else int(period["looks"])
        for item in data["slots"]:
            record = SlotState.from_dict(item)
            home._slots[record.slot.key] = record
        home._skipped = {date.fromisoformat(night) for night in data["skipped"]}
        home._reported = {date.fromisoformat(night) for night in data["reported"]}
        visits = data["visits"]
        # Before visits had ids the open ones were saved as a plain list.
        home._book = (
            VisitBook.from_legacy(visits)
            if isinstance(visits, list)
            else VisitBook.from_dict(visits)
        )
        if data["session"] is not None:
            home._session = SessionState.from_dict(data["session"])
        if data["last_finished"] is not None:
            home._last_finished = SessionState.from_dict(data["last_finished"])
        if (last := data["last_supervision"]) is not None:
            home._last_supervision = (load_time(last["at"]), Outcome(last["outcome"]))
        home._last_report = copy.deepcopy(data["last_report"])
        home._outbox = [event_from_dict(item) for item in data["outbox"]]
        return home

    # --- facts ------------------------------------------------------------------------------

    def advance(self, now: datetime) -> list[Event]:
        """Time passed: open and close slots and follow-ups, time out outcomes, report nights."""
        now = _utc(now)
        return self._drain() + self._advance(now)

    def start_session(
        self,
        now: datetime,
        session_id: str,
        user_id: str,
        purpose: Purpose = Purpose.SUPERVISION,
    ) -> Refusal | None:
        """Ask to start a look: None grants it (and records the session), a Refusal denies it.

        A granted supervision session belongs to the open check that closes first (a follow-up
        or a slot); its outcome settles that check. A commissioning session belongs to no slot.
        The `session_started` event (and any event of time passing) is handed out by the next
        fact; `next_wakeup` asks for that at once.
        """
        now = _utc(now)
        self._outbox += self._advance(now)
        refusal = self._refusal_for_new(now, purpose)
        if refusal is not None:
            return refusal
        slot_key: str | None = None
        follow_up = 0
        details: dict[str, Any] = {}
        if purpose is Purpose.SUPERVISION:
            target = self._target(now)
            assert target is not None  # the refusal check found it
            slot_key, follow_up = target.slot.key, target.follow_ups
        else:
            self._commissioning_looks += 1
            until = self.commissioning_until
            assert until is not None  # the refusal check found the period open
            details = {
                "commissioning_look": self._commissioning_looks,
                "of": COMMISSIONING_LOOKS,
                "commissioning_until": until.astimezone(self._tz).isoformat(),
            }
        self._session = SessionState(
            session_id=session_id,
            user_id=user_id,
            purpose=purpose,
            started=now,
            view_seconds=self._config.view_seconds,
            slot_key=slot_key,
            follow_up=follow_up,
        )
        self._outbox.append(
            Event(
                EventType.SESSION_STARTED,
                now,
                slot_key,
                {
                    "session_id": session_id,
                    "user_id": user_id,
                    "purpose": str(purpose),
                    "follow_up": follow_up,
                    "view_seconds": self._config.view_seconds,
                }
                | details,
            )
        )
        return None

    def end_session(
        self,
        now: datetime,
        session_id: str,
        outcome: Outcome | None,
        user_id: str | None = None,
    ) -> list[Event]:
        """The stream ended; with an outcome it is settled too (as `set_outcome`, no note)."""
        now = _utc(now)
        if outcome is not None:
            return self.set_outcome(now, session_id, outcome, user_id)
        events = self._drain() + self._advance(now)
        session = self._session
        if session is not None and session.session_id == session_id and not session.stream_ended:
            session.stream_ended = now
        return events

    def set_outcome(
        self,
        now: datetime,
        session_id: str,
        outcome: Outcome,
        user_id: str | None,
        note: str | None = None,
    ) -> list[Event]:
        """The operator's outcome of a look; ends the stream if it still runs.

        An outcome for a session that is no longer active (it timed out as not visible, or the
        check was settled otherwise) changes nothing, except `needs_help`, which always raises
        an urgent visit: what an operator saw must never be lost.
        """
        now = _utc(now)
        events = self._drain() + self._advance(now)
        session = self._session
        if session is None or session.session_id != session_id:
            last = self._last_finished
            if (
                outcome is Outcome.NEEDS_HELP
                and last is not None
                and last.session_id == session_id
                and last.outcome is not Outcome.NEEDS_HELP  # a repeated click raises nothing
            ):
                last.outcome = Outcome.NEEDS_HELP
                events += self._raise_extra(last.slot_key, now)
            return events
        if session.stream_ended is None:
            session.stream_ended = now
        events += self._settle(now, session, outcome, user_id or session.user_id, note)
        return events

    def skip_night(self, now: datetime, night: date, user_id: str | None) -> list[Event]:
        """Skip a night (relatives staying over): its slots without a look yet raise nothing.

        Follow-ups already pending still happen, and a look already running is kept. A night
        that is over, or more than a year ahead (see `can_skip`), is left as it is. What the
        skip changes is worked out before anything is changed.
        """
        now = _utc(now)
        events = self._drain() + self._advance(now)
        if not self._can_skip(now, night):
            return events
        already = night in self._skipped
        started = [
            record
            for record in self._ordered_slots()
            if record.slot.night == night
            and record.result is None
            and record.follow_ups == 0
            and not self._attached(record)
        ]
        unstarted = self._unstarted_slots(night)
        self._skipped.add(night)
        keys: list[str] = []
        for record in started:
            record.result = SlotResult.SKIPPED
            keys.append(record.slot.key)
        for slot in unstarted:
            self._slots[slot.key] = SlotState.new(slot)
            self._slots[slot.key].result = SlotResult.SKIPPED
            keys.append(slot.key)
        data = {"night": night.isoformat(), "user_id": user_id}
        events += [Event(EventType.SKIPPED, now, key, dict(data)) for key in keys]
        if not keys and not already:
            # Nothing left to skip, but the request itself belongs in the log.
            events.append(Event(EventType.SKIPPED, now, None, dict(data)))
        return events

    def unskip_night(self, now: datetime, night: date, user_id: str | None) -> list[Event]:
        """Undo the skip of a night none of whose slots has begun: it is supervised again."""
        now = _utc(now)
        events = self._drain() + self._advance(now)
        if not self._can_unskip(now, night):
            return events
        self._skipped.discard(night)
        # Only slots still to come were recorded as skipped ahead of time: they are owed again.
        for record in [r for r in self._slots.values() if r.slot.night == night]:
            del self._slots[record.slot.key]
        events.append(
            Event(EventType.UNSKIPPED, now, None, {"night": night.isoformat(), "user_id": user_id})
        )
        return events

    def set_consent(self, now: datetime, on: bool, user_id: str | None) -> list[Event]:
        """Consent given or withdrawn; withdrawal turns the open check and follow-ups to visits."""
        now = _utc(now)
        events = self._drain() + self._advance(now)
        if on == self._consent:
            return events
        self._consent = on
        events.append(
            Event(EventType.CONSENT_CHANGED, now, None, {"consent": on, "user_id": user_id})
        )
        if not on:
            for record in self._ordered_slots():
                if record.is_open(now) or record.pending_follow_up():
                    events += self._raise(record, Reason.NO_CONSENT, now)
        return events

    def set_faults(self, now: datetime, faults: frozenset[str]) -> list[Event]:
        """The set of equipment faults (e.g. {"camera", "plug"}); an open check becomes a visit."""
        now = _utc(now)
        events = self._drain() + self._advance(now)
        faults = frozenset(faults)
        added, cleared = faults - self._faults, self._faults - faults
        self._faults = faults
        if added:
            events.append(
                Event(
                    EventType.FAULT, now, None, {"faults": sorted(faults), "added": sorted(added)}
                )
            )
        if cleared:
            events.append(
                Event(
                    EventType.FAULT_CLEARED,
                    now,
                    None,
                    {"faults": sorted(faults), "cleared": sorted(cleared)},
                )
            )
        if faults:
            for record in self._ordered_slots():
                if record.is_open(now):
                    events += self._raise(record, Reason.FAULT, now)
        return events

    def acknowledge_visits(
        self,
        now: datetime,
        user_id: str | None,
        note: str | None = None,
        visit_ids: list[str] | None = None,
    ) -> list[Event]:
        """Staff are on their way ("on my way"): these visits, or every one nobody acknowledged.

        An acknowledged visit escalates no more; it stays open until it is done.
        """
        now = _utc(now)
        events = self._drain() + self._advance(now)
        ids = to_acknowledge(self._book.open) if visit_ids is None else visit_ids
        return events + self._book.acknowledge(now, user_id, ids, note)

    def visit_done(
        self,
        now: datetime,
        user_id: str | None,
        note: str | None,
        visit_ids: list[str] | None = None,
    ) -> list[Event]:
        """Staff report physical visits done: these, or the ones open now (see `to_finish`).

        Done visits clear at once, except `fault` and `no_consent` ones whose window is still
        open: they clear when it ends.
        """
        now = _utc(now)
        events = self._drain() + self._advance(now)
        had = bool(self._book.open)
        ids = to_finish(self._book.open, user_id) if visit_ids is None else visit_ids
        finished = self._book.done(now, user_id, ids, note)
        for visit in finished:
            if visit.slot is not None and (record := self._slots.get(visit.slot)):
                record.visit_done = True
        self._book.keep_closed(set(self._slots))
        events.append(
            Event(
                EventType.VISIT_DONE,
                now,
                None,
                {
                    "user_id": user_id,
                    "note": note,
                    "visits": [
                        {
                            "visit_id": visit.visit_id,
                            "slot": visit.slot,
                            "reason": str(visit.reason),
                            "response_minutes": visit_summary(visit)["response_minutes"],
                        }
                        for visit in finished
                    ],
                },
            )
        )
        events += self._cleared(had, now, user_id)
        return events

    def set_config(self, now: datetime, config: HomeConfig) -> list[Event]:
        """The schedule changed: started slots keep their state, later ones follow the new one.

        A slot of the new schedule that would already have started is not owed (as for a new
        home), and a night already reported gets no new slots. On a skipped night the slots of
        the new schedule are skipped as well.
        """
        now = _utc(now)
        events = self._drain() + self._advance(now)
        if config != self._config:
            events += self._apply_config(now, config)
        return events

    def _apply_config(self, now: datetime, config: HomeConfig) -> list[Event]:
        """Switch to a new schedule at `now` (the state is caught up to `now`)."""
        events: list[Event] = []
        previous, self._config = self._config, config
        if self._decision_ended(now) and not previous.decision_ended(now.astimezone(self._tz)):
            # The decision ended as of now (an end date moved into the past): as consent
            # withdrawn, the open check and pending follow-ups become visits.
            for record in self._ordered_slots():
                if record.is_open(now) or record.pending_follow_up():
                    events += self._raise(record, Reason.DECISION_ENDED, now)
        # Skipped nights hold their slots ahead of time: the new schedule's slots are skipped
        # too. The old ones stay: their skip was announced, so the night report lists them.
        current = night_of(now, self._tz)
        last = _one_year_after(current)
        for night in sorted(self._skipped):
            # Beyond a year no skip is accepted; one stored by an older version is kept but
            # not scheduled (a far date such as 9999-12-31 cannot even be computed).
            if night < current or night > last:
                continue
            for slot in self._unstarted_slots(night):
                self._slots[slot.key] = SlotState.new(slot)
                self._slots[slot.key].result = SlotResult.SKIPPED
                events.append(
                    Event(
                        EventType.SKIPPED,
                        now,
                        slot.key,
                        {"night": night.isoformat(), "user_id": None},
                    )
                )
        events.append(
            Event(
                EventType.SCHEDULE_CHANGED,
                now,
                None,
                config.as_dict() | {"previous": previous.as_dict()},
            )
        )
        return events

    def pass_check(self, now: datetime, check: Check, user_id: str | None) -> list[Event]:
        """A commissioning check passed; the last one to pass makes the home commissioned."""
        now = _utc(now)
        events = self._drain() + self._advance(now)
        return events + self._pass_check(now, check, user_id)

    def set_commissioned(self, now: datetime, commissioned: bool) -> list[Event]:
        """Mark the home commissioned, or not (its camera changed: every check again)."""
        now = _utc(now)
        events = self._drain() + self._advance(now)
        if commissioned:
            self._checks = set(Check)
        else:
            # Another camera: a new commissioning period to test it with the staff.
            self._commissioning_since, self._commissioning_looks = now, 0
            if self._checks or self._commissioned:
                self._checks = set()
                events.append(Event(EventType.COMMISSIONING_RESET, now, None, {}))
        self._commissioned = commissioned
        return events

    def restart_commissioning(self, now: datetime, user_id: str | None, reason: str) -> list[Event]:
        """An admin restarts commissioning: every check again, in a new period of its own."""
        now = _utc(now)
        events = self._drain() + self._advance(now)
        was_commissioned = self._commissioned
        self._commissioned = False
        self._checks = set()
        self._commissioning_since, self._commissioning_looks = now, 0
        until = self.commissioning_until
        assert until is not None
        events.append(
            Event(
                EventType.COMMISSIONING_RESTARTED,
                now,
                None,
                {
                    "user_id": user_id,
                    "reason": reason,
                    "was_commissioned": was_commissioned,
                    "until": until.astimezone(self._tz).isoformat(),
                    "looks": COMMISSIONING_LOOKS,
                },
            )
        )
        return events

    # --- decisions --------------------------------------------------------------------------

    def status(self, now: datetime) -> Status:
        """The home's status now.

        By priority: viewing > visit required > no consent > fault > skipped > follow-up > due >
        waiting.
        """
        now = _utc(now)
        home = self._at(now)
        if home._session is not None and home._session.streaming(now):
            return Status.VIEWING
        if home._book.open:
            return Status.VISIT_REQUIRED
        if not home._consent:
            return Status.NO_CONSENT
        if home._faults:
            return Status.FAULT
        follow_up = due = False
        for record in home._slots.values():
            if record.result is not None:
                continue
            if record.follow_ups > 0:
                follow_up = True
            elif record.is_open(now) or home._attached(record):
                due = True
        if not follow_up and not due and night_of(now, self._tz) in home._skipped:
            return Status.SKIPPED
        if follow_up:
            return Status.FOLLOW_UP
        if due:
            return Status.DUE
        return Status.WAITING

    def may_view(self, now: datetime, session_id: str | None = None) -> Refusal | None:
        """Would frames be allowed right now? None = yes.

        While a session streams, this answers for that session (a refusal means: cut the stream).
        Otherwise it answers whether a new supervision session would be granted. With
        `session_id`, it answers for that session only: any other id is refused.
        """
        now = _utc(now)
        home = self._at(now)
        session = home._session
        if (
            session is not None
            and session.streaming(now)
            and session_id in (None, session.session_id)
        ):
            return home._session_refusal(now, session)
        refusal = home._refusal_for_new(now, Purpose.SUPERVISION)
        if session_id is not None and refusal is None:
            # Frames only for the session that streams; an ended or unknown one gets none.
            return Refusal.OUTSIDE_SLOT
        return refusal

    def can_skip(self, now: datetime, night: date) -> bool:
        """A night may be skipped from tonight up to a year ahead, unless it is already over."""
        now = _utc(now)
        return self._at(now)._can_skip(now, night)

    def skippable_nights(self, now: datetime) -> tuple[date, date]:
        """The first and the last night a skip may name now: tonight, and a year from it."""
        first = night_of(_utc(now), self._tz)
        return first, _one_year_after(first)

    def can_unskip(self, now: datetime, night: date) -> bool:
        """A skip can be undone while none of the night's slots has begun."""
        now = _utc(now)
        return self._at(now)._can_unskip(now, night)

    def tonight(self, now: datetime) -> date:
        """The night "skip tonight" means: the night of the next agreed time.

        That is the night in progress while it still has slots to come, else the coming evening
        (pressed in the morning, it never names the night that is ending).
        """
        now = _utc(now)
        home = self._at(now)
        current = night_of(now, self._tz)
        if current not in home._reported and any(
            slot.start > now for slot in home._schedule(current)
        ):
            return current
        return current + timedelta(days=1)

    def next_wakeup(self, now: datetime) -> datetime | None:
        """The next instant at which `advance` must be called (never before `now`).

        Besides the state's own timers this includes the moments a query's answer changes
        without a fact: the end of the window of a running look, and noon when a skipped
        night begins or ends, so that entities refresh on time.
        """
        now = _utc(now)
        if self._outbox or self._pending_config is not None:
            return now
        candidates: list[datetime] = []
        if (timer := self._next_timer()) is not None:
            candidates.append(max(timer.at, now))
        session = self._session
        if session is not None and session.slot_key is not None:
            record = self._slots.get(session.slot_key)
            if record is not None and record.window_end > now:
                candidates.append(record.window_end)
        current = night_of(now, self._tz)
        if self._skipped & {current, current + timedelta(days=1)}:
            candidates.append(night_start(current + timedelta(days=1), self._tz))
        return min(candidates, default=None)

    def next_supervision(self, now: datetime) -> datetime | None:
        """The start of the next check not yet started.

        That is a slot of a night not skipped, or a follow-up that is pending.
        """
        now = _utc(now)
        home = self._at(now)
        candidates = [
            record.window_start
            for record in home._slots.values()
            if record.result is None and not record.opened and record.window_start > now
        ]
        slot = home._next_slot(max(now, home._cursor), skip_skipped=True)
        if slot is not None:
            candidates.append(slot.start)
        return min(candidates, default=None)

    def current_slot(self, now: datetime) -> Slot | None:
        """The slot a look would serve now; else the slot whose own window is open, if any."""
        now = _utc(now)
        home = self._at(now)
        if (target := home._target(now)) is not None:
            return target.slot
        for record in home._ordered_slots():
            if record.slot.start <= now < record.slot.end:
                return record.slot
        return None

    # --- read-only state --------------------------------------------------------------------

    @property
    def config(self) -> HomeConfig:
        """The schedule in force (or about to be, after a restore with a new one)."""
        return self._pending_config or self._config

    @property
    def skipped_nights(self) -> frozenset[date]:
        """The nights skipped that are not over yet."""
        return frozenset(self._skipped)

    @property
    def consent(self) -> bool:
        """Digital supervision is consented to."""
        return self._consent

    @property
    def faults(self) -> frozenset[str]:
        """The equipment faults present."""
        return self._faults

    @property
    def commissioning_missing(self) -> list[Check]:
        """The checks still to pass before the home is commissioned (none once it is)."""
        if self._commissioned:
            return []
        return [check for check in Check if check not in self._checks]

    @property
    def commissioned(self) -> bool:
        """The installation was tested end to end with the staff."""
        return self._commissioned

    @property
    def commissioning_until(self) -> datetime | None:
        """When the commissioning period ends (None: no period, or commissioned)."""
        if self._commissioned or self._commissioning_since is None:
            return None
        return self._commissioning_since + timedelta(days=COMMISSIONING_DAYS)

    @property
    def commissioning_looks_left(self) -> int:
        """Commissioning looks the period still allows (0 without a period or once commissioned)."""
        if self.commissioning_until is None:
            return 0
        return max(0, COMMISSIONING_LOOKS - self._commissioning_looks)

    def commissioning_refusal(self, now: datetime) -> Refusal | None:
        """Would a new commissioning look be outside the commissioning period? None = inside."""
        until = self.commissioning_until
        if until is None or _utc(now) >= until or self.commissioning_looks_left == 0:
            return Refusal.COMMISSIONING_CLOSED
        return None

    @property
    def last_supervision(self) -> tuple[datetime, Outcome] | None:
        """The end of the last supervision look and its outcome."""
        return self._last_supervision

    @property
    def open_visits(self) -> list[Visit]:
        """Visits required and not yet cleared, oldest first."""
        return self._book.open

    def open_visits_at(self, now: datetime) -> list[Visit]:
        """The open visits as they are at `now` (escalations due by then counted)."""
        return self._at(_utc(now))._book.open

    def visit(self, visit_id: str) -> Visit | None:
        """The open visit with this id, if any."""
        return self._book.get(visit_id)

    def visits_to_acknowledge(self) -> list[str]:
        """The ids `acknowledge_visits` without ids would act on."""
        return to_acknowledge(self._book.open)

    def visits_to_finish(self, user_id: str | None) -> list[str]:
        """The ids `visit_done` without ids would act on for this caller."""
        return to_finish(self._book.open, user_id)

    @property
    def visit_required(self) -> bool:
        """A physical visit is required."""
        return bool(self._book.open)

    @property
    def visit_reason(self) -> Reason | None:
        """The reason of the most pressing open visit: urgent first, then the latest."""
        visits = self._book.open
        if not visits:
            return None
        return max(visits, key=lambda visit: (visit.urgent, visit.raised_at)).reason

    @property
    def urgent(self) -> bool:
        """An open visit is urgent (someone may need help)."""
        return any(visit.urgent for visit in self._book.open)

    @property
    def active_session(self) -> Session | None:
        """The look in progress, or whose outcome is awaited."""
        return None if self._session is None else self._session.snapshot()

    @property
    def last_night_report(self) -> dict[str, Any] | None:
        """The data of the last night report."""
        return copy.deepcopy(self._last_report)

    # --- time -------------------------------------------------------------------------------

    def _drain(self) -> list[Event]:
        events, self._outbox = self._outbox, []
        return events

    def _advance(self, now: datetime) -> list[Event]:
        events: list[Event] = []
        self._horizon = now
        first_night = night_of(now, self._tz) - timedelta(days=CATCH_UP_NIGHTS)
        if night_of(self._cursor, self._tz) < first_night:
            self._cursor = max(self._cursor, night_start(first_night, self._tz) - _TICK)
        while (timer := self._next_timer()) is not None and timer.at <= now:
            # Just before the timer: a slot starting at this very instant is still to come.
            self._cursor = max(self._cursor, timer.at - _TICK)
            events += timer.fire(timer.at)
        self._cursor = max(self._cursor, now)
        if self._pending_config is not None:
            config, self._pending_config = self._pending_config, None
            if config != self._config:
                events += self._apply_config(self._cursor, config)
        return events

    def _at(self, now: datetime) -> Supervisor:
        """The home as it is at `now`: itself, or a copy caught up if a timer is overdue."""
        timer = self._next_timer()
        if self._pending_config is None and (timer is None or timer.at > now):
            return self
        home = copy.deepcopy(self, {id(self._tz): self._tz, id(self._config): self._config})
        home._advance(now)
        return home

    def _next_timer(self) -> _Timer | None:
        timers = list(self._timers())
        return min(timers, key=lambda timer: (timer.at, timer.order), default=None)

    def _timers(self) -> Iterable[_Timer]:
        session = self._session
        if session is not None:
            if session.stream_ended is None:
                yield _Timer(session.view_until, 0, self._stream_expired)
            yield _Timer(session.outcome_due, 1, self._outcome_timed_out)
        for record in self._slots.values():
            if record.result is not None:
                continue
            if not record.opened:
                yield _Timer(record.window_start, 5, partial(self._open, record))
            elif not self._attached(record):
                yield _Timer(record.window_end, 2, partial(self._missed, record))
        if (due := self._book.next_due(VisitPolicy.of(self._config))) is not None:
            yield _Timer(due, 3, self._visit_timers)
        slot = self._next_slot(self._cursor)
        if slot is not None:
            yield _Timer(slot.start, 4, partial(self._slot_starts, slot))
        pending_night = None if slot is None else slot.night
        for night in {record.slot.night for record in self._slots.values()}:
            if night in self._reported or (pending_night is not None and pending_night <= night):
                continue
            records = [record for record in self._slots.values() if record.slot.night == night]
            if all(record.resolved for record in records):
                closes = max(record.closes_at for record in records)
                yield _Timer(closes, 6, partial(self._report, night))

    def _stream_expired(self, at: datetime) -> list[Event]:
        # A look lasts at most view_seconds; past that the stream counts as ended.
        if self._session is not None and self._session.stream_ended is None:
            self._session.stream_ended = at
        return []

    def _outcome_timed_out(self, at: datetime) -> list[Event]:
        assert self._session is not None
        return self._settle(at, self._session, Outcome.NOT_VISIBLE, None, None, timed_out=True)

    def _slot_starts(self, slot: Slot, at: datetime) -> list[Event]:
        record = SlotState.new(slot)
        self._slots[slot.key] = record
        if slot.night in self._skipped:
            record.result = SlotResult.SKIPPED
            return [
                Event(
                    EventType.SKIPPED,
                    at,
                    slot.key,
                    {"night": slot.night.isoformat(), "user_id": None},
                )
            ]
        return self._open(record, at)

    def _open(self, record: SlotState, at: datetime) -> list[Event]:
        """A check's window opens: without consent or with a fault it becomes a visit."""
        record.opened = True
        if record.slot.agreed in self._config.physical_times and record.follow_ups == 0:
            # A physical visit by plan: no look, whatever the camera or consent.
            return self._raise(record, Reason.PLANNED, at)
        if not self._consent:
            return self._raise(record, Reason.NO_CONSENT, at)
        if self._decision_ended(at):
            return self._raise(record, Reason.DECISION_ENDED, at)
        if self._faults:
            return self._raise(record, Reason.FAULT, at)
        return []

    def _decision_ended(self, at: datetime) -> bool:
        """The home's decision no longer holds at `at` (its end date read in local time)."""
        return self._config.decision_ended(at.astimezone(self._tz))

    def _missed(self, record: SlotState, at: datetime) -> list[Event]:
        return self._raise(record, Reason.MISSED, at)

    def _visit_timers(self, at: datetime) -> list[Event]:
        """Escalations and deadlines due; done visits whose held window has ended clear."""
        had = bool(self._book.open)
        events = self._book.advance(VisitPolicy.of(self._config), max(at, self._horizon))
        self._book.expire(at)
        self._book.keep_closed(set(self._slots))
        return events + self._cleared(had, at, None)

    def _report(self, night: date, at: datetime) -> list[Event]:
        records = [record for record in self._ordered_slots() if record.slot.night == night]
        keys = {record.slot.key for record in records}
        slots: list[dict[str, Any]] = []
        for record in records:
            visits = [
                visit_summary(visit, self._tz) for visit in self._book.all_of({record.slot.key})
            ]
            # The slot's own visit (its result) is the first raised; `visits` lists them all.
            first: dict[str, Any] = visits[0] if visits else {}
            slots.append(
                {
                    "slot": record.slot.key,
                    "result": str(record.result),
                    "reason": None if record.reason is None else str(record.reason),
                    "follow_ups": record.follow_ups,
                    "visit_done": record.visit_done,
                    "visit_id": first.get("visit_id"),
                    "raised": first.get("raised"),
                    "acknowledged": first.get("acknowledged"),
                    "done": first.get("done"),
                    "response_minutes": first.get("response_minutes"),
                    "escalations": first.get("escalations", 0),
                    "visits": visits,
                }
            )
        data: dict[str, Any] = {
            "night": night.isoformat(),
            "slots": slots,
            "visits_open": sum(1 for visit in self._book.open if visit.slot in keys),
        }
        # Older nights are over: their flags are no longer needed (pruned only here, on a
        # timer, so that advancing between wake-ups never changes the state).
        self._reported = {other for other in self._reported if other > night} | {night}
        self._skipped = {other for other in self._skipped if other >= night}
        self._last_report = copy.deepcopy(data)
        # A reported night is closed: its records go (open visits carry their own slot key).
        for key in keys:
            del self._slots[key]
        self._book.keep_closed(set(self._slots))
        return [Event(EventType.NIGHT_REPORT, at, None, data)]

    # --- settling checks --------------------------------------------------------------------

    def _settle(
        self,
        at: datetime,
        session: SessionState,
        outcome: Outcome,
        user_id: str | None,
        note: str | None,
        *,
        timed_out: bool = False,
    ) -> list[Event]:
        """A session's outcome is known (given, or timed out as not visible)."""
        self._session = None
        session.outcome = outcome
        self._last_finished = session
        stream_end = session.stream_ended or min(at, session.view_until)
        events = [
            Event(
                EventType.SESSION_ENDED,
                at,
                session.slot_key,
                {
                    "session_id": session.session_id,
                    "user_id": session.user_id,
                    "purpose": str(session.purpose),
                    "duration_s": round(
                        max(0.0, (stream_end - session.started).total_seconds()), 1
                    ),
                    "outcome": str(outcome),
                    "outcome_by": user_id,
                    "note": note,
                    "timed_out": timed_out,
                    "follow_up": session.follow_up,
                },
            )
        ]
        if session.purpose is Purpose.COMMISSIONING:
            if outcome is Outcome.OK:
                events += self._pass_check(at, Check.SESSION, user_id)
            elif outcome is Outcome.NEEDS_HELP:
                events += self._raise_extra(None, at)
            return events
        self._last_supervision = (stream_end, outcome)
        record = self._slots.get(session.slot_key or "")
        if record is None or record.result is not None or record.follow_ups != session.follow_up:
            # The check was settled meanwhile (a fault, consent withdrawn): only help matters.
            if outcome is Outcome.NEEDS_HELP:
                events += self._raise_extra(session.slot_key, at)
            return events
        key = record.slot.key
        match outcome:
            case Outcome.OK:
                record.result = SlotResult.OK
                events.append(
                    Event(
                        EventType.COMPLETED,
                        at,
                        key,
                        {
                            "session_id": session.session_id,
                            "user_id": session.user_id,
                            "follow_ups": record.follow_ups,
                        },
                    )
                )
            case Outcome.NEEDS_HELP:
                events += self._raise(record, Reason.NEEDS_HELP, at, urgent=True)
            case Outcome.NOT_VISIBLE if record.follow_ups < self._config.follow_ups:
                record.follow_ups += 1
                record.window_start = at + timedelta(minutes=self._config.follow_up_minutes)
                record.window_end = record.window_start + timedelta(
                    minutes=self._config.follow_up_window_minutes
                )
                record.opened = False
                record.closes_at = max(record.closes_at, record.window_end)
                events.append(
                    Event(
                        EventType.FOLLOW_UP,
                        at,
                        key,
                        {
                            "number": record.follow_ups,
                            "of": self._config.follow_ups,
                            "due": record.window_start.astimezone(self._tz).isoformat(),
                            "until": record.window_end.astimezone(self._tz).isoformat(),
                        },
                    )
                )
            case Outcome.NOT_VISIBLE:
                events += self._raise(record, Reason.NOT_VISIBLE, at)
            case Outcome.PICTURE_UNUSABLE:
                # The camera cannot be trusted (moved, covered, blurred): a visit replaces the
                # check at once; the runtime reports the camera fault itself.
                events += self._raise(record, Reason.FAULT, at)
        return events

    def _pass_check(self, at: datetime, check: Check, user_id: str | None) -> list[Event]:
        if self._commissioned or check in self._checks:
            return []
        self._checks.add(check)
        data: dict[str, Any] = {"check": str(check), "user_id": user_id}
        events = [Event(EventType.COMMISSIONING_CHECK, at, None, data)]
        if self._checks == set(Check):
            self._commissioned = True
            checked = {"checks": [str(item) for item in Check], "user_id": user_id}
            events.append(Event(EventType.COMMISSIONED, at, None, checked))
        return events

    def _raise(
        self, record: SlotState, reason: Reason, at: datetime, *, urgent: bool = False
    ) -> list[Event]:
        """The check in progress becomes a required visit: the slot's one result."""
        record.result = SlotResult.VISIT_REQUIRED
        record.reason = reason
        key = record.slot.key
        events: list[Event] = []
        if reason is Reason.MISSED:
            events.append(Event(EventType.MISSED, at, key, {"follow_up": record.follow_ups}))
        visit = self._book.raise_visit(at, key, reason, urgent=urgent, slot_end=record.window_end)
        events.append(
            Event(
                EventType.VISIT_REQUIRED,
                at,
                key,
                {
                    "visit_id": visit.visit_id,
                    "reason": str(reason),
                    "urgent": urgent,
                    "follow_ups": record.follow_ups,
                    "extra": False,
                },
            )
        )
        return events

    def _raise_extra(self, slot_key: str | None, at: datetime) -> list[Event]:
        """An urgent visit beside the slot's result (help seen after the check was settled)."""
        visit = self._book.raise_visit(at, slot_key, Reason.NEEDS_HELP, urgent=True)
        return [
            Event(
                EventType.VISIT_REQUIRED,
                at,
                slot_key,
                # Not the slot's result (it has one already, or there is no slot).
                {
                    "visit_id": visit.visit_id,
                    "reason": str(Reason.NEEDS_HELP),
                    "urgent": True,
                    "follow_ups": 0,
                    "extra": True,
                },
            )
        ]

    def _cleared(self, had: bool, at: datetime, user_id: str | None) -> list[Event]:
        """`visit_cleared` when the last open visit has gone."""
        if had and not self._book.open:
            return [Event(EventType.VISIT_CLEARED, at, None, {"user_id": user_id})]
        return []

    # --- queries on the state as it is ------------------------------------------------------

    def _ordered_slots(self) -> list[SlotState]:
        return sorted(self._slots.values(), key=lambda record: record.slot.start)

    def _schedule(self, night: date) -> tuple[Slot, ...]:
        config = self._config
        return _night_slots(night, tuple(config.times), config.slot_minutes, self._tz)

    def _unstarted_slots(self, night: date) -> list[Slot]:
        """Slots of a night still to come and not yet recorded."""
        if night in self._reported:
            return []
        return [
            slot
            for slot in self._schedule(night)
            if slot.start > self._cursor and slot.key not in self._slots
        ]

    def _next_slot(self, after: datetime, *, skip_skipped: bool = False) -> Slot | None:
        """The first slot of the schedule starting after `after` that is not yet recorded."""
        if not self._config.times:
            return None
        first = night_of(after, self._tz)
        for offset in range(_SCAN_NIGHTS):
            night = first + timedelta(days=offset)
            if night in self._reported or (skip_skipped and night in self._skipped):
                continue
            for slot in self._schedule(night):
                if slot.start > after and slot.key not in self._slots:
                    return slot
        return None

    def _attached(self, record: SlotState) -> bool:
        """A session is looking at (or awaiting the outcome of) this record's current check."""
        session = self._session
        return (
            session is not None
            and session.slot_key == record.slot.key
            and session.follow_up == record.follow_ups
        )

    def _target(self, now: datetime) -> SlotState | None:
        """The open, unresolved check a new look would serve: the one that closes first.

        Windows overlap when a follow-up falls into the next slot (or on the spring-forward
        night); serving the earliest deadline first leaves the most time for the other.
        """
        open_records = [record for record in self._slots.values() if record.is_open(now)]
        return min(
            open_records,
            key=lambda record: (record.window_end, record.window_start),
            default=None,
        )

    def _skipped_now(self, now: datetime) -> bool:
        if night_of(now, self._tz) in self._skipped:
            return True
        return any(
            record.result is SlotResult.SKIPPED and record.slot.start <= now < record.slot.end
            for record in self._slots.values()
        )

    def _refusal_for_new(self, now: datetime, purpose: Purpose) -> Refusal | None:
        if not self._consent:
            return Refusal.NO_CONSENT
        if self._decision_ended(now):
            return Refusal.DECISION_ENDED
        if self._faults:
            return Refusal.FAULT
        if self._session is not None:
            return Refusal.BUSY
        if purpose is Purpose.COMMISSIONING:
            # The one look allowed outside slots: only in the commissioning period.
            return self.commissioning_refusal(now)
        if self._target(now) is not None:
            return None
        if self._skipped_now(now):
            return Refusal.SKIPPED
        return Refusal.OUTSIDE_SLOT

    def _session_refusal(self, now: datetime, session: SessionState) -> Refusal | None:
        if not self._consent:
            return Refusal.NO_CONSENT
        if self._decision_ended(now):
            return Refusal.DECISION_ENDED
        if self._faults:
            return Refusal.FAULT
        if not session.streaming(now):
            return Refusal.OUTSIDE_SLOT
        if session.purpose is Purpose.COMMISSIONING:
            until = self.commissioning_until
            return Refusal.COMMISSIONING_CLOSED if until is None or now >= until else None
        record = self._slots.get(session.slot_key or "")
        if record is None or not record.is_open(now) or not self._attached(record):
            if record is not None and record.result is SlotResult.SKIPPED:
                return Refusal.SKIPPED
            return Refusal.OUTSIDE_SLOT
        return None

    def _can_skip(self, now: datetime, night: date) -> bool:
        first, last = self.skippable_nights(now)
        return first <= night <= last and night not in self._reported

    def _can_unskip(self, now: datetime, night: date) -> bool:
        if night not in self._skipped or night in self._reported:
            return False
        if not self._can_skip(now, night):
            return False
        begun = [slot for slot in self._schedule(night) if slot.start <= now]
        begun += [
            record.slot
            for record in self._slots.values()
            if record.slot.night == night and record.slot.start <= now
        ]
        return not begun
