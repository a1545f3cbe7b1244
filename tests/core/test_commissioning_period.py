"""Commissioning looks are bounded: a 14-day period, 10 looks, none once commissioned.

A commissioning look is the one look allowed outside the agreed times. Unbounded, it would be a
backdoor to the picture at any hour; so it is allowed only in a commissioning period that opens
when the home is added, when its camera changes, or when an admin restarts commissioning.
"""

from datetime import datetime, timedelta

from custom_components.trygghetskamera.supervision import (
    COMMISSIONING_DAYS,
    COMMISSIONING_LOOKS,
    Check,
    EventType,
    Outcome,
    Purpose,
    Refusal,
    Supervisor,
)

from .helpers import TZ, home, jan, of_type

FIFTEENTH_13H = jan(15, 13)


def look(
    sup: Supervisor, at_minutes: int, session_id: str, base: datetime = FIFTEENTH_13H
) -> Refusal | None:
    """Start a commissioning look `at_minutes` after `base`; end it (not visible)."""
    now = base + timedelta(minutes=at_minutes)
    refusal = sup.start_session(now, session_id, "installer", Purpose.COMMISSIONING)
    if refusal is None:
        sup.set_outcome(now + timedelta(seconds=20), session_id, Outcome.NOT_VISIBLE, "installer")
    return refusal


def test_at_most_ten_commissioning_looks_per_period() -> None:
    sup = home()
    assert sup.commissioning_looks_left == COMMISSIONING_LOOKS == 10
    for number in range(COMMISSIONING_LOOKS):
        assert look(sup, number, f"c{number}") is None
    assert sup.commissioning_looks_left == 0
    assert look(sup, 30, "c-extra") is Refusal.COMMISSIONING_CLOSED
    # Supervision looks are not commissioning looks: the agreed slot still opens as usual.
    assert sup.start_session(jan(15, 22, 31), "s1", "staff") is None


def test_each_look_is_logged_with_its_number_and_the_end_of_the_period() -> None:
    sup = home(now=jan(15, 12))
    sup.start_session(jan(15, 13), "c1", "installer", Purpose.COMMISSIONING)
    [started] = of_type(sup.advance(jan(15, 13)), EventType.SESSION_STARTED)
    assert started.data["purpose"] == "commissioning"
    assert started.data["commissioning_look"] == 1
    assert started.data["of"] == 10
    assert started.data["commissioning_until"] == (jan(29, 12)).isoformat()


def test_no_commissioning_look_after_fourteen_days() -> None:
    sup = home(now=jan(1, 12))
    assert COMMISSIONING_DAYS == 14
    assert sup.commissioning_until == jan(15, 12)
    last_moment = jan(15, 11, 59, 59)
    assert sup.start_session(last_moment, "c1", "installer", Purpose.COMMISSIONING) is None
    sup.set_outcome(last_moment, "c1", Outcome.NOT_VISIBLE, "installer")
    assert (
        sup.start_session(jan(15, 12), "c2", "installer", Purpose.COMMISSIONING)
        is Refusal.COMMISSIONING_CLOSED
    )
    assert sup.commissioning_looks_left == 9  # the looks are not what closed it


def test_a_look_running_when_the_period_ends_is_cut() -> None:
    sup = home(now=jan(1, 12))
    started = jan(15, 11, 59, 50)
    assert sup.start_session(started, "c1", "installer", Purpose.COMMISSIONING) is None
    assert sup.may_view(jan(15, 11, 59, 59), "c1") is None
    assert sup.may_view(jan(15, 12, 0, 1), "c1") is Refusal.COMMISSIONING_CLOSED


def test_none_once_commissioned() -> None:
    sup = home()
    sup.set_commissioned(jan(15, 13), True)
    assert sup.commissioning_until is None
    assert look(sup, 5, "c1") is Refusal.COMMISSIONING_CLOSED


def test_a_changed_camera_opens_a_new_period() -> None:
    sup = home(now=jan(1, 12))
    for number in range(COMMISSIONING_LOOKS):
        assert look(sup, number, f"c{number}", jan(1, 13)) is None
    sup.set_commissioned(jan(15, 14), False)
    assert sup.commissioning_until == jan(29, 14)
    assert sup.commissioning_looks_left == 10
    assert look(sup, 90, "c-new") is None


def test_an_admin_restarts_commissioning_with_a_reason() -> None:
    sup = home(now=jan(1, 12))
    sup.set_commissioned(jan(2, 12), True)
    events = sup.restart_commissioning(jan(15, 12, 30), "admin", "camera moved after a fall")
    [restarted] = of_type(events, EventType.COMMISSIONING_RESTARTED)
    assert restarted.data == {
        "user_id": "admin",
        "reason": "camera moved after a fall",
        "was_commissioned": True,
        "until": jan(29, 12, 30).isoformat(),
        "looks": 10,
    }
    # Commissioned again only after every check, with the staff.
    assert not sup.commissioned
    assert sup.commissioning_missing == list(Check)
    assert look(sup, 60, "c1") is None


def test_the_period_survives_a_restart() -> None:
    sup = home(now=jan(1, 12))
    for number in range(3):
        assert look(sup, number, f"c{number}", jan(1, 13)) is None
    restored = Supervisor.from_dict(sup.to_dict(), sup.config, TZ)
    assert restored.commissioning_until == jan(15, 12)
    assert restored.commissioning_looks_left == 7
    assert restored.commissioning_refusal(jan(15, 12)) is Refusal.COMMISSIONING_CLOSED


def test_a_state_saved_before_periods_were_kept_has_commissioning_closed() -> None:
    """Upgrading never opens a backdoor: an admin restarts commissioning if it is still due."""
    sup = home(now=jan(15, 12))
    data = sup.to_dict()
    del data["commissioning_period"]
    restored = Supervisor.from_dict(data, sup.config, TZ)
    assert restored.commissioning_refusal(jan(15, 13)) is Refusal.COMMISSIONING_CLOSED
    restored.restart_commissioning(jan(15, 13), "admin", "upgrade")
    assert restored.commissioning_refusal(jan(15, 13)) is None
