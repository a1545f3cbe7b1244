"""Access review (åtkomstkontroll) and the resident's extract, built from the audit log.

The law asks the municipality to check who accessed what, and to follow it up; some do it
monthly. `build_review` turns a period of the log (optionally one home, one operator) into what
the reviewer reads: looks per operator and home with their durations, the looks that stand out
(commissioning looks, looks begun near the end of a slot, the longest), every refusal and denied
action, every consent and option change, and who was an operator of which home and when. An
admin closes a review with the `review_done` action (a record: who, when, period, remark).

`build_extract` is what a resident (or a relative) may ask for: every record of one home in a
period, in words: who looked when, for how long, and what they saw.

Both are served as an action response (`access_review`), a printable HTML page and a CSV, for
admins only. Plain functions over `AuditRecord`s: no Home Assistant import.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
import html
import io
from typing import Any, Final

from .audit import AuditRecord

# A look begun this close to the end of its slot stands out (the slot was nearly missed, or
# someone looked when nobody expected it).
NEAR_SLOT_END: Final = timedelta(minutes=5)
LONGEST_SHOWN: Final = 5
REFUSAL_KINDS: Final = frozenset(
    {
        "action_denied",
        "session_denied",
        "stream_denied",
        "outcome_denied",
        "view_region_denied",
        "export_denied",
    }
)
CHANGE_KINDS: Final = frozenset(
    {
        "consent_changed",
        "consent_recorded",
        "options_changed",
        "schedule_changed",
        "operators_changed",
        "home_added",
        "home_removed",
        "home_disabled",
        "commissioning_reset",
        "retention_set",
        "decision_changed",
    }
)
REVIEW_DONE: Final = "review_done"


@dataclass(frozen=True, slots=True)
class Period:
    """The reviewed period and what it is narrowed to."""

    start: datetime
    end: datetime
    entry_id: str | None = None
    user_id: str | None = None


def _who(record: AuditRecord) -> str:
    return record.user_name or record.user_id or "—"


def _look(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "at": record.at.isoformat(),
        "entry_id": record.entry_id,
        "home": record.home,
        "user_id": record.user_id,
        "user_name": record.user_name,
        "purpose": record.data.get("purpose", "supervision"),
        "slot": record.data.get("slot"),
        "duration_s": float(record.data.get("duration_s") or 0.0),
        "outcome": record.data.get("outcome"),
    }


def _brief(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "at": record.at.isoformat(),
        "kind": record.kind,
        "entry_id": record.entry_id,
        "home": record.home,
        "user_id": record.user_id,
        "user_name": record.user_name,
        "data": record.data,
    }


def operator_history(records: Iterable[AuditRecord], period: Period) -> list[dict[str, Any]]:
    """Who was an operator of which home, from when to when, as far as it overlaps the period.

    Read from `home_added` (its `operators`), `operators_changed` (`added`, `removed`) and
    `options_changed` (a change of `operators`), and `home_removed`, from the log's start.
    """
    since: dict[tuple[str, str], datetime] = {}
    homes: dict[str, str | None] = {}
    spans: list[dict[str, Any]] = []

    def close(key: tuple[str, str], at: datetime) -> None:
        began = since.pop(key)
        if began < period.end and at > period.start:
            spans.append({"entry_id": key[0], "user_id": key[1], "from": began, "to": at})

    for record in records:
        entry_id = record.entry_id
        if entry_id is None or record.at >= period.end:
            continue
        homes[entry_id] = record.home or homes.get(entry_id)
        added: list[str] = []
        removed: list[str] = []
        if record.kind == "home_added":
            added = list(record.data.get("operators") or [])
        elif record.kind == "operators_changed":
            added = list(record.data.get("added") or [])
            removed = list(record.data.get("removed") or [])
        elif record.kind == "options_changed":
            change = (record.data.get("changes") or {}).get("operators")
            if isinstance(change, Mapping):
                old, new = set(change.get("old") or []), set(change.get("new") or [])
                added, removed = sorted(new - old), sorted(old - new)
        elif record.kind == "home_removed":
            removed = [user for (entry, user) in since if entry == entry_id]
        for user in removed:
            if (entry_id, user) in since:
                close((entry_id, user), record.at)
        for user in added:
            since.setdefault((entry_id, str(user)), record.at)
    for key in list(since):
        close(key, period.end)
    result = []
    for span in spans:
        if period.entry_id not in (None, span["entry_id"]):
            continue
        if period.user_id not in (None, span["user_id"]):
            continue
        result.append(
            {
                "entry_id": span["entry_id"],
                "home": homes.get(span["entry_id"]),
                "user_id": span["user_id"],
                "from": max(span["from"], period.start).isoformat(),
                "to": min(span["to"], period.end).isoformat(),
            }
        )
    return sorted(result, key=lambda span: (span["home"] or "", span["user_id"], span["from"]))


def build_review(
    records: Sequence[AuditRecord],
    period: Period,
    *,
    slot_minutes: Mapping[str, int],
    names: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """The access review of a period; `records` are the whole log up to the period's end.

    `slot_minutes` gives each home's slot length (default 30) to find looks near a slot's end.
    """
    names = dict(names or {})
    inside = [
        record
        for record in records
        if period.start <= record.at < period.end and period.entry_id in (None, record.entry_id)
    ]
    mine = [r for r in inside if period.user_id in (None, r.user_id)]
    looks = [_look(r) for r in mine if r.kind == "session_ended"]
    per: dict[tuple[str | None, str | None], dict[str, Any]] = defaultdict(
        lambda: {"count": 0, "seconds_total": 0.0, "seconds_longest": 0.0}
    )
    for look in looks:
        row = per[look["user_id"], look["entry_id"]]
        row.update(
            user_id=look["user_id"],
            user_name=look["user_name"],
            entry_id=look["entry_id"],
            home=look["home"],
        )
        row["count"] += 1
        row["seconds_total"] = round(row["seconds_total"] + look["duration_s"], 1)
        row["seconds_longest"] = max(row["seconds_longest"], look["duration_s"])
    unusual: list[dict[str, Any]] = []
    starts = {r.data.get("session_id"): r for r in mine if r.kind == "session_started"}
    for look in looks:
        if look["purpose"] == "commissioning":
            unusual.append(look | {"why": "commissioning"})
    for session_id, started in starts.items():
        slot = started.data.get("slot")
        if not slot or started.data.get("purpose") == "commissioning" or not session_id:
            continue
        minutes = slot_minutes.get(started.entry_id or "", 30)
        slot_end = datetime.fromisoformat(str(slot)) + timedelta(minutes=minutes)
        if started.at >= slot_end - NEAR_SLOT_END:
            unusual.append(_look(started) | {"why": "near_slot_end"})
    for look in sorted(looks, key=lambda look: -look["duration_s"])[:LONGEST_SHOWN]:
        unusual.append(look | {"why": "longest"})
    operators = operator_history(records, period)
    for span in operators:
        span["user_name"] = names.get(span["user_id"])
    return {
        "period": {
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "entry_id": period.entry_id,
            "user_id": period.user_id,
        },
        "looks": sorted(per.values(), key=lambda row: (row["user_name"] or "", row["home"] or "")),
        "looks_total": len(looks),
        "unusual": unusual,
        "refusals": [_brief(r) for r in _in_time(mine) if r.kind in REFUSAL_KINDS],
        "changes": [_brief(r) for r in _in_time(inside) if r.kind in CHANGE_KINDS],
        "operators": operators,
        "reviews": [_brief(r) for r in records if r.kind == REVIEW_DONE and r.at < period.end],
    }


def _in_time(records: Iterable[AuditRecord]) -> list[AuditRecord]:
    """In the order things happened (a fact can be written after a later one)."""
    return sorted(records, key=lambda record: (record.at, record.seq))


def build_extract(records: Sequence[AuditRecord], period: Period) -> list[dict[str, Any]]:
    """One home's records of a period, each as `at`, `who`, `what`, `seconds`, `outcome`."""
    rows = []
    for record in _in_time(records):
        if record.entry_id != period.entry_id or not period.start <= record.at < period.end:
            continue
        rows.append(
            {
                "at": record.at.isoformat(),
                "who": record.user_name or ("—" if record.user_id is None else record.user_id),
                "what": record.kind,
                "seconds": record.data.get("duration_s"),
                "outcome": record.data.get("outcome") or record.data.get("reason"),
                "seq": record.seq,
            }
        )
    return rows


# --- printable pages and CSV ------------------------------------------------------------------

LABELS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "review": "Access review",
        "extract": "Extract of the log for one home",
        "period": "Period",
        "looks": "Looks per operator and home",
        "operator": "Operator",
        "home": "Home",
        "count": "Looks",
        "total": "Seconds in all",
        "longest_s": "Longest (s)",
        "unusual": "Looks that stand out",
        "why": "Why",
        "at": "When",
        "seconds": "Seconds",
        "outcome": "Outcome",
        "refusals": "Refusals and denied actions",
        "what": "What",
        "changes": "Consent, decision and option changes",
        "by": "By",
        "operators": "Operators of each home",
        "from": "From",
        "to": "Until",
        "reviews": "Reviews done",
        "verified": "The log's hash chain verifies against its kept head",
        "not_verified": "THE LOG DOES NOT VERIFY against its kept head",
        "commissioning": "commissioning look",
        "near_slot_end": "begun near the end of its slot",
        "longest": "among the longest",
        "none": "None.",
        "who": "Who",
        "done_hint": "When reviewed, record it with the action trygghetskamera.review_done.",
    },
    "sv": {
        "review": "Åtkomstkontroll",
        "extract": "Utdrag ur loggen för ett hem",
        "period": "Period",
        "looks": "Tittar per operatör och hem",
        "operator": "Operatör",
        "home": "Hem",
        "count": "Tittar",
        "total": "Sekunder totalt",
        "longest_s": "Längsta (s)",
        "unusual": "Tittar som sticker ut",
        "why": "Varför",
        "at": "När",
        "seconds": "Sekunder",
        "outcome": "Utfall",
        "refusals": "Nekade försök och åtgärder",
        "what": "Vad",
        "changes": "Ändringar av samtycke, beslut och inställningar",
        "by": "Av",
        "operators": "Operatörer för varje hem",
        "from": "Från",
        "to": "Till",
        "reviews": "Genomförda kontroller",
        "verified": "Loggens hashkedja stämmer mot det sparade huvudet",
        "not_verified": "LOGGEN STÄMMER INTE mot det sparade huvudet",
        "commissioning": "driftsättningstitt",
        "near_slot_end": "påbörjad nära slutet av sin tid",
        "longest": "bland de längsta",
        "none": "Inga.",
        "who": "Vem",
        "done_hint": "Registrera kontrollen med åtgärden trygghetskamera.review_done.",
    },
}


def labels(language: str) -> dict[str, str]:
    """The page's words in Swedish for `sv`, else in English."""
    return LABELS["sv" if language.lower().startswith("sv") else "en"]


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], none: str) -> str:
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_text(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    if not body:
        return f"<p>{html.escape(none)}</p>"
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {_text(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value)
    return str(value)


_STYLE: Final = (
    "body{font-family:sans-serif;margin:2em;max-width:60em}"
    "table{border-collapse:collapse;width:100%;margin-bottom:1.5em}"
    "th,td{border:1px solid #999;padding:.25em .5em;text-align:left;vertical-align:top}"
    "th{background:#eee}.bad{color:#b00;font-weight:bold}"
    "@media print{body{margin:0}}"
)


def _page(title: str, body: str, language: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="{html.escape(language)}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def review_html(review: Mapping[str, Any], *, verified: bool, language: str) -> str:
    """The review as a printable page (every value escaped)."""
    words = labels(language)
    period = review["period"]
    parts = [
        f"<h1>{html.escape(words['review'])}</h1>",
        f"<p>{html.escape(words['period'])}: {html.escape(period['start'])} to "
        f"{html.escape(period['end'])}</p>",
        f'<p class="{"" if verified else "bad"}">'
        f"{html.escape(words['verified' if verified else 'not_verified'])}</p>",
        f"<h2>{html.escape(words['looks'])}</h2>",
        _table(
            [words["operator"], words["home"], words["count"], words["total"], words["longest_s"]],
            (
                (
                    r["user_name"] or r["user_id"],
                    r["home"],
                    r["count"],
                    r["seconds_total"],
                    r["seconds_longest"],
                )
                for r in review["looks"]
            ),
            words["none"],
        ),
        f"<h2>{html.escape(words['unusual'])}</h2>",
        _table(
            [
                words["why"],
                words["at"],
                words["operator"],
                words["home"],
                words["seconds"],
                words["outcome"],
            ],
            (
                (
                    words.get(u["why"], u["why"]),
                    u["at"],
                    u["user_name"] or u["user_id"],
                    u["home"],
                    u["duration_s"],
                    u["outcome"],
                )
                for u in review["unusual"]
            ),
            words["none"],
        ),
        f"<h2>{html.escape(words['refusals'])}</h2>",
        _table(
            [words["at"], words["what"], words["who"], words["home"], ""],
            (
                (r["at"], r["kind"], r["user_name"] or r["user_id"], r["home"], r["data"])
                for r in review["refusals"]
            ),
            words["none"],
        ),
        f"<h2>{html.escape(words['changes'])}</h2>",
        _table(
            [words["at"], words["what"], words["by"], words["home"], ""],
            (
                (r["at"], r["kind"], r["user_name"] or r["user_id"], r["home"], r["data"])
                for r in review["changes"]
            ),
            words["none"],
        ),
        f"<h2>{html.escape(words['operators'])}</h2>",
        _table(
            [words["home"], words["operator"], words["from"], words["to"]],
            (
                (s["home"], s.get("user_name") or s["user_id"], s["from"], s["to"])
                for s in review["operators"]
            ),
            words["none"],
        ),
        f"<h2>{html.escape(words['reviews'])}</h2>",
        _table(
            [words["at"], words["by"], ""],
            ((r["at"], r["user_name"] or r["user_id"], r["data"]) for r in review["reviews"]),
            words["none"],
        ),
        f"<p>{html.escape(words['done_hint'])}</p>",
    ]
    return _page(words["review"], "".join(parts), language)


def review_csv(review: Mapping[str, Any]) -> str:
    """The review as CSV: one row per item, its section first (cells escaped as in exports)."""
    from .verify_audit import escape_cell

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "at", "kind", "user_id", "user_name", "entry_id", "home", "value"])

    def row(section: str, item: Mapping[str, Any], kind: str, value: Any) -> None:
        cells = [
            section,
            item.get("at") or item.get("from") or "",
            kind,
            item.get("user_id") or "",
            item.get("user_name") or "",
            item.get("entry_id") or "",
            item.get("home") or "",
            _text(value),
        ]
        writer.writerow([escape_cell(str(cell)) for cell in cells])

    for item in review["looks"]:
        row(
            "looks",
            item,
            "looks",
            f"{item['count']} / {item['seconds_total']} s / {item['seconds_longest']} s",
        )
    for item in review["unusual"]:
        row("unusual", item, item["why"], item["duration_s"])
    for item in review["refusals"]:
        row("refusals", item, item["kind"], item["data"])
    for item in review["changes"]:
        row("changes", item, item["kind"], item["data"])
    for item in review["operators"]:
        row("operators", item, "operator", f"{item['from']} to {item['to']}")
    for item in review["reviews"]:
        row("reviews", item, item["kind"], item["data"])
    return out.getvalue()


def extract_html(
    rows: Sequence[Mapping[str, Any]], home: str | None, period: Period, language: str
) -> str:
    """The resident's extract as a printable page."""
    words = labels(language)
    body = (
        f"<h1>{html.escape(words['extract'])}: {html.escape(home or period.entry_id or '')}</h1>"
        f"<p>{html.escape(words['period'])}: {html.escape(period.start.isoformat())} to "
        f"{html.escape(period.end.isoformat())}</p>"
        + _table(
            [words["at"], words["who"], words["what"], words["seconds"], words["outcome"]],
            ((r["at"], r["who"], r["what"], r["seconds"], r["outcome"]) for r in rows),
            words["none"],
        )
    )
    return _page(words["extract"], body, language)
