"""The `mqtt_publish` option: a home's state and night reports for a central dispatch board.

Through Home Assistant's own MQTT integration (`mqtt.async_publish`), retained, QoS 1:

- `trygghetskamera/<entry_id>/state`: `name`, `status`, `visit_required`, `reason`, `urgent`,
  `next_supervision`, `visit_ids`, `open_visits` (each with its `visit_id`, `reason`, `urgent`,
  `slot`, `raised`, `stage`, `escalations`, `overdue`; no user), `updated` — at start, whenever
  one of them changes, and again after the broker connection comes back (a broker without
  persistence forgets retained messages);
- `trygghetskamera/<entry_id>/night_report`: the data of the `trygghetskamera_night_report`
  event (`entry_id`, `device_id`, `name`, `night`, `slots`, `visits_open`), for the last night
  at start and for each new night.

When a home is removed, both retained messages are cleared (an empty retained message). A home
that is not running (disabled, or its setup failed) cannot publish for itself: the watchdog
publishes its state for it (`status` `fault`, and a visit required at each agreed time), so a
dispatch board never shows a stale "waiting" for a home nobody supervises.

Nothing else, and nothing personal: the home's name is its pseudonymous label. With the option on
but no MQTT integration set up, nothing is published and a repair issue tells the installer
(the options flow already refuses the option then; this covers MQTT removed afterwards).
"""

from __future__ import annotations

from datetime import datetime
import json
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import CONF_MQTT_PUBLISH, DOMAIN
from .supervision import Event, EventType, Visit, visit_state

if TYPE_CHECKING:
    from .runtime import HomeRuntime

_LOGGER = logging.getLogger(__name__)

MQTT_DOMAIN = "mqtt"
TOPIC_BASE = DOMAIN
QOS = 1
# The state's keys of the contract (docs/contract.md, "MQTT"); `updated` is when one changed.
STATE_KEYS = ("name", "status", "visit_required", "reason", "urgent", "next_supervision")
# Beside them (docs/contract.md, "Visits"): the open visits' ids, and each open visit's life.
VISIT_KEYS = ("visit_ids", "open_visits")


def state_topic(entry_id: str) -> str:
    """`trygghetskamera/<entry_id>/state`."""
    return f"{TOPIC_BASE}/{entry_id}/state"


def night_report_topic(entry_id: str) -> str:
    """`trygghetskamera/<entry_id>/night_report`."""
    return f"{TOPIC_BASE}/{entry_id}/night_report"


def mqtt_set_up(hass: HomeAssistant) -> bool:
    """True when an enabled MQTT config entry exists (set up, or being set up)."""
    return bool(
        hass.config_entries.async_entries(MQTT_DOMAIN, include_ignore=False, include_disabled=False)
    )


def issue_id(entry_id: str) -> str:
    """The repair issue of a home that should publish but finds no MQTT integration."""
    return f"mqtt_publish_unavailable_{entry_id}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class MqttPublisher:
    """Publishes one home's state and night reports while its `mqtt_publish` option is on."""

    def __init__(self, hass: HomeAssistant, runtime: HomeRuntime) -> None:
        """Prepare; nothing is published before `async_start`."""
        self.hass = hass
        self.runtime = runtime
        self._unsubs: list[CALLBACK_TYPE] = []
        self._published: dict[str, Any] | None = None
        self._updated: str | None = None
        self._night_report: dict[str, Any] | None = None

    @property
    def enabled(self) -> bool:
        """The home's `mqtt_publish` option."""
        return bool(self.runtime.entry.options.get(CONF_MQTT_PUBLISH, False))

    async def async_start(self) -> None:
        """Follow the home and publish its state (and last night report) now, if enabled."""
        self.async_stop()
        entry_id = self.runtime.entry.entry_id
        if not self.enabled:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id(entry_id))
            return
        if not mqtt_set_up(self.hass):
            _LOGGER.warning(
                "%s: mqtt_publish is on but the MQTT integration is not set up; "
                "nothing is published",
                self.runtime.name,
            )
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id(entry_id),
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="mqtt_publish_unavailable",
                translation_placeholders={"name": self.runtime.name},
            )
            return
        ir.async_delete_issue(self.hass, DOMAIN, issue_id(entry_id))
        # Imported only when publishing: the integration loads without MQTT installed.
        from homeassistant.components import mqtt

        self._unsubs = [
            self.runtime.async_add_listener(self._on_home_changed),
            self.runtime.async_add_event_listener(self._on_home_event),
            mqtt.async_subscribe_connection_status(self.hass, self._on_connection),
        ]
        last = self.runtime.supervisor.last_night_report
        self._night_report = self._report_payload(last) if last is not None else None
        self._published = None
        self._publish_state()
        self._publish_night_report()

    @callback
    def async_stop(self) -> None:
        """Stop following the home (retained messages stay on the broker)."""
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()

    async def async_entry_updated(self, _hass: HomeAssistant, _entry: ConfigEntry) -> None:
        """The options changed (an update listener): the option may have been switched."""
        await self.async_start()

    # --- what is published ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The contract's state of the home, without `updated`."""
        supervisor = self.runtime.supervisor
        now = dt_util.utcnow()
        reason = supervisor.visit_reason
        return {
            "name": self.runtime.name,
            "status": str(supervisor.status(now)),
            "visit_required": supervisor.visit_required,
            "reason": str(reason) if reason else None,
            "urgent": supervisor.urgent,
            "next_supervision": _iso(supervisor.next_supervision(now)),
            "visit_ids": [visit.visit_id for visit in supervisor.open_visits],
            "open_visits": [visit_state(visit) for visit in supervisor.open_visits],
        }

    def _report_payload(self, data: dict[str, Any]) -> dict[str, Any]:
        """A night report as the `trygghetskamera_night_report` event carries it."""
        return {
            "entry_id": self.runtime.entry.entry_id,
            "device_id": self.runtime.device_id,
            "name": self.runtime.name,
        } | data

    # --- following the home -----------------------------------------------------------------

    @callback
    def _on_home_changed(self) -> None:
        self._publish_state()

    @callback
    def _on_home_event(self, event: Event) -> None:
        if event.type is EventType.NIGHT_REPORT:
            self._night_report = self._report_payload(dict(event.data))
            self._publish_night_report()

    @callback
    def _on_connection(self, connected: bool) -> None:
        if connected:
            # The broker may have restarted without its retained messages: give them again.
            self._published = None
            self._publish_state()
            self._publish_night_report()

    @callback
    def _publish_state(self) -> None:
        state = self.state()
        if state == self._published:
            return
        self._published = state
        self._updated = dt_util.utcnow().isoformat()
        self._publish(state_topic(self.runtime.entry.entry_id), state | {"updated": self._updated})

    @callback
    def _publish_night_report(self) -> None:
        if self._night_report is not None:
            self._publish(night_report_topic(self.runtime.entry.entry_id), self._night_report)

    @callback
    def _publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.runtime.entry.async_create_background_task(
            self.hass,
            self._async_publish(topic, json.dumps(payload, ensure_ascii=False)),
            f"{DOMAIN} mqtt publish {topic}",
        )

    async def _async_publish(self, topic: str, payload: str) -> None:
        from homeassistant.components import mqtt

        try:
            await mqtt.async_publish(self.hass, topic, payload, qos=QOS, retain=True)
        except HomeAssistantError as err:
            # The broker is away: the state is given again when the connection returns.
            self._published = None
            _LOGGER.debug("%s: not published to %s: %s", self.runtime.name, topic, err)


async def async_forget_home(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """A removed home: clear its retained messages (an empty retained message), close its issue.

    A dispatch board would otherwise show a home that no longer exists, forever.
    """
    ir.async_delete_issue(hass, DOMAIN, issue_id(entry.entry_id))
    if not entry.options.get(CONF_MQTT_PUBLISH) or not mqtt_set_up(hass):
        return
    from homeassistant.components import mqtt

    for topic in (state_topic(entry.entry_id), night_report_topic(entry.entry_id)):
        try:
            await mqtt.async_publish(hass, topic, "", qos=QOS, retain=True)
        except HomeAssistantError as err:
            _LOGGER.warning("The retained %s could not be cleared: %s", topic, err)


@callback
def async_publish_not_running(
    hass: HomeAssistant,
    entry: ConfigEntry,
    next_supervision: datetime | None,
    *,
    visit_required: bool,
    open_visits: list[Visit] | None = None,
) -> None:
    """Publish the state of a home that is not running, if it publishes at all."""
    if not entry.options.get(CONF_MQTT_PUBLISH) or not mqtt_set_up(hass):
        return
    state = {
        "name": str(entry.title),
        "status": "fault",
        "visit_required": visit_required,
        "reason": "fault" if visit_required else None,
        "urgent": False,
        "next_supervision": _iso(next_supervision),
        "visit_ids": [visit.visit_id for visit in open_visits or []],
        "open_visits": [visit_state(visit) for visit in open_visits or []],
        "updated": dt_util.utcnow().isoformat(),
    }

    async def publish() -> None:
        from homeassistant.components import mqtt

        try:
            await mqtt.async_publish(
                hass, state_topic(entry.entry_id), json.dumps(state), qos=QOS, retain=True
            )
        except HomeAssistantError as err:
            _LOGGER.warning(
                "%s: the state of a home not running was not published: %s", entry.title, err
            )

    # Home Assistant's, not the entry's: the home is not running (its entry has no tasks).
    hass.async_create_background_task(publish(), f"{DOMAIN} mqtt publish not running")
