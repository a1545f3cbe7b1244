"""Watch another installation: raise its homes' visits while it is down.

A *watch* config entry names another installation (its `installation_id`, as its heartbeat
publishes it, see `heartbeat.py`). The watcher follows that installation's retained status and its
MQTT will. The installation is **down** when its heartbeat is older than `stale_seconds` (on this
Home Assistant's clock), when its will says `offline`, or when it said `stopping`. While it is
down, at each agreed time of each of its homes (from the plan it published last, in the home's
time zone, DST-safe through the core's schedule) the watcher fires
`trygghetskamera_visit_required` (reason `fault`, `installation_down: true`), keeps one critical
repair issue and one persistent notification "installation X is down since HH:MM", and
republishes each of its homes' MQTT state with status `down`, so a dispatch board never shows a
stale `waiting`. When a fresh heartbeat comes, one `trygghetskamera_installation_recovered` event,
the repair closes and the notification goes.

What it raised is kept on disk (a `Store`), so nothing is raised twice, across restarts of the
watcher too; the retained status tells a restarted watcher where the watched one stands. Every
fact is in the watcher's audit log (`installation_down`, `installation_recovered`, and
`visit_required` with `installation_down`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
import json
import logging
from typing import Any
import uuid
from zoneinfo import ZoneInfo

from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.storage import Store
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from .audit_trail import async_get_trail
from .const import (
    CONF_INSTALLATION_ID,
    CONF_STALE_SECONDS,
    DEFAULT_STALE_SECONDS,
    DOMAIN,
    EVENT_INSTALLATION_RECOVERED,
    EVENT_VISIT_REQUIRED,
)
from .heartbeat import STATE_ONLINE, STATE_STOPPING, status_topic, will_topic
from .lookup import local_time_zone
from .mqtt_publish import QOS, state_topic
from .supervision import Reason, Slot, night_of, slots_for_night

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION = 1
# Only the start of a slot matters here; the watched home's own length is not published.
SLOT_MINUTES = 30
# What was raised is remembered this long (a night and a half is enough to never raise twice).
KEEP_RAISED = timedelta(days=2)
# After a restart of the watcher, slots of a down installation are raised up to this far back.
CATCH_UP = timedelta(days=1)


def issue_id(installation_id: str) -> str:
    """The repair issue of a watched installation that is down."""
    return f"installation_down_{installation_id}"


def notification_id(installation_id: str) -> str:
    """The persistent notification of a watched installation that is down."""
    return f"{DOMAIN}_installation_down_{installation_id}"


def slots_between(
    times: list[str], tz: ZoneInfo, after: datetime, until: datetime | None
) -> list[Slot]:
    """The slots of these agreed times that start in (after, until], or the next one if no end."""
    night = night_of(after, tz)
    found: list[Slot] = []
    last = night_of(until, tz) if until is not None else night + timedelta(days=2)
    day = night - timedelta(days=1)
    while day <= last + timedelta(days=1):
        for slot in slots_for_night(day, times, SLOT_MINUTES, tz):
            if slot.start > after and (until is None or slot.start <= until):
                found.append(slot)
        day += timedelta(days=1)
    found.sort(key=lambda slot: slot.start)
    return found if until is not None else found[:1]


def _times(home: dict[str, Any]) -> list[str]:
    times = [str(time) for time in home.get("times") or []]
    return times + [str(t) for t in home.get("physical_times") or [] if t not in times]


def _zone(home: dict[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(str(home.get("time_zone")))
    except ValueError, KeyError:
        return local_time_zone()


class WatchRuntime:
    """Follows one watched installation and stands in for it while it is down."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Prepare; `async_start` subscribes."""
        self.hass = hass
        self.entry = entry
        self.installation_id = str(entry.data[CONF_INSTALLATION_ID])
        self.stale = timedelta(
            seconds=int(entry.options.get(CONF_STALE_SECONDS, DEFAULT_STALE_SECONDS))
        )
        self._store: Store[dict[str, Any]] = Store(
            hass,
            STORAGE_VERSION,
            f"{DOMAIN}.watch.{entry.entry_id}",
            private=True,
            atomic_writes=True,
        )
        self.plan: dict[str, Any] = {}
        self.last_seen: datetime | None = None
        self.down_since: datetime | None = None
        self.down_reason: str | None = None
        # "<entry_id> <slot key>" -> {visit_id, at}: each slot is raised once.
        self.raised: dict[str, dict[str, str]] = {}
        self._unsubs: list[CALLBACK_TYPE] = []
        self._unsub_will: CALLBACK_TYPE | None = None
        self._will_topic: str | None = None
        self._unsub_stale: CALLBACK_TYPE | None = None
        self._watching_since = dt_util.utcnow()
        self._unsub_slot: CALLBACK_TYPE | None = None
        self._stale_job = HassJob(
            self._on_stale_time, "trygghetskamera watch stale", cancel_on_shutdown=True
        )
        self._slot_job = HassJob(
            self._on_slot_time, "trygghetskamera watch slot", cancel_on_shutdown=True
        )

    @property
    def down(self) -> bool:
        """Whether the watched installation is down."""
        return self.down_since is not None

    @property
    def will_followed(self) -> str | None:
        """The watched installation's MQTT will topic this watch is subscribed to, if any."""
        return self._will_topic if self._unsub_will is not None else None

    @property
    def label(self) -> str:
        """How the installation is named in the notices: its name, or its id."""
        return str(self.plan.get("name") or self.installation_id)

    # --- life -------------------------------------------------------------------------------

    async def async_start(self) -> None:
        """Read what was raised, subscribe to the watched status (retained) and arm."""
        stored = await self._store.async_load() or {}
        self.plan = stored.get("plan") or {}
        self.last_seen = dt_util.parse_datetime(stored.get("last_seen") or "")
        self.down_since = dt_util.parse_datetime(stored.get("down_since") or "")
        self.down_reason = stored.get("down_reason")
        self.raised = dict(stored.get("raised") or {})
        # Never heard of: it has `stale_seconds` from now to say something.
        self._watching_since = dt_util.utcnow()
        from homeassistant.components import mqtt

        self._unsubs.append(
            await mqtt.async_subscribe(
                self.hass, status_topic(self.installation_id), self._on_status, qos=QOS
            )
        )
        await self._async_follow_will(self.plan.get("will_topic"))
        if self.down:
            # A restart of the watcher while the other was down: continue (and catch up).
            self._arm_slot()
            await self._async_raise_due(dt_util.utcnow())
        self._arm_stale()

    @callback
    def async_stop(self) -> None:
        """Unsubscribe and disarm (what was raised stays on disk)."""
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        for attr in ("_unsub_will", "_unsub_stale", "_unsub_slot"):
            if (unsub := getattr(self, attr)) is not None:
                unsub()
                setattr(self, attr, None)

    async def async_remove(self) -> None:
        """The watch entry was removed: close its notices and forget its state."""
        ir.async_delete_issue(self.hass, DOMAIN, issue_id(self.installation_id))
        persistent_notification.async_dismiss(self.hass, notification_id(self.installation_id))
        await self._store.async_remove()

    def _data(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "down_since": self.down_since.isoformat() if self.down_since else None,
            "down_reason": self.down_reason,
            "raised": self.raised,
        }

    async def _async_save(self) -> None:
        await self._store.async_save(self._data())

    # --- what the broker says ---------------------------------------------------------------

    async def _on_status(self, msg: Any) -> None:
        """A status of the watched installation (retained at subscription, then live)."""
        try:
            status = json.loads(msg.payload) if msg.payload else None
        except ValueError:
            status = None
        if not isinstance(status, dict) or status.get("state") not in (
            STATE_ONLINE,
            STATE_STOPPING,
        ):
            return
        now = dt_util.utcnow()
        sent = dt_util.parse_datetime(str(status.get("at") or "")) or now
        # A live message is as fresh as its arrival; a retained one is as old as it says (it
        # may be the last word of an installation that died while this one was not running).
        at = min(now, sent) if msg.retain else now
        if isinstance(status.get("homes"), list):
            self.plan = status
        await self._async_follow_will(status.get("will_topic"))
        if status["state"] == STATE_STOPPING:
            self.last_seen = max(self.last_seen or at, at)
            await self._async_go_down(at, "stopping")
            return
        if self.down_since is not None and at <= self.down_since:
            return
        if self.last_seen is None or at > self.last_seen:
            self.last_seen = at
        if now - self.last_seen > self.stale:
            self._arm_stale()
            await self._async_check_stale()
            return
        if self.down:
            await self._async_recover(now)
        else:
            await self._async_save()
        self._arm_stale()

    async def _async_follow_will(self, topic: Any) -> None:
        topic = str(topic) if topic else None
        if topic == self._will_topic:
            return
        if self._unsub_will is not None:
            self._unsub_will()
            self._unsub_will = None
        self._will_topic = topic
        if topic is None:
            return
        if topic == will_topic(self.hass):
            # Both installations announce themselves on the same topic: a will there may be
            # this one's own. The heartbeat's staleness still tells (docs/operations.md).
            _LOGGER.warning(
                "Installation %s has the same MQTT will topic (%s) as this one: its will is "
                "not followed, only its heartbeat",
                self.label,
                topic,
            )
            return
        from homeassistant.components import mqtt

        self._unsub_will = await mqtt.async_subscribe(self.hass, topic, self._on_will)

    async def _on_will(self, msg: Any) -> None:
        # A retained will may be from long ago: only a live one counts, staleness covers the rest.
        if msg.retain or str(msg.payload).strip() != "offline" or self.down:
            return
        await self._async_go_down(self._heard(), "offline")

    # --- staleness ----------------------------------------------------------------------------

    def _heard(self) -> datetime:
        """When it was last heard of (or, never heard, since when it is watched)."""
        return self.last_seen or self._watching_since

    @callback
    def _arm_stale(self) -> None:
        if self._unsub_stale is not None:
            self._unsub_stale()
            self._unsub_stale = None
        if self.down:
            return
        when = self._heard() + self.stale + timedelta(seconds=1)
        self._unsub_stale = async_track_point_in_utc_time(self.hass, self._stale_job, when)

    async def _on_stale_time(self, _now: datetime) -> None:
        self._unsub_stale = None
        await self._async_check_stale()

    async def _async_check_stale(self) -> None:
        if self.down:
            return
        if dt_util.utcnow() - self._heard() > self.stale:
            await self._async_go_down(self._heard(), "stale")
        else:
            self._arm_stale()

    # --- down and back --------------------------------------------------------------------------

    async def _async_go_down(self, since: datetime, reason: str) -> None:
        if self.down:
            return
        self.down_since = since
        self.down_reason = reason
        await self._async_save()
        _LOGGER.warning(
            "Installation %s is down (%s) since %s: its homes' visits are raised here",
            self.label,
            reason,
            since.isoformat(),
        )
        await self._async_audit(
            "installation_down",
            dt_util.utcnow(),
            self.entry.entry_id,
            None,
            {
                "installation_id": self.installation_id,
                "since": since.isoformat(),
                "reason": reason,
                "homes": [home.get("name") for home in self._homes()],
            },
        )
        await self._async_notify()
        self._publish_states()
        await self._async_raise_due(dt_util.utcnow())

    async def _async_recover(self, now: datetime) -> None:
        since = self.down_since
        self.down_since = None
        self.down_reason = None
        if self._unsub_slot is not None:
            self._unsub_slot()
            self._unsub_slot = None
        self._prune(now)
        await self._async_save()
        _LOGGER.warning("Installation %s is back", self.label)
        data = {
            "installation_id": self.installation_id,
            "name": self.label,
            "down_since": since.isoformat() if since else None,
            "at": now.isoformat(),
        }
        await self._async_audit("installation_recovered", now, self.entry.entry_id, None, data)
        self.hass.bus.async_fire(EVENT_INSTALLATION_RECOVERED, data)
        ir.async_delete_issue(self.hass, DOMAIN, issue_id(self.installation_id))
        persistent_notification.async_dismiss(self.hass, notification_id(self.installation_id))

    async def _async_notify(self) -> None:
        since = self.down_since or dt_util.utcnow()
        placeholders = {
            "installation": self.label,
            "since": dt_util.as_local(since).strftime("%H:%M"),
        }
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id(self.installation_id),
            is_fixable=False,
            severity=ir.IssueSeverity.CRITICAL,
            translation_key="installation_down",
            translation_placeholders=placeholders,
        )
        key = f"component.{DOMAIN}.issues.installation_down"
        texts = await async_get_translations(
            self.hass, self.hass.config.language, "issues", [DOMAIN]
        )
        if f"{key}.title" not in texts:
            texts = await async_get_translations(self.hass, "en", "issues", [DOMAIN])
        persistent_notification.async_create(
            self.hass,
            texts[f"{key}.description"].format(**placeholders),
            title=texts[f"{key}.title"].format(**placeholders),
            notification_id=notification_id(self.installation_id),
        )

    # --- the watched homes' slots ------------------------------------------------------

    def _homes(self) -> list[dict[str, Any]]:
        homes = self.plan.get("homes") or []
        return [home for home in homes if isinstance(home, dict) and home.get("entry_id")]

    @callback
    def _arm_slot(self) -> None:
        if self._unsub_slot is not None:
            self._unsub_slot()
            self._unsub_slot = None
        if not self.down:
            return
        now = dt_util.utcnow()
        starts = [
            slots[0].start
            for home in self._homes()
            if (slots := slots_between(_times(home), _zone(home), now, None))
        ]
        if starts:
            self._unsub_slot = async_track_point_in_utc_time(self.hass, self._slot_job, min(starts))

    async def _on_slot_time(self, now: datetime) -> None:
        self._unsub_slot = None
        await self._async_raise_due(dt_util.utcnow())

    async def _async_raise_due(self, now: datetime) -> None:
        """Raise each agreed time of each watched home that began since it went down."""
        if self.down_since is None:
            return
        after = max(self.down_since, now - CATCH_UP)
        due = [
            (home, slot, key)
            for home in self._homes()
            for slot in slots_between(_times(home), _zone(home), after, now)
            if (key := f"{home['entry_id']} {slot.key}") not in self.raised
        ]
        if due:
            await self._async_raise(due, now)
        self._arm_slot()

    async def _async_raise(
        self, due: list[tuple[dict[str, Any], Slot, str]], now: datetime
    ) -> None:
        """Raise the visits of every slot due at this moment together.

        One save, the audit records written together (the log's writer commits them in one
        batch), then the events, then one publication of the homes' states: raised one after
        another, 100 homes at one agreed time cost 100 saves, 100 commits and 10,000 MQTT
        publications, and the last visit came seconds late.
        """
        visits = []
        for home, slot, key in due:
            visit_id = uuid.uuid4().hex
            self.raised[key] = {"visit_id": visit_id, "at": now.isoformat()}
            name = str(home.get("name") or home["entry_id"])
            visits.append(
                {
                    "entry_id": home["entry_id"],
                    "device_id": None,
                    "name": name,
                    "reason": str(Reason.FAULT),
                    "urgent": False,
                    "slot": slot.key,
                    "visit_id": visit_id,
                    "installation_down": True,
                    "installation_id": self.installation_id,
                }
            )
        # On disk before the bus hears it: a crash right after never raises them again.
        await self._async_save()
        for data in visits:
            _LOGGER.warning(
                "Installation %s is down: a physical visit replaces the %s check of %s",
                self.label,
                data["slot"],
                data["name"],
            )
        await asyncio.gather(
            *(
                self._async_audit(
                    "visit_required",
                    now,
                    str(data["entry_id"]),
                    str(data["name"]),
                    {key: value for key, value in data.items() if key not in ("entry_id", "name")},
                )
                for data in visits
            )
        )
        for data in visits:
            self.hass.bus.async_fire(EVENT_VISIT_REQUIRED, data)
        self._publish_states()

    @callback
    def _prune(self, now: datetime) -> None:
        for key, raised in list(self.raised.items()):
            at = dt_util.parse_datetime(raised.get("at", ""))
            if at is None or now - at > KEEP_RAISED:
                del self.raised[key]

    # --- what a dispatch board sees ------------------------------------------------------

    @callback
    def _publish_states(self) -> None:
        now = dt_util.utcnow()
        for home in self._homes():
            entry_id = str(home["entry_id"])
            visit_ids = [
                raised["visit_id"]
                for key, raised in self.raised.items()
                if key.split(" ", 1)[0] == entry_id
                and (at := dt_util.parse_datetime(raised["at"])) is not None
                and self.down_since is not None
                and at >= self.down_since
            ]
            following = slots_between(_times(home), _zone(home), now, None)
            state = {
                "name": home.get("name"),
                "status": "down",
                "visit_required": bool(visit_ids),
                "reason": str(Reason.FAULT) if visit_ids else None,
                "urgent": False,
                "next_supervision": following[0].start.isoformat() if following else None,
                "visit_ids": visit_ids,
                "open_visits": [],
                "updated": now.isoformat(),
                "installation_down": True,
                "installation_id": self.installation_id,
            }
            self.entry.async_create_background_task(
                self.hass,
                self._async_publish(state_topic(entry_id), json.dumps(state, ensure_ascii=False)),
                f"{DOMAIN} watch publish {entry_id}",
            )

    async def _async_publish(self, topic: str, payload: str) -> None:
        from homeassistant.components import mqtt

        try:
            await mqtt.async_publish(self.hass, topic, payload, qos=QOS, retain=True)
        except HomeAssistantError as err:
            _LOGGER.warning("The state of a down installation's home was not published: %s", err)

    async def _async_audit(
        self, kind: str, at: datetime, entry_id: str, home: str | None, data: dict[str, Any]
    ) -> None:
        if (trail := async_get_trail(self.hass)) is not None:
            await trail.async_append(
                kind, at=at, entry_id=entry_id, home=home, user_id=None, data=data
            )
