"""Agreed times become slots: nights run noon to noon, across midnight, safe across DST."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from custom_components.trygghetskamera.supervision import (
    ProblemCode,
    night_of,
    parse_time,
    slots_for_night,
    validate_times,
)

from .helpers import TZ, jan, local


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("22:30", time(22, 30)),
        ("00:00", time(0, 0)),
        ("9:05", time(9, 5)),
        ("23:59:00", time(23, 59)),
    ],
)
def test_parse_time_reads_agreed_times(text: str, expected: time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text", ["24:00", "22:60", "22.30", "2230", "", "22:3", "noon", "22:30:15"]
)
def test_parse_time_rejects_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_time(text)


@pytest.mark.parametrize(
    ("moment", "night"),
    [
        (jan(15, 12), date(2026, 1, 15)),
        (jan(15, 23, 59), date(2026, 1, 15)),
        (jan(16, 0), date(2026, 1, 15)),
        (jan(16, 11, 59, 59), date(2026, 1, 15)),
        (jan(16, 12), date(2026, 1, 16)),
        (jan(15, 11, 59), date(2026, 1, 14)),
    ],
)
def test_night_runs_from_noon_to_noon_named_by_its_evening(moment: datetime, night: date) -> None:
    assert night_of(moment, TZ) == night
    assert night_of(moment.astimezone(UTC), TZ) == night


def test_schedule_across_midnight() -> None:
    slots = slots_for_night(date(2026, 1, 15), ("04:30", "22:30", "01:30", "12:00"), 30, TZ)
    assert [slot.start for slot in slots] == [
        jan(15, 12),
        jan(15, 22, 30),
        jan(16, 1, 30),
        jan(16, 4, 30),
    ]
    assert [slot.agreed for slot in slots] == ["12:00", "22:30", "01:30", "04:30"]
    assert all(slot.night == date(2026, 1, 15) for slot in slots)
    assert all(slot.end - slot.start == timedelta(minutes=30) for slot in slots)
    assert all(slot.start.tzinfo is UTC for slot in slots)
    assert not any(slot.shifted for slot in slots)


def test_slot_key_is_local_iso_with_offset() -> None:
    winter, summer = (
        slots_for_night(night, ("22:30",), 30, TZ)[0]
        for night in (date(2026, 1, 15), date(2026, 7, 15))
    )
    assert winter.key == "2026-01-15T22:30:00+01:00"
    assert summer.key == "2026-07-15T22:30:00+02:00"
    assert datetime.fromisoformat(winter.key) == winter.start


def test_spring_forward_slot_happens_at_0330_marked_shifted() -> None:
    slots = slots_for_night(date(2026, 3, 28), ("22:30", "02:30", "04:30"), 30, TZ)
    shifted = slots[1]
    assert shifted.agreed == "02:30"
    assert shifted.shifted
    assert shifted.key == "2026-03-29T03:30:00+02:00"
    assert shifted.start == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert shifted.end - shifted.start == timedelta(minutes=30)
    assert not slots[0].shifted
    assert not slots[2].shifted


def test_spring_forward_times_landing_on_one_instant_make_one_slot() -> None:
    slots = slots_for_night(date(2026, 3, 28), ("02:30", "03:30"), 30, TZ)
    assert len(slots) == 1
    assert slots[0].agreed == "03:30"
    assert not slots[0].shifted
    assert slots[0].key == "2026-03-29T03:30:00+02:00"


def test_fall_back_slot_happens_once() -> None:
    slots = slots_for_night(date(2026, 10, 24), ("22:30", "02:30", "03:30"), 30, TZ)
    assert len(slots) == 3
    fall_back = slots[1]
    assert fall_back.key == "2026-10-25T02:30:00+02:00"  # the first 02:30 (summer time)
    # (Compared in UTC: Python never calls an instant in the fold equal across zones.)
    assert fall_back.start == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert fall_back.start == local(2026, 10, 25, 2, 30, fold=0).astimezone(UTC)
    assert not fall_back.shifted
    # 03:30 comes two hours later in real time: the clock went back in between.
    assert slots[2].start - fall_back.start == timedelta(hours=2)


def test_slots_keep_their_real_length_across_a_dst_change() -> None:
    slot = slots_for_night(date(2026, 3, 28), ("01:45",), 30, TZ)[0]
    assert slot.end - slot.start == timedelta(minutes=30)
    assert slot.end.astimezone(TZ).isoformat() == "2026-03-29T03:15:00+02:00"


def test_validate_times_accepts_a_good_schedule() -> None:
    assert validate_times(["22:30", "01:30", "04:30"], 30) == []
    assert validate_times(["23:45", "00:15"], 30) == []


def test_validate_times_requires_a_time() -> None:
    assert [problem.code for problem in validate_times([], 30)] == [ProblemCode.TIMES_REQUIRED]


@pytest.mark.parametrize("bad", ["25:00", "22.30", "half past ten"])
def test_validate_times_reports_bad_format(bad: str) -> None:
    problems = validate_times(["22:30", bad], 30)
    assert [(problem.code, problem.times) for problem in problems] == [
        (ProblemCode.INVALID_TIME, (bad,))
    ]
    assert bad in str(problems[0])


def test_validate_times_reports_duplicates() -> None:
    problems = validate_times(["22:30", "01:30", "22:30"], 30)
    assert [(problem.code, problem.times) for problem in problems] == [
        (ProblemCode.DUPLICATE_TIME, ("22:30",))
    ]


def test_validate_times_reports_overlapping_slots() -> None:
    problems = validate_times(["22:30", "22:50"], 30)
    assert [(problem.code, problem.times) for problem in problems] == [
        (ProblemCode.OVERLAPPING_SLOTS, ("22:30", "22:50"))
    ]


def test_validate_times_reports_overlap_across_midnight() -> None:
    problems = validate_times(["23:50", "00:10"], 30)
    assert [problem.code for problem in problems] == [ProblemCode.OVERLAPPING_SLOTS]
    assert validate_times(["23:50", "00:10"], 20) == []


def test_validate_times_reports_overlap_across_noon() -> None:
    # 11:50 belongs to one night and 12:10 to the next, yet they are 20 minutes apart.
    assert [problem.code for problem in validate_times(["11:50", "12:10"], 30)] == [
        ProblemCode.OVERLAPPING_SLOTS
    ]
