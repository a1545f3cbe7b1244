"""The audit log inside Home Assistant: one log for every home, its action, export and purge.

`audit.AuditLog` is the store (SQLite, hash chain, its own writer thread); this module opens it
in the config directory, resolves user names, purges it daily, and serves it to the people
allowed to follow it up: the `audit_log` action for admins and operators, a CSV download for
admins.
"""

import asyncio
import contextlib
from datetime import datetime, timedelta
from http import HTTPStatus
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
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.event import async_track_time_change
from homeassistant.helpers.http import current_request
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
import voluptuous as vol

from .audit import DEFAULT_RETENTION_DAYS, AuditLog
from .authz import Action, async_log_denied, may, user_roles
from .const import (
    ATTR_DEVICE_ID,
    CONF_AUDIT_RETENTION_MONTHS,
    DEFAULT_AUDIT_RETENTION_MONTHS,
    DOMAIN,
    SERVICE_AUDIT_LOG,
)
from .lookup import entry_for_device

_LOGGER = logging.getLogger(__name__)

AUDIT_TRAIL: HassKey[AuditTrail] = HassKey(f"{DOMAIN}_audit_trail")
AUDIT_FILE = f"{DOMAIN}_audit.db"
# The daily purge runs in the quiet hour after the night's last checks.
PURGE_TIME = {"hour": 12, "minute": 15, "second": 0}
DAYS_PER_MONTH = 30.44


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
    """The audit log of this Home Assistant and the facts waiting to be written to it."""

    def __init__(self, hass: HomeAssistant, path: Path) -> None:
        """Prepare the log at `path`; it is opened by `async_start`."""
        self.hass = hass
        self.log = AuditLog(path, retention_days=DEFAULT_RETENTION_DAYS)
        self._names: dict[str, str | None] = {}
        self._started: asyncio.Future[None] | None = None

    async def async_start(self) -> None:
        """Open the log (off the event loop) and arrange the daily purge and the final close."""
        if self.hass.is_stopping:
            raise HomeAssistantError("Home Assistant is stopping")
        # The close is arranged before the log opens: if Home Assistant stops while it opens,
        # the writer thread still gets closed.
        self._started = self.hass.async_add_executor_job(self.log.start)
        self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_FINAL_WRITE, self._async_close)
        unsub_purge = async_track_time_change(self.hass, self._async_purge, **PURGE_TIME)
        self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, lambda _event: unsub_purge())
        await asyncio.shield(self._started)

    async def _async_close(self, _event: Event) -> None:
        # After the stop stage, so the looks and homes that close then are logged too.
        with contextlib.suppress(Exception):
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
        await asyncio.wrap_future(future)

    async def _user_name(self, user_id: str | None) -> str | None:
        if user_id is None:
            return None
        if user_id not in self._names:
            user = await self.hass.auth.async_get_user(user_id)
            self._names[user_id] = user.name if user else None
        return self._names[user_id]

    def retention_days(self) -> int:
        """The longest retention any home asks for: no home's policy cuts another's records."""
        months = [
            int(entry.options.get(CONF_AUDIT_RETENTION_MONTHS, DEFAULT_AUDIT_RETENTION_MONTHS))
            for entry in self.hass.config_entries.async_entries(DOMAIN)
        ] or [DEFAULT_AUDIT_RETENTION_MONTHS]
        return max(1, round(max(months) * DAYS_PER_MONTH))

    async def _async_purge(self, now: datetime) -> None:
        self.log.retention_days = self.retention_days()
        removed = await self.hass.async_add_executor_job(self.log.purge, dt_util.utcnow())
        if removed:
            _LOGGER.info("Audit log: purged %d records past retention", removed)


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
    hass.http.register_view(AuditExportView())
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


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return dt_util.as_utc(
        value if value.tzinfo else value.replace(tzinfo=dt_util.get_default_time_zone())
    )


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
    log = hass.data[AUDIT_TRAIL].log
    records, verified = await hass.async_add_executor_job(_read, log, entry_id, start, end)
    if allowed is not None:
        records = [record for record in records if record["entry_id"] in allowed]
    return {"records": records, "verified": verified}


def _read(
    log: AuditLog, entry_id: str | None, start: datetime | None, end: datetime | None
) -> tuple[list[dict[str, Any]], bool]:
    records = [record.as_dict() for record in log.query(entry_id=entry_id, start=start, end=end)]
    return records, log.verify()


class AuditExportView(HomeAssistantView):
    """CSV download of the audit log for the municipality's follow-up; admins only."""

    url = f"/api/{DOMAIN}/audit.csv"
    name = f"api:{DOMAIN}:audit_csv"
    requires_auth = True

    async def get(self, request: web.Request) -> web.StreamResponse:
        """Return the records of a time range (`start`, `end` as ISO times; default 31 days)."""
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
                data={},
            )
            return self.json_message("Administrators only", HTTPStatus.FORBIDDEN)
        try:
            end = _parse(request.query.get("end")) or dt_util.utcnow()
            start = _parse(request.query.get("start")) or end - timedelta(days=31)
        except ValueError:
            return self.json_message("start and end must be ISO times", HTTPStatus.BAD_REQUEST)
        entry_id = request.query.get("entry_id") or None
        text = await hass.async_add_executor_job(
            lambda: trail.log.export_csv(start=start, end=end, entry_id=entry_id)
        )
        await trail.async_append(
            "exported",
            at=dt_util.utcnow(),
            entry_id=entry_id,
            home=None,
            user_id=user.id,
            data={"start": start.isoformat(), "end": end.isoformat()},
        )
        return web.Response(
            text=text,
            content_type="text/csv",
            charset="utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{DOMAIN}-audit.csv"',
                "Cache-Control": "no-store",
            },
        )


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = dt_util.parse_datetime(value)
    if parsed is None:
        raise ValueError(value)
    return _as_utc(parsed)


@callback
def async_get_trail(hass: HomeAssistant) -> AuditTrail | None:
    """The running audit trail, if the integration set one up."""
    return hass.data.get(AUDIT_TRAIL)
