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
from datetime import datetime
from enum import StrEnum
import functools
from typing import Any, Final, Protocol

from homeassistant.auth.models import User
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import Unauthorized
from homeassistant.util.hass_dict import HassKey

from .const import CONF_NAME, CONF_OPERATORS, DOMAIN
from .denials import DenialLog, Denials


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
        hass.data[DENIALS] = DenialLog(
            hass, "trygghetskamera denial window", functools.partial(_async_write, hass)
        )
    entry_id = entry.entry_id if entry is not None else None
    home = str(entry.data.get(CONF_NAME, entry.title)) if entry is not None else None
    await hass.data[DENIALS].async_denied(
        (user_id, action, entry_id), _Denied(user_id, action, entry_id, home)
    )


@dataclass(frozen=True, slots=True)
class _Denied:
    """Who was refused what at which home: what an `action_denied` record is about."""

    user_id: str | None
    action: Action
    entry_id: str | None
    home: str | None


async def _async_write(
    hass: HomeAssistant, denied: _Denied, denials: Denials, at: datetime, _stopping: bool
) -> None:
    """Write one `action_denied` record: `action`, `count`; on a merged one `first`, `last`."""
    trail = hass.data.get(_AUDIT_TRAIL)
    if trail is None:
        return
    data: dict[str, Any] = {"action": str(denied.action), "count": denials.count}
    if denials.first is not None and denials.last is not None:
        data |= {"first": denials.first.isoformat(), "last": denials.last.isoformat()}
    await trail.async_append(
        ACTION_DENIED,
        at=at,
        entry_id=denied.entry_id,
        home=denied.home,
        user_id=denied.user_id,
        data=data,
    )


DENIALS: HassKey[DenialLog[tuple[str | None, Action, str | None], _Denied]] = HassKey(
    f"{DOMAIN}_denials"
)
