"""Heartbeat loss -> first raised visit, on the real clock: a watching Home Assistant at work.

    .venv/bin/python -m bench.watch_loss [--will-trials 5] [--stale-trials 5] [--homes 4]

Debian's mosquitto runs on a free loopback port with password authentication. One real Home
Assistant (`async_test_home_assistant`, in this process, on the real clock) sets up its own MQTT
integration as a config entry against it and the integration; the *watch* config entry is made
the way an installer makes it: Home Assistant's MQTT discovery offers the installation it hears on
the broker, and the bench answers the flow's form (`stale_seconds`, default 45, its minimum).

The watched installation is `simulators.installation` in a child process. It stands for a Home
Assistant with the integration and `mqtt_publish` homes, and is faithful to what a watcher can
see of one, which is all of it that reaches the broker: the same topic
(`trygghetskamera/installation/<id>/status`), the same payload built by the integration's own
pure functions (`heartbeat.status_payload`, `home_plan`), published the same way (retained, QoS
1, at once when the plan changes and every 30 s), and the same MQTT connection as Home
Assistant's MQTT integration makes by default (MQTT 5, clean start, keep-alive 60 s, a will
`offline` at QoS 0, not retained, on its own birth/will topic, announced `online` on connect).
A real Home Assistant in its place would add only its start-up time, which this bench does not
measure (tests/test_watch_processes.py runs two real ones). SIGKILL is the crash: the broker
publishes the will at once; a child started with `--no-will` (an MQTT entry whose will is off;
its heartbeat then names no will topic) leaves only the heartbeat's staleness to tell.

Each trial gives the installation a fresh plan (agreed times on the next whole minute, in
Europe/Stockholm, one per home), waits until the watcher has it, kills the installation and
restarts it once the visits are raised. Printed, as p50 / p90 (nearest rank) in ms over the
trials:

- (a) loss -> the watcher says down (its critical repair issue appears): via the will, from the
  SIGKILL; via staleness, from the last heartbeat beyond `stale_seconds` (the watcher checks one
  second after the deadline by design, so about 1000 ms is the floor);
- (b) agreed time -> `trygghetskamera_visit_required` (installation_down): will trials put the
  homes' agreed time after the loss, so the visit is raised by the watcher's timer at that time
  (ms beyond it). Stale trials put it between the last heartbeat and the detection: the watcher
  raises it when it finds the installation down (beyond the agreed time: that much; beyond the
  detection: processing);
- (c) restart (the installation's first heartbeat after it) -> `installation_recovered`.

The bench checks itself and exits non-zero with "degenerate run: <reason>" when the watcher never
says down, a visit is missing, a visit is raised twice (or one nobody agreed), a down comes before
the heartbeat was stale, or the installation never recovers. `--broken-will` starts the will
trials' installation without a will: the watcher then cannot say down at once, and the run must
fail.
"""

import argparse
import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
import json
import math
import os
from pathlib import Path
import signal
import sys
import tempfile
import time
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
# The harness ships its own `custom_components` package: ours must be found first.
sys.path.insert(0, str(ROOT))

# ruff: noqa: E402

from homeassistant import loader
from homeassistant.components import mqtt
from homeassistant.components.mqtt.models import DATA_MQTT
from homeassistant.config_entries import SOURCE_MQTT, ConfigEntry, ConfigEntryState
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import frame, issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

import custom_components.trygghetskamera  # noqa: F401
from custom_components.trygghetskamera.const import (
    CONF_STALE_SECONDS,
    DOMAIN,
    EVENT_INSTALLATION_RECOVERED,
    EVENT_VISIT_REQUIRED,
)
from custom_components.trygghetskamera.watch import WatchRuntime, issue_id
from simulators.broker import INSTALL_HINT, Broker, mosquitto_path
from simulators.child import child_env

TZ = "Europe/Stockholm"
INSTALLATION_ID = "5b1e0c7a9d3f4e2a8c6b1d0e9f8a7b6c"
NAME = "District North"
WILL_TOPIC = "homeassistant/district-north/status"
STEP_TIMEOUT_S = 60.0
# Will trials: the watcher must say down this soon after the kill (the broker sends the will at
# once; the rest is a loaded machine).
WILL_TIMEOUT_S = 15.0
# How long after its time a visit may come before it counts as missing.
VISIT_TIMEOUT_S = 30.0
# Agreed times at least this far after the plan is published (it must reach the watcher first).
LEAD_S = 6.0


class Degenerate(Exception):
    """The run did not measure what it claims to."""


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` 0.5 = median, 0.9 = p90)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def next_minute(after: float) -> float:
    """The first whole minute (epoch seconds) at or after `after`."""
    return math.ceil(after / 60) * 60


class Installation:
    """`python -m simulators.installation` in a child process, driven from the event loop."""

    def __init__(self, broker: Broker, log: Path, *, will: bool) -> None:
        self.broker = broker
        self.log = log
        self.will = will
        self.process: asyncio.subprocess.Process | None = None
        self.beats: asyncio.Queue[float] = asyncio.Queue()
        self.last_beat: float | None = None
        self._reader: asyncio.Task[None] | None = None

    async def spawn(self, homes: list[dict[str, Any]]) -> None:
        """Start the process with a plan; return once loaded (not yet connected)."""
        command = [sys.executable, "-m", "simulators.installation", "--host", self.broker.host]
        command += ["--port", str(self.broker.port), "--username", self.broker.username]
        command += ["--installation-id", INSTALLATION_ID, "--name", NAME]
        command += ["--will-topic", WILL_TOPIC]
        if not self.will:
            command.append("--no-will")
        for home in homes:
            command += ["--home", json.dumps(home)]
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=child_env(self.broker.password),
                cwd=ROOT,
                start_new_session=True,
            )
        await self._expect("loaded")

    async def _expect(self, what: str) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), STEP_TIMEOUT_S)
        if line.decode().strip() != what:
            raise RuntimeError(f"the installation did not say {what}: {line!r} (see {self.log})")

    async def connect(self) -> float:
        """Connect it (as Home Assistant's MQTT integration on start); the epoch time asked."""
        assert self.process is not None
        assert self.process.stdin is not None
        asked = time.time()
        self.process.stdin.write(b"connect\n")
        await self.process.stdin.drain()
        await self._expect("ready")
        self._reader = asyncio.create_task(self._read())
        return asked

    async def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            kind, _, value = line.decode().strip().partition(" ")
            if kind == "beat":
                self.last_beat = float(value)
                self.beats.put_nowait(float(value))

    async def next_beat(self) -> float:
        """The epoch time of its next heartbeat (or one already sent and not yet taken)."""
        return await asyncio.wait_for(self.beats.get(), STEP_TIMEOUT_S)

    async def plan(self, homes: list[dict[str, Any]]) -> float:
        """A new plan (as when an agreed time is changed): published at once; its beat time."""
        assert self.process is not None
        assert self.process.stdin is not None
        while not self.beats.empty():
            self.beats.get_nowait()
        self.process.stdin.write(json.dumps({"homes": homes}).encode() + b"\n")
        await self.process.stdin.drain()
        return await self.next_beat()

    def kill(self) -> float:
        """SIGKILL (no goodbye; the broker publishes the will, if it has one); its epoch time."""
        assert self.process is not None
        killed = time.time()
        os.kill(self.process.pid, signal.SIGKILL)
        return killed

    async def dead(self) -> float:
        """Once it is gone and its output read to the end: its last heartbeat's epoch time."""
        assert self.process is not None
        assert self._reader is not None
        await self.process.wait()
        await self._reader
        assert self.last_beat is not None
        return self.last_beat

    async def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            assert process.stdin is not None
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._reader is not None:
            self._reader.cancel()


@dataclass
class Watcher:
    """What the watching Home Assistant does, as its bus and issue registry show it."""

    hass: HomeAssistant
    downs: list[float] = field(default_factory=list)
    visits: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    recovered: list[float] = field(default_factory=list)
    entry: ConfigEntry | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def listen(self) -> None:
        self.hass.bus.async_listen(ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED, self._on_issue)
        self.hass.bus.async_listen(EVENT_VISIT_REQUIRED, self._on_visit)
        self.hass.bus.async_listen(EVENT_INSTALLATION_RECOVERED, self._on_recovered)

    def _on_issue(self, event: Event) -> None:
        data = event.data
        if data["action"] == "create" and data["issue_id"] == issue_id(INSTALLATION_ID):
            self.downs.append(time.time())
            self._changed.set()

    def _on_visit(self, event: Event) -> None:
        if event.data.get("installation_id") == INSTALLATION_ID:
            self.visits.append((time.time(), dict(event.data)))
            self._changed.set()

    def _on_recovered(self, event: Event) -> None:
        if event.data["installation_id"] == INSTALLATION_ID:
            self.recovered.append(time.time())
            self._changed.set()

    @property
    def runtime(self) -> WatchRuntime:
        assert self.entry is not None
        runtime: WatchRuntime = self.entry.runtime_data
        return runtime

    async def until(self, what: str, condition: Any, timeout_s: float) -> None:
        """Wait (on the bus's events) until `condition()`; else the run is degenerate."""
        try:
            async with asyncio.timeout(timeout_s):
                while not condition():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise Degenerate(f"{what} ({timeout_s:.0f} s)") from None

    async def poll(self, what: str, condition: Any, timeout_s: float = STEP_TIMEOUT_S) -> None:
        """Poll what no event tells (the watcher's plan, HA's MQTT subscriptions)."""
        try:
            async with asyncio.timeout(timeout_s):
                # Polls state that no event announces.
                while not condition():  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise Degenerate(f"{what} ({timeout_s:.0f} s)") from None


def plan(homes: int, agreed: float) -> list[dict[str, Any]]:
    """The installation's homes, each with one agreed time: the minute `agreed` (epoch) starts."""
    local = datetime.fromtimestamp(agreed, ZoneInfo(TZ)).strftime("%H:%M")
    return [
        {
            "entry_id": f"01JHBENCH{index:04d}WATCHLOSS0000",
            "name": f"Lgh {1001 + index}",
            "times": [local],
            "physical_times": [],
            "time_zone": TZ,
        }
        for index in range(homes)
    ]


def slot_key(agreed: float) -> str:
    """The `slot` a visit at that agreed time carries (local ISO 8601 with offset)."""
    return datetime.fromtimestamp(agreed, ZoneInfo(TZ)).isoformat()


@dataclass
class Figures:
    down_will_ms: list[float] = field(default_factory=list)
    down_stale_ms: list[float] = field(default_factory=list)
    kill_to_down_stale_s: list[float] = field(default_factory=list)
    visit_after_time_ms: list[float] = field(default_factory=list)
    first_visit_after_time_ms: list[float] = field(default_factory=list)
    passed_after_time_s: list[float] = field(default_factory=list)
    passed_after_down_ms: list[float] = field(default_factory=list)
    recovered_ms: list[float] = field(default_factory=list)
    connect_to_recovered_ms: list[float] = field(default_factory=list)
    expected: list[tuple[str, str]] = field(default_factory=list)


async def set_plan(
    watcher: Watcher, installation: Installation, homes: int, lead_s: float
) -> tuple[float, float]:
    """A fresh plan with the homes' agreed time `lead_s` or more ahead; (its beat, agreed time)."""
    agreed = next_minute(time.time() + lead_s)
    homes_plan = plan(homes, agreed)
    beat = await installation.plan(homes_plan)
    await watcher.poll(
        "the watcher never had the new plan",
        lambda: watcher.runtime.plan.get("homes") == homes_plan,
    )
    return beat, agreed


async def visits_of(
    watcher: Watcher, figures: Figures, homes: int, agreed: float, trial: str
) -> list[float]:
    """Wait for every home's visit at `agreed`; their epoch times."""
    key = slot_key(agreed)
    figures.expected += [(home["entry_id"], key) for home in plan(homes, agreed)]

    def raised() -> list[float]:
        return [at for at, data in watcher.visits if data["slot"] == key]

    timeout = max(0.0, agreed - time.time()) + VISIT_TIMEOUT_S
    await watcher.until(
        f"{trial}: {homes - len(raised())} of {homes} visits at {key} missing",
        lambda: len(raised()) >= homes,
        timeout,
    )
    return raised()


async def will_trial(
    watcher: Watcher, installation: Installation, args: argparse.Namespace, figures: Figures
) -> None:
    """Kill with a will; down at once; the agreed time comes after: raised by the timer."""
    trial = f"will trial {len(figures.down_will_ms) + 1}"
    _, agreed = await set_plan(watcher, installation, args.homes, LEAD_S)
    if installation.will:
        # The watcher subscribed to the will topic the heartbeat names: let the subscription
        # leave Home Assistant's MQTT client (a batch on a 0.1-0.5 s cool-down) and reach the
        # broker before the will can be published.
        client = watcher.hass.data[DATA_MQTT].client
        await watcher.poll(
            f"{trial}: the watcher never subscribed to the will",
            lambda: (
                watcher.runtime.will_followed == WILL_TOPIC
                and not client.is_pending_subscription(WILL_TOPIC)
            ),
        )
        await asyncio.sleep(1.0)
    downs = len(watcher.downs)
    killed = installation.kill()
    if agreed - killed < 2:
        raise Degenerate(f"{trial}: the kill came too close to the agreed time")
    await watcher.until(
        f"{trial}: the watcher never said down after the kill",
        lambda: len(watcher.downs) > downs,
        WILL_TIMEOUT_S,
    )
    figures.down_will_ms.append(1000 * (watcher.downs[-1] - killed))
    if watcher.downs[-1] >= agreed:
        raise Degenerate(f"{trial}: down only after the agreed time")
    raised = await visits_of(watcher, figures, args.homes, agreed, trial)
    figures.visit_after_time_ms += [1000 * (at - agreed) for at in raised]
    figures.first_visit_after_time_ms.append(1000 * (min(raised) - agreed))


async def stale_trial(
    watcher: Watcher, installation: Installation, args: argparse.Namespace, figures: Figures
) -> None:
    """Kill without a will; the agreed time falls between the last heartbeat and detection."""
    trial = f"stale trial {len(figures.down_stale_ms) + 1}"
    stale = args.stale_seconds
    _, agreed = await set_plan(watcher, installation, args.homes, 8.0)
    # The last heartbeat must come at most stale - 2 s before the agreed time (so detection, a
    # second after stale, is after it) and at least 3 s before: kill right after such a beat.
    while True:
        beat = installation.last_beat
        assert beat is not None
        if agreed - stale + 2 <= beat <= agreed - 3:
            break
        if beat > agreed - 3:
            raise Degenerate(f"{trial}: no heartbeat fitted before the agreed time")
        await installation.next_beat()
    downs = len(watcher.downs)
    killed = installation.kill()
    # Every beat it said it sent before it died (its output read to the end).
    last = await installation.dead()
    await watcher.until(
        f"{trial}: the watcher never said down after the heartbeat stopped",
        lambda: len(watcher.downs) > downs,
        stale + WILL_TIMEOUT_S,
    )
    down = watcher.downs[-1]
    if down - last < stale:
        raise Degenerate(f"{trial}: down {down - last:.1f} s after the last heartbeat (< stale)")
    figures.down_stale_ms.append(1000 * (down - last - stale))
    figures.kill_to_down_stale_s.append(down - killed)
    raised = await visits_of(watcher, figures, args.homes, agreed, trial)
    figures.passed_after_time_s += [at - agreed for at in raised]
    figures.passed_after_down_ms += [1000 * (at - down) for at in raised]


async def restart(watcher: Watcher, installation: Installation, figures: Figures) -> None:
    """Start the installation again: its first heartbeat -> `installation_recovered`."""
    recovered = len(watcher.recovered)
    connected = await installation.connect()
    first = await installation.next_beat()
    await watcher.until(
        "the installation never recovered after its restart",
        lambda: len(watcher.recovered) > recovered,
        STEP_TIMEOUT_S,
    )
    figures.recovered_ms.append(1000 * (watcher.recovered[-1] - first))
    figures.connect_to_recovered_ms.append(1000 * (watcher.recovered[-1] - connected))


async def watch_through_discovery(hass: HomeAssistant, stale_seconds: int) -> ConfigEntry:
    """Answer the flow MQTT discovery offers for the installation heard on the broker."""

    def offered() -> list[Any]:
        return [
            flow
            for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
            if flow["context"]["source"] == SOURCE_MQTT
        ]

    async with asyncio.timeout(STEP_TIMEOUT_S):
        # Polls the flow manager: a discovered flow announces itself to the frontend only.
        while not offered():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    [flow] = offered()
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_STALE_SECONDS: stale_seconds}
    )
    entry: ConfigEntry = result["result"]
    await hass.async_block_till_done()
    if entry.state is not ConfigEntryState.LOADED:
        raise RuntimeError(f"the watch entry did not load: {entry.state}")
    return entry


async def run_trials(
    hass: HomeAssistant,
    broker: Broker,
    args: argparse.Namespace,
    work: Path,
    figures: Figures,
    *,
    first: asyncio.Task[Installation],
) -> None:
    note("Home Assistant started")
    await hass.config.async_set_time_zone(TZ)
    await hass.async_add_executor_job(Path(hass.config.path("configuration.yaml")).touch)
    entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        title=broker.host,
        data={
            mqtt.CONF_BROKER: broker.host,
            "port": broker.port,
            "username": broker.username,
            "password": broker.password,
        },
        version=2,
        minor_version=1,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert await async_setup_component(hass, DOMAIN, {})
    watcher = Watcher(hass)
    watcher.listen()
    kinds = trial_kinds(args)
    installation = await first
    try:
        await installation.connect()
        watcher.entry = await watch_through_discovery(hass, args.stale_seconds)
        await watcher.poll(
            "the watcher never heard the installation",
            lambda: watcher.runtime.last_seen is not None and not watcher.runtime.down,
        )
        note("the watcher follows the installation")
        for index, kind in enumerate(kinds):
            if kind == "will":
                await will_trial(watcher, installation, args, figures)
            else:
                await stale_trial(watcher, installation, args, figures)
            # Started (Python and Home Assistant's modules loaded) before it is timed.
            following = kinds[min(index + 1, len(kinds) - 1)]
            await installation.stop()
            installation = await installation_for(broker, work, args, following)
            await restart(watcher, installation, figures)
            note(f"{kind} trial {index + 1} of {len(kinds)} done")
    finally:
        await installation.stop()
    await hass.async_block_till_done()
    check(watcher, figures, len(kinds))
    await hass.config_entries.async_unload(entry.entry_id)
    note("trials checked")


def trial_kinds(args: argparse.Namespace) -> list[str]:
    """Will trials first: the watcher's will subscription is then never changed before a kill."""
    return ["will"] * args.will_trials + ["stale"] * args.stale_trials


async def installation_for(
    broker: Broker, work: Path, args: argparse.Namespace, kind: str
) -> Installation:
    """A loaded, not yet connected, installation for a trial of this kind."""
    installation = Installation(
        broker, work / "installation.log", will=kind == "will" and not args.broken_will
    )
    # Agreed times three hours away while nothing is measured; each trial sets its own.
    await installation.spawn(plan(args.homes, next_minute(time.time() + 3 * 3600)))
    return installation


STARTED = time.monotonic()


def note(what: str) -> None:
    """Progress, on stderr."""
    print(f"[{time.monotonic() - STARTED:6.1f} s] {what}", file=sys.stderr, flush=True)


def check(watcher: Watcher, figures: Figures, trials: int) -> None:
    """Every agreed visit raised once, nothing else; a down and a recovery per trial."""
    counted = Counter((data["entry_id"], data["slot"]) for _, data in watcher.visits)
    twice = [key for key, count in counted.items() if count > 1]
    if twice:
        raise Degenerate(f"{len(twice)} visits raised twice, e.g. {twice[0]}")
    unexpected = set(counted) - set(figures.expected)
    if unexpected:
        raise Degenerate(f"{len(unexpected)} visits nobody agreed, e.g. {sorted(unexpected)[0]}")
    missing = set(figures.expected) - set(counted)
    if missing:
        raise Degenerate(f"{len(missing)} visits missing, e.g. {sorted(missing)[0]}")
    if len(watcher.downs) != trials or len(watcher.recovered) != trials:
        raise Degenerate(
            f"{len(watcher.downs)} downs and {len(watcher.recovered)} recoveries in {trials} trials"
        )


async def measure(args: argparse.Namespace, work: Path, figures: Figures) -> None:
    broker = Broker.mosquitto(work / "broker")
    config_dir = work / "config"
    config_dir.mkdir()
    # The first installation loads while Home Assistant starts.
    first = asyncio.create_task(installation_for(broker, work, args, trial_kinds(args)[0]))
    try:
        # As in the tests: HTTP views and websocket commands are registered, no port is opened.
        with (
            patch("homeassistant.components.http.HomeAssistantHTTP.async_bind"),
            patch("homeassistant.components.http.HomeAssistantHTTP.start"),
        ):
            async with async_test_home_assistant(config_dir=str(config_dir)) as hass:
                frame.async_setup(hass)
                hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
                try:
                    await run_trials(hass, broker, args, work, figures, first=first)
                finally:
                    await hass.async_stop(force=True)
    finally:
        if first.done() and not first.exception():
            await first.result().stop()
        else:
            first.cancel()
        broker.stop()
        note("stopped")


def spread(values: list[float], unit: str) -> str:
    if not values:
        return "-"
    digits = 0 if unit == "ms" else 1
    return (
        f"p50 {percentile(values, 0.5):.{digits}f} {unit}, p90 {percentile(values, 0.9):.{digits}f}"
        f" {unit} (n={len(values)})"
    )


def show(args: argparse.Namespace, figures: Figures) -> None:
    print(
        f"watch loss: {args.will_trials} will trials, {args.stale_trials} stale trials;"
        f" {args.homes} homes; stale_seconds {args.stale_seconds}; Debian's mosquitto,"
        f" one watching Home Assistant, real clock"
    )
    print("(a) loss -> watcher says down (critical repair):")
    print(f"  via the will, from the SIGKILL            {spread(figures.down_will_ms, 'ms')}")
    print(
        f"  via staleness, beyond stale_seconds        {spread(figures.down_stale_ms, 'ms')}"
        " (last heartbeat + stale_seconds -> down; the watcher checks 1 s after)"
    )
    print(
        f"  via staleness, from the SIGKILL            {spread(figures.kill_to_down_stale_s, 's')}"
    )
    print("(b) agreed time -> visit_required (installation_down):")
    print(
        f"  agreed time after the loss, each visit     {spread(figures.visit_after_time_ms, 'ms')}"
    )
    print(
        "  agreed time after the loss, first of each  "
        f"{spread(figures.first_visit_after_time_ms, 'ms')}"
    )
    print(
        "  agreed time before detection (stale):      "
        f"{spread(figures.passed_after_time_s, 's')} after the agreed time,"
        f" {spread(figures.passed_after_down_ms, 'ms')} after down"
    )
    print("(c) restart -> installation_recovered:")
    print(f"  first heartbeat -> recovered               {spread(figures.recovered_ms, 'ms')}")
    print(
        "  its connection -> recovered                "
        f"{spread(figures.connect_to_recovered_ms, 'ms')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--will-trials", type=int, default=5)
    parser.add_argument("--stale-trials", type=int, default=5)
    parser.add_argument("--homes", type=int, default=4, help="homes of the watched installation")
    parser.add_argument("--stale-seconds", type=int, default=45, help="the watch entry's option")
    parser.add_argument("--broken-will", action="store_true", help="no will: must fail")
    parser.add_argument("--dir", help="where the temporary directory goes")
    args = parser.parse_args()
    if args.will_trials + args.stale_trials < 1 or args.homes < 1:
        parser.error("at least one trial and one home")
    if mosquitto_path() is None:
        raise SystemExit(f"bench.watch_loss needs a real broker: {INSTALL_HINT}")
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="bench-watch-loss-", dir=args.dir) as tmp:
        try:
            asyncio.run(measure(args, Path(tmp), figures))
        except Degenerate as err:
            raise SystemExit(f"degenerate run: {err}") from None
    show(args, figures)


if __name__ == "__main__":
    main()
