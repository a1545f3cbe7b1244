"""The installation's heartbeat: another Home Assistant can tell when this one is down.

Every home is watched inside Home Assistant (the watchdog raises the slots of a home that is not
running), but nothing inside can raise anything when Home Assistant itself stops. So, while at
least one home has `mqtt_publish` on and Home Assistant's MQTT integration is set up, the
installation publishes through it, retained, QoS 1, to
`trygghetskamera/installation/<installation_id>/status` (the id is Home Assistant's own
`instance_id`):

    {state: online|stopping, at, version, name, will_topic,
     homes: [{entry_id, name, times, physical_times, time_zone}]}

every 30 s, at once when a home's plan changes or the broker connection comes back, and
`stopping` when Home Assistant stops cleanly. `homes` lists each home that publishes (its
`mqtt_publish` option), whether or not it is running: this installation's watchdog raises the
visits of a home that is not running, and a watcher (`watch.py`) raises them all when the
installation is down. `will_topic` is where this installation's MQTT will (`offline`) arrives,
so a watcher hears a crash before the heartbeat goes stale.

Set up once per Home Assistant (`async_setup`), independent of every home's setup.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import json
import logging
from typing import Any

from homeassistant.config_entries import SIGNAL_CONFIG_ENTRY_CHANGED, ConfigEntry, ConfigEntryChange
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import instance_id
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.loader import async_get_integration
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import CONF_MQTT_PUBLISH, CONF_NAME, CONF_PHYSICAL_TIMES, CONF_TIMES, DOMAIN, is_home
from .mqtt_publish import MQTT_DOMAIN, QOS, mqtt_set_up

_LOGGER = logging.getLogger(__name__)

HEARTBEAT: HassKey[Heartbeat] = HassKey(f"{DOMAIN}_heartbeat")
INTERVAL = timedelta(seconds=30)
STATE_ONLINE = "online"
STATE_STOPPING = "stopping"
# Home Assistant's MQTT birth and will topic when its MQTT entry does not name another.
DEFAULT_WILL_TOPIC = "homeassistant/status"


def status_topic(installation_id: str) -> str:
    """`trygghetskamera/installation/<installation_id>/status`."""
    return f"{DOMAIN}/installation/{installation_id}/status"


STATUS_TOPIC_FILTER = status_topic("+")


def installation_of(topic: str) -> str | None:
    """The installation id in a status topic, or None for any other topic."""
    parts = topic.split("/")
    if (
        len(parts) == 4
        and parts[0] == DOMAIN
        and parts[1] == "installation"
        and parts[3] == "status"
    ):
        return parts[2] or None
    return None


def will_topic(hass: HomeAssistant) -> str | None:
    """Where this installation's MQTT will arrives (None: its MQTT entry has no will)."""
    for entry in hass.config_entries.async_entries(MQTT_DOMAIN, include_disabled=False):
        will = entry.options.get("will_message", entry.data.get("will_message"))
        if will is None:
            return DEFAULT_WILL_TOPIC
        return str(will["topic"]) if will and will.get("topic") else None
    return None


def published_homes(hass: HomeAssistant) -> list[ConfigEntry]:
    """The homes whose plan the heartbeat carries: those with `mqtt_publish` on."""
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN, include_disabled=True)
        if is_home(entry) and entry.options.get(CONF_MQTT_PUBLISH)
    ]


def home_plan(
    entry_id: str, name: str, times: list[str], physical_times: list[str], *, time_zone: str
) -> dict[str, Any]:
    """One home of the heartbeat: what a watcher needs to raise its visits."""
    return {
        "entry_id": entry_id,
        "name": name,
        "times": times,
        "physical_times": physical_times,
        "time_zone": time_zone,
    }


def status_payload(
    state: str,
    at: datetime,
    version: str,
    homes: list[dict[str, Any]],
    *,
    name: str,
    will: str | None,
) -> dict[str, Any]:
    """The status message (the contract's fields, then `name` and `will_topic` beside)."""
    return {
        "state": state,
        "at": at.isoformat(),
        "version": version,
        "homes": homes,
        "name": name,
        "will_topic": will,
    }


class Heartbeat:
    """Publishes the installation's status while any home publishes over MQTT."""

    def __init__(self, hass: HomeAssistant, installation_id: str, version: str) -> None:
        """Prepare; `async_start` follows the entries."""
        self.hass = hass
        self.installation_id = installation_id
        self.version = version
        self._unsubs: list[CALLBACK_TYPE] = []
        self._unsub_connection: CALLBACK_TYPE | None = None
        self._stopping = False
        self.last_payload: dict[str, Any] | None = None
        # What each home contributes to the payload, as last seen: an entry change that leaves
        # it as it was (a home being set up, 1000 of them at a start) needs no beat.
        self._plans: dict[str, tuple[Any, ...] | None] = {}

    @property
    def topic(self) -> str:
        """The status topic of this installation."""
        return status_topic(self.installation_id)

    def active(self) -> bool:
        """Whether a heartbeat is owed: MQTT is set up and some home publishes."""
        return not self._stopping and mqtt_set_up(self.hass) and bool(published_homes(self.hass))

    def payload(self, state: str, at: datetime) -> dict[str, Any]:
        """The status message of this installation now."""
        tz = str(dt_util.get_default_time_zone())
        return status_payload(
            state,
            at,
            self.version,
            [
                home_plan(
                    entry.entry_id,
                    str(entry.data.get(CONF_NAME, entry.title)),
                    list(entry.options.get(CONF_TIMES) or []),
                    list(entry.options.get(CONF_PHYSICAL_TIMES) or []),
                    time_zone=tz,
                )
                for entry in published_homes(self.hass)
            ],
            name=self.hass.config.location_name,
            will=will_topic(self.hass),
        )

    @staticmethod
    def _plan_of(entry: ConfigEntry) -> tuple[Any, ...] | None:
        """What a home entry puts in the payload (None: nothing); compared, never published."""
        if not is_home(entry) or not entry.options.get(CONF_MQTT_PUBLISH):
            return None
        return (
            str(entry.data.get(CONF_NAME, entry.title)),
            tuple(entry.options.get(CONF_TIMES) or ()),
            tuple(entry.options.get(CONF_PHYSICAL_TIMES) or ()),
        )

    async def async_start(self) -> None:
        """Beat every 30 s, and at once when an entry changes what the payload says."""
        self._plans = {
            entry.entry_id: self._plan_of(entry)
            for entry in self.hass.config_entries.async_entries(DOMAIN, include_disabled=True)
        }
        self._unsubs = [
            async_track_time_interval(
                self.hass,
                self._on_interval,
                INTERVAL,
                name=f"{DOMAIN} heartbeat",
                cancel_on_shutdown=True,
            ),
            async_dispatcher_connect(self.hass, SIGNAL_CONFIG_ENTRY_CHANGED, self._on_entry),
        ]
        self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._on_stop)
        self._follow_connection()
        self.beat()

    @callback
    def async_stop(self) -> None:
        """Stop beating (the retained status stays on the broker)."""
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        if self._unsub_connection is not None:
            self._unsub_connection()
            self._unsub_connection = None

    @callback
    def _follow_connection(self) -> None:
        if self._unsub_connection is not None or not mqtt_set_up(self.hass):
            return
        from homeassistant.components import mqtt

        self._unsub_connection = mqtt.async_subscribe_connection_status(
            self.hass, self._on_connection
        )

    @callback
    def _on_interval(self, _now: datetime) -> None:
        self.beat()

    @callback
    def _on_entry(self, change: ConfigEntryChange, entry: ConfigEntry) -> None:
        if entry.domain == MQTT_DOMAIN:
            self._follow_connection()
            self.beat()
        elif entry.domain == DOMAIN:
            # Only a change of what the payload says beats: a state change (every home's setup)
            # does not, which keeps a start of N homes from reading every entry N times.
            had = self._plans.pop(entry.entry_id, None)
            plan = None
            if change is not ConfigEntryChange.REMOVED:
                plan = self._plans[entry.entry_id] = self._plan_of(entry)
            if plan != had or change is not ConfigEntryChange.UPDATED:
                self.beat()

    @callback
    def _on_connection(self, connected: bool) -> None:
        if connected:
            self.beat()

    @callback
    def beat(self) -> None:
        """Publish `online` now, if a heartbeat is owed."""
        if self.active():
            self._publish(self.payload(STATE_ONLINE, dt_util.utcnow()))

    async def _on_stop(self, _event: Event) -> None:
        """A clean stop: say so before the MQTT client goes (it waits for pending acks)."""
        active = self.active()
        payload = self.payload(STATE_STOPPING, dt_util.utcnow())
        self._stopping = True
        self.async_stop()
        if active:
            await self._async_publish(payload)

    @callback
    def _publish(self, payload: dict[str, Any]) -> None:
        self.hass.async_create_background_task(
            self._async_publish(payload), f"{DOMAIN} heartbeat", eager_start=True
        )

    async def _async_publish(self, payload: dict[str, Any]) -> None:
        from homeassistant.components import mqtt

        self.last_payload = payload
        try:
            await mqtt.async_publish(
                self.hass, self.topic, json.dumps(payload, ensure_ascii=False), qos=QOS, retain=True
            )
        except HomeAssistantError as err:
            # The broker is away: the next beat (or the reconnection) publishes again.
            _LOGGER.debug("The heartbeat was not published: %s", err)


async def async_setup_heartbeat(hass: HomeAssistant) -> Heartbeat:
    """Set up the one heartbeat of the installation."""
    integration = await async_get_integration(hass, DOMAIN)
    heartbeat = Heartbeat(hass, await instance_id.async_get(hass), str(integration.version))
    hass.data[HEARTBEAT] = heartbeat
    await heartbeat.async_start()
    return heartbeat
