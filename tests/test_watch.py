"""An installation that cannot go silent: its heartbeat, and another installation watching it.

Real parts: Debian's mosquitto, Home Assistant's own MQTT integration connected to it, the real
MQTT discovery that offers to watch an installation seen on the broker, a dispatch board's
subscriber in a child process. The *watched* installation is played by this test publishing its
heartbeat and will through the same broker (the two-process tests, `test_watch_processes.py`,
run a real second Home Assistant); Home Assistant's clock is held by `freezer` and moved by the
test, so staleness and agreed times are exact.
"""

from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import mqtt, persistent_notification
from homeassistant.config_entries import SOURCE_MQTT, ConfigEntryState
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import instance_id, issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.trygghetskamera.audit_trail import AUDIT_TRAIL
from custom_components.trygghetskamera.const import (
    CONF_INSTALLATION_ID,
    CONF_KIND,
    CONF_STALE_SECONDS,
    DOMAIN,
    EVENT_INSTALLATION_RECOVERED,
    EVENT_VISIT_REQUIRED,
    KIND_WATCH,
)
from custom_components.trygghetskamera.diagnostics import async_get_config_entry_diagnostics
from custom_components.trygghetskamera.heartbeat import HEARTBEAT, status_topic
from custom_components.trygghetskamera.mqtt_publish import state_topic
from custom_components.trygghetskamera.watch import issue_id, notification_id
from simulators.subscriber import Subscriber

from .mqtt_fixtures import (  # the fixture_* functions are pytest fixtures used by name
    fixture_broker,  # noqa: F401
    fixture_configuration_yaml,  # noqa: F401
    fixture_mqtt_entry,  # noqa: F401
    fixture_subscriber,  # noqa: F401
    wait_for,
)
from .test_runtime import at, new_home

BLUEPRINTS = Path(__file__).parent.parent / "blueprints" / "automation" / DOMAIN
OTHER = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
OTHER_WILL = "homeassistant/district-north/status"
HOMES = [
    {
        "entry_id": "home-lgh-7",
        "name": "Lgh 7",
        "times": ["22:30", "01:30"],
        "physical_times": [],
        "time_zone": "Europe/Stockholm",
    },
    {
        "entry_id": "home-lgh-9",
        "name": "Lgh 9",
        "times": ["23:00"],
        "physical_times": ["23:00"],
        "time_zone": "Europe/Stockholm",
    },
]


def now() -> datetime:
    """Home Assistant's clock."""
    return datetime.now(UTC)


def heartbeat(state: str = "online", at_: datetime | None = None) -> str:
    """The other installation's status, as its heartbeat publishes it."""
    return json.dumps(
        {
            "state": state,
            "at": (at_ or now()).isoformat(),
            "version": "0.1.0",
            "homes": HOMES,
            "name": "District North",
            "will_topic": OTHER_WILL,
        }
    )


async def beat(hass: HomeAssistant, state: str = "online", at_: datetime | None = None) -> None:
    """The other installation beats once (retained, as its heartbeat does)."""
    await mqtt.async_publish(hass, status_topic(OTHER), heartbeat(state, at_), qos=1, retain=True)


class Watched:
    """What the watcher does about the other installation, as the bus and registries show it."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Listen to the bus."""
        self.hass = hass
        self.visits: list[dict[str, Any]] = []
        self.recovered: list[dict[str, Any]] = []

        @callback
        def on_visit(event: Event) -> None:
            self.visits.append(dict(event.data))

        @callback
        def on_recovered(event: Event) -> None:
            self.recovered.append(dict(event.data))

        hass.bus.async_listen(EVENT_VISIT_REQUIRED, on_visit)
        hass.bus.async_listen(EVENT_INSTALLATION_RECOVERED, on_recovered)

    def repair(self) -> ir.IssueEntry | None:
        """The open repair issue of the down installation."""
        return ir.async_get(self.hass).async_get_issue(DOMAIN, issue_id(OTHER))

    def notification(self) -> dict[str, Any] | None:
        """The persistent notification of the down installation."""
        shown = persistent_notification._async_get_or_create_notifications(self.hass)
        return shown.get(notification_id(OTHER))

    async def records(self, kind: str) -> list[Any]:
        """The watcher's audit records of a kind."""
        log = self.hass.data[AUDIT_TRAIL].log
        return [
            record
            for record in await self.hass.async_add_executor_job(log.query)
            if record.kind == kind
        ]


async def go(hass: HomeAssistant, freezer: FrozenDateTimeFactory, moment: datetime) -> None:
    """Move Home Assistant's clock to `moment` and run what fell due."""
    freezer.move_to(moment)
    async_fire_time_changed(hass, moment)
    await hass.async_block_till_done()


async def notify_blueprint(hass: HomeAssistant) -> None:
    """The shipped notify blueprint, every home, no reminders, into a notification `patrol`."""
    shutil.copytree(BLUEPRINTS, Path(hass.config.path("blueprints", "automation", DOMAIN)))
    assert await async_setup_component(hass, "persistent_notification", {})
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "id": "patrol",
                "alias": "patrol",
                "use_blueprint": {
                    "path": f"{DOMAIN}/notify_visit_required.yaml",
                    "input": {
                        "reminders": 0,
                        "notify": [
                            {
                                "action": "persistent_notification.create",
                                "data": {
                                    "title": "{{ title }}",
                                    "message": "{{ message }}",
                                    "notification_id": "patrol",
                                },
                            }
                        ],
                    },
                },
            }
        },
    )
    await hass.async_block_till_done()


async def watch_through_discovery(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> MockConfigEntry:
    """The installer picks the installation the broker showed (MQTT discovery) and watches it."""
    await beat(hass)

    def offered() -> list[Any]:
        return [
            flow
            for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
            if flow["context"]["source"] == SOURCE_MQTT
        ]

    await wait_for(hass, freezer, lambda: bool(offered()), "the installation to be discovered")
    [flow] = offered()
    assert flow["step_id"] == "watch"
    assert flow["context"]["title_placeholders"] == {"name": "District North"}
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_STALE_SECONDS: 90}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_KIND: KIND_WATCH, CONF_INSTALLATION_ID: OTHER}
    assert result["options"] == {CONF_STALE_SECONDS: 90}
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    # Subscribed and heard the retained heartbeat: up.
    await wait_for(hass, freezer, lambda: entry.runtime_data.plan.get("homes") == HOMES, "plan")
    return entry


async def test_the_heartbeat_carries_each_publishing_homes_plan(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mqtt_entry: MockConfigEntry,
    subscriber: Any,
    night_video: Path,
) -> None:
    own = await instance_id.async_get(hass)
    topic = status_topic(own)
    board: Subscriber = subscriber(topic)
    home = await new_home(hass, freezer, night_video, now(), mqtt_publish=True)
    await wait_for(hass, freezer, lambda: bool(board.on(topic)), "the first heartbeat")
    first = json.loads(board.on(topic)[-1]["payload"])
    assert first["state"] == "online"
    assert first["version"] == "0.1.0"
    assert first["homes"] == [
        {
            "entry_id": home.entry.entry_id,
            "name": "Lgh 1203",
            "times": list(home.entry.options["times"]),
            "physical_times": [],
            "time_zone": "Europe/Stockholm",
        }
    ]
    assert first["will_topic"] == "homeassistant/status"
    assert board.on(topic)[-1]["qos"] == 1
    # Every 30 s on Home Assistant's clock, with the time it was sent.
    moved = now() + timedelta(seconds=31)
    await go(hass, freezer, moved)

    def sent_since_moved() -> bool:
        return any(
            datetime.fromisoformat(json.loads(message["payload"])["at"]) >= moved
            for message in board.on(topic)
        )

    await wait_for(hass, freezer, sent_since_moved, "the next heartbeat")
    # Its own heartbeat is seen by its own MQTT discovery, and never offered to watch.
    await hass.async_block_till_done()
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_the_heartbeat_beats_when_a_homes_plan_changes_not_when_it_is_set_up_again(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mqtt_entry: MockConfigEntry,
    night_video: Path,
) -> None:
    """A state change of a home (1000 of them at a start) says nothing new: no extra beat.

    Before, every state change of every home beat at once, each beat reading every entry: a
    start of N homes read N entries about 2N times (bench/fleet.py). A change of what the
    payload says (its times) still beats at once.
    """
    home = await new_home(hass, freezer, night_video, now(), mqtt_publish=True)
    await hass.async_block_till_done(wait_background_tasks=True)
    heartbeat = hass.data[HEARTBEAT]
    assert heartbeat.last_payload is not None
    first = heartbeat.last_payload["at"]
    # Set up again, a second later on Home Assistant's clock (no interval beat is due yet).
    freezer.tick(timedelta(seconds=1))
    assert await hass.config_entries.async_reload(home.entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert home.entry.state is ConfigEntryState.LOADED
    assert heartbeat.last_payload["at"] == first
    freezer.tick(timedelta(seconds=1))
    hass.config_entries.async_update_entry(
        home.entry, options={**home.entry.options, "times": ["23:00", "03:30"]}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert heartbeat.last_payload["at"] != first
    assert heartbeat.last_payload["homes"][0]["times"] == ["23:00", "03:30"]


async def test_a_home_without_mqtt_publish_is_not_in_any_heartbeat(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mqtt_entry: MockConfigEntry,
    subscriber: Any,
    night_video: Path,
) -> None:
    board: Subscriber = subscriber("trygghetskamera/installation/#")
    await new_home(hass, freezer, night_video, now())
    await go(hass, freezer, now() + timedelta(seconds=61))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert board.poll() == []


async def test_a_silent_installation_has_its_homes_visits_raised_at_their_agreed_times(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mqtt_entry: MockConfigEntry,
    subscriber: Any,
) -> None:
    watched = Watched(hass)
    board: Subscriber = subscriber("trygghetskamera/+/state")
    entry = await watch_through_discovery(hass, freezer)
    # It beats: 89 s after the last beat it is still up.
    await go(hass, freezer, now() + timedelta(seconds=30))
    await beat(hass)
    await wait_for(hass, freezer, lambda: entry.runtime_data.last_seen == now(), "a beat")
    last = now()
    await go(hass, freezer, last + timedelta(seconds=89))
    assert watched.repair() is None
    assert not entry.runtime_data.down

    # It goes silent: down after 90 s, one critical repair, one notification with the time.
    await go(hass, freezer, last + timedelta(seconds=92))
    assert entry.runtime_data.down
    repair = watched.repair()
    assert repair is not None
    assert repair.severity is ir.IssueSeverity.CRITICAL
    since = last.astimezone(at("21:00").tzinfo).strftime("%H:%M")
    assert repair.translation_placeholders == {"installation": "District North", "since": since}
    notification = watched.notification()
    assert notification is not None
    assert notification["title"] == f"Installation District North is down since {since}"
    [down] = await watched.records("installation_down")
    assert down.data["installation_id"] == OTHER
    assert down.data["reason"] == "stale"
    assert watched.visits == []
    # A dispatch board sees `down`, never a stale `waiting`, for each of its homes.
    for home in HOMES:
        topic = state_topic(home["entry_id"])
        await wait_for(hass, freezer, lambda t=topic: bool(board.on(t)), f"{topic}")
        state = json.loads(board.on(topic)[-1]["payload"])
        assert (state["status"], state["installation_down"], state["name"]) == (
            "down",
            True,
            home["name"],
        )

    # At each agreed time of each home: one visit, reason fault, installation_down; the shipped
    # notify blueprint sends the patrol as for any other visit.
    await notify_blueprint(hass)
    await go(hass, freezer, at("22:30"))
    shown = persistent_notification._async_get_or_create_notifications(hass)["patrol"]
    assert shown["title"] == "Visit required: Lgh 7"
    assert "the installation that supervises the home is down" in shown["message"]
    assert "22:30" in shown["message"]
    [visit] = watched.visits
    assert {key: visit[key] for key in visit if key != "visit_id"} == {
        "entry_id": "home-lgh-7",
        "device_id": None,
        "name": "Lgh 7",
        "reason": "fault",
        "urgent": False,
        "slot": at("22:30").isoformat(),
        "installation_down": True,
        "installation_id": OTHER,
    }
    await go(hass, freezer, at("22:45"))
    await go(hass, freezer, at("23:00"))
    assert [(v["name"], v["slot"]) for v in watched.visits] == [
        ("Lgh 7", at("22:30").isoformat()),
        ("Lgh 9", at("23:00").isoformat()),
    ]
    records = await watched.records("visit_required")
    assert [(r.home, r.data["installation_down"]) for r in records] == [
        ("Lgh 7", True),
        ("Lgh 9", True),
    ]

    # The watcher itself restarts: nothing raised twice, and it continues.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await go(hass, freezer, at("23:01"))
    assert len(watched.visits) == 2, watched.visits
    assert entry.runtime_data.down

    # What an installer downloads says so.
    # (Called directly: the harness's HTTP token has expired on the clock moved by hours.)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["data"] == {CONF_KIND: KIND_WATCH, CONF_INSTALLATION_ID: OTHER}
    assert diagnostics["state"]["down_since"] == last.isoformat()
    assert diagnostics["state"]["raised"] == 2

    # It comes back: one recovered event, the repair closes, the notification goes.
    await beat(hass)
    await wait_for(hass, freezer, lambda: bool(watched.recovered), "the recovery")
    [recovered] = watched.recovered
    assert recovered["installation_id"] == OTHER
    assert recovered["down_since"] == last.isoformat()
    assert watched.repair() is None
    assert watched.notification() is None
    assert len(await watched.records("installation_recovered")) == 1
    await go(hass, freezer, now() + timedelta(seconds=60))
    assert len(watched.visits) == 2
    assert len(watched.recovered) == 1
    assert not entry.runtime_data.down


async def test_a_will_or_a_clean_stop_means_down_at_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mqtt_entry: MockConfigEntry,
) -> None:
    watched = Watched(hass)
    entry = await watch_through_discovery(hass, freezer)
    await mqtt.async_publish(hass, OTHER_WILL, "offline")
    await wait_for(hass, freezer, lambda: entry.runtime_data.down, "down on the will")
    [down] = await watched.records("installation_down")
    assert down.data["reason"] == "offline"
    assert watched.repair() is not None

    await beat(hass)
    await wait_for(hass, freezer, lambda: not entry.runtime_data.down, "back on a beat")
    await beat(hass, "stopping")
    await wait_for(hass, freezer, lambda: entry.runtime_data.down, "down on stopping")
    assert [r.data["reason"] for r in await watched.records("installation_down")] == [
        "offline",
        "stopping",
    ]
    assert len(watched.recovered) == 1


async def test_a_watcher_started_after_the_other_died_reads_its_last_heartbeat(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mqtt_entry: MockConfigEntry,
) -> None:
    """The retained heartbeat is 3 h old: down since then, and the slots meanwhile are raised."""
    watched = Watched(hass)
    await go(hass, freezer, at("23:30"))
    await beat(hass, at_=at("20:30"))
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="District North",
        data={CONF_KIND: KIND_WATCH, CONF_INSTALLATION_ID: OTHER},
        options={CONF_STALE_SECONDS: 90},
        unique_id=f"watch_{OTHER}",
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_for(hass, freezer, lambda: entry.runtime_data.down, "down from the old beat")
    assert entry.runtime_data.down_since == at("20:30")
    assert sorted((v["name"], v["slot"]) for v in watched.visits) == [
        ("Lgh 7", at("22:30").isoformat()),
        ("Lgh 9", at("23:00").isoformat()),
    ]
