"""A visit's life: required -> acknowledged -> done, escalation, the response deadline, plans."""

from datetime import timedelta
import json

from custom_components.trygghetskamera.supervision import (
    EventType,
    HomeConfig,
    Outcome,
    Reason,
    Refusal,
    Supervisor,
    VisitStage,
)
from custom_components.trygghetskamera.supervision.visits import (
    MAX_ESCALATION_LEVEL,
    VisitBook,
    visit_state,
)

from .helpers import TIMES, TZ, home, jan, key, of_type, run_until, types

SLOT_2230 = key(jan(15, 22, 30))
SLOT_0130 = key(jan(16, 1, 30))


def restored(sup: Supervisor) -> Supervisor:
    """Through JSON and back, as Home Assistant's store does across a restart."""
    return Supervisor.from_dict(json.loads(json.dumps(sup.to_dict())), sup.config, TZ)


def missed_at_2300(sup: Supervisor) -> str:
    """Let the 22:30 slot pass unattended; return its visit's id."""
    [raised] = of_type(sup.advance(jan(15, 23)), EventType.VISIT_REQUIRED)
    return str(raised.data["visit_id"])


def test_each_visit_has_its_own_id() -> None:
    sup = home()
    events = sup.advance(jan(16, 2))
    ids = [event.data["visit_id"] for event in of_type(events, EventType.VISIT_REQUIRED)]
    assert len(ids) == len(set(ids)) == 2
    assert [visit.visit_id for visit in sup.open_visits] == ids
    # Two homes never share an id, even when their slots fail at the same instant.
    other = home()
    [other_id] = [
        event.data["visit_id"]
        for event in of_type(other.advance(jan(15, 23)), EventType.VISIT_REQUIRED)
    ]
    assert other_id not in ids


def test_unacknowledged_visit_escalates_every_ack_minutes() -> None:
    sup = home()
    visit_id = missed_at_2300(sup)
    events = run_until(sup, jan(15, 23, 35), jan(15, 23))
    escalations = of_type(events, EventType.VISIT_ESCALATED)
    assert [(event.at, event.data["level"]) for event in escalations] == [
        (jan(15, 23, 10), 1),
        (jan(15, 23, 20), 2),
        (jan(15, 23, 30), 3),
    ]
    assert {event.data["visit_id"] for event in escalations} == {visit_id}
    assert sup.open_visits[0].escalations == 3


def test_urgent_visit_escalates_every_urgent_ack_minutes() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    events = sup.set_outcome(jan(15, 22, 31, 30), "s1", Outcome.NEEDS_HELP, "nurse")
    [raised] = of_type(events, EventType.VISIT_REQUIRED)
    assert raised.data["urgent"] is True
    events = run_until(sup, jan(15, 22, 45), jan(15, 22, 31, 30))
    assert [event.at for event in of_type(events, EventType.VISIT_ESCALATED)] == [
        jan(15, 22, 36, 30),
        jan(15, 22, 41, 30),
    ]


def test_acknowledged_visit_escalates_no_more_but_stays_open() -> None:
    sup = home()
    visit_id = missed_at_2300(sup)
    events = sup.acknowledge_visits(jan(15, 23, 12), "patrol", "on my way")
    assert types(events) == [EventType.VISIT_ESCALATED, EventType.VISIT_ACKNOWLEDGED]
    assert events[1].data["visit_id"] == visit_id
    assert events[1].data["user_id"] == "patrol"
    assert events[1].data["note"] == "on my way"
    [visit] = sup.open_visits
    assert visit.stage is VisitStage.ACKNOWLEDGED
    assert (visit.acknowledged_by, visit.acknowledged_at) == ("patrol", jan(15, 23, 12))
    assert sup.visit_required
    events = run_until(sup, jan(15, 23, 44), jan(15, 23, 12))
    assert of_type(events, EventType.VISIT_ESCALATED) == []
    # Acknowledging again changes nothing and says nothing.
    assert sup.acknowledge_visits(jan(15, 23, 44), "patrol") == []


def test_visit_not_done_in_time_is_overdue_once_even_when_acknowledged() -> None:
    sup = home()
    visit_id = missed_at_2300(sup)
    sup.acknowledge_visits(jan(15, 23, 5), "patrol")
    events = run_until(sup, jan(16, 0, 30), jan(15, 23, 5))
    [overdue] = of_type(events, EventType.VISIT_OVERDUE)
    assert overdue.at == jan(15, 23, 45)
    assert overdue.data["visit_id"] == visit_id
    assert overdue.data["minutes"] == 45
    assert overdue.data["acknowledged"] is True
    assert sup.open_visits[0].overdue


def test_done_in_time_is_never_overdue() -> None:
    sup = home()
    missed_at_2300(sup)
    events = sup.visit_done(jan(15, 23, 40), "patrol", "asleep")
    assert events[-1].type is EventType.VISIT_CLEARED
    assert events[-2].data["visits"][0]["response_minutes"] == 40.0
    events = run_until(sup, jan(16, 1), jan(15, 23, 40))
    assert of_type(events, EventType.VISIT_OVERDUE) == []


def test_done_for_the_home_never_closes_a_visit_raised_after_the_callers_acknowledgement() -> None:
    sup = home()
    first = missed_at_2300(sup)
    sup.acknowledge_visits(jan(15, 23, 5), "patrol")
    # While the patrol is on the way, the 01:30 slot's look sees someone who needs help.
    sup.start_session(jan(16, 1, 31), "s1", "nurse")
    events = sup.set_outcome(jan(16, 1, 31, 30), "s1", Outcome.NEEDS_HELP, "nurse")
    [urgent] = of_type(events, EventType.VISIT_REQUIRED)
    assert sup.visits_to_finish("patrol") == [first]
    events = sup.visit_done(jan(16, 1, 35), "patrol", "all well at 23:00's visit")
    [done] = of_type(events, EventType.VISIT_DONE)
    assert [visit["visit_id"] for visit in done.data["visits"]] == [first]
    assert of_type(events, EventType.VISIT_CLEARED) == []
    [still] = sup.open_visits
    assert still.visit_id == urgent.data["visit_id"]
    assert still.urgent
    assert still.reason is Reason.NEEDS_HELP
    # Someone who did not acknowledge acts on every visit open at that moment.
    assert sup.visits_to_finish("team_leader") == [still.visit_id]


def test_done_by_id_closes_only_that_visit() -> None:
    sup = home()
    events = sup.advance(jan(16, 2))
    first, second = (event.data["visit_id"] for event in of_type(events, EventType.VISIT_REQUIRED))
    events = sup.visit_done(jan(16, 2, 5), "patrol", None, [second])
    assert [
        visit["visit_id"] for visit in of_type(events, EventType.VISIT_DONE)[0].data["visits"]
    ] == [second]
    assert [visit.visit_id for visit in sup.open_visits] == [first]
    assert sup.visit(second) is None
    assert sup.visit(first) is not None


def test_acknowledge_for_the_home_takes_every_visit_nobody_acknowledged() -> None:
    sup = home()
    events = sup.advance(jan(16, 2))
    ids = [event.data["visit_id"] for event in of_type(events, EventType.VISIT_REQUIRED)]
    sup.acknowledge_visits(jan(16, 2, 1), "anna", None, [ids[0]])
    assert sup.visits_to_acknowledge() == [ids[1]]
    events = sup.acknowledge_visits(jan(16, 2, 2), "bertil")
    assert [event.data["visit_id"] for event in of_type(events, EventType.VISIT_ACKNOWLEDGED)] == [
        ids[1]
    ]
    assert [visit.acknowledged_by for visit in sup.open_visits] == ["anna", "bertil"]


def test_escalation_stops_at_the_top_level() -> None:
    sup = home()
    missed_at_2300(sup)
    events = run_until(sup, jan(16, 1), jan(15, 23))
    levels = [event.data["level"] for event in of_type(events, EventType.VISIT_ESCALATED)]
    assert levels == list(range(1, MAX_ESCALATION_LEVEL + 1))


def test_after_an_outage_escalation_resumes_at_the_level_reached_in_one_event() -> None:
    sup = home()
    missed_at_2300(sup)
    again = restored(sup)  # Home Assistant down from 23:00 to 23:37
    events = again.advance(jan(15, 23, 37))
    [escalated] = of_type(events, EventType.VISIT_ESCALATED)
    assert escalated.data["level"] == 3
    assert escalated.at == jan(15, 23, 30)
    assert again.next_wakeup(jan(15, 23, 37)) == jan(15, 23, 40)


def test_restarts_between_each_step_lose_nothing_and_fire_nothing_twice() -> None:
    sup = home()
    seen: list[tuple[str, str, object]] = []
    now = jan(15, 22)
    end = jan(16, 6)
    acknowledged = done = False
    while now < end:
        sup = restored(sup)
        events = sup.advance(now)
        if now >= jan(15, 23, 25) and not acknowledged:
            events += sup.acknowledge_visits(now, "patrol")
            acknowledged = True
        if now >= jan(16, 3) and not done:
            events += sup.visit_done(now, "patrol", None)
            done = True
        for event in events:
            if event.type in (
                EventType.VISIT_REQUIRED,
                EventType.VISIT_ESCALATED,
                EventType.VISIT_OVERDUE,
                EventType.VISIT_ACKNOWLEDGED,
            ):
                seen.append((str(event.type), event.data["visit_id"], event.data.get("level")))
        now += timedelta(minutes=1)
    assert len(seen) == len(set(seen)), "an event fired twice"
    raised = [visit_id for kind, visit_id, _ in seen if kind == "visit_required"]
    assert len(raised) == 3
    first, second, third = raised
    levels = {
        visit_id: [level for kind, other, level in seen if other == visit_id and level]
        for visit_id in raised
    }
    # 23:00's visit: 23:10 and 23:20, then acknowledged at 23:25; 02:00's was raised after that
    # acknowledgement, so it escalates to the top and the patrol's `done` at 03:00 leaves it open;
    # 05:00's escalates until the run ends at 06:00.
    assert levels[first] == [1, 2]
    assert levels[second] == list(range(1, MAX_ESCALATION_LEVEL + 1))
    assert levels[third] == [1, 2, 3, 4, 5]
    assert [visit.visit_id for visit in sup.open_visits] == [second, third]
    overdue = [visit_id for kind, visit_id, _ in seen if kind == "visit_overdue"]
    assert overdue == [first, second, third]
    acks = [visit_id for kind, visit_id, _ in seen if kind == "visit_acknowledged"]
    assert acks == [first]


def test_planned_time_raises_a_planned_visit_and_takes_no_look() -> None:
    sup = home(physical_times=("01:30",))  # type: ignore[arg-type]
    events = sup.advance(jan(16, 1, 30))
    visits = of_type(events, EventType.VISIT_REQUIRED)
    planned = [event for event in visits if event.slot == SLOT_0130]
    assert [event.data["reason"] for event in planned] == ["planned"]
    assert (
        of_type(events, EventType.MISSED)
        == [event for event in events if event.slot == SLOT_2230][:1]
    )
    assert sup.may_view(jan(16, 1, 31)) is Refusal.OUTSIDE_SLOT
    # Through the same loop: acknowledged, done, in the night report.
    planned_id = planned[0].data["visit_id"]
    sup.acknowledge_visits(jan(16, 1, 32), "patrol", None, [planned_id])
    sup.visit_done(jan(16, 1, 50), "patrol", "slept well", [planned_id])
    events = run_until(sup, jan(16, 6), jan(16, 1, 50))
    [report] = of_type(events, EventType.NIGHT_REPORT)
    [slot] = [slot for slot in report.data["slots"] if slot["slot"] == SLOT_0130]
    assert (slot["result"], slot["reason"], slot["visit_id"]) == (
        "visit_required",
        "planned",
        planned_id,
    )
    assert slot["acknowledged"] == {"user": "patrol", "at": "2026-01-16T01:32:00+01:00"}
    assert slot["done"] == {"user": "patrol", "at": "2026-01-16T01:50:00+01:00"}
    assert slot["response_minutes"] == 20.0
    assert slot["escalations"] == 0


def test_a_home_without_physical_times_reads_as_all_digital() -> None:
    saved = home().to_dict()
    del saved["config"]["physical_times"]  # saved before the option existed
    sup = Supervisor.from_dict(saved, HomeConfig(times=TIMES), TZ)
    sup.advance(jan(15, 22, 31))
    assert sup.may_view(jan(15, 22, 31)) is None


def test_picture_unusable_requires_a_visit_at_once() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    events = sup.set_outcome(jan(15, 22, 31, 20), "s1", Outcome.PICTURE_UNUSABLE, "nurse")
    [visit] = of_type(events, EventType.VISIT_REQUIRED)
    assert visit.slot == SLOT_2230
    assert visit.data["reason"] == "fault"
    assert of_type(events, EventType.FOLLOW_UP) == []
    [ended] = of_type(events, EventType.SESSION_ENDED)
    assert ended.data["outcome"] == "picture_unusable"


def test_visits_saved_before_they_had_ids_are_kept_with_ids() -> None:
    saved = home().to_dict()
    saved["visits"] = [
        {
            "slot": SLOT_2230,
            "reason": "missed",
            "urgent": False,
            "raised_at": "2026-01-15T22:00:00+00:00",
            "slot_end": None,
            "acknowledged_by": None,
            "acknowledged_at": None,
        },
        {
            "slot": SLOT_2230,
            "reason": "fault",
            "urgent": False,
            "raised_at": "2026-01-15T21:40:00+00:00",
            "slot_end": "2026-01-15T22:00:00+00:00",
            "acknowledged_by": "patrol",
            "acknowledged_at": "2026-01-15T21:50:00+00:00",
        },
    ]
    sup = Supervisor.from_dict(saved, HomeConfig(times=TIMES), TZ)
    first, second = sup.open_visits
    assert first.visit_id
    assert second.visit_id
    assert first.visit_id != second.visit_id
    assert first.stage is VisitStage.REQUIRED
    # What was "acknowledged" then was the visit done.
    assert second.stage is VisitStage.DONE
    assert second.done_by == "patrol"
    assert restored(sup).open_visits == sup.open_visits


def test_a_done_visit_that_replaced_a_check_says_until_when_it_is_listed() -> None:
    """The panel words a done `fault`/`no_consent` visit by the end of the check it replaced."""
    book = VisitBook("ab")
    start = jan(15, 22, 30)
    end = start + timedelta(minutes=30)
    held = book.raise_visit(start, SLOT_2230, Reason.FAULT, slot_end=end)
    missed = book.raise_visit(start, SLOT_2230, Reason.MISSED, slot_end=end)
    assert visit_state(held)["held_until"] is None
    book.done(start + timedelta(minutes=5), "u", [held.visit_id, missed.visit_id], None)
    [still] = book.open
    assert still.visit_id == held.visit_id
    assert visit_state(still)["stage"] == "done"
    assert visit_state(still)["held_until"] == end.isoformat()
