"""The audit log inside Home Assistant: one log for every home, its action, export and purge.

`audit.AuditLog` is the store (SQLite, hash chain, its own writer thread); this module opens it
in the config directory, resolves user names, purges it daily by each home's retention, seals
it, and serves it to the people allowed to follow it up: the `audit_log` action for admins and
operators, exports (CSV and JSON Lines) for admins.

The head (seq and hash of the newest record) is kept outside the database as well, in the
integration's own storage file (`.storage/trygghetskamera.audit_head`), and sealed into the log
(`seal` record) daily and after every night report; each seal is also the answer of the
`audit_seal` action and, with `mqtt_publish` on for any home, the retained message
`trygghetskamera/installation/<installation_id>/audit_head`. `audit_log`'s `verified` is the
check against the kept head: a database cut back or rewritten below it is not verified.
"""

import asyncio
from collections.abc import Generator
import contextlib
from datetime import datetime
import functools
from http import HTTPStatus
import itertools
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web
from homeassistant.auth.models import User
from homeassistant.components.http import KEY_HASS_USER, HomeAssistantView
from homeassistant.components.websocket_api.connection import current_connection
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import (
    Event,
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError, Unauthorized
from homeassistant.helpers import config_validation as cv, instance_id, issue_registry as ir
from homeassistant.helpers.event import async_track_time_change
from homeassistant.helpers.http import current_request
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
import voluptuous as vol

from .audit import DEFAULT_RETENTION_DAYS, MIN_RETENTION_DAYS, AuditLog, AuditRecord
from .authz import Action, async_log_denied, may, user_roles
from .const import (
    ATTR_DEVICE_ID,
    CONF_AUDIT_RETENTION_MONTHS,
    CONF_MQTT_PUBLISH,
    DEFAULT_AUDIT_RETENTION_MONTHS,
    DOMAIN,
    SERVICE_AUDIT_LOG,
)
from .lookup import entry_for_device

_LOGGER = logging.getLogger(__name__)

AUDIT_TRAIL: HassKey[AuditTrail] = HassKey(f"{DOMAIN}_audit_trail")
AUDIT_FILE = f"{DOMAIN}_audit.db"
# The daily purge (and seal) runs in the quiet hour after the night's last checks.
PURGE_TIME = {"hour": 12, "minute": 15, "second": 0}
DAYS_PER_MONTH = 30.44
HEAD_STORE_KEY = f"{DOMAIN}.audit_head"
# The repair issue raised when the database no longer holds the kept head (restored from an
# older backup, replaced or lost while Home Assistant was stopped).
HEAD_LOST_ISSUE = "audit_head_lost"
HEAD_LOST_KIND = "audit_head_lost"
REANCHORED_KIND = "audit_reanchored"
HEAD_STORE_VERSION = 1
# The kept head follows every record within this many seconds (each seal at once).
HEAD_SAVE_DELAY = 1
SERVICE_AUDIT_SEAL = "audit_seal"
SERVICE_AUDIT_DELETE_HOME = "audit_delete_home"
NIGHT_REPORT_KIND = "night_report"
MQTT_QOS = 1


def audit_head_topic(installation_id: str) -> str:
    """`trygghetskamera/installation/<installation_id>/audit_head` (retained)."""
    return f"{DOMAIN}/installation/{installation_id}/audit_head"


def retention_days(options: dict[str, Any] | Any) -> int:
    """A home's retention in days, from its `audit_retention_months` option."""
    months = int(options.get(CONF_AUDIT_RETENTION_MONTHS, DEFAULT_AUDIT_RETENTION_MONTHS))
    return max(MIN_RETENTION_DAYS, round(months * DAYS_PER_MONTH))


def acting_user_id() -> str | None:
    """The user whose HTTP request or websocket command is being handled now, if any."""
    if (request := current_request.get()) is not None:
        user = request.get(KEY_HASS_USER)
        if user is not None:
            return str(user.id)
    if (connection := current_connection.get()) is not None:
        return str(connection.user.id)
    return None


class AuditTrail:
    """The audit log of this Home Assistant, its kept head and its seals."""

    def __init__(self, hass: HomeAssistant, path: Path) -> None:
        """Prepare the log at `path`; it is opened by `async_start`."""
        self.hass = hass
        self.log = AuditLog(path, retention_days=DEFAULT_RETENTION_DAYS)
        self._names: dict[str, str | None] = {}
        self._started: asyncio.Future[None] | None = None
        self._head_store: Store[dict[str, Any]] = Store(
            hass, HEAD_STORE_VERSION, HEAD_STORE_KEY, private=True, atomic_writes=True
        )
        self.kept_head: dict[str, Any] | None = None
        # Set when the database does not hold the kept head: the head then stays where it was
        # (a log restored from an older backup would otherwise grow past it and verify again)
        # until an administrator re-anchors the log with a note of the incident.
        self.head_lost: dict[str, Any] | None = None
        # The retention the log holds per home, read from it once and kept in step by
        # `async_sync_retention` (the only writer of retention records): each home's setup
        # asks, and reading every retention record for each of 1000 homes costs seconds.
        self._retentions: asyncio.Future[dict[str, int]] | None = None

    async def async_start(self) -> None:
        """Open the log (off the event loop) and arrange the daily purge and the final close."""
        if self.hass.is_stopping:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="audit_stopping")
        self.kept_head = await self._head_store.async_load()
        # The close is arranged before the log opens: if Home Assistant stops while it opens,
        # the writer thread still gets closed.
        self._started = self.hass.async_add_executor_job(self.log.start)
        self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_FINAL_WRITE, self._async_close)
        unsub_purge = async_track_time_change(self.hass, self._async_daily, **PURGE_TIME)
        self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, lambda _event: unsub_purge())
        await asyncio.shield(self._started)
        await self._async_check_kept_head()

    async def _async_check_kept_head(self) -> None:
        """Compare the database with the head kept outside it, before anything is written."""
        kept = self.kept()
        if kept is None:
            return
        reason = await self.hass.async_add_executor_job(self.log.holds, kept)
        if reason is None:
            return
        db_head = await self.hass.async_add_executor_job(self.log.head)
        self.head_lost = {
            "kept_head": dict(self.kept_head or {}),
            "db_head": None if db_head is None else {"seq": db_head[0], "hash": db_head[1]},
            "reason": reason,
        }
        _LOGGER.error(
            "The audit log does not hold the head kept outside it (%s): it was replaced, cut "
            "back or restored from an older backup while Home Assistant was stopped. It stays "
            "unverified until an administrator re-anchors it in the repair issue",
            reason,
        )
        # In the log itself too, so that an export shows where the trust was broken.
        await self.async_append(
            HEAD_LOST_KIND,
            at=dt_util.utcnow(),
            entry_id=None,
            home=None,
            user_id=None,
            data=dict(self.head_lost),
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            HEAD_LOST_ISSUE,
            is_fixable=True,
            is_persistent=False,
            severity=ir.IssueSeverity.CRITICAL,
            translation_key=HEAD_LOST_ISSUE,
            translation_placeholders={
                "kept_seq": str(kept[0]),
                "db_seq": str(db_head[0]) if db_head else "0",
                "reason": reason,
            },
        )

    async def async_reanchor(self, user_id: str, incident: str) -> dict[str, Any]:
        """Accept a lost head: record it with the incident note and anchor the log anew.

        The record names the lost head, the database's head when the loss was found, who
        re-anchored and why; it becomes the new kept head at once and is sealed (and published).
        """
        if self.head_lost is None:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="head_not_lost")
        lost = self.head_lost
        future = self.log.append(
            {
                "kind": REANCHORED_KIND,
                "at": dt_util.utcnow(),
                "entry_id": None,
                "home": None,
                "user_id": user_id,
                "user_name": await self._user_name(user_id),
                "data": {**lost, "incident": incident},
            }
        )
        record = await asyncio.wrap_future(future)
        self.head_lost = None
        self.kept_head = None
        self._keep_head(record, now=True)
        ir.async_delete_issue(self.hass, DOMAIN, HEAD_LOST_ISSUE)
        return await self.async_seal()

    async def _async_close(self, _event: Event) -> None:
        # After the stop stage, so the looks and homes that close then are logged too.
        with contextlib.suppress(Exception):
            if self._started is not None:
                await asyncio.shield(self._started)
        await self.hass.async_add_executor_job(self.log.stop)

    async def async_append(
        self,
        kind: str,
        *,
        at: datetime,
        entry_id: str | None,
        home: str | None,
        user_id: str | None,
        data: dict[str, Any],
    ) -> None:
        """Write one record and return once it is committed to disk."""
        future = self.log.append(
            {
                "kind": kind,
                "at": at,
                "entry_id": entry_id,
                "home": home,
                "user_id": user_id,
                "user_name": await self._user_name(user_id),
                "data": data,
            }
        )
        record = await asyncio.wrap_future(future)
        self._keep_head(record)
        if kind == NIGHT_REPORT_KIND:
            # Every night report is followed by a seal: the night's records under a head that
            # leaves the machine (MQTT) the same morning.
            await self.async_seal()

    async def _user_name(self, user_id: str | None) -> str | None:
        if user_id is None:
            return None
        if user_id not in self._names:
            user = await self.hass.auth.async_get_user(user_id)
            self._names[user_id] = user.name if user else None
        return self._names[user_id]

    # --- the head kept outside the log -------------------------------------------------------

    @callback
    def _keep_head(self, record: AuditRecord, *, now: bool = False) -> None:
        self._keep(record.seq, record.hash, record.at, now=now)

    @callback
    def _keep(self, seq: int, digest: str, at: datetime, *, now: bool = False) -> None:
        kept = self.kept_head
        if self.head_lost is not None:
            return
        if kept is not None and int(kept.get("seq", 0)) >= seq:
            return
        self.kept_head = {"seq": seq, "hash": digest, "at": at.isoformat()}
        head = dict(self.kept_head)
        if now:
            self.hass.async_create_task(self._head_store.async_save(head))
        else:
            self._head_store.async_delay_save(lambda: head, HEAD_SAVE_DELAY)

    def kept(self) -> tuple[int, str] | None:
        """The head kept outside the database, as (seq, hash)."""
        if not self.kept_head:
            return None
        return int(self.kept_head["seq"]), str(self.kept_head["hash"])

    async def async_seal(self) -> dict[str, Any]:
        """Seal the log: a `seal` record, kept and published; return `{seq, hash, at}`."""
        record = await self.hass.async_add_executor_job(self.log.seal, dt_util.utcnow())
        self._keep_head(record, now=True)
        head = {"seq": record.seq, "hash": record.hash, "at": record.at.isoformat()}
        await self._async_publish_head(head)
        return head

    async def _async_publish_head(self, head: dict[str, Any]) -> None:
        from .mqtt_publish import mqtt_set_up

        if not mqtt_set_up(self.hass) or not any(
            entry.options.get(CONF_MQTT_PUBLISH)
            for entry in self.hass.config_entries.async_entries(DOMAIN)
        ):
            return
        from homeassistant.components import mqtt

        topic = audit_head_topic(await instance_id.async_get(self.hass))
        try:
            await mqtt.async_publish(self.hass, topic, json.dumps(head), qos=MQTT_QOS, retain=True)
        except HomeAssistantError as err:
            _LOGGER.warning("The audit log's head was not published to %s: %s", topic, err)

    async def async_verify(self) -> bool:
        """Whether the chain is intact and still holds the kept head."""
        result = await self.hass.async_add_executor_job(
            functools.partial(self.log.check, head=self.kept(), now=dt_util.utcnow())
        )
        if not result.ok:
            _LOGGER.error("The audit log does not verify: %s", result)
        if self.head_lost is not None:
            _LOGGER.error("The audit log does not hold its kept head: %s", self.head_lost["reason"])
            return False
        return result.ok

    # --- retention ---------------------------------------------------------------------------

    def retention_days(self) -> int:
        """The longest retention any home asks for (kept for callers of 0.1.0)."""
        return max(
            [
                retention_days(entry.options)
                for entry in self.hass.config_entries.async_entries(DOMAIN)
            ]
            or [DEFAULT_RETENTION_DAYS]
        )

    async def async_sync_retention(self, entry_id: str, home: str | None, days: int) -> None:
        """Record a home's retention in the log when it differs from what the log holds."""
        reading = self._retentions
        if reading is None or (
            reading.done() and (reading.cancelled() or reading.exception() is not None)
        ):
            # One read for every home that asks meanwhile; read again after a failed read.
            reading = self._retentions = self.hass.async_add_executor_job(self.log.retentions)
        known = await asyncio.shield(reading)
        if known.get(entry_id) != days:
            record = await self.hass.async_add_executor_job(
                functools.partial(
                    self.log.set_retention, entry_id, days, at=dt_util.utcnow(), home=home
                )
            )
            known[entry_id] = days
            self._keep_head(record)

    async def async_sync_retentions(self) -> None:
        """Record every configured home's retention (homes removed keep what they had)."""
        for entry in self.hass.config_entries.async_entries(DOMAIN):
            await self.async_sync_retention(
                entry.entry_id, entry.title, retention_days(entry.options)
            )

    async def async_home_removed(self, entry_id: str, home: str | None, days: int) -> None:
        """A home was removed: its retention stays recorded and its log may later be deleted."""
        await self.async_sync_retention(entry_id, home, days)
        record = await self.hass.async_add_executor_job(
            functools.partial(self.log.close_home, entry_id, at=dt_util.utcnow())
        )
        self._keep_head(record)

    async def _async_daily(self, now: datetime) -> None:
        await self.async_purge()
        await self.async_seal()

    async def async_purge(self) -> int:
        """Purge each home's records past its own retention (removed homes included)."""
        await self.async_sync_retentions()
        removed = await self.hass.async_add_executor_job(self.log.purge, dt_util.utcnow())
        if removed:
            _LOGGER.info("Audit log: purged %d records past retention", removed)
            await self.async_refresh_head()
        return removed

    async def async_refresh_head(self) -> None:
        """Keep the log's newest record as the head (after a purge wrote its record)."""
        head = await self.hass.async_add_executor_job(self.log.head)
        if head is not None:
            self._keep(head[0], head[1], dt_util.utcnow())


async def async_setup_audit(hass: HomeAssistant) -> AuditTrail:
    """Open the audit log and register its action and export view."""
    trail = AuditTrail(hass, Path(hass.config.path(".storage", AUDIT_FILE)))
    await trail.async_start()
    hass.data[AUDIT_TRAIL] = trail
    hass.services.async_register(
        DOMAIN,
        SERVICE_AUDIT_LOG,
        _async_audit_log_service,
        AUDIT_LOG_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_AUDIT_SEAL,
        _async_audit_seal_service,
        vol.Schema({}),
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_AUDIT_DELETE_HOME,
        _async_audit_delete_home_service,
        vol.Schema({vol.Required("entry_id"): cv.string}),
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.http.register_view(AuditExportView())
    hass.http.register_view(AuditJsonLinesExportView())
    await trail.async_sync_retentions()
    return trail


AUDIT_LOG_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_DEVICE_ID): cv.string,
        vol.Optional("start"): cv.datetime,
        vol.Optional("end"): cv.datetime,
    }
)


def _operated_entries(hass: HomeAssistant, user: User) -> set[str]:
    return {
        entry.entry_id
        for entry in hass.config_entries.async_entries(DOMAIN)
        if may(user_roles(entry, user), Action.AUDIT_LOG)
    }


def local_as_utc(value: datetime) -> datetime:
    """A time asked for, in UTC; one without a time zone is Home Assistant's local time."""
    return dt_util.as_utc(
        value if value.tzinfo else value.replace(tzinfo=dt_util.get_default_time_zone())
    )


def _as_utc(value: datetime | None) -> datetime | None:
    return None if value is None else local_as_utc(value)


async def _async_audit_log_service(call: ServiceCall) -> ServiceResponse:
    """Return the records an admin or an operator may read, and whether the chain holds."""
    hass = call.hass
    entry = (
        entry_for_device(hass, call.data[ATTR_DEVICE_ID]) if ATTR_DEVICE_ID in call.data else None
    )
    user = await hass.auth.async_get_user(call.context.user_id) if call.context.user_id else None
    allowed: set[str] | None = set()
    if user is not None and user.is_active:
        allowed = None if user.is_admin else _operated_entries(hass, user)
    if allowed is not None and (
        not allowed or (entry is not None and entry.entry_id not in allowed)
    ):
        await async_log_denied(hass, entry, Action.AUDIT_LOG, call.context.user_id)
        raise Unauthorized(context=call.context)
    entry_id = entry.entry_id if entry is not None else None
    start, end = _as_utc(call.data.get("start")), _as_utc(call.data.get("end"))
    if start is not None and end is not None and end <= start:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="end_before_start")
    trail = hass.data[AUDIT_TRAIL]
    records: list[Any] = await hass.async_add_executor_job(_read, trail.log, entry_id, start, end)
    if allowed is not None:
        records = [record for record in records if record["entry_id"] in allowed]
    return {"records": records, "verified": await trail.async_verify()}


def _read(
    log: AuditLog, entry_id: str | None, start: datetime | None, end: datetime | None
) -> list[dict[str, Any]]:
    return [record.as_dict() for record in log.query(entry_id=entry_id, start=start, end=end)]


async def async_admin(call: ServiceCall, action: Action) -> User:
    """The calling admin; anyone else (and an automation) is refused, and it is logged."""
    user = (
        await call.hass.auth.async_get_user(call.context.user_id) if call.context.user_id else None
    )
    if user is None or not user.is_active or not user.is_admin:
        await async_log_denied(call.hass, None, action, call.context.user_id)
        raise Unauthorized(context=call.context, permission=str(action))
    return user


async def _async_audit_seal_service(call: ServiceCall) -> ServiceResponse:
    """Seal the log now and return the head to keep: `{seq, hash, at}`; admins only."""
    await async_admin(call, Action.AUDIT_SEAL)
    return await call.hass.data[AUDIT_TRAIL].async_seal()


async def _async_audit_delete_home_service(call: ServiceCall) -> ServiceResponse:
    """Delete a removed home's log after it was exported (issue 14's removal choice).

    The default is to keep the log until each record's retention ends; this is the other way,
    for a municipality that hands the log over: only for a removed home, only after an
    admin exported its log since the removal, and logged (the purge record names who asked).
    """
    hass = call.hass
    user = await async_admin(call, Action.AUDIT_DELETE_HOME)
    entry_id: str = call.data["entry_id"]
    if hass.config_entries.async_get_entry(entry_id) is not None:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="home_not_removed")
    trail = hass.data[AUDIT_TRAIL]
    closed = await hass.async_add_executor_job(
        functools.partial(trail.log.query, entry_id=entry_id, kinds=("home_closed",))
    )
    if not closed:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="home_not_removed")
    exports = await hass.async_add_executor_job(
        functools.partial(trail.log.query, kinds=("exported",), start=closed[-1].at)
    )
    if not any(record.data.get("entry_id") == entry_id for record in exports):
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_exported")
    removed = await hass.async_add_executor_job(
        functools.partial(trail.log.delete_home, entry_id, dt_util.utcnow(), requested_by=user.id)
    )
    await trail.async_refresh_head()
    return {"removed": removed}


class AuditExportView(HomeAssistantView):
    """CSV export of the audit log for the municipality's follow-up and audits; admins only.

    Query: `start`, `end` (ISO times) and `entry_id` (also of a removed home) select the records
    shown in full; the rest of the chain is included elided, so that `verify_audit.py` can
    check the export against a head. Without a range, every record is shown.
    """

    url = f"/api/{DOMAIN}/audit.csv"
    name = f"api:{DOMAIN}:audit_csv"
    requires_auth = True
    export_format = "csv"
    content_type = "text/csv"

    async def get(self, request: web.Request) -> web.StreamResponse:
        """Stream the export to an admin; log who exported what, and who was refused."""
        hass: HomeAssistant = request.app["hass"]
        user: User | None = request.get(KEY_HASS_USER)
        trail = hass.data[AUDIT_TRAIL]
        if user is None or not user.is_admin:
            await trail.async_append(
                "export_denied",
                at=dt_util.utcnow(),
                entry_id=None,
                home=None,
                user_id=user.id if user else None,
                data={"format": self.export_format},
            )
            return self.json_message("Administrators only", HTTPStatus.FORBIDDEN)
        try:
            end = parse_query_time(request.query.get("end"))
            start = parse_query_time(request.query.get("start"))
        except ValueError:
            return self.json_message("start and end must be ISO times", HTTPStatus.BAD_REQUEST)
        entry_id = request.query.get("entry_id") or None
        await trail.async_append(
            "exported",
            at=dt_util.utcnow(),
            entry_id=None,
            home=None,
            user_id=user.id,
            data={
                "entry_id": entry_id,
                "start": start.isoformat() if start else None,
                "end": end.isoformat() if end else None,
                "format": self.export_format,
            },
        )
        lines = (
            trail.log.export_csv_lines if self.export_format == "csv" else trail.log.export_jsonl
        )(start=start, end=end, entry_id=entry_id)
        response = web.StreamResponse(
            headers={
                "Content-Type": f"{self.content_type}; charset=utf-8",
                "Content-Disposition": (
                    f'attachment; filename="{DOMAIN}-audit.{self.export_format}"'
                ),
                "Cache-Control": "no-store",
            }
        )
        await response.prepare(request)
        try:
            while chunk := await hass.async_add_executor_job(_next_chunk, lines):
                await response.write(chunk.encode("utf-8"))
        finally:
            await hass.async_add_executor_job(lines.close)
        await response.write_eof()
        return response


class AuditJsonLinesExportView(AuditExportView):
    """The same export as JSON Lines (one row a line); admins only."""

    url = f"/api/{DOMAIN}/audit.jsonl"
    name = f"api:{DOMAIN}:audit_jsonl"
    export_format = "jsonl"
    content_type = "application/x-ndjson"


_CHUNK_LINES = 2000


def _next_chunk(lines: Generator[str]) -> str:
    """The next lines of an export, read off the event loop (one SQLite cursor, kept open)."""
    return "".join(itertools.islice(lines, _CHUNK_LINES))


def parse_query_time(value: str | None) -> datetime | None:
    """A time in a URL's query (ISO 8601, local without a zone) in UTC; None if not given.

    Raises ValueError for text that is no time.
    """
    if not value:
        return None
    parsed = dt_util.parse_datetime(value)
    if parsed is None:
        raise ValueError(value)
    return local_as_utc(parsed)


@callback
def async_get_trail(hass: HomeAssistant) -> AuditTrail | None:
    """The running audit trail, if the integration set one up."""
    return hass.data.get(AUDIT_TRAIL)
