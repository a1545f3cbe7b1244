"""Audit log throughput: acknowledged (committed, fsynced) appends per second and verify() time.

    .venv/bin/python bench/audit.py [--records 100000] [--dir /path/on/the/disk/to/measure]

Three figures: appends by one caller that waits for each commit (one fsync per record, the
worst case: a single home's runtime logging one fact at a time), appends by several callers at
once (records share commits), and `verify()` over the whole log. Runs in well under a minute
on an ordinary SSD.
"""

import argparse
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
import importlib.util
from pathlib import Path
import statistics
import sys
import tempfile
import time

# Loaded by path: audit.py needs no Home Assistant, and the bench should not pay for importing it.
_SOURCE = Path(__file__).resolve().parent.parent / "custom_components/trygghetskamera/audit.py"
_spec = importlib.util.spec_from_file_location("trygghetskamera_audit", _SOURCE)
assert _spec is not None
assert _spec.loader is not None
audit = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = audit
_spec.loader.exec_module(audit)

START = datetime(2026, 1, 15, 21, 30, tzinfo=UTC)
# Sequential appends stop at whichever comes first: this many records or this many seconds.
SEQUENTIAL_RECORDS = 3000
SEQUENTIAL_SECONDS = 8.0
PRODUCERS = 8


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=None, help="folder on the disk to measure")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        path = Path(folder) / "trygghetskamera_audit.db"
        print(f"log: {path}  (SQLite {audit.sqlite3.sqlite_version}, WAL, synchronous=FULL)")
        with audit.AuditLog(path) as log:
            count, seconds, latencies = sequential(log, min(SEQUENTIAL_RECORDS, args.records))
            latencies.sort()
            print(
                f"one caller, waiting for each commit: {count / seconds:9,.0f} appends/s"
                f"  (latency p50 {statistics.median(latencies) * 1000:.2f} ms,"
                f" p99 {latencies[int(len(latencies) * 0.99)] * 1000:.2f} ms, {count:,} records)"
            )
            rest = args.records - count
            seconds = concurrent(log, count, rest)
            print(
                f"{PRODUCERS} callers at once:                 {rest / seconds:9,.0f} appends/s"
                f"  ({rest:,} records in {seconds:.2f} s)"
            )

            began = time.perf_counter()
            ok = log.verify()
            seconds = time.perf_counter() - began
            print(f"verify() over {args.records:,} records:      {seconds:9.2f} s  ({ok=})")
            assert ok

            began = time.perf_counter()
            night = log.query(entry_id="entry-07", start=START, end=START + timedelta(days=1))
            seconds = time.perf_counter() - began
            print(
                f"query one home's night:              {seconds * 1000:9.2f} ms ({len(night)} rows)"
            )
        size = sum(p.stat().st_size for p in Path(folder).iterdir()) / 1e6
        print(f"file size: {size:.1f} MB ({size * 1e6 / args.records:.0f} bytes/record)")


if __name__ == "__main__":
    main()
