"""Which night "skip" means, how far ahead it may reach, and undoing a skip before it begins.

Written as the attacks of the trust review: a far-away date must not touch the state at all, and
"skip tonight" pressed in the morning must never skip the night that is ending.
"""

from datetime import date, timedelta
import json

from custom_components.trygghetskamera.supervision import EventType, Refusal, Status, Supervisor
from custom_components.trygghetskamera.supervision.model import HomeConfig

from .helpers import NIGHT, TZ, home, jan, key, local, types


def test_skip_of_a_date_beyond_one_year_leaves_the_state_untouched() -> None:
    """Attack: `skip_night` with 9999-12-31 poisoned the state (added before an OverflowError)."""
    sup = home()
    sup.advance(jan(15, 13))
    before = sup.to_dict()
    assert not sup.can_skip(jan(15, 13), date(9999, 12, 31))
    assert sup.skip_night(jan(15, 13), date(9999, 12, 31), "intruder") == []
    assert sup.to_dict() == before
    # A schedule change afterwards (what made the entry fail its setup) still works.
    restored = Supervisor.from_dict(json.loads(json.dumps(sup.to_dict())), sup.config, TZ)
    events = restored.set_config(jan(15, 14), HomeConfig(times=("23:00", "04:00")))
    assert EventType.SCHEDULE_CHANGED in types(events)


def test_a_state_already_poisoned_by_a_far_skip_can_change_its_schedule() -> None:
    """A store written by the old code (9999-12-31 skipped) must not keep the home from starting."""
    sup = home()
    data = sup.to_dict()
    data["skipped"] = ["9999-12-31"]
    restored = Supervisor.from_dict(data, sup.config, TZ)
    events = restored.set_config(jan(15, 14), HomeConfig(times=("23:00", "04:00")))
    assert EventType.SCHEDULE_CHANGED in types(events)
    assert restored.next_supervision(jan(15, 14)) == jan(15, 23)


def test_nights_may_be_skipped_from_tonight_up_to_one_year_ahead() -> None:
    sup = home()
    first, last = sup.skippable_nights(jan(15, 13))
    assert (first, last) == (NIGHT, date(2027, 1, 15))
    assert sup.can_skip(jan(15, 13), date(2027, 1, 15))
    assert not sup.can_skip(jan(15, 13), date(2027, 1, 16))
    assert sup.skip_night(jan(15, 13), date(2027, 1, 16), "resident") == []
    assert (
        types(sup.skip_night(jan(15, 13), date(2027, 1, 15), "resident")) == [EventType.SKIPPED] * 3
    )
    # Before noon, "tonight" is still the night that began yesterday evening.
    assert sup.skippable_nights(jan(16, 3)) == (NIGHT, date(2027, 1, 15))


def test_one_year_ahead_of_a_leap_day_is_the_28th_of_february() -> None:
    sup = home(now=local(2028, 2, 29, 12))
    assert sup.skippable_nights(local(2028, 2, 29, 13)) == (date(2028, 2, 29), date(2029, 2, 28))


def test_skip_tonight_in_the_morning_with_a_slot_still_open_skips_the_coming_evening() -> None:
    """Issue 20: pressed at 11:05 on 30 Nov it skipped the ending night (2026-11-29)."""
    sup = Supervisor(HomeConfig(times=("10:57", "12:27")), TZ, local(2026, 11, 29, 12))
    now = local(2026, 11, 30, 11, 5)
    sup.advance(now)
    assert sup.current_slot(now) is not None  # the 10:57 slot of the ending night is open
    assert sup.tonight(now) == date(2026, 11, 30)


def test_skip_tonight_is_the_night_of_the_next_agreed_time() -> None:
    sup = home()
    # The evening before the first slot, and while later slots of the night are still to come.
    assert sup.tonight(jan(15, 13)) == NIGHT
    assert sup.tonight(jan(15, 22, 40)) == NIGHT
    assert sup.tonight(jan(16, 4, 29)) == NIGHT
    # The last slot has begun: the next agreed time is the coming evening's.
    assert sup.tonight(jan(16, 4, 31)) == date(2026, 1, 16)
    assert sup.tonight(jan(16, 11, 59)) == date(2026, 1, 16)


def test_skip_tonight_pressed_twice_skips_the_same_night() -> None:
    sup = home()
    sup.skip_night(jan(15, 13), sup.tonight(jan(15, 13)), "resident")
    assert sup.tonight(jan(15, 13, 1)) == NIGHT


def test_unskip_before_the_night_begins_restores_its_slots() -> None:
    sup = home()
    sup.skip_night(jan(15, 13), date(2026, 1, 17), "resident")
    assert sup.can_unskip(jan(15, 14), date(2026, 1, 17))
    events = sup.unskip_night(jan(15, 14), date(2026, 1, 17), "nurse")
    assert types(events) == [EventType.UNSKIPPED]
    assert events[0].data == {"night": "2026-01-17", "user_id": "nurse"}
    assert sup.next_supervision(jan(17, 13)) == jan(17, 22, 30)
    # The night then runs as any other: a slot without a look is missed.
    sup.advance(jan(17, 23, 1))
    assert sup.visit_required


def test_unskip_of_tonight_before_its_first_slot() -> None:
    sup = home()
    sup.skip_night(jan(15, 13), NIGHT, "resident")
    assert sup.status(jan(15, 14)) is Status.SKIPPED
    sup.unskip_night(jan(15, 14), NIGHT, "resident")
    assert sup.status(jan(15, 14)) is Status.WAITING
    sup.advance(jan(15, 22, 31))
    assert sup.may_view(jan(15, 22, 31)) is None
    assert sup.start_session(jan(15, 22, 31), "s1", "nurse") is None


def test_a_night_whose_first_slot_has_begun_cannot_be_unskipped() -> None:
    sup = home()
    sup.skip_night(jan(15, 13), NIGHT, "resident")
    before = sup.to_dict()
    assert not sup.can_unskip(jan(15, 22, 30), NIGHT)
    assert sup.unskip_night(jan(15, 22, 30), NIGHT, "resident") == []
    assert sup.may_view(jan(15, 22, 31)) is Refusal.SKIPPED
    assert sup.to_dict()["skipped"] == before["skipped"]


def test_a_night_not_skipped_cannot_be_unskipped() -> None:
    sup = home()
    assert not sup.can_unskip(jan(15, 13), NIGHT + timedelta(days=1))
    assert sup.unskip_night(jan(15, 13), NIGHT + timedelta(days=1), "resident") == []


def test_unskip_survives_a_restart() -> None:
    sup = home()
    sup.skip_night(jan(15, 13), NIGHT, "resident")
    sup.unskip_night(jan(15, 13), NIGHT, "resident")
    restored = Supervisor.from_dict(json.loads(json.dumps(sup.to_dict())), sup.config, TZ)
    assert restored.next_supervision(jan(15, 14)) == jan(15, 22, 30)
    assert key(jan(15, 22, 30)) not in restored.to_dict()["slots"]
