"""Trygghetskamera: consent-gated digital night supervision for Home Assistant."""

from datetime import datetime
import logging

from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    issue_registry as ir,
)
from homeassistant.helpers.translation import async_get_translations
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util

from .audit_review import async_setup_review
from .audit_trail import acting_user_id, async_get_trail, async_setup_audit, retention_days
from .commissioning import async_setup_commissioning_action
from .const import DOMAIN, EVENT_HOME_REMOVED, is_home
from .device_name import async_guard_device_name
from .entity import home_device_info
from .exposure import async_check_recorder, recorder_issue_id
from .health import async_delete_repairs
from .heartbeat import async_setup_heartbeat
from .mqtt_publish import MqttPublisher, async_forget_home
from .operator_api import async_setup_operator_api
from .panel import async_setup_panel
from .runtime import (
    HomeRuntime,
    TrygghetskameraConfigEntry,
    decision_issue_id,
    not_commissioned_issue_id,
    state_lost_issue_id,
)
from .services import async_setup_services
from .watch import WatchRuntime
from .watchdog import async_setup_watchdog, not_running_issue_id

_LOGGER = logging.getLogger(__name__)

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
    async_setup_review(hass)
    async_setup_services(hass)
    async_setup_commissioning_action(hass)
    async_setup_operator_api(hass)
    await async_setup_panel(hass)
    # Independent of every home's own setup: a home that is not running still owes its slots.
    await async_setup_watchdog(hass)
    # Another installation may watch this one: it hears this heartbeat while the homes publish.
    await async_setup_heartbeat(hass)
    return True


async def _async_setup_watch(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Set up a watch of another installation (it needs Home Assistant's MQTT client)."""
    from homeassistant.components import mqtt

    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="watch_no_mqtt")
    watch = WatchRuntime(hass, entry)
    entry.runtime_data = watch
    entry.async_on_unload(watch.async_stop)
    entry.async_on_unload(entry.add_update_listener(_async_watch_updated))
    await watch.async_start()
    return True


async def _async_watch_updated(hass: HomeAssistant, entry: ConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)


async def async_setup_entry(hass: HomeAssistant, entry: TrygghetskameraConfigEntry) -> bool:
    """Set up one home: its device, its supervision runtime and its entities (or a watch)."""
    if not is_home(entry):
        return await _async_setup_watch(hass, entry)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **home_device_info(entry.entry_id, entry.title)
    )
    runtime = HomeRuntime(hass, entry, device.id)
    # HA's "name and area" step after the flow renames the device without asking us.
    entry.async_on_unload(async_guard_device_name(hass, device.id))
    if (trail := async_get_trail(hass)) is not None:
        # The log holds each home's retention, so that it is purged by it even after removal.
        await trail.async_sync_retention(entry.entry_id, entry.title, retention_days(entry.options))
    await runtime.async_restore()
    entry.runtime_data = runtime
    entry.async_on_unload(runtime.async_shutdown)

    async def _async_stop(_event: Event) -> None:
        await runtime.async_shutdown()

    # Home Assistant does not unload entries when it stops: release cameras and timers then.
    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop))
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # Publishing (the `mqtt_publish` option) starts first, so that a dispatch board also hears
    # what the catch-up below announces.
    publisher = MqttPublisher(hass, runtime)
    await publisher.async_start()
    entry.async_on_unload(publisher.async_stop)
    entry.async_on_unload(entry.add_update_listener(publisher.async_entry_updated))
    # Only now are the entities listening: what happened while Home Assistant was down (missed
    # slots, follow-ups that fell due) reaches them and the bus.
    await runtime.async_start()
    # The states of the home's sensitive entities exist now: is the recorder keeping them?
    async_check_recorder(hass, entry)
    return True


async def _async_options_updated(hass: HomeAssistant, entry: TrygghetskameraConfigEntry) -> None:
    """Apply changed options without a reload, so a running night keeps its state."""
    await entry.runtime_data.async_options_updated()
    if (trail := async_get_trail(hass)) is not None:
        await trail.async_sync_retention(entry.entry_id, entry.title, retention_days(entry.options))


async def async_unload_entry(hass: HomeAssistant, entry: TrygghetskameraConfigEntry) -> bool:
    """Unload a home; its state stays on disk. Disabling a home is logged with who did it."""
    if not is_home(entry):
        return True
    if entry.disabled_by is not None and hasattr(entry, "runtime_data"):
        runtime = entry.runtime_data
        supervisor = runtime.supervisor
        next_supervision = supervisor.next_supervision(runtime.now())
        _LOGGER.warning("%s was disabled: physical visits replace its digital checks", entry.title)
        runtime.audit(
            "home_disabled",
            acting_user_id(),
            disabled_by=str(entry.disabled_by),
            consent=supervisor.consent,
            next_supervision=next_supervision.isoformat() if next_supervision else None,
        )
        await runtime.async_flush_audit()
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: TrygghetskameraConfigEntry) -> None:
    """Announce that a home's supervision ends, log who ended it, then forget its state."""
    if not is_home(entry):
        await WatchRuntime(hass, entry).async_remove()
        return
    runtime = HomeRuntime(hass, entry, None)
    await runtime.async_restore()
    consent = runtime.supervisor.consent
    next_supervision = runtime.supervisor.next_supervision(runtime.now())
    when = next_supervision.isoformat() if next_supervision else None
    runtime.audit("home_removed", acting_user_id(), consent=consent, next_supervision=when)
    await runtime.async_flush_audit()
    if (trail := async_get_trail(hass)) is not None:
        # The log stays until each record's retention ends (the default), or an admin exports
        # and deletes it (`audit_delete_home`).
        await trail.async_home_removed(entry.entry_id, runtime.name, retention_days(entry.options))
    _LOGGER.warning("%s was removed: its supervision has ended", runtime.name)
    hass.bus.async_fire(
        EVENT_HOME_REMOVED,
        {
            "entry_id": entry.entry_id,
            "name": runtime.name,
            "consent": consent,
            "next_supervision": when,
        },
    )
    if consent:
        await _async_notify_removed_with_consent(hass, runtime.name, next_supervision)
    await runtime.async_remove()
    await async_forget_home(hass, entry)
    async_delete_repairs(hass, entry.entry_id)
    for issue_id in (
        not_running_issue_id(entry.entry_id),
        not_commissioned_issue_id(entry.entry_id),
        state_lost_issue_id(entry.entry_id),
        decision_issue_id(entry.entry_id),
        recorder_issue_id(entry.entry_id),
    ):
        ir.async_delete_issue(hass, DOMAIN, issue_id)


async def _async_notify_removed_with_consent(
    hass: HomeAssistant, name: str, next_supervision: datetime | None
) -> None:
    """The resident still consents: somebody must now plan physical visits instead."""
    key = f"component.{DOMAIN}.issues.home_removed_with_consent"
    texts = await async_get_translations(hass, hass.config.language, "issues", [DOMAIN])
    if f"{key}.title" not in texts:
        texts = await async_get_translations(hass, "en", "issues", [DOMAIN])
    when = (
        dt_util.as_local(next_supervision).strftime("%Y-%m-%d %H:%M") if next_supervision else "—"
    )
    persistent_notification.async_create(
        hass,
        texts[f"{key}.description"].format(name=name, next_supervision=when),
        title=texts[f"{key}.title"].format(name=name),
        notification_id=f"{DOMAIN}_removed_{name}",
    )
