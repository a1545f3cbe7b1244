"""A watched installation's MQTT side: the heartbeat and the will of a Home Assistant.

``python -m simulators.installation --port P --username U --installation-id ID --name N
--will-topic T --home '{"entry_id": …, "name": …, "times": […], "physical_times": […],
"time_zone": …}' …`` (password in ``SIMULATORS_BROKER_PASSWORD``) stands for a Home Assistant
with the integration and `mqtt_publish` homes, as another installation's watcher sees it on the
broker. It connects as Home Assistant's MQTT integration does by default (MQTT 5, clean start,
keep-alive 60 s, a random client id, its will: ``offline`` on its birth/will topic, QoS 0, not
retained), announces itself there (``online``, its birth message), then publishes the heartbeat
the integration publishes, built by the integration's own pure functions
(`heartbeat.status_payload`, `home_plan`): retained, QoS 1, on
`trygghetskamera/installation/<id>/status`, at once and every ``--interval`` seconds (30 s, the
integration's `INTERVAL`). ``--no-will`` connects without a will (an MQTT entry whose will is
turned off): after SIGKILL only the heartbeat's staleness tells.

It prints ``loaded`` and waits for ``connect`` on its standard input (the bench starts it ahead,
so that Python's start-up is not in the restart it times); it prints ``ready`` once connected
and its birth announced, then ``beat <epoch seconds>`` just before each heartbeat is sent (so
the bench knows of every beat the broker may have). Each further line on its standard input,
``{"homes": […]}``, is a changed plan, published at once (as the integration does when a home's
options change); the 30 s beats go on in between. It runs until its standard input ends (the
bench stopped) or it is killed: SIGKILL is the crash the bench measures.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from datetime import UTC, datetime
import json
import os
import sys
import threading
import time
import types
from typing import Any
import uuid

from paho.mqtt.client import Client, MQTTv5
from paho.mqtt.enums import CallbackAPIVersion

from .child import PASSWORD_ENV, REPO_ROOT

# The integration's heartbeat module, without its package's __init__ (which imports the whole
# integration, PyAV and Home Assistant's components, for setting it up in a Home Assistant: a
# restart of this process would take half a minute on a busy machine instead of a few seconds).
# A bare package stands in for it, so heartbeat.py and what it imports are the real modules.
if "custom_components.trygghetskamera" not in sys.modules:
    _package = types.ModuleType("custom_components.trygghetskamera")
    _package.__path__ = [str(REPO_ROOT / "custom_components" / "trygghetskamera")]
    sys.modules[_package.__name__] = _package

from custom_components.trygghetskamera.heartbeat import (
    INTERVAL,
    STATE_ONLINE,
    home_plan,
    status_payload,
    status_topic,
)

VERSION = "bench"


def payload(args: argparse.Namespace, homes: list[dict[str, Any]]) -> str:
    """The heartbeat now, as the integration's `Heartbeat.payload` builds and sends it."""
    status = status_payload(
        STATE_ONLINE,
        datetime.now(UTC),
        VERSION,
        [
            home_plan(
                str(home["entry_id"]),
                str(home["name"]),
                list(home["times"]),
                list(home.get("physical_times") or []),
                time_zone=str(home["time_zone"]),
            )
            for home in homes
        ],
        name=args.name,
        will=None if args.no_will else args.will_topic,
    )
    return json.dumps(status, ensure_ascii=False)


def run(argv: Iterable[str] | None = None) -> int:
    """Connect, announce, beat until stdin ends; see the module's docstring."""
    parser = argparse.ArgumentParser(prog="python -m simulators.installation")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--username")
    parser.add_argument("--installation-id", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--will-topic", required=True)
    parser.add_argument("--no-will", action="store_true")
    parser.add_argument("--interval", type=float, default=INTERVAL.total_seconds())
    parser.add_argument("--home", action="append", default=[], type=json.loads)
    args = parser.parse_args(list(argv) if argv is not None else None)

    # Loaded (Home Assistant's modules imported): connect when told, so that a restart is timed
    # from its connection, not from Python's start.
    print("loaded", flush=True)
    if sys.stdin.readline().strip() != "connect":
        return 0
    # Home Assistant's MQTT client id: 22 base62 characters of a uuid4; any unique id will do.
    client = Client(CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex[:22], protocol=MQTTv5)
    if args.username is not None:
        client.username_pw_set(args.username, os.environ.get(PASSWORD_ENV))
    if not args.no_will:
        client.will_set(args.will_topic, "offline", qos=0, retain=False)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect(args.host, args.port, keepalive=60, clean_start=True)
    client.loop_start()
    if not connected.wait(30):
        print("not connected", flush=True)
        return 1
    client.publish(args.will_topic, "online", qos=0, retain=False).wait_for_publish(10)
    print("ready", flush=True)

    stopping = threading.Event()
    wake = threading.Event()
    homes: list[dict[str, Any]] = list(args.home)

    def beat() -> None:
        topic = status_topic(args.installation_id)
        due = time.monotonic()
        while not stopping.is_set():
            body = payload(args, homes)
            # Said before it is sent: a beat the broker has is always one the bench knows of.
            print(f"beat {time.time():.6f}", flush=True)
            client.publish(topic, body, qos=1, retain=True).wait_for_publish(10)
            if time.monotonic() >= due:
                due += args.interval
            # Home Assistant's interval runs on, whatever else makes it beat in between.
            wake.wait(max(0.0, due - time.monotonic()))
            wake.clear()

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    for line in sys.stdin:
        # A changed plan (an installer changed a home's agreed times): published at once.
        homes = list(json.loads(line)["homes"])
        wake.set()
    stopping.set()
    wake.set()
    beating.join(15)
    client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(run())
