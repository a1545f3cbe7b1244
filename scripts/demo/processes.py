"""The demo's processes: Home Assistant, the MQTT broker, the home's hub and its camera.

Each runs as a process of its own, as in a deployment; the hub and the camera are simulators
(``simulators/hub.py``, ``simulators/camera.py``) that stop when the demo's end closes their stdin.
"""

import contextlib
import ctypes
import json
from pathlib import Path
import re
import signal
import subprocess
import sys
from typing import Any

from simulators.broker import Broker, BrokerError, amqtt_available, mosquitto_path
from simulators.child import ChildProcess
from simulators.hub import Hub

from .config import (
    CAMERA_READY_TIMEOUT_S,
    HUB_COMMANDS,
    HUB_ID,
    HUB_READY_TIMEOUT_S,
    STOP_TIMEOUT_S,
    Account,
    DemoError,
    Paths,
    new_password,
    save_credentials,
)

# --- the hass process ---------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: get SIGTERM (a clean stop) if the demo script dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class Hass:
    """The `hass` process; it is replaced when Home Assistant restarts itself."""

    def __init__(self, paths: Paths) -> None:
        """Nothing runs yet."""
        self.paths = paths
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        """Start `hass -c CONFIG` from this interpreter's environment."""
        hass = Path(sys.executable).with_name("hass")
        command = [str(hass)] if hass.exists() else [sys.executable, "-m", "homeassistant"]
        # --skip-pip: every requirement the demo needs is pinned in requirements_test.txt;
        # without it, HA would try to download whatever is missing at every start (slowly, or
        # not at all without a network).
        command += ["--config", str(self.paths.config), "--skip-pip", "--log-no-color"]
        with self.paths.console.open("wb") as console:
            # A process group of its own: a Ctrl-C in the terminal reaches only this script,
            # which then stops HA with exactly one SIGTERM (a second signal would kill HA in
            # the middle of its shutdown).
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=self.paths.config,
                process_group=0,
                # No threads run here (asyncio.run has joined its executor), so preexec_fn
                # is safe.
                preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
        return self.process

    def stop(self) -> int | None:
        """Stop Home Assistant cleanly (SIGTERM), killing it only if it hangs."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                print(f"Home Assistant did not stop within {STOP_TIMEOUT_S:.0f} s; killing it")
                process.kill()
                process.wait()
        return process.returncode


def tail(path: Path, lines: int = 30) -> str:
    """Return the end of a log file, for error messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:])


# --- the MQTT broker and the home hub ------------------------------------------------------------


def broker_kind() -> str | None:
    """The broker `Broker.start_best` would start: mosquitto if installed, else amqtt, else None."""
    if mosquitto_path() is not None:
        return "mosquitto"
    return "amqtt" if amqtt_available() else None


def describe_broker(broker: Broker) -> str:
    """Which broker runs where, as `Broker.start_best` announces it."""
    if broker.kind == "mosquitto":
        return f"MQTT broker: Debian's mosquitto on {broker.host}:{broker.port}"
    return (
        f"MQTT broker: mosquitto is not installed, using amqtt (PyPI) on {broker.host}:"
        f"{broker.port} instead; scripts/setup as root installs mosquitto"
    )


def start_broker(paths: Paths, accounts: dict[str, Account]) -> tuple[Broker, str]:
    """Start the demo's MQTT broker; return it and the line that says which one it is.

    Mosquitto if installed, else amqtt from PyPI (`Broker.start_best`), with password
    authentication. A later start reuses the last start's port and password, so that Home
    Assistant's MQTT entry (and a real Zigbee2MQTT pointed at the demo) find it again; only if
    that port was taken meanwhile does it get a new one (and the demo reconfigures the entry).
    """
    mqtt = accounts.get("mqtt")
    if mqtt is None:
        mqtt = Account("trygghetskamera", new_password())
        accounts["mqtt"] = mqtt
        # Saved before the broker runs with it, like the admin's password.
        save_credentials(paths.credentials, accounts)
    login: dict[str, Any] = {"username": mqtt.username, "password": mqtt.password}
    if mqtt.port and (kind := broker_kind()) is not None:
        broker = Broker(paths.broker, kind=kind, **login)
        broker.port = mqtt.port  # a preset port is kept by start()
        with contextlib.suppress(BrokerError):
            broker.start()
            return broker, describe_broker(broker)
    said: list[str] = []
    try:
        broker = Broker.start_best(paths.broker, say=said.append, **login)
    except BrokerError as err:
        raise DemoError(f"cannot start an MQTT broker: {err}") from err
    return broker, said[-1] if said else describe_broker(broker)


class HubProcess:
    """The demo home's hub: `python -m simulators.hub` as a process of its own, like a real hub.

    It talks to the broker only; the demo drives it through its stdin (JSON commands) or kills
    it, as a power cut in the flat would. Its own session: a Ctrl-C reaches the demo only, which
    stops the hub after Home Assistant; if the demo dies, the hub's stdin ends and it stops too.
    """

    def __init__(self, paths: Paths, broker: Broker) -> None:
        """Nothing runs yet; `hub` describes its topics and what Home Assistant makes of them."""
        self.paths = paths
        self.broker = broker
        self.hub = Hub(broker.host, broker.port, HUB_ID, username=broker.username)
        arguments = ["--host", broker.host, "--port", str(broker.port)]
        arguments += ["--username", broker.username, "--hub", HUB_ID]
        # The password goes through the environment, out of `ps`; errors go to the hub's log.
        self._child = ChildProcess(
            "hub", arguments, password=broker.password, error=DemoError, log=paths.hub_log
        )

    @property
    def pid(self) -> int | None:
        """The hub's process id while it runs."""
        return self._child.pid

    def start(self) -> None:
        """Start the hub and wait until it says every device is online (retained on the broker)."""
        if self.pid is not None:
            return
        self._child.spawn()
        try:
            # Read without a thread: `Hass.start` forks with a `preexec_fn`, which is only safe
            # while no other thread runs.
            line = self._child.read_line(HUB_READY_TIMEOUT_S)
        except DemoError:
            line = ""
        if not line.startswith("ready"):
            self.kill()
            raise DemoError(
                f"the hub simulator did not come online within {HUB_READY_TIMEOUT_S:.0f} s"
                f" ({self.paths.hub_log}: {tail(self.paths.hub_log, 5)})"
            )

    def send(self, command: dict[str, Any]) -> None:
        """Send the hub one JSON command (`plug`, `power`, `occupancy`)."""
        try:
            self._child.write_line(json.dumps({"hub": HUB_ID, **command}))
        except DemoError as err:
            raise DemoError("the hub is not running (type `hub start`)") from err
        except OSError as err:
            raise DemoError(f"the hub did not take the command: {err}") from err

    def kill(self) -> None:
        """SIGKILL: the hub dies without a word, so the broker publishes its last will."""
        self._child.kill()

    def stop(self) -> None:
        """Stop cleanly: the end of its stdin makes it publish `offline` and disconnect."""
        self._child.stop(STOP_TIMEOUT_S / 6)


class CameraProcess:
    """The demo home's camera: `python -m simulators.camera`, a network camera of its own.

    It serves a generated bedroom at night as MJPEG over HTTP on 127.0.0.1, with a password, as
    an IP camera does; Home Assistant reaches it only through its stream URL. A later start asks
    for the last start's port, so the home's stream URL stays right; only if that port was taken
    meanwhile does it get another (and the demo reconfigures the home). Its own session: a
    Ctrl-C reaches the demo only; if the demo dies, the camera's stdin ends and it stops too.
    """

    def __init__(self, paths: Paths, account: Account) -> None:
        """Nothing runs yet; `account` holds the camera's login and its last port."""
        self.paths = paths
        self.account = account
        self.port: int | None = None
        arguments = ["--port", str(account.port), "--or-any-port"]
        arguments += ["--username", account.username]
        # The password goes through the environment, out of `ps`; errors go to the camera's log.
        self._child = ChildProcess(
            "camera", arguments, password=account.password, error=DemoError, log=paths.camera_log
        )

    @property
    def url(self) -> str:
        """The camera's stream URL, without credentials (the config entry keeps those apart)."""
        if self.port is None:
            raise DemoError("the camera is not running")
        return f"http://127.0.0.1:{self.port}/video.mjpg"

    @property
    def pid(self) -> int | None:
        """The camera's process id while it runs."""
        return self._child.pid

    def spawn(self) -> None:
        """Start the camera process; `wait_ready` then waits for it to listen."""
        self._child.spawn()

    def wait_ready(self) -> None:
        """Wait until the camera listens; it says on which port."""
        try:
            # Read without a thread, as for the hub: `Hass.start` forks with a `preexec_fn`.
            line = self._child.read_line(CAMERA_READY_TIMEOUT_S)
        except DemoError:
            line = ""
        word, _, port = line.partition(" ")
        if word != "ready" or not port.isdigit():
            self._child.kill()
            raise DemoError(
                f"the camera simulator did not start within {CAMERA_READY_TIMEOUT_S:.0f} s"
                f" ({self.paths.camera_log}: {tail(self.paths.camera_log, 5)})"
            )
        self.port = int(port)

    def stop(self) -> None:
        """Stop it: the end of its stdin ends its streams and its server."""
        self._child.stop(STOP_TIMEOUT_S / 6)


def hub_command(hub: HubProcess, text: str) -> str:
    """Carry out one command typed on the demo's terminal; return what happened."""
    words = " ".join(text.lower().split())
    if words in HUB_COMMANDS:
        hub.send(HUB_COMMANDS[words])
        return f"hub: {words}"
    if found := re.fullmatch(r"power (\d+(?:\.\d+)?)", words):
        hub.send({"power": float(found.group(1))})
        return f"hub: the camera and router now draw {float(found.group(1))} W"
    if words == "hub kill":
        hub.kill()
        return (
            "hub: killed (SIGKILL); the broker publishes its will, the hub's entities go"
            " unavailable and the home's fault stands after the 15 s debounce"
        )
    if words == "hub start":
        hub.start()
        return f"hub: online again (pid {hub.pid})"
    return "commands: " + ", ".join([*HUB_COMMANDS, "power <W>", "hub kill", "hub start"])


def read_commands(hub: HubProcess) -> None:
    """Take commands from the demo's terminal for as long as it runs (a daemon thread)."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            print(hub_command(hub, line), flush=True)
        except DemoError as err:
            print(f"demo: {err}", flush=True)


def shell_examples(
    broker: Broker, hub: Hub, pid: int | None, credentials: Path | None = None
) -> list[str]:
    """How to play the hub from another shell: the topics HA and a real Zigbee2MQTT use.

    The broker's password is read from the credentials file in the shell, never printed.
    """
    login = f'-h {broker.host} -p {broker.port} -u {broker.username} -P "$MQTT_PASSWORD"'
    bed = json.dumps({"occupancy": False, "battery": 100})
    source = str(credentials) if credentials else "credentials.json"
    read = f"json.load(open({source!r}))['mqtt']['password']"
    return [
        f'MQTT_PASSWORD="$(python3 -c "import json; print({read})")"',
        f"mosquitto_pub {login} -t {hub.plug_topic}/set -m OFF",
        f"mosquitto_pub {login} -r -t {hub.bed_topic} -m '{bed}'",
        f"kill -9 {pid}   (the hub dies: the broker publishes its will on {hub.bridge_state_topic})"
        if pid is not None
        else "",
    ]
