"""Broker traffic of the installation heartbeat: 10 installations x 100 homes, per hour.

    .venv/bin/python -m bench.watch [--installations 10] [--homes 100] [--boards 1]

Each payload is the one the integration publishes (`heartbeat.status_payload`, `home_plan`),
for homes with three agreed times (one of them a physical visit), pseudonymous labels, entry
ids and installation ids of Home Assistant's own lengths; its size is that of its UTF-8 JSON,
as `mqtt.async_publish` sends it. On the wire, per heartbeat: an MQTT 5 PUBLISH at QoS 1
(fixed header, topic, packet id, empty properties, payload) from the installation to the
broker and its PUBACK; then one PUBLISH (and PUBACK) from the broker per subscription that
matches: every installation's Home Assistant subscribes to all heartbeats (MQTT discovery of
installations to watch, its own included), each installation is watched by one other (a ring:
one more subscription), and `--boards` dispatch boards subscribe to `trygghetskamera/#`.
A beat every 30 s is 120 an hour. TCP/IP and TLS overhead are left out (per packet about 52
and 29 bytes; printed separately).

The bench checks itself: a payload that does not carry every home and agreed time, or one
that does not grow with the number of homes, fails the run.
"""

import argparse
from datetime import UTC, datetime
import json
from pathlib import Path
import sys

ROOT = Path(__file__).resolve().parent.parent
# The harness ships its own `custom_components` package: ours must be found first.
sys.path.insert(0, str(ROOT))

# ruff: noqa: E402

from custom_components.trygghetskamera.heartbeat import (
    INTERVAL,
    STATE_ONLINE,
    home_plan,
    status_payload,
    status_topic,
)

BEATS_PER_HOUR = int(3600 / INTERVAL.total_seconds())
# Per packet on the wire beyond MQTT: IPv4 + TCP with timestamps, and a TLS 1.3 record.
TCP_IP_BYTES = 52
TLS_BYTES = 29


def payload(installation: int, homes: int) -> bytes:
    """The heartbeat of one installation with `homes` homes, as published."""
    plans = [
        home_plan(
            f"01JH{installation:02d}{home:04d}{'X' * 16}",  # a ULID's 26 characters
            f"Lgh {1000 + home}",
            ["22:30", "01:30", "04:30"],
            ["04:30"],
            time_zone="Europe/Stockholm",
        )
        for home in range(homes)
    ]
    status = status_payload(
        STATE_ONLINE,
        datetime(2026, 1, 15, 21, 0, 30, 123456, tzinfo=UTC),
        "0.2.0",
        plans,
        name=f"District {installation}",
        will=f"homeassistant/district-{installation}/status",
    )
    return json.dumps(status, ensure_ascii=False).encode()


def _varint_length(value: int) -> int:
    length = 1
    while value >= 128:
        value //= 128
        length += 1
    return length


def publish_bytes(topic: str, body: bytes) -> int:
    """An MQTT 5 PUBLISH at QoS 1 with no properties."""
    remaining = 2 + len(topic.encode()) + 2 + 1 + len(body)
    return 1 + _varint_length(remaining) + remaining


PUBACK_BYTES = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--installations", type=int, default=10)
    parser.add_argument("--homes", type=int, default=100)
    parser.add_argument("--boards", type=int, default=1)
    args = parser.parse_args()
    installations, homes = args.installations, args.homes
    if installations < 2 or homes < 1:
        raise SystemExit("degenerate run: at least two installations with a home each")
    bodies = [payload(index, homes) for index in range(installations)]
    for body in bodies:
        status = json.loads(body)
        if len(status["homes"]) != homes or any(
            len(home["times"]) != 3 for home in status["homes"]
        ):
            raise SystemExit("degenerate run: a heartbeat does not carry every home and time")
    if len(payload(0, homes + 1)) <= len(bodies[0]):
        raise SystemExit("degenerate run: the heartbeat does not grow with its homes")
    topic = status_topic("0123456789abcdef0123456789abcdef")
    packets = [publish_bytes(topic, body) for body in bodies]
    # Deliveries of each beat: every installation's discovery, one watcher, the boards.
    deliveries = installations + 1 + args.boards
    per_beat = [(1 + deliveries) * (packet + PUBACK_BYTES) for packet in packets]
    per_hour = sum(per_beat) * BEATS_PER_HOUR
    messages_per_hour = installations * BEATS_PER_HOUR * (1 + deliveries)
    overhead = messages_per_hour * 2 * (TCP_IP_BYTES + TLS_BYTES)
    print(
        f"heartbeat of {homes} homes: {len(bodies[0])} bytes of JSON"
        f" ({len(bodies[0]) / homes:.0f} per home), {packets[0]} bytes as an MQTT 5 PUBLISH"
    )
    print(
        f"{installations} installations x {homes} homes, a beat every"
        f" {INTERVAL.total_seconds():.0f} s, each delivered {deliveries} times"
        f" ({installations} discovery subscriptions, 1 watcher, {args.boards} board(s)):"
    )
    print(
        f"  {messages_per_hour} PUBLISH an hour through the broker,"
        f" {per_hour / 1e6:.1f} MB an hour of MQTT ({per_hour * 8 / 3600 / 1e3:.0f} kbit/s),"
        f" plus {overhead / 1e6:.1f} MB of TCP/IP and TLS headers"
    )


if __name__ == "__main__":
    main()
