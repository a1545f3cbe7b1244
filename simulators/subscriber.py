"""A dispatch board's MQTT subscriber: prints every message it receives as one JSON line.

``python -m simulators.subscriber --port P --username U --topic 'trygghetskamera/#'`` (password in
``SIMULATORS_BROKER_PASSWORD``; runs until SIGTERM or the end of stdin) prints ``ready`` once
subscribed, then one line per message:
``{"topic": …, "payload": …, "retain": bool, "qos": n}`` (``payload`` as text). ``Subscriber``
runs it as a child process and hands the messages to a test, the demo or a bench; a child
process, so that it keeps the real clock whatever the caller does to its own (``freezer``).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
import contextlib
import json
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from paho.mqtt.client import Client, ConnectFlags, MQTTMessage, MQTTv311
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from .child import PASSWORD_ENV, ChildProcess, StartStop


class SubscriberError(RuntimeError):
    """The subscriber did not get ready, or no message came in time."""


class Subscriber(StartStop):
    """``python -m simulators.subscriber`` in a child process; a context manager."""

    def __init__(
        self,
        host: str,
        port: int,
        topics: Iterable[str],
        *,
        username: str | None = None,
        password: str | None = None,
        python: str = sys.executable,
    ) -> None:
        """Describe the subscription; nothing runs before ``start()`` (or ``with``)."""
        self.host, self.port = host, port
        self.topics = list(topics)
        self.username, self.password = username, password
        self.received: list[dict[str, Any]] = []
        arguments = ["--host", host, "--port", str(port)]
        if username is not None:
            arguments += ["--username", username]
        for topic in self.topics:
            arguments += ["--topic", topic]
        self._child = ChildProcess(
            "subscriber", arguments, password=password, error=SubscriberError, python=python
        )

    def start(self, timeout_s: float = 15.0) -> None:
        """Start and return once the broker acknowledged the subscription."""
        self._child.spawn()
        if (line := self._child.read_line(timeout_s)) != "ready":
            self.stop()
            raise SubscriberError(f"the subscriber did not get ready: {line!r}")

    def next_message(self, timeout_s: float = 15.0) -> dict[str, Any]:
        """The next message: ``{"topic", "payload", "retain", "qos"}``; blocks up to the timeout."""
        message = json.loads(self._child.read_line(timeout_s))
        self.received.append(message)
        return message

    def poll(self) -> list[dict[str, Any]]:
        """Every message received so far, reading what has arrived without blocking.

        For a caller that must keep its own event loop running while it waits (a test driving
        Home Assistant): call it in that loop's waiting condition.
        """
        while True:
            try:
                line = self._child.read_line(0.0)
            except SubscriberError:
                return self.received
            self.received.append(json.loads(line))

    def on(self, topic: str) -> list[dict[str, Any]]:
        """The messages received so far on ``topic`` (without blocking)."""
        return [message for message in self.poll() if message["topic"] == topic]

    def message_on(self, topic: str, timeout_s: float = 15.0) -> dict[str, Any]:
        """The next message on ``topic`` (messages on other topics are passed over)."""
        deadline = time.monotonic() + timeout_s
        while True:
            message = self.next_message(max(0.0, deadline - time.monotonic()))
            if message["topic"] == topic:
                return message

    def stop(self) -> None:
        """Stop the child."""
        self._child.stop(5.0, terminate=True)


def run(argv: Iterable[str] | None = None) -> int:
    """Subscribe and print; see the module's docstring."""
    parser = argparse.ArgumentParser(prog="python -m simulators.subscriber")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--username")
    parser.add_argument("--topic", action="append", required=True)
    args = parser.parse_args(list(argv) if argv is not None else None)
    lock = threading.Lock()
    stopping = threading.Event()
    ready = threading.Event()

    def emit(line: str) -> None:
        with lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def on_connect(
        client: Client,
        userdata: Any,
        flags: ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not reason_code.is_failure:
            client.subscribe([(topic, 1) for topic in args.topic])

    def on_subscribe(
        client: Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        # Once: a resubscription after a reconnection is no news to the reader.
        if not ready.is_set():
            ready.set()
            emit("ready")

    def on_message(client: Client, userdata: Any, message: MQTTMessage) -> None:
        emit(
            json.dumps(
                {
                    "topic": message.topic,
                    "payload": message.payload.decode(errors="replace"),
                    "retain": bool(message.retain),
                    "qos": message.qos,
                },
                ensure_ascii=False,
            )
        )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTv311)
    if args.username is not None:
        client.username_pw_set(args.username, os.environ.get(PASSWORD_ENV))
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect_async(args.host, args.port)
    client.loop_start()

    def watch_stdin() -> None:
        # The end of stdin (the parent closed it, or died) ends the subscriber.
        for _line in sys.stdin:
            pass
        stopping.set()

    threading.Thread(target=watch_stdin, name="subscriber-stdin", daemon=True).start()
    stopping.wait()
    with contextlib.suppress(Exception):
        client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(run())
