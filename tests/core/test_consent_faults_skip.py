"""Consent withdrawn, equipment faults and skipped nights: a visit replaces the look, or nothing."""

from datetime import date

from custom_components.trygghetskamera.supervision import (
    EventType,
    Outcome,
    Reason,
    Refusal,
    SlotResult,
    Status,
)

from .helpers import NIGHT, home, jan, key, of_type, types, without_life

SLOT_2230 = key(jan(15, 22, 30))
SLOT_0130 = key(jan(16, 1, 30))
SLOT_0430 = key(jan(16, 4, 30))


# --- consent -------------------------------------------------------------------------------


def test_consent_withdrawn_mid_night() -> None:
    sup = home()
    # 22:30 looked at, not visible: a follow-up is pending at 22:52.
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.set_outcome(jan(15, 22, 32), "s1", Outcome.NOT_VISIBLE, "nurse")
    events = sup.set_consent(jan(15, 22, 40), False, "resident")
    assert types(events) == [EventType.CONSENT_CHANGED, EventType.VISIT_REQUIRED]
    assert events[0].data == {"consent": False, "user_id": "resident"}
    assert events[1].slot == SLOT_2230
    assert events[1].data["reason"] == "no_consent"
    # The pending follow-up will not happen; nothing can be seen any more.
    assert sup.may_view(jan(15, 22, 53)) is Refusal.NO_CONSENT
    assert without_life(sup.advance(jan(15, 23, 30))) == []
    # Every later slot raises its visit at its start.
    events = without_life(sup.advance(jan(16, 1, 30)))
    assert types(events) == [EventType.VISIT_REQUIRED]
    assert events[0].slot == SLOT_0130
    assert events[0].at == jan(16, 1, 30)
    assert events[0].data["reason"] == "no_consent"


def test_consent_withdrawn_during_an_open_slot_raises_at_once_and_cuts_the_stream() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    assert sup.may_view(jan(15, 22, 31, 5)) is None
    events = sup.set_consent(jan(15, 22, 31, 10), False, "relative")
    assert of_type(events, EventType.VISIT_REQUIRED)[0].slot == SLOT_2230
    assert sup.may_view(jan(15, 22, 31, 11)) is Refusal.NO_CONSENT
    assert sup.may_view(jan(15, 22, 31, 11), "s1") is Refusal.NO_CONSENT
    # The operator's outcome still counts for help, and the slot keeps its one result.
    events = sup.set_outcome(jan(15, 22, 31, 20), "s1", Outcome.OK, "nurse")
    assert of_type(events, EventType.COMPLETED) == []


def test_no_consent_status_when_no_visit_is_open() -> None:
    sup = home(consent=False)
    assert sup.status(jan(15, 20)) is Status.NO_CONSENT
    assert sup.may_view(jan(15, 20)) is Refusal.NO_CONSENT
    sup.advance(jan(15, 22, 30))
    assert sup.status(jan(15, 22, 30)) is Status.VISIT_REQUIRED
    sup.visit_done(jan(15, 22, 45), "patrol", None)
    # Acknowledged, but the visit replaces the whole slot: it stays until 23:00.
    assert sup.status(jan(15, 22, 46)) is Status.VISIT_REQUIRED
    events = sup.advance(jan(15, 23))
    assert types(events) == [EventType.VISIT_CLEARED]
    assert sup.status(jan(15, 23)) is Status.NO_CONSENT


def test_no_consent_visit_stays_until_acknowledged_even_after_the_slot() -> None:
    sup = home(consent=False)
    sup.advance(jan(15, 23, 30))
    assert sup.visit_required
    events = sup.visit_done(jan(15, 23, 31), "patrol", "asleep")
    assert types(events) == [EventType.VISIT_DONE, EventType.VISIT_CLEARED]
    [visit] = events[0].data["visits"]
    assert (visit["slot"], visit["reason"], visit["response_minutes"]) == (
        SLOT_2230,
        "no_consent",
        61.0,
    )
    assert not sup.visit_required


def test_consent_given_again_allows_looks_at_the_next_slot() -> None:
    sup = home(consent=False)
    sup.advance(jan(15, 22, 30))
    events = without_life(sup.set_consent(jan(15, 23, 30), True, "resident"))
    assert types(events) == [EventType.CONSENT_CHANGED]
    sup.advance(jan(16, 1, 31))
    assert sup.may_view(jan(16, 1, 31)) is None


# --- faults --------------------------------------------------------------------------------


def test_fault_at_slot_start_requires_visit() -> None:
    sup = home()
    events = sup.set_faults(jan(15, 21), frozenset({"camera"}))
    assert types(events) == [EventType.FAULT]
    assert events[0].data == {"faults": ["camera"], "added": ["camera"]}
    assert sup.status(jan(15, 21)) is Status.FAULT
    events = sup.advance(jan(15, 22, 30))
    assert types(events) == [EventType.VISIT_REQUIRED]
    assert events[0].slot == SLOT_2230
    assert events[0].data["reason"] == "fault"
    assert sup.may_view(jan(15, 22, 31)) is Refusal.FAULT


def test_fault_cleared_before_slot_no_visit() -> None:
    sup = home()
    sup.set_faults(jan(15, 21), frozenset({"plug", "power"}))
    events = sup.set_faults(jan(15, 22), frozenset())
    assert types(events) == [EventType.FAULT_CLEARED]
    assert events[0].data == {"faults": [], "cleared": ["plug", "power"]}
    assert sup.advance(jan(15, 22, 31)) == []
    assert not sup.visit_required
    assert sup.may_view(jan(15, 22, 31)) is None


def test_fault_arising_during_a_look_requires_visit_and_cuts_the_stream() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    events = sup.set_faults(jan(15, 22, 31, 5), frozenset({"connectivity"}))
    assert types(events) == [
        EventType.SESSION_STARTED,
        EventType.FAULT,
        EventType.VISIT_REQUIRED,
    ]
    assert sup.may_view(jan(15, 22, 31, 6)) is Refusal.FAULT


def test_fault_arising_while_a_follow_up_is_pending_raises_at_its_start() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.set_outcome(jan(15, 22, 32), "s1", Outcome.NOT_VISIBLE, "nurse")
    assert types(sup.set_faults(jan(15, 22, 40), frozenset({"camera"}))) == [EventType.FAULT]
    events = sup.advance(jan(15, 22, 52))
    assert types(events) == [EventType.VISIT_REQUIRED]
    assert events[0].data["reason"] == "fault"


def test_fault_visit_stays_until_slot_ended_and_acknowledged() -> None:
    sup = home()
    sup.advance(jan(15, 22, 35))
    sup.set_faults(jan(15, 22, 35), frozenset({"plug"}))
    sup.set_faults(jan(15, 22, 40), frozenset())
    events = without_life(sup.visit_done(jan(15, 22, 45), "patrol", None))
    assert types(events) == [EventType.VISIT_DONE]
    assert sup.visit_required
    assert sup.next_wakeup(jan(15, 22, 45)) == jan(15, 23)
    assert types(sup.advance(jan(15, 23))) == [EventType.VISIT_CLEARED]
    assert not sup.visit_required


def test_fault_visit_needs_acknowledging_even_after_the_fault_cleared() -> None:
    sup = home()
    sup.set_faults(jan(15, 22), frozenset({"camera"}))
    sup.advance(jan(15, 22, 30))
    sup.set_faults(jan(15, 22, 50), frozenset())
    sup.advance(jan(15, 23, 30))
    assert sup.visit_required
    assert sup.visit_reason is Reason.FAULT


def test_fault_changes_emit_events_only_on_change() -> None:
    sup = home()
    assert types(sup.set_faults(jan(15, 13), frozenset({"camera"}))) == [EventType.FAULT]
    assert sup.set_faults(jan(15, 14), frozenset({"camera"})) == []
    events = sup.set_faults(jan(15, 15), frozenset({"plug"}))
    assert types(events) == [EventType.FAULT, EventType.FAULT_CLEARED]
    assert events[1].data == {"faults": ["plug"], "cleared": ["camera"]}
    assert sup.faults == frozenset({"plug"})


# --- skip ----------------------------------------------------------------------------------


def test_skip_night_skips_its_slots_and_raises_nothing() -> None:
    sup = home()
    events = sup.skip_night(jan(15, 18), NIGHT, "resident")
    assert types(events) == [EventType.SKIPPED] * 3
    assert [event.slot for event in events] == [SLOT_2230, SLOT_0130, SLOT_0430]
    assert all(event.data == {"night": "2026-01-15", "user_id": "resident"} for event in events)
    assert sup.status(jan(15, 18)) is Status.SKIPPED
    assert sup.may_view(jan(15, 22, 31)) is Refusal.SKIPPED
    assert sup.start_session(jan(15, 22, 31), "s1", "nurse") is Refusal.SKIPPED
    events = sup.advance(jan(16, 12))
    assert types(events) == [EventType.NIGHT_REPORT]
    assert [slot["result"] for slot in events[0].data["slots"]] == [SlotResult.SKIPPED] * 3
    assert not sup.visit_required
    # The next night is supervised as usual.
    assert sup.status(jan(16, 12)) is Status.WAITING
    assert sup.next_supervision(jan(16, 12)) == jan(16, 22, 30)


def test_skip_mid_night_skips_the_remaining_slots() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.set_outcome(jan(15, 22, 32), "s1", Outcome.OK, "nurse")
    events = sup.skip_night(jan(15, 23, 30), NIGHT, None)
    assert [event.slot for event in of_type(events, EventType.SKIPPED)] == [SLOT_0130, SLOT_0430]


def test_skip_keeps_pending_follow_up() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.set_outcome(jan(15, 22, 32), "s1", Outcome.NOT_VISIBLE, "nurse")
    events = sup.skip_night(jan(15, 22, 40), NIGHT, "resident")
    assert SLOT_2230 not in [event.slot for event in events]
    assert sup.status(jan(15, 22, 41)) is Status.FOLLOW_UP
    # The follow-up still happens, and missing it still requires a visit.
    sup.advance(jan(15, 22, 52))
    assert sup.may_view(jan(15, 22, 52)) is None
    events = sup.advance(jan(15, 23, 7))
    assert types(events) == [EventType.MISSED, EventType.VISIT_REQUIRED]


def test_skip_keeps_a_running_look() -> None:
    sup = home()
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    events = sup.skip_night(jan(15, 22, 31, 10), NIGHT, "resident")
    assert SLOT_2230 not in [event.slot for event in of_type(events, EventType.SKIPPED)]
    assert sup.may_view(jan(15, 22, 31, 11)) is None
    events = sup.set_outcome(jan(15, 22, 31, 20), "s1", Outcome.OK, "nurse")
    assert EventType.COMPLETED in types(events)


def test_skip_ahead_of_time_for_a_later_night() -> None:
    sup = home()
    events = sup.skip_night(jan(15, 13), date(2026, 1, 17), "resident")
    assert [event.slot for event in events] == [
        key(jan(17, 22, 30)),
        key(jan(18, 1, 30)),
        key(jan(18, 4, 30)),
    ]
    assert sup.next_supervision(jan(16, 12)) == jan(16, 22, 30)
    assert sup.next_supervision(jan(17, 5)) == jan(18, 22, 30)


def test_cannot_skip_a_night_that_is_over() -> None:
    sup = home()
    assert sup.can_skip(jan(15, 13), NIGHT)
    assert sup.can_skip(jan(16, 3), NIGHT)
    assert not sup.can_skip(jan(16, 13), NIGHT)
    assert not sup.can_skip(jan(15, 13), date(2026, 1, 14))
    assert sup.tonight(jan(16, 3)) == NIGHT
    sup.advance(jan(16, 6))  # the night's last slot has closed: it is reported, so over
    assert not sup.can_skip(jan(16, 6), NIGHT)
    assert sup.tonight(jan(16, 6)) == date(2026, 1, 16)
    assert sup.skip_night(jan(16, 6), NIGHT, "resident") == []
    assert sup.visit_required  # the missed slots of the night stay missed


def test_skip_is_logged_even_with_nothing_left_to_skip() -> None:
    sup = home(("22:30",))
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    sup.set_outcome(jan(15, 22, 32), "s1", Outcome.OK, "nurse")
    events = sup.skip_night(jan(15, 22, 40), NIGHT, "resident")
    assert types(events) == [EventType.SKIPPED]
    assert events[0].slot is None


def test_skipped_status_lasts_until_the_night_ends_at_noon() -> None:
    sup = home()
    sup.skip_night(jan(15, 13), NIGHT, "resident")
    sup.advance(jan(16, 6))  # reported at 05:00
    assert sup.status(jan(16, 6)) is Status.SKIPPED
    assert sup.next_wakeup(jan(16, 6)) == jan(16, 12)  # so that the status sensor turns over
    sup.advance(jan(16, 12))
    assert sup.status(jan(16, 12)) is Status.WAITING
    assert sup.next_wakeup(jan(16, 12)) == jan(16, 22, 30)
