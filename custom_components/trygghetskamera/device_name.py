"""A home's device name stays pseudonymous, whoever renames it.

After a home is added, Home Assistant's own "device created" step (name and area) and the device
page let a user rename the home's device; they do not ask the integration. A name that looks
like a personal identity number is taken back at once (the label from the camera step shows
again) and a warning is logged without the name.
"""

import logging

from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .config_flow import validate_name

_LOGGER = logging.getLogger(__name__)


@callback
def async_guard_device_name(hass: HomeAssistant, device_id: str) -> CALLBACK_TYPE:
    """Undo a device name like a personal identity number, now and on every rename."""

    @callback
    def _check() -> None:
        registry = dr.async_get(hass)
        device = registry.async_get(device_id)
        if device is None or not device.name_by_user:
            return
        if validate_name(device.name_by_user) == "personal_number":
            _LOGGER.warning(
                "A home's device was given a name like a personal identity number; "
                "it shows its pseudonymous label again"
            )
            registry.async_update_device(device_id, name_by_user=None)

    @callback
    def _updated(event: Event[dr.EventDeviceRegistryUpdatedData]) -> None:
        if event.data["action"] == "update" and event.data["device_id"] == device_id:
            _check()

    _check()
    return hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, _updated)
