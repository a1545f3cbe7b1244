"""A fleet of homes at a distance: Zigbee2MQTT hubs through a real broker into one Home Assistant.

    .venv/bin/python -m bench.fleet [--homes 1000] [--per-process 50] [--hour-steps 60]

Debian's mosquitto runs on a free loopback port with password authentication. N simulated home
hubs (simulators/hub.py: Zigbee2MQTT's topics, discovery and last will; one MQTT connection and
one will each) run in N / --per-process child processes. One real Home Assistant
(`async_test_home_assistant`, in this process) sets up its own MQTT integration as a config entry
against the broker, as it would on a restart with the fleet already online: every hub's retained
discovery makes its plug switch, power sensor, bed occupancy sensor and connectivity sensor. Then
N homes (one config entry each, their slot open now, each at its own URL of one GStreamer RTSP
camera, probed once before the hub loss) watch those entities. Printed:

- setup: the hubs coming online; Home Assistant's MQTT discovery of 4 N entities; the homes set
  up and reading their equipment healthy;
- memory: this process's RSS (Home Assistant) before and after, the broker's and the hubs';
- hub loss: one hub process with --per-process hubs is SIGKILLed, so the broker publishes every
  one of their wills at once; for each of those homes, the time from its hub's will (seen by an
  independent MQTT subscriber) to its `trygghetskamera_visit_required` (reason `fault`), p50 and
  p99, on Home Assistant's real clock. By design it is the fault's debounce (`BLIP_DELAY`) plus
  processing; the processing is the figure to watch;
- CPU per simulated hour: Home Assistant's clock moves through an hour in --hour-steps steps
  (its timers fire as the clock reaches them); at each step every live hub reports its plug's
  power (a changed value, so each report is a state change), and each bed sensor goes empty and
  occupied again once in the hour. CPU seconds of Home Assistant's process, the broker and the
  hub processes for that hour's traffic. The looks and slots of a night are bench/homes.py's.

The bench checks itself and exits non-zero on a degenerate run: a home not healthy before the
hub loss, a lost home without its visit, a visit in a home whose hub was not lost, or a power
report Home Assistant never shows. `--broken-camera` points the homes at a port where no camera
answers: that run must fail.

The process raises its soft RLIMIT_NOFILE to the hard limit (the broker and the hubs inherit
it): the broker holds one connection per hub, more than the usual soft limit of 1024.
"""

import argparse
import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import gc
import json
import math
import os
from pathlib import Path
import resource
import signal
import sys
import tempfile
import threading
import time
from typing import Any
from unittest.mock import patch

ROOT = Path(__file__).resolve().parent.parent
# The harness ships its own `custom_components` package: ours must be found first.
sys.path.insert(0, str(ROOT))

import custom_components.trygghetskamera  # noqa: E402, F401, I001
from custom_components.trygghetskamera.const import (  # noqa: E402
    CONF_NAME,
    CONF_SLOT_MINUTES,
    CONF_STREAM_URL,
    CONF_TIMES,
    DOMAIN,
    EVENT_VISIT_REQUIRED,
)
from custom_components.trygghetskamera.health import BLIP_DELAY  # noqa: E402
from custom_components.trygghetskamera.runtime import STORAGE_VERSION, home_config  # noqa: E402
from custom_components.trygghetskamera.supervision import Supervisor  # noqa: E402
from homeassistant import loader  # noqa: E402
from homeassistant.components import mqtt  # noqa: E402
from homeassistant.config_entries import ConfigEntryState  # noqa: E402
from homeassistant.const import EVENT_STATE_CHANGED  # noqa: E402
from homeassistant.core import Event, HomeAssistant  # noqa: E402
from homeassistant.helpers import entity_registry as er, frame  # noqa: E402
from homeassistant.helpers.storage import Store  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
from homeassistant.util import dt as dt_util  # noqa: E402
from paho.mqtt.client import Client, MQTTMessage  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_test_home_assistant,
)

from bench.homes import SimulatedClock  # noqa: E402
from bench.setup_profile import SetupProfile  # noqa: E402
from simulators.broker import INSTALL_HINT, Broker, mosquitto_path  # noqa: E402
from simulators.hub import Hub  # noqa: E402
from tests.conftest import home_options  # noqa: E402
from tests.media_sources import RtspServer, free_port  # noqa: E402

READY_TIMEOUT_S = 600.0
# The goal for setting up the homes over an empty Home Assistant (issue 17): seconds, bytes.
SETUP_GOAL_S = 10.0
SETUP_GOAL_MIB = 100e6 / 2**20


class Degenerate(Exception):
    """The run did not measure what it claims to."""


STEP_TIMEOUT_S = 120.0


def progress(text: str) -> None:
    """Say how far the run is (stderr): a 1000-home run takes minutes on a busy machine."""
    print(f"fleet: {text}", file=sys.stderr, flush=True)


def raise_fd_limit() -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE to the hard limit; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def rss_mib(pid: int | str = "self") -> float:
    """A process's resident set size now (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """A process's CPU time so far (user + system), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` 0.5 = median, 0.99 = p99)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class HubGroup:
    """One child process running many hubs (`python -m simulators.hub --hub …`), one MQTT
    connection and will each; its stdin carries the bench's commands. Driven through asyncio, so
    Home Assistant's loop (in this process) never waits on it.
    """

    def __init__(self, index: int, hub_ids: list[str], broker: Broker, log: Path) -> None:
        self.index = index
        self.hub_ids = hub_ids
        self.broker = broker
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        command = [sys.executable, "-m", "simulators.hub", "--host", self.broker.host]
        command += ["--port", str(self.broker.port), "--username", self.broker.username]
        command += ["--timeout", str(READY_TIMEOUT_S)]
        for hub_id in self.hub_ids:
            command += ["--hub", hub_id]
        env = {**os.environ, "SIMULATORS_BROKER_PASSWORD": self.broker.password}
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=ROOT,
                start_new_session=True,
            )

    async def ready(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), READY_TIMEOUT_S + 10)
        if line.decode().strip() != f"ready {len(self.hub_ids)}":
            raise RuntimeError(f"hub process {self.index} did not get ready: {line!r}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def send(self, commands: list[dict[str, Any]]) -> None:
        """Send JSON commands (no answers asked: the hub publishes, HA's states tell)."""
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(b"".join(json.dumps(c).encode() + b"\n" for c in commands))
        await self.process.stdin.drain()

    def kill(self) -> None:
        """SIGKILL: no hub in it says goodbye, so the broker publishes each one's will."""
        os.kill(self.pid, signal.SIGKILL)

    async def stop(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


class WillWatcher:
    """An independent MQTT subscriber: when each hub's `bridge/state` went `offline` (its will)."""

    def __init__(self, broker: Broker) -> None:
        self.offline: dict[str, float] = {}
        self._subscribed = threading.Event()
        self._client = Client(CallbackAPIVersion.VERSION2, client_id="bench-will-watcher")
        self._client.username_pw_set(broker.username, broker.password)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()

    def _on_connect(self, client: Client, *_: Any) -> None:
        client.subscribe("zigbee2mqtt/+/bridge/state", qos=1)

    def _on_message(self, client: Client, userdata: Any, message: MQTTMessage) -> None:
        if b"offline" in message.payload:
            hub_id = message.topic.split("/")[1]
            self.offline.setdefault(hub_id, time.perf_counter())

    def wait_subscribed(self, timeout_s: float = 10.0) -> None:
        if not self._subscribed.wait(timeout_s):
            raise RuntimeError("the will watcher could not subscribe")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@dataclass
class Home:
    """One home: its hub, its config entry and the entities it watches."""

    hub: Hub
    group: HubGroup
    equipment: dict[str, str] = field(default_factory=dict)
    entry: MockConfigEntry | None = None


async def wait_until(what: str, condition: Any, timeout_s: float = READY_TIMEOUT_S) -> float:
    """Poll `condition()` (the loop keeps running) until true; return the seconds it took."""
    began = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            # Polls Home Assistant's states: what it waits for has no single event to await.
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}") from None
    return time.perf_counter() - began


def discovered(hass: HomeAssistant, homes: list[Home]) -> bool:
    """Every hub's four entities exist (found by discovery unique id) and have a state."""
    registry = er.async_get(hass)
    for home in homes:
        if len(home.equipment) == 4:
            continue
        found: dict[str, str] = {}
        for key, unique_id in home.hub.unique_ids().items():
            domain = home.hub.equipment()[key].partition(".")[0]
            entity_id = registry.async_get_entity_id(domain, mqtt.DOMAIN, unique_id)
            state = hass.states.get(entity_id) if entity_id else None
            if state is None or state.state in ("unavailable", "unknown"):
                return False
            found[key] = entity_id  # type: ignore[assignment]
        home.equipment = found
    return True


async def add_homes(hass: HomeAssistant, homes: list[Home], camera: str, operator: str) -> None:
    """One config entry per home, its agreed time this minute and its slot open for two hours.

    Each is stored as created an hour ago, so that the slot that opened this minute is owed.
    """
    times = [dt_util.now().strftime("%H:%M")]
    for index, home in enumerate(homes):
        options = home_options(
            [operator], **{CONF_TIMES: times, CONF_SLOT_MINUTES: 120} | home.equipment
        )
        url = f"{camera}?home={index}"
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=f"Lgh {home.hub.hub_id}",
            unique_id=url,
            data={CONF_NAME: f"Lgh {home.hub.hub_id}", CONF_STREAM_URL: url},
            options=options,
        )
        entry.add_to_hass(hass)
        config = home_config(options)
        supervisor = Supervisor(
            config, dt_util.get_default_time_zone(), dt_util.utcnow() - timedelta(hours=1)
        )
        await Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}").async_save(
            {"config": config.as_dict(), "supervisor": supervisor.to_dict()}
        )
        home.entry = entry


def healthy(hass: HomeAssistant, homes: list[Home]) -> bool:
    """Every home is loaded and its equipment binary sensor is off (no fault)."""
    registry = er.async_get(hass)
    for home in homes:
        assert home.entry is not None
        if home.entry.state is not ConfigEntryState.LOADED:
            return False
        entity_id = registry.async_get_entity_id(
            "binary_sensor", DOMAIN, f"{home.entry.entry_id}_equipment"
        )
        state = hass.states.get(entity_id) if entity_id else None
        if state is None or state.state != "off":
            return False
    return True


async def measure(args: argparse.Namespace, work: Path, figures: dict[str, Any]) -> None:
    """Run the whole bench; fill `figures`."""
    began = time.perf_counter()
    broker = Broker.mosquitto(work / "broker")
    figures["broker_start_s"] = time.perf_counter() - began
    groups: list[HubGroup] = []
    try:
        hub_ids = [f"lgh{number:04d}" for number in range(1, args.homes + 1)]
        for index in range(0, args.homes, args.per_process):
            batch = hub_ids[index : index + args.per_process]
            groups.append(HubGroup(len(groups), batch, broker, work / "hubs.log"))
        began = time.perf_counter()
        for group in groups:
            await group.start()
        await asyncio.gather(*(group.ready() for group in groups))
        figures["hubs_online_s"] = time.perf_counter() - began
        progress(f"{args.homes} hubs online in {len(groups)} processes")
        figures["hub_processes"] = len(groups)
        homes = [
            Home(Hub(broker.host, broker.port, hub_id), group)
            for group in groups
            for hub_id in group.hub_ids
        ]
        await with_home_assistant(
            args, work=work, broker=broker, groups=groups, homes=homes, figures=figures
        )
    finally:
        for group in groups:
            await group.stop()
        figures["broker_log_connections"] = sum(
            "New client connected" in line
            for line in broker.log_path.read_text(errors="replace").splitlines()
        )
        broker.stop()


async def with_home_assistant(
    args: argparse.Namespace,
    *,
    work: Path,
    broker: Broker,
    groups: list[HubGroup],
    homes: list[Home],
    figures: dict[str, Any],
) -> None:
    """Home Assistant in this process: MQTT, discovery, homes, hub loss, a simulated hour."""
    config_dir = work / "config"
    config_dir.mkdir()
    with RtspServer(width=160, height=120, fps=5, gop=5) as server:
        camera = f"rtsp://127.0.0.1:{free_port()}/cam" if args.broken_camera else server.url
        await _with_home_assistant(
            args,
            config_dir=config_dir,
            camera=camera,
            broker=broker,
            groups=groups,
            homes=homes,
            figures=figures,
        )


async def _with_home_assistant(
    args: argparse.Namespace,
    *,
    config_dir: Path,
    camera: str,
    broker: Broker,
    groups: list[HubGroup],
    homes: list[Home],
    figures: dict[str, Any],
) -> None:
    # As in the tests: HTTP views and websocket commands are registered, no port is opened.
    with (
        patch("homeassistant.components.http.HomeAssistantHTTP.async_bind"),
        patch("homeassistant.components.http.HomeAssistantHTTP.start"),
    ):
        async with async_test_home_assistant(config_dir=str(config_dir)) as hass:
            frame.async_setup(hass)
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
            try:
                await fleet(
                    hass,
                    args,
                    broker=broker,
                    groups=groups,
                    homes=homes,
                    camera=camera,
                    figures=figures,
                )
            finally:
                await hass.async_stop(force=True)


async def fleet(
    hass: HomeAssistant,
    args: argparse.Namespace,
    *,
    broker: Broker,
    groups: list[HubGroup],
    homes: list[Home],
    camera: str,
    figures: dict[str, Any],
) -> None:
    await hass.config.async_set_time_zone("Europe/Stockholm")
    operator = await hass.auth.async_create_user("Nattpersonal", group_ids=["system-users"])
    await hass.async_block_till_done()
    gc.collect()
    figures["rss_before_mib"] = rss_mib()
    figures["load_before"] = os.getloadavg()[0]
    profile = SetupProfile(Path(args.profile) if args.profile else None, args.tracemalloc)

    # HA's MQTT integration as a config entry, as the MQTT config flow creates it.
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
    with profile.phase("discovery", figures):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await wait_until("discovery", lambda: discovered(hass, homes))
    figures["mqtt_entities"] = sum(
        1 for e in er.async_get(hass).entities.values() if e.platform == mqtt.DOMAIN
    )
    figures["rss_discovered_mib"] = rss_mib()
    progress(f"MQTT discovery {figures['discovery_s']:.1f} s")

    await add_homes(hass, homes, camera, operator.id)
    with profile.phase("homes_setup", figures):
        # As at Home Assistant's start: setting up the integration sets up every home.
        assert await async_setup_component(hass, DOMAIN, {})
        await wait_until("homes healthy", lambda: healthy(hass, homes))
    figures["entities"] = len(hass.states.async_entity_ids())
    figures["rss_homes_mib"] = rss_mib()
    figures["setup_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["load_after_setup"] = os.getloadavg()[0]
    figures["broker_rss_mib"] = rss_mib(broker.pid or "self")
    figures["hubs_rss_mib"] = sum(rss_mib(group.pid) for group in groups)
    progress(f"homes set up {figures['homes_setup_s']:.1f} s")
    profile.report(figures)
    if args.setup_only:
        return

    # Each camera is probed, as before a slot: the homes start healthy or the run is void.
    await asyncio.gather(
        *(home.entry.runtime_data.async_probe_camera(None) for home in homes if home.entry)
    )
    await hass.async_block_till_done()
    if not healthy(hass, homes):
        raise Degenerate("homes in fault before the hubs were lost (their cameras?)")
    await hub_loss(hass, broker, groups[0], homes, figures)
    if figures["other_visits"]:
        raise Degenerate(f"{figures['other_visits']} visits in homes whose hub was not lost")
    await simulated_hour(hass, args, broker=broker, groups=groups[1:], homes=homes, figures=figures)
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def watch_lag(lags: list[tuple[float, float]]) -> None:
    """Record how late the loop runs a 10 ms sleep: a busy loop delays every message it reads."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append((before, time.perf_counter() - before - 0.01))


async def settle(quiet_s: float = 2.0, lag_s: float = 0.05) -> tuple[float, float]:
    """Wait until the loop has run `quiet_s` without a lag over `lag_s`; (seconds, worst lag)."""
    began = quiet_since = time.perf_counter()
    worst = 0.0
    lags: list[tuple[float, float]] = []
    task = asyncio.create_task(watch_lag(lags))
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            while time.perf_counter() - quiet_since < quiet_s:
                await asyncio.sleep(0.1)
                for moment, lag in lags:
                    worst = max(worst, lag)
                    if lag > lag_s:
                        quiet_since = moment + lag
                lags.clear()
    finally:
        task.cancel()
    return quiet_since - began, worst


async def hub_loss(
    hass: HomeAssistant, broker: Broker, group: HubGroup, homes: list[Home], figures: dict
) -> None:
    """SIGKILL one hub process; per home, its hub's will to its visit required."""
    watcher = WillWatcher(broker)
    await hass.async_add_executor_job(watcher.wait_subscribed)
    lost = {home.entry.entry_id: home for home in homes if home.group is group}  # type: ignore[union-attr]
    connectivity = {home.equipment["connectivity_entity"]: home for home in lost.values()}
    visits: dict[str, float] = {}
    ha_saw: dict[str, float] = {}
    others: list[str] = []

    def visit(event: Event) -> None:
        entry_id = event.data["entry_id"]
        if entry_id in lost and event.data["reason"] == "fault":
            visits.setdefault(entry_id, time.perf_counter())
        elif entry_id not in lost:
            others.append(entry_id)

    def changed(event: Event) -> None:
        new = event.data["new_state"]
        if event.data["entity_id"] in connectivity and new is not None and new.state == "off":
            ha_saw.setdefault(event.data["entity_id"], time.perf_counter())

    unsubscribe = [
        hass.bus.async_listen(EVENT_VISIT_REQUIRED, visit),
        hass.bus.async_listen(EVENT_STATE_CHANGED, changed),
    ]
    # Right after setting up, Home Assistant is busy for a while (the homes' first state writes
    # and stores): the loss is measured once its loop is quiet again, and that wait is printed.
    figures["settle_s"], figures["settle_lag_max_s"] = await settle()
    lags: list[tuple[float, float]] = []
    lag_task = asyncio.create_task(watch_lag(lags))
    killed = time.perf_counter()
    group.kill()
    await wait_until("visits", lambda: len(visits) == len(lost), BLIP_DELAY.total_seconds() + 120)
    lag_task.cancel()
    worst = max(lags, key=lambda item: item[1])
    figures["loop_lag_max_s"] = worst[1]
    figures["loop_lag_max_at_s"] = worst[0] - killed
    for remove in unsubscribe:
        remove()
    watcher.stop()
    wills = [watcher.offline[home.hub.hub_id] for home in lost.values()]
    figures["killed_hubs"] = len(lost)
    figures["kill_to_will_s"] = [will - killed for will in wills]
    figures["will_to_ha_s"] = [
        ha_saw[home.equipment["connectivity_entity"]] - watcher.offline[home.hub.hub_id]
        for home in lost.values()
    ]
    figures["will_to_visit_s"] = [
        visits[entry_id] - watcher.offline[home.hub.hub_id] for entry_id, home in lost.items()
    ]
    figures["other_visits"] = len(others)


async def simulated_hour(
    hass: HomeAssistant,
    args: argparse.Namespace,
    *,
    broker: Broker,
    groups: list[HubGroup],
    homes: list[Home],
    figures: dict,
) -> None:
    """An hour of equipment traffic on Home Assistant's simulated clock; the CPU it costs."""
    live = [home for home in homes if home.group in groups]
    steps = args.hour_steps
    step = timedelta(hours=1) / steps
    clock = SimulatedClock(datetime.now(UTC))
    clock.install()
    start = clock.now
    pids = {"broker": [broker.pid or 0], "hubs": [group.pid for group in groups]}
    cpu_before = {name: sum(cpu_s(pid) for pid in found) for name, found in pids.items()}
    began, began_cpu = time.perf_counter(), time.process_time()
    messages = 0
    for number in range(1, steps + 1):
        await clock.move_to(hass, start + number * step)
        watts = f"{6.0 + (number % 5) / 10:.1f}"
        for group in groups:
            commands: list[dict[str, Any]] = []
            for offset, hub_id in enumerate(group.hub_ids):
                commands.append({"hub": hub_id, "power": float(watts)})
                # Each bed empties at a step of its own and is occupied again two steps later.
                empty_at = 1 + (group.index * len(group.hub_ids) + offset) % max(1, steps - 3)
                if number in (empty_at, empty_at + 2):
                    commands.append({"hub": hub_id, "occupancy": number != empty_at})
            messages += len(commands)
            await group.send(commands)

        def reported(watts: str = watts) -> bool:
            return all(
                (state := hass.states.get(home.equipment["power_entity"])) is not None
                and state.state == watts
                for home in live
            )

        await wait_until("power reports", reported, STEP_TIMEOUT_S)
    await clock.move_to(hass, start + timedelta(hours=1))
    await hass.async_block_till_done()
    figures["hour_wall_s"] = time.perf_counter() - began
    figures["hour_cpu_s"] = time.process_time() - began_cpu
    for name, found in pids.items():
        figures[f"hour_{name}_cpu_s"] = sum(cpu_s(pid) for pid in found) - cpu_before[name]
    figures["hour_messages"] = messages
    figures["hour_live_hubs"] = len(live)


def show(args: argparse.Namespace, limits: tuple[int, int], figures: dict[str, Any]) -> None:
    """Print the figures."""
    homes = args.homes
    debounce = BLIP_DELAY.total_seconds()

    def spread(values: list[float]) -> str:
        return (
            f"p50 {percentile(values, 0.5):.3f} s, p99 {percentile(values, 0.99):.3f} s,"
            f" max {max(values):.3f} s"
        )

    print(
        f"fleet: {homes} homes, {homes} hubs in {figures['hub_processes']} processes"
        f" ({args.per_process} each), Debian's mosquitto, one Home Assistant"
        f" (RLIMIT_NOFILE {limits[0]}/{limits[1]})"
    )
    print(
        f"setup (load average over 1 min: {figures['load_before']:.1f} before,"
        f" {figures['load_after_setup']:.1f} after; {os.cpu_count()} cores):"
    )
    print(f"  broker up                         {figures['broker_start_s']:.2f} s")
    print(f"  hubs online (retained discovery)  {figures['hubs_online_s']:.2f} s")
    print(
        f"  MQTT discovery in Home Assistant  {figures['discovery_s']:.2f} s"
        f" ({figures['mqtt_entities']} MQTT entities; CPU {figures['discovery_cpu_s']:.2f} s,"
        f" event loop {figures['discovery_loop_cpu_s']:.2f} s)"
    )
    print(
        f"  homes set up and healthy          {figures['homes_setup_s']:.2f} s"
        f" (CPU {figures['homes_setup_cpu_s']:.2f} s,"
        f" event loop {figures['homes_setup_loop_cpu_s']:.2f} s;"
        f" {1000 * figures['homes_setup_cpu_s'] / homes:.2f} ms CPU/home)"
    )
    total = figures["hubs_online_s"] + figures["discovery_s"] + figures["homes_setup_s"]
    print(f"  total                             {total:.2f} s; {figures['entities']} states")
    setup_s = figures["discovery_s"] + figures["homes_setup_s"]
    setup_cpu = figures["discovery_cpu_s"] + figures["homes_setup_cpu_s"]
    grown = figures["rss_homes_mib"] - figures["rss_before_mib"]
    print(
        f"  setup over an empty Home Assistant (discovery + homes): wall {setup_s:.2f} s,"
        f" CPU {setup_cpu:.2f} s (goal {SETUP_GOAL_S:.0f} s:"
        f" {'met' if setup_cpu <= SETUP_GOAL_S else 'not met'} in CPU,"
        f" {'met' if setup_s <= SETUP_GOAL_S else 'not met'} in wall time)"
    )
    print("memory (RSS):")
    print(
        f"  Home Assistant: {figures['rss_before_mib']:.0f} MiB before MQTT,"
        f" {figures['rss_discovered_mib']:.0f} MiB with the discovered entities,"
        f" {figures['rss_homes_mib']:.0f} MiB with the homes;"
        f" peak {figures['setup_peak_rss_mib']:.0f} MiB during setup"
    )
    print(
        f"  setup over an empty Home Assistant: +{grown:.1f} MiB"
        f" ({grown / homes:.3f} MiB/home; goal {SETUP_GOAL_MIB:.1f} MiB = 100 MB:"
        f" {'met' if grown <= SETUP_GOAL_MIB else 'not met'})"
    )
    print(
        f"  mosquitto: {figures['broker_rss_mib']:.1f} MiB"
        f" ({figures['broker_log_connections']} logins in its log);"
        f" hub simulators: {figures['hubs_rss_mib']:.0f} MiB in all"
    )
    if args.setup_only:
        return
    print(f"  peak RSS over the whole run: {figures['peak_rss_mib']:.0f} MiB")
    will_to_visit = figures["will_to_visit_s"]
    processing = [value - debounce for value in will_to_visit]
    print(
        f"hub loss: {figures['killed_hubs']} hubs SIGKILLed at once (one process), once Home"
        f" Assistant's loop was quiet ({figures['settle_s']:.1f} s after setup; the worst loop"
        f" lag until then {figures['settle_lag_max_s']:.2f} s, during the loss"
        f" {figures['loop_lag_max_s']:.3f} s); {figures['other_visits']} visits elsewhere"
    )
    print(f"  kill -> will published        {spread(figures['kill_to_will_s'])}")
    print(f"  will -> Home Assistant saw it {spread(figures['will_to_ha_s'])}")
    print(f"  will -> visit_required on     {spread(will_to_visit)}")
    print(f"    less the {debounce:.0f} s debounce      {spread(processing)}")
    hour_cpu = figures["hour_cpu_s"]
    print(
        f"simulated hour ({args.hour_steps} steps; {figures['hour_live_hubs']} live hubs,"
        f" {figures['hour_messages']} device reports): {figures['hour_wall_s']:.1f} s wall"
    )
    print(
        f"  CPU per simulated hour: Home Assistant {hour_cpu:.2f} s"
        f" ({100 * hour_cpu / 3600:.2f} % of a core;"
        f" {1000 * hour_cpu / figures['hour_messages']:.2f} ms per report),"
        f" mosquitto {figures['hour_broker_cpu_s']:.2f} s,"
        f" hub simulators {figures['hour_hubs_cpu_s']:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--homes", type=int, default=1000, help="homes and hubs (default 1000)")
    parser.add_argument(
        "--per-process", type=int, default=50, help="hubs per hub process; one is killed"
    )
    parser.add_argument("--hour-steps", type=int, default=60, help="reports per hub per hour")
    parser.add_argument("--dir", help="where the temporary directory goes")
    parser.add_argument("--broken-camera", action="store_true", help="no camera: must fail")
    parser.add_argument(
        "--setup-only", action="store_true", help="stop once the homes are set up and healthy"
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="cProfile discovery and the homes' setup into DIR (implies --setup-only)",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace the setup's allocations by area, file and line (implies --setup-only)",
    )
    args = parser.parse_args()
    args.setup_only = args.setup_only or bool(args.profile) or args.tracemalloc
    if args.homes < 2 * args.per_process:
        parser.error("--homes must be at least twice --per-process (one process is killed)")
    if mosquitto_path() is None:
        raise SystemExit(f"bench.fleet needs a real broker: {INSTALL_HINT}")
    limits = raise_fd_limit()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-fleet-", dir=args.dir) as tmp:
        try:
            asyncio.run(measure(args, Path(tmp), figures))
        except Degenerate as err:
            raise SystemExit(f"degenerate run: {err}") from None
    show(args, limits, figures)
    print(json.dumps({k: v for k, v in figures.items() if not isinstance(v, list)}))


if __name__ == "__main__":
    main()
