"""Fixtures for the MQTT tests: Debian's mosquitto, HA's real MQTT integration, home hubs.

Nothing here is mocked. ``broker`` runs mosquitto on a free loopback port with a generated
password file; ``mqtt_entry`` sets up Home Assistant's own MQTT integration as a config entry
against it (its client talks to the broker through real sockets, hence ``socket_enabled``);
``hubs`` starts Zigbee2MQTT hub simulators (``simulators.hub``) that publish discovery and wills;
``subscriber`` is a dispatch board's subscriber (``simulators.subscriber``). Hubs and subscriber
run as child processes: paho's network thread cannot run in a process whose clock `freezer`
holds (it mixes the frozen and the real monotonic clock and drops its own connection), and a
hub in a deployment is another machine anyway. Without mosquitto the fixtures fail with the
reason (and how to install it), never skip.

Imported by tests/test_mqtt.py: each fixture is a ``fixture_<name>`` function, used as ``<name>``.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
import time
from typing import Any

import freezegun.api
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import mqtt
from homeassistant.components.mqtt.client import DISCOVERY_COOLDOWN
from homeassistant.components.mqtt.models import ReceiveMessage
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from simulators.broker import INSTALL_HINT, Broker, mosquitto_path
from simulators.hub import Hub, HubProcess
from simulators.subscriber import Subscriber

from .test_runtime import at

# Where every MQTT test starts: 21:00 on the test night, before HA's MQTT client is set up, so
# that its timers are armed on the clock the test then only moves forward.
EVENING = at("21:00")


@pytest.fixture(name="broker")
def fixture_broker(tmp_path: Path) -> Iterator[Broker]:
    """Debian's mosquitto on a free loopback port with password authentication."""
    if mosquitto_path() is None:
        pytest.fail(f"The MQTT tests need a real broker. {INSTALL_HINT}.", pytrace=False)
    with Broker.mosquitto(tmp_path / "mosquitto") as running:
        yield running


async def wait_for(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    condition: Callable[[], bool],
    what: str,
    *,
    timeout_s: float = 15.0,
    step: timedelta | None = None,
) -> None:
    """Run Home Assistant until `condition` holds, its clock following the real time spent.

    The broker's messages come over real sockets, in real time; Home Assistant's clock is held
    by `freezer`, and its MQTT client batches subscriptions on timers of that clock. So each
    round sleeps a moment in an executor thread (the loop keeps reading its sockets), moves HA's
    clock on by the real time that passed, and fires the timers due by then: HA runs as it
    would, and the test still decides every larger step of time. With `step`, HA's clock moves
    by that much each round instead. Fails saying what never came.
    """
    # The real clock, read through freezegun's module: `freezer` holds (and `tick` moves) the
    # patched ones, and swaps any copy of the real function it finds in other modules.
    real_monotonic = freezegun.api.real_monotonic
    deadline = real_monotonic() + timeout_s
    loop = asyncio.get_running_loop()
    while True:
        await hass.async_block_till_done()
        if condition():
            return
        if real_monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        before = real_monotonic()
        await loop.run_in_executor(None, time.sleep, 0.02)
        freezer.tick(step or timedelta(seconds=real_monotonic() - before))
        async_fire_time_changed(hass)


@pytest.fixture(name="configuration_yaml")
def fixture_configuration_yaml(hass_config_dir: str) -> Path:
    """An empty configuration.yaml, as on a new installation configured through the UI.

    MQTT reads its YAML items from it when its config entry is set up.
    """
    path = Path(hass_config_dir) / "configuration.yaml"
    path.touch()
    return path


@pytest.fixture(name="mqtt_entry")
async def fixture_mqtt_entry(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    socket_enabled: None,
    broker: Broker,
    configuration_yaml: Path,
) -> AsyncIterator[MockConfigEntry]:
    """Home Assistant's MQTT integration, set up as a config entry and connected to `broker`."""
    await hass.config.async_set_time_zone("Europe/Stockholm")
    freezer.move_to(EVENING)
    entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        title="MQTT",
        data={
            mqtt.CONF_BROKER: broker.host,
            "port": broker.port,
            "username": broker.username,
            "password": broker.password,
            # What the UI sets up today (MQTT 5); the hubs speak 3.1.1, as Zigbee2MQTT does.
            mqtt.CONF_PROTOCOL: "5",
            # paho measures its keep-alive on the clock the tests move by hours at a time: with
            # the protocol's longest keep-alive (18 h) a jump never looks like a dead broker.
            mqtt.CONF_KEEPALIVE: 65535,
        },
        version=2,
        minor_version=1,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    await wait_for(hass, freezer, lambda: mqtt.is_connected(hass), "HA's MQTT client to connect")
    # Home Assistant announces itself (its birth message) after a cool-down on its own clock:
    # let it pass now, or the announcement would fall into whatever the test does next.
    births: list[str] = []

    @callback
    def on_status(message: ReceiveMessage) -> None:
        births.append(str(message.payload))

    unsubscribe = await mqtt.async_subscribe(hass, "homeassistant/status", on_status)
    await wait_for(
        hass,
        freezer,
        lambda: "online" in births,
        "HA's birth message",
        step=timedelta(seconds=DISCOVERY_COOLDOWN / 5),
    )
    unsubscribe()
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture(name="hubs")
def fixture_hubs(broker: Broker) -> Iterator[Callable[..., HubProcess]]:
    """Start hubs in a child process: ``home = hubs("lgh1203")``; stopped afterwards.

    A child process, as in a deployment: it runs on the real clock while `freezer` holds this
    one's still, and SIGKILL (``kill()``) drops its connections the way a power cut does.
    """
    started: list[HubProcess] = []

    def start(*hub_ids: str, **kwargs: Any) -> HubProcess:
        process = HubProcess(
            broker.host,
            broker.port,
            hub_ids,
            username=broker.username,
            password=broker.password,
            **kwargs,
        )
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(name="subscriber")
def fixture_subscriber(broker: Broker) -> Iterator[Callable[..., Subscriber]]:
    """Subscribe like a dispatch board: ``board = subscriber("trygghetskamera/#")``."""
    started: list[Subscriber] = []

    def start(*topics: str) -> Subscriber:
        board = Subscriber(
            broker.host, broker.port, topics, username=broker.username, password=broker.password
        )
        board.start()
        started.append(board)
        return board

    yield start
    for board in started:
        board.stop()


def equipment_ready(hass: HomeAssistant, hub: Hub) -> bool:
    """Every entity the hub's discovery creates exists and reports a real state."""
    for entity_id in hub.equipment().values():
        state = hass.states.get(entity_id)
        if state is None or state.state in ("unavailable", "unknown"):
            return False
    return True


def mqtt_entity_ids(hass: HomeAssistant, hub: Hub) -> dict[str, str | None]:
    """The entity ids HA gave the hub's entities, found by their discovery unique ids."""
    registry = er.async_get(hass)
    ids: dict[str, str | None] = {}
    for key, unique_id in hub.unique_ids().items():
        domain = hub.equipment()[key].partition(".")[0]
        ids[key] = registry.async_get_entity_id(domain, mqtt.DOMAIN, unique_id)
    return ids
