"""The demo launcher: a real Home Assistant starts, gets its demo home, and stops again.

The demo runs the deployment's topology: a simulated network camera as its own process (MJPEG
over HTTP with a password), a real MQTT broker (Debian's mosquitto, installed by scripts/setup),
a simulated Zigbee2MQTT hub as its own process, and Home Assistant's MQTT integration set up
through its config flow; the home's equipment comes from MQTT discovery, its camera is a stream.
"""

import asyncio
import json
import os
from pathlib import Path
import re
import socket
import subprocess
import sys

import aiohttp
import pytest

from scripts.demo.client import HomeAssistant
from scripts.demo.config import (
    Paths,
    PortTaken,
    ephemeral_ports,
    free_port,
    link_integration,
    write_configuration,
    write_http_config,
)
from scripts.demo.processes import Hass

ROOT = Path(__file__).parent.parent
# A cold start here is ~25 s (Home Assistant, onboarding, the config flows), and up to 256 s
# from start to stop on this 2-core machine under a load average of 14; the bound is generous
# because CI machines are shared, but a hang still ends the test.
START_TIMEOUT_S = 600


def run_check(config: Path) -> str:
    """Run the demo's `--check` as its own process, as `scripts/develop --check` does."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.demo",
            "--check",
            "--config",
            str(config),
            "--port",
            "0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def device_id(output: str) -> str:
    found = re.search(r"device id: ([0-9a-f]{32})\b", output)
    assert found, output
    return found.group(1)


def broker_port(output: str) -> int:
    found = re.search(r"MQTT broker: +Debian's mosquitto on 127\.0\.0\.1:(\d+)", output)
    # scripts/setup installs mosquitto; without it the demo says it fell back to amqtt.
    assert found, f"the demo did not run Debian's mosquitto:\n{output}"
    return int(found.group(1))


def hub_pid(output: str) -> int:
    found = re.search(r"home hub: .*, pid (\d+),", output)
    assert found, output
    return int(found.group(1))


CAMERA = re.compile(
    r"camera: +http://127\.0\.0\.1:(\d+)/video\.mjpg, user kamera .*\n.*pid (\d+);"
    r" the home's camera (added|kept|reconfigured)\n.*Home Assistant probed it: a picture"
)


def camera(output: str) -> tuple[int, int, str]:
    """The camera's port and pid, and what the demo did with the home's camera."""
    found = CAMERA.search(output)
    assert found, output
    return int(found.group(1)), int(found.group(2)), found.group(3)


def assert_stopped(output: str) -> None:
    """After the demo, neither its hub nor its camera nor its broker is left running."""
    camera_port, camera_pid, _ = camera(output)
    for pid in (hub_pid(output), camera_pid):
        assert not Path(f"/proc/{pid}").exists(), output
    for port in (broker_port(output), camera_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, output
    assert "hub, camera and mosquitto stopped" in output


# Entity ids Home Assistant gives the hub's discovered entities (Zigbee2MQTT's default ids).
EQUIPMENT = {
    "plug": "switch.demo1203_plug = on",
    "power": "sensor.demo1203_plug_power = 6.5",
    "bed": "binary_sensor.demo1203_bed_occupancy = on",
    "hub online": "binary_sensor.demo1203_bridge_connection_state = on",
}


def test_demo_check_starts_home_assistant_with_the_demo_home(
    tmp_path: Path, socket_enabled: None
) -> None:
    config = tmp_path / "config"

    first = run_check(config)
    home = device_id(first)
    assert "(added now)" in first
    assert re.search(r"sensor\.\w+ = (waiting|due)\b", first), first
    # The home's camera is the simulated network camera, tried by the config flow and probed
    # by Home Assistant; the demo keeps no video file.
    camera_port, _, done = camera(first)
    assert done == "added"
    assert not list(tmp_path.rglob("*.mp4"))
    assert (config / "custom_components" / "trygghetskamera").resolve() == (
        ROOT / "custom_components" / "trygghetskamera"
    )
    credentials = json.loads((tmp_path / "credentials.json").read_text(encoding="utf-8"))
    assert set(credentials) == {"admin", "operator", "mqtt", "camera"}
    assert credentials["camera"]["port"] == camera_port
    for role in ("admin", "operator"):
        account = credentials[role]
        assert f"{account['username']} / {account['password']}" in first
    assert oct((tmp_path / "credentials.json").stat().st_mode & 0o777) == "0o600"

    # The equipment came from the simulated hub through the broker: MQTT discovery made the
    # entities, the config flow's equipment step took them, and the home reads them healthy.
    # (--check also switched the plug off and on from Home Assistant, through the hub.)
    port = broker_port(first)
    assert credentials["mqtt"]["port"] == port
    assert "Home Assistant's MQTT entry added" in first
    for role, entity in EQUIPMENT.items():
        assert re.search(rf"{role}: +{re.escape(entity)}\b", first), first
    assert re.search(r"faults: +binary_sensor\.\w+_equipment = off \(none\)", first), first
    # The example reads the broker's password from the credentials file; it is never printed.
    assert f'-p {port} -u trygghetskamera -P "$MQTT_PASSWORD"' in first
    assert credentials["mqtt"]["password"] not in first
    assert_stopped(first)

    # A second start reuses what the first made: the same users, the same home, the broker on
    # the same port, so Home Assistant's MQTT entry stays as it is.
    second = run_check(config)
    assert device_id(second) == home
    assert "(added now)" not in second
    assert broker_port(second) == port
    assert "Home Assistant's MQTT entry kept" in second
    assert camera(second)[0] == camera_port
    assert camera(second)[2] == "kept"
    for role, entity in EQUIPMENT.items():
        assert re.search(rf"{role}: +{re.escape(entity)}\b", second), second
    assert json.loads((tmp_path / "credentials.json").read_text(encoding="utf-8")) == credentials
    assert_stopped(second)


def test_demo_moves_broker_and_camera_to_new_ports_when_their_old_ones_are_taken(
    tmp_path: Path, socket_enabled: None
) -> None:
    config = tmp_path / "config"
    first = run_check(config)
    port, camera_port = broker_port(first), camera(first)[0]

    with socket.socket() as squatter, socket.socket() as camera_squatter:
        # Something else listens on the broker's and the camera's old ports now.
        for sock, taken in ((squatter, port), (camera_squatter, camera_port)):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", taken))
            sock.listen()
        moved = run_check(config)

    # The home was pointed at the camera's new address through the reconfigure flow, which
    # tried it; Home Assistant then probed it there.
    new_camera_port, _, done = camera(moved)
    assert (new_camera_port != camera_port, done) == (True, "reconfigured")
    new_port = broker_port(moved)
    assert new_port != port
    # The MQTT entry was reconfigured through its flow, and the equipment still arrives.
    assert "Home Assistant's MQTT entry reconfigured" in moved
    for role, entity in EQUIPMENT.items():
        assert re.search(rf"{role}: +{re.escape(entity)}\b", moved), moved
    credentials = json.loads((tmp_path / "credentials.json").read_text(encoding="utf-8"))
    assert credentials["mqtt"]["port"] == new_port
    assert credentials["camera"]["port"] == new_camera_port
    assert os.path.exists(tmp_path / "broker" / "mosquitto.log")


def test_the_demo_chooses_home_assistants_port_outside_the_ephemeral_range(
    socket_enabled: None,
) -> None:
    """Any outgoing connection may take an ephemeral port before Home Assistant binds it.

    Seen in 1 of 20 starts on a busy machine: another program's MQTT client got the port as its
    local end; Home Assistant failed to bind, went into recovery mode and listened on every
    interface on port 8123 while the demo waited for it on the chosen port.
    """
    ephemeral = ephemeral_ports()
    ports = {free_port() for _ in range(20)}
    assert [port for port in ports if port in ephemeral] == []
    assert all(1024 < port < 65536 for port in ports)


async def test_home_assistant_that_cannot_bind_its_port_is_noticed_at_once(
    tmp_path: Path, socket_enabled: None
) -> None:
    """A real hass on a port that is taken: PortTaken at once, not the API's long timeout.

    The demo then starts it again on another port (with --port 0) or stops with the reason.
    """
    paths = Paths(tmp_path / "config")
    paths.config.mkdir(parents=True)
    link_integration(paths.config)
    write_configuration(paths.config)
    # As it happened: the port is the local end of some program's connection (here to a
    # listener of the test's own), so nothing answers there and Home Assistant cannot bind it.
    with socket.socket() as peer, socket.socket() as client:
        peer.bind(("127.0.0.1", 0))
        peer.listen()
        client.bind(("127.0.0.1", 0))
        client.connect(peer.getsockname())
        port = client.getsockname()[1]
        write_http_config(paths.config, port)
        hass = Hass(paths)
        process = hass.start()
        try:
            async with aiohttp.ClientSession() as session:
                with pytest.raises(PortTaken, match=f"127.0.0.1:{port}"):
                    await HomeAssistant(session, port).wait_for_api(process, paths.console)
        finally:
            # In recovery mode, on Home Assistant's default port: stopped at once.
            await asyncio.to_thread(hass.stop)
