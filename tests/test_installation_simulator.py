"""The watched installation of bench/watch_loss.py shows the broker what a Home Assistant would.

`simulators.installation` stands for a Home Assistant with the integration: these tests hold it
to that on a real mosquitto, read by a dispatch board's subscriber (both child processes): its
heartbeat is the integration's own payload (`heartbeat.status_payload`, `home_plan`), retained
at QoS 1 on the status topic; a changed plan is published at once; its birth is `online` and,
once SIGKILLed, its will `offline` (QoS 0, not retained, as Home Assistant's MQTT defaults);
started without a will, a kill leaves the will topic silent and the heartbeat names no will.
"""

from collections.abc import Iterator
from datetime import datetime
import json
from pathlib import Path
import subprocess
import sys
from typing import Any

import pytest

from custom_components.trygghetskamera.heartbeat import (
    STATE_ONLINE,
    home_plan,
    status_payload,
    status_topic,
)
from simulators.broker import Broker
from simulators.child import child_env
from simulators.installation import VERSION
from simulators.subscriber import Subscriber

from .mqtt_fixtures import fixture_broker, fixture_subscriber  # noqa: F401

# The broker's free port and readiness check open sockets in this process.
pytestmark = pytest.mark.usefixtures("socket_enabled")

ROOT = Path(__file__).resolve().parent.parent
INSTALLATION = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
WILL = "homeassistant/district-north/status"
HOME = {
    "entry_id": "home-lgh-7",
    "name": "Lgh 7",
    "times": ["22:30", "01:30"],
    "physical_times": ["01:30"],
    "time_zone": "Europe/Stockholm",
}


class Installation:
    """`python -m simulators.installation` as the bench drives it, line by line."""

    def __init__(self, broker: Broker, installation_id: str, *extra: str) -> None:
        command = [sys.executable, "-m", "simulators.installation", "--port", str(broker.port)]
        command += ["--username", broker.username, "--installation-id", installation_id]
        command += ["--name", "District North", "--will-topic", WILL, "--home", json.dumps(HOME)]
        self.process = subprocess.Popen(
            [*command, *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_env(broker.password),
            cwd=ROOT,
            text=True,
        )

    def line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def connect(self) -> None:
        assert self.line() == "loaded"
        self.send("connect")
        assert self.line() == "ready"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


@pytest.fixture(name="start")
def fixture_start(broker: Broker) -> Iterator[Any]:
    """Start installations; each is killed afterwards if still running."""
    started: list[Installation] = []

    def start(installation_id: str, *extra: str) -> Installation:
        installation = Installation(broker, installation_id, *extra)
        started.append(installation)
        return installation

    yield start
    for installation in started:
        if installation.process.poll() is None:
            installation.kill()


def test_it_publishes_the_integrations_heartbeat_and_home_assistants_will(
    start: Any, subscriber: Any
) -> None:
    board: Subscriber = subscriber(status_topic(INSTALLATION), WILL)
    installation = start(INSTALLATION)
    installation.connect()
    assert board.message_on(WILL) == {"topic": WILL, "payload": "online", "retain": False, "qos": 0}
    beat = installation.line()
    assert beat.startswith("beat ")
    message = board.message_on(status_topic(INSTALLATION))
    assert message["retain"] is False  # a live message to a subscriber; retained on the broker
    assert message["qos"] == 1
    sent = json.loads(message["payload"])
    assert sent == status_payload(
        STATE_ONLINE,
        # Its own time, as the integration's; the rest must be exactly the integration's payload.
        datetime.fromisoformat(sent["at"]),
        VERSION,
        [
            home_plan(
                "home-lgh-7", "Lgh 7", ["22:30", "01:30"], ["01:30"], time_zone=HOME["time_zone"]
            )
        ],
        name="District North",
        will=WILL,
    )
    # A changed plan goes out at once, not at the next 30 s beat.
    moved = {**HOME, "times": ["23:00"], "physical_times": []}
    installation.send(json.dumps({"homes": [moved]}))
    assert installation.line().startswith("beat ")
    assert json.loads(board.message_on(status_topic(INSTALLATION))["payload"])["homes"] == [moved]
    installation.kill()
    assert board.message_on(WILL) == {
        "topic": WILL,
        "payload": "offline",
        "retain": False,
        "qos": 0,
    }
    # The heartbeat stays on the broker, retained: what a watcher starting now reads.
    late: Subscriber = subscriber(status_topic(INSTALLATION))
    retained = late.message_on(status_topic(INSTALLATION))
    assert retained["retain"] is True
    assert json.loads(retained["payload"])["homes"] == [moved]


def test_without_a_will_a_kill_leaves_only_the_silent_heartbeat(
    start: Any, subscriber: Any
) -> None:
    board: Subscriber = subscriber(status_topic(INSTALLATION), WILL)
    installation = start(INSTALLATION, "--no-will")
    installation.connect()
    assert board.message_on(WILL)["payload"] == "online"
    installation.line()
    assert json.loads(board.message_on(status_topic(INSTALLATION))["payload"])["will_topic"] is None
    installation.kill()
    # Another installation announcing itself on the same topic after the kill: the next message
    # there is its birth, so the killed one left no will in between.
    other = start("1" * 32)
    other.connect()
    assert board.message_on(WILL)["payload"] == "online"
