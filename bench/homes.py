"""Many homes in one Home Assistant: setup time, peak memory and CPU per home through a night.

    .venv/bin/python bench/homes.py [--homes 10 100 1000] [--dir /path/on/the/disk/to/measure]

For each N, a fresh process sets up a real Home Assistant (pytest-homeassistant-custom-component's
`async_test_home_assistant`, time zone Europe/Stockholm, state and audit log written to a
temporary config directory), adds N homes with three agreed times each, and runs one night from
20:00 to 08:00 on a simulated clock: Home Assistant's own timers fire when the clock reaches
them, and night staff look at each slot with a mix of outcomes (mostly ok; some not visible with
a follow-up, some not visible twice, some looks without an outcome, some slots missed), and
acknowledge the visits that follow. Every home's camera really streams: one GStreamer RTSP
camera (160x120, 5 fps, a keyframe every second) that each home reaches at its own URL
(`/cam?home=N`), probed before each slot as a real camera is. Printed per N: setup time, peak
RSS, and CPU time of the night per home (all threads: event loop, executor writes of the Store,
audit writer, probes).

The bench checks itself and exits non-zero when the night it simulated is not the night it
planned: a look refused, a planned outcome missing from the audit log, a home ending the night
in `fault`, or a night report missing. `--broken-camera` points every home at a port where no
camera answers: that run must fail (the smoke test checks it does).
"""

import argparse
import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
# The harness ships its own `custom_components` package: ours must be found first.
sys.path.insert(0, str(ROOT))

import custom_components.trygghetskamera  # noqa: E402, F401, I001
from custom_components.trygghetskamera.audit_trail import AUDIT_TRAIL  # noqa: E402
from custom_components.trygghetskamera.const import (  # noqa: E402
    CONF_NAME,
    CONF_STREAM_URL,
    DOMAIN,
    EVENT_NIGHT_REPORT,
    EVENT_VISIT_REQUIRED,
)
from custom_components.trygghetskamera.supervision import Outcome  # noqa: E402
from homeassistant import loader  # noqa: E402
from homeassistant.config_entries import ConfigEntryState  # noqa: E402
from homeassistant.core import Event, HomeAssistant  # noqa: E402
from homeassistant.helpers import (  # noqa: E402
    entity_registry as er,
    event as ha_event,
    frame,
)
from homeassistant.setup import async_setup_component  # noqa: E402
from homeassistant.util import dt as dt_util  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_test_home_assistant,
)
from tests.media_sources import RtspServer, free_port  # noqa: E402

TZ = ZoneInfo("Europe/Stockholm")
NIGHT_START = datetime(2026, 1, 15, 20, 0, tzinfo=TZ)
NIGHT_END = datetime(2026, 1, 16, 8, 0, tzinfo=TZ)
STEP = timedelta(minutes=1)
LOOK = timedelta(seconds=20)
BASE_TIMES = ((22, 0), (1, 0), (4, 0))
DEFAULT_HOMES = (10, 100, 1000)


class SimulatedClock:
    """Home Assistant's wall clock, moved by the bench; HA's point-in-time timers follow it."""

    def __init__(self, start: datetime) -> None:
        self.now = start.astimezone(UTC)

    def install(self) -> None:
        """Make `dt_util.utcnow` and the event helpers' clock read the simulated time."""
        dt_util.utcnow = self.utcnow
        ha_event.time_tracker_utcnow = self.utcnow
        ha_event.time_tracker_timestamp = self.timestamp

    def utcnow(self) -> datetime:
        return self.now

    def timestamp(self) -> float:
        return self.now.timestamp()

    def due_timers(self, hass: HomeAssistant) -> list[asyncio.TimerHandle]:
        """The point-in-time timers whose moment the simulated clock has reached."""
        now = self.timestamp()
        return [
            handle
            for handle in list(hass.loop._scheduled)
            if not handle.cancelled()
            and (due := getattr(handle._callback, "expected_fire_timestamp", None)) is not None
            and due <= now
        ]

    async def move_to(self, hass: HomeAssistant, moment: datetime) -> None:
        """Set the clock and run every timer due by then (and those they arm for now)."""
        self.now = moment.astimezone(UTC)
        while due := self.due_timers(hass):
            for handle in due:
                handle._run()
                handle.cancel()
            await hass.async_block_till_done()


def agreed_times(index: int) -> list[str]:
    """Three agreed times per home, spread over an hour so that not every home looks at once."""
    offset = (index % 12) * 5
    return [f"{hour:02d}:{minute + offset:02d}" for hour, minute in BASE_TIMES]


def slot_start(clock: str) -> datetime:
    """The local start of an agreed time on the simulated night."""
    hour, minute = (int(part) for part in clock.split(":"))
    day = NIGHT_START.date() if hour >= 12 else NIGHT_START.date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


type Action = Callable[[], Awaitable[Any]]


class Night:
    """What night staff do, minute by minute: each minute has looks begun and outcomes given."""

    def __init__(self) -> None:
        self.begin: dict[datetime, list[Action]] = defaultdict(list)
        self.finish: dict[datetime, list[Action]] = defaultdict(list)
        self.looks = 0
        # What the audit log must hold at the end: each look's session and its outcome.
        self.outcomes: dict[str, str] = {}

    def plan_home(self, entry: MockConfigEntry, index: int, user: str) -> None:
        """Plan one home's night: the kind of each slot depends on the home and the slot."""
        for number, clock in enumerate(entry.options["times"]):
            minute = slot_start(clock) + timedelta(minutes=2 + index % 7)
            kind = (index + number) % 10
            if kind <= 5:
                self._look(entry, minute, user, [Outcome.OK])
            elif kind == 6:
                self._look(entry, minute, user, [Outcome.NOT_VISIBLE, Outcome.OK])
            elif kind == 7:
                self._look(entry, minute, user, [Outcome.NOT_VISIBLE, Outcome.NOT_VISIBLE])
                self._visit_done(entry, minute + timedelta(minutes=40), user)
            elif kind == 8:
                self._look(entry, minute, user, [None])
                self._visit_done(entry, minute + timedelta(minutes=70), user)
            else:
                self._visit_done(entry, slot_start(clock) + timedelta(minutes=45), user)

    def _look(
        self, entry: MockConfigEntry, minute: datetime, user: str, outcomes: list[Outcome | None]
    ) -> None:
        """A look at `minute`; each not-visible outcome is followed up 21 minutes later."""
        self.looks += 1
        session = f"{entry.entry_id}-{self.looks}"
        self.begin[minute].append(lambda: entry.runtime_data.async_start_session(session, user))
        outcome, rest = outcomes[0], outcomes[1:]
        # A look left without an outcome counts as not visible once its time is up.
        self.outcomes[session] = str(outcome or Outcome.NOT_VISIBLE)
        if outcome is None:
            self.finish[minute].append(lambda: entry.runtime_data.async_end_session(session))
            return
        self.finish[minute].append(
            lambda: entry.runtime_data.async_set_outcome(session, outcome, user)
        )
        if rest:
            self._look(entry, minute + timedelta(minutes=21), user, rest)

    def _visit_done(self, entry: MockConfigEntry, minute: datetime, user: str) -> None:
        self.finish[minute].append(lambda: entry.runtime_data.async_visit_done(user, None))


async def run(homes: int, config_dir: Path, camera: str) -> dict[str, Any]:
    """Set up `homes` homes in one Home Assistant and run one night; return the figures."""
    clock = SimulatedClock(NIGHT_START)
    clock.install()
    # As in the tests: HTTP views and websocket commands are registered, no port is opened.
    with (
        patch("homeassistant.components.http.HomeAssistantHTTP.async_bind"),
        patch("homeassistant.components.http.HomeAssistantHTTP.start"),
    ):
        return await _run(homes, config_dir, camera, clock)


async def _run(homes: int, config_dir: Path, camera: str, clock: SimulatedClock) -> dict[str, Any]:
    async with async_test_home_assistant(config_dir=str(config_dir)) as hass:
        # As the `hass` fixture and `enable_custom_integrations` do.
        frame.async_setup(hass)
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        try:
            return await _night(hass, homes, camera, clock)
        finally:
            # Stops the audit log's writer thread too, or this process would never exit.
            await hass.async_stop(force=True)


async def _night(
    hass: HomeAssistant, homes: int, camera: str, clock: SimulatedClock
) -> dict[str, Any]:
    await hass.config.async_set_time_zone("Europe/Stockholm")
    user = await hass.auth.async_create_user("Nattpersonal", group_ids=["system-users"])
    counts: Counter[str] = Counter()

    def count(event: Event) -> None:
        counts[event.event_type] += 1

    hass.bus.async_listen(EVENT_VISIT_REQUIRED, count)
    hass.bus.async_listen(EVENT_NIGHT_REPORT, count)
    rss_before = peak_rss_mib()

    entries = []
    for index in range(homes):
        url = f"{camera}?home={index}"
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=f"Lgh {1000 + index}",
            unique_id=url,
            data={CONF_NAME: f"Lgh {1000 + index}", CONF_STREAM_URL: url},
            options={"times": agreed_times(index), "operators": [user.id]},
        )
        entry.add_to_hass(hass)
        entries.append(entry)
    began, began_cpu = time.perf_counter(), time.process_time()
    # As at Home Assistant's start: setting up the integration sets up every home.
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    assert all(entry.state is ConfigEntryState.LOADED for entry in entries)
    setup_s, setup_cpu = time.perf_counter() - began, time.process_time() - began_cpu
    entities = sum(
        1 for entity in er.async_get(hass).entities.values() if entity.platform == DOMAIN
    )

    night = Night()
    for index, entry in enumerate(entries):
        night.plan_home(entry, index, user.id)
    began, began_cpu = time.perf_counter(), time.process_time()
    moment = NIGHT_START
    refused = 0
    while moment <= NIGHT_END:
        await clock.move_to(hass, moment)
        for action in night.begin.pop(moment, []):
            refused += (await action()) is not None
        await clock.move_to(hass, moment + LOOK)
        for action in night.finish.pop(moment, []):
            await action()
        await hass.async_block_till_done()
        moment += STEP
    night_s, night_cpu = time.perf_counter() - began, time.process_time() - began_cpu
    storage = Path(hass.config.path(".storage"))
    stored = len(await hass.async_add_executor_job(lambda: list(storage.glob(f"{DOMAIN}.*"))))
    statuses = Counter(
        hass.states.get(entity_id).state
        for entity_id in hass.states.async_entity_ids("sensor")
        if entity_id.endswith("_status")
    )
    records = await hass.async_add_executor_job(hass.data[AUDIT_TRAIL].log.query)
    recorded = {
        record.data["session_id"]: record.data["outcome"]
        for record in records
        if record.kind == "session_ended"
    }
    missing = sum(recorded.get(session) != outcome for session, outcome in night.outcomes.items())

    return {
        "homes": homes,
        "entities": entities,
        "setup_s": setup_s,
        "setup_cpu_s": setup_cpu,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak_rss_mib(),
        "night_s": night_s,
        "night_cpu_s": night_cpu,
        "looks": night.looks,
        "refused": refused,
        "visits_required": counts[EVENT_VISIT_REQUIRED],
        "night_reports": counts[EVENT_NIGHT_REPORT],
        "stored": stored,
        "statuses": dict(statuses),
        "outcomes_planned": len(night.outcomes),
        "outcomes_missing": missing,
    }


def problems(row: dict[str, Any]) -> list[str]:
    """What makes a run not the night it planned (empty for a good run)."""
    found = []
    if row["refused"]:
        found.append(f"{row['refused']} of {row['looks']} looks refused")
    if row["outcomes_missing"]:
        found.append(
            f"{row['outcomes_missing']} of {row['outcomes_planned']} planned outcomes"
            " not in the audit log"
        )
    if row["statuses"].get("fault"):
        found.append(f"{row['statuses']['fault']} homes in fault at 08:00")
    if row["night_reports"] != row["homes"]:
        found.append(f"{row['night_reports']} night reports for {row['homes']} homes")
    return found


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(homes: int, directory: str | None, broken_camera: bool) -> None:
    """Measure one N in this process and print the figures as JSON."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-homes-", dir=directory) as tmp,
        RtspServer(width=160, height=120, fps=5, gop=5) as camera,
    ):
        url = f"rtsp://127.0.0.1:{free_port()}/cam" if broken_camera else camera.url
        figures = asyncio.run(run(homes, Path(tmp), url))
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--homes", type=int, nargs="+", default=list(DEFAULT_HOMES))
    parser.add_argument("--dir", help="where the temporary config directory goes (the disk)")
    parser.add_argument(
        "--broken-camera", action="store_true", help="no camera answers: the run must fail"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.homes[0], args.dir, args.broken_camera)
        return

    rows = []
    for homes in args.homes:
        # One process per N, so that each peak RSS is that N's own.
        command = [sys.executable, __file__, "--child", "--homes", str(homes)]
        if args.dir:
            command += ["--dir", args.dir]
        if args.broken_camera:
            command.append("--broken-camera")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"bench for {homes} homes failed")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{homes} homes done", file=sys.stderr)

    print(
        f"{'homes':>6} {'entities':>8} {'setup s':>8} {'setup ms/home':>13} {'peak RSS MiB':>12}"
        f" {'MiB/home':>9} {'night s':>8} {'night CPU s':>11} {'CPU ms/home/night':>17}"
        f" {'visits':>7} {'reports':>7}"
    )
    for row in rows:
        homes = row["homes"]
        per_home_mib = (row["peak_rss_mib"] - row["rss_before_mib"]) / homes
        print(
            f"{homes:>6} {row['entities']:>8} {row['setup_s']:>8.2f}"
            f" {1000 * row['setup_s'] / homes:>13.2f} {row['peak_rss_mib']:>12.1f}"
            f" {per_home_mib:>9.3f} {row['night_s']:>8.2f} {row['night_cpu_s']:>11.2f}"
            f" {1000 * row['night_cpu_s'] / homes:>17.2f}"
            f" {row['visits_required']:>7} {row['night_reports']:>7}"
        )
    for row in rows:
        print(
            f"{row['homes']} homes: {row['looks']} looks planned, {row['refused']} refused;"
            f" {row['stored']} homes' state files written;"
            f" status at 08:00: {row['statuses']}"
        )
    failures = [f"{row['homes']} homes: {problem}" for row in rows for problem in problems(row)]
    if failures:
        raise SystemExit("degenerate run:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    main()
