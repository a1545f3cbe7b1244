"""Two real Home Assistants on a real mosquitto: one stands in for the other when it is down.

Installation B runs homes that publish over MQTT, so it beats its heartbeat
(`trygghetskamera/installation/<id>/status`); installation A watches B, set up as an installer
does: HA's MQTT config flow, then HA's own MQTT discovery offers B and the integration's `watch`
step is answered, all through the REST API the UI uses. Each is a `hass` process of its own with
its own config directory, started as `scripts/demo` starts Home Assistant; the homes' camera is
the simulated network camera of `simulators/camera.py`; the dispatch board is a real MQTT
subscriber (`simulators/subscriber.py`) on the same mosquitto.

The agreed times are a minute or two ahead on the real clock. The tests wait on what A says (its
websocket events, repairs, notifications, diagnostics) and on what the board hears, with generous
bounds for a loaded machine; never on sleeps. Nothing is mocked.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import shutil
import sys
import time
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import demo  # noqa: E402
from demo.config import INTEGRATION_DIR  # noqa: E402

from simulators.broker import INSTALL_HINT, Broker, mosquitto_path  # noqa: E402
from simulators.camera import MjpegServer  # noqa: E402
from simulators.subscriber import Subscriber  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("socket_enabled")]

DOMAIN = demo.DOMAIN
# The installations' names (Home Assistant's location name): what the notices call them.
A_NAME = "Hemtjänst Söder"
B_NAME = "Hemtjänst Norr"
TIME_ZONE = "Europe/Stockholm"
# The shortest silence the watch allows: the tests wait for it on the real clock.
STALE_SECONDS = 45
# B's own MQTT birth and will topic (docs/operations.md: each installation its own).
B_WILL_TOPIC = "homeassistant/installation_b/status"
# The first agreed time is at least this far ahead when the homes are added: B is killed before.
FIRST_TIME_AHEAD = timedelta(seconds=120)
# Bounds for a hang on a loaded 2-core machine, not estimates.
START_TIMEOUT_S = 300.0
FLOW_TIMEOUT_S = 120.0
NOTICE_TIMEOUT_S = 120.0
# How late after its agreed time a visit may come on a loaded machine (it must never come early).
LATE_S = 120.0

CONFIGURATION_YAML = """\
homeassistant:
  name: {name}
  time_zone: {time_zone}
  country: SE
  unit_system: metric

frontend:
config:

logger:
  default: warning
  logs:
    custom_components.{domain}: info
"""


async def until[T](what: str, probe: Callable[[], Awaitable[T | None]], timeout_s: float) -> T:
    """Call `probe` until it returns something other than None; fail saying what never came."""
    deadline = time.monotonic() + timeout_s
    while True:
        if (found := await probe()) is not None:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.5)


class EventStream:
    """A websocket subscription to events of Home Assistant, kept in order of arrival."""

    def __init__(self, session: aiohttp.ClientSession, ha: demo.HomeAssistant) -> None:
        """Nothing is subscribed before `open`."""
        self.session = session
        self.ha = ha
        self.events: list[dict[str, Any]] = []
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def open(self, *event_types: str) -> None:
        """Authenticate and subscribe to each event type; read in the background."""
        ws = await self.session.ws_connect(f"{self.ha.base}/api/websocket")
        await ws.receive_json()
        await ws.send_json({"type": "auth", "access_token": self.ha.token})
        assert (await ws.receive_json())["type"] == "auth_ok"
        for number, event_type in enumerate(event_types, start=1):
            await ws.send_json({"id": number, "type": "subscribe_events", "event_type": event_type})
            reply = await ws.receive_json()
            assert reply.get("success"), reply
        self._ws = ws
        self._reader = asyncio.create_task(self._read(ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            if data.get("type") == "event":
                self.events.append(data["event"])

    def of(self, event_type: str) -> list[dict[str, Any]]:
        """The events of that type received so far."""
        return [event for event in self.events if event["event_type"] == event_type]

    async def close(self) -> None:
        """Stop reading and close the websocket."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader


class Installation:
    """One Home Assistant installation: its config directory, its `hass` process, its API."""

    def __init__(
        self, root: Path, name: str, session: aiohttp.ClientSession, *, copy: bool = False
    ) -> None:
        """Write the config directory; with `copy`, the integration is copied, not linked."""
        self.name = name
        self.paths = demo.Paths(root / "config")
        self.paths.config.mkdir(parents=True)
        if copy:
            shutil.copytree(
                INTEGRATION_DIR,
                self.component,
                ignore=shutil.ignore_patterns("__pycache__"),
            )
        else:
            demo.link_integration(self.paths.config)
        (self.paths.config / "configuration.yaml").write_text(
            CONFIGURATION_YAML.format(name=name, time_zone=TIME_ZONE, domain=DOMAIN),
            encoding="utf-8",
        )
        self.port = demo.free_port()
        demo.write_http_config(self.paths.config, self.port)
        self.process = demo.Hass(self.paths)
        self.ha = demo.HomeAssistant(session, self.port)
        self.accounts: dict[str, demo.Account] = {}

    @property
    def component(self) -> Path:
        """The integration in this installation's `custom_components`."""
        return self.paths.config / "custom_components" / DOMAIN

    @property
    def audit_db(self) -> Path:
        """The integration's audit database."""
        return self.paths.config / ".storage" / f"{DOMAIN}_audit.db"

    async def start(self) -> dict[str, Any]:
        """Start `hass`, onboard the owner (or log in again) and wait until it runs."""
        await self.ha.close()
        process = self.process.start()
        await self.ha.wait_for_api(process)
        await demo.onboard(self.ha, self.paths, self.accounts)
        return await demo.wait_until_running(self.ha)

    async def kill(self) -> None:
        """SIGKILL: Home Assistant dies without a word, as in a power cut or an OOM kill."""
        process = self.process.process
        assert process is not None
        process.kill()
        await asyncio.to_thread(process.wait)
        await self.ha.close()

    async def stop(self) -> None:
        """Stop Home Assistant cleanly, if it runs."""
        await self.ha.close()
        await asyncio.to_thread(self.process.stop)

    async def ws(self, command: str, **data: Any) -> Any:
        """One websocket command on a fresh connection.

        The client reads its connection only while it waits for an answer, so it cannot
        answer Home Assistant's pings in between: a connection kept idle through a long wait
        would be closed by Home Assistant.
        """
        await self.ha.close()
        try:
            return await self.ha.ws(command, **data)
        finally:
            await self.ha.close()

    def log_tail(self) -> str:
        """The end of Home Assistant's log, for failure messages."""
        return demo.tail(self.paths.log, 40)

    async def post_flow(self, path: str, answers: dict[str, Any]) -> dict[str, Any]:
        """Answer a step of a config or options flow, as the UI's dialog posts it."""
        return dict(await self.ha.request("POST", path, answers))

    async def entries(self, domain: str) -> list[dict[str, Any]]:
        """The config entries of a domain (REST)."""
        return list(
            await self.ha.request("GET", f"/api/config/config_entries/entry?domain={domain}")
        )

    async def wait_loaded(self, domain: str, entry_id: str) -> None:
        """Until that config entry is loaded (fail at once on a setup error)."""

        async def loaded() -> bool | None:
            entry = next(e for e in await self.entries(domain) if e["entry_id"] == entry_id)
            assert entry["state"] not in ("setup_error", "failed_unload"), (
                f"{entry}\n{self.log_tail()}"
            )
            return True if entry["state"] == "loaded" else None

        await until(f"{self.name}'s {domain} entry to load", loaded, FLOW_TIMEOUT_S)


async def set_up_mqtt(installation: Installation, broker: Broker, *, will: str | None) -> None:
    """HA's MQTT config flow against the broker; then its options: own birth/will topic, or none."""
    flow = await installation.ha.request(
        "POST", "/api/config/config_entries/flow", {"handler": "mqtt"}
    )
    assert flow["step_id"] == "broker", flow
    result = await installation.post_flow(
        f"/api/config/config_entries/flow/{flow['flow_id']}",
        {
            "broker": broker.host,
            "port": broker.port,
            "protocol": "5",
            "username": broker.username,
            "password": broker.password,
            "other_settings": {"set_client_cert": False, "set_ca_cert": "off", "transport": "tcp"},
        },
    )
    assert result["type"] == "create_entry", result
    entry_id = str(result["result"]["entry_id"])
    await installation.wait_loaded("mqtt", entry_id)
    options = await installation.ha.request(
        "POST",
        "/api/config/config_entries/options/flow",
        {"handler": entry_id, "show_advanced_options": True},
    )
    assert options["step_id"] == "options", options
    topic = will or "homeassistant/status"
    result = await installation.post_flow(
        f"/api/config/config_entries/options/flow/{options['flow_id']}",
        {
            "discovery": True,
            "discovery_prefix": "homeassistant",
            "birth_enable": True,
            "birth_topic": topic,
            "birth_payload": "online",
            "birth_qos": 0,
            "birth_retain": False,
            "will_enable": will is not None,
            "will_topic": topic,
            "will_payload": "offline",
            "will_qos": 0,
            "will_retain": False,
        },
    )
    assert result["type"] == "create_entry", result
    await installation.wait_loaded("mqtt", entry_id)


def agreed_times(count: int) -> list[datetime]:
    """`count` agreed times a minute apart, the first at least FIRST_TIME_AHEAD from now."""
    soon = datetime.now(ZoneInfo(TIME_ZONE)) + FIRST_TIME_AHEAD
    first = soon.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return [first + timedelta(minutes=index) for index in range(count)]


async def add_home(
    installation: Installation, name: str, camera_url: str, agreed: datetime, operator_id: str
) -> str:
    """Add a home that publishes over MQTT through the integration's config flow."""
    answers: dict[str, dict[str, Any]] = {
        "camera": {"name": name, "stream_url": camera_url},
        "schedule": {
            "times": [agreed.strftime("%H:%M")],
            "view_seconds": 30,
            "slot_minutes": 30,
            "follow_up_minutes": 20,
            "follow_ups": 1,
        },
        "equipment": {"min_power_w": 1.0, "shared_equipment": False, "mqtt_publish": True},
        "operators": {"operators": [operator_id]},
        "consent": {"consent": True},
    }
    result = await installation.ha.request(
        "POST", "/api/config/config_entries/flow", {"handler": DOMAIN}
    )
    while result.get("type") == "form":
        assert not result.get("errors"), result
        result = await installation.post_flow(
            f"/api/config/config_entries/flow/{result['flow_id']}", answers[result["step_id"]]
        )
    assert result.get("type") == "create_entry", result
    return str(result["result"]["entry_id"])


def statuses(board: Subscriber, name: str) -> list[tuple[str, dict[str, Any]]]:
    """The installation statuses the board heard from the installation called `name`."""
    found = []
    for message in board.poll():
        parts = message["topic"].split("/")
        if len(parts) == 4 and parts[:2] == [DOMAIN, "installation"] and parts[3] == "status":
            status = json.loads(message["payload"] or "null")
            if isinstance(status, dict) and status.get("name") == name:
                found.append((parts[2], status))
    return found


def home_states(board: Subscriber, entry_id: str) -> list[dict[str, Any]]:
    """What the board heard on a home's state topic, oldest first."""
    return [json.loads(m["payload"]) for m in board.on(f"{DOMAIN}/{entry_id}/state")]


async def watch_through_discovery(a: Installation, b_id: str) -> str:
    """A is offered B by HA's MQTT discovery; the watch step is answered; the entry loads."""

    async def offered() -> dict[str, Any] | None:
        flows = await a.ws("config_entries/flow/progress")
        return next(
            (
                flow
                for flow in flows
                if flow["handler"] == DOMAIN
                and flow["context"].get("source") == "mqtt"
                and flow["context"].get("unique_id") == f"watch_{b_id}"
            ),
            None,
        )

    flow = await until("A's MQTT discovery to offer B", offered, FLOW_TIMEOUT_S)
    assert flow["step_id"] == "watch", flow
    assert flow["context"]["title_placeholders"] == {"name": B_NAME}
    result = await a.post_flow(
        f"/api/config/config_entries/flow/{flow['flow_id']}", {"stale_seconds": STALE_SECONDS}
    )
    assert result["type"] == "create_entry", result
    assert result["title"] == B_NAME
    entry_id = str(result["result"]["entry_id"])
    await a.wait_loaded(DOMAIN, entry_id)
    return entry_id


async def watch_state(a: Installation, entry_id: str) -> dict[str, Any]:
    """The watch's own diagnostics (REST): down since, why, last heard, homes, raised."""
    diagnostics = await a.ha.request("GET", f"/api/diagnostics/config_entry/{entry_id}")
    return dict(diagnostics["data"]["state"])


async def down_repair(a: Installation, b_id: str) -> dict[str, Any] | None:
    """A's repair issue for B being down, if there is one (websocket `repairs/list_issues`)."""
    issues = (await a.ws("repairs/list_issues"))["issues"]
    return next(
        (
            i
            for i in issues
            if i["domain"] == DOMAIN and i["issue_id"] == f"installation_down_{b_id}"
        ),
        None,
    )


async def down_notifications(a: Installation) -> list[dict[str, Any]]:
    """A's persistent notifications about a down installation (websocket)."""
    notifications = await a.ws("persistent_notification/get")
    return [
        n
        for n in notifications
        if str(n["notification_id"]).startswith(f"{DOMAIN}_installation_down_")
    ]


def visits_by_slot(events: EventStream) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The visits A raised for a down installation, by (home, slot)."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for event in events.of(f"{DOMAIN}_visit_required"):
        data = event["data"]
        if data.get("installation_down"):
            found.setdefault((data["entry_id"], data["slot"]), []).append(event)
    return found


def fired_at(event: dict[str, Any]) -> datetime:
    """When Home Assistant fired an event."""
    return datetime.fromisoformat(event["time_fired"])


@dataclass
class Watched:
    """B with its homes, A watching it, the board, and what A says."""

    a: Installation
    b: Installation
    b_id: str
    watch_entry: str
    homes: dict[str, tuple[str, datetime]]  # entry id -> (name, agreed time)
    board: Subscriber
    events: EventStream


@pytest.fixture(name="broker")
def fixture_broker(tmp_path: Path) -> Iterator[Broker]:
    """Debian's mosquitto on a free loopback port with password authentication."""
    if mosquitto_path() is None:
        pytest.fail(f"The watch tests need a real broker. {INSTALL_HINT}.", pytrace=False)
    with Broker.mosquitto(tmp_path / "mosquitto") as running:
        yield running


@pytest.fixture(name="camera")
def fixture_camera() -> Iterator[MjpegServer]:
    """The homes' camera: a bedroom at night over HTTP, as `simulators/camera.py` serves it."""
    with MjpegServer(seconds=2, size=(320, 240)) as server:
        yield server


@pytest.fixture(name="board")
def fixture_board(broker: Broker) -> Iterator[Subscriber]:
    """A dispatch board subscribed to everything the integration publishes."""
    with Subscriber(
        broker.host,
        broker.port,
        [f"{DOMAIN}/#", B_WILL_TOPIC],
        username=broker.username,
        password=broker.password,
    ) as board:
        yield board


@pytest.fixture(name="session")
async def fixture_session() -> AsyncIterator[aiohttp.ClientSession]:
    """The HTTP client of both installations' APIs."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        yield session


async def watched(
    tmp_path: Path,
    session: aiohttp.ClientSession,
    broker: Broker,
    camera: MjpegServer,
    board: Subscriber,
    installations: list[Installation],
    *,
    b_will: str | None,
    copy_b: bool = False,
    homes: int,
) -> Watched:
    """Start A and B, give B its homes (agreed times ahead), let A watch B through discovery."""
    a = Installation(tmp_path / "a", A_NAME, session)
    b = Installation(tmp_path / "b", B_NAME, session, copy=copy_b)
    installations += [a, b]
    async with asyncio.timeout(START_TIMEOUT_S):
        await asyncio.gather(a.start(), b.start())
    await set_up_mqtt(b, broker, will=b_will)
    operator_id = await demo.ensure_operator(b.ha, b.paths, b.accounts)
    names = ["Lgh 1203", "Lgh 0907"][:homes]
    agreed = agreed_times(homes)
    added: dict[str, tuple[str, datetime]] = {}
    for index, (name, at) in enumerate(zip(names, agreed, strict=True)):
        url = camera.url if index == 0 else f"{camera.url}?home={index}"
        added[await add_home(b, name, url, at, operator_id)] = (name, at)

    async def b_beats_its_homes() -> str | None:
        for b_id, status in reversed(statuses(board, B_NAME)):
            if status["state"] == "online" and len(status["homes"]) == homes:
                return b_id
        return None

    b_id = await until("B's heartbeat with its homes", b_beats_its_homes, FLOW_TIMEOUT_S)
    await set_up_mqtt(a, broker, will=None)
    events = EventStream(session, a.ha)
    await events.open(f"{DOMAIN}_visit_required", f"{DOMAIN}_installation_recovered")
    watch_entry = await watch_through_discovery(a, b_id)

    async def following() -> dict[str, Any] | None:
        state = await watch_state(a, watch_entry)
        return state if state["homes"] == homes and state["last_seen"] else None

    state = await until("A to follow B's plan", following, FLOW_TIMEOUT_S)
    assert state["down_since"] is None, state
    assert state["will_topic"] == b_will, state
    first_heard = datetime.fromisoformat(state["last_seen"])

    # A live beat of B after the watch was set up: A's subscriptions (B's status and will)
    # have long been acknowledged by the broker when it comes (B beats every 30 s).
    async def heard_again() -> dict[str, Any] | None:
        state = await watch_state(a, watch_entry)
        return state if datetime.fromisoformat(state["last_seen"]) > first_heard else None

    state = await until("A to hear B's next beat", heard_again, FLOW_TIMEOUT_S)
    assert state["down_since"] is None, state
    return Watched(a, b, b_id, watch_entry, added, board, events)


async def stop_all(installations: list[Installation], events: EventStream | None) -> None:
    """Stop every Home Assistant this test started."""
    if events is not None:
        await events.close()
    for installation in installations:
        await installation.stop()


async def assert_down_notices(w: Watched, reason: str) -> dict[str, Any]:
    """A has one critical repair, one notification and the board says `down` for B's homes."""
    repair = await until(
        "A's repair for B being down", lambda: down_repair(w.a, w.b_id), NOTICE_TIMEOUT_S
    )
    assert repair["severity"] == "critical", repair
    assert repair["translation_key"] == "installation_down"
    assert repair["translation_placeholders"]["installation"] == B_NAME
    state = await watch_state(w.a, w.watch_entry)
    assert state["down_reason"] == reason, (state, w.board.poll()[-8:], w.a.log_tail())
    notifications = await down_notifications(w.a)
    assert len(notifications) == 1, notifications
    assert notifications[0]["notification_id"] == f"{DOMAIN}_installation_down_{w.b_id}"
    assert notifications[0]["title"].startswith(f"Installation {B_NAME} is down since")

    async def board_says_down() -> bool | None:
        return (
            True
            if all(
                (states := home_states(w.board, entry_id)) and states[-1]["status"] == "down"
                for entry_id in w.homes
            )
            else None
        )

    await until("the board to show B's homes down", board_says_down, NOTICE_TIMEOUT_S)
    for entry_id, (name, _at) in w.homes.items():
        last = home_states(w.board, entry_id)[-1]
        assert last["name"] == name
        assert last["installation_down"] is True
        assert last["installation_id"] == w.b_id
    return state


async def assert_visits_at_agreed_times(w: Watched) -> None:
    """A raises one visit per home at its agreed time (never before), none twice."""
    latest = max(at for _name, at in w.homes.values())
    wait_s = (latest - datetime.now(UTC)).total_seconds() + LATE_S

    async def all_raised() -> bool | None:
        return True if len(visits_by_slot(w.events)) >= len(w.homes) else None

    await until("A to raise a visit for each of B's homes", all_raised, max(wait_s, LATE_S))
    raised = visits_by_slot(w.events)
    expected = {(entry_id, at.isoformat()) for entry_id, (_name, at) in w.homes.items()}
    assert set(raised) == expected, raised
    for (entry_id, _slot), events in raised.items():
        assert len(events) == 1, events
        name, at = w.homes[entry_id]
        data = events[0]["data"]
        assert data["name"] == name
        assert data["reason"] == "fault"
        assert data["urgent"] is False
        assert data["device_id"] is None
        assert data["installation_id"] == w.b_id
        assert data["visit_id"]
        assert fired_at(events[0]) >= at, (events[0], at)
        assert fired_at(events[0]) <= at + timedelta(seconds=LATE_S), (events[0], at)


async def test_killed_installation_is_stood_in_for_and_recovers_once(
    tmp_path: Path,
    session: aiohttp.ClientSession,
    broker: Broker,
    camera: MjpegServer,
    board: Subscriber,
) -> None:
    """SIGKILL B: its MQTT will says offline at once; A raises each home's visit, then B is back.

    B has its own birth/will topic, as docs/operations.md tells: the broker publishes B's will
    the moment the kill drops B's connection, so A goes down with reason `offline` (not by
    staleness). A keeps one critical repair and one notification, the board shows `down` for
    each of B's homes, and at each agreed time A raises exactly one visit. When B is started
    again: exactly one `installation_recovered`, the repair and the notification go, and no
    (home, slot) was ever raised twice.
    """
    installations: list[Installation] = []
    events: EventStream | None = None
    try:
        w = await watched(
            tmp_path, session, broker, camera, board, installations, b_will=B_WILL_TOPIC, homes=2
        )
        events = w.events
        first = min(at for _name, at in w.homes.values())
        assert datetime.now(UTC) < first - timedelta(seconds=5), (
            f"the set-up took until after the first agreed time {first}: B must be killed before"
        )
        killed = datetime.now(UTC)
        await w.b.kill()
        state = await assert_down_notices(w, "offline")
        # Down from when B was last heard (its last beat), before the kill.
        down_since = datetime.fromisoformat(state["down_since"])
        assert down_since <= killed, state
        assert killed - down_since <= timedelta(seconds=60), state
        await assert_visits_at_agreed_times(w)
        assert not w.events.of(f"{DOMAIN}_installation_recovered")

        # B comes back: one recovery, the notices go, nothing raised again.
        beats_before = len(statuses(board, B_NAME))
        async with asyncio.timeout(START_TIMEOUT_S):
            await w.b.start()

        async def recovered() -> bool | None:
            return True if w.events.of(f"{DOMAIN}_installation_recovered") else None

        await until("A to hear B is back", recovered, NOTICE_TIMEOUT_S)
        back = fired_at(w.events.of(f"{DOMAIN}_installation_recovered")[0])

        # B's regular beat after the one that brought it back (one every 30 s): a second
        # recovery, or a visit raised again, would have come by then.
        async def next_regular_beat() -> bool | None:
            later = [
                status
                for _id, status in statuses(board, B_NAME)[beats_before:]
                if status["state"] == "online"
                and datetime.fromisoformat(status["at"]) > back + timedelta(seconds=31)
            ]
            return True if later else None

        await until("B's next regular heartbeat", next_regular_beat, NOTICE_TIMEOUT_S)
        recoveries = w.events.of(f"{DOMAIN}_installation_recovered")
        assert len(recoveries) == 1, recoveries
        data = recoveries[0]["data"]
        assert data["installation_id"] == w.b_id
        assert data["name"] == B_NAME
        assert datetime.fromisoformat(data["down_since"]) == down_since
        assert await down_repair(w.a, w.b_id) is None
        assert await down_notifications(w.a) == []
        state = await watch_state(w.a, w.watch_entry)
        assert state["down_since"] is None, state
        assert state["raised"] == len(w.homes), state
        raised = visits_by_slot(w.events)
        assert len(raised) == len(w.homes)
        assert all(len(events) == 1 for events in raised.values()), raised
        # The board no longer shows B's homes as down: B publishes their states again.
        for entry_id in w.homes:
            assert home_states(board, entry_id)[-1].get("status") != "down", entry_id
    finally:
        await stop_all(installations, events)


def break_audit_database(b: Installation) -> None:
    """The audit database cannot be opened: its path is a directory (the log moved aside)."""
    aside = b.audit_db.with_name("audit-aside")
    aside.mkdir()
    for path in b.audit_db.parent.glob(f"{b.audit_db.name}*"):
        path.rename(aside / path.name)
    b.audit_db.mkdir()


def break_import(b: Installation) -> None:
    """A failed upgrade: the integration's package raises ImportError when imported."""
    init = b.component / "__init__.py"
    text = init.read_text(encoding="utf-8")
    init.write_text(
        text.replace(
            "from .audit_review import",
            "from .no_such_module import gone  # noqa\nfrom .audit_review import",
            1,
        ),
        encoding="utf-8",
    )


@pytest.mark.parametrize(
    "break_it", [break_audit_database, break_import], ids=["audit_db", "import"]
)
async def test_installation_whose_integration_does_not_start_is_noticed_by_its_silence(
    tmp_path: Path,
    session: aiohttp.ClientSession,
    broker: Broker,
    camera: MjpegServer,
    board: Subscriber,
    break_it: Callable[[Installation], None],
) -> None:
    """B's Home Assistant runs again, but the integration does not: A notices the silence.

    B has no MQTT will here, so only the missing heartbeat can tell A. B is killed, broken (its
    audit database unreadable, or an import error in its copy of the integration) and started
    again: Home Assistant runs and its MQTT client is connected, the integration is not set up.
    B must not claim `online` (the board hears nothing from it), and A goes down by staleness
    (after `stale_seconds`, the minimum 45 s) and raises each home's visit at its agreed time.
    """
    installations: list[Installation] = []
    events: EventStream | None = None
    try:
        w = await watched(
            tmp_path,
            session,
            broker,
            camera,
            board,
            installations,
            b_will=None,
            copy_b=True,
            homes=1,
        )
        events = w.events
        first = min(at for _name, at in w.homes.values())
        assert datetime.now(UTC) < first - timedelta(seconds=5), (
            f"the set-up took until after the first agreed time {first}: B must be killed before"
        )
        await w.b.kill()
        # Whatever B stamps after this comes from the restarted B.
        killed = datetime.now(UTC)
        break_it(w.b)
        async with asyncio.timeout(START_TIMEOUT_S):
            config = await w.b.start()
        assert DOMAIN not in config["components"], w.b.log_tail()
        entries = await w.b.entries(DOMAIN)
        assert len(entries) == len(w.homes), entries
        assert all(e["state"] != "loaded" for e in entries), entries
        await assert_down_notices(w, "stale")
        await assert_visits_at_agreed_times(w)
        # All along, the broken B said nothing (no status stamped after its death) and A never
        # thought it back.
        said = [s for _id, s in statuses(board, B_NAME) if datetime.fromisoformat(s["at"]) > killed]
        assert said == [], said
        assert not w.events.of(f"{DOMAIN}_installation_recovered")
        assert (await watch_state(w.a, w.watch_entry))["down_reason"] == "stale"
    finally:
        await stop_all(installations, events)
