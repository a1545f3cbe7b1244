"""Who may act on a home: one decision for every action, button, switch and websocket command.

The roles (docs/contract.md, "Who may do what"):
- *operator* of a home: an active user listed in that home's `operators` option;
- *admin*: an active Home Assistant administrator;
- *automation*: a call whose context has no user (automations and blueprints, which only
  admins can configure).

A user may hold both user roles. Everybody else holds none and may do nothing to a home. Each
refusal is written to the audit log as `action_denied` (user, action, home); repeated refusals
of the same user, action and home within a minute are merged into one record with a count, so
that a flood of calls cannot flood the log (the first refusal is always written at once).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Protocol

from homeassistant.auth.models import User
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Context, Event, HassJob, HomeAssistant
from homeassistant.exceptions import Unauthorized
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import CONF_NAME, CONF_OPERATORS, DOMAIN


class _Trail(Protocol):
    """What this module needs of `audit_trail.AuditTrail`: writing one record."""

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
        """Write one record and return once it is committed."""


# `audit_trail.AUDIT_TRAIL`, named rather than imported: the audit trail asks this module who
# may read the log, and the package has no import circle.
_AUDIT_TRAIL: HassKey[_Trail] = HassKey(f"{DOMAIN}_audit_trail")
DENIAL_WINDOW: Final = timedelta(minutes=1)
ACTION_DENIED: Final = "action_denied"


class Role(StrEnum):
    """What a caller is to one home."""

    OPERATOR = "operator"
    ADMIN = "admin"
    AUTOMATION = "automation"


class Action(StrEnum):
    """Everything a caller can ask of a home (the `action` of an `action_denied` record)."""

    VISIT_DONE = "visit_done"
    VISIT_ACKNOWLEDGE = "visit_acknowledge"
    SKIP_NIGHT = "skip_night"
    UNSKIP_NIGHT = "unskip_night"
    PROBE_CAMERA = "probe_camera"
    SKIP_TONIGHT = "skip_tonight"
    TEST_CAMERA = "test_camera"
    CONSENT_OFF = "consent_off"
    CONSENT_ON = "consent_on"
    AUDIT_LOG = "audit_log"
    LIST_HOME = "homes"
    LOOK = "look"
    # The audit log's follow-up (audit_trail, review): admins only.
    AUDIT_SEAL = "audit_seal"
    AUDIT_DELETE_HOME = "audit_delete_home"
    AUDIT_EXPORT = "audit_export"
    ACCESS_REVIEW = "access_review"
    REVIEW_DONE = "review_done"
    RESTART_COMMISSIONING = "restart_commissioning"
    HOMES_NOT_RUNNING = "homes_not_running"


_STAFF: Final = frozenset({Role.OPERATOR, Role.ADMIN, Role.AUTOMATION})

# Who may do what (README, "Who may do what"). Consent is given again only in the home's
# options (the consent step), which Home Assistant opens to admins only: never through the
# switch, by nobody. Looks stay with the home's operators, admins included only if chosen.
ALLOWED: Final[Mapping[Action, frozenset[Role]]] = {
    Action.VISIT_DONE: _STAFF,
    Action.VISIT_ACKNOWLEDGE: _STAFF,
    Action.SKIP_NIGHT: _STAFF,
    Action.UNSKIP_NIGHT: _STAFF,
    Action.PROBE_CAMERA: _STAFF,
    Action.SKIP_TONIGHT: _STAFF,
    Action.TEST_CAMERA: _STAFF,
    Action.CONSENT_OFF: _STAFF,
    Action.CONSENT_ON: frozenset(),
    Action.AUDIT_LOG: frozenset({Role.OPERATOR, Role.ADMIN}),
    Action.LIST_HOME: frozenset({Role.OPERATOR, Role.ADMIN}),
    Action.LOOK: frozenset({Role.OPERATOR}),
    Action.AUDIT_SEAL: frozenset({Role.ADMIN}),
    Action.AUDIT_DELETE_HOME: frozenset({Role.ADMIN}),
    Action.AUDIT_EXPORT: frozenset({Role.ADMIN}),
    Action.ACCESS_REVIEW: frozenset({Role.ADMIN}),
    Action.REVIEW_DONE: frozenset({Role.ADMIN}),
    Action.RESTART_COMMISSIONING: frozenset({Role.ADMIN}),
    # Which homes are not running and their watchdog visits (the morning summary).
    Action.HOMES_NOT_RUNNING: _STAFF,
}


def user_roles(entry: ConfigEntry, user: User | None) -> frozenset[Role]:
    """The roles a (known) user holds for one home; none for an unknown or inactive user."""
    if user is None or not user.is_active:
        return frozenset()
    roles: set[Role] = set()
    if user.id in entry.options.get(CONF_OPERATORS, []):
        roles.add(Role.OPERATOR)
    if user.is_admin:
        roles.add(Role.ADMIN)
    return frozenset(roles)


async def async_roles(
    hass: HomeAssistant, entry: ConfigEntry, user_id: str | None
) -> frozenset[Role]:
    """The roles of a caller for one home; a context without a user is an automation."""
    if user_id is None:
        return frozenset({Role.AUTOMATION})
    return user_roles(entry, await hass.auth.async_get_user(user_id))


def may(roles: frozenset[Role], action: Action) -> bool:
    """Whether any of these roles allows the action."""
    return bool(roles & ALLOWED[action])


async def async_authorize(
    hass: HomeAssistant, entry: ConfigEntry, action: Action, context: Context
) -> frozenset[Role]:
    """Return the caller's roles if they allow the action; else log the refusal and raise."""
    roles = await async_roles(hass, entry, context.user_id)
    if may(roles, action):
        return roles
    await async_log_denied(hass, entry, action, context.user_id)
    raise Unauthorized(context=context, config_entry_id=entry.entry_id, permission=str(action))


async def async_log_denied(
    hass: HomeAssistant, entry: ConfigEntry | None, action: Action, user_id: str | None
) -> None:
    """Write (or count, within a minute of the last record) one refused request.

    `entry` is the home asked about; None for a request about no home in particular.
    """
    if DENIALS not in hass.data:
        hass.data[DENIALS] = DenialLog(hass)
    await hass.data[DENIALS].async_denied(entry, action, user_id)


@dataclass(slots=True)
class _Window:
    """Refusals of one user, action and home since its last record, merged into the next."""

    entry_id: str | None
    home: str | None
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    unsub: CALLBACK_TYPE | None = None


type _Key = tuple[str | None, Action, str | None]


class DenialLog:
    """Writes `action_denied` records: the first at once, the repeats as one counted record.

    A refusal with no window open is written at once (count 1) and opens a window of a minute.
    Refusals inside it are only counted; when it closes with any, one record holds their count
    and a new window opens, so a steady flood writes one record a minute. When Home Assistant
    stops, the counts still open are written.
    """

    def __init__(self, hass: HomeAssistant) -> None:
        """Start with no window open; count until Home Assistant stops."""
        self.hass = hass
        self._windows: dict[_Key, _Window] = {}
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._async_stop)

    async def async_denied(
        self, entry: ConfigEntry | None, action: Action, user_id: str | None
    ) -> None:
        """One refusal: written at once, or counted into the open window's record."""
        key = (user_id, action, entry.entry_id if entry is not None else None)
        now = dt_util.utcnow()
        if (window := self._windows.get(key)) is not None:
            window.count += 1
            window.first = window.first or now
            window.last = now
            return
        window = (
            _Window(entry.entry_id, str(entry.data.get(CONF_NAME, entry.title)))
            if entry is not None
            else _Window(None, None)
        )
        self._open(key, window)
        await self._async_write(key, window, now, count=1)

    def _open(self, key: _Key, window: _Window) -> None:
        self._windows[key] = window

        async def _close(_now: datetime) -> None:
            await self._async_close(key)

        window.unsub = async_call_later(
            self.hass, DENIAL_WINDOW, HassJob(_close, "trygghetskamera denial window")
        )

    async def _async_close(self, key: _Key) -> None:
        window = self._windows.pop(key, None)
        if window is None or window.count == 0:
            return
        # The flood goes on being merged: the next record comes a minute after this one.
        self._open(key, _Window(window.entry_id, window.home))
        await self._async_write(key, window, dt_util.utcnow(), count=window.count)

    async def _async_write(self, key: _Key, window: _Window, at: datetime, *, count: int) -> None:
        trail = self.hass.data.get(_AUDIT_TRAIL)
        if trail is None:
            return
        user_id, action, _entry_id = key
        data: dict[str, Any] = {"action": str(action), "count": count}
        if window.first is not None and window.last is not None:
            data |= {"first": window.first.isoformat(), "last": window.last.isoformat()}
        await trail.async_append(
            ACTION_DENIED,
            at=at,
            entry_id=window.entry_id,
            home=window.home,
            user_id=user_id,
            data=data,
        )

    async def _async_stop(self, _event: Event) -> None:
        for key in list(self._windows):
            window = self._windows[key]
            if window.unsub is not None:
                window.unsub()
            await self._async_close(key)
        for window in self._windows.values():
            if window.unsub is not None:
                window.unsub()
        self._windows.clear()


DENIALS: HassKey[DenialLog] = HassKey(f"{DOMAIN}_denials")
