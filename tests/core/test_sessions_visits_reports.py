"""One look at a time, only in the window; visits until acknowledged; one report per night."""

from datetime import timedelta

from custom_components.trygghetskamera.supervision import (
    Check,
    EventType,
    HomeConfig,
    Outcome,
    Purpose,
    Reason,
    Refusal,
    Status,
    Supervisor,
)

from .helpers import NIGHT, TZ, home, jan, key, of_type, run_until, types, without_life

SLOT_2230 = key(jan(15, 22, 30))


# --- sessions ------------------------------------------------------------------------------


def test_frames_refused_outside_the_agreed_times() -> None:
    sup = home()
    for moment in (jan(15, 13), jan(15, 22, 29, 59), jan(15, 23), jan(16, 3)):
        assert sup.may_view(moment) is Refusal.OUTSIDE_SLOT
        assert sup.start_session(moment, "s", "nurse") is Refusal.OUTSIDE_SLOT
    assert sup.active_session is None


def test_a_second_look_at_the_same_time_is_busy() -> None:
    sup = home()
    assert sup.start_session(jan(15, 22, 31), "s1", "nurse") is None
    assert sup.start_session(jan(15, 22, 31, 5), "s2", "other") is Refusal.BUSY
    assert sup.may_view(jan(15, 22, 31, 5)) is None  # the running look keeps its frames
    assert sup.may_view(jan(15, 22, 31, 5), "s2") is Refusal.BUSY
    # While the outcome is awaited nobody else may look either.
    sup.end_session(jan(15, 22, 31, 30), "s1", None)
    assert sup.may_view(jan(15, 22, 32)) is Refusal.BUSY
    assert sup.status(jan(15, 22, 32)) is Status.DUE
    session = sup.active_session
    assert session is not None
    assert session.stream_ended == jan(15, 22, 31, 30)
    assert session.slot == SLOT_2230


def test_a_look_is_cut_after_view_seconds() -> None:
    sup = home(view_seconds=20)
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.advance(jan(15, 22, 31))
    assert sup.may_view(jan(15, 22, 31, 19), "s1") is None
    assert sup.may_view(jan(15, 22, 31, 20), "s1") is not None
    assert sup.next_wakeup(jan(15, 22, 31, 1)) == jan(15, 22, 31, 20)


def test_an_ended_look_gets_no_more_frames() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.end_session(jan(15, 22, 31, 10), "s1", None)
    assert sup.may_view(jan(15, 22, 31, 11), "s1") is not None


def test_stream_is_cut_when_the_window_closes() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 59, 45), "s1", "nurse")
    sup.advance(jan(15, 22, 59, 45))
    assert sup.may_view(jan(15, 22, 59, 59)) is None
    assert sup.next_wakeup(jan(15, 22, 59, 46)) == jan(15, 23)
    assert sup.may_view(jan(15, 23)) is Refusal.OUTSIDE_SLOT


def test_queries_answer_for_now_even_when_the_timer_is_late() -> None:
    sup = home()
    sup.advance(jan(15, 22, 31))
    # No advance at 23:00: the window has closed all the same.
    assert sup.may_view(jan(15, 23, 0, 1)) is Refusal.OUTSIDE_SLOT
    assert sup.start_session(jan(15, 23, 0, 1), "s1", "nurse") is Refusal.OUTSIDE_SLOT
    # ... and the refused attempt caught up with time: the missed slot is handed out next.
    assert types(sup.advance(jan(15, 23, 0, 2))) == [EventType.MISSED, EventType.VISIT_REQUIRED]


def test_a_look_serves_the_check_that_closes_first() -> None:
    # 22:00 and 22:35 with follow-ups 10 minutes later: the follow-up overlaps the next slot.
    sup = home(("22:00", "22:35"), follow_up_minutes=10)
    sup.start_session(jan(15, 22, 28), "s1", "nurse")
    sup.set_outcome(jan(15, 22, 29), "s1", Outcome.NOT_VISIBLE, "nurse")  # follow-up 22:39
    sup.advance(jan(15, 22, 40))
    assert sup.current_slot(jan(15, 22, 40)).key == key(jan(15, 22))
    sup.start_session(jan(15, 22, 40), "s2", "nurse")
    events = sup.set_outcome(jan(15, 22, 41), "s2", Outcome.OK, "nurse")
    assert [event.slot for event in of_type(events, EventType.COMPLETED)] == [key(jan(15, 22))]
    assert sup.status(jan(15, 22, 41)) is Status.DUE
    assert sup.current_slot(jan(15, 22, 41)).key == key(jan(15, 22, 35))


def test_session_events_are_logged() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    events = sup.end_session(jan(15, 22, 31, 22), "s1", Outcome.OK, "nurse")
    started, ended = (
        of_type(events, EventType.SESSION_STARTED)[0],
        of_type(events, EventType.SESSION_ENDED)[0],
    )
    assert started.data["user_id"] == "nurse"
    assert started.data["purpose"] == "supervision"
    assert started.slot == SLOT_2230
    assert ended.data["duration_s"] == 22.0
    assert ended.data["outcome"] == "ok"
    assert sup.next_wakeup(jan(15, 22, 31, 22)) == jan(16, 1, 30)


def test_start_session_asks_for_an_immediate_wakeup_to_hand_out_its_events() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    assert sup.next_wakeup(jan(15, 22, 31)) == jan(15, 22, 31)
    assert types(sup.advance(jan(15, 22, 31))) == [EventType.SESSION_STARTED]
    assert sup.next_wakeup(jan(15, 22, 31)) == jan(15, 22, 31, 30)


# --- commissioning -------------------------------------------------------------------------


def test_commissioning_look_allowed_outside_slots_until_commissioned() -> None:
    sup = home()
    assert not sup.commissioned
    sup.pass_check(jan(15, 13), Check.CAMERA_PROBE, None)
    sup.pass_check(jan(15, 13), Check.EQUIPMENT, None)
    assert sup.start_session(jan(15, 14), "c1", "installer", Purpose.COMMISSIONING) is None
    assert sup.may_view(jan(15, 14, 0, 10)) is None
    events = sup.set_outcome(jan(15, 14, 0, 20), "c1", Outcome.OK, "installer")
    assert of_type(events, EventType.COMPLETED) == []
    [done] = of_type(events, EventType.COMMISSIONED)
    assert done.data == {"checks": ["camera_probe", "equipment", "session"], "user_id": "installer"}
    assert sup.commissioned
    assert sup.last_supervision is None  # a test look is not a supervision
    assert sup.start_session(jan(15, 14, 5), "c2", "installer", Purpose.COMMISSIONING) is (
        Refusal.COMMISSIONING_CLOSED
    )
    events = sup.set_commissioned(jan(15, 15), False)
    assert [event.type for event in events] == [EventType.COMMISSIONING_RESET]
    assert sup.commissioning_missing == list(Check)
    assert sup.start_session(jan(15, 15), "c3", "installer", Purpose.COMMISSIONING) is None


def test_commissioned_only_once_every_check_passed_in_any_order() -> None:
    sup = home()
    assert sup.commissioning_missing == [Check.CAMERA_PROBE, Check.EQUIPMENT, Check.SESSION]
    sup.start_session(jan(15, 14), "c1", "installer", Purpose.COMMISSIONING)
    events = sup.set_outcome(jan(15, 14, 0, 20), "c1", Outcome.OK, "installer")
    [check] = of_type(events, EventType.COMMISSIONING_CHECK)
    assert check.data == {"check": "session", "user_id": "installer"}
    assert not sup.commissioned
    assert sup.commissioning_missing == [Check.CAMERA_PROBE, Check.EQUIPMENT]
    # A look that did not show the room well does not count.
    sup.start_session(jan(15, 14, 5), "c2", "installer", Purpose.COMMISSIONING)
    events = sup.set_outcome(jan(15, 14, 5, 20), "c2", Outcome.NOT_VISIBLE, "installer")
    assert of_type(events, EventType.COMMISSIONING_CHECK) == []
    assert sup.pass_check(jan(15, 14, 6), Check.EQUIPMENT, None)
    assert sup.pass_check(jan(15, 14, 7), Check.EQUIPMENT, None) == []  # once
    restored = Supervisor.from_dict(sup.to_dict(), sup.config, TZ)
    assert restored.commissioning_missing == [Check.CAMERA_PROBE]
    events = restored.pass_check(jan(15, 14, 8), Check.CAMERA_PROBE, None)
    assert [event.type for event in events] == [
        EventType.COMMISSIONING_CHECK,
        EventType.COMMISSIONED,
    ]
    assert restored.commissioned
    assert restored.commissioning_missing == []


def test_a_state_saved_before_checks_were_kept_stays_commissioned() -> None:
    sup = home()
    sup.set_commissioned(jan(15, 13), True)
    data = sup.to_dict()
    del data["checks"]
    restored = Supervisor.from_dict(data, sup.config, TZ)
    assert restored.commissioned
    assert restored.commissioning_missing == []


def test_commissioning_needs_consent_and_working_equipment() -> None:
    sup = home(consent=False)
    assert sup.start_session(jan(15, 14), "c1", "i", Purpose.COMMISSIONING) is Refusal.NO_CONSENT
    sup.set_consent(jan(15, 14), True, "resident")
    sup.set_faults(jan(15, 14), frozenset({"camera"}))
    assert sup.start_session(jan(15, 14), "c1", "i", Purpose.COMMISSIONING) is Refusal.FAULT


def test_commissioning_look_does_not_serve_the_slot() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "c1", "installer", Purpose.COMMISSIONING)
    sup.set_outcome(jan(15, 22, 32), "c1", Outcome.OK, "installer")
    assert sup.status(jan(15, 22, 33)) is Status.DUE
    assert sup.start_session(jan(15, 22, 33), "s1", "nurse") is None


def test_needs_help_seen_while_commissioning_requires_urgent_visit() -> None:
    sup = home()
    sup.start_session(jan(15, 14), "c1", "installer", Purpose.COMMISSIONING)
    events = sup.set_outcome(jan(15, 14, 0, 20), "c1", Outcome.NEEDS_HELP, "installer")
    [visit] = of_type(events, EventType.VISIT_REQUIRED)
    assert visit.slot is None
    assert visit.data["urgent"] is True
    assert not sup.commissioned


# --- visits --------------------------------------------------------------------------------


def test_visit_required_stays_until_visit_done() -> None:
    sup = home()
    sup.advance(jan(15, 23))
    sup.advance(jan(16, 11))
    assert sup.visit_required
    assert sup.status(jan(16, 11)) is Status.VISIT_REQUIRED


def test_visit_done_clears_every_open_visit_and_emits_visit_cleared_once() -> None:
    sup = home()
    events = sup.advance(jan(16, 2, 30))
    assert len(of_type(events, EventType.VISIT_REQUIRED)) == 2  # once per requirement
    events = without_life(sup.visit_done(jan(16, 2, 40), "patrol", "all well"))
    assert types(events) == [EventType.VISIT_DONE, EventType.VISIT_CLEARED]
    assert events[0].data["note"] == "all well"
    assert events[0].data["user_id"] == "patrol"
    assert [visit["slot"] for visit in events[0].data["visits"]] == [
        SLOT_2230,
        key(jan(16, 1, 30)),
    ]
    assert sup.open_visits == []
    assert sup.visit_reason is None
    assert types(sup.visit_done(jan(16, 2, 41), "patrol", None)) == [EventType.VISIT_DONE]


def test_urgent_visit_reason_wins() -> None:
    sup = home()
    sup.advance(jan(15, 23))
    sup.start_session(jan(16, 1, 31), "s1", "nurse")
    sup.set_outcome(jan(16, 1, 32), "s1", Outcome.NEEDS_HELP, "nurse")
    sup.advance(jan(16, 5))
    assert sup.visit_reason is Reason.NEEDS_HELP
    assert sup.urgent


def test_visit_on_the_report_is_marked_done() -> None:
    sup = home(("22:30", "01:30"))
    events = sup.advance(jan(15, 23))
    sup.visit_done(jan(15, 23, 20), "patrol", None)
    sup.start_session(jan(16, 1, 31), "s1", "nurse")
    events += sup.set_outcome(jan(16, 1, 32), "s1", Outcome.OK, "nurse")
    events += sup.advance(jan(16, 2))
    [report] = of_type(events, EventType.NIGHT_REPORT)
    assert report.at == jan(16, 2)
    [visit_id] = [event.data["visit_id"] for event in of_type(events, EventType.VISIT_REQUIRED)]
    missed_visit = {
        "visit_id": visit_id,
        "reason": "missed",
        "urgent": False,
        "raised": "2026-01-15T23:00:00+01:00",
        "acknowledged": None,
        "done": {"user": "patrol", "at": "2026-01-15T23:20:00+01:00"},
        "response_minutes": 20.0,
        "escalations": 2,  # 23:10 and 23:20: nobody said they were on their way
        "overdue": False,
    }
    assert report.data == {
        "night": "2026-01-15",
        "slots": [
            {
                "slot": SLOT_2230,
                "result": "visit_required",
                "reason": "missed",
                "follow_ups": 0,
                "visit_done": True,
                "visit_id": visit_id,
                "raised": "2026-01-15T23:00:00+01:00",
                "acknowledged": None,
                "done": {"user": "patrol", "at": "2026-01-15T23:20:00+01:00"},
                "response_minutes": 20.0,
                "escalations": 2,
                "visits": [missed_visit],
            },
            {
                "slot": key(jan(16, 1, 30)),
                "result": "ok",
                "reason": None,
                "follow_ups": 0,
                "visit_done": False,
                "visit_id": None,
                "raised": None,
                "acknowledged": None,
                "done": None,
                "response_minutes": None,
                "escalations": 0,
                "visits": [],
            },
        ],
        "visits_open": 0,
    }


# --- night reports and status --------------------------------------------------------------


def test_night_report_exactly_once() -> None:
    sup = home()
    events = run_until(sup, jan(18, 12), jan(15, 12))
    reports = of_type(events, EventType.NIGHT_REPORT)
    assert [report.data["night"] for report in reports] == [
        "2026-01-15",
        "2026-01-16",
        "2026-01-17",
    ]
    assert all(len(report.data["slots"]) == 3 for report in reports)
    assert reports[0].at == jan(16, 5)
    # Restarting after the report does not report the night again.
    again = Supervisor.from_dict(sup.to_dict(), sup.config, TZ)
    assert of_type(again.advance(jan(18, 13)), EventType.NIGHT_REPORT) == []


def test_night_report_waits_for_the_last_follow_up() -> None:
    sup = home(("04:30",))
    sup.start_session(jan(16, 4, 59), "s1", "nurse")
    sup.set_outcome(jan(16, 4, 59, 30), "s1", Outcome.NOT_VISIBLE, "nurse")
    assert of_type(sup.advance(jan(16, 5, 10)), EventType.NIGHT_REPORT) == []
    events = sup.advance(jan(16, 5, 40))
    assert types(events) == [EventType.MISSED, EventType.VISIT_REQUIRED, EventType.NIGHT_REPORT]
    report = events[-1]
    assert report.at == jan(16, 5, 34, 30)
    assert report.data["slots"][0]["follow_ups"] == 1
    assert report.data["visits_open"] == 1


def test_night_report_for_a_slot_running_past_noon() -> None:
    sup = home(("11:50",), slot_minutes=30)
    events = run_until(sup, jan(16, 13), jan(15, 12))
    [report] = of_type(events, EventType.NIGHT_REPORT)
    assert report.data["night"] == "2026-01-15"
    assert report.at == jan(16, 12, 20)


def test_status_priority() -> None:
    sup = home()
    assert sup.status(jan(15, 20)) is Status.WAITING
    assert sup.status(jan(15, 22, 30)) is Status.DUE
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    assert sup.status(jan(15, 22, 31)) is Status.VIEWING
    sup.set_outcome(jan(15, 22, 31, 20), "s1", Outcome.NOT_VISIBLE, "nurse")
    assert sup.status(jan(15, 22, 32)) is Status.FOLLOW_UP
    sup.set_faults(jan(15, 22, 33), frozenset({"camera"}))
    assert sup.status(jan(15, 22, 33)) is Status.FAULT
    sup.set_consent(jan(15, 22, 34), False, "resident")
    assert sup.status(jan(15, 22, 34)) is Status.VISIT_REQUIRED  # the follow-up became a visit
    sup.visit_done(jan(15, 23, 30), "patrol", None)
    assert sup.status(jan(15, 23, 30)) is Status.NO_CONSENT


def test_next_wakeup_is_all_the_runtime_needs() -> None:
    sup = home()
    wakeups = []
    now = jan(15, 12)
    while (wake := sup.next_wakeup(now)) is not None and wake < jan(16, 12):
        wakeups.append(wake)
        now = wake
        sup.advance(now)
    # Slot starts and ends (missed), and the report with the last close...
    slots = [jan(15, 22, 30), jan(15, 23), jan(16, 1, 30), jan(16, 2), jan(16, 4, 30), jan(16, 5)]
    assert [wake for wake in wakeups if wake in slots] == slots
    # ...and the visits' escalations (every 10 minutes, six levels) and deadlines (45 minutes).
    raised = [jan(15, 23), jan(16, 2), jan(16, 5)]
    life = {at + timedelta(minutes=10 * level) for at in raised for level in range(1, 7)}
    life |= {at + timedelta(minutes=45) for at in raised}
    assert {wake for wake in wakeups if wake not in slots} == life


def test_next_supervision() -> None:
    sup = home()
    assert sup.next_supervision(jan(15, 12)) == jan(15, 22, 30)
    assert sup.next_supervision(jan(15, 22, 30)) == jan(16, 1, 30)
    assert sup.next_supervision(jan(16, 5)) == jan(16, 22, 30)


def test_night_of_a_home_with_a_changed_tz_free_config() -> None:
    config = HomeConfig(times=("22:30",))
    assert config.follow_up_window_minutes == 15
    assert HomeConfig(times=("22:30",), slot_minutes=10).follow_up_window_minutes == 10
    assert config.as_dict()["times"] == ["22:30"]
    assert NIGHT.isoformat() == "2026-01-15"
    assert timedelta(minutes=config.slot_minutes) == timedelta(minutes=30)
