"""Look-ups shared by the actions, the audit trail and the runtime's neighbours.

It imports nothing of the integration's own that imports `runtime`, so any module may use it
without an import circle (tests/test_import_graph.py checks that).
"""

from typing import cast
from zoneinfo import ZoneInfo

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util

from .const import DOMAIN


def entry_for_device(hass: HomeAssistant, device_id: str) -> ConfigEntry:
    """Return the home (config entry) behind a device, or raise a translated error."""
    device = dr.async_get(hass).async_get(device_id)
    # A device belongs to one config entry (`config_entries` is deprecated since 2026.10).
    entry = hass.config_entries.async_get_entry(device.config_entry_id) if device else None
    if entry is not None and entry.domain == DOMAIN:
        return entry
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="unknown_device",
        translation_placeholders={"device_id": device_id},
    )


def local_time_zone() -> ZoneInfo:
    """Home Assistant's time zone, as the supervision core takes it.

    Home Assistant types it as any `tzinfo` but keeps the `ZoneInfo` of the configured name.
    """
    return cast(ZoneInfo, dt_util.get_default_time_zone())
