"""A look ends with an outcome: ok, not visible (follow-up, then a visit), or needs help."""

from datetime import timedelta

from custom_components.trygghetskamera.supervision import (
    EventType,
    Outcome,
    Reason,
    Refusal,
    SlotResult,
    Status,
)

from .helpers import NIGHT, home, jan, key, of_type, types

SLOT = key(jan(15, 22, 30))


def test_ok_completes_slot() -> None:
    sup = home()
    assert sup.advance(jan(15, 22, 31)) == []
    assert sup.status(jan(15, 22, 31)) is Status.DUE
    assert sup.start_session(jan(15, 22, 31), "s1", "nurse") is None
    assert sup.status(jan(15, 22, 31, 10)) is Status.VIEWING
    events = sup.set_outcome(jan(15, 22, 31, 25), "s1", Outcome.OK, "nurse")
    assert types(events) == [
        EventType.SESSION_STARTED,
        EventType.SESSION_ENDED,
        EventType.COMPLETED,
    ]
    completed = events[-1]
    assert completed.slot == SLOT
    assert completed.at == jan(15, 22, 31, 25)
    assert completed.data["user_id"] == "nurse"
    assert sup.status(jan(15, 22, 32)) is Status.WAITING
    assert not sup.visit_required
    assert sup.last_supervision == (jan(15, 22, 31, 25), Outcome.OK)


def test_no_more_frames_once_the_slot_has_a_result() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.set_outcome(jan(15, 22, 31, 20), "s1", Outcome.OK, "nurse")
    assert sup.may_view(jan(15, 22, 40)) is Refusal.OUTSIDE_SLOT
    assert sup.start_session(jan(15, 22, 40), "s2", "nurse") is Refusal.OUTSIDE_SLOT


def test_not_visible_schedules_follow_up_after_follow_up_minutes() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    events = sup.set_outcome(jan(15, 22, 32), "s1", Outcome.NOT_VISIBLE, "nurse")
    [follow_up] = of_type(events, EventType.FOLLOW_UP)
    assert follow_up.slot == SLOT
    assert follow_up.data["due"] == "2026-01-15T22:52:00+01:00"
    assert follow_up.data["until"] == "2026-01-15T23:07:00+01:00"  # a 15-minute window
    assert sup.status(jan(15, 22, 40)) is Status.FOLLOW_UP
    # No frames between the look and the follow-up, although the slot's window is still open.
    assert sup.may_view(jan(15, 22, 40)) is Refusal.OUTSIDE_SLOT
    assert sup.next_supervision(jan(15, 22, 40)) == jan(15, 22, 52)
    assert sup.next_wakeup(jan(15, 22, 40)) == jan(15, 22, 52)
    assert sup.advance(jan(15, 22, 52)) == []
    assert sup.may_view(jan(15, 22, 52)) is None
    assert sup.current_slot(jan(15, 22, 52)).key == SLOT


def test_follow_up_ok_completes_slot() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.set_outcome(jan(15, 22, 32), "s1", Outcome.NOT_VISIBLE, "nurse")
    sup.advance(jan(15, 22, 53))
    assert sup.start_session(jan(15, 22, 53), "s2", "nurse") is None
    events = sup.end_session(jan(15, 22, 53, 20), "s2", Outcome.OK, "nurse")
    [completed] = of_type(events, EventType.COMPLETED)
    assert completed.slot == SLOT
    assert completed.data["follow_ups"] == 1
    assert not sup.visit_required


def test_not_visible_twice_requires_visit() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.set_outcome(jan(15, 22, 32), "s1", Outcome.NOT_VISIBLE, "nurse")
    sup.advance(jan(15, 22, 53))
    sup.start_session(jan(15, 22, 53), "s2", "nurse")
    events = sup.set_outcome(jan(15, 22, 54), "s2", Outcome.NOT_VISIBLE, "nurse")
    [visit] = of_type(events, EventType.VISIT_REQUIRED)
    assert visit.slot == SLOT
    assert visit.data["reason"] == "not_visible"
    assert visit.data["urgent"] is False
    assert sup.visit_required
    assert sup.visit_reason is Reason.NOT_VISIBLE
    assert not sup.urgent
    assert sup.status(jan(15, 22, 55)) is Status.VISIT_REQUIRED
    assert of_type(events, EventType.FOLLOW_UP) == []


def test_follow_ups_zero_requires_visit_at_once() -> None:
    sup = home(follow_ups=0)
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    events = sup.set_outcome(jan(15, 22, 32), "s1", Outcome.NOT_VISIBLE, "nurse")
    assert types(events)[-1] is EventType.VISIT_REQUIRED
    assert of_type(events, EventType.FOLLOW_UP) == []
    assert sup.visit_reason is Reason.NOT_VISIBLE


def test_follow_ups_three() -> None:
    sup = home(follow_ups=3, follow_up_minutes=10)
    now = jan(15, 22, 31)
    sup.start_session(now, "s0", "nurse")
    follow_ups = []
    for number in range(1, 4):
        events = sup.set_outcome(
            now + timedelta(seconds=20), f"s{number - 1}", Outcome.NOT_VISIBLE, "n"
        )
        [follow_up] = of_type(events, EventType.FOLLOW_UP)
        assert follow_up.data["number"] == number
        follow_ups.append(follow_up)
        now = now + timedelta(seconds=20, minutes=10)
        assert sup.advance(now) == []
        assert sup.start_session(now, f"s{number}", "nurse") is None
    events = sup.set_outcome(now + timedelta(seconds=20), "s3", Outcome.NOT_VISIBLE, "nurse")
    [visit] = of_type(events, EventType.VISIT_REQUIRED)
    assert visit.data == {
        "visit_id": sup.open_visits[0].visit_id,
        "reason": "not_visible",
        "urgent": False,
        "follow_ups": 3,
        "extra": False,
    }


def test_needs_help_requires_urgent_visit_at_once() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    events = sup.set_outcome(jan(15, 22, 31, 15), "s1", Outcome.NEEDS_HELP, "nurse", "on the floor")
    [visit] = of_type(events, EventType.VISIT_REQUIRED)
    assert visit.at == jan(15, 22, 31, 15)
    assert visit.data["reason"] == "needs_help"
    assert visit.data["urgent"] is True
    assert sup.urgent
    assert sup.visit_reason is Reason.NEEDS_HELP
    [ended] = of_type(events, EventType.SESSION_ENDED)
    assert ended.data["note"] == "on the floor"
    [open_visit] = sup.open_visits
    assert open_visit.slot == SLOT
    assert open_visit.urgent
    # A second click on "needs help" is the same requirement: nothing more is raised.
    assert sup.set_outcome(jan(15, 22, 31, 16), "s1", Outcome.NEEDS_HELP, "nurse") == []
    assert len(sup.open_visits) == 1


def test_missed_slot_requires_visit() -> None:
    sup = home()
    assert sup.advance(jan(15, 22, 59)) == []
    events = sup.advance(jan(15, 23, 0))
    assert types(events) == [EventType.MISSED, EventType.VISIT_REQUIRED]
    assert all(event.slot == SLOT for event in events)
    assert all(event.at == jan(15, 23) for event in events)
    assert events[1].data["reason"] == "missed"
    assert sup.visit_reason is Reason.MISSED


def test_missed_follow_up_requires_visit() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.set_outcome(jan(15, 22, 32), "s1", Outcome.NOT_VISIBLE, "nurse")
    events = sup.advance(jan(15, 23, 10))
    assert types(events) == [EventType.MISSED, EventType.VISIT_REQUIRED]
    assert events[0].at == jan(15, 23, 7)
    assert events[0].data["follow_up"] == 1


def test_session_running_at_slot_close_is_waited_for() -> None:
    sup = home()
    assert sup.start_session(jan(15, 22, 59, 50), "s1", "nurse") is None
    # Frames stop with the window, but the look is not a missed slot.
    assert sup.may_view(jan(15, 23, 0, 1)) is Refusal.OUTSIDE_SLOT
    assert types(sup.advance(jan(15, 23, 1))) == [EventType.SESSION_STARTED]
    assert not sup.visit_required
    events = sup.set_outcome(jan(15, 23, 2), "s1", Outcome.OK, "nurse")
    assert EventType.COMPLETED in types(events)


def test_session_without_outcome_counts_not_visible_after_5_minutes() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.end_session(jan(15, 22, 31, 30), "s1", None)
    assert sup.active_session is not None
    assert sup.active_session.outcome_due == jan(15, 22, 36, 30)
    assert sup.next_wakeup(jan(15, 22, 32)) == jan(15, 22, 36, 30)
    assert sup.advance(jan(15, 22, 36, 29)) == []
    events = sup.advance(jan(15, 22, 36, 30))
    assert types(events) == [EventType.SESSION_ENDED, EventType.FOLLOW_UP]
    assert events[0].data["timed_out"] is True
    assert events[0].data["outcome"] == "not_visible"
    assert events[0].data["duration_s"] == 30.0
    assert events[1].data["due"] == "2026-01-15T22:56:30+01:00"
    assert sup.active_session is None
    assert sup.last_supervision == (jan(15, 22, 31, 30), Outcome.NOT_VISIBLE)


def test_session_whose_end_is_never_reported_times_out_after_view_seconds_and_5_minutes() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    assert sup.status(jan(15, 22, 31, 29)) is Status.VIEWING
    # After view_seconds the look is over even if nobody said so.
    assert sup.status(jan(15, 22, 31, 30)) is Status.DUE
    assert sup.may_view(jan(15, 22, 31, 30), "s1") is not None
    events = sup.advance(jan(15, 22, 36, 30))
    assert types(events) == [
        EventType.SESSION_STARTED,
        EventType.SESSION_ENDED,
        EventType.FOLLOW_UP,
    ]
    assert events[1].at == jan(15, 22, 36, 30)


def test_needs_help_after_the_outcome_timed_out_still_raises_an_urgent_visit() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.end_session(jan(15, 22, 31, 30), "s1", None)
    sup.advance(jan(15, 22, 40))
    events = sup.set_outcome(jan(15, 22, 41), "s1", Outcome.NEEDS_HELP, "nurse")
    [visit] = of_type(events, EventType.VISIT_REQUIRED)
    assert visit.data["urgent"] is True
    assert visit.slot == SLOT
    assert sup.urgent
    # A late "ok" changes nothing: the follow-up still happens.
    sup.visit_done(jan(15, 22, 42), "patrol", None)
    assert sup.set_outcome(jan(15, 22, 43), "s1", Outcome.OK, "nurse") == []
    assert sup.status(jan(15, 22, 43)) is Status.FOLLOW_UP


def test_outcome_after_the_window_closed_still_settles_the_slot() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 59, 40), "s1", "nurse")
    sup.end_session(jan(15, 23, 0), "s1", None)
    events = sup.set_outcome(jan(15, 23, 3), "s1", Outcome.NOT_VISIBLE, "nurse")
    [follow_up] = of_type(events, EventType.FOLLOW_UP)
    assert follow_up.data["due"] == "2026-01-15T23:23:00+01:00"


def test_every_slot_ends_in_exactly_one_result() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.set_outcome(jan(15, 22, 32), "s1", Outcome.OK, "nurse")
    sup.start_session(jan(16, 1, 31), "s2", "nurse")
    sup.set_outcome(jan(16, 1, 32), "s2", Outcome.NEEDS_HELP, "nurse")
    events = sup.skip_night(jan(16, 2), NIGHT, "resident")
    events += sup.advance(jan(16, 6))
    [report] = of_type(events, EventType.NIGHT_REPORT)
    assert [slot["result"] for slot in report.data["slots"]] == [
        SlotResult.OK,
        SlotResult.VISIT_REQUIRED,
        SlotResult.SKIPPED,
    ]


def test_back_to_back_slots_both_happen() -> None:
    sup = home(("22:30", "23:00"))
    events = sup.advance(jan(15, 23, 0))
    assert types(events) == [EventType.MISSED, EventType.VISIT_REQUIRED]
    assert sup.status(jan(15, 23)) is Status.VISIT_REQUIRED
    assert sup.current_slot(jan(15, 23)).key == key(jan(15, 23))
    assert sup.start_session(jan(15, 23), "s1", "nurse") is None
