"""Equipment health of one home: plug, power, network, bed sensor and camera become faults.

The core turns a fault into a physical visit; this module decides when a fact is a fault. Entity
facts are debounced on Home Assistant's clock, so that a Wi-Fi blip does not send the night
patrol while a power cut does within seconds. The camera is probed (connect, decode one frame,
judge it, keep only a small hash) a few minutes before each slot, when staff ask for it, and when
a live look loses the stream; never on a polling timer that would keep the camera busy all night.
Each standing fault opens a repair issue for the installer, closed when the fault clears.

Homes whose equipment reaches Home Assistant over MQTT (a Zigbee2MQTT hub in each home) share one
more thing that can fail: the broker. While Home Assistant's MQTT connection is down, those
entities say nothing about the homes, so their facts are held as they were; once the loss has
lasted the blip delay, every such home has a `connectivity` fault (its slots become visits) and
one repair issue names the broker, instead of one per home. Both clear when the broker is back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
import functools
import logging
from typing import TYPE_CHECKING, Any, Final

from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HassJob,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.event import (
    async_call_later,
    async_track_point_in_utc_time,
    async_track_state_change_event,
)
from homeassistant.helpers.start import async_at_started
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from . import media
from .const import (
    CONF_BED_ENTITY,
    CONF_CONNECTIVITY_ENTITY,
    CONF_MIN_POWER_W,
    CONF_PLUG_ENTITY,
    CONF_POWER_ENTITY,
    DEFAULT_MIN_POWER_W,
    DOMAIN,
)

if TYPE_CHECKING:
    from .runtime import HomeRuntime

_LOGGER = logging.getLogger(__name__)

FAULT_PLUG = "plug"
FAULT_POWER = "power"
FAULT_CONNECTIVITY = "connectivity"
FAULT_BED_SENSOR = "bed_sensor"
FAULT_CAMERA = "camera"
# The equipment faults of the contract, in the order repair issues list them.
FAULT_KINDS: tuple[str, ...] = (
    FAULT_CAMERA,
    FAULT_PLUG,
    FAULT_POWER,
    FAULT_CONNECTIVITY,
    FAULT_BED_SENSOR,
)

# A plug switched off, or power below the threshold while it is on, is a power cut or someone
# pulling the camera's supply: it stands after a few seconds (long enough for a meter's reading
# to settle when the plug is switched back on).
SWITCHED_OFF_DELAY = timedelta(seconds=5)
# An entity that drops to unavailable/unknown, or a router reporting off, is most often a radio
# blip (Wi-Fi, Zigbee, a router re-associating): it must last this long before it is a fault.
# 15 s covers the blips seen on home Wi-Fi (a few seconds) and still raises the fault long before
# any agreed look could be affected.
BLIP_DELAY = timedelta(seconds=15)
# The camera is probed this long before each slot: time for the power-cycle blueprint to switch
# the plug off and on and for the camera to boot (about 2-3 minutes), and for a frozen picture to
# be confirmed (FROZEN_PROBES probes FROZEN_RECHECK apart), before the slot opens.
PROBE_LEAD = timedelta(minutes=10)
# A sleeping resident in a still room can look "frozen" on one probe: only this many consecutive
# frozen probes, minutes apart, are a fault.
FROZEN_PROBES = 3
FROZEN_RECHECK = timedelta(minutes=2)

_MISSING_STATES = (STATE_UNAVAILABLE, STATE_UNKNOWN)
_ENTITY_OPTIONS = (CONF_PLUG_ENTITY, CONF_POWER_ENTITY, CONF_CONNECTIVITY_ENTITY, CONF_BED_ENTITY)
# The options whose entities each entity fault is judged from (the power fault reads the plug).
_KIND_OPTIONS: dict[str, tuple[str, ...]] = {
    FAULT_PLUG: (CONF_PLUG_ENTITY,),
    FAULT_POWER: (CONF_POWER_ENTITY, CONF_PLUG_ENTITY),
    FAULT_CONNECTIVITY: (CONF_CONNECTIVITY_ENTITY,),
    FAULT_BED_SENSOR: (CONF_BED_ENTITY,),
}

MQTT_DOMAIN: Final = "mqtt"
# The one repair issue of a lost MQTT broker, whatever the number of homes behind it.
BROKER_ISSUE_ID: Final = "mqtt_broker_lost"
_BROKER_WATCH: HassKey[BrokerWatch] = HassKey(f"{DOMAIN}_broker_watch")


@dataclass(frozen=True, slots=True)
class _Badness:
    """Why an entity fact is bad, and how long it must last to be a fault."""

    kind: str
    delay: timedelta


def state_missing(state: State | None) -> bool:
    """The entity has no state, or says it is unavailable or unknown."""
    return state is None or state.state in _MISSING_STATES


def watts(state: State | None) -> float | None:
    """A power meter's reading, or None when it gives no number."""
    try:
        return float(state.state) if state is not None else None
    except ValueError:
        return None


class HealthMonitor:
    """Watches one home's equipment and reports its faults to the runtime."""

    def __init__(self, hass: HomeAssistant, runtime: HomeRuntime) -> None:
        """Prepare; nothing is watched until `async_start`."""
        self.hass = hass
        self.runtime = runtime
        # Entity faults that stand (debounce passed), and when each pending one will stand.
        self._standing: set[str] = set()
        self._pending: dict[str, tuple[datetime, CALLBACK_TYPE]] = {}
        self._camera_fault = False
        self._frozen_count = 0
        # An operator judged the picture unusable (moved, covered, blurred): a camera fault that
        # only a test asked for by a person, after fixing it, clears; the automatic probe before
        # each slot cannot tell a camera turned to the wall from one that works. Kept on disk
        # by the runtime.
        self.picture_unusable = False
        self._unsubs: list[CALLBACK_TYPE] = []
        self._unsub_probe: CALLBACK_TYPE | None = None
        self._probe_at: datetime | None = None
        self._probed_for: datetime | None = None
        self._unsub_recheck: CALLBACK_TYPE | None = None
        # What was last reported: (all faults, the home's own faults with a repair issue each).
        self._reported: tuple[frozenset[str], frozenset[str]] | None = None
        # The fault kinds judged from MQTT entities, and the broker watch while there are any.
        self._mqtt_kinds: frozenset[str] = frozenset()
        self._watch: BrokerWatch | None = None
        self._entity_unsub: CALLBACK_TYPE | None = None
        self._start_unsub: CALLBACK_TYPE | None = None
        self._probe_job = HassJob(
            self._on_probe_time, "trygghetskamera camera probe", cancel_on_shutdown=True
        )

    # --- life cycle -------------------------------------------------------------------------

    async def async_start(self) -> None:
        """Take over the restored faults, then watch the entities and arm the pre-slot probe."""
        restored = self.runtime.faults
        self._camera_fault = FAULT_CAMERA in restored or self.picture_unusable
        # A fault that stood before a restart keeps standing until its entity is seen healthy,
        # instead of clearing and coming back after the debounce.
        self._standing = set(restored & set(FAULT_KINDS)) - {FAULT_CAMERA}
        self._subscribe()
        self._unsubs.append(self.runtime.async_add_listener(self._arm_probe))
        self._arm_probe()

    @callback
    def async_stop(self) -> None:
        """Stop watching and cancel every timer; the faults stay as they are."""
        self._unsubscribe()
        if self._watch is not None:
            self._watch.async_discard(self)
            self._watch = None
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        if self._unsub_probe is not None:
            self._unsub_probe()
            self._unsub_probe = self._probe_at = None
        self._cancel_recheck()

    async def async_options_updated(self) -> None:
        """The entities may have changed: watch the new ones and judge them afresh."""
        self._unsubscribe()
        for _deadline, unsub in self._pending.values():
            unsub()
        self._pending.clear()
        self._subscribe()

    # --- entities ---------------------------------------------------------------------------

    def _entity(self, key: str) -> str | None:
        value = self.runtime.entry.options.get(key)
        return str(value) if value else None

    def _subscribe(self) -> None:
        entities = [entity_id for key in _ENTITY_OPTIONS if (entity_id := self._entity(key))]
        self._follow_broker()
        if entities:
            self._entity_unsub = async_track_state_change_event(
                self.hass, entities, self._on_state_changed
            )
        # At start-up other integrations' entities may not exist yet: judge them once Home
        # Assistant has started (at once when it already runs).
        self._start_unsub = async_at_started(self.hass, self._on_started)

    def _unsubscribe(self) -> None:
        for unsub in (self._entity_unsub, self._start_unsub):
            if unsub is not None:
                unsub()
        self._entity_unsub = self._start_unsub = None

    def _follow_broker(self) -> None:
        """Join the broker watch while some of the equipment comes from the MQTT platform."""
        registry = er.async_get(self.hass)

        def from_mqtt(key: str) -> bool:
            entity_id = self._entity(key)
            entry = registry.async_get(entity_id) if entity_id else None
            return entry is not None and entry.platform == MQTT_DOMAIN

        self._mqtt_kinds = frozenset(
            kind for kind, keys in _KIND_OPTIONS.items() if any(from_mqtt(key) for key in keys)
        )
        if self._mqtt_kinds and self._watch is None:
            self._watch = BrokerWatch.async_get(self.hass)
            if self._watch is not None:
                self._watch.async_add(self)
        elif not self._mqtt_kinds and self._watch is not None:
            self._watch.async_discard(self)
            self._watch = None

    def _held_kinds(self) -> frozenset[str]:
        """The fault kinds whose entities cannot be judged now: fed by MQTT, broker away."""
        if self._watch is None or self._watch.connected():
            return frozenset()
        return self._mqtt_kinds

    @property
    def broker_lost(self) -> bool:
        """The home's MQTT equipment is out of reach because the broker is lost."""
        return self._watch is not None and self._watch.lost

    async def async_broker_changed(self) -> None:
        """The broker connection changed: judge the entities again (or hold them), report."""
        await self._async_evaluate()

    async def _on_started(self, _hass: HomeAssistant) -> None:
        self._start_unsub = None
        await self._async_evaluate()

    async def _on_state_changed(self, _event: Event[EventStateChangedData]) -> None:
        await self._async_evaluate()

    def _state(self, key: str) -> State | None:
        entity_id = self._entity(key)
        return self.hass.states.get(entity_id) if entity_id else None

    def _bad_facts(self) -> dict[str, _Badness]:
        """The entity facts that are bad now, whether or not they have lasted long enough."""
        bad: dict[str, _Badness] = {}
        plug_on = True
        if self._entity(CONF_PLUG_ENTITY):
            plug = self._state(CONF_PLUG_ENTITY)
            if state_missing(plug):
                bad[FAULT_PLUG] = _Badness(FAULT_PLUG, BLIP_DELAY)
            elif plug is not None and plug.state == STATE_OFF:
                bad[FAULT_PLUG] = _Badness(FAULT_PLUG, SWITCHED_OFF_DELAY)
            plug_on = plug is not None and plug.state == STATE_ON
        if self._entity(CONF_POWER_ENTITY) and plug_on:
            # With the plug off or gone, the plug fault says it all.
            power = self._state(CONF_POWER_ENTITY)
            minimum = float(self.runtime.entry.options.get(CONF_MIN_POWER_W) or DEFAULT_MIN_POWER_W)
            reading = watts(power)
            if reading is None:
                bad[FAULT_POWER] = _Badness(FAULT_POWER, BLIP_DELAY)
            elif reading < minimum:
                bad[FAULT_POWER] = _Badness(FAULT_POWER, SWITCHED_OFF_DELAY)
        if self._entity(CONF_CONNECTIVITY_ENTITY):
            router = self._state(CONF_CONNECTIVITY_ENTITY)
            if state_missing(router) or (router is not None and router.state == STATE_OFF):
                bad[FAULT_CONNECTIVITY] = _Badness(FAULT_CONNECTIVITY, BLIP_DELAY)
        if self._entity(CONF_BED_ENTITY) and state_missing(self._state(CONF_BED_ENTITY)):
            bad[FAULT_BED_SENSOR] = _Badness(FAULT_BED_SENSOR, BLIP_DELAY)
        return bad

    async def _async_evaluate(self) -> None:
        """Judge every entity fact: clear the healthy, start (or keep) the debounce of the bad."""
        now = dt_util.utcnow()
        bad = self._bad_facts()
        held = self._held_kinds()
        for kind in (FAULT_PLUG, FAULT_POWER, FAULT_CONNECTIVITY, FAULT_BED_SENSOR):
            if kind in held:
                # Unavailable because the broker is away, not because of the home: the fact
                # stands or not as before, until the broker is back.
                continue
            badness = bad.get(kind)
            if badness is None:
                self._standing.discard(kind)
                if (pending := self._pending.pop(kind, None)) is not None:
                    pending[1]()
                continue
            if kind in self._standing:
                continue
            deadline = now + badness.delay
            pending = self._pending.get(kind)
            if pending is not None:
                if pending[0] <= deadline:
                    continue
                pending[1]()
            self._pending[kind] = (
                deadline,
                async_call_later(
                    self.hass,
                    badness.delay,
                    HassJob(
                        functools.partial(self._on_debounced, kind),
                        f"trygghetskamera {kind} debounce",
                        cancel_on_shutdown=True,
                    ),
                ),
            )
        await self._async_report()

    async def _on_debounced(self, kind: str, _now: datetime) -> None:
        self._pending.pop(kind, None)
        # Judged again: the fact may have healed in the very same instant, or the broker gone.
        if kind in self._bad_facts() and kind not in self._held_kinds():
            self._standing.add(kind)
        await self._async_report()

    # --- camera -----------------------------------------------------------------------------

    @callback
    def _arm_probe(self) -> None:
        """Arm the probe before the next slot; called after every change of the home."""
        now = dt_util.utcnow()
        slot = self.runtime.supervisor.next_supervision(now)
        # Each slot is probed once before it opens (a restart or a new schedule re-arms).
        target = None if slot is None or slot == self._probed_for else max(now, slot - PROBE_LEAD)
        if target == self._probe_at:
            return
        if self._unsub_probe is not None:
            self._unsub_probe()
            self._unsub_probe = None
        self._probe_at = target
        if target is not None:
            self._unsub_probe = async_track_point_in_utc_time(self.hass, self._probe_job, target)

    async def _on_probe_time(self, _now: datetime) -> None:
        self._unsub_probe = self._probe_at = None
        self._probed_for = self.runtime.supervisor.next_supervision(dt_util.utcnow())
        await self._async_probe()
        self._arm_probe()

    async def _async_probe(self) -> None:
        if self.runtime.gate.live is not None:
            # A look is running: it shows whether the camera works, and its end is watched.
            return
        if not self.runtime.supervisor.consent:
            # Consent withdrawn: decoding the room, even by a machine that keeps nothing, is
            # processing that needs the consent, and a camera in privacy mode would only show
            # black (a false camera fault). The slots are physical visits anyway.
            return
        # The runtime reports the result back through `async_camera_probed`.
        await self.runtime.async_probe_camera(None)

    async def async_picture_unusable(self) -> None:
        """An operator saw that the picture cannot be trusted: a camera fault at once."""
        self.picture_unusable = True
        self._camera_fault = True
        await self._async_report()

    async def async_camera_probed(
        self, result: media.ProbeResult, requested_by: str | None = None
    ) -> None:
        """Judge a probe's result (from the pre-slot probe, the button or the action)."""
        self._cancel_recheck()
        if result.ok and self.picture_unusable and requested_by is None:
            # Not fixed until a person says so with a test of their own.
            await self._async_report()
            return
        if result.ok:
            self.picture_unusable = False
            self._frozen_count = 0
            self._camera_fault = False
        elif result.reason == media.REASON_FROZEN:
            self._frozen_count += 1
            if self._frozen_count >= FROZEN_PROBES:
                self._camera_fault = True
            else:
                self._unsub_recheck = async_call_later(
                    self.hass,
                    FROZEN_RECHECK,
                    HassJob(self._on_recheck, "trygghetskamera frozen recheck"),
                )
        else:
            self._frozen_count = 0
            self._camera_fault = True
            if result.reason == media.REASON_INVALID_AUTH:
                # The camera's password was changed: ask for it (once) while the home keeps
                # running, its looks turned into visits by the camera fault until it is given.
                self.runtime.entry.async_start_reauth(self.hass)
        await self._async_report()

    async def _on_recheck(self, _now: datetime) -> None:
        self._unsub_recheck = None
        await self._async_probe()

    def _cancel_recheck(self) -> None:
        if self._unsub_recheck is not None:
            self._unsub_recheck()
            self._unsub_recheck = None

    async def async_stream_lost(self, reason: str) -> None:
        """A live look lost the camera (`camera_*`): probe at once to tell a blip from a fault."""
        _LOGGER.debug("%s: the live stream ended with %s; probing", self.runtime.name, reason)
        await self.runtime.async_probe_camera(None)

    # --- reporting --------------------------------------------------------------------------

    @property
    def faults(self) -> frozenset[str]:
        """The equipment faults that stand now (a lost broker is a `connectivity` fault)."""
        return self._own_faults | ({FAULT_CONNECTIVITY} if self.broker_lost else frozenset())

    @property
    def _own_faults(self) -> frozenset[str]:
        """The faults of this home's own equipment: each has the home's repair issue."""
        return frozenset(self._standing | ({FAULT_CAMERA} if self._camera_fault else set()))

    def bed_occupied(self) -> bool | None:
        """The bed sensor's state for the operator and the audit log (None: unknown)."""
        state = self._state(CONF_BED_ENTITY)
        if state is None or state.state not in (STATE_ON, STATE_OFF):
            return None
        return state.state == STATE_ON

    async def _async_report(self) -> None:
        faults, own = self.faults, self._own_faults
        if (faults, own) == self._reported:
            return
        # Before the first report, what stood before a restart (the core keeps it).
        before = self._reported[0] if self._reported else self.runtime.faults & set(FAULT_KINDS)
        self._reported = (faults, own)
        self._log_changes(before, faults)
        # A lost broker has its one repair issue (BrokerWatch), not one per home.
        self._sync_repairs(own)
        await self.runtime.async_set_faults(faults)

    def _log_changes(self, before: frozenset[str], now: frozenset[str]) -> None:
        """One line when a fault starts and one when it clears, for whoever reads the log."""
        for kind in FAULT_KINDS:
            if kind in now and kind not in before:
                _LOGGER.warning(
                    "%s: %s fault started; its looks become physical visits until it clears",
                    self.runtime.name,
                    kind,
                )
            elif kind in before and kind not in now:
                _LOGGER.info("%s: %s fault cleared", self.runtime.name, kind)

    def _sync_repairs(self, faults: frozenset[str]) -> None:
        entry_id = self.runtime.entry.entry_id
        for kind in FAULT_KINDS:
            issue_id = repair_issue_id(entry_id, kind)
            if kind in faults:
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    issue_id,
                    is_fixable=False,
                    is_persistent=False,
                    severity=ir.IssueSeverity.ERROR,
                    translation_key=f"fault_{kind}",
                    translation_placeholders={"name": self.runtime.name},
                )
            else:
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)


def repair_issue_id(entry_id: str, kind: str) -> str:
    """The id of the repair issue of one home's fault kind."""
    return f"fault_{kind}_{entry_id}"


def async_delete_repairs(hass: HomeAssistant, entry_id: str) -> None:
    """Close every fault repair issue of a removed home (privacy mode's too)."""
    for kind in (*FAULT_KINDS, "privacy"):
        ir.async_delete_issue(hass, DOMAIN, repair_issue_id(entry_id, kind))


class BrokerWatch:
    """Home Assistant's MQTT connection, watched once for every home fed by MQTT entities.

    A loss that lasts the blip delay stands: every home in the watch gets a `connectivity` fault
    and one repair issue names the broker. The connection's return clears both at once.
    """

    def __init__(self, hass: HomeAssistant, mqtt: Any) -> None:
        """Subscribe to the connection status (`mqtt` is the MQTT component's module)."""
        self.hass = hass
        self.monitors: set[HealthMonitor] = set()
        self.lost = False
        self._mqtt = mqtt
        self._pending: CALLBACK_TYPE | None = None
        self._job = HassJob(
            self._on_debounced, "trygghetskamera broker loss", cancel_on_shutdown=True
        )
        self._unsub = mqtt.async_subscribe_connection_status(hass, self._on_connection)

    @classmethod
    @callback
    def async_get(cls, hass: HomeAssistant) -> BrokerWatch | None:
        """The watch of this Home Assistant (created on first use); None without MQTT at all."""
        if (watch := hass.data.get(_BROKER_WATCH)) is not None:
            return watch
        try:
            # Imported only for homes fed by MQTT: the integration loads without it.
            from homeassistant.components import mqtt
        except ImportError:
            _LOGGER.warning("Equipment comes from MQTT, but the MQTT component cannot load")
            return None
        watch = hass.data[_BROKER_WATCH] = cls(hass, mqtt)
        return watch

    def connected(self) -> bool:
        """Home Assistant's MQTT client is connected to the broker."""
        try:
            return bool(self._mqtt.is_connected(self.hass))
        except KeyError:
            # The MQTT integration is not (yet, or no longer) set up: no broker to speak of.
            return False

    @callback
    def async_add(self, monitor: HealthMonitor) -> None:
        """A home's equipment comes (partly) over MQTT."""
        self.monitors.add(monitor)
        self._arm_if_down()

    @callback
    def async_discard(self, monitor: HealthMonitor) -> None:
        """A home no longer depends on MQTT (options changed, unloaded); the last one closes."""
        self.monitors.discard(monitor)
        if self.monitors:
            return
        self._cancel()
        self.lost = False
        ir.async_delete_issue(self.hass, DOMAIN, BROKER_ISSUE_ID)
        self._unsub()
        self.hass.data.pop(_BROKER_WATCH, None)

    @callback
    def _on_connection(self, connected: bool) -> None:
        if self.hass.is_stopping:
            # Home Assistant is stopping and closes the connection itself: nothing was lost.
            return
        if connected:
            self._cancel()
            if self.lost:
                self.lost = False
                ir.async_delete_issue(self.hass, DOMAIN, BROKER_ISSUE_ID)
                _LOGGER.info("The MQTT broker is back for %d homes", len(self.monitors))
        else:
            self._arm_if_down()
        self._notify()

    @callback
    def _arm_if_down(self) -> None:
        if self.lost or self._pending is not None or self.hass.is_stopping or self.connected():
            return
        self._pending = async_call_later(self.hass, BLIP_DELAY, self._job)

    @callback
    def _cancel(self) -> None:
        if self._pending is not None:
            self._pending()
            self._pending = None

    async def _on_debounced(self, _now: datetime) -> None:
        self._pending = None
        if self.connected() or not self.monitors:
            return
        self.lost = True
        _LOGGER.warning(
            "The MQTT broker is out of reach: %d homes have lost their equipment",
            len(self.monitors),
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            BROKER_ISSUE_ID,
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=BROKER_ISSUE_ID,
            translation_placeholders={"homes": str(len(self.monitors))},
        )
        self._notify()

    @callback
    def _notify(self) -> None:
        for monitor in list(self.monitors):
            monitor.runtime.entry.async_create_task(
                self.hass, monitor.async_broker_changed(), "broker change", eager_start=True
            )
