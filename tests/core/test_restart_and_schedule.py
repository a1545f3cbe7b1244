"""Restarts lose nothing, schedule changes keep the past, and DST nights run as agreed."""

from datetime import UTC, date, datetime, timedelta
import json

import pytest

from custom_components.trygghetskamera.supervision import (
    CATCH_UP_NIGHTS,
    EventType,
    HomeConfig,
    Outcome,
    Reason,
    Status,
    Supervisor,
)

from .helpers import (
    NIGHT,
    TIMES,
    TZ,
    home,
    jan,
    key,
    local,
    of_type,
    run_until,
    types,
    without_life,
)


def restored(sup: Supervisor, config: HomeConfig | None = None) -> Supervisor:
    """The home after a restart: its state went through JSON and back."""
    data = json.loads(json.dumps(sup.to_dict()))
    return Supervisor.from_dict(data, config or sup.config, TZ)


# --- restart -------------------------------------------------------------------------------


def test_state_is_json_safe_and_round_trips() -> None:
    sup = home()
    sup.set_faults(jan(15, 13), frozenset({"bed_sensor"}))
    sup.skip_night(jan(15, 13), date(2026, 1, 20), "resident")
    sup.set_faults(jan(15, 14), frozenset())
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.set_outcome(jan(15, 22, 32), "s1", Outcome.NOT_VISIBLE, "nurse")
    sup.start_session(jan(15, 22, 52), "s2", "nurse")
    data = sup.to_dict()
    assert json.loads(json.dumps(data)) == data
    again = restored(sup)
    assert again.to_dict() == data
    assert again.active_session == sup.active_session
    assert again.status(jan(15, 22, 52, 10)) is Status.VIEWING


def test_events_waiting_to_be_handed_out_survive_a_restart() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    again = restored(sup)
    assert types(again.advance(jan(15, 22, 31, 1))) == [EventType.SESSION_STARTED]


def test_state_of_an_unknown_version_is_refused() -> None:
    data = home().to_dict() | {"version": 99}
    with pytest.raises(ValueError, match="version"):
        Supervisor.from_dict(data, HomeConfig(times=TIMES), TZ)


def test_restart_with_a_changed_schedule_catches_up_under_the_old_one() -> None:
    sup = home()
    sup.advance(jan(15, 22))
    data = json.loads(json.dumps(sup.to_dict()))
    new = HomeConfig(times=("23:00", "03:00"))
    again = Supervisor.from_dict(data, new, TZ)  # down from 22:00 to 02:10, options changed
    assert again.config == new
    assert again.next_wakeup(jan(16, 2, 10)) == jan(16, 2, 10)
    events = again.set_config(jan(16, 2, 10), new)  # what the runtime does after restoring
    assert [(event.type, event.slot) for event in without_life(events)] == [
        (EventType.MISSED, key(jan(15, 22, 30))),
        (EventType.VISIT_REQUIRED, key(jan(15, 22, 30))),
        (EventType.MISSED, key(jan(16, 1, 30))),
        (EventType.VISIT_REQUIRED, key(jan(16, 1, 30))),
        (EventType.SCHEDULE_CHANGED, None),
    ]
    assert events[-1].data["previous"]["times"] == list(TIMES)
    assert again.next_supervision(jan(16, 2, 10)) == jan(16, 3)
    assert again.set_config(jan(16, 2, 11), new) == []


def test_restart_mid_follow_up_keeps_follow_up_time() -> None:
    sup = home(("01:30",))
    sup.start_session(jan(16, 1, 59, 40), "s1", "nurse")
    sup.set_outcome(jan(16, 2), "s1", Outcome.NOT_VISIBLE, "nurse")  # follow-up at 02:20
    sup.advance(jan(16, 2, 10))
    # Home Assistant is down from 02:10 to 02:15.
    again = restored(sup)
    assert again.advance(jan(16, 2, 15)) == []
    assert again.status(jan(16, 2, 15)) is Status.FOLLOW_UP
    assert again.next_wakeup(jan(16, 2, 15)) == jan(16, 2, 20)
    assert again.next_supervision(jan(16, 2, 15)) == jan(16, 2, 20)
    again.advance(jan(16, 2, 20))
    assert again.start_session(jan(16, 2, 20), "s2", "nurse") is None
    events = again.set_outcome(jan(16, 2, 20, 30), "s2", Outcome.OK, "nurse")
    assert EventType.COMPLETED in types(events)


def test_restart_across_slot_counts_missed() -> None:
    sup = home()
    sup.advance(jan(15, 22))
    again = restored(sup)  # down from 22:00 until 02:15
    events = again.advance(jan(16, 2, 15))
    missed = of_type(events, EventType.MISSED)
    assert [event.slot for event in missed] == [key(jan(15, 22, 30)), key(jan(16, 1, 30))]
    assert [event.at for event in missed] == [jan(15, 23), jan(16, 2)]
    assert len(again.open_visits) == 2
    assert again.visit_reason is Reason.MISSED


def test_restart_mid_session_counts_the_look_not_visible() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.advance(jan(15, 22, 31, 5))
    again = restored(sup)  # the stream died with Home Assistant; its end was never reported
    events = again.advance(jan(15, 22, 45))
    [ended] = of_type(events, EventType.SESSION_ENDED)
    assert ended.at == jan(15, 22, 36, 30)
    assert ended.data["timed_out"] is True
    [follow_up] = of_type(events, EventType.FOLLOW_UP)
    assert follow_up.data["due"] == "2026-01-15T22:56:30+01:00"


def test_restart_catch_up_is_bounded_to_the_last_nights() -> None:
    sup = home(("22:30",))
    sup.advance(jan(15, 13))
    again = restored(sup)
    events = again.advance(jan(30, 13))  # fifteen days later
    missed = of_type(events, EventType.MISSED)
    assert len(missed) == CATCH_UP_NIGHTS
    assert missed[-1].slot == key(jan(29, 22, 30))
    assert len(of_type(events, EventType.NIGHT_REPORT)) == CATCH_UP_NIGHTS
    assert len(again.open_visits) == CATCH_UP_NIGHTS


def test_new_home_does_not_owe_slots_that_already_started() -> None:
    sup = home(now=jan(15, 22, 40))
    assert sup.advance(jan(15, 23, 30)) == []
    assert sup.may_view(jan(15, 22, 45)) is not None
    events = sup.advance(jan(16, 2, 0))
    assert [event.slot for event in of_type(events, EventType.MISSED)] == [key(jan(16, 1, 30))]


def test_new_home_owes_a_slot_starting_at_its_creation() -> None:
    sup = home(now=jan(15, 22, 30))
    assert sup.next_wakeup(jan(15, 22, 30)) == jan(15, 22, 30)
    sup.advance(jan(15, 22, 30))
    assert sup.status(jan(15, 22, 30)) is Status.DUE


def test_state_stays_small_over_many_nights() -> None:
    sup = home()
    run_until(sup, jan(31, 12), jan(15, 12))
    data = sup.to_dict()
    assert data["slots"] == []
    assert len(data["reported"]) <= 1
    # The open visits of two weeks (each with its life: ids, escalations), nothing more.
    assert len(json.dumps(data)) < 20_000
    assert sup.last_night_report is not None
    assert sup.last_night_report["night"] == "2026-01-30"


# --- schedule changes ----------------------------------------------------------------------


def test_schedule_change_mid_night_keeps_passed_results() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.set_outcome(jan(15, 22, 32), "s1", Outcome.OK, "nurse")
    sup.advance(jan(16, 2))  # 01:30 missed
    new = HomeConfig(times=("23:00", "03:00", "05:00"))
    events = without_life(sup.set_config(jan(16, 2, 10), new))
    assert types(events) == [EventType.SCHEDULE_CHANGED]
    assert events[0].data["times"] == ["23:00", "03:00", "05:00"]
    assert events[0].data["previous"]["times"] == list(TIMES)
    events = run_until(sup, jan(16, 12), jan(16, 2, 10))
    [report] = of_type(events, EventType.NIGHT_REPORT)
    assert [(slot["slot"], slot["result"], slot["reason"]) for slot in report.data["slots"]] == [
        (key(jan(15, 22, 30)), "ok", None),
        (key(jan(16, 1, 30)), "visit_required", "missed"),
        (key(jan(16, 3)), "visit_required", "missed"),
        (key(jan(16, 5)), "visit_required", "missed"),
    ]
    # The next night follows the new schedule only.
    assert sup.next_supervision(jan(16, 12)) == jan(16, 23)


def test_schedule_change_keeps_an_open_slot_owed() -> None:
    sup = home()
    sup.advance(jan(15, 22, 35))
    sup.set_config(jan(15, 22, 35), HomeConfig(times=("01:00",)))
    assert sup.may_view(jan(15, 22, 40)) is None
    events = sup.advance(jan(15, 23))
    assert types(events) == [EventType.MISSED, EventType.VISIT_REQUIRED]


def test_schedule_change_adds_no_slot_that_already_started() -> None:
    sup = home()
    sup.advance(jan(15, 22, 40))
    sup.set_config(jan(15, 22, 40), HomeConfig(times=("22:30", "22:00", "01:30", "04:30")))
    assert sup.advance(jan(15, 22, 45)) == []
    assert sup.current_slot(jan(15, 22, 45)).key == key(jan(15, 22, 30))


def test_schedule_change_on_a_skipped_night_skips_the_new_slots() -> None:
    sup = home()
    sup.skip_night(jan(15, 13), NIGHT, "resident")
    events = sup.set_config(jan(15, 14), HomeConfig(times=("22:30", "02:00")))
    assert [(event.type, event.slot) for event in events] == [
        (EventType.SKIPPED, key(jan(16, 2))),
        (EventType.SCHEDULE_CHANGED, None),
    ]
    events = sup.advance(jan(16, 12))
    [report] = of_type(events, EventType.NIGHT_REPORT)
    # The slots announced as skipped stay on the report, with the new one.
    assert [slot["slot"] for slot in report.data["slots"]] == [
        key(jan(15, 22, 30)),
        key(jan(16, 1, 30)),
        key(jan(16, 2)),
        key(jan(16, 4, 30)),
    ]
    assert not sup.visit_required


# --- DST -----------------------------------------------------------------------------------


def test_spring_forward_night_supervises_0230_at_0330() -> None:
    start = local(2026, 3, 28, 12)
    sup = Supervisor(HomeConfig(times=("22:30", "02:30")), TZ, start)
    events = run_until(sup, local(2026, 3, 29, 3, 31), start)
    assert [event.slot for event in of_type(events, EventType.MISSED)] == [
        "2026-03-28T22:30:00+01:00"
    ]
    assert sup.current_slot(local(2026, 3, 29, 3, 31)).shifted
    assert sup.start_session(local(2026, 3, 29, 3, 31), "s1", "nurse") is None
    events = sup.set_outcome(local(2026, 3, 29, 3, 32), "s1", Outcome.OK, "nurse")
    [completed] = of_type(events, EventType.COMPLETED)
    assert completed.slot == "2026-03-29T03:30:00+02:00"


def test_fall_back_night_supervises_0230_once() -> None:
    start = local(2026, 10, 24, 12)
    sup = Supervisor(HomeConfig(times=("02:30",)), TZ, start)
    events = run_until(sup, local(2026, 10, 25, 12), start)
    missed = of_type(events, EventType.MISSED)
    assert [event.slot for event in missed] == ["2026-10-25T02:30:00+02:00"]
    assert missed[0].at == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    [report] = of_type(events, EventType.NIGHT_REPORT)
    assert len(report.data["slots"]) == 1
    # During the second 02:30 (winter time) nothing is open.
    second = local(2026, 10, 25, 2, 35, fold=1)
    assert second - datetime(2026, 10, 25, 0, 30, tzinfo=UTC) > timedelta(hours=1)
    assert sup.current_slot(second) is None
