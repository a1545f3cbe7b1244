"""The Home Assistant side of one home: feeds the core facts and carries out its decisions.

The core (`supervision`) decides; this class gives it the time, operator and staff actions and
equipment facts, persists its state after every change, wakes it exactly when it asks to be
woken, and turns its events into bus events, entity updates and audit records.
"""

import asyncio
from collections.abc import Callable, Iterable
import contextlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
import functools
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_ON
from homeassistant.core import (
    CALLBACK_TYPE,
    Event as HassEvent,
    EventStateChangedData,
    HassJob,
    HomeAssistant,
    callback,
)
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import (
    async_track_point_in_utc_time,
    async_track_state_change_event,
)
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from . import media
from .audit_trail import async_get_trail
from .const import (
    CONF_ACK_MINUTES,
    CONF_AUDIT_RETENTION_MONTHS,
    CONF_DECISION_END,
    CONF_DECISION_REFERENCE,
    CONF_FOLLOW_UP_MINUTES,
    CONF_FOLLOW_UPS,
    CONF_MIN_POWER_W,
    CONF_NAME,
    CONF_OPERATORS,
    CONF_PASSWORD,
    CONF_PHYSICAL_TIMES,
    CONF_POWER_ENTITY,
    CONF_PRIVACY_ENTITY,
    CONF_RESPONSE_MINUTES,
    CONF_SLOT_MINUTES,
    CONF_STREAM_URL,
    CONF_TIMES,
    CONF_URGENT_ACK_MINUTES,
    CONF_USERNAME,
    CONF_VIEW_SECONDS,
    CONSENT_RECORD,
    DECISION_WARN_DAYS,
    DEFAULT_ACK_MINUTES,
    DEFAULT_AUDIT_RETENTION_MONTHS,
    DEFAULT_FOLLOW_UP_MINUTES,
    DEFAULT_FOLLOW_UPS,
    DEFAULT_MIN_POWER_W,
    DEFAULT_RESPONSE_MINUTES,
    DEFAULT_SLOT_MINUTES,
    DEFAULT_URGENT_ACK_MINUTES,
    DEFAULT_VIEW_SECONDS,
    DOMAIN,
    EQUIPMENT_ENTITIES,
    EVENT_NIGHT_REPORT,
    EVENT_VISIT_ACKNOWLEDGED,
    EVENT_VISIT_CLEARED,
    EVENT_VISIT_ESCALATED,
    EVENT_VISIT_OVERDUE,
    EVENT_VISIT_REQUIRED,
    PROBE_TIMEOUT_S,
)
from .gate import Gate
from .health import HealthMonitor, repair_issue_id, state_missing, watts
from .lookup import local_time_zone
from .supervision import (
    Check,
    Event,
    EventType,
    HomeConfig,
    Outcome,
    Purpose,
    Refusal,
    Supervisor,
)

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION = 1
# The fault of a home whose facts the audit log cannot take (see `async_flush_audit`).
AUDIT_FAULT = "audit_log"

type TrygghetskameraConfigEntry = ConfigEntry[HomeRuntime]

# Events of the core that the `supervision` event entity shows (the contract's event types).
ENTITY_EVENT_TYPES: tuple[EventType, ...] = (
    EventType.COMPLETED,
    EventType.FOLLOW_UP,
    EventType.VISIT_REQUIRED,
    EventType.MISSED,
    EventType.FAULT,
    EventType.FAULT_CLEARED,
    EventType.SKIPPED,
    EventType.NIGHT_REPORT,
)

# A visit's life on the bus (docs/contract.md); the watchdog fires the same for its visits.
VISIT_LIFE_EVENTS: dict[EventType, str] = {
    EventType.VISIT_ACKNOWLEDGED: EVENT_VISIT_ACKNOWLEDGED,
    EventType.VISIT_ESCALATED: EVENT_VISIT_ESCALATED,
    EventType.VISIT_OVERDUE: EVENT_VISIT_OVERDUE,
}


def visit_life_data(event: Event) -> dict[str, Any]:
    """The bus event's data for a visit's acknowledgement, escalation or deadline."""
    data: dict[str, Any] = {
        "visit_id": event.data["visit_id"],
        "slot": event.slot,
        "reason": event.data.get("reason"),
        "urgent": bool(event.data.get("urgent", False)),
    }
    if event.type is EventType.VISIT_ACKNOWLEDGED:
        data |= {"user": event.data.get("user_id"), "note": event.data.get("note")}
    elif event.type is EventType.VISIT_ESCALATED:
        data |= {"level": event.data["level"], "minutes": event.data.get("minutes")}
    else:
        data |= {"minutes": event.data["minutes"]}
    return data


# Shown in the repair issue of a home that is not commissioned: passed, or still missing.
# Language-neutral words the repair text turns into "✅ done" / "✅ klart" (an ICU select).
# Marks, not words: a placeholder cannot follow each reader's language, and Home Assistant
# cannot parse a message-format `select` in its translations. Neither is an emoji.
CHECK_PASSED = "✓"
CHECK_MISSING = "✗"


def state_lost_issue_id(entry_id: str) -> str:
    """The repair issue of a home whose saved state could not be read."""
    return f"state_lost_{entry_id}"


# The fault of a home whose privacy mode could not be switched back on, and its repair issue.
PRIVACY_FAULT = "privacy"
PRIVACY_FAULT_ISSUE = f"fault_{PRIVACY_FAULT}"


def privacy_issue_id(entry_id: str) -> str:
    """The repair issue of a home whose privacy mode could not be restored (`privacy` fault)."""
    return repair_issue_id(entry_id, PRIVACY_FAULT)


def not_commissioned_issue_id(entry_id: str) -> str:
    """The repair issue that lists what a home's commissioning still lacks."""
    return f"not_commissioned_{entry_id}"


def home_config(options: dict[str, Any]) -> HomeConfig:
    """Build the core's view of a home's options."""
    return HomeConfig(
        times=tuple(options[CONF_TIMES]),
        slot_minutes=int(options.get(CONF_SLOT_MINUTES, DEFAULT_SLOT_MINUTES)),
        follow_up_minutes=int(options.get(CONF_FOLLOW_UP_MINUTES, DEFAULT_FOLLOW_UP_MINUTES)),
        follow_ups=int(options.get(CONF_FOLLOW_UPS, DEFAULT_FOLLOW_UPS)),
        view_seconds=int(options.get(CONF_VIEW_SECONDS, DEFAULT_VIEW_SECONDS)),
        # Homes added before physical times existed read as all digital.
        physical_times=tuple(options.get(CONF_PHYSICAL_TIMES) or ()),
        ack_minutes=int(options.get(CONF_ACK_MINUTES, DEFAULT_ACK_MINUTES)),
        urgent_ack_minutes=int(options.get(CONF_URGENT_ACK_MINUTES, DEFAULT_URGENT_ACK_MINUTES)),
        response_minutes=int(options.get(CONF_RESPONSE_MINUTES, DEFAULT_RESPONSE_MINUTES)),
        decision_end=_decision_end(options),
    )


# What an option absent from a home's options (added before the option existed) means: saving
# the options writes it, and a default made explicit is no change for the audit log.
OPTION_DEFAULTS: dict[str, Any] = {
    CONF_SLOT_MINUTES: DEFAULT_SLOT_MINUTES,
    CONF_FOLLOW_UP_MINUTES: DEFAULT_FOLLOW_UP_MINUTES,
    CONF_FOLLOW_UPS: DEFAULT_FOLLOW_UPS,
    CONF_VIEW_SECONDS: DEFAULT_VIEW_SECONDS,
    CONF_ACK_MINUTES: DEFAULT_ACK_MINUTES,
    CONF_URGENT_ACK_MINUTES: DEFAULT_URGENT_ACK_MINUTES,
    CONF_RESPONSE_MINUTES: DEFAULT_RESPONSE_MINUTES,
    CONF_MIN_POWER_W: DEFAULT_MIN_POWER_W,
    CONF_AUDIT_RETENTION_MONTHS: DEFAULT_AUDIT_RETENTION_MONTHS,
}


def option_in_force(options: dict[str, Any], key: str) -> Any:
    """The value an option has in effect: its default when absent; None when empty."""
    value = options.get(key, OPTION_DEFAULTS.get(key))
    # An empty list or text (no physical times, no decision reference) is the same as none.
    return None if value in ("", [], ()) else value


def _decision_end(options: dict[str, Any]) -> date | None:
    end = options.get(CONF_DECISION_END)
    return None if not end else date.fromisoformat(str(end))


def decision_issue_id(entry_id: str) -> str:
    """The repair issue of a home whose decision ends within 14 days, or has ended."""
    return f"decision_ending_{entry_id}"


@dataclass(slots=True)
class AuditFact:
    """One fact for the audit log, as the runtime saw it."""

    kind: str
    at: datetime
    user_id: str | None
    data: dict[str, Any]


class HomeRuntime:
    """Drives one home's `Supervisor` with Home Assistant's clock, entities and actions."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, device_id: str | None) -> None:
        """Prepare; nothing runs until `async_start`."""
        self.hass = hass
        self.entry = entry
        self.tz = local_time_zone()
        self.config = home_config(dict(entry.options))
        self.device_id = device_id
        self._last_signature: str | None = None
        self._options = dict(entry.options)
        # Set by the options flow just before it saves: who is changing the options.
        self.options_changed_by: str | None = None
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}", private=True, atomic_writes=True
        )
        self._supervisor: Supervisor | None = None
        self._unsub_timer: CALLBACK_TYPE | None = None
        self._unsub_decision: CALLBACK_TYPE | None = None
        self._listeners: list[Callable[[], None]] = []
        self._event_listeners: list[Callable[[Event], None]] = []
        self._audit_sinks: list[Callable[[AuditFact], None]] = []
        self._audit_queue: list[AuditFact] = []
        self._audit_lock = asyncio.Lock()
        self._equipment_faults: frozenset[str] = frozenset()
        self._privacy_fault = False
        # While the privacy fault stands: the privacy switch's state changes are watched.
        self._unsub_privacy: CALLBACK_TYPE | None = None
        # Set once the home shuts down: nothing arms a timer or a watch after that.
        self._shut_down = False
        # The audit log could not take the last facts: a fault of the home until it can.
        self._audit_fault = False
        # The camera (its URL without credentials) the home was commissioned with.
        self._camera: str | None = None
        self._unsub_equipment: CALLBACK_TYPE | None = None
        # The camera probe running now, which every other request waits for.
        self._probe: asyncio.Task[media.ProbeResult] | None = None
        self.gate = Gate(hass, self)
        self.health = HealthMonitor(hass, self)
        self._timer_job = HassJob(
            self._on_timer, "trygghetskamera wake-up", cancel_on_shutdown=True
        )

    # --- properties -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The home's pseudonymous label."""
        return str(self.entry.data.get(CONF_NAME, self.entry.title))

    @property
    def supervisor(self) -> Supervisor:
        """The core state machine (available once started)."""
        assert self._supervisor is not None
        return self._supervisor

    @property
    def faults(self) -> frozenset[str]:
        """The equipment faults standing now (the core keeps them, across restarts too)."""
        return self.supervisor.faults

    @property
    def commissioning_missing(self) -> list[str]:
        """The commissioning checks still to pass (`camera_probe`, `equipment`, `session`)."""
        return [str(check) for check in self.supervisor.commissioning_missing]

    @property
    def operators(self) -> list[str]:
        """The ids of the users who may look."""
        return list(self.entry.options.get(CONF_OPERATORS, []))

    # --- life cycle -------------------------------------------------------------------------

    async def async_restore(self) -> None:
        """Load the persisted state as it was; nothing is announced yet."""
        self.tz = local_time_zone()
        stored = await self._store.async_load()
        self._supervisor = None
        self._camera = (stored or {}).get("camera")
        self.health.picture_unusable = bool((stored or {}).get("picture_unusable", False))
        if stored and "supervisor" in stored:
            try:
                # Restored under the schedule it was saved with, so that the downtime is caught
                # up under that schedule and a change made meanwhile is applied (and logged).
                self._supervisor = Supervisor.from_dict(
                    stored["supervisor"], _config_from_key(stored["config"]), self.tz
                )
            except KeyError, TypeError, ValueError:
                _LOGGER.exception("The supervision state of %s could not be restored", self.name)
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    state_lost_issue_id(self.entry.entry_id),
                    is_fixable=False,
                    severity=ir.IssueSeverity.CRITICAL,
                    translation_key="state_lost",
                    translation_placeholders={"name": self.name},
                )
        if self._supervisor is None:
            self._supervisor = Supervisor(self.config, self.tz, dt_util.utcnow(), consent=True)
            # A new home: its supervision, and the consent the installer confirmed, begin now.
            self.audit(
                "home_added",
                self.entry.data.get("consent_confirmed_by"),
                consent_confirmed_at=self.entry.data.get("consent_confirmed_at"),
                schedule=self.config.as_dict(),
                operators=self.operators,
            )
            if record := self.entry.data.get(CONSENT_RECORD):
                # Who consented, when and on what document, as the installer entered it.
                self.audit("consent_recorded", record.get("entered_by"), consent=True, **record)
        faults = self._supervisor.faults
        self._privacy_fault = PRIVACY_FAULT in faults
        self._audit_fault = AUDIT_FAULT in faults
        self._equipment_faults = faults - {PRIVACY_FAULT, AUDIT_FAULT}

    async def async_start(self) -> None:
        """Catch up with the time that passed, announce it, and arm the timer."""
        now = self.now()
        events: list[Event] = []
        if self.supervisor.config != self.config:
            events += self.supervisor.set_config(now, self.config)
        events += self.supervisor.advance(now)
        camera = self.entry.unique_id
        if self._camera is not None and camera != self._camera:
            # Another camera (reconfigured): the home is commissioned anew, with the staff.
            events += self.supervisor.set_commissioned(now, False)
        self._camera = camera
        await self._async_commit(events)
        await self.gate.async_restore_privacy()
        await self.health.async_start()
        self._track_equipment()
        await self._async_check_equipment()

    async def async_shutdown(self) -> None:
        """Stop waking up and end any live look; the state on disk is already current.

        What the shutdown itself still changes (privacy mode that does not come back on) is
        saved and logged, but arms no timer any more.
        """
        self._shut_down = True
        if self._unsub_timer is not None:
            self._unsub_timer()
            self._unsub_timer = None
        self._untrack_equipment()
        self._cancel_decision_timer()
        self.health.async_stop()
        if self._unsub_privacy is not None:
            self._unsub_privacy()
            self._unsub_privacy = None
        if (probe := self._probe) is not None and not probe.done():
            # A probe still decoding is given up: it turns privacy mode back on as it ends.
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
        await self.gate.async_shutdown()
        await self.async_flush_audit()

    async def async_remove(self) -> None:
        """Forget the persisted state of a removed home."""
        await self._store.async_remove()

    # --- facts from Home Assistant ----------------------------------------------------------

    async def async_options_updated(self) -> None:
        """Log who changed which option, and apply a changed schedule to unstarted slots."""
        new = dict(self.entry.options)
        changes = {
            key: {"old": self._options.get(key), "new": new.get(key)}
            for key in sorted(set(self._options) | set(new))
            if option_in_force(self._options, key) != option_in_force(new, key)
        }
        if changes:
            self.audit("options_changed", self.options_changed_by, changes=changes)
        if decision := {
            key: changes[key]
            for key in (CONF_DECISION_REFERENCE, CONF_DECISION_END)
            if key in changes
        }:
            # The decision (biståndsbeslut) a home is supervised under, as its own record.
            self.audit(
                "decision_changed",
                self.options_changed_by,
                decision_reference=new.get(CONF_DECISION_REFERENCE),
                decision_end=new.get(CONF_DECISION_END),
                changes=decision,
            )
        if "operators" in changes:
            # Who may look, as its own record: the access review reads membership from these.
            old_ops = set(changes["operators"]["old"] or [])
            new_ops = set(changes["operators"]["new"] or [])
            self.audit(
                "operators_changed",
                self.options_changed_by,
                added=sorted(new_ops - old_ops),
                removed=sorted(old_ops - new_ops),
            )
        self._options, self.options_changed_by = new, None
        await self.health.async_options_updated()
        self._track_equipment()
        await self._async_check_equipment()
        config = home_config(new)
        if config == self.config:
            await self._async_commit([])
            return
        self.config = config
        await self._async_commit(self.supervisor.set_config(dt_util.utcnow(), config))

    async def async_skip_night(self, night: date, user_id: str | None) -> None:
        """Skip a night (relatives staying over)."""
        await self._async_commit(self.supervisor.skip_night(dt_util.utcnow(), night, user_id))

    async def async_unskip_night(self, night: date, user_id: str | None) -> None:
        """Undo the skip of a night none of whose slots has begun."""
        await self._async_commit(self.supervisor.unskip_night(dt_util.utcnow(), night, user_id))

    async def async_set_consent(self, on: bool, user_id: str | None) -> None:
        """Consent given or withdrawn."""
        await self._async_commit(self.supervisor.set_consent(dt_util.utcnow(), on, user_id))

    async def async_withdraw_consent(self, user_id: str | None, roles: Iterable[str]) -> None:
        """Consent withdrawn (the switch): recorded with the consent it ends, where known."""
        if self.supervisor.consent:
            record = dict(self.entry.data.get(CONSENT_RECORD) or {})
            self.audit(
                "consent_recorded",
                user_id,
                consent=False,
                withdrawn_on=dt_util.now().date().isoformat(),
                withdrawn_by_roles=sorted(str(role) for role in roles),
                persons=record.get("persons"),
                document=record.get("document"),
                consented_on=record.get("date"),
            )
        await self.async_set_consent(False, user_id)

    async def async_give_consent(self, record: dict[str, Any], user_id: str | None) -> None:
        """Consent given again in the options' consent step, with who consented and on what."""
        self.audit("consent_recorded", user_id, consent=True, **record)
        await self.async_set_consent(True, user_id)

    async def async_visit_done(
        self, user_id: str | None, note: str | None, visit_ids: list[str] | None = None
    ) -> None:
        """Staff report physical visits done: these, or the home's open ones (see the core)."""
        await self._async_commit(
            self.supervisor.visit_done(dt_util.utcnow(), user_id, note, visit_ids)
        )

    async def async_acknowledge_visits(
        self, user_id: str | None, note: str | None, visit_ids: list[str] | None = None
    ) -> None:
        """Staff are on their way to these visits, or to every one nobody acknowledged yet."""
        await self._async_commit(
            self.supervisor.acknowledge_visits(dt_util.utcnow(), user_id, note, visit_ids)
        )

    async def async_set_faults(self, faults: frozenset[str]) -> None:
        """The set of equipment faults reported by the home's entities changed."""
        self._equipment_faults = faults
        await self._async_update_faults()

    async def async_set_privacy_fault(self, failed: bool) -> None:
        """Privacy mode could (not) be restored after a look or a probe: a fault while it stays off.

        The fault has its repair issue, and clears when privacy mode is restored: by the next
        look or probe, at start-up, or when the switch itself reports on again (someone fixed
        the camera's privacy mode by hand).
        """
        self._sync_privacy_issue(failed)
        self._watch_privacy_switch(failed)
        if failed != self._privacy_fault:
            self._privacy_fault = failed
            await self._async_update_faults()

    @callback
    def _sync_privacy_issue(self, failed: bool) -> None:
        issue_id = privacy_issue_id(self.entry.entry_id)
        if not failed:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=PRIVACY_FAULT_ISSUE,
            translation_placeholders={"name": self.name},
        )

    @callback
    def _watch_privacy_switch(self, failed: bool) -> None:
        """While the fault stands, the switch reporting on again clears it."""
        if self._unsub_privacy is not None:
            self._unsub_privacy()
            self._unsub_privacy = None
        entity_id = self.entry.options.get(CONF_PRIVACY_ENTITY) or None
        if failed and entity_id is not None and not self._shut_down:
            self._unsub_privacy = async_track_state_change_event(
                self.hass, entity_id, self._on_privacy_switch
            )

    async def _on_privacy_switch(self, event: HassEvent[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if (
            self._privacy_fault
            and new is not None
            and new.state == STATE_ON
            and self.gate.live is None
            and not self.hass.is_stopping
        ):
            await self.async_set_privacy_fault(False)

    async def _async_update_faults(self) -> None:
        faults = (
            self._equipment_faults
            | ({PRIVACY_FAULT} if self._privacy_fault else set())
            | ({AUDIT_FAULT} if self._audit_fault else set())
        )
        if faults == self.faults:
            return
        await self._async_commit(self.supervisor.set_faults(self.now(), frozenset(faults)))

    async def async_start_session(
        self, session_id: str, user_id: str, purpose: Purpose = Purpose.SUPERVISION
    ) -> Refusal | None:
        """Ask the core for a look; None means granted (and the session is now running)."""
        if (
            purpose is Purpose.COMMISSIONING
            and self.supervisor.consent
            and self.supervisor.commissioning_refusal(self.now()) is None
            and Check.CAMERA_PROBE in self.supervisor.commissioning_missing
        ):
            # The installer's look begins with the camera test it still lacks; a failed test
            # is a camera fault, and the look is refused for it.
            await self.async_probe_camera(user_id)
        now = self.now()
        refusal = self.supervisor.start_session(now, session_id, user_id, purpose)
        # Deliver what the decision caused (and any overdue timer) at once, granted or not.
        await self._async_commit(self.supervisor.advance(now))
        return refusal

    async def async_end_session(self, session_id: str) -> None:
        """The live stream of a session ended; its outcome may still come."""
        await self._async_commit(self.supervisor.end_session(self.now(), session_id, None))

    async def async_set_outcome(
        self, session_id: str, outcome: Outcome, user_id: str, note: str | None = None
    ) -> None:
        """The operator recorded what the look showed."""
        await self._async_commit(
            self.supervisor.set_outcome(self.now(), session_id, outcome, user_id, note)
        )
        if outcome is Outcome.PICTURE_UNUSABLE:
            # The camera was moved, covered or blurred: a camera fault with its repair issue.
            await self.health.async_picture_unusable()
            await self._async_commit([])

    async def async_probe_camera(self, user_id: str | None) -> media.ProbeResult:
        """Open the camera, decode one frame, check it; nothing is shown or kept but a hash.

        One probe per home at a time: a request while one runs waits for that one's result
        (and is logged with its own caller), so the camera never gets a second connection.
        """
        running = self._probe
        if running is not None and not running.done():
            result = await asyncio.shield(running)
            self.audit(
                "camera_probe",
                user_id,
                ok=result.ok,
                reason=result.reason,
                ms=result.ms,
                shared=True,
            )
            await self.async_flush_audit()
            return result
        probe = self.entry.async_create_task(
            self.hass, self._async_probe_camera(user_id), "camera probe", eager_start=True
        )
        self._probe = probe
        return await asyncio.shield(probe)

    async def _async_probe_camera(self, user_id: str | None) -> media.ProbeResult:
        data = self.entry.data
        # A camera in privacy mode shows black (or the ceiling): the probe, and only the probe,
        # turns privacy mode off for its one decoded frame and on again, whatever happens.
        async with self.gate.async_privacy_for_probe() as privacy:
            result = await self.hass.async_add_executor_job(
                functools.partial(
                    media.probe,
                    data[CONF_STREAM_URL],
                    data.get(CONF_USERNAME),
                    data.get(CONF_PASSWORD),
                    timeout_s=PROBE_TIMEOUT_S,
                    last_signature=self._last_signature,
                    on_open=self.gate.on_stream_open(),
                )
            )
        if result.signature is not None:
            self._last_signature = result.signature
        self.audit(
            "camera_probe",
            user_id,
            ok=result.ok,
            reason=result.reason,
            ms=result.ms,
            **privacy.audit_data(),
        )
        await self.async_flush_audit()
        await self.health.async_camera_probed(result, user_id)
        if result.ok:
            await self._async_pass_check(Check.CAMERA_PROBE, user_id)
        return result

    # --- commissioning ----------------------------------------------------------------------

    async def async_restart_commissioning(self, user_id: str | None, reason: str) -> None:
        """An admin restarts commissioning: every check again, in a new 14-day period."""
        await self._async_commit(self.supervisor.restart_commissioning(self.now(), user_id, reason))
        self._track_equipment()
        await self._async_check_equipment()

    async def _async_pass_check(self, check: Check, user_id: str | None) -> None:
        if check in self.supervisor.commissioning_missing:
            await self._async_commit(self.supervisor.pass_check(self.now(), check, user_id))

    def _equipment_entities(self) -> list[str]:
        return [
            entity_id for key in EQUIPMENT_ENTITIES if (entity_id := self.entry.options.get(key))
        ]

    @callback
    def _track_equipment(self) -> None:
        """Watch the equipment's states until each has shown a valid one (then no more)."""
        self._untrack_equipment()
        if Check.EQUIPMENT not in self.supervisor.commissioning_missing:
            return
        if entities := self._equipment_entities():
            self._unsub_equipment = async_track_state_change_event(
                self.hass, entities, self._on_equipment_state
            )

    @callback
    def _untrack_equipment(self) -> None:
        if self._unsub_equipment is not None:
            self._unsub_equipment()
            self._unsub_equipment = None

    async def _on_equipment_state(self, _event: HassEvent[EventStateChangedData]) -> None:
        await self._async_check_equipment()

    def _equipment_valid(self) -> bool:
        """Every configured equipment entity reports a real state (a number for the power)."""
        for key in EQUIPMENT_ENTITIES:
            if not (entity_id := self.entry.options.get(key)):
                continue
            state = self.hass.states.get(entity_id)
            if state_missing(state) or (key == CONF_POWER_ENTITY and watts(state) is None):
                return False
        return True

    async def _async_check_equipment(self) -> None:
        if Check.EQUIPMENT in self.supervisor.commissioning_missing and self._equipment_valid():
            self._untrack_equipment()
            await self._async_pass_check(Check.EQUIPMENT, None)

    @callback
    def _sync_commissioning_issue(self) -> None:
        """A repair issue lists what commissioning still lacks, until nothing does."""
        issue_id = not_commissioned_issue_id(self.entry.entry_id)
        missing = self.supervisor.commissioning_missing
        if not missing:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="not_commissioned",
            translation_placeholders={"name": self.name}
            | {str(check): CHECK_MISSING if check in missing else CHECK_PASSED for check in Check},
        )

    @callback
    def _cancel_decision_timer(self) -> None:
        if self._unsub_decision is not None:
            self._unsub_decision()
            self._unsub_decision = None

    @callback
    def _sync_decision_issue(self) -> None:
        """From 14 days before the decision ends a repair issue warns; from the end it says so.

        Its wording changes at 00:00 local on the end date (a timer is armed for each moment);
        an end date moved on beyond the 14 days, or cleared, removes it.
        """
        self._cancel_decision_timer()
        issue_id = decision_issue_id(self.entry.entry_id)
        end = self.config.decision_end
        if end is None:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        ends_at = datetime.combine(end, time(), tzinfo=self.tz)
        warn_at = datetime.combine(end - timedelta(days=DECISION_WARN_DAYS), time(), tzinfo=self.tz)
        now = self.now()
        if now < warn_at:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        else:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING if now < ends_at else ir.IssueSeverity.ERROR,
                translation_key="decision_ending" if now < ends_at else "decision_ended",
                translation_placeholders={
                    "name": self.name,
                    "date": end.isoformat(),
                    "reference": str(self._options.get(CONF_DECISION_REFERENCE) or "-"),
                },
            )
        wake = warn_at if now < warn_at else ends_at if now < ends_at else None
        if wake is not None and not self._shut_down:
            self._unsub_decision = async_track_point_in_utc_time(
                self.hass, self._on_decision_timer, wake
            )

    @callback
    def _on_decision_timer(self, now: datetime) -> None:
        self._unsub_decision = None
        self._sync_decision_issue()

    def now(self) -> datetime:
        """The current time (UTC), as Home Assistant's clock tells it."""
        return dt_util.utcnow()

    def tonight(self) -> date:
        """The night that is running now, or the next one once this one is over."""
        return self.supervisor.tonight(self.now())

    # --- subscriptions ----------------------------------------------------------------------

    @callback
    def async_add_listener(self, update: Callable[[], None]) -> CALLBACK_TYPE:
        """Call `update` after every change of the home's state."""
        self._listeners.append(update)
        return lambda: self._listeners.remove(update)

    @callback
    def async_add_event_listener(self, handle: Callable[[Event], None]) -> CALLBACK_TYPE:
        """Call `handle` with each event of the contract's event types."""
        self._event_listeners.append(handle)
        return lambda: self._event_listeners.remove(handle)

    @callback
    def async_add_audit_sink(self, sink: Callable[[AuditFact], None]) -> CALLBACK_TYPE:
        """Call `sink` with every fact the audit log must hold."""
        self._audit_sinks.append(sink)
        return lambda: self._audit_sinks.remove(sink)

    @callback
    def audit(self, kind: str, user_id: str | None, **data: Any) -> None:
        """Queue one fact for the audit log (written by the next flush)."""
        self._queue_audit(AuditFact(kind, self.now(), user_id, data))

    @callback
    def _queue_audit(self, fact: AuditFact) -> None:
        for sink in list(self._audit_sinks):
            sink(fact)
        self._audit_queue.append(fact)

    async def async_flush_audit(self) -> None:
        """Write every queued fact, in order, and return once all are committed to disk.

        A fact leaves the queue only once its record is committed. If the log cannot be
        written, the facts stay queued (in order, for the next flush) and the home is at fault
        (`audit_log`): its visits are raised, never silently lost.
        """
        trail = async_get_trail(self.hass)
        failed = False
        async with self._audit_lock:
            while self._audit_queue:
                fact = self._audit_queue[0]
                if trail is None:
                    self._audit_queue.pop(0)
                    continue
                try:
                    await trail.async_append(
                        fact.kind,
                        at=fact.at,
                        entry_id=self.entry.entry_id,
                        home=self.name,
                        user_id=fact.user_id,
                        data=fact.data,
                    )
                except Exception:
                    _LOGGER.exception(
                        "The audit log of %s cannot be written; %d facts wait",
                        self.name,
                        len(self._audit_queue),
                    )
                    failed = True
                    break
                self._audit_queue.pop(0)
        if trail is not None and not self.hass.is_stopping and failed != self._audit_fault:
            self._audit_fault = failed
            await self._async_update_faults()

    # --- carrying out decisions -------------------------------------------------------------

    async def _async_commit(self, events: list[Event]) -> None:
        """Persist, announce, refresh entities and arm the next wake-up."""
        await self._store.async_save(
            {
                "config": _config_key(self.config),
                "supervisor": self.supervisor.to_dict(),
                "camera": self._camera,
                "picture_unusable": self.health.picture_unusable,
            }
        )
        for event in events:
            self._announce(event)
        self._sync_commissioning_issue()
        self._sync_decision_issue()
        self._arm_timer()
        for update in list(self._listeners):
            update()
        # A look ends the moment the core withdraws the right to it (consent, fault, time).
        await self.gate.async_enforce()
        await self.async_flush_audit()

    @callback
    def _announce(self, event: Event) -> None:
        base = {"entry_id": self.entry.entry_id, "device_id": self.device_id, "name": self.name}
        if event.type is EventType.VISIT_REQUIRED:
            self.hass.bus.async_fire(
                EVENT_VISIT_REQUIRED,
                base
                | {
                    "reason": str(event.data["reason"]),
                    "urgent": bool(event.data.get("urgent", False)),
                    "slot": event.slot,
                    "visit_id": event.data["visit_id"],
                },
            )
        elif event.type in VISIT_LIFE_EVENTS:
            self.hass.bus.async_fire(VISIT_LIFE_EVENTS[event.type], base | visit_life_data(event))
        elif event.type is EventType.VISIT_CLEARED:
            self.hass.bus.async_fire(EVENT_VISIT_CLEARED, base)
        elif event.type is EventType.NIGHT_REPORT:
            self.hass.bus.async_fire(EVENT_NIGHT_REPORT, base | dict(event.data))
        if event.type in ENTITY_EVENT_TYPES:
            for handle in list(self._event_listeners):
                handle(event)
        data = {key: value for key, value in event.data.items() if key != "user_id"}
        self._queue_audit(
            AuditFact(
                str(event.type), event.at, event.data.get("user_id"), {"slot": event.slot} | data
            )
        )

    @callback
    def _arm_timer(self) -> None:
        if self._unsub_timer is not None:
            self._unsub_timer()
            self._unsub_timer = None
        wake = self.supervisor.next_wakeup(dt_util.utcnow())
        if wake is not None and not self._shut_down:
            self._unsub_timer = async_track_point_in_utc_time(self.hass, self._timer_job, wake)

    async def _on_timer(self, now: datetime) -> None:
        self._unsub_timer = None
        await self._async_commit(self.supervisor.advance(dt_util.utcnow()))


def _config_from_key(data: dict[str, Any]) -> HomeConfig:
    return HomeConfig.from_dict(data)


def _config_key(config: HomeConfig) -> dict[str, Any]:
    return config.as_dict()
