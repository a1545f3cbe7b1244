"""The audit log against a forger who has the SQLite file and knows how its hashes are made.

Each test is written as the forger: it edits the real database file of a log that ran, the way
someone with write access to `.storage` could (around the guard triggers, recomputing every hash
after the change so that the chain alone looks whole). What catches it is a head (seq and hash)
that somebody kept before the forgery: the `audit_seal` answer, a `seal` record, the MQTT
message. The standalone verifier (`verify_audit.py`, run as a real subprocess) must catch the same
forgeries in an export.
"""

from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import shutil
import sqlite3
import subprocess
import sys
from typing import Any

import pytest

from custom_components.trygghetskamera import verify_audit
from custom_components.trygghetskamera.audit import AuditLog, AuditRecord

EVENING = datetime(2026, 1, 15, 21, 30, tzinfo=UTC)
DAY = timedelta(days=1)
VERIFIER = Path(verify_audit.__file__)


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / ".storage" / "trygghetskamera_audit.db"


@pytest.fixture
def log(log_path: Path) -> Iterator[AuditLog]:
    audit_log = AuditLog(log_path)
    audit_log.start()
    yield audit_log
    audit_log.stop()


def write(
    audit_log: AuditLog, at: datetime, kind: str = "session_ended", **data: Any
) -> AuditRecord:
    entry = data.pop("entry_id", "entry-1203")
    return audit_log.append(
        {
            "kind": kind,
            "at": at,
            "entry_id": entry,
            "home": "Lgh 1203",
            "user_id": data.pop("user_id", "user-anna"),
            "user_name": "Anna",
            "data": data,
        }
    ).result(timeout=30)


def nights(audit_log: AuditLog, count: int = 10) -> list[AuditRecord]:
    """Looks over `count` nights, the newest a day before EVENING."""
    return [
        write(audit_log, EVENING - (count - n) * DAY, outcome="ok", seconds=20 + n)
        for n in range(count)
    ]


# --- the forger's tools ------------------------------------------------------------------------


def sql(path: Path, *statements: str | tuple[str, tuple[Any, ...]]) -> None:
    """Run statements on the file as a forger: guard triggers dropped, committed."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TRIGGER IF EXISTS records_no_update")
        conn.execute("DROP TRIGGER IF EXISTS records_no_delete")
        for statement in statements:
            if isinstance(statement, tuple):
                conn.execute(*statement)
            else:
                conn.execute(statement)
        conn.commit()


def rechain(path: Path, *, reseal: bool = True) -> None:
    """Recompute every hash from the first record on, so that the chain alone looks whole."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TRIGGER IF EXISTS records_no_update")
        rows = conn.execute(
            "SELECT seq, at, kind, entry_id, home, user_id, user_name, data, content_hash"
            " FROM records ORDER BY seq"
        ).fetchall()
        prev = verify_audit.GENESIS_HASH
        last_seq = 0
        for seq, at, kind, entry_id, home, user_id, user_name, stored, stored_content in rows:
            data, content = stored, stored_content
            if kind == "seal" and reseal:
                # A careful forger re-seals too, so that each seal names the new record before it.
                data = json.dumps({"hash": prev, "seq": last_seq}, separators=(",", ":"))
                conn.execute("UPDATE records SET data = ? WHERE seq = ?", (data, seq))
            if kind is not None:
                content = verify_audit.content_hash(kind, home, user_id, user_name, data)
            digest = verify_audit.link_hash(
                seq, prev, verify_audit.body_hash(at, entry_id, content)
            )
            conn.execute(
                "UPDATE records SET content_hash = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (content, prev, digest, seq),
            )
            prev, last_seq = digest, seq
        conn.commit()


def append_forged(path: Path, kind: str, at: datetime, data: dict[str, Any]) -> None:
    """Append a hand-made record with correct hashes at the end of the chain."""
    with closing(sqlite3.connect(path)) as conn:
        seq, prev = conn.execute("SELECT seq, hash FROM records ORDER BY seq DESC").fetchone()
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        at_text = verify_audit.format_at(at)
        content = verify_audit.content_hash(kind, None, None, None, text)
        digest = verify_audit.link_hash(
            seq + 1, prev, verify_audit.body_hash(at_text, None, content)
        )
        conn.execute(
            "INSERT INTO records (seq, v, at, kind, data, content_hash, prev_hash, hash)"
            " VALUES (?, 2, ?, ?, ?, ?, ?, ?)",
            (seq + 1, at_text, kind, text, content, prev, digest),
        )
        conn.commit()


def set_issued_seq(path: Path) -> None:
    """Make SQLite's own counter agree with the forged end of the log."""
    sql(path, "UPDATE sqlite_sequence SET seq = (SELECT MAX(seq) FROM records)")


# --- the forgeries -------------------------------------------------------------------------------


def test_deleting_the_three_newest_records_fails_against_the_kept_head(
    log: AuditLog, log_path: Path
) -> None:
    nights(log)
    head = log.head()
    assert head is not None

    sql(log_path, "DELETE FROM records WHERE seq > (SELECT MAX(seq) - 3 FROM records)")
    set_issued_seq(log_path)

    # The chain alone cannot see a clean cut at its end: this is why heads are kept elsewhere.
    assert log.verify(now=EVENING)
    result = log.check(head=head, now=EVENING)
    assert not result.ok
    assert "cut back below the head" in result.reason


def test_truncating_the_log_and_writing_on_fails_against_the_kept_head(log_path: Path) -> None:
    with AuditLog(log_path) as audit_log:
        nights(audit_log)
        head = audit_log.head()
    sql(log_path, "DELETE FROM records WHERE seq > 4")
    set_issued_seq(log_path)
    with AuditLog(log_path) as audit_log:
        for n in range(8):
            write(audit_log, EVENING, n=n)
        assert audit_log.verify(now=EVENING)
        assert not audit_log.verify(head=head, now=EVENING)


def test_changing_who_looked_and_recomputing_the_chain_fails_against_the_kept_head(
    log: AuditLog, log_path: Path
) -> None:
    records = nights(log)
    seal = log.seal(EVENING)
    write(log, EVENING, outcome="ok")

    sql(log_path, ("UPDATE records SET user_id = 'user-bertil' WHERE seq = ?", (records[2].seq,)))
    rechain(log_path)

    assert log.verify(now=EVENING), "a recomputed chain is whole in itself"
    for head in ((seal.seq, seal.hash), (records[5].seq, records[5].hash)):
        result = log.check(head=head, now=EVENING)
        assert not result.ok
        assert "does not have the head's hash" in result.reason


def test_a_changed_field_is_caught_even_without_a_head(log: AuditLog, log_path: Path) -> None:
    nights(log)
    sql(log_path, """UPDATE records SET data = '{"outcome":"needs_help"}' WHERE seq = 3""")
    result = log.check(now=EVENING)
    assert not result.ok
    assert result.seq == 3


def test_reordering_records_and_recomputing_the_chain_fails_against_the_kept_head(
    log: AuditLog, log_path: Path
) -> None:
    records = nights(log)
    head = (records[-1].seq, records[-1].hash)
    sql(
        log_path,
        "UPDATE records SET seq = -seq WHERE seq IN (3, 4)",
        "UPDATE records SET seq = CASE seq WHEN -3 THEN 4 ELSE 3 END WHERE seq < 0",
    )
    rechain(log_path)

    assert log.verify(now=EVENING)
    assert not log.verify(head=head, now=EVENING)


def test_deleting_young_records_under_a_hand_made_purge_with_matching_anchor_fails(
    log: AuditLog, log_path: Path
) -> None:
    """The 0.1.0 forgery: cut the oldest records (not yet due) and claim a purge anchored there."""
    records = nights(log)
    head = (records[-1].seq, records[-1].hash)
    victim = records[3]
    sql(log_path, ("DELETE FROM records WHERE seq <= ?", (victim.seq,)))
    append_forged(
        log_path,
        "purge",
        EVENING,
        {
            "removed": victim.seq,
            "cutoff": verify_audit.format_at(EVENING - 730 * DAY),
            "retention_days": 730,
            "anchor_seq": victim.seq,
            "anchor_hash": victim.hash,
        },
    )
    set_issued_seq(log_path)

    result = log.check(head=head, now=EVENING)
    assert not result.ok
    # Nothing is ever cut from the oldest end any more: only a log of 0.1.0 may start later,
    # and such a log's first purge record comes before everything written since.
    assert result.seq is not None


def test_purging_young_records_under_a_hand_made_purge_fails(log: AuditLog, log_path: Path) -> None:
    """Tombstone records that are young, then append a purge record that claims them."""
    records = nights(log)
    head = (records[-1].seq, records[-1].hash)
    young = [r.seq for r in records[:4]]
    sql(
        log_path,
        (
            "UPDATE records SET kind = NULL, home = NULL, user_id = NULL, user_name = NULL,"
            f" data = NULL, purged_by = ? WHERE seq IN ({','.join('?' * len(young))})",
            (records[-1].seq + 1, *young),
        ),
    )
    append_forged(
        log_path,
        "purge",
        EVENING,
        {
            "homes": {
                "entry-1203": {
                    "retention_days": 730,
                    "cutoff": verify_audit.format_at(EVENING - 730 * DAY),
                    "removed": len(young),
                }
            }
        },
    )

    result = log.check(head=head, now=EVENING)
    assert not result.ok
    assert "younger than its retention" in result.reason


def test_a_hand_made_purge_with_a_shorter_retention_than_the_home_had_fails(
    log: AuditLog, log_path: Path
) -> None:
    log.set_retention("entry-1203", 730, at=EVENING - 100 * DAY)
    records = nights(log, 60)
    head = (records[-1].seq, records[-1].hash)
    old = [r.seq for r in records if r.at < EVENING - 30 * DAY]
    sql(
        log_path,
        (
            "UPDATE records SET kind = NULL, home = NULL, user_id = NULL, user_name = NULL,"
            f" data = NULL, purged_by = ? WHERE seq IN ({','.join('?' * len(old))})",
            (records[-1].seq + 1, *old),
        ),
    )
    append_forged(
        log_path,
        "purge",
        EVENING,
        {
            "homes": {
                "entry-1203": {
                    "retention_days": 30,
                    "cutoff": verify_audit.format_at(EVENING - 30 * DAY),
                    "removed": len(old),
                }
            }
        },
    )

    result = log.check(head=head, now=EVENING)
    assert not result.ok
    assert "not its 730" in result.reason


def test_a_hand_made_purge_dated_in_the_future_fails(log: AuditLog, log_path: Path) -> None:
    records = nights(log)
    head = (records[-1].seq, records[-1].hash)
    future = EVENING + 800 * DAY
    sql(
        log_path,
        (
            "UPDATE records SET kind = NULL, home = NULL, user_id = NULL, user_name = NULL,"
            " data = NULL, purged_by = ?",
            (records[-1].seq + 1,),
        ),
    )
    append_forged(
        log_path,
        "purge",
        future,
        {
            "homes": {
                "entry-1203": {
                    "retention_days": 730,
                    "cutoff": verify_audit.format_at(future - 730 * DAY),
                    "removed": len(records),
                }
            }
        },
    )

    result = log.check(head=head, now=EVENING)
    assert not result.ok
    assert "dated in the future" in result.reason


def test_a_seal_names_the_record_before_it(log: AuditLog, log_path: Path) -> None:
    records = nights(log, 3)
    seal = log.seal(EVENING)
    assert seal.kind == "seal"
    assert seal.data == {"seq": records[-1].seq, "hash": records[-1].hash}
    assert log.head() == (seal.seq, seal.hash)
    assert log.verify(head=(seal.seq, seal.hash), now=EVENING)
    sql(log_path, ("UPDATE records SET data = ? WHERE seq = ?", ('{"seq":1,"hash":"x"}', seal.seq)))
    rechain(log_path, reseal=False)
    assert "a seal that does not name" in log.check(now=EVENING).reason


def test_a_head_older_than_the_kept_log_proves_nothing(log_path: Path) -> None:
    """An export that starts after the head's record cannot vouch for the head."""
    with AuditLog(log_path) as audit_log:
        records = nights(audit_log)
    result = verify_audit.verify_rows(
        [row for row in export_rows(log_path) if row["seq"] > 3], head=(2, records[1].hash)
    )
    assert not result.ok


# --- the standalone verifier, as an auditor runs it ---------------------------------------------


def export_rows(path: Path) -> list[dict[str, Any]]:
    with AuditLog(path) as audit_log:
        return list(audit_log.export_rows())


def run_verifier(export: Path, head: tuple[int, str] | None, *extra: str) -> tuple[int, str]:
    args = [sys.executable, "-I", str(VERIFIER), str(export)]
    if head is not None:
        args += ["--head", f"{head[0]}:{head[1]}"]
    done = subprocess.run(
        [*args, "--now", EVENING.isoformat(), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def exported(tmp_path: Path, log_path: Path) -> tuple[Path, Path, tuple[int, str]]:
    """A log with purges, seals, redactions and formula-like text, exported both ways."""
    with AuditLog(log_path) as audit_log:
        audit_log.set_retention("entry-1203", 60, at=EVENING - 200 * DAY)
        for n in range(120):
            write(audit_log, EVENING - (120 - n) * DAY, outcome="ok", n=n)
        write(audit_log, EVENING - DAY, note="=SUM(A1:A9)", user_id="-1+2")
        write(audit_log, EVENING - DAY, note="/9j/4AAQSkZJRg", entry_id="entry-other")
        audit_log.purge(EVENING - 10 * DAY)
        audit_log.seal(EVENING - 10 * DAY)
        write(audit_log, EVENING, "session_ended", note="'quoted", outcome="not_visible")
        head = audit_log.seal(EVENING)
        jsonl = tmp_path / "export.jsonl"
        csv_file = tmp_path / "export.csv"
        jsonl.write_text("".join(audit_log.export_jsonl()), encoding="utf-8")
        csv_file.write_text("".join(audit_log.export_csv_lines()), encoding="utf-8")
    return jsonl, csv_file, (head.seq, head.hash)


@pytest.mark.parametrize("form", ["jsonl", "csv"])
def test_the_standalone_verifier_accepts_a_real_export(
    exported: tuple[Path, Path, tuple[int, str]], form: str
) -> None:
    jsonl, csv_file, head = exported
    code, output = run_verifier(jsonl if form == "jsonl" else csv_file, head)
    assert code == 0, output
    assert output.splitlines()[0] == "ok"


def test_the_standalone_verifier_accepts_one_homes_export(
    tmp_path: Path, exported: tuple[Path, Path, tuple[int, str]], log_path: Path
) -> None:
    _, _, head = exported
    with AuditLog(log_path) as audit_log:
        lines = list(audit_log.export_jsonl(entry_id="entry-other"))
    rows = [json.loads(line) for line in lines]
    assert {row.get("entry_id") for row in rows if row.get("kind") == "session_ended"} == {
        "entry-other"
    }
    export = tmp_path / "one-home.jsonl"
    export.write_text("".join(lines), encoding="utf-8")
    code, output = run_verifier(export, head)
    assert code == 0, output


def _tamper_jsonl(rows: list[dict[str, Any]], how: str) -> list[dict[str, Any]]:
    full = [n for n, row in enumerate(rows) if row.get("kind") == "session_ended"]
    if how == "changed-field":
        rows[full[-1]]["data"] = rows[full[-1]]["data"].replace("not_visible", "ok")
    elif how == "changed-user":
        rows[full[-1]]["user_id"] = "user-bertil"
    elif how == "removed-record":
        del rows[full[-2]]
    elif how == "reordered":
        rows[full[-3]], rows[full[-2]] = rows[full[-2]], rows[full[-3]]
    elif how == "truncated":
        del rows[-3:]
    elif how == "purge-count":
        purge = next(row for row in rows if row.get("kind") == "purge")
        purge["data"] = purge["data"].replace('"removed":', '"removed":1')
    elif how == "young-purged":
        row = rows[full[-1]]
        for key in ("kind", "home", "user_id", "user_name", "data"):
            row[key] = None
        row["purged_by"] = next(r["seq"] for r in rows if r.get("kind") == "purge")
    return rows


@pytest.mark.parametrize(
    "how",
    [
        "changed-field",
        "changed-user",
        "removed-record",
        "reordered",
        "truncated",
        "purge-count",
        "young-purged",
    ],
)
def test_the_standalone_verifier_fails_each_tampered_copy(
    tmp_path: Path, exported: tuple[Path, Path, tuple[int, str]], how: str
) -> None:
    jsonl, _, head = exported
    rows = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    tampered = tmp_path / f"{how}.jsonl"
    tampered.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in _tamper_jsonl(rows, how)),
        encoding="utf-8",
    )
    code, output = run_verifier(tampered, head)
    assert code == 1, output
    assert output.startswith("seq "), output


def test_the_standalone_verifier_fails_a_tampered_csv(
    tmp_path: Path, exported: tuple[Path, Path, tuple[int, str]]
) -> None:
    _, csv_file, head = exported
    text = csv_file.read_text(encoding="utf-8")
    assert ",'-1+2," in text, "a formula reaches a spreadsheet as text"
    tampered = tmp_path / "tampered.csv"
    tampered.write_text(text.replace("not_visible", "ok"), encoding="utf-8")
    code, output = run_verifier(tampered, head)
    assert code == 1, output
    shutil.copy(csv_file, tmp_path / "same.csv")
    assert run_verifier(tmp_path / "same.csv", head)[0] == 0


def test_the_standalone_verifier_needs_nothing_but_the_standard_library(
    tmp_path: Path, exported: tuple[Path, Path, tuple[int, str]]
) -> None:
    """Copied alone into an empty folder and run isolated (-I), as an auditor would."""
    jsonl, _, head = exported
    alone = tmp_path / "auditor" / "verify_audit.py"
    alone.parent.mkdir()
    shutil.copy(VERIFIER, alone)
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(alone), str(jsonl), "--head", f"{head[0]}:{head[1]}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=alone.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wrong = subprocess.run(
        [sys.executable, "-I", "-S", str(alone), str(jsonl), "--head", f"{head[0]}:{'0' * 64}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert wrong.returncode == 1
    assert "head's hash" in wrong.stdout


def test_the_verifier_command_in_process(
    tmp_path: Path,
    exported: tuple[Path, Path, tuple[int, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The command's answers and exit codes, run in this process (the subprocess runs above
    prove the same without Home Assistant; these reach every branch of the command itself)."""
    jsonl, csv_file, head = exported
    given = f"{head[0]}:{head[1]}"
    for export in (jsonl, csv_file):
        assert verify_audit.main([str(export), "--head", given]) == 0
        output = capsys.readouterr().out
        assert output.startswith("ok"), output
        assert f"head {head[0]}:{head[1]}" in output
    # Without a head the chain is still checked on its own.
    assert verify_audit.main([str(jsonl)]) == 0
    assert capsys.readouterr().out.startswith("ok")
    # A head that is not SEQ:HASH, a missing file, a clock without a zone, a line that is not an
    # object: the command cannot check and says why (exit 2), rather than answering ok.
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"seq": 1}\n[1, 2]\n', encoding="utf-8")
    for argv in (
        [str(jsonl), "--head", "12:abc"],
        [str(jsonl), "--head", "x:" + "0" * 64],
        [str(tmp_path / "missing.jsonl")],
        [str(jsonl), "--now", "2026-11-30T12:00:00"],
        [str(broken)],
    ):
        assert verify_audit.main(argv) == 2, argv
        assert capsys.readouterr().err.startswith("cannot check:"), argv
    # A head further on than the export: the export was cut back below it.
    assert verify_audit.main([str(jsonl), "--head", f"{head[0] + 5}:{head[1]}"]) == 1
    assert not capsys.readouterr().out.startswith("ok")
    tampered = tmp_path / "tampered.csv"
    tampered.write_text(
        csv_file.read_text(encoding="utf-8").replace("not_visible", "ok"), encoding="utf-8"
    )
    assert verify_audit.main([str(tampered), "--head", given]) == 1
    assert capsys.readouterr().out.startswith("seq ")
