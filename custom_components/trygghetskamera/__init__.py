"""Trygghetskamera: consent-gated digital night supervision for Home Assistant."""

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .audit_trail import async_setup_audit
from .const import DOMAIN, EVENT_HOME_REMOVED
from .entity import home_device_info
from .health import async_delete_repairs
from .operator_api import async_setup_operator_api
from .panel import async_setup_panel
from .runtime import HomeRuntime, TrygghetskameraConfigEntry
from .services import async_setup_services

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.EVENT,
    Platform.SENSOR,
    Platform.SWITCH,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up what serves every home: the audit log, the actions and the operator API."""
    await async_setup_audit(hass)
    async_setup_services(hass)
    async_setup_operator_api(hass)
    await async_setup_panel(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: TrygghetskameraConfigEntry) -> bool:
    """Set up one home: its device, its supervision runtime and its entities."""
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **home_device_info(entry.entry_id, entry.title)
    )
    runtime = HomeRuntime(hass, entry, device.id)
    await runtime.async_restore()
    entry.runtime_data = runtime
    entry.async_on_unload(runtime.async_shutdown)

    async def _async_stop(_event: Event) -> None:
        await runtime.async_shutdown()

    # Home Assistant does not unload entries when it stops: release cameras and timers then.
    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop))
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # Only now are the entities listening: what happened while Home Assistant was down (missed
    # slots, follow-ups that fell due) reaches them and the bus.
    await runtime.async_start()
    return True


async def _async_options_updated(hass: HomeAssistant, entry: TrygghetskameraConfigEntry) -> None:
    """Apply changed options without a reload, so a running night keeps its state."""
    await entry.runtime_data.async_options_updated()


async def async_unload_entry(hass: HomeAssistant, entry: TrygghetskameraConfigEntry) -> bool:
    """Unload a home; its state stays on disk."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: TrygghetskameraConfigEntry) -> None:
    """Announce that a home's supervision ends, then forget its state."""
    runtime = HomeRuntime(hass, entry, None)
    await runtime.async_restore()
    next_supervision = runtime.supervisor.next_supervision(runtime.now())
    hass.bus.async_fire(
        EVENT_HOME_REMOVED,
        {
            "entry_id": entry.entry_id,
            "name": runtime.name,
            "consent": runtime.supervisor.consent,
            "next_supervision": next_supervision.isoformat() if next_supervision else None,
        },
    )
    await runtime.async_remove()
    async_delete_repairs(hass, entry.entry_id)
