"""Audit log: appends per second, verify time against a head, and the export's size per year.

    .venv/bin/python bench/audit.py [--records 1000000] [--homes 100] [--dir /disk/to/measure]

Figures:
- appends by one caller that waits for each commit (one fsync per record: the worst case, a
  home logging one fact at a time) and by several callers at once (records share commits);
- `verify(head=...)` over the whole log (`--records`, default one million) against the head
  kept before, as `audit_log` does, and the standalone verifier over a JSON Lines export;
- the export's size for a year of `--homes` homes (JSON Lines and CSV), from a generated year of
  nights: per home and night, three agreed times each with `session_started`, `session_ended`
  and `completed`, one `night_report`, and the seal that follows it (11 records), plus the
  daily seal.

Checks itself: the log verifies against its head, a copy with one record changed does not,
the standalone verifier agrees, and every figure is positive; a degenerate run exits non-zero.
"""

import argparse
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
import importlib.util
import json
from pathlib import Path
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import types

# Loaded by path as a bare package: audit.py needs no Home Assistant, and the bench should not
# pay for importing it.
_PACKAGE = Path(__file__).resolve().parent.parent / "custom_components/trygghetskamera"
_package = types.ModuleType("tk")
_package.__path__ = [str(_PACKAGE)]
sys.modules["tk"] = _package
_spec = importlib.util.spec_from_file_location("tk.audit", _PACKAGE / "audit.py")
assert _spec is not None
assert _spec.loader is not None
audit = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = audit
_spec.loader.exec_module(audit)
VERIFIER = _PACKAGE / "verify_audit.py"

START = datetime(2026, 1, 15, 21, 30, tzinfo=UTC)
SEQUENTIAL_RECORDS = 2000
SEQUENTIAL_SECONDS = 6.0
PRODUCERS = 8
TIMES = ("22:30", "01:30", "04:30")


def session_fact(n: int) -> dict[str, object]:
    """A realistic record: a session's end in one of 30 homes, a few minutes apart."""
    home = n % 30
    return {
        "at": START + timedelta(seconds=20 * n),
        "kind": "session_ended",
        "entry_id": f"entry-{home:02d}",
        "home": f"Lgh {1200 + home}",
        "user_id": "9f1c2a8e4b7d4c3f8a6e5d2b1c0a9f8e",
        "user_name": "Anna Nattsköterska",
        "data": {
            "slot": (START + timedelta(hours=n % 3 * 3)).isoformat(),
            "outcome": "ok",
            "duration_s": 21.4,
            "view_mode": "bed_area",
            "session_id": f"s-{n:08d}",
        },
    }


def sequential(log: audit.AuditLog, limit: int) -> tuple[int, float, list[float]]:
    """Append one record at a time, waiting for each commit; return count, seconds, latencies."""
    latencies: list[float] = []
    began = time.perf_counter()
    while len(latencies) < limit and time.perf_counter() - began < SEQUENTIAL_SECONDS:
        sent = time.perf_counter()
        log.append(session_fact(len(latencies))).result()
        latencies.append(time.perf_counter() - sent)
    return len(latencies), time.perf_counter() - began, latencies


def concurrent(log: audit.AuditLog, offset: int, total: int) -> float:
    """Append `total` records from several threads at once; return seconds until all committed."""
    share = [total // PRODUCERS + (i < total % PRODUCERS) for i in range(PRODUCERS)]
    firsts = [offset + sum(share[:i]) for i in range(PRODUCERS)]

    def producer(worker: int) -> None:
        futures = [log.append(session_fact(firsts[worker] + n)) for n in range(share[worker])]
        for future in futures:
            future.result()

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=PRODUCERS) as pool:
        list(pool.map(producer, range(PRODUCERS)))
    return time.perf_counter() - began


class Bulk:
    """Writes records straight into a log's file in one transaction, hashed as the log does.

    Appending a million records one commit (and fsync) at a time takes far longer than the
    figures this bench is after (verify time, export size); the rows are the same.
    """

    def __init__(self, path: Path) -> None:
        with audit.AuditLog(path):
            pass  # creates the schema
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("BEGIN")
        self.seq, self.prev = 0, audit.GENESIS_HASH

    def append(self, record: dict[str, object]) -> None:
        pending = audit._validate(record)
        self._insert(pending)

    def seal(self, at: datetime) -> None:
        data = json.dumps({"hash": self.prev, "seq": self.seq}, separators=(",", ":"))
        self._insert(
            audit._Pending(
                at=audit._format_at(at),
                kind="seal",
                entry_id=None,
                home=None,
                user_id=None,
                user_name=None,
                data=data,
            )
        )

    def _insert(self, pending: object) -> None:
        record = audit._insert(self.conn, self.seq + 1, pending, self.prev)
        self.seq, self.prev = record.seq, record.hash

    def close(self) -> tuple[int, str]:
        self.conn.execute("COMMIT")
        self.conn.close()
        return self.seq, self.prev


def a_year_of_nights(log: Bulk, homes: int) -> int:
    """Write a year of nights of `homes` homes (see the module docstring); return the count."""
    written = 0
    for day in range(365):
        evening = START + timedelta(days=day)
        for home in range(homes):
            base = {
                "entry_id": f"entry-{home:03d}",
                "home": f"Lgh {1000 + home}",
                "user_id": "9f1c2a8e4b7d4c3f8a6e5d2b1c0a9f8e",
                "user_name": "Anna Nattsköterska",
            }
            for n, slot in enumerate(TIMES):
                at = evening + timedelta(hours=1 + 3 * n, seconds=home)
                facts = (
                    ("session_started", {"slot": slot, "purpose": "supervision"}),
                    ("session_ended", {"slot": slot, "seconds": 21.4, "view_mode": "bed_area"}),
                    ("completed", {"slot": slot, "outcome": "ok", "follow_ups": 0}),
                )
                for kind, data in facts:
                    log.append(base | {"kind": kind, "at": at, "data": data})
            report = {"night": evening.date().isoformat(), "slots": list(TIMES), "visits_open": 0}
            log.append(
                base | {"kind": "night_report", "at": evening + timedelta(hours=9), "data": report}
            )
            log.seal(evening + timedelta(hours=9))  # the seal after each night report
            written += 11
        log.seal(evening + timedelta(hours=15))  # the daily seal
        written += 1
    return written


def export_size(log: audit.AuditLog, folder: Path) -> tuple[int, int, Path]:
    """Write the whole log as JSON Lines and CSV; return both sizes and the JSON Lines path."""
    jsonl = folder / "export.jsonl"
    with jsonl.open("w", encoding="utf-8") as out:
        out.writelines(log.export_jsonl())
    csv_path = folder / "export.csv"
    with csv_path.open("w", encoding="utf-8", newline="") as out:
        out.writelines(log.export_csv_lines())
    return jsonl.stat().st_size, csv_path.stat().st_size, jsonl


def standalone(export: Path, head: tuple[int, str]) -> tuple[int, str, float]:
    """Run the auditor's verifier on an export; return its exit code, output and seconds."""
    began = time.perf_counter()
    now = (START + timedelta(days=3650)).isoformat()
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            str(VERIFIER),
            str(export),
            "--head",
            f"{head[0]}:{head[1]}",
            "--now",
            now,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--homes", type=int, default=100)
    parser.add_argument("--concurrent", type=int, default=10_000, help="appends by 8 callers")
    parser.add_argument("--dir", type=Path, default=None, help="folder on the disk to measure")
    args = parser.parse_args()
    failures: list[str] = []

    with tempfile.TemporaryDirectory(dir=args.dir) as name:
        folder = Path(name)
        path = folder / "appends.db"
        print(f"SQLite {sqlite3.sqlite_version}, WAL, synchronous=FULL, in {folder}")
        with audit.AuditLog(path) as log:
            count, seconds, latencies = sequential(log, SEQUENTIAL_RECORDS)
            latencies.sort()
            print(
                f"one caller, waiting for each commit: {count / seconds:9,.0f} appends/s"
                f"  (latency p50 {statistics.median(latencies) * 1000:.2f} ms,"
                f" p99 {latencies[int(len(latencies) * 0.99)] * 1000:.2f} ms, {count:,} records)"
            )
            seconds = concurrent(log, count, args.concurrent)
            print(
                f"{PRODUCERS} callers at once:                 "
                f"{args.concurrent / seconds:9,.0f} appends/s"
                f"  ({args.concurrent:,} records in {seconds:.2f} s)"
            )

        path = folder / "million.db"
        bulk = Bulk(path)
        for n in range(args.records):
            bulk.append(session_fact(n))
            if n % 1000 == 999:
                bulk.seal(START + timedelta(seconds=20 * n))
        head = bulk.close()
        with audit.AuditLog(path) as log:
            began = time.perf_counter()
            result = log.check(head=head, now=START + timedelta(days=3650))
            verify_s = time.perf_counter() - began
            print(
                f"verify(head=...) over {result.records:,} records: {verify_s:9.2f} s"
                f"  ({result.records / verify_s:,.0f} records/s, {result})"
            )
            if not result.ok:
                failures.append(f"the log does not verify against its head: {result}")
        size = path.stat().st_size / 1e6
        print(f"file size: {size:.1f} MB ({size * 1e6 / head[0]:.0f} bytes/record)")

        # One changed record must fail (the bench would be meaningless if everything passed).
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TRIGGER records_no_update")
            conn.execute("UPDATE records SET user_name = 'Bertil' WHERE seq = ?", (head[0] // 2,))
        with audit.AuditLog(path) as forged:
            if forged.verify(head=head, now=START + timedelta(days=3650)):
                failures.append("a changed record verified")
        path.unlink()

        year = folder / "year"
        year.mkdir()
        bulk = Bulk(year / "trygghetskamera_audit.db")
        records = a_year_of_nights(bulk, args.homes)
        year_head = bulk.close()
        with audit.AuditLog(year / "trygghetskamera_audit.db") as log:
            jsonl_bytes, csv_bytes, export = export_size(log, year)
        print(
            f"a year of {args.homes} homes: {records:,} records;"
            f" export {jsonl_bytes / 1e6:.1f} MB JSON Lines, {csv_bytes / 1e6:.1f} MB CSV"
            f" ({jsonl_bytes / records:.0f} / {csv_bytes / records:.0f} bytes/record)"
        )
        code, output, standalone_s = standalone(export, year_head)
        print(f"standalone verify_audit.py over that year: {standalone_s:.1f} s: {output.strip()}")
        if code != 0:
            failures.append(f"the standalone verifier refused a real export: {output}")
        lines = export.read_text(encoding="utf-8").splitlines()
        row = json.loads(lines[len(lines) // 2 + 1])
        row["data"] = row["data"].replace("supervision", "commissioning").replace("ok", "bad")
        row["user_id"] = "someone-else"
        lines[len(lines) // 2 + 1] = json.dumps(row)
        bad = year / "tampered.jsonl"
        bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if standalone(bad, year_head)[0] != 1:
            failures.append("the standalone verifier accepted a tampered export")
        if min(verify_s, jsonl_bytes, csv_bytes, records) <= 0 or records != len(lines):
            failures.append("a degenerate run")

    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
