"""The decision period: from 00:00 local on `decision_end` no look, and each slot a visit."""

from dataclasses import replace
from datetime import date

from custom_components.trygghetskamera.supervision import (
    EventType,
    HomeConfig,
    Outcome,
    Refusal,
    Supervisor,
)

from .helpers import TIMES, TZ, jan, key, of_type, without_life

SLOT_2230 = key(jan(15, 22, 30))
SLOT_0130 = key(jan(16, 1, 30))
SLOT_0430 = key(jan(16, 4, 30))
ENDS = date(2026, 1, 16)


def _home(end: date | None = ENDS) -> Supervisor:
    return Supervisor(HomeConfig(times=TIMES, decision_end=end), TZ, jan(15, 12))


def test_slots_on_or_after_the_end_date_raise_decision_ended_and_no_look_is_granted() -> None:
    sup = _home()
    # 22:30 on the 15th is still within the decision: a look as ever.
    assert without_life(sup.advance(jan(15, 22, 30))) == []
    assert sup.may_view(jan(15, 22, 31)) is None
    sup.start_session(jan(15, 22, 31), "s1", "nurse")
    assert of_type(sup.set_outcome(jan(15, 22, 32), "s1", Outcome.OK, "nurse"), EventType.COMPLETED)
    # From 00:00 on the 16th: nothing may be seen, and 01:30 raises a visit at its start.
    assert sup.may_view(jan(16, 0, 1)) is Refusal.DECISION_ENDED
    events = without_life(sup.advance(jan(16, 1, 30)))
    assert [(e.type, e.slot, e.at) for e in events] == [
        (EventType.VISIT_REQUIRED, SLOT_0130, jan(16, 1, 30))
    ]
    assert events[0].data["reason"] == "decision_ended"
    assert sup.may_view(jan(16, 1, 31)) is Refusal.DECISION_ENDED
    assert sup.start_session(jan(16, 1, 31), "s2", "nurse") is Refusal.DECISION_ENDED


def test_extending_the_decision_brings_the_look_back() -> None:
    sup = _home()
    sup.advance(jan(16, 1, 30))
    extended = HomeConfig(times=TIMES, decision_end=date(2026, 6, 1))
    events = sup.set_config(jan(16, 2), extended)
    assert of_type(events, EventType.SCHEDULE_CHANGED)[0].data["decision_end"] == "2026-06-01"
    assert of_type(events, EventType.VISIT_REQUIRED) == []
    # 04:30 opens for a look again, and raises nothing at its start.
    assert of_type(sup.advance(jan(16, 4, 30)), EventType.VISIT_REQUIRED) == []
    assert sup.may_view(jan(16, 4, 31)) is None


def test_an_end_moved_into_the_past_during_an_open_slot_raises_at_once_and_cuts_the_look() -> None:
    sup = _home(None)
    sup.advance(jan(16, 1, 30))
    sup.start_session(jan(16, 1, 31), "s1", "nurse")
    assert sup.may_view(jan(16, 1, 31, 5), "s1") is None
    events = sup.set_config(jan(16, 1, 32), HomeConfig(times=TIMES, decision_end=ENDS))
    raised = of_type(events, EventType.VISIT_REQUIRED)
    assert [(e.slot, e.data["reason"]) for e in raised] == [(SLOT_0130, "decision_ended")]
    assert sup.may_view(jan(16, 1, 32, 1), "s1") is Refusal.DECISION_ENDED


def test_the_end_date_survives_a_restart() -> None:
    sup = _home()
    again = Supervisor.from_dict(sup.to_dict(), sup.config, TZ)
    assert again.config.decision_end == ENDS
    assert (
        HomeConfig.from_dict(replace(sup.config, decision_end=None).as_dict()).decision_end is None
    )
    events = without_life(again.advance(jan(16, 4, 30)))
    # 22:30 was missed (no look); the slots of the 16th are visits for the ended decision.
    raised = {e.slot: e.data["reason"] for e in of_type(events, EventType.VISIT_REQUIRED)}
    assert raised == {SLOT_2230: "missed", SLOT_0130: "decision_ended", SLOT_0430: "decision_ended"}
