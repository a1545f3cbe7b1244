"""The operator API of the contract: websocket commands and the signed MJPEG stream.

Every command and the view check the calling user themselves (an operator of that home,
admins included only if chosen) and fail closed; every refusal is logged. The stream checks its
signature itself (Home Assistant lets a bearer token pass whatever `authSig` says) and every
condition of the look before each frame; refused requests are logged once per user and minute,
with a count, so that hammering the stream cannot flood the audit log.
"""

from dataclasses import dataclass
from datetime import datetime
import functools
from http import HTTPStatus
import logging
from typing import Any

from aiohttp import hdrs, web
from homeassistant.auth import jwt_wrapper
from homeassistant.auth.models import User
from homeassistant.components import websocket_api
from homeassistant.components.http import (
    KEY_HASS_REFRESH_TOKEN_ID,
    KEY_HASS_USER,
    HomeAssistantView,
)
from homeassistant.components.http.auth import DATA_SIGN_SECRET, SIGN_QUERY_PARAM
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
import jwt
import voluptuous as vol

from .audit_trail import async_get_trail
from .authz import Action, may, user_roles
from .const import CONF_BED_ENTITY, CONF_VIEW_MODE, CONF_VIEW_REGION, DOMAIN, is_home
from .denials import DenialLog, Denials
from .gate import LIVE_SESSIONS, GateRefusal, LiveSession, signed_stream_path
from .runtime import HomeRuntime
from .supervision import Outcome, Purpose, visit_state
from .view_filter import DEFAULT_VIEW_MODE

_LOGGER = logging.getLogger(__name__)

BOUNDARY = "trygghetskamera-frame"
ERROR_MESSAGES = {
    "not_operator": "You are not an operator of this home",
    "outside_slot": "No supervision is due now",
    "no_consent": "The resident has not consented",
    "decision_ended": "The decision for digital supervision has ended: a physical visit instead",
    "skipped": "Tonight's checks are skipped",
    "fault": "The equipment has a fault: a physical visit replaces the look",
    "busy": "Another look at this home is running",
    "commissioning_closed": (
        "Commissioning looks are closed for this home (commissioned, period over or all used)"
    ),
    "logged_out": "The login that started the look has ended",
    "user_inactive": "The user is deactivated",
    "privacy_entity_changed": "The home's privacy switch was changed",
    "view_changed": "The home's view was changed",
    "not_found": "No such home or session",
    "not_commissioning": "The bed area is marked in a commissioning look only",
    "region_format": "The bed area must be four numbers: x0, y0, x1, y1",
    "region_outside": "The bed area must lie inside the picture (0 to 1)",
    "region_order": "The bed area's right and bottom edges must come after its left and top",
    "region_too_small": "The bed area is too small",
}


def _send_refusal(connection: websocket_api.ActiveConnection, msg_id: int, code: str) -> None:
    """Answer with the stable code, its English message and its translation (`refusal_<code>`)."""
    connection.send_error(
        msg_id,
        code,
        ERROR_MESSAGES[code],
        translation_key=f"refusal_{code}",
        translation_domain=DOMAIN,
    )


@callback
def async_setup_operator_api(hass: HomeAssistant) -> None:
    """Register the websocket commands and the stream view."""
    websocket_api.async_register_command(hass, ws_homes)
    websocket_api.async_register_command(hass, ws_session_start)
    websocket_api.async_register_command(hass, ws_session_outcome)
    websocket_api.async_register_command(hass, ws_view_region_set)
    hass.http.register_view(SessionStreamView())
    hass.data[STREAM_DENIALS] = DenialLog(
        hass, "trygghetskamera stream denials", functools.partial(_async_write_stream_denied, hass)
    )


def _running_homes(hass: HomeAssistant) -> list[HomeRuntime]:
    return [
        entry.runtime_data
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED and is_home(entry)
    ]


def _bed_occupied(hass: HomeAssistant, runtime: HomeRuntime) -> bool | None:
    entity_id = runtime.entry.options.get(CONF_BED_ENTITY)
    state = hass.states.get(entity_id) if entity_id else None
    if state is None or state.state not in ("on", "off"):
        return None
    return state.state == "on"


@websocket_api.websocket_command({vol.Required("type"): f"{DOMAIN}/homes"})
@callback
def ws_homes(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """List the homes the calling user may see: their own homes, or every home for admins."""
    user: User = connection.user
    now = dt_util.utcnow()
    homes = []
    for runtime in _running_homes(hass):
        roles = user_roles(runtime.entry, user)
        if not may(roles, Action.LIST_HOME):
            continue
        is_operator = may(roles, Action.LOOK)
        supervisor = runtime.supervisor
        next_supervision = supervisor.next_supervision(now)
        reason = supervisor.visit_reason
        slot = supervisor.current_slot(now)
        commissioning_until = supervisor.commissioning_until
        tonight = supervisor.tonight(now)
        last = supervisor.last_supervision
        homes.append(
            {
                "entry_id": runtime.entry.entry_id,
                "device_id": runtime.device_id,
                "name": runtime.name,
                "status": str(supervisor.status(now)),
                "next_supervision": next_supervision.isoformat() if next_supervision else None,
                # The slot a look would serve now (the panel shows its time and minutes left).
                "slot_start": slot.start.isoformat() if slot else None,
                "slot_end": slot.end.isoformat() if slot else None,
                "visit_required": supervisor.visit_required,
                "reason": str(reason) if reason else None,
                "urgent": supervisor.urgent,
                # Each open visit with its id and life, for the patrol's list.
                "open_visits": [visit_state(visit) for visit in supervisor.open_visits],
                "bed_occupied": _bed_occupied(hass, runtime),
                "faults": sorted(runtime.faults),
                "commissioned": supervisor.commissioned,
                # What commissioning still waits for: `camera_probe`, `equipment`, `session`.
                "commissioning_missing": [
                    str(check) for check in getattr(runtime, "commissioning_missing", [])
                ],
                # What a look shows (the sensor view), and the bed area it uses.
                "view_mode": runtime.entry.options.get(CONF_VIEW_MODE) or DEFAULT_VIEW_MODE,
                "view_region": runtime.entry.options.get(CONF_VIEW_REGION),
                "may_view": is_operator and runtime.gate.may_start(user.id),
                # A commissioning look (the installer's, with the staff) could be started: only
                # in the commissioning period, while it has looks left.
                "may_commission": is_operator
                and supervisor.commissioning_refusal(now) is None
                and runtime.gate.live is None,
                "commissioning_until": (
                    commissioning_until.isoformat() if commissioning_until else None
                ),
                "commissioning_looks_left": supervisor.commissioning_looks_left,
                # The result of the current slot's last look, so a waiting home says "checked
                # 11:04, OK" instead of the minutes left.
                "slot_result": (
                    {"at": last[0].isoformat(), "outcome": str(last[1])}
                    if slot is not None and last is not None and slot.start <= last[0]
                    else None
                ),
                # The night "Skip tonight" means, whether it is skipped, and what the user may do.
                "tonight": tonight.isoformat(),
                "skipped_nights": sorted(night.isoformat() for night in supervisor.skipped_nights),
                "may_skip": may(roles, Action.SKIP_NIGHT)
                and tonight not in supervisor.skipped_nights
                and supervisor.can_skip(now, tonight),
                "may_unskip": may(roles, Action.UNSKIP_NIGHT)
                and supervisor.can_unskip(now, tonight),
            }
        )
    connection.send_result(msg["id"], homes)


def _runtime(hass: HomeAssistant, entry_id: str) -> HomeRuntime | None:
    entry = hass.config_entries.async_get_entry(entry_id)
    if (
        entry is None
        or entry.domain != DOMAIN
        or not is_home(entry)
        or entry.state is not ConfigEntryState.LOADED
    ):
        return None
    runtime: HomeRuntime = entry.runtime_data
    return runtime


@websocket_api.websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/session/start",
        vol.Required("entry_id"): str,
        vol.Optional("purpose", default=str(Purpose.SUPERVISION)): vol.In(
            [str(purpose) for purpose in Purpose]
        ),
    }
)
@websocket_api.async_response
async def ws_session_start(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Start a look; the answer holds the signed stream path, or the contract's error code."""
    runtime = _runtime(hass, msg["entry_id"])
    if runtime is None:
        _send_refusal(connection, msg["id"], "not_found")
        return
    try:
        live = await runtime.gate.async_start(
            connection.user.id, connection.refresh_token_id, Purpose(msg["purpose"])
        )
    except GateRefusal as refusal:
        _send_refusal(connection, msg["id"], refusal.code)
        return
    now = dt_util.utcnow()
    connection.send_result(
        msg["id"],
        {
            "session_id": live.session_id,
            "stream_path": signed_stream_path(hass, live, now),
            "view_seconds": runtime.config.view_seconds,
            "expires": live.view_until.isoformat(),
            "view_mode": live.view_mode,
        },
    )


@websocket_api.websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/session/outcome",
        vol.Required("session_id"): str,
        vol.Required("outcome"): vol.In([str(outcome) for outcome in Outcome]),
        vol.Optional("note"): vol.All(str, vol.Length(max=500)),
    }
)
@websocket_api.async_response
async def ws_session_outcome(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Record what the look showed."""
    for runtime in _running_homes(hass):
        session = runtime.supervisor.active_session
        if session is not None and session.session_id == msg["session_id"]:
            try:
                await runtime.gate.async_outcome(
                    msg["session_id"], connection.user.id, Outcome(msg["outcome"]), msg.get("note")
                )
            except GateRefusal as refusal:
                runtime.audit("outcome_denied", connection.user.id, reason=refusal.code)
                await runtime.async_flush_audit()
                _send_refusal(connection, msg["id"], refusal.code)
                return
            connection.send_result(msg["id"], {"outcome": msg["outcome"]})
            return
    _send_refusal(connection, msg["id"], "not_found")


@websocket_api.websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/view_region/set",
        vol.Required("session_id"): str,
        # Validated by the gate, so that a bad region gets its own error code.
        vol.Required("region"): list,
    }
)
@websocket_api.async_response
async def ws_view_region_set(
    hass: HomeAssistant, connection: websocket_api.ActiveConnection, msg: dict[str, Any]
) -> None:
    """Save the bed area marked in a running commissioning look, by that look's operator."""
    for runtime in _running_homes(hass):
        live = runtime.gate.live
        if live is not None and live.session_id == msg["session_id"]:
            try:
                mode = await runtime.gate.async_set_view_region(
                    msg["session_id"], connection.user.id, msg["region"]
                )
            except GateRefusal as refusal:
                runtime.audit("view_region_denied", connection.user.id, reason=refusal.code)
                await runtime.async_flush_audit()
                _send_refusal(connection, msg["id"], refusal.code)
                return
            connection.send_result(
                msg["id"],
                {"view_region": runtime.entry.options.get(CONF_VIEW_REGION), "view_mode": mode},
            )
            return
    _send_refusal(connection, msg["id"], "not_found")


class SessionStreamView(HomeAssistantView):
    """The live MJPEG stream of one look, for its operator only, for at most `view_seconds`."""

    url = f"/api/{DOMAIN}/session/{{session_id}}/mjpeg"
    name = f"api:{DOMAIN}:session_mjpeg"
    requires_auth = True

    async def get(self, request: web.Request, session_id: str) -> web.StreamResponse:
        """Stream the newest frames until the look ends; refuse anyone else."""
        hass: HomeAssistant = request.app["hass"]
        user: User | None = request.get(KEY_HASS_USER)
        live = hass.data.get(LIVE_SESSIONS, {}).get(session_id)
        runtime = _runtime(hass, live.entry_id) if live is not None else None
        refusal: str | None = None
        if hdrs.AUTHORIZATION in request.headers:
            # The stream is opened by its signed path alone (an <img> sends no header); with a
            # bearer token Home Assistant would not even look at the signature.
            refusal = "authorization_header"
        elif SIGN_QUERY_PARAM not in request.query:
            refusal = "unsigned"
        elif live is None or live.ended or runtime is None:
            refusal = "no_live_session"
        elif not _signed_for(hass, request, live):
            refusal = "bad_signature"
        elif user is None or user.id != live.user_id:
            refusal = "other_user"
        elif request.get(KEY_HASS_REFRESH_TOKEN_ID) != live.refresh_token_id:
            refusal = "other_login"
        elif live.viewer_attached:
            refusal = "already_viewing"
        elif (refusal := runtime.gate.condition_refusal(live)) is not None:
            # The look lost a condition before anyone watched it: it ends now.
            live.end(refusal)
            runtime.entry.async_create_task(
                hass, runtime.gate.async_viewer_gone(live), "viewer gone", eager_start=True
            )
        if refusal is not None:
            await _async_stream_denied(
                hass,
                live.entry_id if runtime is not None and live is not None else None,
                user.id if user is not None else None,
                request.remote,
                refusal,
            )
            status = HTTPStatus.UNAUTHORIZED if user is None else HTTPStatus.FORBIDDEN
            return self.json_message("Forbidden", status)
        assert live is not None
        assert runtime is not None
        live.viewer_attached = True
        response = web.StreamResponse(
            headers={
                "Content-Type": f"multipart/x-mixed-replace;boundary={BOUNDARY}",
                "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
                "Pragma": "no-cache",
                "X-Content-Type-Options": "nosniff",
            }
        )
        try:
            await response.prepare(request)
            seq = 0
            while (frame := await live.next_frame(seq)) is not None:
                if (reason := runtime.gate.condition_refusal(live)) is not None:
                    # A fact not enforced yet (its handler still awaits): not one more frame.
                    live.end(reason)
                    break
                seq, jpeg = frame
                live.frames_sent += 1
                await response.write(
                    b"--" + BOUNDARY.encode() + b"\r\nContent-Type: image/jpeg\r\n"
                    b"Content-Length: " + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n"
                )
        except ConnectionError:
            live.end("viewer_gone")
        finally:
            live.end(live.end_reason or "viewer_gone")
            runtime.entry.async_create_task(
                hass, runtime.gate.async_viewer_gone(live), "viewer gone", eager_start=True
            )
        return response


def _signed_for(hass: HomeAssistant, request: web.Request, live: LiveSession) -> bool:
    """The request's `authSig` was made by this Home Assistant for this path and this login."""
    secret = hass.data.get(DATA_SIGN_SECRET)
    signature = request.query.get(SIGN_QUERY_PARAM)
    if secret is None or signature is None or live.refresh_token_id is None:
        return False
    try:
        claims = jwt_wrapper.verify_and_decode(
            signature, secret, algorithms=["HS256"], issuer=live.refresh_token_id
        )
    except jwt.InvalidTokenError:
        return False
    return bool(claims.get("path") == request.path)


@dataclass(frozen=True, slots=True)
class _StreamDenied:
    """Who (a user, or a remote address without one) was refused a stream at which home."""

    entry_id: str | None
    user_id: str | None
    remote: str | None
    home: str | None


async def _async_write_stream_denied(
    hass: HomeAssistant, denied: _StreamDenied, denials: Denials, at: datetime, stopping: bool
) -> None:
    """Write one `stream_denied` record: `reason`, `count`; on a merged one `reasons`.

    Through the home while it runs; else (or while Home Assistant stops) to the trail itself.
    """
    data: dict[str, Any] = {"reason": denials.reason, "count": denials.count}
    if denials.merged:
        data["reasons"] = dict(denials.reasons)
    if denied.remote is not None:
        data["remote"] = denied.remote
    entry_id = denied.entry_id
    runtime = _runtime(hass, entry_id) if entry_id is not None and not stopping else None
    if runtime is not None:
        runtime.audit("stream_denied", denied.user_id, **data)
        await runtime.async_flush_audit()
    elif (trail := async_get_trail(hass)) is not None:
        await trail.async_append(
            "stream_denied",
            at=at,
            entry_id=entry_id,
            home=denied.home,
            user_id=denied.user_id,
            data=data,
        )


async def _async_stream_denied(
    hass: HomeAssistant,
    entry_id: str | None,
    user_id: str | None,
    remote: str | None,
    reason: str,
) -> None:
    """Log one refused stream request; if it is the first of its minute, once it is logged."""
    runtime = _runtime(hass, entry_id) if entry_id is not None else None
    denied = _StreamDenied(
        entry_id,
        user_id,
        None if user_id else remote,
        runtime.name if runtime is not None else None,
    )
    await hass.data[STREAM_DENIALS].async_denied(
        (entry_id, user_id or f"remote:{remote}"), denied, reason
    )


# Refused stream requests: at most one audit record per home, user (or remote) and minute.
STREAM_DENIALS: HassKey[DenialLog[tuple[str | None, str], _StreamDenied]] = HassKey(
    f"{DOMAIN}_stream_denials"
)
