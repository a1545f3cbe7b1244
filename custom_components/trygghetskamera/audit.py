"""The audit log: an append-only, hash-chained record of every look and every fact.

Swedish law asks the municipality to log who looked at whom and to follow the log up, so this
module is written for the person who reviews it and for the day someone doubts it:

- Every record is committed to SQLite (WAL, `synchronous=FULL`) before the caller is told it is
  written, so a record whose `append` future resolved survives a power cut or a killed process.
- Every record carries the SHA-256 hash of the one before it, so editing, removing or reordering
  a record afterwards is detectable by `verify()`.
- Retention removes whole records from the oldest end only, and says so in a `purge` record that
  anchors the chain's new beginning; see `AuditLog.purge`.
- Nothing visual and no secret ever enters it: `append` refuses bytes, image-like text and values
  under keys such as `password` or `frame` before anything is queued.

The hash of a record is the SHA-256 hex digest of the UTF-8 JSON array
`[seq, at, kind, entry_id, home, user_id, user_name, data, prev_hash]`, serialised with
`separators=(",", ":")` and `ensure_ascii=False`, where `data` is the stored JSON text (itself
serialised the same way with sorted keys) and `at` the stored ISO 8601 UTC text with microseconds.
The first record ever written has `prev_hash` = 64 zeros. That is all an auditor needs to check
an exported log with their own tools.

The module is plain Python (no Home Assistant import) with a blocking API: one writer thread owns
the only writing connection, so callers on the event loop wrap the `append` future
(`await asyncio.wrap_future(...)`) and run `query`, `verify`, `purge` and `export_csv` in an
executor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
import hashlib
import io
import json
import math
from pathlib import Path
import queue
import re
import sqlite3
import threading
from typing import Any, Final

GENESIS_HASH: Final = "0" * 64
PURGE_KIND: Final = "purge"
DEFAULT_RETENTION_DAYS: Final = 730
THREAD_NAME: Final = "trygghetskamera-audit"

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
_URL_WITH_PASSWORD: Final = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", re.IGNORECASE)
# A record describes a fact; anything bigger than this is data that does not belong here.
MAX_DATA_CHARS: Final = 65_536
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

_SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    entry_id TEXT,
    home TEXT,
    user_id TEXT,
    user_name TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_at ON records (at);
CREATE INDEX IF NOT EXISTS records_entry_at ON records (entry_id, at);
CREATE TABLE IF NOT EXISTS purge_gate (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    open INTEGER NOT NULL
);
INSERT OR IGNORE INTO purge_gate (id, open) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
WHEN (SELECT open FROM purge_gate WHERE id = 1) IS NOT 1
BEGIN
    SELECT RAISE(ABORT, 'audit records are removed only by retention');
END;
"""
# The triggers guard against accidents (a stray tool, a wrong query), not against someone who
# edits the file on purpose: that is what the hash chain is for.

_COLUMNS: Final = "seq, at, kind, entry_id, home, user_id, user_name, data, prev_hash, hash"


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
        """Prepare a log at `path`; nothing is opened until `start`."""
        if isinstance(retention_days, bool) or not isinstance(retention_days, int):
            raise TypeError("retention_days must be an int")
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
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
        assigns `seq`, `prev_hash` and `hash`. Raises ValueError, before anything is queued,
        for a record that is malformed or holds a secret or a frame. Cancelling the future
        does not withdraw the record: the fact happened, so it is written anyway.
        """
        pending = _validate(record)
        future: Future[AuditRecord] = Future()
        self._submit(_Item(pending, None, future))
        return future

    def purge(self, now: datetime) -> int:
        """Remove records older than the retention period and return how many were removed.

        Removal takes the longest run of records from the oldest end whose `at` lies before
        `now - retention_days`, so the kept records stay one unbroken chain (a record stays a
        little longer when an older-stamped one was appended after it). In the same transaction
        a `purge` record is appended stating `removed`, the `cutoff`, and the `anchor_seq` and
        `anchor_hash` of the last removed record, which `verify` accepts as the `prev_hash` of
        the oldest kept record. When nothing is old enough, nothing is written and 0 returned.
        """
        at = _format_at(_aware(now, "now"))
        cutoff = _format_at(now - timedelta(days=self.retention_days))
        future: Future[int] = Future()
        self._submit(_Item(None, lambda conn: self._purge(conn, at, cutoff), future))
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
    ) -> list[AuditRecord]:
        """Return committed records in seq order, optionally for one home and `start <= at < end`.

        With `limit`, the newest `limit` matching records are returned (still oldest first).
        """
        where, params = _filters(entry_id, start, end)
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

    def verify(self) -> bool:
        """Recompute the whole kept chain; return False on any sign of tampering or loss.

        Checks that every hash matches its record, every `prev_hash` equals the hash of the
        record before, and seq runs without gaps. The oldest kept record must either be the
        first ever written (seq 1, `prev_hash` of zeros) or be anchored by the newest `purge`
        record (its `anchor_seq` and `anchor_hash` name the record just before it). The highest
        seq ever issued must still be present, so removing the newest records is noticed too.
        """
        with self._reader() as conn:
            # One read transaction, so the rows and the issued seq come from the same moment.
            conn.execute("BEGIN")
            try:
                return _verify_rows(conn)
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError:
                # A corrupted file cannot vouch for anything.
                return False

    def head(self) -> tuple[int, str] | None:
        """Return the seq and hash of the newest committed record, or None for an empty log.

        Keeping this somewhere else (and comparing it later) catches a log that was cut short
        and then rebuilt, which no chain can detect on its own.
        """
        with self._reader() as conn:
            row = conn.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def export_csv(
        self,
        *,
        start: datetime | None,
        end: datetime | None,
        entry_id: str | None = None,
    ) -> str:
        """Return the records with `start <= at < end` as CSV text for review in a spreadsheet."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(("seq", "at", "kind", "home", "user_name", "user_id", "data", "hash"))
        for record in self.query(entry_id=entry_id, start=start, end=end):
            writer.writerow(
                (
                    record.seq,
                    _format_at(record.at),
                    record.kind,
                    _spreadsheet_safe(record.home),
                    _spreadsheet_safe(record.user_name),
                    _spreadsheet_safe(record.user_id),
                    _dump(record.data),
                    record.hash,
                )
            )
        return out.getvalue()

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
            # Retention is a promise to delete: overwrite removed rows instead of leaving them
            # readable in free pages.
            conn.execute("PRAGMA secure_delete=ON")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > _SCHEMA_VERSION:
                raise RuntimeError(f"{self.path} was written by a newer version ({version})")
            conn.executescript(
                f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version={_SCHEMA_VERSION};COMMIT;"
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

    def _purge(self, conn: sqlite3.Connection, at: str, cutoff: str) -> int:
        conn.execute("BEGIN IMMEDIATE")
        first_young = conn.execute(
            "SELECT MIN(seq) FROM records WHERE at >= ?", (cutoff,)
        ).fetchone()[0]
        if first_young is None:
            last_old = conn.execute("SELECT MAX(seq) FROM records").fetchone()[0]
        else:
            last_old = int(first_young) - 1
        anchor = (
            None
            if last_old is None
            else conn.execute("SELECT seq, hash FROM records WHERE seq = ?", (last_old,)).fetchone()
        )
        if anchor is None:
            conn.execute("COMMIT")
            return 0
        conn.execute("UPDATE purge_gate SET open = 1 WHERE id = 1")
        removed = conn.execute("DELETE FROM records WHERE seq <= ?", (last_old,)).rowcount
        conn.execute("UPDATE purge_gate SET open = 0 WHERE id = 1")
        pending = _Pending(
            at=at,
            kind=PURGE_KIND,
            entry_id=None,
            home=None,
            user_id=None,
            user_name=None,
            data=_dump(
                {
                    "removed": removed,
                    "cutoff": cutoff,
                    "retention_days": self.retention_days,
                    "anchor_seq": int(anchor[0]),
                    "anchor_hash": str(anchor[1]),
                }
            ),
        )
        record = _insert(conn, self._last_seq + 1, pending, self._last_hash)
        conn.execute("COMMIT")
        self._last_seq, self._last_hash = record.seq, record.hash
        # Purged rows may still sit in the write-ahead log until it is checkpointed.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed


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
        # mode=rw never creates a missing file; query_only keeps this connection a reader.
        self._conn = sqlite3.connect(self._uri, uri=True, isolation_level=None, timeout=30)
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
    """Return a record's hash from its stored values (see the module docstring)."""
    payload = json.dumps(
        [seq, at, kind, entry_id, home, user_id, user_name, data, prev_hash],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _insert(conn: sqlite3.Connection, seq: int, pending: _Pending, prev_hash: str) -> AuditRecord:
    digest = chain_hash(
        seq=seq,
        at=pending.at,
        kind=pending.kind,
        entry_id=pending.entry_id,
        home=pending.home,
        user_id=pending.user_id,
        user_name=pending.user_name,
        data=pending.data,
        prev_hash=prev_hash,
    )
    conn.execute(
        f"INSERT INTO records ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            seq,
            pending.at,
            pending.kind,
            pending.entry_id,
            pending.home,
            pending.user_id,
            pending.user_name,
            pending.data,
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


def _verify_rows(conn: sqlite3.Connection) -> bool:
    first: tuple[int, str] | None = None  # seq and prev_hash of the oldest kept record
    last_seq = 0
    last_hash = ""
    anchor: tuple[Any, Any] | None = None  # what the newest purge record vouches for
    for row in conn.execute(f"SELECT {_COLUMNS} FROM records ORDER BY seq"):
        seq, at, kind, entry_id, home, user_id, user_name, data, prev_hash, digest = row
        if not isinstance(data, str) or not isinstance(at, str) or not isinstance(kind, str):
            return False
        try:
            expected = chain_hash(
                seq=seq,
                at=at,
                kind=kind,
                entry_id=entry_id,
                home=home,
                user_id=user_id,
                user_name=user_name,
                data=data,
                prev_hash=prev_hash,
            )
        except TypeError, ValueError:
            return False
        if digest != expected:
            return False
        if first is None:
            first = (seq, prev_hash)
        elif seq != last_seq + 1 or prev_hash != last_hash:
            return False
        if kind == PURGE_KIND:
            try:
                facts = json.loads(data)
            except ValueError:
                return False
            if not isinstance(facts, dict):
                return False
            anchor = (facts.get("anchor_seq"), facts.get("anchor_hash"))
        last_seq, last_hash = seq, digest
    issued = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records'").fetchone()
    if first is None:
        return issued is None or issued[0] == 0
    if issued is None or issued[0] != last_seq:
        return False
    first_seq, first_prev = first
    if first_seq == 1:
        return first_prev == GENESIS_HASH and anchor is None
    return anchor == (first_seq - 1, first_prev)


def _row_to_record(row: tuple[Any, ...]) -> AuditRecord:
    seq, at, kind, entry_id, home, user_id, user_name, data, prev_hash, digest = row
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


def _validate(record: Mapping[str, Any]) -> _Pending:
    if not isinstance(record, Mapping):
        raise TypeError("an audit record is a mapping")
    unknown = set(record) - _RECORD_FIELDS
    if unknown:
        raise ValueError(f"unknown audit record fields: {sorted(map(str, unknown))}")
    kind = record.get("kind")
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise ValueError(f"kind must be a snake_case word, not {kind!r}")
    if kind == PURGE_KIND:
        raise ValueError("purge records are written by purge() only")
    at = record.get("at")
    if at is None:
        at = datetime.now(UTC)
    elif isinstance(at, str):
        at = datetime.fromisoformat(at)
    elif not isinstance(at, datetime):
        raise ValueError(f"at must be a datetime or ISO text, not {type(at).__name__}")
    texts = {}
    for field in ("entry_id", "home", "user_id", "user_name"):
        value = record.get(field)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{field} must be text or None")
        texts[field] = None if value is None else _text(value, field)
    data = record.get("data")
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValueError("data must be a mapping")
    text = _dump(_clean(data, "data"))
    if len(text) > MAX_DATA_CHARS:
        raise ValueError(f"data is {len(text)} characters; an audit record holds facts only")
    return _Pending(at=_format_at(_aware(at, "at")), kind=kind, data=text, **texts)


def _clean(value: Any, where: str) -> Any:
    """Return `value` as plain JSON values; refuse secrets, pictures and anything ambiguous."""
    if isinstance(value, Enum):
        return _clean(value.value, where)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _text(value, where)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is not a finite number")
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        raise ValueError(f"{where} holds bytes; the audit log never holds frames or binary data")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} has a key that is not text: {key!r}")
            if _forbidden_key(key):
                raise ValueError(f"{where}.{key}: the audit log never holds secrets or frames")
            cleaned[key] = _clean(item, f"{where}.{key}")
        return cleaned
    if isinstance(value, list | tuple):
        return [_clean(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise ValueError(f"{where} holds a {type(value).__name__}, which the audit log cannot store")


def _text(value: str, where: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where} is not valid text") from None
    if value.lstrip().lower().startswith(_IMAGE_TEXT_PREFIXES):
        raise ValueError(f"{where} looks like an encoded image; the audit log never holds frames")
    if _URL_WITH_PASSWORD.match(value.strip()):
        raise ValueError(f"{where} is a URL with a password; the audit log never holds secrets")
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
    entry_id: str | None, start: datetime | None, end: datetime | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
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
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _spreadsheet_safe(value: str | None) -> str:
    # A cell that starts like a formula would be run by Excel or LibreOffice when the reviewer
    # opens the export; a leading apostrophe makes it plain text.
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value or ""


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")
