"""The admin-only action that restarts a home's commissioning, with who and why.

Commissioning looks (the one look outside the agreed times) are allowed only in a commissioning
period of 14 days and 10 looks, opened when the home is added or its camera changes. Opening one
at any other time (the camera was moved, the first period ran out) is an admin's decision, and
it is logged with that admin and the reason given.
"""

from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.helpers import config_validation as cv
import voluptuous as vol

from .authz import Action
from .const import ATTR_DEVICE_ID, DOMAIN
from .services import async_authorized_runtime

SERVICE_RESTART_COMMISSIONING = "restart_commissioning"
ATTR_REASON = "reason"

RESTART_COMMISSIONING_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Required(ATTR_REASON): vol.All(cv.string, vol.Strip, vol.Length(min=3, max=500)),
    }
)


async def _restart_commissioning(call: ServiceCall) -> None:
    # Admins only; an automation (no user) may not open a way to the picture either.
    runtime = await async_authorized_runtime(
        call.hass, call.data[ATTR_DEVICE_ID], Action.RESTART_COMMISSIONING, call.context
    )
    await runtime.async_restart_commissioning(call.context.user_id, call.data[ATTR_REASON])


@callback
def async_setup_commissioning_action(hass: HomeAssistant) -> None:
    """Register `trygghetskamera.restart_commissioning`."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_RESTART_COMMISSIONING,
        _restart_commissioning,
        RESTART_COMMISSIONING_SCHEMA,
    )
