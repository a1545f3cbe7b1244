"""The camera gate: one live look, decoded in its own thread, handed out only to its operator.

A `LiveSession` starts decoding the moment the core grants a look (so the first keyframe is
already on its way when the browser asks), keeps only the newest JPEG in memory, and ends at
`view_until`, when the core withdraws the right to look (consent, fault), when the client goes
away, or when Home Assistant stops. Nothing it handles ever touches the disk.

A look holds only while every one of its conditions holds: the core allows it (slot, consent, no
fault, commissioning period), its user is still an operator of the home, active, and logged in
with the login that started it, and the home's privacy switch and view are the ones it started
with. The gate checks all of them (`condition_refusal`) after the look is set up and before its
stream path leaves, when the viewer attaches, before every frame is sent, and on every fact (the
core's, an options change, a login revoked or a user deactivated). A look that loses one ends
with that reason, and privacy mode goes back on.

Privacy mode is off only while something needs the picture: a look, or a camera probe (the test
before each slot, the installer's *Test camera*, commissioning). A probe turns it off only for
its one decoded frame (`async_privacy_for_probe`), and back on whatever happens to the probe.
Whichever of the two ends last turns it back on: a look that ends while a probe decodes leaves
it off for the probe, and a probe that ends during a look leaves it off for the look. Stopping
Home Assistant or unloading the home turns it on regardless. Privacy mode that does not come back
on is the home's `privacy` fault.

Every decoded frame passes through the home's view (`view_filter`: full, bed area or silhouette)
in the decoder thread before it is encoded, so only the filtered picture ever becomes a JPEG. A
view that fails ends the look (`filter_error`); it never falls back to the full picture.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

import av
from homeassistant.auth.models import User
from homeassistant.const import SERVICE_TURN_OFF, SERVICE_TURN_ON
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import (
    EventStateChangedData,
    async_track_point_in_utc_time,
    async_track_state_change_event,
)
from homeassistant.util.hass_dict import HassKey

from . import media, onvif_keyframe, view_filter
from .authz import Action, async_roles, may, user_roles
from .const import (
    CONF_PASSWORD,
    CONF_PRIVACY_ENTITY,
    CONF_STREAM_URL,
    CONF_USERNAME,
    CONF_VIEW_MODE,
    CONF_VIEW_REGION,
    DOMAIN,
)
from .supervision import Outcome, Purpose

if TYPE_CHECKING:
    from .runtime import HomeRuntime

# Every live look of this Home Assistant, by session id: what the MJPEG view may serve.
LIVE_SESSIONS: HassKey[dict[str, LiveSession]] = HassKey(f"{DOMAIN}_live_sessions")

_LOGGER = logging.getLogger(__name__)

# The largest picture sent to a browser (the contract: at most 1280 px wide).
MAX_WIDTH = 1280
JPEG_QUALITY = 75
# How long the decoder may wait for the camera before the look counts as failed.
OPEN_TIMEOUT_S = 10.0
# How long a privacy switch may take to report that it changed before it counts as failed.
PRIVACY_CONFIRM_S = 5.0


class LiveSession:
    """The frames of one granted look, from one camera to one operator."""

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        session_id: str,
        entry_id: str,
        user_id: str,
        refresh_token_id: str | None,
        view_until: datetime,
        stream_url: str,
        username: str | None,
        password: str | None,
        view_mode: str = view_filter.VIEW_FULL,
        view_region: Sequence[float] | None = None,
        on_finished: Callable[[LiveSession], None] | None = None,
        purpose: Purpose = Purpose.SUPERVISION,
        privacy_entity: str | None = None,
        user: User | None = None,
        on_open: Callable[[], None] | None = None,
    ) -> None:
        """Prepare; decoding starts with `start`; `on_finished` hears when decoding stopped.

        `on_open` is called from the decoder thread once the camera's stream plays.
        """
        self.hass = hass
        self.session_id = session_id
        self.entry_id = entry_id
        self.user_id = user_id
        # The user as Home Assistant keeps them (deactivating them changes this very object).
        self.user = user
        self.refresh_token_id = refresh_token_id
        self.view_until = view_until
        self.purpose = purpose
        # The privacy switch turned off for this look (the home's option when it started).
        self.privacy_entity = privacy_entity
        self.end_reason: str | None = None
        self.viewer_attached = False
        # Frames handed to the viewer's connection (for the audit log, and the tests' client).
        self.frames_sent = 0
        self.started_monotonic = time.monotonic()
        self.first_frame_ms: int | None = None
        self._source = (stream_url, username, password)
        # What the look shows: the mode it started with (for the audit log), the mode shown now,
        # and a new view for the decoder thread to take up at its next frame.
        self.view_mode_started = view_mode
        self.view_mode = view_mode
        self.view_region: list[float] | None = _region(view_region)
        self._view_spec: tuple[str, Sequence[float] | None] = (view_mode, view_region)
        self._next_view: tuple[str, Sequence[float] | None] | None = None
        self._on_finished = on_finished
        self._on_open = on_open
        self._stop = threading.Event()
        self._frame: bytes | None = None
        self._frame_seq = 0
        self._changed = asyncio.Event()
        self._thread: threading.Thread | None = None
        self._thread_done = asyncio.Event()

    @property
    def ended(self) -> bool:
        """True once the look may no longer show anything."""
        return self.end_reason is not None

    def start(self) -> None:
        """Start decoding now, in a thread of its own (never on the event loop)."""
        self._thread = threading.Thread(
            target=self._decode, name=f"trygghetskamera-look-{self.session_id[:8]}", daemon=True
        )
        self._thread.start()

    @callback
    def end(self, reason: str) -> None:
        """Stop showing frames at once; the camera is released by the decoder thread."""
        if self.end_reason is None:
            self.end_reason = reason
        self._stop.set()
        self._frame = None
        self._changed.set()

    async def async_close(self, reason: str) -> None:
        """End the look and wait until the camera connection is closed."""
        self.end(reason)
        if self._thread is not None:
            await self._thread_done.wait()
            await self.hass.async_add_executor_job(self._thread.join)

    @callback
    def set_view(self, mode: str, region: Sequence[float] | None) -> None:
        """Show the look in another view from the next frame on (the installer's bed area)."""
        self._next_view = (mode, region)
        self.view_mode = mode
        self.view_region = _region(region)

    @property
    def view(self) -> tuple[str, list[float] | None]:
        """The view the look shows (from its next frame on, just after a change)."""
        return self.view_mode, self.view_region

    async def next_frame(self, after: int) -> tuple[int, bytes] | None:
        """Wait for a frame newer than `after`; None once the look has ended."""
        while True:
            if self.end_reason is not None:
                return None
            if self._frame is not None and self._frame_seq > after:
                return self._frame_seq, self._frame
            self._changed.clear()
            await self._changed.wait()

    # --- the decoder thread -----------------------------------------------------------------

    def _decode(self) -> None:
        url, username, password = self._source
        reason = "stream_ended"
        try:
            view = _make_view(*self._view_spec)
            for frame in media.iter_frames(
                url,
                username,
                password,
                max_width=MAX_WIDTH,
                timeout_s=OPEN_TIMEOUT_S,
                stop=self._stop,
                on_open=self._on_open,
            ):
                if (spec := self._next_view) is not None:
                    self._next_view = None
                    view = _make_view(*spec)
                # Only what the view returns is encoded; the decoded frame goes out of scope.
                jpeg = media.encode_jpeg(_filtered(view, frame), JPEG_QUALITY)
                if self._stop.is_set():
                    break
                self._call_in_loop(self._publish, jpeg)
        except _ViewFailed:
            # Fail closed: no picture rather than more of it than the home agreed to.
            reason = "filter_error"
            _LOGGER.exception("The view of live look %s failed", self.session_id[:8])
        except media.StreamError as err:
            reason = f"camera_{err.reason}"
            _LOGGER.warning("Live look %s lost the camera: %s", self.session_id[:8], err.reason)
        except Exception:
            # Fail closed: whatever broke, the look ends and nothing is shown.
            reason = "camera_error"
            _LOGGER.exception("Live look %s failed", self.session_id[:8])
        finally:
            self._call_in_loop(self._decoder_finished, reason)

    def _call_in_loop(self, func: Callable[..., None], *args: object) -> None:
        try:
            self.hass.loop.call_soon_threadsafe(func, *args)
        except RuntimeError:
            # The loop is closed: Home Assistant is gone, and so is every viewer.
            self._stop.set()

    @callback
    def _publish(self, jpeg: bytes) -> None:
        if self.end_reason is not None:
            return
        if self.first_frame_ms is None:
            self.first_frame_ms = round((time.monotonic() - self.started_monotonic) * 1000)
        self._frame = jpeg
        self._frame_seq += 1
        self._changed.set()

    @callback
    def _decoder_finished(self, reason: str) -> None:
        self.end(reason)
        self._thread_done.set()
        if self._on_finished is not None:
            # Also when no browser is attached (yet) to notice: the look is over now.
            self._on_finished(self)


class _ViewFailed(Exception):
    """The view could not be made or applied: the look ends."""


def _region(region: Sequence[float] | None) -> list[float] | None:
    return None if region is None else [float(edge) for edge in region]


def _make_view(mode: str, region: Sequence[float] | None) -> view_filter.View:
    try:
        return view_filter.make_view(mode, region)
    except Exception as err:
        raise _ViewFailed from err


def _filtered(view: view_filter.View, frame: av.VideoFrame) -> av.VideoFrame:
    try:
        return view.apply(frame)
    except Exception as err:
        raise _ViewFailed from err


def home_view(options: Any, purpose: Purpose) -> tuple[str, list[float] | None]:
    """The view a look of this purpose shows, from the home's options.

    A commissioning look shows the whole picture only while no bed area is set: it is where the
    installer checks the camera's placement and marks the bed, together with the staff. Once a
    bed area is set, it shows what staff will see (the home's view), like any other look.
    """
    region = _region(options.get(CONF_VIEW_REGION))
    if purpose is Purpose.COMMISSIONING and region is None:
        return view_filter.VIEW_FULL, None
    return str(options.get(CONF_VIEW_MODE) or view_filter.DEFAULT_VIEW_MODE), region


# Why a look may end before its stream path is handed out, beyond the core's refusals; the
# operator API has a message for each.
REFUSAL_CODES = frozenset(
    {
        "not_operator",
        "outside_slot",
        "no_consent",
        "decision_ended",
        "skipped",
        "fault",
        "busy",
        "commissioning_closed",
        "logged_out",
        "user_inactive",
        "privacy_entity_changed",
        "view_changed",
    }
)


@dataclass(slots=True)
class ProbePrivacy:
    """What one camera probe did with the home's privacy mode (for its audit record)."""

    # The home's privacy switch, None without one (then nothing below applies).
    entity_id: str | None = None
    # The probe turned privacy mode off (and the switch said so): False when it could not,
    # when a running look held it off already, or without the resident's consent.
    lifted: bool = False
    # Privacy mode was on again after the probe (None: left off for a running look).
    restored: bool | None = None

    def audit_data(self) -> dict[str, Any]:
        """The fields of the `camera_probe` record; none for a home without a privacy switch."""
        if self.entity_id is None:
            return {}
        return {"privacy_lifted": self.lifted, "privacy_restored": self.restored}


class GateRefusal(Exception):
    """A look or an outcome refused, with the contract's error code."""

    def __init__(self, code: str) -> None:
        """Carry the error code (`not_operator`, `outside_slot`, `busy`, ...)."""
        super().__init__(code)
        self.code = code


class Gate:
    """The only way to one home's camera: grants looks the core allows to the home's operators."""

    def __init__(self, hass: HomeAssistant, runtime: HomeRuntime) -> None:
        """Bind the gate to its home."""
        self.hass = hass
        self.runtime = runtime
        self.live: LiveSession | None = None
        self._unsub_deadline: CALLBACK_TYPE | None = None
        self._unsub_revoked: CALLBACK_TYPE | None = None
        # The privacy switch this gate turned off and has not turned back on yet: restored even
        # when the home's option has meanwhile been changed to another switch.
        self._privacy_off: str | None = None
        # A camera probe holds privacy mode off now: a look ending meanwhile leaves it off.
        self._probe_holds_privacy = False
        # Where the camera speaks ONVIF, each stream asks it for a keyframe once it plays.
        self.keyframes = onvif_keyframe.requester_for(runtime.entry.data)

    def on_stream_open(self) -> Callable[[], None] | None:
        """What a stream of this camera calls (from its thread) once it plays, if anything."""
        keyframes = self.keyframes
        if keyframes is None:
            return None
        hass, entry = self.hass, self.runtime.entry

        def ask() -> None:
            entry.async_create_background_task(hass, keyframes.async_request(), "keyframe request")

        def from_thread() -> None:
            hass.loop.call_soon_threadsafe(ask)

        return from_thread

    def may_start(self, user_id: str) -> bool:
        """Would a look by this user be granted now (for the operator list)."""
        return (
            user_id in self.runtime.operators
            and self.live is None
            and self.runtime.supervisor.may_view(self.runtime.now()) is None
        )

    async def async_start(
        self, user_id: str, refresh_token_id: str | None, purpose: Purpose
    ) -> LiveSession:
        """Grant a look, or raise `GateRefusal`; every refusal is logged."""
        runtime = self.runtime
        if not may(await async_roles(self.hass, runtime.entry, user_id), Action.LOOK):
            await self._refuse(user_id, "not_operator", purpose)
        if self.live is not None:
            await self._refuse(user_id, "busy", purpose)
        session_id = secrets.token_urlsafe(18)
        refusal = await runtime.async_start_session(session_id, user_id, purpose)
        if refusal is not None:
            await self._refuse(user_id, str(refusal), purpose)
        session = runtime.supervisor.active_session
        assert session is not None
        data = runtime.entry.data
        view_mode, view_region = home_view(runtime.entry.options, purpose)
        privacy_entity = runtime.entry.options.get(CONF_PRIVACY_ENTITY) or None
        user = await self.hass.auth.async_get_user(user_id)
        live = LiveSession(
            self.hass,
            session_id=session_id,
            entry_id=runtime.entry.entry_id,
            user_id=user_id,
            refresh_token_id=refresh_token_id,
            view_until=session.view_until,
            stream_url=data[CONF_STREAM_URL],
            username=data.get(CONF_USERNAME),
            password=data.get(CONF_PASSWORD),
            view_mode=view_mode,
            view_region=view_region,
            on_finished=self._decoder_finished,
            on_open=self.on_stream_open(),
            purpose=purpose,
            privacy_entity=privacy_entity,
            user=user,
        )
        self.live = live
        self.hass.data.setdefault(LIVE_SESSIONS, {})[session_id] = live
        if refresh_token_id is not None:
            # A login revoked (logged out, the user deactivated or removed) ends its look.
            self._unsub_revoked = self.hass.auth.async_register_revoke_token_callback(
                refresh_token_id, self._login_revoked
            )
        self._unsub_deadline = async_track_point_in_utc_time(
            self.hass, self._deadline_passed, session.view_until
        )
        # Decoding starts now, while the browser is still asking for the stream.
        live.start()
        if self.keyframes is not None:
            # Found while the stream opens, so the keyframe can be asked for once it plays.
            self.runtime.entry.async_create_background_task(
                self.hass, self.keyframes.async_warm(), "ONVIF discovery"
            )
        if privacy_entity is not None:
            self._privacy_off = privacy_entity
            await self._async_switch_privacy(privacy_entity, on=False)
        # Every await since the core granted the look (its saved state, the audit log's fsync,
        # the privacy switch) gave a fact time to arrive while no look was held to enforce it
        # on: check everything again before the stream path leaves.
        if (reason := self.condition_refusal(live)) is not None:
            if self.live is live:
                await self._async_finish(reason)
            if reason in REFUSAL_CODES:
                raise GateRefusal(reason)
            # The camera or the view failed already: the stream itself says so (no frame).
        return live

    def condition_refusal(self, live: LiveSession) -> str | None:
        """Why this look may not show a frame now, or None while every condition holds.

        Cheap and synchronous: the stream asks before each frame it sends.
        """
        runtime = self.runtime
        if self.live is not live:
            return live.end_reason or "ended"
        if live.user is None or not live.user.is_active:
            return "user_inactive"
        if not may(user_roles(runtime.entry, live.user), Action.LOOK):
            return "not_operator"
        token = (
            self.hass.auth.async_get_refresh_token(live.refresh_token_id)
            if live.refresh_token_id is not None
            else None
        )
        if token is None or token.user.id != live.user_id:
            return "logged_out"
        options = runtime.entry.options
        if (options.get(CONF_PRIVACY_ENTITY) or None) != live.privacy_entity:
            return "privacy_entity_changed"
        if home_view(options, live.purpose) != live.view:
            return "view_changed"
        refusal = runtime.supervisor.may_view(runtime.now(), live.session_id)
        return None if refusal is None else str(refusal)

    async def async_outcome(
        self, session_id: str, user_id: str, outcome: Outcome, note: str | None
    ) -> None:
        """Record the operator's judgement; only the operator who looked may give it."""
        session = self.runtime.supervisor.active_session
        if session is None or session.session_id != session_id:
            raise GateRefusal("not_found")
        if session.user_id != user_id:
            raise GateRefusal("not_operator")
        if self.live is not None and self.live.session_id == session_id:
            await self._async_finish("outcome")
        await self.runtime.async_set_outcome(session_id, outcome, user_id, note)

    async def async_set_view_region(
        self, session_id: str, user_id: str, region: list[float]
    ) -> str:
        """Save the bed area the installer marked in a running commissioning look.

        Only the operator of that look may, while it runs. The region becomes the home's
        `view_region` option (applied without a reload, so the look goes on), the change is
        logged with who made it, and the look switches to what staff will see. Returns that view.
        """
        runtime = self.runtime
        live = self.live
        session = runtime.supervisor.active_session
        if live is None or live.session_id != session_id or session is None or live.ended:
            raise GateRefusal("not_found")
        if live.user_id != user_id or session.user_id != user_id:
            raise GateRefusal("not_operator")
        if session.purpose is not Purpose.COMMISSIONING:
            raise GateRefusal("not_commissioning")
        if (error := view_filter.validate_region(region)) is not None:
            raise GateRefusal(error)
        region = view_filter.normalise_region(region)
        entry = runtime.entry
        mode = str(entry.options.get(CONF_VIEW_MODE) or view_filter.DEFAULT_VIEW_MODE)
        runtime.audit(
            "view_region_set",
            user_id,
            session_id=session_id,
            region=region,
            previous=entry.options.get(CONF_VIEW_REGION),
            view_mode=mode,
        )
        # The look takes up its new view first: the options listener (which may run at once)
        # checks that the look shows what the home's options say.
        live.set_view(mode, region)
        # The options listener logs the change too (`options_changed`), with this user.
        runtime.options_changed_by = user_id
        self.hass.config_entries.async_update_entry(
            entry, options=dict(entry.options) | {CONF_VIEW_REGION: region}
        )
        await runtime.async_flush_audit()
        return mode

    @callback
    def _decoder_finished(self, live: LiveSession) -> None:
        if self.live is live:
            # The entry's task: unloading the home waits for the look to be closed and logged.
            self.runtime.entry.async_create_task(
                self.hass, self.async_viewer_gone(live), "viewer gone", eager_start=False
            )

    async def async_viewer_gone(self, live: LiveSession) -> None:
        """The browser's stream ended (time up, closed tab, network): the look is over."""
        if self.live is live:
            await self._async_finish(live.end_reason or "viewer_gone")

    async def async_enforce(self) -> None:
        """End a running look at once if any of its conditions no longer holds."""
        live = self.live
        if live is None:
            return
        if (reason := self.condition_refusal(live)) is not None:
            await self._async_finish(reason)

    @callback
    def _login_revoked(self) -> None:
        # Home Assistant forgets a revoked login's callbacks itself (it is calling them now).
        self._unsub_revoked = None
        self.runtime.entry.async_create_task(
            self.hass, self.async_enforce(), "login revoked", eager_start=True
        )

    async def async_shutdown(self) -> None:
        """Home Assistant stops or the home unloads: release the camera, restore privacy."""
        if self.live is not None:
            await self._async_finish("shutdown", tell_core=False)
        if self.keyframes is not None:
            await self.keyframes.async_close()
        # Also while a probe still holds it off: nothing may leave privacy mode off now.
        await self._async_restore_privacy(force=True)

    async def async_restore_privacy(self) -> None:
        """At start-up nobody looks: the camera belongs in privacy mode."""
        await self._async_restore_privacy()

    @asynccontextmanager
    async def async_privacy_for_probe(self) -> AsyncIterator[ProbePrivacy]:
        """Privacy mode off for one camera probe, and on again after it, whatever happens.

        With a privacy switch and no look running, the switch is turned off and the probe waits
        (bounded, on the switch's state changes) until it reports off; when the probe is done,
        failed, cancelled or timed out, the switch is turned on and must report on, else the
        home has a `privacy` fault. A running look holds privacy mode off already and turns it
        on at its end. Without the resident's consent privacy mode stays on: looking at the
        room, even by a machine that keeps nothing, is processing that needs the consent. The
        runtime's probe lock makes this the only probe of the home.
        """
        entity_id = self.runtime.entry.options.get(CONF_PRIVACY_ENTITY) or None
        privacy = ProbePrivacy(entity_id)
        if entity_id is None:
            yield privacy
            return
        self._probe_holds_privacy = True
        try:
            if self.live is None and self.runtime.supervisor.consent:
                # Known before the switch is asked: whatever happens next restores this one.
                self._privacy_off = entity_id
                privacy.lifted = await self._async_switch_privacy(entity_id, on=False)
            yield privacy
        finally:
            self._probe_holds_privacy = False
            if self.live is None:
                privacy.restored = await self._async_restore_privacy()

    async def _deadline_passed(self, _now: datetime) -> None:
        self._unsub_deadline = None
        if self.live is not None:
            await self._async_finish("view_seconds")

    async def _async_finish(self, reason: str, *, tell_core: bool = True) -> None:
        live = self.live
        if live is None:
            return
        self.live = None
        # No frame from here on, whatever the rest of the clean-up awaits.
        live.end(reason)
        if self._unsub_deadline is not None:
            self._unsub_deadline()
            self._unsub_deadline = None
        if self._unsub_revoked is not None:
            self._unsub_revoked()
            self._unsub_revoked = None
        self.hass.data.get(LIVE_SESSIONS, {}).pop(live.session_id, None)
        await live.async_close(reason)
        # A probe decoding now keeps privacy mode off until its frame is in, then restores it.
        await self._async_restore_privacy()
        self.runtime.audit(
            "stream_ended",
            live.user_id,
            session_id=live.session_id,
            reason=live.end_reason,
            seconds=round(time.monotonic() - live.started_monotonic, 1),
            frames=live.frames_sent,
            latency_ms=live.first_frame_ms,
            # What the bed sensor said as the look ended; it never replaces the operator's eyes.
            bed_occupied=self.runtime.health.bed_occupied(),
            view_mode=live.view_mode_started,
            **(
                {"view_mode_after": live.view_mode}
                if live.view_mode != live.view_mode_started
                else {}
            ),
        )
        if tell_core:
            await self.runtime.async_end_session(live.session_id)
        if (reason := live.end_reason or "").startswith("camera_"):
            # The camera went away mid-look: a probe tells a blip from a fault.
            # A background task of the entry: unloading the home cancels the probe.
            self.runtime.entry.async_create_background_task(
                self.hass, self.runtime.health.async_stream_lost(reason), "stream lost"
            )

    async def _refuse(self, user_id: str, code: str, purpose: Purpose) -> None:
        self.runtime.audit("session_denied", user_id, reason=code, purpose=str(purpose))
        await self.runtime.async_flush_audit()
        raise GateRefusal(code)

    async def _async_restore_privacy(self, *, force: bool = False) -> bool:
        """Privacy mode on: the home's switch, and the one a look turned off if it was another.

        Failing to restore it is an equipment fault (`privacy`). While a look or a probe still
        holds privacy mode off, that one restores it at its end (unless `force`: Home Assistant
        stops or the home unloads). Returns whether privacy mode is on (or in other hands).
        """
        if not force and (self.live is not None or self._probe_holds_privacy):
            return True
        current = self.runtime.entry.options.get(CONF_PRIVACY_ENTITY) or None
        entities = list(dict.fromkeys(e for e in (self._privacy_off, current) if e is not None))
        self._privacy_off = None
        ok = True
        for entity_id in entities:
            ok = await self._async_switch_privacy(entity_id, on=True) and ok
        await self.runtime.async_set_privacy_fault(not ok)
        return ok

    async def _async_switch_privacy(self, entity_id: str, *, on: bool) -> bool:
        """Switch one privacy switch and wait (bounded) until it says so."""
        try:
            await self.hass.services.async_call(
                "switch",
                SERVICE_TURN_ON if on else SERVICE_TURN_OFF,
                {"entity_id": entity_id},
                blocking=True,
            )
            return await self._async_reaches(entity_id, "on" if on else "off")
        except HomeAssistantError as err:
            _LOGGER.warning("Could not switch privacy mode of %s: %s", self.runtime.name, err)
            return False

    async def _async_reaches(self, entity_id: str, state: str) -> bool:
        """Wait (bounded) until the switch reports `state`: some report it a moment later."""
        if self.hass.states.is_state(entity_id, state):
            return True
        reached = asyncio.Event()

        @callback
        def changed(event: Event[EventStateChangedData]) -> None:
            if (new := event.data["new_state"]) is not None and new.state == state:
                reached.set()

        unsub = async_track_state_change_event(self.hass, entity_id, changed)
        try:
            async with asyncio.timeout(PRIVACY_CONFIRM_S):
                await reached.wait()
        except TimeoutError:
            return self.hass.states.is_state(entity_id, state)
        finally:
            unsub()
        return True


def signed_stream_path(hass: HomeAssistant, live: LiveSession, now: datetime) -> str:
    """The stream's path, signed for the session's user and valid until the look ends."""
    from homeassistant.components.http.auth import async_sign_path

    seconds = max(1.0, (live.view_until - now).total_seconds()) + 5
    return async_sign_path(
        hass,
        f"/api/{DOMAIN}/session/{live.session_id}/mjpeg",
        timedelta(seconds=seconds),
        refresh_token_id=live.refresh_token_id,
    )
