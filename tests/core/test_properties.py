"""Properties over random schedules and random nights: the promises hold whatever happens.

Each example builds a home with a random schedule (around the DST nights too) and feeds it a
random sequence of facts: time passing (by steps or at the wake-ups the home asks for), looks
with random outcomes, consent flips, faults, skips, visits done, schedule changes and restarts
through JSON. After every fact the promises are checked against an oracle built only from the
events the home emitted and the facts the test fed it.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
import json
import os
from typing import Any

from hypothesis import HealthCheck, event as hypothesis_event, given, settings, strategies as st

from custom_components.trygghetskamera.supervision import (
    Check,
    Event,
    EventType,
    HomeConfig,
    Outcome,
    Purpose,
    SlotResult,
    Supervisor,
    night_of,
    slots_for_night,
    validate_times,
)

from .helpers import TZ

START_NIGHTS = [
    date(2026, 1, 15),
    date(2026, 3, 27),
    date(2026, 3, 28),  # clocks go forward in the night
    date(2026, 10, 23),
    date(2026, 10, 24),  # clocks go back in the night
]
INTERESTING_TIMES = [
    "22:30",
    "01:30",
    "04:30",
    "02:30",
    "02:00",
    "03:00",
    "11:50",
    "12:00",
    "23:50",
]
FAULT_KINDS = ["camera", "plug", "power", "connectivity", "bed_sensor"]
# CORE_EXAMPLES=5000 searches deeper than the default run (which stays well under a minute).
EXAMPLES = int(os.environ.get("CORE_EXAMPLES", "200"))
RESULT_TYPES = (EventType.COMPLETED, EventType.SKIPPED, EventType.VISIT_REQUIRED)
REPORTED_AS = {
    EventType.COMPLETED: SlotResult.OK,
    EventType.SKIPPED: SlotResult.SKIPPED,
    EventType.VISIT_REQUIRED: SlotResult.VISIT_REQUIRED,
}


@st.composite
def configs(draw: st.DrawFn) -> HomeConfig:
    """A schedule the config flow would accept: 1-4 times at least a slot apart."""
    slot_minutes = draw(st.sampled_from([5, 10, 15, 20, 30, 45, 60, 90, 120]))
    candidates = draw(
        st.lists(
            st.one_of(
                st.sampled_from(INTERESTING_TIMES),
                st.builds(time, st.integers(0, 23), st.integers(0, 59)).map(
                    lambda clock: clock.strftime("%H:%M")
                ),
            ),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    times: list[str] = []
    for candidate in candidates:  # keep the times that do not overlap the ones kept
        if not validate_times([*times, candidate], slot_minutes):
            times.append(candidate)
    return HomeConfig(
        times=tuple(times),
        slot_minutes=slot_minutes,
        follow_up_minutes=draw(st.sampled_from([1, 5, 15, 20, 30, 60])),
        follow_ups=draw(st.integers(0, 3)),
        view_seconds=draw(st.sampled_from([10, 30, 60, 120])),
    )


# Facts mostly come close together (an outcome seconds after the look), sometimes far apart.
seconds = st.one_of(st.integers(0, 60), st.integers(0, 600))
facts = st.one_of(
    st.tuples(st.just("advance"), st.integers(0, 4 * 3600)),
    st.tuples(st.just("wake"), st.just(0)),
    st.tuples(st.just("wake"), st.just(0)),
    # An operator's look at the next check (or now), some seconds into its window.
    st.tuples(st.just("look"), st.integers(0, 20 * 60)),
    st.tuples(st.just("look"), st.integers(0, 120)),
    st.tuples(st.just("look"), st.integers(0, 120)),
    st.tuples(
        st.just("start"), st.sampled_from([Purpose.SUPERVISION] * 3 + [Purpose.COMMISSIONING])
    ),
    st.tuples(st.just("outcome"), st.sampled_from(list(Outcome))),
    st.tuples(st.just("outcome"), st.sampled_from(list(Outcome))),
    st.tuples(st.just("outcome"), st.sampled_from([Outcome.OK, Outcome.NOT_VISIBLE])),
    st.tuples(st.just("end"), st.sampled_from([None, *Outcome])),
    st.tuples(st.just("consent"), st.booleans()),
    st.tuples(st.just("faults"), st.frozensets(st.sampled_from(FAULT_KINDS), max_size=2)),
    st.tuples(st.just("faults"), st.just(frozenset())),
    st.tuples(st.just("skip"), st.integers(-1, 2)),
    st.tuples(st.just("visit_done"), st.none()),
    st.tuples(st.just("visit_done"), st.sampled_from(["patrol", "team_leader"])),
    st.tuples(st.just("acknowledge"), st.sampled_from(["patrol", "team_leader"])),
    st.tuples(st.just("visit_done_id"), st.integers(0, 3)),
    st.tuples(st.just("acknowledge_id"), st.integers(0, 3)),
    st.tuples(st.just("restart"), st.none()),
    st.tuples(st.just("restart"), configs()),  # options changed while Home Assistant was down
    st.tuples(st.just("config"), configs()),
    st.tuples(st.just("commissioned"), st.booleans()),
    st.tuples(st.just("check"), st.sampled_from(list(Check))),
)


@dataclass
class Oracle:
    """What the test knows from its own facts and the events seen."""

    consent: bool
    configs: list[HomeConfig]
    faults: frozenset[str] = frozenset()
    results: dict[str, list[EventType]] = field(default_factory=dict)
    follow_ups: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    raised: Counter[tuple[str | None, str]] = field(default_factory=Counter)
    acknowledged: Counter[tuple[str | None, str]] = field(default_factory=Counter)
    reported: dict[str, dict[str, Any]] = field(default_factory=dict)
    report_nights: list[str] = field(default_factory=list)
    # Granted sessions: when each started and how long its look may last.
    sessions: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    config_changed_at: datetime | None = None
    seen: set[str] = field(default_factory=set)
    # Each visit's life, from the events: raised once, levels rising, overdue once, done once.
    visit_ids: set[str] = field(default_factory=set)
    levels: dict[str, int] = field(default_factory=dict)
    overdue: set[str] = field(default_factory=set)
    visits_acknowledged: dict[str, str | None] = field(default_factory=dict)
    visits_done: set[str] = field(default_factory=set)
    raised_at: dict[str, datetime] = field(default_factory=dict)

    def see(self, events: list[Event]) -> None:
        """Learn from the events of one fact."""
        for event in events:
            assert event.at.tzinfo is not None
            self.seen.add(f"{event.type} {event.data.get('reason') or ''}".strip())
            json.dumps(event.data)  # every event's data is JSON-safe
            if event.type in RESULT_TYPES and event.slot is not None:
                if event.type is EventType.VISIT_REQUIRED and event.data["extra"]:
                    pass
                else:
                    self.results.setdefault(event.slot, []).append(event.type)
            if event.type is EventType.VISIT_REQUIRED:
                self.raised[(event.slot, event.data["reason"])] += 1
                assert event.data["visit_id"] not in self.visit_ids, "a visit id used twice"
                self.visit_ids.add(event.data["visit_id"])
                self.raised_at[event.data["visit_id"]] = event.at
            if event.type is EventType.VISIT_DONE:
                for visit in event.data["visits"]:
                    self.acknowledged[(visit["slot"], visit["reason"])] += 1
                    assert visit["visit_id"] not in self.visits_done, "a visit done twice"
                    self.visits_done.add(visit["visit_id"])
            if event.type is EventType.VISIT_ESCALATED:
                visit_id = event.data["visit_id"]
                assert visit_id in self.visit_ids
                # Never once someone is on the way (or was there), never the same level twice.
                assert visit_id not in self.visits_acknowledged
                assert visit_id not in self.visits_done
                assert event.data["level"] > self.levels.get(visit_id, 0)
                self.levels[visit_id] = event.data["level"]
            if event.type is EventType.VISIT_OVERDUE:
                visit_id = event.data["visit_id"]
                assert visit_id in self.visit_ids
                assert visit_id not in self.visits_done
                assert visit_id not in self.overdue, "overdue twice"
                self.overdue.add(visit_id)
            if event.type is EventType.VISIT_ACKNOWLEDGED:
                visit_id = event.data["visit_id"]
                assert visit_id in self.visit_ids
                assert visit_id not in self.visits_acknowledged, "acknowledged twice"
                self.visits_acknowledged[visit_id] = event.data["user_id"]
            if event.type is EventType.FOLLOW_UP:
                self.follow_ups[event.slot] = (
                    datetime.fromisoformat(event.data["due"]),
                    datetime.fromisoformat(event.data["until"]),
                )
            if event.type is EventType.NIGHT_REPORT:
                self.report_nights.append(event.data["night"])
                for slot in event.data["slots"]:
                    assert slot["slot"] not in self.reported, "a slot in two night reports"
                    self.reported[slot["slot"]] = slot

    def window_open(self, now: datetime) -> bool:
        """Some check whose window contains `now` has no result yet (from events alone)."""
        for key, (due, until) in self.follow_ups.items():
            if due <= now < until and key not in self.results:
                return True
        for night in (night_of(now, TZ), night_of(now, TZ) - timedelta(days=1)):
            for config in self.configs:
                for slot in slots_for_night(night, config.times, config.slot_minutes, TZ):
                    if (
                        slot.start <= now < slot.end
                        and slot.key not in self.results
                        and slot.key not in self.follow_ups
                    ):
                        return True
        return False


def state_without_cursor(supervisor: Supervisor) -> dict[str, Any]:
    data = supervisor.to_dict()
    del data["cursor"]
    return data


def check(supervisor: Supervisor, oracle: Oracle, now: datetime) -> None:
    """The promises that hold after every fact."""
    # Commissioned exactly when no check is missing.
    assert supervisor.commissioned == (supervisor.commissioning_missing == [])
    # Frames only inside an open, unresolved window, with consent, without fault.
    for session_id in (None, *oracle.sessions):
        if supervisor.may_view(now, session_id) is not None:
            continue
        assert oracle.consent
        assert not oracle.faults
        session = supervisor.active_session
        if session is not None and session.stream_ended is None and now < session.view_until:
            assert session_id in (None, session.session_id)
            started, view_seconds = oracle.sessions[session.session_id]
            assert now < started + timedelta(seconds=view_seconds)  # a look is short
            if session.purpose is Purpose.COMMISSIONING:
                assert not supervisor.commissioned
                continue
        else:
            assert session_id is None  # only a streaming session has frames
            assert session is None  # a new look only when nobody else looks
        assert oracle.window_open(now)
    # Each slot has at most one result.
    for key, results in oracle.results.items():
        assert len(results) == 1, (key, results)
    # No visit requirement is lost: each raised one is open or was acknowledged.
    open_now = Counter((visit.slot, str(visit.reason)) for visit in supervisor.open_visits)
    unacknowledged = Counter(
        (visit.slot, str(visit.reason)) for visit in supervisor.open_visits if not visit.done
    )
    assert oracle.raised == oracle.acknowledged + unacknowledged
    assert open_now >= unacknowledged
    assert supervisor.visit_required == bool(supervisor.open_visits)
    # Every open visit was announced, with its id, and its life matches what was announced.
    for visit in supervisor.open_visits:
        assert visit.visit_id in oracle.visit_ids
        assert visit.escalations == oracle.levels.get(visit.visit_id, 0)
        assert visit.overdue == (visit.visit_id in oracle.overdue)
        assert visit.done == (visit.visit_id in oracle.visits_done)
        if visit.acknowledged_at is not None:
            assert oracle.visits_acknowledged[visit.visit_id] == visit.acknowledged_by
    # The next wake-up is never in the past.
    wake = supervisor.next_wakeup(now)
    assert wake is not None
    assert wake >= now


def apply(
    supervisor: Supervisor, oracle: Oracle, fact: tuple[str, Any], now: datetime, serial: int
) -> tuple[Supervisor, datetime]:
    """Feed one fact; return the (maybe restored) home and the time after it."""
    kind, value = fact
    events: list[Event] = []
    session = supervisor.active_session
    match kind:
        case "advance":
            now += timedelta(seconds=value)
            events = supervisor.advance(now)
        case "wake":
            wake = supervisor.next_wakeup(now)
            assert wake is not None
            if wake > now:
                # Advancing before the wake-up changes nothing.
                before = state_without_cursor(supervisor)
                halfway = now + (wake - now) / 2
                assert supervisor.advance(halfway) == []
                assert state_without_cursor(supervisor) == before
                now = wake
            events = supervisor.advance(now)
        case "look" | "start":
            if kind == "look":
                purpose = Purpose.SUPERVISION
                upcoming = supervisor.next_supervision(now)
                if supervisor.may_view(now) is not None and upcoming is not None:
                    now = max(now, upcoming + timedelta(seconds=value))
                    oracle.see(supervisor.advance(now))
            else:
                purpose = value
            session_id = f"s{serial}"
            if supervisor.start_session(now, session_id, "nurse", purpose) is None:
                oracle.sessions[session_id] = (now, supervisor.config.view_seconds)
                # The home asks to be woken at once to hand out `session_started`.
                assert supervisor.next_wakeup(now) == now
            events = supervisor.advance(now)
        case "outcome" | "end":
            target = session.session_id if session else next(reversed(oracle.sessions), "none")
            if kind == "outcome":
                events = supervisor.set_outcome(now, target, value, "nurse", "note")
            else:
                events = supervisor.end_session(now, target, value, "nurse")
        case "consent":
            oracle.consent = value
            events = supervisor.set_consent(now, value, "resident")
        case "faults":
            oracle.faults = value
            events = supervisor.set_faults(now, value)
        case "skip":
            night = night_of(now, TZ) + timedelta(days=value)
            allowed = supervisor.can_skip(now, night)
            events = supervisor.skip_night(now, night, "resident")
            if not allowed:
                assert EventType.SKIPPED not in [event.type for event in events]
        case "visit_done":
            user = value or "patrol"
            finishing = supervisor.visits_to_finish(user)
            mine = [
                visit.acknowledged_at
                for visit in supervisor.open_visits
                if not visit.done and visit.acknowledged_by == user and visit.acknowledged_at
            ]
            events = supervisor.visit_done(now, user, None)
            if mine:
                # Never a visit raised after the caller's own acknowledgement.
                for visit_id in finishing:
                    assert oracle.raised_at[visit_id] <= max(mine)
        case "visit_done_id" | "acknowledge_id":
            pending = [visit.visit_id for visit in supervisor.open_visits]
            chosen = [pending[value % len(pending)]] if pending else []
            if kind == "visit_done_id":
                events = supervisor.visit_done(now, "patrol", "note", chosen)
                for visit_id in chosen:
                    left = supervisor.visit(visit_id)
                    assert left is None or left.done
            else:
                events = supervisor.acknowledge_visits(now, "patrol", None, chosen)
        case "acknowledge":
            events = supervisor.acknowledge_visits(now, value, "on my way")
        case "restart":
            data = json.loads(json.dumps(supervisor.to_dict()))
            assert data == supervisor.to_dict()
            if value is None:
                supervisor = Supervisor.from_dict(data, supervisor.config, TZ)
                assert supervisor.to_dict() == data
            else:
                supervisor = Supervisor.from_dict(data, value, TZ)
                oracle.configs.append(value)
                oracle.config_changed_at = now
            events = supervisor.advance(now)  # as the runtime does after restoring
        case "config":
            oracle.configs.append(value)
            oracle.config_changed_at = now
            events = supervisor.set_config(now, value)
        case "commissioned":
            events = supervisor.set_commissioned(now, value)
        case "check":
            events = supervisor.pass_check(now, value, None)
    oracle.see(events)
    return supervisor, now


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    config=configs(),
    night=st.sampled_from(START_NIGHTS),
    offset=st.integers(0, 24 * 3600 - 1),
    consent=st.sampled_from([True, True, True, False]),
    steps=st.lists(st.tuples(seconds, facts), min_size=8, max_size=40),
)
def test_promises_hold_for_any_night(
    config: HomeConfig,
    night: date,
    offset: int,
    consent: bool,
    steps: list[tuple[int, tuple[str, Any]]],
) -> None:
    start = datetime.combine(night, time(12), tzinfo=TZ).astimezone(UTC) + timedelta(seconds=offset)
    supervisor = Supervisor(config, TZ, start, consent=consent)
    oracle = Oracle(consent=consent, configs=[config])
    now = start
    check(supervisor, oracle, now)
    for serial, (pause, fact) in enumerate(steps):
        now += timedelta(seconds=pause)
        supervisor, now = apply(supervisor, oracle, fact, now, serial)
        check(supervisor, oracle, now)

    # Let three more days pass the way the runtime does: every night gets its report.
    end = now + timedelta(days=3)
    while (wake := supervisor.next_wakeup(now)) is not None and wake <= end:
        assert wake >= now
        now = wake
        oracle.see(supervisor.advance(now))
        check(supervisor, oracle, now)
    for kind in sorted(oracle.seen):  # shown by --hypothesis-show-statistics
        hypothesis_event(f"saw {kind}")
    assert len(oracle.report_nights) == len(set(oracle.report_nights)), "a night reported twice"
    # Every slot that has a result is in exactly one report, with that result.
    last_closed_night = night_of(end, TZ) - timedelta(days=2)
    for key, results in oracle.results.items():
        if night_of(datetime.fromisoformat(key), TZ) <= last_closed_night:
            assert key in oracle.reported, key
            assert oracle.reported[key]["result"] == REPORTED_AS[results[0]]
    # Every slot in a report has exactly one result.
    for key, slot in oracle.reported.items():
        assert oracle.results.get(key) is not None, key
        assert slot["result"] in ("ok", "visit_required", "skipped")
    # Nights after the last schedule change report exactly the agreed slots: nothing is dropped.
    settled = night_of(oracle.config_changed_at or start, TZ) + timedelta(days=1)
    final = oracle.configs[-1]
    current = settled
    while current <= last_closed_night:
        expected = [s.key for s in slots_for_night(current, final.times, final.slot_minutes, TZ)]
        for key in expected:
            assert key in oracle.reported, (current, key)
        current += timedelta(days=1)


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(config=configs(), night=st.sampled_from(START_NIGHTS))
def test_an_unattended_home_misses_every_slot_and_raises_a_visit_for_each(
    config: HomeConfig, night: date
) -> None:
    start = datetime.combine(night, time(12), tzinfo=TZ)
    supervisor = Supervisor(config, TZ, start)
    events: list[Event] = []
    now = start.astimezone(UTC)
    end = now + timedelta(days=2)
    while (wake := supervisor.next_wakeup(now)) is not None and wake <= end:
        now = wake
        events += supervisor.advance(now)
    expected = [
        slot.key
        for day in (night + timedelta(days=offset) for offset in range(3))
        for slot in slots_for_night(day, config.times, config.slot_minutes, TZ)
        if slot.end <= end
    ]
    missed = [event.slot for event in events if event.type is EventType.MISSED]
    assert missed == expected
    assert len(supervisor.open_visits) == len(expected)
