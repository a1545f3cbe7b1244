"""Actions: staff acknowledge a visit, skip a night (or undo the skip), test a camera.

Each action checks its caller's role for the home first (`authz`): operators of that home,
admins and automations; everybody else is refused and the refusal is logged.
"""

from datetime import date

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
import voluptuous as vol

from .authz import Action, async_authorize
from .const import (
    ATTR_DATE,
    ATTR_DEVICE_ID,
    ATTR_NOTE,
    DOMAIN,
    SERVICE_PROBE_CAMERA,
    SERVICE_SKIP_NIGHT,
    SERVICE_UNSKIP_NIGHT,
    SERVICE_VISIT_DONE,
)
from .lookup import entry_for_device
from .runtime import HomeRuntime

VISIT_DONE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Optional(ATTR_NOTE): vol.All(cv.string, vol.Length(max=500)),
    }
)
SKIP_NIGHT_SCHEMA = vol.Schema(
    {vol.Required(ATTR_DEVICE_ID): cv.string, vol.Optional(ATTR_DATE): cv.date}
)
DEVICE_SCHEMA = vol.Schema({vol.Required(ATTR_DEVICE_ID): cv.string})


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
    return entry.runtime_data


async def _visit_done(call: ServiceCall) -> None:
    runtime = await async_authorized_runtime(
        call.hass, call.data[ATTR_DEVICE_ID], Action.VISIT_DONE, call.context
    )
    if not runtime.supervisor.visit_required:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_visit_required",
            translation_placeholders={"name": runtime.name},
        )
    await runtime.async_visit_done(call.context.user_id, call.data.get(ATTR_NOTE))


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


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(DOMAIN, SERVICE_VISIT_DONE, _visit_done, VISIT_DONE_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_SKIP_NIGHT, _skip_night, SKIP_NIGHT_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_UNSKIP_NIGHT, _unskip_night, SKIP_NIGHT_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        SERVICE_PROBE_CAMERA,
        _probe_camera,
        DEVICE_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
