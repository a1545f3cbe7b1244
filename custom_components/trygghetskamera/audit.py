"""The audit log: an append-only, hash-chained record of every look and every fact.

Swedish law asks the municipality to log who looked at whom and to follow the log up, so this
module is written for the person who reviews it and for the day someone doubts it:

- Every record is committed to SQLite (WAL, `synchronous=FULL`) before the caller is told it is
  written, so a record whose `append` future resolved survives a power cut or a killed process.
- Every record carries the hash of the one before it, so editing, removing or reordering a record
  afterwards is detectable by `verify()`. A chain alone cannot tell a log that was cut back and
  rebuilt from a real one, so `seal` writes the chain's head (seq and hash) as a record of its
  own, and `verify(head=...)` proves the log against any head somebody kept elsewhere.
- Retention purges each home's records by that home's own retention (the latest
  `retention_set` record for it), also after the home was removed. A purged record keeps only its
  number, time, home id and content hash, so the chain stays whole and `verify` can prove that
  it was old enough; a `purge` record says what was removed, per home.
- Nothing visual and no secret ever enters it, yet no fact is lost for it: a value that looks like
  a picture or a secret (bytes, image-like text, a URL with a password, a value under a key such
  as `password` or `frame`) is stored as `[redacted]` and the record is written.

How a record's hash is made, and the export format an auditor checks with their own tools, is
described in `verify_audit.py`, the standard-library-only checker that this module uses too.

The module is plain Python (no Home Assistant import) with a blocking API: one writer thread owns
the only writing connection, so callers on the event loop wrap the `append` future
(`await asyncio.wrap_future(...)`) and run `query`, `verify`, `purge` and `export_csv` in an
executor.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from concurrent.futures import Future
import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
import io
import json
import math
from pathlib import Path
import queue
import re
import sqlite3
import threading
from typing import Any, Final

from .verify_audit import (
    CLOSED_KIND,
    COLUMNS as EXPORT_COLUMNS,
    GENESIS_HASH,
    MIN_RETENTION_DAYS,
    PURGE_KIND,
    RETENTION_KIND,
    SEAL_KIND,
    Result,
    Verifier,
    body_hash,
    content_hash,
    escape_cell,
    link_hash,
)

__all__ = [
    "CLOSED_KIND",
    "DEFAULT_RETENTION_DAYS",
    "EXPORT_COLUMNS",
    "GENESIS_HASH",
    "MIN_RETENTION_DAYS",
    "PURGE_KIND",
    "REDACTED",
    "RETENTION_KIND",
    "SEAL_KIND",
    "AuditLog",
    "AuditRecord",
    "Result",
    "chain_hash",
]

DEFAULT_RETENTION_DAYS: Final = 730
THREAD_NAME: Final = "trygghetskamera-audit"
REDACTED: Final = "[redacted]"
# Written only by the log itself; they hold no personal data and are never purged, so that the
# proof of every purge and seal stays checkable.
_RESERVED_KINDS: Final = frozenset({PURGE_KIND, SEAL_KIND, RETENTION_KIND, CLOSED_KIND})

# Words that mark a secret or a picture when they appear as a word of a `data` key
# (`password`, `camera_password`, `frame`, `jpeg_b64`, `refreshToken` …). A count of frames
# shown is still fine as `frames`.
FORBIDDEN_KEY_WORDS: Final = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "frame",
        "image",
        "jpeg",
        "jpg",
        "png",
        "snapshot",
        "photo",
        "picture",
    }
)
# Text that is a picture in disguise: a data URI, or base64 of a JPEG or PNG file.
_IMAGE_TEXT_PREFIXES: Final = ("data:image", "/9j/", "ivborw0kggo")
# A URL that carries a password in its user info, e.g. rtsp://admin:hunter2@192.0.2.7/stream.
_URL_WITH_PASSWORD: Final = re.compile(r"[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)
# A record describes a fact; anything bigger than this is data that does not belong here.
MAX_DATA_CHARS: Final = 65_536
# One text value longer than this is not a fact (a note is a sentence or two) and is redacted.
MAX_TEXT_CHARS: Final = 4_000
_KIND: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Splits snake_case, kebab-case, camelCase and ACRONYMWords (`JPEGData` -> `JPEG`, `Data`).
_KEY_WORD_SPLIT: Final = re.compile(
    r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])"
)

_RECORD_FIELDS: Final = frozenset(
    {"at", "kind", "entry_id", "home", "user_id", "user_name", "data"}
)
# Group commit: records queued while a commit is in flight share the next one, which keeps many
# concurrent writers fast without ever resolving a future before its row is durable.
_MAX_BATCH: Final = 512

_SCHEMA_VERSION: Final = 2
_TABLE: Final = """
CREATE TABLE records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    v INTEGER NOT NULL DEFAULT 2,
    at TEXT NOT NULL,
    kind TEXT,
    entry_id TEXT,
    home TEXT,
    user_id TEXT,
    user_name TEXT,
    data TEXT,
    content_hash TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    purged_by INTEGER
);
"""
_SCHEMA: Final = """
CREATE INDEX IF NOT EXISTS records_at ON records (at);
CREATE INDEX IF NOT EXISTS records_entry_at ON records (entry_id, at);
CREATE INDEX IF NOT EXISTS records_kind ON records (kind, entry_id);
CREATE TABLE IF NOT EXISTS purge_gate (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    open INTEGER NOT NULL
);
INSERT OR IGNORE INTO purge_gate (id, open) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
WHEN (SELECT open FROM purge_gate WHERE id = 1) IS NOT 1
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
BEGIN
    SELECT RAISE(ABORT, 'audit records are never deleted, only purged of their content');
END;
"""
# The triggers guard against accidents (a stray tool, a wrong query), not against someone who
# edits the file on purpose: that is what the hash chain and the kept heads are for.
_V1_COLUMNS: Final = "seq, at, kind, entry_id, home, user_id, user_name, data, prev_hash, hash"
_COLUMNS: Final = (
    "seq, v, at, kind, entry_id, home, user_id, user_name, data, content_hash, prev_hash, hash,"
    " purged_by"
)
_FACTS: Final = " kind IS NOT NULL"
# A log written by version 0.1.0 moves over to this schema; its hashes stay version 1.
_MIGRATE_V1: Final = f"""
DROP TRIGGER IF EXISTS records_no_update;
DROP TRIGGER IF EXISTS records_no_delete;
ALTER TABLE records RENAME TO records_v1;
{_TABLE}
INSERT INTO records (v, {_V1_COLUMNS}) SELECT 1, {_V1_COLUMNS} FROM records_v1;
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'records', seq FROM sqlite_sequence WHERE name = 'records_v1'
    AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'records');
UPDATE sqlite_sequence SET seq = MAX(seq, (
    SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'records_v1'
)) WHERE name = 'records';
DROP TABLE records_v1;
"""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One committed record of the audit log."""

    seq: int
    at: datetime
    kind: str
    entry_id: str | None
    home: str | None
    user_id: str | None
    user_name: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        """Return the record as JSON-safe values, e.g. for a service response."""
        return {
            "seq": self.seq,
            "at": _format_at(self.at),
            "kind": self.kind,
            "entry_id": self.entry_id,
            "home": self.home,
            "user_id": self.user_id,
            "user_name": self.user_name,
            # A fresh copy, so the caller cannot change what later callers see.
            "data": json.loads(_dump(self.data)),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class _Pending:
    """A validated record waiting for its seq and hashes, in the form it will be stored."""

    at: str
    kind: str
    entry_id: str | None
    home: str | None
    user_id: str | None
    user_name: str | None
    data: str


class AuditLog:
    """An append-only, hash-chained audit log in one SQLite file, written by one thread."""

    def __init__(self, path: Path, *, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        """Prepare a log at `path`; nothing is opened until `start`.

        `retention_days` applies to homes for which the log holds no `retention_set` record.
        """
        _check_retention(retention_days)
        self.path = Path(path)
        self.retention_days = retention_days
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        # Held while checking `_accepting` and queuing, so nothing can slip in behind the
        # sentinel that `stop` queues and wait forever.
        self._lock = threading.Lock()
        self._accepting = False
        self._thread: threading.Thread | None = None
        # Owned by the writer thread once started.
        self._last_seq = 0
        self._last_hash = GENESIS_HASH

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Open the database and start the writer thread; raise if the file cannot be opened."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the audit log was already started")
            ready: Future[None] = Future()
            self._thread = threading.Thread(
                target=self._run, args=(ready,), name=THREAD_NAME, daemon=False
            )
            self._thread.start()
            try:
                ready.result()
            except BaseException:
                self._thread.join()
                self._thread = None
                raise
            self._accepting = True

    def stop(self) -> None:
        """Write everything queued so far, close the database and join the writer thread."""
        with self._lock:
            thread = self._thread
            if thread is None or not self._accepting:
                return
            self._accepting = False
            self._queue.put(None)
        thread.join()
        with self._lock:
            # Stopped for good: a later `start` opens the file again (after a failure, say).
            self._thread = None

    @property
    def running(self) -> bool:
        """True while records are accepted."""
        return self._accepting

    def __enter__(self) -> AuditLog:
        """Start the log for a `with` block."""
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the log when the `with` block ends."""
        self.stop()

    # --- writing --------------------------------------------------------------------------

    def append(self, record: Mapping[str, Any]) -> Future[AuditRecord]:
        """Queue one record; the future resolves with it once its row is committed to disk.

        `record` holds `kind` and optionally `at` (aware datetime or ISO text; default now),
        `entry_id`, `home`, `user_id`, `user_name` and `data` (a JSON object). The writer
        assigns `seq`, `prev_hash` and `hash`. A value that looks like a secret or a picture
        is stored as `[redacted]` (the record is still written: the fact happened). Raises
        ValueError, before anything is queued, only for a malformed record (an unknown field,
        a kind that is not a snake_case word or is reserved, a naive time). Cancelling the
        future does not withdraw the record: the fact happened, so it is written anyway.
        """
        pending = _validate(record)
        future: Future[AuditRecord] = Future()
        self._submit(_Item(pending, None, future))
        return future

    def seal(self, now: datetime) -> AuditRecord:
        """Write a `seal` record naming the head before it; return the seal (the new head)."""
        at = _format_at(_aware(now, "now"))
        future: Future[AuditRecord] = Future()
        self._submit(_Item(None, lambda conn: self._seal(conn, at), future))
        return future.result()

    def set_retention(
        self, entry_id: str, days: int, *, at: datetime, home: str | None = None
    ) -> AuditRecord:
        """Record the retention of a home's records (`retention_set`); purges follow it."""
        _check_retention(days)
        pending = _Pending(
            at=_format_at(_aware(at, "at")),
            kind=RETENTION_KIND,
            entry_id=entry_id,
            home=home,
            user_id=None,
            user_name=None,
            data=_dump({"retention_days": days}),
        )
        future: Future[AuditRecord] = Future()
        self._submit(_Item(pending, None, future))
        return future.result()

    def close_home(self, entry_id: str, *, at: datetime) -> AuditRecord:
        """Record that a home was removed (`home_closed`); its log may be deleted after this."""
        pending = _Pending(
            at=_format_at(_aware(at, "at")),
            kind=CLOSED_KIND,
            entry_id=entry_id,
            home=None,
            user_id=None,
            user_name=None,
            data="{}",
        )
        future: Future[AuditRecord] = Future()
        self._submit(_Item(pending, None, future))
        return future.result()

    def purge(self, now: datetime) -> int:
        """Purge every record older than its home's retention; return how many were purged.

        A home's retention is the latest `retention_set` record for it (removed homes keep
        theirs), else `retention_days`; records of no home (the installation's: exports,
        reviews) keep the longest of them. A purged record loses its content (kind, home,
        users, data) but keeps its place in the chain: seq, time, home id, content hash and
        hashes, and `purged_by`, the seq of the `purge` record written in the same transaction
        that states per home the `retention_days`, `cutoff` and how many were `removed`.
        `seal`, `purge`, `retention_set` and `home_closed` records hold nothing personal and
        are never purged. When nothing is old enough, nothing is written and 0 returned.
        """
        moment = _aware(now, "now")
        future: Future[int] = Future()
        self._submit(_Item(None, lambda conn: self._purge(conn, moment, None, None), future))
        return future.result()

    def delete_home(self, entry_id: str, now: datetime, *, requested_by: str | None) -> int:
        """Purge every record of a removed home now (after its export); return how many.

        The purge record marks it `deleted_after_removal` with who asked; `verify` accepts it
        only for a home whose `home_closed` record (see `close_home`) comes before it.
        """
        moment = _aware(now, "now")
        future: Future[int] = Future()
        self._submit(
            _Item(None, lambda conn: self._purge(conn, moment, entry_id, requested_by), future)
        )
        return future.result()

    def _submit(self, item: _Item) -> None:
        with self._lock:
            if not self._accepting:
                raise RuntimeError("the audit log is not running")
            self._queue.put(item)

    # --- reading (any thread, own connection) ---------------------------------------------

    def query(
        self,
        *,
        entry_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
        kinds: tuple[str, ...] | None = None,
    ) -> list[AuditRecord]:
        """Return records (not purged ones) in seq order, optionally filtered.

        Filters: one home, `start <= at < end`, the given kinds. With `limit`, the newest
        `limit` matching records are returned (still oldest first).
        """
        where, params = _filters(entry_id, start, end, kinds)
        sql = f"SELECT {_COLUMNS} FROM records{where} ORDER BY seq"
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise ValueError("limit must be a non-negative int")
            sql = (
                f"SELECT * FROM (SELECT {_COLUMNS} FROM records{where} ORDER BY seq DESC LIMIT ?)"
                " ORDER BY seq"
            )
            params.append(limit)
        with self._reader() as conn:
            return [_row_to_record(row) for row in conn.execute(sql, params)]

    def retentions(self) -> dict[str, int]:
        """The retention in days that the log holds for each home (removed ones too)."""
        with self._reader() as conn:
            return _retentions(conn)

    def verify(self, head: tuple[int, str] | None = None, now: datetime | None = None) -> bool:
        """True when the whole kept chain is intact (and holds `head`, if given); see `check`."""
        return self.check(head=head, now=now).ok

    def check(self, head: tuple[int, str] | None = None, now: datetime | None = None) -> Result:
        """Recompute the whole chain; the result names the first record that breaks.

        Checks every hash against its record, every link, that seq runs without gaps from the
        first record, every seal (it names the record before it), every purge (its cutoff is
        its date minus the home's recorded retention; no purge is dated after `now`) and every
        purged record (older than its purge's cutoff for its home). With `head` (seq, hash kept
        elsewhere), the record at that seq must still have that hash: a log cut back below the
        head, or rewritten up to it, fails.
        """
        with self._reader() as conn:
            # One read transaction, so every row comes from the same moment.
            conn.execute("BEGIN")
            try:
                verifier = Verifier(head=head, now=now)
                for row in conn.execute(f"SELECT {_COLUMNS} FROM records ORDER BY seq"):
                    if not verifier.feed(_row_dict(row, with_body=False)):
                        break
                result = verifier.finish()
                issued = conn.execute(
                    "SELECT seq FROM sqlite_sequence WHERE name = 'records'"
                ).fetchone()
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError as err:
                # A corrupted file cannot vouch for anything.
                return Result(False, f"the database is damaged ({err})")
        # A careless deletion of the newest records also leaves the issued seq behind; anyone
        # can rewrite that counter, which is why only a kept head proves the end of the log.
        last = result.head[0] if result.head else 0
        if result.ok and issued is not None and int(issued[0]) > last:
            return Result(False, "the newest records are missing", int(issued[0]), result.records)
        return result

    def holds(self, head: tuple[int, str]) -> str | None:
        """Whether the log still holds `head` (seq, hash): None if it does, else why not.

        One row is read, so that this can run at every start: the full `check` recomputes the
        chain, which takes minutes for a large log.
        """
        seq, digest = head
        with self._reader() as conn:
            row = conn.execute("SELECT hash FROM records WHERE seq = ?", (seq,)).fetchone()
            newest = conn.execute("SELECT MAX(seq) FROM records").fetchone()
        last = int(newest[0]) if newest and newest[0] is not None else 0
        if row is None:
            if last < seq:
                return f"the log ends at seq {last}, below the kept head at seq {seq}"
            return f"the record at the kept head's seq {seq} is gone"
        if str(row[0]) != digest:
            return f"the record at the kept head's seq {seq} has another hash"
        return None

    def head(self) -> tuple[int, str] | None:
        """Return the seq and hash of the newest committed record, or None for an empty log."""
        with self._reader() as conn:
            row = conn.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def export_rows(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        entry_id: str | None = None,
    ) -> Generator[dict[str, Any]]:
        """Every row of the chain from its first record, for an export an auditor can check.

        Rows of the selected home and period carry every field exactly as hashed; purged rows
        their remains; `seal`, `purge` and `retention_set` records always all of themselves;
        every other row is elided to its `seq`, `v` and `body_hash` (or `hash` for version 1).
        """
        start_text = _format_at(_aware(start, "start")) if start is not None else None
        end_text = _format_at(_aware(end, "end")) if end is not None else None
        with self._reader() as conn:
            conn.execute("BEGIN")
            for row in conn.execute(f"SELECT {_COLUMNS} FROM records ORDER BY seq"):
                values = _row_dict(row)
                selected = (
                    (entry_id is None or values["entry_id"] == entry_id)
                    and (start_text is None or values["at"] >= start_text)
                    and (end_text is None or values["at"] < end_text)
                )
                if selected or values["kind"] in _RESERVED_KINDS:
                    yield values
                elif values["v"] == 1:
                    yield {"seq": values["seq"], "v": 1, "hash": values["hash"]}
                else:
                    yield {"seq": values["seq"], "v": 2, "body_hash": values["body_hash"]}

    def export_jsonl(self, **filters: Any) -> Generator[str]:
        """The export as JSON Lines, one row a line (see `export_rows`)."""
        for row in self.export_rows(**filters):
            yield json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"

    def export_csv_lines(self, **filters: Any) -> Generator[str]:
        """The export as CSV lines; text cells escaped reversibly against formulas."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        for row in self.export_rows(**filters):
            writer.writerow(
                [
                    ""
                    if (value := row.get(column)) is None
                    else escape_cell(value)
                    if isinstance(value, str)
                    else value
                    for column in EXPORT_COLUMNS
                ]
            )
            yield out.getvalue()
            out.seek(0)
            out.truncate()
        yield out.getvalue()

    def export_csv(
        self,
        *,
        start: datetime | None,
        end: datetime | None,
        entry_id: str | None = None,
    ) -> str:
        """Return the export as CSV text (see `export_rows` and `verify_audit.py`)."""
        return "".join(self.export_csv_lines(start=start, end=end, entry_id=entry_id))

    def _reader(self) -> _ReadConnection:
        return _ReadConnection(self.path)

    # --- the writer thread ----------------------------------------------------------------

    def _run(self, ready: Future[None]) -> None:
        try:
            conn = self._open()
        except BaseException as err:
            ready.set_exception(err)
            return
        ready.set_result(None)
        try:
            self._serve(conn)
        finally:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise RuntimeError(f"{self.path} cannot use write-ahead logging ({mode})")
            # FULL syncs the WAL on every commit: a resolved future means the row is on disk.
            conn.execute("PRAGMA synchronous=FULL")
            # Retention is a promise to delete: overwrite purged content instead of leaving it
            # readable in free pages.
            conn.execute("PRAGMA secure_delete=ON")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise RuntimeError(f"{self.path} was written by a newer version ({version})")
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'"
            ).fetchone()
            table = _TABLE if exists is None else _MIGRATE_V1 if version < 2 else ""
            conn.executescript(
                f"BEGIN IMMEDIATE;{table}{_SCHEMA}PRAGMA user_version={_SCHEMA_VERSION};COMMIT;"
            )
            # Continue after the highest seq ever issued, not the highest present: if the newest
            # records were removed, the gap stays visible to `verify`.
            issued = conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'records'"
            ).fetchone()
            last = conn.execute(
                "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            self._last_seq = max(int(issued[0]) if issued else 0, int(last[0]) if last else 0)
            self._last_hash = str(last[1]) if last else GENESIS_HASH
        except BaseException:
            _rollback(conn)
            conn.close()
            raise
        return conn

    def _serve(self, conn: sqlite3.Connection) -> None:
        # Items are handled strictly in queue order; `held` is the one that ended a batch.
        held: _Item | None = None
        while True:
            item = held or self._queue.get()
            held = None
            if item is None:
                return
            if item.job is not None:
                self._run_job(conn, item)
                continue
            batch = [item]
            stopping = False
            while len(batch) < _MAX_BATCH:
                try:
                    following = self._queue.get_nowait()
                except queue.Empty:
                    break
                if following is None:
                    stopping = True
                    break
                if following.job is not None:
                    held = following
                    break
                batch.append(following)
            self._write_batch(conn, batch)
            if stopping:
                return

    def _write_batch(self, conn: sqlite3.Connection, batch: list[_Item]) -> None:
        # A future the caller already cancelled still gets its record written (see `append`).
        waiting = [item.future.set_running_or_notify_cancel() for item in batch]
        seq, prev_hash = self._last_seq, self._last_hash
        records: list[AuditRecord] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in batch:
                assert item.pending is not None
                record = _insert(conn, seq + 1, item.pending, prev_hash)
                records.append(record)
                seq, prev_hash = record.seq, record.hash
            conn.execute("COMMIT")
        except BaseException as err:
            _rollback(conn)
            for item, wants in zip(batch, waiting, strict=True):
                if wants:
                    item.future.set_exception(err)
            if not isinstance(err, Exception):
                raise
            return
        self._last_seq, self._last_hash = seq, prev_hash
        for item, wants, record in zip(batch, waiting, records, strict=True):
            if wants:
                item.future.set_result(record)

    def _run_job(self, conn: sqlite3.Connection, item: _Item) -> None:
        assert item.job is not None
        if not item.future.set_running_or_notify_cancel():
            return
        try:
            result = item.job(conn)
        except BaseException as err:
            _rollback(conn)
            item.future.set_exception(err)
            if not isinstance(err, Exception):
                raise
            return
        item.future.set_result(result)

    def _append_now(self, conn: sqlite3.Connection, pending: _Pending) -> AuditRecord:
        record = _insert(conn, self._last_seq + 1, pending, self._last_hash)
        conn.execute("COMMIT")
        self._last_seq, self._last_hash = record.seq, record.hash
        return record

    def _seal(self, conn: sqlite3.Connection, at: str) -> AuditRecord:
        conn.execute("BEGIN IMMEDIATE")
        pending = _Pending(
            at=at,
            kind=SEAL_KIND,
            entry_id=None,
            home=None,
            user_id=None,
            user_name=None,
            data=_dump({"seq": self._last_seq, "hash": self._last_hash}),
        )
        return self._append_now(conn, pending)

    def _purge(
        self,
        conn: sqlite3.Connection,
        now: datetime,
        delete_entry: str | None,
        requested_by: str | None,
    ) -> int:
        conn.execute("BEGIN IMMEDIATE")
        at = _format_at(now)
        purge_seq = self._last_seq + 1
        homes: dict[str, dict[str, Any]] = {}
        installation: dict[str, Any] | None = None
        reserved = tuple(sorted(_RESERVED_KINDS))
        keep = f"kind IS NOT NULL AND kind NOT IN ({', '.join('?' * len(reserved))})"
        conn.execute("UPDATE purge_gate SET open = 1 WHERE id = 1")
        try:
            if delete_entry is not None:
                removed = _strip(conn, keep, reserved, delete_entry, at, purge_seq)
                if removed:
                    homes[delete_entry] = {
                        "deleted_after_removal": True,
                        "cutoff": at,
                        "removed": removed,
                        "requested_by": requested_by,
                    }
            else:
                known = _retentions(conn)
                for (entry_id,) in conn.execute(
                    f"SELECT DISTINCT entry_id FROM records WHERE entry_id IS NOT NULL AND {keep}",
                    reserved,
                ).fetchall():
                    days = known.get(entry_id, self.retention_days)
                    cutoff = _format_at(now - timedelta(days=days))
                    removed = _strip(conn, keep, reserved, entry_id, cutoff, purge_seq)
                    if removed:
                        homes[entry_id] = {
                            "retention_days": days,
                            "cutoff": cutoff,
                            "removed": removed,
                        }
                days = max([self.retention_days, *known.values()])
                cutoff = _format_at(now - timedelta(days=days))
                removed = _strip(conn, keep, reserved, None, cutoff, purge_seq)
                if removed:
                    installation = {"retention_days": days, "cutoff": cutoff, "removed": removed}
        finally:
            conn.execute("UPDATE purge_gate SET open = 0 WHERE id = 1")
        if not homes and installation is None:
            conn.execute("COMMIT")
            return 0
        facts: dict[str, Any] = {"homes": homes}
        if installation is not None:
            facts["installation"] = installation
        pending = _Pending(
            at=at,
            kind=PURGE_KIND,
            entry_id=None,
            home=None,
            user_id=requested_by,
            user_name=None,
            data=_dump(facts),
        )
        self._append_now(conn, pending)
        # Purged content may still sit in the write-ahead log until it is checkpointed.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(
            sum(section["removed"] for section in homes.values())
            + (installation["removed"] if installation else 0)
        )


def _strip(  # noqa: PLR0917
    conn: sqlite3.Connection,
    keep: str,
    reserved: tuple[str, ...],
    entry_id: str | None,
    cutoff: str,
    purge_seq: int,
) -> int:
    """Purge the content of one home's records older than `cutoff`; return how many."""
    home = "entry_id IS NULL" if entry_id is None else "entry_id = ?"
    params: tuple[Any, ...] = (purge_seq, *(() if entry_id is None else (entry_id,)))
    cursor = conn.execute(
        "UPDATE records SET kind = NULL, home = NULL, user_id = NULL, user_name = NULL,"
        f" data = NULL, purged_by = ? WHERE {home} AND at < ? AND {keep}",
        (*params, cutoff, *reserved),
    )
    return int(cursor.rowcount)


def _retentions(conn: sqlite3.Connection) -> dict[str, int]:
    known: dict[str, int] = {}
    for entry_id, data in conn.execute(
        "SELECT entry_id, data FROM records WHERE kind = ? AND entry_id IS NOT NULL ORDER BY seq",
        (RETENTION_KIND,),
    ):
        try:
            days = json.loads(data)["retention_days"]
        except KeyError, TypeError, ValueError:
            continue
        if isinstance(days, int) and days >= MIN_RETENTION_DAYS:
            known[entry_id] = days
    return known


@dataclass(slots=True)
class _Item:
    """Work for the writer thread: a record to append, or a job run on its connection."""

    pending: _Pending | None
    job: Callable[[sqlite3.Connection], Any] | None
    future: Future[Any]


class _ReadConnection:
    """A short-lived connection that only reads; WAL lets it run beside the writer."""

    def __init__(self, path: Path) -> None:
        self._uri = f"{path.resolve().as_uri()}?mode=rw"

    def __enter__(self) -> sqlite3.Connection:
        # mode=rw never creates a missing file; query_only keeps this connection a reader. An
        # export streams from one connection through several executor threads, one at a time.
        self._conn = sqlite3.connect(
            self._uri, uri=True, isolation_level=None, timeout=30, check_same_thread=False
        )
        self._conn.execute("PRAGMA query_only=ON")
        return self._conn

    def __exit__(self, *exc_info: object) -> None:
        self._conn.close()


# --- records, hashing, validation -----------------------------------------------------------


def chain_hash(
    *,
    seq: int,
    at: str,
    kind: str,
    entry_id: str | None,
    home: str | None,
    user_id: str | None,
    user_name: str | None,
    data: str,
    prev_hash: str,
) -> str:
    """Return a record's hash (version 2) from its stored values (see `verify_audit.py`)."""
    content = content_hash(kind, home, user_id, user_name, data)
    return link_hash(seq, prev_hash, body_hash(at, entry_id, content))


def _insert(conn: sqlite3.Connection, seq: int, pending: _Pending, prev_hash: str) -> AuditRecord:
    content = content_hash(
        pending.kind, pending.home, pending.user_id, pending.user_name, pending.data
    )
    digest = link_hash(seq, prev_hash, body_hash(pending.at, pending.entry_id, content))
    conn.execute(
        f"INSERT INTO records ({_COLUMNS}) VALUES (?, 2, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        (
            seq,
            pending.at,
            pending.kind,
            pending.entry_id,
            pending.home,
            pending.user_id,
            pending.user_name,
            pending.data,
            content,
            prev_hash,
            digest,
        ),
    )
    return AuditRecord(
        seq=seq,
        at=datetime.fromisoformat(pending.at),
        kind=pending.kind,
        entry_id=pending.entry_id,
        home=pending.home,
        user_id=pending.user_id,
        user_name=pending.user_name,
        data=json.loads(pending.data),
        prev_hash=prev_hash,
        hash=digest,
    )


def _row_dict(row: tuple[Any, ...], *, with_body: bool = True) -> dict[str, Any]:
    """A stored row as the export (and the verifier) sees it."""
    (seq, v, at, kind, entry_id, home, user_id, user_name, data, content, prev, digest, by) = row
    values: dict[str, Any] = {
        "seq": seq,
        "v": v,
        "at": at,
        "kind": kind,
        "entry_id": entry_id,
        "home": home,
        "user_id": user_id,
        "user_name": user_name,
        "data": data,
        "content_hash": content,
        "body_hash": None,
        "prev_hash": prev,
        "hash": digest,
        "purged_by": by,
    }
    if with_body and v == 2 and isinstance(at, str) and isinstance(content, str):
        values["body_hash"] = body_hash(at, entry_id, content)
    return values


def _row_to_record(row: tuple[Any, ...]) -> AuditRecord:
    seq, _v, at, kind, entry_id, home, user_id, user_name, data, _c, prev_hash, digest, _by = row
    try:
        facts = json.loads(data)
    except TypeError, ValueError:
        facts = None
    if not isinstance(facts, dict):
        # Still show a damaged record to the reviewer; `verify` reports the damage.
        facts = {"unreadable": str(data)}
    return AuditRecord(
        seq=int(seq),
        at=datetime.fromisoformat(at),
        kind=kind,
        entry_id=entry_id,
        home=home,
        user_id=user_id,
        user_name=user_name,
        data=facts,
        prev_hash=prev_hash,
        hash=digest,
    )


def _check_retention(days: int) -> None:
    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError("retention_days must be an int")
    if days < MIN_RETENTION_DAYS:
        raise ValueError(f"retention_days must be at least {MIN_RETENTION_DAYS}")


def _validate(record: Mapping[str, Any]) -> _Pending:
    if not isinstance(record, Mapping):
        raise TypeError("an audit record is a mapping")
    unknown = set(record) - _RECORD_FIELDS
    if unknown:
        raise ValueError(f"unknown audit record fields: {sorted(map(str, unknown))}")
    kind = record.get("kind")
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise ValueError(f"kind must be a snake_case word, not {kind!r}")
    if kind in _RESERVED_KINDS:
        raise ValueError(f"{kind} records are written by the log itself")
    at = record.get("at")
    if at is None:
        at = datetime.now(UTC)
    elif isinstance(at, str):
        at = datetime.fromisoformat(at)
    elif not isinstance(at, datetime):
        raise ValueError(f"at must be a datetime or ISO text, not {type(at).__name__}")
    texts: dict[str, str | None] = {}
    for field in ("entry_id", "home", "user_id", "user_name"):
        value = record.get(field)
        if value is not None and not isinstance(value, str):
            value = REDACTED
        # An empty text is stored as null, so that an export's empty cell has one meaning.
        texts[field] = _text(value) if value else None
    data = record.get("data")
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        data = {"data": REDACTED}
    text = _dump(_clean(data))
    if len(text) > MAX_DATA_CHARS:
        text = _dump({"data": REDACTED})
    return _Pending(
        at=_format_at(_aware(at, "at")),
        kind=kind,
        data=text,
        entry_id=texts["entry_id"],
        home=texts["home"],
        user_id=texts["user_id"],
        user_name=texts["user_name"],
    )


def _clean(value: Any) -> Any:
    """Return `value` as plain JSON values; secrets, pictures and the unknown become redacted."""
    if isinstance(value, Enum):
        return _clean(value.value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else REDACTED
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            name = _text(key) if isinstance(key, str) else REDACTED
            cleaned[name] = REDACTED if _forbidden_key(name) else _clean(item)
        return cleaned
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    # Bytes (a frame?) and anything else the log cannot show as a fact.
    return REDACTED


def _text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return REDACTED
    if len(value) > MAX_TEXT_CHARS:
        return REDACTED
    if value.lstrip().lower().startswith(_IMAGE_TEXT_PREFIXES):
        return REDACTED
    if _URL_WITH_PASSWORD.search(value):
        return REDACTED
    return value


def _forbidden_key(key: str) -> bool:
    words = _KEY_WORD_SPLIT.split(key)
    return any(word.lower() in FORBIDDEN_KEY_WORDS for word in words)


def _dump(value: Any) -> str:
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    )


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must carry a time zone")
    return value


def _format_at(value: datetime) -> str:
    # One fixed-width UTC form, so text order is time order in SQLite and in the hash.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _filters(
    entry_id: str | None,
    start: datetime | None,
    end: datetime | None,
    kinds: tuple[str, ...] | None = None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = [_FACTS]
    params: list[Any] = []
    if entry_id is not None:
        clauses.append("entry_id = ?")
        params.append(entry_id)
    if start is not None:
        clauses.append("at >= ?")
        params.append(_format_at(_aware(start, "start")))
    if end is not None:
        clauses.append("at < ?")
        params.append(_format_at(_aware(end, "end")))
    if kinds is not None:
        clauses.append(f"kind IN ({', '.join('?' * len(kinds))})")
        params.extend(kinds)
    return " WHERE " + " AND ".join(clauses), params


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")
