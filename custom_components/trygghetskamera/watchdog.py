"""Homes that are not running still owe their slots: the domain-level watchdog.

A home's own runtime raises its visits, but only while its config entry runs. The watchdog is set
up once with the integration (`async_setup`), independent of every entry's setup, and reads each
home's agreed times from its config entry, so it also covers an entry whose setup failed or that
was disabled. At each agreed time of a home that is not running it fires
`trygghetskamera_visit_required` (reason `fault`), keeps a repair issue open that says the home is
not supervised digitally, and writes an audit record. Supervision ends only when the home is
removed.

Home Assistant itself may be down when such a slot comes: the watchdog keeps on disk the moment up
to which it has taken care of the slots, and once Home Assistant has started again it raises each
slot of a home that is not running that began meanwhile (up to a day back).

Each visit it raises has a `visit_id` and the same life as a running home's (the core's
`VisitBook`, kept on disk here): staff acknowledge it and report it done through the same actions,
and it escalates and becomes overdue on the home's own `ack_minutes` and `response_minutes`.
"""

from collections.abc import Iterable
from datetime import date, datetime, timedelta
import logging
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.config_entries import (
    SIGNAL_CONFIG_ENTRY_CHANGED,
    ConfigEntry,
    ConfigEntryChange,
    ConfigEntryState,
)
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import (
    CALLBACK_TYPE,
    CoreState,
    Event,
    HassJob,
    HomeAssistant,
    callback,
)
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .audit_trail import async_get_trail
from .const import (
    CONF_NAME,
    CONF_SLOT_MINUTES,
    CONF_TIMES,
    DEFAULT_SLOT_MINUTES,
    DOMAIN,
    EVENT_VISIT_CLEARED,
    EVENT_VISIT_REQUIRED,
    is_home,
)
from .lookup import local_time_zone
from .mqtt_publish import async_publish_not_running
from .runtime import VISIT_LIFE_EVENTS, home_config, visit_life_data
from .supervision import (
    Event as CoreEvent,
    Reason,
    Slot,
    Visit,
    VisitBook,
    VisitPolicy,
    night_of,
    slots_for_night,
    visit_summary,
)

_LOGGER = logging.getLogger(__name__)

WATCHDOG: HassKey[Watchdog] = HassKey(f"{DOMAIN}_watchdog")
STORAGE_VERSION = 1
# After a restart, slots that began while Home Assistant was down are raised up to this far back.
CATCH_UP = timedelta(days=1)

# A home whose (enabled) entry is in one of these states runs, or is about to: just added or
# being reloaded (not loaded for a moment), or set up while Home Assistant starts. Its runtime
# then catches up with whatever slot passed meanwhile, as missed. Any other state (setup failed,
# waiting to retry, migration failed) means nobody raises its slots but the watchdog.
_RUNNING = frozenset(
    {
        ConfigEntryState.LOADED,
        ConfigEntryState.SETUP_IN_PROGRESS,
        ConfigEntryState.NOT_LOADED,
        ConfigEntryState.UNLOAD_IN_PROGRESS,
    }
)


def not_running_issue_id(entry_id: str) -> str:
    """The id of the repair issue of a home that is not running."""
    return f"not_running_{entry_id}"


def next_slot(entry: ConfigEntry, tz: ZoneInfo, after: datetime) -> Slot | None:
    """The first slot of the home that starts after `after`, from its entry's options."""
    times = entry.options.get(CONF_TIMES) or []
    if not times:
        return None
    slot_minutes = int(entry.options.get(CONF_SLOT_MINUTES, DEFAULT_SLOT_MINUTES))
    night = night_of(after, tz)
    for offset in (-1, 0, 1, 2):
        for slot in slots_for_night(night + timedelta(days=offset), times, slot_minutes, tz):
            if slot.start > after:
                return slot
    return None


class Watchdog:
    """Raises the visits of homes that are not running, at their agreed times."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Prepare; `async_start` arms it."""
        self.hass = hass
        self._unsubs: list[CALLBACK_TYPE] = []
        self._unsub_timer: CALLBACK_TYPE | None = None
        self._rearm_pending = False
        # Slots up to this moment are taken care of; the timer looks for later ones.
        self._since = dt_util.utcnow()
        # Where the last run (before a restart) had got to: caught up with once started.
        self._resume_from: datetime | None = None
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.watchdog", private=True, atomic_writes=True
        )
        # The visits raised for homes not running, by entry id, until each is done.
        self._books: dict[str, VisitBook] = {}
        # What each home's timer depended on when it was last armed (see `_signature`).
        self._armed_with: dict[str, tuple[bool, Any]] = {}
        self._job = HassJob(self._on_time, "trygghetskamera watchdog", cancel_on_shutdown=True)

    async def async_load(self) -> None:
        """Read how far the last run had taken care of the slots."""
        stored = await self._store.async_load()
        if stored and (since := dt_util.parse_datetime(stored.get("since", ""))) is not None:
            self._resume_from = since
        for entry_id, book in ((stored or {}).get("visits") or {}).items():
            self._books[entry_id] = VisitBook.from_dict(book)

    async def async_start(self) -> None:
        """Follow the config entries, catch up with the time Home Assistant was down, arm."""
        self._unsubs.append(
            async_dispatcher_connect(self.hass, SIGNAL_CONFIG_ENTRY_CHANGED, self._on_entry)
        )
        # Listened to once, and never removed: each one ends when its event comes.
        self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._on_stop)
        if self.hass.state is CoreState.running:
            await self._async_started()
        else:
            self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STARTED, self._on_started)
            self._arm()

    @callback
    def async_stop(self) -> None:
        """Stop watching."""
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        if self._unsub_timer is not None:
            self._unsub_timer()
            self._unsub_timer = None

    # --- which homes are not running -----------------------------------------------------

    def _entries(self) -> list[ConfigEntry]:
        return [
            entry
            for entry in self.hass.config_entries.async_entries(
                DOMAIN, include_ignore=False, include_disabled=True
            )
            if is_home(entry)
        ]

    def not_running(self, entry: ConfigEntry) -> bool:
        """Whether a home owes slots that its own runtime will not raise."""
        return entry.disabled_by is not None or entry.state not in _RUNNING

    def _signature(self, entry: ConfigEntry) -> tuple[bool, Any]:
        """What the timer reads of an entry: whether it runs, and its options (the times)."""
        return self.not_running(entry), entry.options

    # --- reacting to the entries -----------------------------------------------------------

    @callback
    def _on_entry(self, change: ConfigEntryChange, entry: ConfigEntry) -> None:
        if entry.domain != DOMAIN or not is_home(entry):
            return
        if (
            change is ConfigEntryChange.REMOVED
            and self._books.pop(entry.entry_id, None) is not None
        ):
            self._save()
        # A removed home's notices are closed by its removal (`async_remove_entry`).
        if change is not ConfigEntryChange.REMOVED and self.hass.state is CoreState.running:
            self._sync_issue(entry)
        if change is ConfigEntryChange.UPDATED and self._armed_with.get(
            entry.entry_id
        ) == self._signature(entry):
            # Nothing the timer reads changed (a running home set up, as 1000 are at a start):
            # arming again would read every entry for the same answer.
            return
        self._schedule_rearm()

    async def _on_started(self, _event: Event) -> None:
        if self._unsubs:
            await self._async_started()

    async def _async_started(self) -> None:
        """Every entry's setup has had its turn: who is not running is known now."""
        self._sync_issues()
        if (resume_from := self._resume_from) is not None:
            self._resume_from = None
            now = dt_util.utcnow()
            await self._async_raise_due(max(resume_from, now - CATCH_UP), now)
        await self._async_advance_visits(dt_util.utcnow())
        self._arm()

    @callback
    def _on_stop(self, _event: Event) -> None:
        self.async_stop()

    @callback
    def _sync_issues(self) -> None:
        for entry in self._entries():
            self._sync_issue(entry)

    @callback
    def _sync_issue(self, entry: ConfigEntry) -> None:
        issue_id = not_running_issue_id(entry.entry_id)
        if not self.not_running(entry):
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, issue_id)
        if issue is None or not issue.active:
            # Newly not running: a dispatch board following the home sees it at once.
            now = dt_util.utcnow()
            slot = next_slot(entry, local_time_zone(), now)
            async_publish_not_running(
                self.hass, entry, slot.start if slot else None, visit_required=False
            )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.CRITICAL,
            translation_key="not_running",
            translation_placeholders={"name": _name(entry)},
        )

    @callback
    def _schedule_rearm(self) -> None:
        # Many entries change at once while Home Assistant starts: arm once for all of them.
        if not self._rearm_pending:
            self._rearm_pending = True
            self.hass.loop.call_soon(self._rearm_now)

    @callback
    def _rearm_now(self) -> None:
        self._rearm_pending = False
        if self._unsubs:
            self._arm()

    # --- the visits it raised -------------------------------------------------------------

    def _data(self) -> dict[str, Any]:
        return {
            "since": self._since.isoformat(),
            "visits": {entry_id: book.to_dict() for entry_id, book in self._books.items()},
        }

    @callback
    def _save(self) -> None:
        self._store.async_delay_save(self._data, 1)

    def open_visits(self, entry_id: str) -> list[Visit]:
        """The open visits the watchdog raised for a home, oldest first."""
        book = self._books.get(entry_id)
        return book.open if book is not None else []

    def entry_of_visit(self, visit_id: str) -> str | None:
        """The entry id of the home whose open visit this is, if the watchdog raised it."""
        for entry_id, book in self._books.items():
            if book.get(visit_id) is not None:
                return entry_id
        return None

    async def async_acknowledge(
        self, entry: ConfigEntry, user_id: str | None, note: str | None, visit_ids: list[str]
    ) -> None:
        """Staff are on their way to these visits of a home that is not running."""
        if (book := self._books.get(entry.entry_id)) is None:
            return
        events = book.acknowledge(dt_util.utcnow(), user_id, visit_ids, note)
        await self._store.async_save(self._data())
        await self._async_announce(entry, events)
        self._arm()

    async def async_done(
        self, entry: ConfigEntry, user_id: str | None, note: str | None, visit_ids: list[str]
    ) -> None:
        """These visits of a home that is not running were made."""
        if (book := self._books.get(entry.entry_id)) is None:
            return
        now = dt_util.utcnow()
        had = bool(book.open)
        finished = book.done(now, user_id, visit_ids, note)
        self._keep_recent(entry.entry_id, book, now)
        await self._store.async_save(self._data())
        await self._async_audit(
            entry,
            "visit_done",
            now,
            user_id,
            {
                "note": note,
                "visits": [
                    {"visit_id": visit.visit_id, "slot": visit.slot, "reason": str(visit.reason)}
                    for visit in finished
                ],
            },
        )
        if had and not book.open:
            self.hass.bus.async_fire(EVENT_VISIT_CLEARED, self._base(entry))
        self._arm()

    async def _async_advance_visits(self, now: datetime) -> None:
        """Escalations and deadlines of the watchdog's visits that are due."""
        changed = False
        for entry in self._entries():
            if (book := self._books.get(entry.entry_id)) is None:
                continue
            events = book.advance(_policy(entry), now)
            had = bool(book.open)
            kept = len(book.closed)
            book.expire(now)
            self._keep_recent(entry.entry_id, book, now)
            if events or had != bool(book.open) or kept != len(book.closed):
                changed = True
            await self._async_announce(entry, events)
            if had and not book.open:
                self.hass.bus.async_fire(EVENT_VISIT_CLEARED, self._base(entry))
        if changed:
            await self._store.async_save(self._data())

    def _keep_recent(self, entry_id: str, book: VisitBook, now: datetime) -> None:
        """Keep the closed visits of last night and tonight (for the morning summary).

        A book with nothing open and nothing kept leaves the store.
        """
        tz = local_time_zone()
        first = night_of(now, tz) - timedelta(days=1)
        book.keep_closed(
            {
                visit.slot
                for visit in book.closed
                if visit.slot is not None and _night_of_slot(visit.slot, tz) >= first
            }
        )
        if not book.open and not book.closed:
            del self._books[entry_id]

    def summary(self, night: date) -> list[dict[str, Any]]:
        """The homes not running now, each with the watchdog's visits of `night` and any open.

        For the morning summary: such a home has no entities (nor a night report) to read.
        Visits are listed as the night report lists them, with their slot, in the order raised.
        """
        tz = local_time_zone()
        homes: list[dict[str, Any]] = []
        for entry in self._entries():
            if not self.not_running(entry):
                continue
            book = self._books.get(entry.entry_id)
            visits = (
                []
                if book is None
                else sorted(
                    (
                        visit
                        for visit in book.closed + book.open
                        if not visit.done
                        or (visit.slot is not None and _night_of_slot(visit.slot, tz) == night)
                    ),
                    key=lambda visit: visit.raised_at,
                )
            )
            homes.append(
                self._base(entry)
                | {
                    # Why: disabled, or the entry's state (`setup_error`, `setup_retry`, ...).
                    "state": "disabled" if entry.disabled_by is not None else entry.state.value,
                    "visits": [{"slot": visit.slot} | visit_summary(visit, tz) for visit in visits],
                }
            )
        return sorted(homes, key=lambda home: str(home["name"]))

    def _base(self, entry: ConfigEntry) -> dict[str, Any]:
        device = dr.async_get(self.hass).async_get_device_by_identifier(
            (DOMAIN, entry.entry_id), entry.entry_id
        )
        return {
            "entry_id": entry.entry_id,
            "device_id": device.id if device is not None else None,
            "name": _name(entry),
        }

    async def _async_announce(self, entry: ConfigEntry, events: list[CoreEvent]) -> None:
        for event in events:
            if event.type in VISIT_LIFE_EVENTS:
                self.hass.bus.async_fire(
                    VISIT_LIFE_EVENTS[event.type], self._base(entry) | visit_life_data(event)
                )
            data = {key: value for key, value in event.data.items() if key != "user_id"}
            await self._async_audit(
                entry, str(event.type), event.at, event.data.get("user_id"), data
            )

    async def _async_audit(
        self,
        entry: ConfigEntry,
        kind: str,
        at: datetime,
        user_id: str | None,
        data: dict[str, Any],
    ) -> None:
        if (trail := async_get_trail(self.hass)) is not None:
            await trail.async_append(
                kind,
                at=at,
                entry_id=entry.entry_id,
                home=_name(entry),
                user_id=user_id,
                data=data | {"not_running": True},
            )

    # --- the timer ---------------------------------------------------------------------------

    def _due(self, entries: Iterable[ConfigEntry], after: datetime) -> datetime | None:
        tz = local_time_zone()
        starts = [
            slot.start
            for entry in entries
            if self.not_running(entry) and (slot := next_slot(entry, tz, after)) is not None
        ]
        for entry in entries:
            book = self._books.get(entry.entry_id)
            if book is not None and (due := book.next_due(_policy(entry))) is not None:
                starts.append(max(due, after))
        return min(starts, default=None)

    @callback
    def _arm(self) -> None:
        if self._unsub_timer is not None:
            self._unsub_timer()
            self._unsub_timer = None
        self._since = dt_util.utcnow()
        self._store.async_delay_save(self._data, 1)
        entries = self._entries()
        self._armed_with = {entry.entry_id: self._signature(entry) for entry in entries}
        wake = self._due(entries, self._since)
        if wake is not None:
            self._unsub_timer = async_track_point_in_utc_time(self.hass, self._job, wake)

    async def _on_time(self, _now: datetime) -> None:
        self._unsub_timer = None
        # Every slot that started since the timer was armed (it may fire late); each once,
        # since the next arming looks only after now.
        now = dt_util.utcnow()
        await self._async_raise_due(self._since, now)
        await self._async_advance_visits(now)
        self._arm()

    async def _async_raise_due(self, since: datetime, now: datetime) -> None:
        """Raise each slot of a home not running that began after `since`, up to `now`."""
        tz = local_time_zone()
        for entry in self._entries():
            if not self.not_running(entry):
                continue
            after = since
            while (slot := next_slot(entry, tz, after)) is not None and slot.start <= now:
                after = slot.start
                await self._async_raise(entry, slot)

    async def _async_raise(self, entry: ConfigEntry, slot: Slot) -> None:
        name = _name(entry)
        device = dr.async_get(self.hass).async_get_device_by_identifier(
            (DOMAIN, entry.entry_id), entry.entry_id
        )
        _LOGGER.warning("%s is not running: a physical visit replaces the %s check", name, slot.key)
        self._sync_issue(entry)
        following = next_slot(entry, local_time_zone(), slot.start)
        book = self._books.setdefault(entry.entry_id, VisitBook())
        visit = book.raise_visit(dt_util.utcnow(), slot.key, Reason.FAULT, slot_end=slot.end)
        await self._store.async_save(self._data())
        async_publish_not_running(
            self.hass,
            entry,
            following.start if following else None,
            visit_required=True,
            open_visits=book.open,
        )
        self.hass.bus.async_fire(
            EVENT_VISIT_REQUIRED,
            {
                "entry_id": entry.entry_id,
                "device_id": device.id if device is not None else None,
                "name": name,
                "reason": str(Reason.FAULT),
                "urgent": False,
                "slot": slot.key,
                "visit_id": visit.visit_id,
            },
        )
        if (trail := async_get_trail(self.hass)) is not None:
            await trail.async_append(
                "not_running",
                at=dt_util.utcnow(),
                entry_id=entry.entry_id,
                home=name,
                user_id=None,
                data={
                    "slot": slot.key,
                    "visit_id": visit.visit_id,
                    "reason": str(Reason.FAULT),
                    "state": str(entry.state),
                    "disabled_by": None if entry.disabled_by is None else str(entry.disabled_by),
                },
            )


def _night_of_slot(slot: str, tz: ZoneInfo) -> date:
    """The night of a slot key (its start, ISO 8601 with offset)."""
    return night_of(datetime.fromisoformat(slot), tz)


def _name(entry: ConfigEntry) -> str:
    return str(entry.data.get(CONF_NAME, entry.title))


def _policy(entry: ConfigEntry) -> VisitPolicy:
    if not entry.options.get(CONF_TIMES):
        return VisitPolicy()
    return VisitPolicy.of(home_config(dict(entry.options)))


async def async_setup_watchdog(hass: HomeAssistant) -> Watchdog:
    """Set up the one watchdog of the integration."""
    watchdog = Watchdog(hass)
    hass.data[WATCHDOG] = watchdog
    await watchdog.async_load()
    await watchdog.async_start()
    return watchdog
