"""Actions: staff acknowledge and finish visits, skip a night (or undo the skip), test a camera.

Each action checks its caller's role for the home first (`authz`): operators of that home,
admins and automations; everybody else is refused and the refusal is logged.
"""

from datetime import date, timedelta

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import (
    Context,
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonValueType
import voluptuous as vol

from .authz import Action, async_authorize, async_roles, may
from .const import (
    ATTR_DATE,
    ATTR_DEVICE_ID,
    ATTR_NOTE,
    ATTR_VISIT_ID,
    DOMAIN,
    SERVICE_HOMES_NOT_RUNNING,
    SERVICE_PROBE_CAMERA,
    SERVICE_SKIP_NIGHT,
    SERVICE_UNSKIP_NIGHT,
    SERVICE_VISIT_ACKNOWLEDGE,
    SERVICE_VISIT_DONE,
    is_home,
)
from .lookup import entry_for_device, local_time_zone
from .runtime import HomeRuntime
from .supervision import to_acknowledge, to_finish
from .watchdog import WATCHDOG

# A visit by its id, or a home's open visits by its device.
VISIT_SCHEMA = vol.All(
    vol.Schema(
        {
            vol.Optional(ATTR_DEVICE_ID): cv.string,
            vol.Optional(ATTR_VISIT_ID): cv.string,
            vol.Optional(ATTR_NOTE): vol.All(cv.string, vol.Length(max=500)),
        }
    ),
    cv.has_at_least_one_key(ATTR_DEVICE_ID, ATTR_VISIT_ID),
)
SKIP_NIGHT_SCHEMA = vol.Schema(
    {vol.Required(ATTR_DEVICE_ID): cv.string, vol.Optional(ATTR_DATE): cv.date}
)
DEVICE_SCHEMA = vol.Schema({vol.Required(ATTR_DEVICE_ID): cv.string})
NIGHT_SCHEMA = vol.Schema({vol.Optional(ATTR_DATE): cv.date})


def runtime_for_device(hass: HomeAssistant, device_id: str) -> HomeRuntime:
    """Return the running home behind a device, or raise a translated error."""
    return runtime_for_entry(entry_for_device(hass, device_id))


async def async_authorized_runtime(
    hass: HomeAssistant, device_id: str, action: Action, context: Context
) -> HomeRuntime:
    """The running home behind a device, once the caller's role for it allows the action."""
    entry = entry_for_device(hass, device_id)
    await async_authorize(hass, entry, action, context)
    return runtime_for_entry(entry)


def runtime_for_entry(entry: ConfigEntry) -> HomeRuntime:
    """Return the running home of a config entry, or raise a translated error."""
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="home_not_running",
            translation_placeholders={"name": entry.title},
        )
    runtime: HomeRuntime = entry.runtime_data
    return runtime


def entry_for_visit(hass: HomeAssistant, visit_id: str) -> ConfigEntry:
    """The home with this open visit (running, or raised by the watchdog), or raise."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if (
            is_home(entry)
            and entry.state is ConfigEntryState.LOADED
            and entry.runtime_data.supervisor.visit(visit_id)
        ):
            return entry
    watchdog = hass.data.get(WATCHDOG)
    entry_id = watchdog.entry_of_visit(visit_id) if watchdog is not None else None
    if entry_id is not None and (found := hass.config_entries.async_get_entry(entry_id)):
        return found
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="unknown_visit",
        translation_placeholders={"visit_id": visit_id},
    )


async def _async_visit_action(call: ServiceCall, action: Action) -> None:
    """Acknowledge or finish visits: one by its id, or a home's open ones (as the core picks).

    Works for homes that are not running too: their visits are the watchdog's.
    """
    hass = call.hass
    user_id = call.context.user_id
    note: str | None = call.data.get(ATTR_NOTE)
    visit_id: str | None = call.data.get(ATTR_VISIT_ID)
    device_id: str | None = call.data.get(ATTR_DEVICE_ID)
    entry = (
        entry_for_visit(hass, visit_id)
        if visit_id is not None
        else entry_for_device(hass, str(device_id))
    )
    if (
        visit_id is not None
        and device_id is not None
        and entry_for_device(hass, device_id) != entry
    ):
        # A visit of another home than the one named: refused, as an unknown visit.
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_visit",
            translation_placeholders={"visit_id": visit_id},
        )
    await async_authorize(hass, entry, action, call.context)
    runtime: HomeRuntime | None = (
        entry.runtime_data if entry.state is ConfigEntryState.LOADED else None
    )
    watchdog = hass.data.get(WATCHDOG)
    by_watchdog = watchdog.open_visits(entry.entry_id) if watchdog is not None else []
    acknowledge = action is Action.VISIT_ACKNOWLEDGE
    home_ids: list[str] = []
    watchdog_ids: list[str] = []
    if visit_id is not None:
        if runtime is not None and runtime.supervisor.visit(visit_id) is not None:
            home_ids = [visit_id]
        else:
            watchdog_ids = [visit_id]
    else:
        if runtime is None and not by_watchdog:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="home_not_running",
                translation_placeholders={"name": entry.title},
            )
        if runtime is not None:
            supervisor = runtime.supervisor
            home_ids = (
                supervisor.visits_to_acknowledge()
                if acknowledge
                else supervisor.visits_to_finish(user_id)
            )
        watchdog_ids = (
            to_acknowledge(by_watchdog) if acknowledge else to_finish(by_watchdog, user_id)
        )
        open_anywhere = bool(by_watchdog) or (
            runtime is not None and runtime.supervisor.visit_required
        )
        if not open_anywhere:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="no_visit_required",
                translation_placeholders={"name": entry.title},
            )
    if watchdog is not None and watchdog_ids:
        if acknowledge:
            await watchdog.async_acknowledge(entry, user_id, note, watchdog_ids)
        else:
            await watchdog.async_done(entry, user_id, note, watchdog_ids)
    # The home logs the request even when it finds nothing left to act on (all acknowledged,
    # or done and waiting for the end of the window they replace).
    if runtime is not None and (home_ids or not watchdog_ids):
        if acknowledge:
            await runtime.async_acknowledge_visits(user_id, note, home_ids)
        else:
            await runtime.async_visit_done(user_id, note, home_ids)


async def _visit_acknowledge(call: ServiceCall) -> None:
    await _async_visit_action(call, Action.VISIT_ACKNOWLEDGE)


async def _visit_done(call: ServiceCall) -> None:
    await _async_visit_action(call, Action.VISIT_DONE)


def validate_skip(runtime: HomeRuntime, night: date) -> None:
    """Raise a translated error unless the night may be skipped now (tonight to a year ahead)."""
    now = runtime.now()
    supervisor = runtime.supervisor
    if supervisor.can_skip(now, night):
        return
    first, last = supervisor.skippable_nights(now)
    placeholders = {"date": night.isoformat(), "name": runtime.name}
    if night > last:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="night_too_far",
            translation_placeholders=placeholders | {"last": last.isoformat()},
        )
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="night_in_past",
        translation_placeholders=placeholders | {"first": first.isoformat()},
    )


async def _skip_night(call: ServiceCall) -> None:
    runtime = await async_authorized_runtime(
        call.hass, call.data[ATTR_DEVICE_ID], Action.SKIP_NIGHT, call.context
    )
    night: date = call.data.get(ATTR_DATE) or runtime.tonight()
    # Validated before anything changes: a refused date leaves the home as it was.
    validate_skip(runtime, night)
    await runtime.async_skip_night(night, call.context.user_id)


async def _unskip_night(call: ServiceCall) -> None:
    runtime = await async_authorized_runtime(
        call.hass, call.data[ATTR_DEVICE_ID], Action.UNSKIP_NIGHT, call.context
    )
    night: date = call.data.get(ATTR_DATE) or runtime.tonight()
    supervisor = runtime.supervisor
    if not supervisor.can_unskip(runtime.now(), night):
        skipped = night in supervisor.skipped_nights
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="night_begun" if skipped else "night_not_skipped",
            translation_placeholders={"date": night.isoformat(), "name": runtime.name},
        )
    await runtime.async_unskip_night(night, call.context.user_id)


async def _probe_camera(call: ServiceCall) -> ServiceResponse:
    runtime = await async_authorized_runtime(
        call.hass, call.data[ATTR_DEVICE_ID], Action.PROBE_CAMERA, call.context
    )
    result = await runtime.async_probe_camera(call.context.user_id)
    return {"ok": result.ok, "reason": result.reason, "ms": result.ms}


async def _homes_not_running(call: ServiceCall) -> ServiceResponse:
    """Homes not running now, with the watchdog's visits of a night (by default last night).

    Only the homes the caller may see (operators: their homes; admins; automations); the others
    are left out, as in the panel's list.
    """
    hass = call.hass
    # Last night: the night whose evening was yesterday (as the morning summary names it).
    night: date = call.data.get(ATTR_DATE) or (
        dt_util.now(local_time_zone()).date() - timedelta(days=1)
    )
    watchdog = hass.data.get(WATCHDOG)
    homes = watchdog.summary(night) if watchdog is not None else []
    visible: list[JsonValueType] = []
    for home in homes:
        entry = hass.config_entries.async_get_entry(home["entry_id"])
        if entry is not None and may(
            await async_roles(hass, entry, call.context.user_id), Action.HOMES_NOT_RUNNING
        ):
            visible.append(home)
    return {"night": night.isoformat(), "homes": visible}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(DOMAIN, SERVICE_VISIT_DONE, _visit_done, VISIT_SCHEMA)
    hass.services.async_register(
        DOMAIN, SERVICE_VISIT_ACKNOWLEDGE, _visit_acknowledge, VISIT_SCHEMA
    )
    hass.services.async_register(DOMAIN, SERVICE_SKIP_NIGHT, _skip_night, SKIP_NIGHT_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_UNSKIP_NIGHT, _unskip_night, SKIP_NIGHT_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        SERVICE_PROBE_CAMERA,
        _probe_camera,
        DEVICE_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_HOMES_NOT_RUNNING,
        _homes_not_running,
        NIGHT_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
