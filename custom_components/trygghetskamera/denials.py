"""Refusals in the audit log without a flood of them flooding it: one record a minute at most.

Every refused request is logged (`action_denied` by authz, `stream_denied` by the stream view),
and all the same way, per key (who asked what of which home):
- a refusal with no window open is written at once (`count` 1) and opens a window of a minute;
- refusals inside it are only counted; when it closes with any, one record holds their count
  and a new window opens, so a steady flood writes one record a minute; a quiet minute closes
  the window, and the next refusal is written at once again;
- when Home Assistant stops, the counts still open are written.

What a record says is the caller's: a `DenialLog` is given the function that writes one.
"""

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import functools
from typing import Final

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HassJob, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

DENIAL_WINDOW: Final = timedelta(minutes=1)


@dataclass(slots=True)
class Denials:
    """What one record is of: the single refusal that opened a window, or a window's repeats."""

    count: int = 0
    # Refusals by reason, for callers that give one.
    reasons: dict[str, int] = field(default_factory=dict)
    # The first and last repeat of a merged record; None on a record written at once.
    first: datetime | None = None
    last: datetime | None = None

    @property
    def merged(self) -> bool:
        """Whether this is a window's repeats rather than the refusal written at once."""
        return self.first is not None

    @property
    def reason(self) -> str | None:
        """The most frequent reason (the earliest of equals); None if none was given."""
        return max(self.reasons, key=self.reasons.__getitem__) if self.reasons else None

    def add(self, at: datetime, reason: str | None) -> None:
        """Count one more refusal."""
        self.count += 1
        if reason is not None:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1
        self.first = self.first or at
        self.last = at


# Writes one record: (what the window is about, its refusals, when, whether HA is stopping).
type DenialWriter[S] = Callable[[S, Denials, datetime, bool], Awaitable[None]]


@dataclass(slots=True)
class _Window[S]:
    """Repeats under one key since its last record, merged into the next."""

    subject: S
    denials: Denials = field(default_factory=Denials)
    unsub: CALLBACK_TYPE | None = None


class DenialLog[K: Hashable, S]:
    """Writes refusals through `write`: the first of a key at once, its repeats once a minute."""

    def __init__(self, hass: HomeAssistant, name: str, write: DenialWriter[S]) -> None:
        """Start with no window open; count until Home Assistant stops."""
        self.hass = hass
        self._name = name
        self._write = write
        self._windows: dict[K, _Window[S]] = {}
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._async_stop)

    async def async_denied(self, key: K, subject: S, reason: str | None = None) -> None:
        """One refusal: counted into its key's open window, or written at once.

        `subject` is what the records of a newly opened window are about (kept for its
        repeats); it returns once a record written at once is written.
        """
        now = dt_util.utcnow()
        if (window := self._windows.get(key)) is not None:
            window.denials.add(now, reason)
            return
        window = _Window(subject)
        self._open(key, window)
        once = Denials(count=1, reasons={reason: 1} if reason is not None else {})
        await self._write(subject, once, now, False)

    @callback
    def _open(self, key: K, window: _Window[S]) -> None:
        self._windows[key] = window
        window.unsub = async_call_later(
            self.hass,
            DENIAL_WINDOW,
            HassJob(
                functools.partial(self._async_window_over, key),
                self._name,
                cancel_on_shutdown=True,
            ),
        )

    async def _async_window_over(self, key: K, _now: datetime) -> None:
        window = self._windows.pop(key, None)
        if window is None or window.denials.count == 0:
            return
        # Still coming: the next record a minute after this one at the earliest.
        self._open(key, _Window(window.subject))
        await self._write(window.subject, window.denials, dt_util.utcnow(), False)

    async def _async_stop(self, _event: Event) -> None:
        windows = list(self._windows.values())
        self._windows.clear()
        for window in windows:
            if window.unsub is not None:
                window.unsub()
            if window.denials.count:
                await self._write(window.subject, window.denials, dt_util.utcnow(), True)
