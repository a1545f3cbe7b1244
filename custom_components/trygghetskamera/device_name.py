"""A home's device name stays pseudonymous, whoever renames it.

After a home is added, Home Assistant's own "device created" step (name and area) and the device
page let a user rename the home's device; they do not ask the integration. A name that looks
like a personal identity number is taken back at once (the label from the camera step shows
again) and a warning is logged without the name.
"""

from collections import Counter
import logging

from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.util.hass_dict import HassKey

from .config_flow import validate_name
from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)

# The guarded devices (a home's device may be guarded twice while its entry reloads), and the
# one listener for all of them: a listener per home would hear every other home's device
# updates, N x N calls while N homes are set up.
_GUARDED: HassKey[tuple[Counter[str], CALLBACK_TYPE]] = HassKey(f"{DOMAIN}_device_name_guard")


@callback
def _async_check(hass: HomeAssistant, device_id: str) -> None:
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
def async_guard_device_name(hass: HomeAssistant, device_id: str) -> CALLBACK_TYPE:
    """Undo a device name like a personal identity number, now and on every rename."""
    if (guard := hass.data.get(_GUARDED)) is None:
        guarded: Counter[str] = Counter()

        @callback
        def _updated(event: Event[dr.EventDeviceRegistryUpdatedData]) -> None:
            if event.data["action"] == "update" and event.data["device_id"] in guarded:
                _async_check(hass, event.data["device_id"])

        guard = hass.data[_GUARDED] = (
            guarded,
            hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, _updated),
        )
    guarded, unsubscribe = guard
    guarded[device_id] += 1
    _async_check(hass, device_id)

    @callback
    def _release() -> None:
        guarded[device_id] -= 1
        if guarded[device_id] <= 0:
            del guarded[device_id]
        if not guarded and hass.data.get(_GUARDED) is guard:
            unsubscribe()
            hass.data.pop(_GUARDED)

    return _release
