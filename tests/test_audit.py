"""The audit log keeps every look and every fact, in order, provably untouched, never a frame."""

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
import csv
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
import hashlib
import io
import json
from pathlib import Path
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.trygghetskamera import audit, verify_audit
from custom_components.trygghetskamera.audit import AuditLog, AuditRecord

EVENING = datetime(2026, 1, 15, 21, 30, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    """Where Home Assistant keeps the log: in its private storage folder."""
    return tmp_path / ".storage" / "trygghetskamera_audit.db"


@pytest.fixture
def log(log_path: Path) -> Iterator[AuditLog]:
    """A running log, always stopped so its writer thread never outlives the test."""
    audit_log = AuditLog(log_path)
    audit_log.start()
    yield audit_log
    audit_log.stop()


def fact(
    at: datetime,
    kind: str = "session_started",
    *,
    entry_id: str | None = "entry-1203",
    home: str | None = "Lgh 1203",
    user_id: str | None = "user-anna",
    user_name: str | None = "Anna Nattsköterska",
    **data: Any,
) -> dict[str, Any]:
    """One fact as the runtime hands it over."""
    return {
        "at": at,
        "kind": kind,
        "entry_id": entry_id,
        "home": home,
        "user_id": user_id,
        "user_name": user_name,
        "data": data,
    }


def write(audit_log: AuditLog, record: dict[str, Any]) -> AuditRecord:
    """Append and wait until the record is committed."""
    return audit_log.append(record).result(timeout=30)


def tamper(path: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Change the file the way someone with write access could: around the guard triggers."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TRIGGER IF EXISTS records_no_update")
        conn.execute("DROP TRIGGER IF EXISTS records_no_delete")
        conn.execute(sql, params)
        conn.commit()


def a_night_of_facts(audit_log: AuditLog, count: int = 6) -> list[AuditRecord]:
    """Sessions in two homes through one night, 30 minutes apart."""
    return [
        write(
            audit_log,
            fact(
                EVENING + timedelta(minutes=30 * n),
                entry_id=f"entry-{n % 2}",
                home=f"Lgh 120{n % 2}",
                slot="22:30",
                n=n,
            ),
        )
        for n in range(count)
    ]


# --- writing and reading -------------------------------------------------------------------


def test_append_resolves_with_the_committed_chained_record(log: AuditLog) -> None:
    before = datetime.now(UTC)
    first = write(log, {"kind": "consent_changed", "home": "Lgh 1203", "data": {"consent": True}})
    after = datetime.now(UTC)
    second = write(log, fact(EVENING, outcome="ok"))

    assert first.seq == 1
    assert first.prev_hash == audit.GENESIS_HASH
    assert before <= first.at <= after, "at defaults to the moment of the fact"
    assert first.entry_id is None
    assert first.user_id is None
    assert second.seq == 2
    assert second.prev_hash == first.hash
    assert second.hash == audit.chain_hash(
        seq=2,
        at="2026-01-15T21:30:00.000000+00:00",
        kind="session_started",
        entry_id="entry-1203",
        home="Lgh 1203",
        user_id="user-anna",
        user_name="Anna Nattsköterska",
        data='{"outcome":"ok"}',
        prev_hash=first.hash,
    )
    assert log.query() == [first, second]
    assert log.head() == (2, second.hash)


def test_query_filters_by_home_and_time_range_in_order(log: AuditLog) -> None:
    records = a_night_of_facts(log)

    assert log.query() == records
    assert log.query(entry_id="entry-1") == [r for r in records if r.entry_id == "entry-1"]
    # start is inclusive, end exclusive: a night's export never counts a record twice.
    window = log.query(start=records[1].at, end=records[4].at)
    assert [r.seq for r in window] == [2, 3, 4]
    assert [r.seq for r in log.query(entry_id="entry-0", start=records[1].at)] == [3, 5]
    # Time zones are compared as instants, not as text.
    local = records[2].at.astimezone(timezone(timedelta(hours=1)))
    assert [r.seq for r in log.query(start=local, end=local + timedelta(seconds=1))] == [3]
    assert log.query(entry_id="entry-unknown") == []


def test_query_limit_keeps_the_newest_records_oldest_first(log: AuditLog) -> None:
    records = a_night_of_facts(log)

    assert log.query(limit=2) == records[-2:]
    assert log.query(entry_id="entry-0", limit=2) == [records[2], records[4]]
    assert log.query(limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        log.query(limit=-1)


def test_records_keep_their_order_even_when_facts_arrive_late(log: AuditLog) -> None:
    late = write(log, fact(EVENING + timedelta(hours=2)))
    early = write(log, fact(EVENING))

    assert [r.seq for r in log.query()] == [late.seq, early.seq]
    assert log.verify()


class Outcome(StrEnum):
    """As the core names outcomes."""

    NOT_VISIBLE = "not_visible"


def test_data_round_trips_as_json(log: AuditLog) -> None:
    data = {
        "outcome": Outcome.NOT_VISIBLE,
        "slot": datetime(2026, 1, 15, 22, 30, tzinfo=UTC),
        "duration_s": 27.5,
        "follow_ups": 1,
        "changed": {"times": ("22:30", "01:30"), "view_mode": None},
        "note": 'Sängen tom, personal på väg — "ring 112" vid behov',
        "urgent": False,
    }
    written = write(log, fact(EVENING, "session_ended", **data))

    expected = {
        "outcome": "not_visible",
        "slot": "2026-01-15T22:30:00+00:00",
        "duration_s": 27.5,
        "follow_ups": 1,
        "changed": {"times": ["22:30", "01:30"], "view_mode": None},
        "note": 'Sängen tom, personal på väg — "ring 112" vid behov',
        "urgent": False,
    }
    assert written.data == expected
    (read,) = log.query()
    assert read == written
    as_dict = read.as_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["data"] == expected
    assert as_dict["at"] == "2026-01-15T21:30:00.000000+00:00"
    assert set(as_dict) == {
        "seq",
        "at",
        "kind",
        "entry_id",
        "home",
        "user_id",
        "user_name",
        "data",
        "prev_hash",
        "hash",
    }
    # The response is a copy: changing it changes nothing the next reader sees.
    as_dict["data"]["outcome"] = "ok"
    assert log.query()[0].data["outcome"] == "not_visible"


def test_a_reopened_log_continues_the_same_chain(log_path: Path) -> None:
    with AuditLog(log_path) as first_run:
        before = a_night_of_facts(first_run, 3)
    with AuditLog(log_path) as second_run:
        after = write(second_run, fact(EVENING + DAY))
        assert after.seq == 4
        assert after.prev_hash == before[-1].hash
        assert second_run.verify()


def test_stop_writes_everything_already_queued(log_path: Path) -> None:
    audit_log = AuditLog(log_path)
    audit_log.start()
    futures = [audit_log.append(fact(EVENING, n=n)) for n in range(300)]
    audit_log.stop()

    assert all(future.done() for future in futures)
    assert [future.result().seq for future in futures] == list(range(1, 301))
    with pytest.raises(RuntimeError, match="not running"):
        audit_log.append(fact(EVENING))
    assert len(audit_log.query()) == 300
    assert audit_log.verify()


def test_cancelling_the_wait_never_withdraws_the_record(log_path: Path) -> None:
    with AuditLog(log_path) as audit_log:
        futures = [audit_log.append(fact(EVENING, n=n)) for n in range(50)]
        for future in futures[::2]:
            future.cancel()
    assert [r.data["n"] for r in audit_log.query()] == list(range(50))


def test_the_writer_is_one_named_thread_that_stop_joins(log_path: Path) -> None:
    audit_log = AuditLog(log_path)
    audit_log.start()
    writers = [t for t in threading.enumerate() if t.name == audit.THREAD_NAME]
    assert len(writers) == 1
    assert not writers[0].daemon, "a daemon writer could be cut off in the middle of a commit"
    with pytest.raises(RuntimeError, match="already started"):
        audit_log.start()
    audit_log.stop()
    assert not writers[0].is_alive()


def test_a_log_that_cannot_be_opened_fails_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    audit_log = AuditLog(blocker / "audit.db")

    with pytest.raises(OSError, match="not-a-folder"):
        audit_log.start()
    assert not [t for t in threading.enumerate() if t.name == audit.THREAD_NAME]
    with pytest.raises(RuntimeError, match="not running"):
        audit_log.append(fact(EVENING))


def test_the_file_uses_a_durable_journal(log: AuditLog, log_path: Path) -> None:
    write(log, fact(EVENING))
    with closing(sqlite3.connect(log_path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_records_cannot_be_edited_or_deleted_by_accident(log: AuditLog, log_path: Path) -> None:
    write(log, fact(EVENING))
    with closing(sqlite3.connect(log_path)) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE records SET user_name = 'someone else'")
        with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
            conn.execute("DELETE FROM records")
    assert log.verify()


# --- tamper evidence -------------------------------------------------------------------------


def test_a_fresh_chain_verifies(log: AuditLog) -> None:
    assert log.verify(), "an empty log contradicts nothing"
    a_night_of_facts(log)
    assert log.verify()


def test_editing_a_records_data_in_the_file_is_detected(log: AuditLog, log_path: Path) -> None:
    a_night_of_facts(log)
    tamper(log_path, """UPDATE records SET data = '{"n":3,"slot":"01:30"}' WHERE seq = 4""")
    assert not log.verify()


def test_rewriting_who_looked_is_detected(log: AuditLog, log_path: Path) -> None:
    a_night_of_facts(log)
    tamper(log_path, "UPDATE records SET user_id = 'user-bertil', user_name = 'Bertil'")
    assert not log.verify()


def test_deleting_a_middle_record_is_detected(log: AuditLog, log_path: Path) -> None:
    a_night_of_facts(log)
    tamper(log_path, "DELETE FROM records WHERE seq = 3")
    assert not log.verify()


def test_deleting_the_oldest_record_is_detected(log: AuditLog, log_path: Path) -> None:
    a_night_of_facts(log)
    tamper(log_path, "DELETE FROM records WHERE seq = 1")
    assert not log.verify()


def test_deleting_the_newest_records_is_detected(log: AuditLog, log_path: Path) -> None:
    a_night_of_facts(log)
    tamper(log_path, "DELETE FROM records WHERE seq >= 5")
    assert not log.verify()


def test_removing_the_newest_records_and_writing_on_is_detected(log_path: Path) -> None:
    with AuditLog(log_path) as first_run:
        a_night_of_facts(first_run)
    tamper(log_path, "DELETE FROM records WHERE seq >= 5")
    with AuditLog(log_path) as second_run:
        # New records continue after the highest seq ever issued, so the cut stays visible.
        assert write(second_run, fact(EVENING + DAY)).seq == 7
        for n in range(3):
            write(second_run, fact(EVENING + DAY, n=n))
        assert not second_run.verify()


def test_changing_a_hash_is_detected(log: AuditLog, log_path: Path) -> None:
    records = a_night_of_facts(log)
    tamper(log_path, "UPDATE records SET hash = ? WHERE seq = 6", ("f" * 64,))
    assert not log.verify()
    tamper(log_path, "UPDATE records SET hash = ? WHERE seq = 6", (records[5].hash,))
    assert log.verify()
    # Forging the next link as well does not help: the record's own content gives it away.
    tamper(log_path, "UPDATE records SET hash = ? WHERE seq = 2", ("0" * 64,))
    tamper(log_path, "UPDATE records SET prev_hash = ? WHERE seq = 3", ("0" * 64,))
    assert not log.verify()


def test_swapping_two_records_is_detected(log: AuditLog, log_path: Path) -> None:
    a_night_of_facts(log)
    tamper(log_path, "UPDATE records SET seq = -seq WHERE seq IN (2, 3)")
    tamper(log_path, "UPDATE records SET seq = CASE seq WHEN -2 THEN 3 ELSE 2 END WHERE seq < 0")
    assert not log.verify()


def test_a_damaged_record_is_still_shown_to_the_reviewer(log: AuditLog, log_path: Path) -> None:
    a_night_of_facts(log, 2)
    tamper(log_path, "UPDATE records SET data = 'not json' WHERE seq = 2")
    assert log.query()[1].data == {"unreadable": "not json"}
    assert not log.verify()


# --- retention -------------------------------------------------------------------------------


def months_of_facts(audit_log: AuditLog, months: int, **overrides: Any) -> list[AuditRecord]:
    """One fact a month, the newest at EVENING."""
    return [
        write(audit_log, fact(EVENING - 30 * DAY * (months - 1 - n), n=n, **overrides))
        for n in range(months)
    ]


def purged_rows(path: Path) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(
            "SELECT seq, kind, home, user_id, user_name, data, purged_by FROM records"
            " WHERE kind IS NULL ORDER BY seq"
        ).fetchall()


def test_retention_purge_keeps_the_chain_verifiable(log: AuditLog) -> None:
    records = months_of_facts(log, 36)
    cutoff = EVENING - timedelta(days=730)
    old = [r for r in records if r.at < cutoff]
    assert old, "the test needs records older than the retention"

    removed = log.purge(EVENING)

    assert removed == len(old)
    kept = log.query()
    assert [r.seq for r in kept[:-1]] == [r.seq for r in records if r.at >= cutoff]
    assert log.verify(now=EVENING)
    assert log.verify(head=(records[-1].seq, records[-1].hash), now=EVENING)


def test_the_purge_is_itself_a_record_that_says_what_was_removed(
    log: AuditLog, log_path: Path
) -> None:
    records = months_of_facts(log, 36)
    removed = log.purge(EVENING)

    purge = log.query()[-1]
    assert purge.kind == "purge"
    assert purge.seq == records[-1].seq + 1
    assert purge.prev_hash == records[-1].hash
    assert purge.at == EVENING
    assert purge.data == {
        "homes": {
            "entry-1203": {
                "removed": removed,
                "cutoff": "2024-01-16T21:30:00.000000+00:00",
                "retention_days": 730,
            }
        }
    }
    # What is left of a purged record: its place, nothing of what it said.
    rows = purged_rows(log_path)
    assert [row[0] for row in rows] == [r.seq for r in records[:removed]]
    assert {row[1:6] for row in rows} == {(None, None, None, None, None)}
    assert {row[6] for row in rows} == {purge.seq}


def test_a_purge_with_nothing_old_writes_nothing(log: AuditLog) -> None:
    records = a_night_of_facts(log)
    assert log.purge(EVENING + DAY) == 0
    assert log.query() == records


def test_each_home_purges_by_its_own_retention(log: AuditLog) -> None:
    """A short retention for one home never cuts another home's records, nor the reverse."""
    log.set_retention("entry-short", 90, at=EVENING - 1000 * DAY)
    log.set_retention("entry-long", 365, at=EVENING - 1000 * DAY)
    short = months_of_facts(log, 12, entry_id="entry-short", home="Lgh 1")
    long = months_of_facts(log, 24, entry_id="entry-long", home="Lgh 2")
    unknown = months_of_facts(log, 30, entry_id="entry-unknown", home="Lgh 3")

    log.purge(EVENING)

    kept = {(r.entry_id, r.seq) for r in log.query()}
    for records, days in ((short, 90), (long, 365), (unknown, 730)):
        for record in records:
            young = record.at >= EVENING - days * DAY
            assert ((record.entry_id, record.seq) in kept) == young, (days, record.at)
    purge = log.query()[-1]
    assert {key: value["retention_days"] for key, value in purge.data["homes"].items()} == {
        "entry-short": 90,
        "entry-long": 365,
        "entry-unknown": 730,
    }
    assert log.verify(now=EVENING)


def test_a_removed_homes_records_still_purge_with_the_retention_it_had(
    log_path: Path,
) -> None:
    with AuditLog(log_path) as audit_log:
        audit_log.set_retention("entry-gone", 60, at=EVENING - 400 * DAY)
        months_of_facts(audit_log, 6, entry_id="entry-gone")
        write(audit_log, fact(EVENING, "home_removed", entry_id="entry-gone"))
    # Home Assistant restarts; the home is no longer configured anywhere but in the log.
    with AuditLog(log_path) as audit_log:
        assert audit_log.retentions() == {"entry-gone": 60}
        assert audit_log.purge(EVENING + 200 * DAY) == 7
        assert [r.kind for r in audit_log.query()] == ["retention_set", "purge"]
        assert audit_log.verify(now=EVENING + 200 * DAY)


def test_export_and_delete_of_a_removed_home(log: AuditLog) -> None:
    months_of_facts(log, 3, entry_id="entry-gone")
    other = write(log, fact(EVENING, entry_id="entry-stays"))
    write(log, fact(EVENING, "home_removed", entry_id="entry-gone"))
    closed = log.close_home("entry-gone", at=EVENING)

    assert log.delete_home("entry-gone", EVENING + DAY, requested_by="user-admin") == 4

    assert log.query() == [other, closed, log.query()[-1]]
    purge = log.query()[-1]
    assert purge.data["homes"]["entry-gone"]["deleted_after_removal"] is True
    assert purge.user_id == "user-admin"
    assert log.verify(now=EVENING + DAY)


def test_deleting_a_home_that_was_never_removed_does_not_verify(log: AuditLog) -> None:
    months_of_facts(log, 3, entry_id="entry-here")
    log.delete_home("entry-here", EVENING + DAY, requested_by=None)
    result = log.check(now=EVENING + DAY)
    assert not result.ok
    assert "never removed" in result.reason


def test_retention_is_configurable(log_path: Path) -> None:
    with AuditLog(log_path, retention_days=30) as audit_log:
        a_night_of_facts(audit_log)
        assert audit_log.purge(EVENING + 31 * DAY) == 6
        (purge,) = audit_log.query()
        assert {section["retention_days"] for section in purge.data["homes"].values()} == {30}
        assert audit_log.verify(now=EVENING + 31 * DAY)
    with pytest.raises(ValueError, match="at least 30"):
        AuditLog(log_path, retention_days=29)


def test_repeated_purges_stay_verifiable(log_path: Path) -> None:
    with AuditLog(log_path, retention_days=90) as audit_log:
        months_of_facts(audit_log, 6)
        assert audit_log.purge(EVENING) > 0
        for month in range(1, 13):
            write(audit_log, fact(EVENING + 30 * DAY * month, month=month))
            assert audit_log.purge(EVENING + 30 * DAY * month) > 0
            assert audit_log.verify(now=EVENING + 30 * DAY * month)
        assert audit_log.query()[-1].kind == "purge"
    with AuditLog(log_path, retention_days=90) as reopened:
        assert reopened.verify(now=EVENING + 360 * DAY)


def test_a_fact_stamped_long_ago_but_written_later_is_purged_too(log: AuditLog) -> None:
    old = write(log, fact(EVENING - 800 * DAY))
    young = write(log, fact(EVENING - 10 * DAY))
    late_old = write(log, fact(EVENING - 800 * DAY))

    assert log.purge(EVENING) == 2
    assert [r.seq for r in log.query()] == [young.seq, late_old.seq + 1]
    assert old.seq < young.seq
    assert log.verify(now=EVENING)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE records SET data = '{}' WHERE seq = (SELECT MIN(seq) FROM records"
        " WHERE kind IS NOT NULL)",
        "DELETE FROM records WHERE seq = (SELECT MIN(seq) FROM records)",
        "UPDATE records SET user_name = 'Bertil' WHERE kind = 'session_started'",
        "UPDATE records SET at = '2099-01-01T00:00:00.000000+00:00' WHERE kind IS NULL",
        "UPDATE records SET purged_by = NULL WHERE kind IS NULL",
        "UPDATE records SET data = json_set(data, '$.homes.entry-1203.removed', 1)"
        " WHERE kind = 'purge'",
        "DELETE FROM records WHERE kind = 'purge'",
    ],
    ids=[
        "edit-oldest-kept",
        "delete-oldest",
        "edit-kept",
        "move-purged-record-in-time",
        "orphan-a-purged-record",
        "change-purge-count",
        "delete-purge-record",
    ],
)
def test_tampering_after_a_purge_is_detected(log: AuditLog, log_path: Path, sql: str) -> None:
    months_of_facts(log, 36)
    log.purge(EVENING)
    write(log, fact(EVENING + DAY))
    assert log.verify(now=EVENING + DAY)

    tamper(log_path, sql)

    assert not log.verify(now=EVENING + DAY)


def test_purged_records_are_gone_from_the_file(log_path: Path) -> None:
    with AuditLog(log_path) as audit_log:
        write(audit_log, fact(EVENING - 800 * DAY, user_name="Utgången Operatör"))
        write(audit_log, fact(EVENING))
        assert audit_log.purge(EVENING) == 1
    leftovers = b"".join(p.read_bytes() for p in log_path.parent.iterdir())
    assert "Utgången Operatör".encode() not in leftovers
    assert "Anna Nattsköterska".encode() in leftovers


@settings(max_examples=25, deadline=None)
@given(
    ages=st.lists(st.integers(min_value=0, max_value=1500), min_size=1, max_size=25),
    purges=st.lists(st.integers(min_value=0, max_value=1500), max_size=4),
)
def test_any_mix_of_appends_and_purges_verifies(ages: list[int], purges: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder, AuditLog(Path(folder) / "a.db") as audit_log:
        for age in ages:
            write(audit_log, fact(EVENING - age * DAY, entry_id=f"entry-{age % 3}"))
        audit_log.set_retention("entry-1", 60, at=EVENING)
        head = audit_log.head()
        latest = EVENING
        for days_later in sorted(purges):
            latest = EVENING + days_later * DAY
            audit_log.purge(latest)
            assert audit_log.verify(head=head, now=latest)
        assert audit_log.verify(head=head, now=latest)


# --- never a secret, never a frame ---------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"password": "hunter2"},
        {"camera_password": "hunter2"},
        {"changed": {"stream": {"password": None}}},
        {"refreshToken": "abc"},
        {"access_token": "abc"},
        {"frame": "…"},
        {"last_frame": [1, 2, 3]},
        {"image": "x"},
        {"JPEGData": "x"},
        {"jpeg": "x"},
        {"snapshot": "x"},
        {"pixels": b"\xff\xd8\xff\xe0"},
        {"pixels": bytearray(4)},
        {"frames": [memoryview(b"ab")]},
        {"thumbnail": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="},
        {"thumbnail": "/9j/4AAQSkZJRgABAQAAAQABAAD"},
        {"thumbnail": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"},
        {"stream_url": "rtsp://admin:hunter2@192.0.2.7/stream"},
        {"note": "x" * (audit.MAX_DATA_CHARS + 1)},
        {"reason": float("nan")},
        {"who": object()},
        {1: "key is not text"},
    ],
)
def test_secrets_and_frames_are_redacted_and_the_record_still_written(
    log: AuditLog, data: dict[Any, Any]
) -> None:
    """No fact without its record: what the log must not hold is replaced, never the record."""
    record = write(log, {"kind": "options_changed", "home": "Lgh 1203", "data": data})
    stored = json.dumps(record.data)
    assert "[redacted]" in stored
    for secret in ("hunter2", "/9j/", "iVBORw0KGgo", "data:image", "xxxxxxxxxx"):
        assert secret not in stored
    assert log.query() == [record]
    assert log.verify()


def test_a_stream_url_with_a_password_is_redacted_in_any_field(log: AuditLog) -> None:
    record = write(
        log,
        {
            "kind": "camera_probe",
            "home": "rtsps://a:b@cam.local/live",
            "data": {"note": "see rtsp://admin:hunter2@192.0.2.7/stream now"},
        },
    )
    assert record.home == "[redacted]"
    assert record.data == {"note": "[redacted]"}


def test_facts_about_frames_are_fine(log: AuditLog) -> None:
    record = write(
        log,
        fact(
            EVENING,
            "session_ended",
            frames=287,
            view_mode="bed_area",
            stream_url="rtsp://192.0.2.7/stream",
        ),
    )
    assert record.data["frames"] == 287


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"data": {}}, "kind"),
        ({"kind": "Session Started"}, "kind"),
        ({"kind": "purge"}, "purge"),
        ({"kind": "seal"}, "seal"),
        ({"kind": "retention_set"}, "retention_set"),
        ({"kind": "completed", "seq": 7}, "unknown"),
        ({"kind": "completed", "hash": "0" * 64}, "unknown"),
        ({"kind": "completed", "at": datetime(2026, 1, 15, 22, 30)}, "time zone"),
        ({"kind": "completed", "at": "2026-01-15T22:30:00"}, "time zone"),
        ({"kind": "completed", "at": "yesterday"}, "isoformat"),
    ],
)
def test_refuses_malformed_records(log: AuditLog, record: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        log.append(record)
    assert log.query() == []


def test_at_may_be_iso_text_in_any_zone(log: AuditLog) -> None:
    record = write(log, {"kind": "visit_done", "at": "2026-01-15T23:30:00+01:00"})
    assert record.at == EVENING + timedelta(hours=1)
    assert record.as_dict()["at"] == "2026-01-15T22:30:00.000000+00:00"


# --- crashes and concurrency ---------------------------------------------------------------

# Loads audit.py by its path: the child needs neither Home Assistant nor the package.
CHILD = r"""
import importlib.util
from pathlib import Path
import sys

import types

# A bare package around the module's folder, so its relative import of the verifier resolves.
package = types.ModuleType("tk")
package.__path__ = [str(Path(sys.argv[1]).parent)]
sys.modules["tk"] = package
spec = importlib.util.spec_from_file_location("tk.audit", sys.argv[1])
audit = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = audit
spec.loader.exec_module(audit)
log = audit.AuditLog(Path(sys.argv[2]))
log.start()
in_flight = []
for n in range(int(sys.argv[3])):
    in_flight.append(log.append({"kind": "session_started", "home": "Lgh 1203", "data": {"n": n}}))
    if len(in_flight) == 16:
        for future in in_flight:
            print(future.result().seq, flush=True)
        in_flight.clear()
for future in in_flight:
    print(future.result().seq, flush=True)
log.stop()
"""


def test_a_future_resolves_only_once_its_record_is_committed(log: AuditLog, log_path: Path) -> None:
    visible: list[bool] = []

    def look_from_another_connection(future: Future[AuditRecord]) -> None:
        # Runs in the writer thread at the very moment the future resolves.
        with closing(sqlite3.connect(log_path)) as conn:
            row = conn.execute(
                "SELECT hash FROM records WHERE seq = ?", (future.result().seq,)
            ).fetchone()
        visible.append(row is not None and row[0] == future.result().hash)

    futures = [log.append(fact(EVENING, n=n)) for n in range(200)]
    for future in futures:
        future.add_done_callback(look_from_another_connection)
    for future in futures:
        future.result(timeout=30)
    log.stop()  # callbacks have all run once the writer is gone
    assert len(visible) == 200
    assert all(visible)


def test_a_hard_kill_loses_no_acknowledged_record(log_path: Path) -> None:
    wanted = 500
    acknowledged: list[int] = []
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, audit.__file__, str(log_path), "1000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        try:
            while len(acknowledged) < wanted:
                line = child.stdout.readline()
                assert line, f"the writer died early: {child.stderr.read()}"
                acknowledged.append(int(line))
            child.send_signal(signal.SIGKILL)
            # Acknowledgements printed before the kill are still in the pipe (and partly in
            # our read buffer, so read through the same file object): they count too.
            rest = child.stdout.read()
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
    acknowledged += [int(line) for line in rest.splitlines(keepends=True) if line.endswith("\n")]
    assert child.returncode == -signal.SIGKILL
    assert acknowledged == list(range(1, len(acknowledged) + 1))

    with AuditLog(log_path) as reopened:
        assert reopened.verify()
        kept = {record.seq for record in reopened.query()}
        assert set(acknowledged) <= kept
        # The chain goes on from where the killed writer stopped.
        after = write(reopened, fact(EVENING))
        assert after.seq == max(kept) + 1
        assert reopened.verify()


def test_many_threads_appending_at_once_form_one_valid_chain(log: AuditLog) -> None:
    writers, each = 16, 150

    def operator_round(worker: int) -> list[int]:
        futures = [
            log.append(fact(EVENING, user_id=f"user-{worker}", worker=worker, n=n))
            for n in range(each)
        ]
        return [future.result(timeout=60).seq for future in futures]

    with ThreadPoolExecutor(max_workers=writers) as pool:
        results = list(pool.map(operator_round, range(writers)))

    every_seq = sorted(seq for seqs in results for seq in seqs)
    assert every_seq == list(range(1, writers * each + 1))
    for seqs in results:
        assert seqs == sorted(seqs), "one caller's facts keep their order"
    records = log.query()
    assert len(records) == writers * each
    assert log.verify()
    for worker in range(writers):
        mine = [r.data["n"] for r in records if r.user_id == f"user-{worker}"]
        assert mine == list(range(each))


def test_reading_while_writing_sees_only_whole_chains(log: AuditLog) -> None:
    stop_reading = threading.Event()
    verdicts: list[bool] = []

    def reviewer() -> None:
        while True:
            verdicts.append(log.verify())
            if stop_reading.is_set():
                return

    with ThreadPoolExecutor(max_workers=1) as pool:
        reading = pool.submit(reviewer)
        for n in range(400):
            log.append(fact(EVENING, n=n))
        write(log, fact(EVENING, n=400))
        stop_reading.set()
        reading.result()
    assert verdicts
    assert all(verdicts)


# --- export ----------------------------------------------------------------------------------


def test_csv_export_parses_and_holds_every_hashed_field_of_the_rows_in_range(
    log: AuditLog,
) -> None:
    records = a_night_of_facts(log)

    text = log.export_csv(start=records[1].at, end=records[5].at)

    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == audit.EXPORT_COLUMNS
    # The whole chain is there, so it can be checked; outside the range only its links.
    assert [int(row["seq"]) for row in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0]["kind"] == rows[5]["kind"] == ""
    assert rows[0]["body_hash"]
    assert not rows[0]["hash"]
    for row, record in zip(rows[1:5], records[1:5], strict=True):
        assert row["at"] == record.as_dict()["at"]
        assert row["kind"] == record.kind
        assert row["entry_id"] == record.entry_id
        assert row["home"] == record.home
        assert row["user_name"] == record.user_name
        assert row["user_id"] == record.user_id
        assert json.loads(row["data"]) == record.data
        assert row["prev_hash"] == record.prev_hash
        assert row["hash"] == record.hash

    one_home = list(
        csv.DictReader(io.StringIO(log.export_csv(start=None, end=None, entry_id="entry-1")))
    )
    assert [int(row["seq"]) for row in one_home if row["kind"]] == [2, 4, 6]


def test_csv_export_never_hands_a_spreadsheet_a_formula_yet_stays_checkable(
    log: AuditLog,
) -> None:
    record = write(
        log, fact(EVENING, "visit_done", user_name='=HYPERLINK("http://x")', home="'+Lgh")
    )
    (row,) = csv.DictReader(io.StringIO(log.export_csv(start=None, end=None)))
    assert row["user_name"] == '\'=HYPERLINK("http://x")'
    assert row["home"] == "''+Lgh"
    rows = [
        {key: verify_audit.unescape_cell(value) if value else None for key, value in row.items()}
    ]
    rows[0]["seq"], rows[0]["v"] = 1, 2
    assert verify_audit.verify_rows(rows, head=(1, record.hash)).ok


# --- a log written by version 0.1.0 ------------------------------------------------------------

V1_SCHEMA = """
CREATE TABLE records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL, entry_id TEXT,
    home TEXT, user_id TEXT, user_name TEXT, data TEXT NOT NULL, prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE purge_gate (id INTEGER PRIMARY KEY CHECK (id = 1), open INTEGER NOT NULL);
INSERT INTO purge_gate (id, open) VALUES (1, 0);
CREATE TRIGGER records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
PRAGMA user_version=1;
"""


def test_a_log_of_version_0_1_0_carries_over_and_still_verifies(log_path: Path) -> None:
    log_path.parent.mkdir(parents=True)
    prev = audit.GENESIS_HASH
    rows = []
    for seq in range(1, 6):
        at = audit._format_at(EVENING - (10 - seq) * DAY)
        data = json.dumps({"n": seq}, separators=(",", ":"))
        digest = verify_audit.hash_v1(
            seq, at, "session_started", "entry-1", "Lgh 1", "u", "Anna", data, prev
        )
        rows.append(
            (seq, at, "session_started", "entry-1", "Lgh 1", "u", "Anna", data, prev, digest)
        )
        prev = digest
    with closing(sqlite3.connect(log_path)) as conn:
        conn.executescript(V1_SCHEMA)
        conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.commit()

    with AuditLog(log_path) as audit_log:
        assert audit_log.verify(head=(5, prev), now=EVENING)
        record = write(audit_log, fact(EVENING))
        assert record.seq == 6
        assert record.prev_hash == prev
        assert audit_log.purge(EVENING + 800 * DAY) == 6
        assert audit_log.verify(head=(5, prev), now=EVENING + 800 * DAY)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63), st.text()),
        max_size=10,
    )
)
def test_the_fast_hash_serialisation_is_json_exactly(values: list[Any]) -> None:
    """The verifier builds the hashed JSON by hand; it must be json.dumps's text, byte for byte."""
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    assert verify_audit._digest(values) == hashlib.sha256(text.encode("utf-8")).hexdigest()
