"""The access review and the resident's extract in Home Assistant: actions and admin pages.

- `trygghetskamera.access_review` (`start`, `end`, optional `device_id`, `user_id`): the review
  of `review.build_review` as the response; admins only.
- `trygghetskamera.review_done` (`start`, `end`, optional `device_id`, `user_id`, `remark`): a
  `review_done` record (who, when, period, remark) and the bus event
  `trygghetskamera_review_done`, which the reminder blueprint waits for; admins only.
- `GET /api/trygghetskamera/review.html` and `review.csv` (`start`, `end`, `entry_id`,
  `user_id`): the review as a printable page and as CSV; `extract.html` and `extract.csv`
  (`entry_id`, `start`, `end`): the resident's extract. Admins only; each download is logged.
"""

from __future__ import annotations

import csv
from datetime import timedelta
from http import HTTPStatus
import io
from typing import Any

from aiohttp import web
from homeassistant.auth.models import User
from homeassistant.components.http import KEY_HASS_USER, HomeAssistantView
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .audit_trail import (
    AUDIT_TRAIL,
    AuditTrail,
    async_admin,
    local_as_utc,
    parse_query_time,
)
from .authz import Action, async_log_denied
from .const import ATTR_DEVICE_ID, CONF_SLOT_MINUTES, DEFAULT_SLOT_MINUTES, DOMAIN
from .lookup import entry_for_device
from .review import Period, build_extract, build_review, extract_html, review_csv, review_html
from .verify_audit import escape_cell

SERVICE_ACCESS_REVIEW = "access_review"
SERVICE_REVIEW_DONE = "review_done"
EVENT_REVIEW_DONE = f"{DOMAIN}_review_done"
MAX_REMARK = 2000

_PERIOD = {
    vol.Required("start"): cv.datetime,
    vol.Required("end"): cv.datetime,
    vol.Optional(ATTR_DEVICE_ID): cv.string,
    vol.Optional("user_id"): cv.string,
}
ACCESS_REVIEW_SCHEMA = vol.Schema(_PERIOD)
REVIEW_DONE_SCHEMA = vol.Schema(
    _PERIOD | {vol.Optional("remark"): vol.All(cv.string, vol.Length(max=MAX_REMARK))}
)


def async_setup_review(hass: HomeAssistant) -> None:
    """Register the review's actions and pages."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_ACCESS_REVIEW,
        _async_access_review,
        ACCESS_REVIEW_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN, SERVICE_REVIEW_DONE, _async_review_done, REVIEW_DONE_SCHEMA
    )
    hass.http.register_view(ReviewView())
    hass.http.register_view(ReviewCsvView())
    hass.http.register_view(ExtractView())
    hass.http.register_view(ExtractCsvView())


def _period(hass: HomeAssistant, data: dict[str, Any]) -> Period:
    start, end = local_as_utc(data["start"]), local_as_utc(data["end"])
    if end <= start:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="end_before_start")
    entry_id = (
        entry_for_device(hass, data[ATTR_DEVICE_ID]).entry_id if ATTR_DEVICE_ID in data else None
    )
    return Period(start, end, entry_id, data.get("user_id"))


async def async_review(hass: HomeAssistant, period: Period) -> dict[str, Any]:
    """Build the review of a period from the log (off the event loop)."""
    trail: AuditTrail = hass.data[AUDIT_TRAIL]
    records = await hass.async_add_executor_job(lambda: trail.log.query(end=period.end))
    slot_minutes = {
        entry.entry_id: int(entry.options.get(CONF_SLOT_MINUTES, DEFAULT_SLOT_MINUTES))
        for entry in hass.config_entries.async_entries(DOMAIN)
    }
    names = {user.id: user.name for user in await hass.auth.async_get_users()}
    review = build_review(records, period, slot_minutes=slot_minutes, names=names)
    review["verified"] = await trail.async_verify()
    return review


async def _async_access_review(call: ServiceCall) -> ServiceResponse:
    await async_admin(call, Action.ACCESS_REVIEW)
    return await async_review(call.hass, _period(call.hass, dict(call.data)))


async def _async_review_done(call: ServiceCall) -> None:
    user = await async_admin(call, Action.REVIEW_DONE)
    period = _period(call.hass, dict(call.data))
    data = {
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "entry_id": period.entry_id,
        "user_id": period.user_id,
        "remark": call.data.get("remark"),
    }
    await call.hass.data[AUDIT_TRAIL].async_append(
        "review_done", at=dt_util.utcnow(), entry_id=None, home=None, user_id=user.id, data=data
    )
    call.hass.bus.async_fire(EVENT_REVIEW_DONE, data | {"by": user.id})


class _AdminPage(HomeAssistantView):
    """An admin-only page over the log; refusals are logged as `action_denied`."""

    requires_auth = True
    kind = "review"

    async def get(self, request: web.Request) -> web.StreamResponse:
        """Check the user and the query, then build the page."""
        hass: HomeAssistant = request.app["hass"]
        user: User | None = request.get(KEY_HASS_USER)
        if user is None or not user.is_active or not user.is_admin:
            await async_log_denied(
                hass, None, Action.ACCESS_REVIEW, user.id if user is not None else None
            )
            return self.json_message("Administrators only", HTTPStatus.FORBIDDEN)
        try:
            end = parse_query_time(request.query.get("end")) or dt_util.utcnow()
            start = parse_query_time(request.query.get("start")) or end - timedelta(days=31)
        except ValueError:
            return self.json_message("start and end must be ISO times", HTTPStatus.BAD_REQUEST)
        if end <= start:
            return self.json_message("end must come after start", HTTPStatus.BAD_REQUEST)
        period = Period(
            start, end, request.query.get("entry_id") or None, request.query.get("user_id") or None
        )
        await hass.data[AUDIT_TRAIL].async_append(
            "review_viewed" if self.kind == "review" else "extract_made",
            at=dt_util.utcnow(),
            entry_id=None,
            home=None,
            user_id=user.id,
            data={
                "start": start.isoformat(),
                "end": end.isoformat(),
                "entry_id": period.entry_id,
                "user_id": period.user_id,
            },
        )
        return await self.page(hass, period)

    async def page(self, hass: HomeAssistant, period: Period) -> web.Response:
        """The page itself."""
        raise NotImplementedError


def _download(text: str, content_type: str, name: str) -> web.Response:
    return web.Response(
        text=text,
        content_type=content_type,
        charset="utf-8",
        headers={
            "Cache-Control": "no-store",
            **({"Content-Disposition": f'attachment; filename="{name}"'} if name else {}),
        },
    )


class ReviewView(_AdminPage):
    """The access review as a printable page."""

    url = f"/api/{DOMAIN}/review.html"
    name = f"api:{DOMAIN}:review_html"

    async def page(self, hass: HomeAssistant, period: Period) -> web.Response:
        """The review, in Home Assistant's language (Swedish or English)."""
        review = await async_review(hass, period)
        text = review_html(review, verified=review["verified"], language=hass.config.language)
        return _download(text, "text/html", "")


class ReviewCsvView(_AdminPage):
    """The access review as CSV."""

    url = f"/api/{DOMAIN}/review.csv"
    name = f"api:{DOMAIN}:review_csv"

    async def page(self, hass: HomeAssistant, period: Period) -> web.Response:
        """The review, one row per item."""
        review = await async_review(hass, period)
        return _download(review_csv(review), "text/csv", f"{DOMAIN}-review.csv")


class ExtractView(_AdminPage):
    """The resident's extract (one home, a period) as a printable page."""

    url = f"/api/{DOMAIN}/extract.html"
    name = f"api:{DOMAIN}:extract_html"
    kind = "extract"

    async def page(self, hass: HomeAssistant, period: Period) -> web.Response:
        """Every record of the home in the period, in words."""
        if period.entry_id is None:
            return self.json_message("entry_id is required", HTTPStatus.BAD_REQUEST)
        rows, home = await _extract(hass, period)
        text = extract_html(rows, home, period, hass.config.language)
        return _download(text, "text/html", "")


class ExtractCsvView(_AdminPage):
    """The resident's extract as CSV."""

    url = f"/api/{DOMAIN}/extract.csv"
    name = f"api:{DOMAIN}:extract_csv"
    kind = "extract"

    async def page(self, hass: HomeAssistant, period: Period) -> web.Response:
        """Every record of the home in the period: when, who, what, seconds, outcome."""
        if period.entry_id is None:
            return self.json_message("entry_id is required", HTTPStatus.BAD_REQUEST)
        rows, _home = await _extract(hass, period)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["at", "who", "what", "seconds", "outcome"])
        for row in rows:
            writer.writerow(
                [
                    escape_cell("" if row[key] is None else str(row[key]))
                    for key in ("at", "who", "what", "seconds", "outcome")
                ]
            )
        return _download(out.getvalue(), "text/csv", f"{DOMAIN}-extract.csv")


async def _extract(hass: HomeAssistant, period: Period) -> tuple[list[dict[str, Any]], str | None]:
    log = hass.data[AUDIT_TRAIL].log
    records = await hass.async_add_executor_job(
        lambda: log.query(entry_id=period.entry_id, start=period.start, end=period.end)
    )
    home = next((record.home for record in reversed(records) if record.home), None)
    return build_extract(records, period), home
