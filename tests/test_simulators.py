"""Test servers never outlive whoever started them, even a run killed without warning."""

from pathlib import Path
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = Path(__file__).parent.parent

STARTER = """
import os, pathlib, signal, sys
from simulators.broker import Broker
broker = Broker.mosquitto(pathlib.Path(sys.argv[1]))
broker.start()
print(broker.port, flush=True)
signal.pause()
"""

RTSP_STARTER = """
import signal
from tests.media_sources import RtspServer
server = RtspServer().__enter__()
print(server.port, flush=True)
signal.pause()
"""


def broker_alive(workdir: Path) -> bool:
    """Whether a mosquitto runs with the configuration generated in `workdir`."""
    config = str(workdir / "mosquitto.conf").encode()
    found = subprocess.run(["pgrep", "-x", "mosquitto"], capture_output=True, check=False)
    for pid in found.stdout.decode().split():
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:  # gone meanwhile
            continue
        if config in arguments:
            return True
    return False


def test_a_killed_starter_takes_its_broker_with_it(tmp_path: Path, socket_enabled: None) -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert starter.stdout is not None
    port = int(starter.stdout.readline())
    assert broker_alive(tmp_path)
    starter.send_signal(signal.SIGKILL)
    starter.wait(timeout=10)
    # The guardian notices the closed pipe at once; the broker needs a moment to stop.
    deadline = time.monotonic() + 10
    while broker_alive(tmp_path):
        if time.monotonic() > deadline:
            pytest.fail(f"the broker on port {port} outlived the process that started it")
        time.sleep(0.05)


def test_a_killed_starter_takes_its_rtsp_camera_with_it(socket_enabled: None) -> None:
    """The test camera (Debian's GStreamer RTSP server) does not outlive its starter either."""
    starter = subprocess.Popen(
        [sys.executable, "-c", RTSP_STARTER],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert starter.stdout is not None
    port = int(starter.stdout.readline())
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    starter.send_signal(signal.SIGKILL)
    starter.wait(timeout=10)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return  # nobody listens any more: the server is gone
        if time.monotonic() > deadline:
            pytest.fail(f"the RTSP server on port {port} outlived the process that started it")
        time.sleep(0.05)
