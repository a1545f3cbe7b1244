"""A Zigbee2MQTT home hub: a metering plug and a bed occupancy sensor behind a real MQTT broker.

Each home's hub is a Zigbee2MQTT with its own ``base_topic`` ``zigbee2mqtt/<hub_id>``. It speaks
Zigbee2MQTT's real topics and payloads:

- ``<base>/bridge/state``: ``{"state": "online"}`` retained once connected, and the same topic is
  the connection's MQTT **last will** ``{"state": "offline"}`` (retained), so the broker announces
  a hub that dies without a clean disconnect; a clean stop publishes ``offline`` itself.
- ``<base>/<hub_id>_plug``: ``{"state": "ON"|"OFF", "power": W, "linkquality": n}``; commands on
  ``<base>/<hub_id>_plug/set`` (``{"state": "ON"}``, plain ``ON``/``OFF``/``TOGGLE``, or
  ``.../set/state``) switch it and publish the new state.
- ``<base>/<hub_id>_bed``: ``{"occupancy": bool, "battery": percent, "linkquality": n}``.
- Home Assistant MQTT discovery under ``homeassistant/`` (retained), as Zigbee2MQTT publishes it:
  the plug's ``switch`` and ``power`` sensor, the bed's ``occupancy`` binary sensor (availability
  on ``<base>/bridge/state`` with ``value_template: "{{ value_json.state }}"``), and the bridge's
  ``connection_state`` binary sensor (device class ``connectivity``, ``online``/``offline``; like
  Zigbee2MQTT's it has no availability of its own, so a dead hub reads *off*, not unavailable).

Device states are published retained (Zigbee2MQTT's per-device ``retain: true``), so a Home
Assistant that connects later still reads them; the hub republishes everything on every
(re)connection (our brokers keep no persistence) and when Home Assistant's birth message
``homeassistant/status`` = ``online`` arrives, as Zigbee2MQTT does.

``Hub.equipment()`` gives the entity ids Home Assistant creates (from ``default_entity_id``), keyed
like the integration's equipment options; should one be taken, look the entity up in the entity
registry by the ``Hub.unique_ids()`` of platform ``mqtt`` (``er.async_get_entity_id``).

Run ``python -m simulators.hub --help`` for the process entry point (many hubs in one process).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
import contextlib
import hashlib
import itertools
import json
import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType
from typing import Any

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from .child import PASSWORD_ENV, ChildProcess, StartStop

_LOGGER = logging.getLogger(__name__)

DISCOVERY_PREFIX = "homeassistant"
HA_STATUS_TOPIC = f"{DISCOVERY_PREFIX}/status"
ORIGIN = {"name": "Zigbee2MQTT", "sw": "simulated", "url": "https://www.zigbee2mqtt.io"}
ONLINE = json.dumps({"state": "online"})
OFFLINE = json.dumps({"state": "offline"})
AVAILABILITY_TEMPLATE = "{{ value_json.state }}"


def ieee_address(*parts: str) -> str:
    """A stable IEEE address for a simulated device (same hub id, same device, same address)."""
    return "0x" + hashlib.sha1("/".join(parts).encode()).hexdigest()[:16]


class HubError(RuntimeError):
    """The hub could not connect to the broker in time."""


class Hub(StartStop):
    """One home's Zigbee2MQTT hub, connected to the broker with its own will.

    Thread-safe: the MQTT connection runs in paho's network thread; the ``set_*`` methods may be
    called from any thread (a test, the demo's command loop).
    """

    def __init__(
        self,
        host: str,
        port: int,
        hub_id: str,
        *,
        username: str | None = None,
        password: str | None = None,
        base_topic: str | None = None,
        plug_on: bool = True,
        power_w: float = 6.5,
        occupancy: bool = True,
        battery: int = 100,
        keepalive_s: int = 60,
    ) -> None:
        """Describe the hub and its two devices; nothing connects before ``start()``."""
        if not hub_id or any(char in hub_id for char in "/+#"):
            raise ValueError(f"hub id must be a non-empty topic level, got {hub_id!r}")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.hub_id = hub_id
        self.base_topic = base_topic or f"zigbee2mqtt/{hub_id}"
        self.keepalive_s = keepalive_s
        self.plug_name = f"{hub_id}_plug"
        self.bed_name = f"{hub_id}_bed"
        self.coordinator_ieee = ieee_address(hub_id, "coordinator")
        self.plug_ieee = ieee_address(hub_id, "plug")
        self.bed_ieee = ieee_address(hub_id, "bed")
        self._lock = threading.Lock()
        self._plug_on = plug_on
        self._load_w = power_w  # what the camera and router draw while the plug is on
        self._occupancy = occupancy
        self._battery = battery
        self._client: Client | None = None
        self._online = threading.Event()
        self._online_mid = -1
        self.connections = 0  # how many times the hub (re)connected; for tests and logs

    # --- topics and what Home Assistant makes of them ---------------------------------------
    @property
    def bridge_state_topic(self) -> str:
        """``<base>/bridge/state``: online retained, and the will."""
        return f"{self.base_topic}/bridge/state"

    @property
    def plug_topic(self) -> str:
        """The plug's state topic."""
        return f"{self.base_topic}/{self.plug_name}"

    @property
    def bed_topic(self) -> str:
        """The bed sensor's state topic."""
        return f"{self.base_topic}/{self.bed_name}"

    def equipment(self) -> dict[str, str]:
        """Entity ids Home Assistant creates, keyed as the integration's equipment options."""
        return {
            "plug_entity": f"switch.{self.plug_name}",
            "power_entity": f"sensor.{self.plug_name}_power",
            "bed_entity": f"binary_sensor.{self.bed_name}_occupancy",
            "connectivity_entity": f"binary_sensor.{self.hub_id}_bridge_connection_state",
        }

    def unique_ids(self) -> dict[str, str]:
        """Discovery ``unique_id`` of each entity (platform ``mqtt``), keyed as ``equipment()``."""
        return {key: config["unique_id"] for key, (_, config) in self._discovery().items()}

    def discovery_messages(self) -> list[tuple[str, dict[str, Any]]]:
        """(topic, config) of every discovery message the hub publishes."""
        return list(self._discovery().values())

    def _discovery(self) -> dict[str, tuple[str, dict[str, Any]]]:
        base = self.base_topic
        availability = [{"topic": self.bridge_state_topic, "value_template": AVAILABILITY_TEMPLATE}]
        bridge_id = f"zigbee2mqtt_bridge_{self.coordinator_ieee}"
        bridge_device = {
            "identifiers": [bridge_id],
            "manufacturer": "Zigbee2MQTT",
            "model": "Bridge",
            "name": f"Zigbee2MQTT Bridge {self.hub_id}",
            "sw_version": ORIGIN["sw"],
        }
        plug_device = {
            "identifiers": [f"zigbee2mqtt_{self.plug_ieee}"],
            "manufacturer": "Simulated",
            "model": "Metering smart plug",
            "name": self.plug_name,
            "via_device": bridge_id,
        }
        bed_device = {
            "identifiers": [f"zigbee2mqtt_{self.bed_ieee}"],
            "manufacturer": "Simulated",
            "model": "Bed occupancy sensor",
            "name": self.bed_name,
            "via_device": bridge_id,
        }
        equipment = self.equipment()

        def unique(ieee: str, object_id: str) -> str:
            return f"{ieee}_{object_id}_{base}"

        return {
            "plug_entity": (
                f"{DISCOVERY_PREFIX}/switch/{self.plug_ieee}/switch/config",
                {
                    "availability": availability,
                    "command_topic": f"{self.plug_topic}/set",
                    "default_entity_id": equipment["plug_entity"],
                    "device": plug_device,
                    "name": None,
                    "origin": ORIGIN,
                    "payload_off": "OFF",
                    "payload_on": "ON",
                    "state_topic": self.plug_topic,
                    "unique_id": unique(self.plug_ieee, "switch"),
                    "value_template": "{{ value_json.state }}",
                },
            ),
            "power_entity": (
                f"{DISCOVERY_PREFIX}/sensor/{self.plug_ieee}/power/config",
                {
                    "availability": availability,
                    "default_entity_id": equipment["power_entity"],
                    "device": plug_device,
                    "device_class": "power",
                    "enabled_by_default": True,
                    "name": "Power",
                    "origin": ORIGIN,
                    "state_class": "measurement",
                    "state_topic": self.plug_topic,
                    "unique_id": unique(self.plug_ieee, "power"),
                    "unit_of_measurement": "W",
                    "value_template": "{{ value_json.power }}",
                },
            ),
            "bed_entity": (
                f"{DISCOVERY_PREFIX}/binary_sensor/{self.bed_ieee}/occupancy/config",
                {
                    "availability": availability,
                    "default_entity_id": equipment["bed_entity"],
                    "device": bed_device,
                    "device_class": "occupancy",
                    "name": "Occupancy",
                    "origin": ORIGIN,
                    "payload_off": False,
                    "payload_on": True,
                    "state_topic": self.bed_topic,
                    "unique_id": unique(self.bed_ieee, "occupancy"),
                    "value_template": "{{ value_json.occupancy }}",
                },
            ),
            "connectivity_entity": (
                # Zigbee2MQTT's node id for bridge entities: the char codes of "zigbee2mqtt".
                f"{DISCOVERY_PREFIX}/binary_sensor/"
                f"1221051039810110150109113116116_{self.coordinator_ieee}/connection_state/config",
                {
                    "default_entity_id": equipment["connectivity_entity"],
                    "device": bridge_device,
                    "device_class": "connectivity",
                    "entity_category": "diagnostic",
                    "name": "Connection state",
                    "origin": ORIGIN,
                    "payload_off": "offline",
                    "payload_on": "online",
                    "state_topic": self.bridge_state_topic,
                    "unique_id": f"bridge_{self.coordinator_ieee}_connection_state_{base}",
                    "value_template": AVAILABILITY_TEMPLATE,
                },
            ),
        }

    # --- device state -----------------------------------------------------------------------
    def plug_state(self) -> dict[str, Any]:
        """The plug's current state payload; it draws nothing while off."""
        with self._lock:
            power = round(self._load_w, 2) if self._plug_on else 0.0
            return {"state": "ON" if self._plug_on else "OFF", "power": power, "linkquality": 120}

    def bed_state(self) -> dict[str, Any]:
        """The bed sensor's current state payload."""
        with self._lock:
            return {"occupancy": self._occupancy, "battery": self._battery, "linkquality": 96}

    def set_plug(self, on: bool) -> None:
        """Switch the plug (as a resident pulling it would) and publish its state."""
        with self._lock:
            self._plug_on = on
        self._publish_plug()

    def set_power(self, watts: float) -> None:
        """Set the load's draw while the plug is on (0 = camera and router dead) and publish."""
        with self._lock:
            self._load_w = float(watts)
        self._publish_plug()

    def set_occupancy(self, occupied: bool) -> None:
        """Set the bed sensor and publish it."""
        with self._lock:
            self._occupancy = occupied
        self._publish(self.bed_topic, self.bed_state())

    # --- connection -------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        """True while connected with the bridge announced online."""
        return self._online.is_set()

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect (with the will) and return once the hub is online; HubError on timeout."""
        self.connect()
        if not self.wait_online(timeout_s):
            self.stop()
            raise HubError(
                f"hub {self.hub_id} could not come online at {self.host}:{self.port} "
                f"within {timeout_s} s"
            )

    def connect(self) -> None:
        """Start connecting in the background (see ``wait_online``); reconnects by itself."""
        if self._client is not None:
            return
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"zigbee2mqtt-{self.hub_id}",
            protocol=MQTTv311,
            clean_session=True,
        )
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        client.enable_logger(_LOGGER)
        client.will_set(self.bridge_state_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        self._client = client
        client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        client.loop_start()

    def wait_online(self, timeout_s: float) -> bool:
        """Wait until the hub is online; False on timeout."""
        return self._online.wait(timeout_s)

    def stop(self) -> None:
        """Stop cleanly, as Zigbee2MQTT does: publish ``offline`` (retained), then disconnect."""
        client, self._client = self._client, None
        if client is None:
            return
        if self._online.is_set():
            info = client.publish(self.bridge_state_topic, OFFLINE, qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=5)
        self._online.clear()
        client.disconnect()
        client.loop_stop()

    def die(self) -> None:
        """Die uncleanly: the connection drops without DISCONNECT, so the broker sends the will."""
        client, self._client = self._client, None
        if client is None:
            return
        self._online.clear()
        sock = client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        # The broker sees the connection end at once; stop paho before it reconnects.
        client.loop_stop()
        with contextlib.suppress(OSError):
            if isinstance(sock, socket.socket):
                sock.close()

    def __repr__(self) -> str:
        """Hub id, base topic and whether it is online."""
        return f"<Hub {self.hub_id} {self.base_topic} {'online' if self.online else 'offline'}>"

    # --- paho callbacks (network thread) ----------------------------------------------------
    def _on_connect(
        self,
        client: Client,
        userdata: Any,
        flags: ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            return
        self.connections += 1
        client.subscribe(
            [(f"{self.plug_topic}/set", 1), (f"{self.plug_topic}/set/+", 1), (HA_STATUS_TOPIC, 1)]
        )
        self._publish_everything(client)
        info = client.publish(self.bridge_state_topic, ONLINE, qos=1, retain=True)
        # Online once the broker acknowledged this message: it went out after the discovery
        # and the states above, on the same connection, so the broker holds all of them.
        self._online_mid = info.mid

    def _on_publish(
        self,
        client: Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if mid == self._online_mid:
            self._online.set()

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._online.clear()

    def _on_message(self, client: Client, userdata: Any, message: MQTTMessage) -> None:
        payload = message.payload.decode(errors="replace").strip()
        if message.topic == HA_STATUS_TOPIC:
            if payload == "online":
                self._publish_everything(client)
            return
        if message.topic.endswith("/set/state"):
            wanted: Any = payload
        else:
            try:
                parsed = json.loads(payload)
            except ValueError:
                parsed = payload
            wanted = parsed.get("state") if isinstance(parsed, dict) else parsed
        if not isinstance(wanted, str):
            return
        wanted = wanted.upper()
        with self._lock:
            if wanted == "TOGGLE":
                self._plug_on = not self._plug_on
            elif wanted in ("ON", "OFF"):
                self._plug_on = wanted == "ON"
            else:
                return
        self._publish_plug()

    # --- publishing -------------------------------------------------------------------------
    def _publish_everything(self, client: Client) -> None:
        for topic, config in self._discovery().values():
            client.publish(topic, json.dumps(config), qos=1, retain=True)
        client.publish(self.plug_topic, json.dumps(self.plug_state()), qos=1, retain=True)
        client.publish(self.bed_topic, json.dumps(self.bed_state()), qos=1, retain=True)

    def _publish_plug(self) -> None:
        self._publish(self.plug_topic, self.plug_state())

    def _publish(self, topic: str, payload: dict[str, Any]) -> None:
        client = self._client
        if client is not None:
            client.publish(topic, json.dumps(payload), qos=1, retain=True)


# --- hubs in a child process -------------------------------------------------------------------


class HubProcess(StartStop):
    """Hubs run by ``python -m simulators.hub`` in a child process; a context manager.

    One MQTT connection and one will per hub; ``kill()`` is SIGKILL, so the broker publishes every
    hub's will, as when a home's router loses power. The child runs on the real clock whatever a
    test does to this process's clock. ``hubs`` holds a (never connected) ``Hub`` per id for
    ``equipment()`` and ``unique_ids()``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        hub_ids: Iterable[str],
        *,
        username: str | None = None,
        password: str | None = None,
        power_w: float = 6.5,
        timeout_s: float = 60.0,
        python: str = sys.executable,
    ) -> None:
        """Describe the process; nothing runs before ``start()`` (or ``with``)."""
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.power_w = power_w
        self.timeout_s = timeout_s
        self.python = python
        self.hubs = {hub_id: Hub(host, port, hub_id) for hub_id in hub_ids}
        self._ids = itertools.count(1)
        arguments = ["--host", host, "--port", str(port), "--power", str(power_w)]
        arguments += ["--timeout", str(timeout_s)]
        if username is not None:
            arguments += ["--username", username]
        for hub_id in self.hubs:
            arguments += ["--hub", hub_id]
        self._child = ChildProcess(
            "hub", arguments, password=password, error=HubError, python=python
        )

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._child.pid

    def start(self) -> None:
        """Start the child and return once it printed ``ready <n>`` (every hub online)."""
        self._child.spawn()
        line = self._child.read_line(self.timeout_s + 5)
        if line != f"ready {len(self.hubs)}":
            self.kill()
            raise HubError(f"hub process did not get ready: {line!r}")

    def command(self, hub_id: str, **fields: Any) -> None:
        """Send one command (``plug``, ``power``, ``occupancy``, ``die``, ``stop``, ``start``).

        Returns once the child carried it out (the MQTT message is sent, not necessarily
        delivered).
        """
        command_id = next(self._ids)
        self._child.write_line(json.dumps({"hub": hub_id, **fields, "id": command_id}))
        answer = self._child.read_line(10.0)
        if answer != f"ok {command_id}":
            raise HubError(f"command {fields} for {hub_id} failed: {answer!r}")

    def kill(self) -> None:
        """SIGKILL: every hub drops without DISCONNECT; the broker publishes every will."""
        self._child.kill()

    def stop(self) -> None:
        """Stop cleanly: each hub publishes ``offline`` and disconnects (end of stdin)."""
        self._child.stop()


# --- process entry point ------------------------------------------------------------------------
def _hub_ids(args: argparse.Namespace) -> list[str]:
    if args.hub:
        return list(dict.fromkeys(args.hub))
    return [f"{args.prefix}{number}" for number in range(1, args.count + 1)]


def _answer(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _command(hubs: dict[str, Hub], line: str) -> str:
    """Carry out one JSON command; return ``ok`` or ``error <why>``."""
    try:
        command = json.loads(line)
        hub = hubs[command["hub"]]
    except (ValueError, KeyError, TypeError) as err:
        return f"error {type(err).__name__}: {err}"
    if "plug" in command:
        hub.set_plug(bool(command["plug"]))
    if "power" in command:
        hub.set_power(float(command["power"]))
    if "occupancy" in command:
        hub.set_occupancy(bool(command["occupancy"]))
    if command.get("die"):
        hub.die()
    if command.get("stop"):
        hub.stop()
    if command.get("start"):
        hub.connect()
    return "ok"


def run(argv: Iterable[str] | None = None) -> int:
    """Run hubs until SIGTERM/SIGINT or the end of stdin; see ``--help``."""
    parser = argparse.ArgumentParser(
        prog="python -m simulators.hub",
        description=(
            "Zigbee2MQTT home hubs (plug + bed sensor) on an MQTT broker, one connection and one "
            "will per hub. Prints 'ready <n>' once every hub is online, then reads JSON commands, "
            'one per line: {"hub": "lgh1", "plug": false}, {"hub": "lgh1", "power": 0.0}, '
            '{"hub": "lgh1", "occupancy": true}, {"hub": "lgh1", "die": true} (drop without '
            'DISCONNECT), {"hub": "lgh1", "stop": true} (clean), {"hub": "lgh1", "start": true}. '
            'A command with an "id" is answered "ok <id>" or "error <id> <why>". The end of stdin '
            "stops every hub cleanly (unless --no-stdin); SIGKILL makes the broker send every "
            "hub's will."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--username")
    parser.add_argument(
        "--password",
        help="or the environment variable SIMULATORS_BROKER_PASSWORD (keeps it out of ps)",
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--hub", action="append", help="a hub id (repeatable), e.g. lgh1203")
    group.add_argument("--count", type=int, help="run N hubs named <prefix>1 … <prefix>N")
    parser.add_argument("--prefix", default="lgh")
    parser.add_argument("--power", type=float, default=6.5, help="each plug's load in W")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to come online")
    parser.add_argument("--no-stdin", action="store_true", help="ignore stdin; run until killed")
    args = parser.parse_args(list(argv) if argv is not None else None)
    password = args.password or os.environ.get(PASSWORD_ENV)

    hubs = {
        hub_id: Hub(
            args.host,
            args.port,
            hub_id,
            username=args.username,
            password=password,
            power_w=args.power,
        )
        for hub_id in _hub_ids(args)
    }
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    for hub in hubs.values():
        hub.connect()
    late = [hub.hub_id for hub in hubs.values() if not hub.wait_online(args.timeout)]
    if late:
        print(f"hubs not online after {args.timeout} s: {' '.join(late)}", file=sys.stderr)
        for hub in hubs.values():
            hub.stop()
        return 1
    _answer(f"ready {len(hubs)}")

    if not args.no_stdin:

        def read_commands() -> None:
            for line in sys.stdin:
                if not line.strip():
                    continue
                answer = _command(hubs, line)
                with contextlib.suppress(ValueError, AttributeError, TypeError):
                    command_id = json.loads(line).get("id")
                    if command_id is not None:
                        word, _, why = answer.partition(" ")
                        _answer(f"{word} {command_id} {why}".rstrip())
                        continue
                if answer != "ok":
                    print(answer, file=sys.stderr)
            stopping.set()

        threading.Thread(target=read_commands, name="hub-commands", daemon=True).start()

    stopping.wait()
    for hub in hubs.values():
        hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(run())
