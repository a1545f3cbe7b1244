"""Check an export of the trygghetskamera audit log against a head, without Home Assistant.

Usage (Python 3.11 or later, standard library only)::

    python verify_audit.py export.jsonl --head 1234:9f86d0…   # or export.csv
    python verify_audit.py export.jsonl --head 1234:9f86d0… --now 2026-12-01T08:00:00+00:00

Prints ``ok`` and exits 0 when every record of the export is intact, in order, linked to the
one before it, the record numbered by the head has exactly the head's hash, and every record
removed by retention was older than its home's retention at the time. Otherwise prints the
first record that breaks and why, and exits 1 (2 for an unreadable file or bad arguments).

A *head* is the ``seq`` and ``hash`` of a record that someone kept outside the log: the answer of
the ``trygghetskamera.audit_seal`` action, a ``seal`` record, the retained MQTT message
``trygghetskamera/installation/<installation_id>/audit_head``. Given a head, the check proves that
no record up to it was changed, removed, added or reordered since the head was taken, and that
the log was not cut back below it. It cannot say anything about records written after the
newest head anybody kept: whoever controls the machine can rewrite those at will.

How each record's hash is made (version 2; ``v`` in the export):

- ``content_hash`` = SHA-256 of the JSON array ``[kind, home, user_id, user_name, data]``;
- ``body_hash`` = SHA-256 of ``[at, entry_id, content_hash]``;
- ``hash`` = SHA-256 of ``[2, seq, prev_hash, body_hash]``;

each array serialised as UTF-8 JSON with ``separators=(",", ":")`` and ``ensure_ascii=False``;
``data`` is the stored JSON text (a string inside the array), ``at`` the stored UTC ISO 8601 text
with microseconds, and the first record's ``prev_hash`` is 64 zeros. Records written by version
0.1.0 (``v`` 1) hash ``[seq, at, kind, entry_id, home, user_id, user_name, data, prev_hash]``.

Three forms of a row appear in an export:

- a record: every field;
- a *purged* record (retention removed it): only ``seq``, ``at``, ``entry_id``, ``content_hash``,
  ``prev_hash``, ``hash`` and ``purged_by`` (the ``seq`` of the ``purge`` record that removed it);
  its content is gone but its time and home still count in the hash, so the check can prove it
  was old enough;
- an *elided* record (outside the export's home or period): only ``seq``, ``v`` and
  ``body_hash``, enough to carry the chain through without showing anything.

CSV: the same columns; an empty cell is null. A text cell that would start with ``=``, ``+``,
``-``, ``@``, a tab, a carriage return or ``'`` is written with one extra ``'`` in front (so a
spreadsheet shows it as text); this verifier removes exactly one leading ``'`` from every text
cell that has one, which gives back the hashed value.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import hashlib
import json
from json.encoder import encode_basestring as _quote
from pathlib import Path
import sys
from typing import Any

GENESIS_HASH = "0" * 64
PURGE_KIND = "purge"
SEAL_KIND = "seal"
RETENTION_KIND = "retention_set"
CLOSED_KIND = "home_closed"
# The shortest retention a home can have (one month, as the options allow).
MIN_RETENTION_DAYS = 30
# A purge or seal stamped later than the checker's clock by more than this is a forgery: a purge
# dated in the future would let it remove records that are still young.
CLOCK_TOLERANCE = timedelta(minutes=10)
COLUMNS = (
    "seq",
    "v",
    "at",
    "kind",
    "entry_id",
    "home",
    "user_id",
    "user_name",
    "data",
    "content_hash",
    "body_hash",
    "prev_hash",
    "hash",
    "purged_by",
)
INT_COLUMNS = frozenset({"seq", "v", "purged_by"})
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def _json(value: str | int | None) -> str:
    # Exactly what json.dumps(..., ensure_ascii=False) writes for text, whole numbers and null,
    # without its general machinery (verification spends most of its time here).
    if value is None:
        return "null"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _digest(values: list[Any]) -> str:
    text = "[" + ",".join(_json(value) for value in values) + "]"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(
    kind: str, home: str | None, user_id: str | None, user_name: str | None, data: str
) -> str:
    """The hash of what a record says (version 2)."""
    return _digest([kind, home, user_id, user_name, data])


def body_hash(at: str, entry_id: str | None, content: str) -> str:
    """The hash of when and for which home, and of the content's hash (version 2)."""
    return _digest([at, entry_id, content])


def link_hash(seq: int, prev_hash: str, body: str) -> str:
    """A record's hash (version 2): its number, the previous hash and its body."""
    return _digest([2, seq, prev_hash, body])


def hash_v1(  # noqa: PLR0917
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
    """A record's hash as version 0.1.0 wrote it."""
    return _digest([seq, at, kind, entry_id, home, user_id, user_name, data, prev_hash])


def format_at(value: datetime) -> str:
    """The stored form of a time: UTC ISO 8601 with microseconds."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def escape_cell(value: str) -> str:
    """Make a text cell safe to open in a spreadsheet, reversibly (see the module docstring)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def unescape_cell(value: str) -> str:
    """Undo `escape_cell`."""
    return value[1:] if value.startswith("'") else value


@dataclass(slots=True)
class Result:
    """What a check found: `ok`, or the first record that breaks and why."""

    ok: bool
    reason: str = ""
    seq: int | None = None
    records: int = 0
    head: tuple[int, str] | None = None

    def __str__(self) -> str:
        """`ok`, or `seq N: reason`."""
        if self.ok:
            return "ok"
        return f"seq {self.seq}: {self.reason}" if self.seq is not None else self.reason


@dataclass(slots=True)
class _Section:
    retention_days: int | None
    cutoff: str
    removed: int
    deleted_after_removal: bool


@dataclass(slots=True)
class Verifier:
    """Checks rows fed in `seq` order; `finish` gives the result."""

    head: tuple[int, str] | None = None
    now: datetime | None = None
    count_purged: bool = True
    _result: Result | None = None
    _first: tuple[int, str] | None = None
    _last_seq: int = 0
    _last_hash: str = ""
    _records: int = 0
    _head_seen: bool = False
    _newer_seen: bool = False
    _anchors: set[tuple[Any, Any]] = field(default_factory=set)
    _retention: dict[str | None, int] = field(default_factory=dict)
    _removed_homes: set[str] = field(default_factory=set)
    _purges: dict[int, dict[str | None, _Section]] = field(default_factory=dict)
    _purged: list[tuple[int, str | None, str, int]] = field(default_factory=list)

    def _fail(self, seq: int | None, reason: str) -> bool:
        self._result = Result(False, reason, seq, self._records)
        return False

    def _broken(self, seq: int | None, reason: str) -> Result:
        self._fail(seq, reason)
        assert self._result is not None
        return self._result

    def feed(self, row: dict[str, Any]) -> bool:
        """Check one row; False (and no further checks) once something breaks."""
        if self._result is not None:
            return False
        try:
            return self._feed(row)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            return self._fail(_int_or_none(row.get("seq")), f"unreadable record ({err})")

    def _feed(self, row: dict[str, Any]) -> bool:
        seq = row["seq"]
        if isinstance(seq, bool) or not isinstance(seq, int):
            return self._fail(None, f"seq {seq!r} is not a number")
        version = row.get("v") or 1
        if version == 1 and self._newer_seen:
            return self._fail(seq, "a record of version 0.1.0 after newer ones")
        self._newer_seen = self._newer_seen or version != 1
        given_prev = row.get("prev_hash")
        if self._first is None:
            if not isinstance(given_prev, str):
                return self._fail(seq, "the first record carries no prev_hash")
            prev = given_prev
            self._first = (seq, prev)
        else:
            if seq != self._last_seq + 1:
                return self._fail(seq, f"follows seq {self._last_seq}: records are missing")
            prev = self._last_hash
            if given_prev is not None and given_prev != prev:
                return self._fail(seq, "prev_hash is not the hash of the record before")
        kind = row.get("kind")
        # Checked as a string wherever a record must have it (`_check_fact` runs only then).
        at: Any = row.get("at")
        data_text = row.get("data")
        if version == 2:
            if kind is not None:
                if not isinstance(data_text, str) or not isinstance(at, str):
                    return self._fail(seq, "a record without its data or time")
                content = content_hash(
                    kind, row.get("home"), row.get("user_id"), row.get("user_name"), data_text
                )
                stored = row.get("content_hash")
                if stored is not None and stored != content:
                    return self._fail(seq, "content_hash does not match the record")
                body = body_hash(at, row.get("entry_id"), content)
            elif at is not None:
                remains = row.get("content_hash")
                if not isinstance(remains, str) or len(remains) != 64:
                    return self._fail(seq, "a purged record without its content_hash")
                body = body_hash(at, row.get("entry_id"), remains)
            else:
                elided = row.get("body_hash")
                if not isinstance(elided, str):
                    return self._fail(seq, "an elided record without its body_hash")
                body = elided
            computed = link_hash(seq, prev, body)
            if row.get("hash") is not None and row["hash"] != computed:
                return self._fail(seq, "hash does not match the record")
        elif version == 1:
            if kind is not None:
                if not isinstance(data_text, str) or not isinstance(at, str):
                    return self._fail(seq, "a record without its data or time")
                computed = hash_v1(
                    seq,
                    at,
                    kind,
                    row.get("entry_id"),
                    row.get("home"),
                    row.get("user_id"),
                    row.get("user_name"),
                    data_text,
                    prev,
                )
                if row.get("hash") != computed:
                    return self._fail(seq, "hash does not match the record")
            else:
                # A purged or elided record of version 0.1.0: only its place in the chain shows.
                given = row.get("hash")
                if not isinstance(given, str):
                    return self._fail(seq, "a purged record without its hash")
                computed = given
        else:
            return self._fail(seq, f"unknown hash version {version!r}")
        if self.head is not None and seq == self.head[0]:
            if computed != self.head[1]:
                return self._fail(seq, "the record at the head's seq does not have the head's hash")
            self._head_seen = True
        if kind is not None and not self._check_fact(seq, version, kind, str(at), row, prev):
            return False
        if kind is None and at is not None:
            purged_by = row.get("purged_by")
            if not isinstance(purged_by, int) or purged_by <= seq:
                return self._fail(seq, "a purged record that names no later purge")
            self._purged.append((seq, row.get("entry_id"), at, purged_by))
        self._last_seq, self._last_hash = seq, computed
        self._records += 1
        return True

    def _check_fact(  # noqa: PLR0917
        self, seq: int, version: int, kind: str, at: str, row: dict[str, Any], prev: str
    ) -> bool:
        entry_id = row.get("entry_id")
        data_text = row["data"]
        if kind not in (PURGE_KIND, SEAL_KIND, RETENTION_KIND, CLOSED_KIND):
            return True
        facts = json.loads(data_text)
        if not isinstance(facts, dict):
            return self._fail(seq, f"a {kind} record without its facts")
        if kind == RETENTION_KIND:
            days = facts.get("retention_days")
            if isinstance(days, bool) or not isinstance(days, int) or days < MIN_RETENTION_DAYS:
                return self._fail(seq, "a retention shorter than the shortest allowed")
            self._retention[entry_id] = days
            return True
        if kind == CLOSED_KIND:
            if entry_id is not None:
                self._removed_homes.add(entry_id)
            return True
        moment = datetime.fromisoformat(at)
        if self.now is not None and moment > self.now + CLOCK_TOLERANCE:
            return self._fail(seq, f"a {kind} record dated in the future ({at})")
        if kind == SEAL_KIND:
            if facts.get("seq") != self._last_seq or facts.get("hash") != prev:
                return self._fail(seq, "a seal that does not name the record before it")
            return True
        if "anchor_seq" in facts:
            # Version 0.1.0 removed whole records from the oldest end and named the last one;
            # nothing newer ever does.
            if version != 1:
                return self._fail(seq, "a purge that cuts records from the oldest end")
            self._anchors.add((int(facts["anchor_seq"]), str(facts.get("anchor_hash"))))
            return True
        sections: dict[str | None, _Section] = {}
        for key, section in (facts.get("homes") or {}).items():
            sections[key] = _section(section)
        if facts.get("installation") is not None:
            sections[None] = _section(facts["installation"])
        for key, section in sections.items():
            if section.deleted_after_removal:
                if key not in self._removed_homes:
                    return self._fail(seq, f"deletes the log of {key}, which was never removed")
                if section.cutoff > at:
                    return self._fail(seq, "deletes records younger than the deletion")
                continue
            days = section.retention_days
            if days is None or days < MIN_RETENTION_DAYS:
                return self._fail(seq, "a purge with a retention shorter than allowed")
            if section.cutoff != format_at(moment - timedelta(days=days)):
                return self._fail(seq, "a purge whose cutoff does not match its retention")
            known = self._retention.get(key)
            if known is not None and known != days:
                return self._fail(
                    seq, f"purges {key or 'the installation'} by {days} days, not its {known}"
                )
        self._purges[seq] = sections
        return True

    def finish(self) -> Result:
        """The result once every row was fed."""
        if self._result is not None:
            return self._result
        if self._first is None:
            if self.head is not None:
                return self._broken(None, "the log is empty but a head was kept")
            return Result(True, records=0)
        first_seq, first_prev = self._first
        if first_seq == 1:
            if first_prev != GENESIS_HASH:
                return self._broken(1, "the first record does not start the chain")
        elif (first_seq - 1, first_prev) not in self._anchors:
            return self._broken(first_seq, "the oldest records are missing")
        counts: dict[tuple[int, str | None], int] = {}
        for seq, entry_id, at, purged_by in self._purged:
            sections = self._purges.get(purged_by)
            if sections is None:
                return self._broken(seq, f"purged by {purged_by}, which is no purge record")
            section = sections.get(entry_id)
            if section is None:
                return self._broken(seq, f"purged by {purged_by}, which did not purge its home")
            if not at < section.cutoff:
                return self._broken(seq, "purged although younger than its retention")
            counts[purged_by, entry_id] = counts.get((purged_by, entry_id), 0) + 1
        if self.count_purged:
            for purge_seq, sections in self._purges.items():
                for key, section in sections.items():
                    if counts.get((purge_seq, key), 0) != section.removed:
                        return self._broken(
                            purge_seq, "a purge that names other records than it purged"
                        )
        if self.head is not None and not self._head_seen:
            head_seq = self.head[0]
            if head_seq > self._last_seq:
                return self._broken(
                    head_seq, f"the log ends at seq {self._last_seq}: cut back below the head"
                )
            return self._broken(head_seq, "the head's record is older than the kept log")
        return Result(True, records=self._records, head=(self._last_seq, self._last_hash))


def _section(section: Any) -> _Section:
    if not isinstance(section, dict):
        raise ValueError("a purge section is not an object")
    days = section.get("retention_days")
    cutoff = section.get("cutoff")
    removed = section.get("removed")
    if not isinstance(cutoff, str) or not isinstance(removed, int):
        raise ValueError("a purge section without cutoff or count")
    return _Section(
        retention_days=days if isinstance(days, int) and not isinstance(days, bool) else None,
        cutoff=cutoff,
        removed=removed,
        deleted_after_removal=section.get("deleted_after_removal") is True,
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def verify_rows(
    rows: Iterable[dict[str, Any]],
    head: tuple[int, str] | None = None,
    now: datetime | None = None,
) -> Result:
    """Check rows in `seq` order against an optional head; see the module docstring."""
    rows = list(rows) if not isinstance(rows, list) else rows
    complete = all(row.get("at") is not None or row.get("kind") is not None for row in rows)
    verifier = Verifier(head=head, now=now, count_purged=complete)
    for row in rows:
        if not verifier.feed(row):
            break
    return verifier.finish()


def read_export(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a JSON Lines or CSV export, with the hashed values as they were stored."""
    with path.open(encoding="utf-8", newline="") as file:
        first = file.read(1)
        file.seek(0)
        if first == "{":
            for line in file:
                if line.strip():
                    parsed = json.loads(line)
                    if not isinstance(parsed, dict):
                        raise ValueError("a line that is not a JSON object")
                    yield parsed
            return
        for cells in csv.DictReader(file):
            row: dict[str, Any] = {}
            for column in COLUMNS:
                value = cells.get(column)
                if value is None or value == "":
                    row[column] = None
                elif column in INT_COLUMNS:
                    row[column] = int(value)
                else:
                    row[column] = unescape_cell(value)
            yield row


def parse_head(text: str) -> tuple[int, str]:
    """`SEQ:HASH` as given on the command line."""
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise ValueError(f"a head is SEQ:HASH (64 hex digits), not {text!r}")
    return int(seq), digest.lower()


def main(argv: list[str] | None = None) -> int:
    """Command line: print `ok` or the first record that breaks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="an export of the audit log (.jsonl or .csv)")
    parser.add_argument("--head", help="SEQ:HASH of a head kept outside the log")
    parser.add_argument("--now", help="the time to check purges against (default: this clock)")
    args = parser.parse_args(argv)
    try:
        head = parse_head(args.head) if args.head else None
        now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
        if now.tzinfo is None:
            raise ValueError("--now must carry a time zone")
        rows = list(read_export(args.export))
    except (OSError, ValueError, csv.Error) as err:
        print(f"cannot check: {err}", file=sys.stderr)
        return 2
    result = verify_rows(rows, head=head, now=now)
    print(result)
    if result.ok and result.head is not None:
        print(f"head {result.head[0]}:{result.head[1]} ({result.records} records)")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
