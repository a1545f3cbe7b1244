"""Actions: staff acknowledge a visit, skip a night, test a camera."""

from datetime import date

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
import voluptuous as vol

from .const import (
    ATTR_DATE,
    ATTR_DEVICE_ID,
    ATTR_NOTE,
    DOMAIN,
    SERVICE_PROBE_CAMERA,
    SERVICE_SKIP_NIGHT,
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
    entry = entry_for_device(hass, device_id)
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="home_not_running",
            translation_placeholders={"name": entry.title},
        )
    return entry.runtime_data


async def _visit_done(call: ServiceCall) -> None:
    runtime = runtime_for_device(call.hass, call.data[ATTR_DEVICE_ID])
    if not runtime.supervisor.visit_required:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_visit_required",
            translation_placeholders={"name": runtime.name},
        )
    await runtime.async_visit_done(call.context.user_id, call.data.get(ATTR_NOTE))


async def _skip_night(call: ServiceCall) -> None:
    runtime = runtime_for_device(call.hass, call.data[ATTR_DEVICE_ID])
    night: date = call.data.get(ATTR_DATE) or runtime.supervisor.tonight(runtime.now())
    if not runtime.supervisor.can_skip(runtime.now(), night):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="night_in_past",
            translation_placeholders={"date": night.isoformat(), "name": runtime.name},
        )
    await runtime.async_skip_night(night, call.context.user_id)


async def _probe_camera(call: ServiceCall) -> ServiceResponse:
    runtime = runtime_for_device(call.hass, call.data[ATTR_DEVICE_ID])
    result = await runtime.async_probe_camera(call.context.user_id)
    return {"ok": result.ok, "reason": result.reason, "ms": result.ms}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(DOMAIN, SERVICE_VISIT_DONE, _visit_done, VISIT_DONE_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_SKIP_NIGHT, _skip_night, SKIP_NIGHT_SCHEMA)
    hass.services.async_register(
        DOMAIN,
        SERVICE_PROBE_CAMERA,
        _probe_camera,
        DEVICE_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
