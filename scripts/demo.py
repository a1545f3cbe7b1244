"""Start a real Home Assistant with trygghetskamera and one demo home, without camera hardware.

Run it through `scripts/develop` (which bootstraps `.venv` first). Everything it makes lives in
`.demo/` (gitignored): the Home Assistant configuration, a generated H.264 "bedroom at night"
video that stands in for the camera, the MQTT broker's configuration and log (`broker/`), and the
credentials of the demo users and of the broker.

It runs the topology of a deployment: an MQTT broker (Debian's mosquitto, or amqtt from PyPI where
mosquitto is missing, as `Broker.start_best` picks) and the home's hub, a simulated Zigbee2MQTT
(`simulators/hub.py`, a process of its own) whose discovery messages give Home Assistant the plug,
power, bed and connectivity entities. Broker and hub start before Home Assistant and stop after it.

The demo is set up the way an installer would do it, through Home Assistant's own HTTP and
websocket API: onboarding creates the admin, the admin creates an operator, the MQTT integration is
set up against the broker with its config flow, and the demo home is added with the integration's
real config flow, its equipment step given the discovered entities. Later starts reuse all of it.
While it runs, commands typed in its terminal (`plug off`, `power 0.3`, `bed empty`, `hub kill`,
`hub start`, …) play the faults a home has.

    scripts/develop                 # foreground until Ctrl-C, on http://127.0.0.1:8123/
    scripts/develop --port 0        # any free port
    scripts/develop --check         # start, set up, verify, stop (exit 0 when all is well)
"""

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import ctypes
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import json
import os
from pathlib import Path
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp

REPO = Path(__file__).resolve().parent.parent
# The simulators (the broker and the home hub) live at the top of the repo.
sys.path.insert(0, str(REPO))

from simulators.broker import (  # noqa: E402
    Broker,
    BrokerError,
    amqtt_available,
    mosquitto_path,
)
from simulators.child import ChildProcess  # noqa: E402
from simulators.hub import Hub  # noqa: E402

DOMAIN = "trygghetskamera"
INTEGRATION_DIR = REPO / "custom_components" / DOMAIN
DEFAULT_CONFIG = REPO / ".demo" / "config"

HOME_NAME = "Demo 1203"
MANUFACTURER = "Trygghetskamera"
ADMIN = ("admin", "Demo admin")
OPERATOR = ("operator", "Demo night operator")
# HA's built-in group for ordinary (non-admin) users.
USERS_GROUP = "system-users"

VIDEO_SECONDS = 20
VIDEO_FPS = 10
VIDEO_SIZE = (640, 480)

SLOT_MINUTES = 30
FOLLOW_UP_MINUTES = 20
# The agreed times sit this far apart: a slot, its follow-up and some slack, so that they never
# overlap and a person watching the demo sees one slot open at a time.
TIMES_APART = timedelta(minutes=90)
# The first agreed time is at least this far ahead of the start, so its slot opens within a
# few minutes of the demo coming up (and not before the home exists).
FIRST_SLOT_AHEAD = timedelta(minutes=2)

# The demo home's hub: a simulated Zigbee2MQTT (simulators/hub.py) with a metering plug and a bed
# sensor, publishing through the demo's own MQTT broker. Home Assistant's MQTT integration creates
# the equipment entities from its discovery messages; the demo finds them by their unique ids.
HUB_ID = "demo1203"
# What each equipment option of the home is, for the printout.
EQUIPMENT_ROLES = {
    "plug_entity": "plug",
    "power_entity": "power",
    "bed_entity": "bed",
    "connectivity_entity": "hub online",
}
# The demo's commands on its own terminal, and what each sends the hub simulator.
# (`power <W>` and `hub kill` / `hub start` too, see `hub_command`.)
HUB_COMMANDS: dict[str, dict[str, Any]] = {
    "plug off": {"plug": False},
    "plug on": {"plug": True},
    "bed empty": {"occupancy": False},
    "bed occupied": {"occupancy": True},
}
HUB_READY_TIMEOUT_S = 30.0
# Onboarding creates this area; the demo puts the home and its equipment in it.
AREA_NAME = "Bedroom"

# Integrations the demo cannot do without: it stops with an error unless HA set them all up.
# (`mqtt` is a config entry, checked when the demo has set it up.)
REQUIRED_COMPONENTS = ("frontend", "config", "onboarding", "person")

API_TIMEOUT_S = 180.0
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
# Home Assistant exits with this code when a user asks it to restart (Settings → ⋮ → Restart).
RESTART_EXIT_CODE = 100

CONFIGURATION_YAML = """\
# Written by scripts/demo.py on every start: edit that script, not this file.
# A minimal configuration (no default_config): it starts in seconds and loads only integrations
# whose requirements .venv already has. The HTTP server's address is not here: Home Assistant
# keeps it in .storage/http (see scripts/demo.py).
homeassistant:
  name: Trygghetskamera demo
  time_zone: {time_zone}
  country: SE
  currency: SEK
  unit_system: metric

frontend:
config:

logger:
  default: warning
  logs:
    custom_components.{domain}: info

# The demo home's plug, power sensor, bed sensor and hub connectivity come from a simulated
# Zigbee2MQTT hub through the MQTT integration (a config entry that the demo sets up against its
# own broker, as an installer would), not from here.
"""


class DemoError(Exception):
    """The demo could not be started or did not come up as it should."""


@dataclass
class Paths:
    """Where the demo keeps its things."""

    config: Path

    @property
    def credentials(self) -> Path:
        """Credentials sit beside the config dir: `.demo/credentials.json` by default."""
        return self.config.parent / "credentials.json"

    @property
    def video(self) -> Path:
        """The camera's stand-in: a looped H.264 file."""
        return self.config / "media" / "bedroom.mp4"

    @property
    def broker(self) -> Path:
        """The MQTT broker's configuration, password file and log: `.demo/broker/`."""
        return self.config.parent / "broker"

    @property
    def hub_log(self) -> Path:
        """What the hub simulator printed: `.demo/hub.log`."""
        return self.config.parent / "hub.log"

    @property
    def log(self) -> Path:
        """Home Assistant's own log file."""
        return self.config / "home-assistant.log"

    @property
    def console(self) -> Path:
        """What the hass process printed (it matters when it dies before logging is set up)."""
        return self.config / "hass-console.log"


@dataclass
class Timings:
    """Seconds from the start of this script, and of the latest hass process."""

    began: float = field(default_factory=time.monotonic)
    hass_started: float = 0.0
    api_answered: float = 0.0
    ready: float = 0.0
    video_generated: float | None = None

    def summary(self) -> str:
        """One line for the closing print."""
        video = (
            f", generating the demo video {self.video_generated:.1f} s"
            if self.video_generated is not None
            else ""
        )
        return (
            f"API answering {self.api_answered - self.hass_started:.1f} s after the hass "
            f"process started; demo ready {self.ready - self.began:.1f} s after this script "
            f"began{video}"
        )


# --- the configuration directory ----------------------------------------------------------------


def local_time_zone() -> str:
    """Return this machine's IANA time zone, so the agreed times match the user's clock."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    with contextlib.suppress(OSError):
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    for name in candidates:
        if not name:
            continue
        try:
            ZoneInfo(name)
        except ZoneInfoNotFoundError, ValueError:
            continue
        return name
    return "UTC"


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_port_free(port: int) -> None:
    """Refuse a taken port: the demo would otherwise talk to whatever already listens there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As Home Assistant's server does: connections of a previous run lingering in
        # TIME_WAIT do not make the port busy, a listening socket does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as err:
            raise DemoError(
                f"port {port} on 127.0.0.1 is in use ({err.strerror}); is another Home "
                "Assistant running? Stop it, or pass --port 0 (any free port) or --port N"
            ) from None


def link_integration(config: Path) -> None:
    """Point the config dir's custom_components/trygghetskamera at the repo, so edits show up."""
    link = config / "custom_components" / DOMAIN
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink():
        if link.resolve() == INTEGRATION_DIR:
            return
        link.unlink()
    elif link.exists():
        raise DemoError(f"{link} exists and is not a symlink to {INTEGRATION_DIR}: remove it")
    link.symlink_to(INTEGRATION_DIR, target_is_directory=True)


def write_configuration(config: Path) -> None:
    """Write configuration.yaml afresh, so a changed demo script takes effect."""
    text = CONFIGURATION_YAML.format(time_zone=local_time_zone(), domain=DOMAIN)
    (config / "configuration.yaml").write_text(text, encoding="utf-8")


def write_http_config(config: Path, port: int) -> None:
    """Bind Home Assistant's HTTP server to 127.0.0.1:port, in the store HA reads it from.

    Home Assistant 2026.10 keeps its HTTP settings in `.storage/http`, as a confirmed
    ("stable") config and an unconfirmed ("pending") one. An `http:` block in YAML is only
    migrated on the first start, as a pending trial that reverts to the default (every
    interface, port 8123) after five minutes unless an admin confirms it; later starts ignore
    the YAML. So the demo writes, before each start, what HA itself stores once HTTP settings
    are confirmed: a stable config with this address, nothing pending. Other settings a person
    changed in the UI are kept.
    """
    path = config / ".storage" / "http"
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))["data"]
    except OSError, ValueError, KeyError:
        stored = {}
    stable = {
        # HA's defaults for the settings the demo does not care about.
        "cors_allowed_origins": ["https://cast.home-assistant.io"],
        "login_attempts_threshold": -1,
        "ip_ban_enabled": True,
        "ssl_profile": "modern",
        "use_x_frame_options": True,
        "created_at": datetime.now(UTC).isoformat(),
        **stored.get("stable", {}),
        "server_host": ["127.0.0.1"],
        "server_port": port,
        "error": None,
        "error_message": None,
    }
    data = {"stable": stable, "pending": None, "yaml_migration_done": True}
    document = {"version": 2, "minor_version": 2, "key": "http", "data": data}
    write_private(path, json.dumps(document, indent=2))


def write_private(path: Path, text: str) -> None:
    """Write a file only this user can read, atomically (a crash leaves the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text + "\n")
    partial.replace(path)


def ensure_video(path: Path) -> float | None:
    """Generate the demo camera's video once; return the seconds it took, or None if present."""
    if path.exists():
        return None
    # Imported here: the integration's package pulls in Home Assistant, which only the first
    # start needs in this process.
    sys.path.insert(0, str(REPO))
    from custom_components.trygghetskamera import media

    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed, so an interrupted first start leaves no half file
    # that a later start would take for the real one.
    partial = path.with_name(f"{path.stem}.partial{path.suffix}")
    began = time.monotonic()
    media.generate_night_scene(partial, seconds=VIDEO_SECONDS, fps=VIDEO_FPS, size=VIDEO_SIZE)
    partial.replace(path)
    return time.monotonic() - began


# --- credentials --------------------------------------------------------------------------------


@dataclass
class Account:
    """A login: a demo user's, or the MQTT broker's (with the port Home Assistant was given)."""

    username: str
    password: str
    port: int = 0


def load_credentials(path: Path) -> dict[str, Account]:
    """Read the demo users' logins from earlier starts, if any."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise DemoError(f"cannot read {path}: {err}") from err
    return {
        role: Account(item["username"], item["password"], int(item.get("port", 0)))
        for role, item in raw.items()
    }


def save_credentials(path: Path, accounts: dict[str, Account]) -> None:
    """Keep the logins for the next start."""
    data = {
        role: {"username": a.username, "password": a.password}
        | ({"port": a.port} if a.port else {})
        for role, a in accounts.items()
    }
    write_private(path, json.dumps(data, indent=2))


def new_password() -> str:
    """Make a random password that is easy to copy from the terminal."""
    return secrets.token_urlsafe(12)


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


def shell_examples(broker: Broker, hub: Hub, pid: int | None) -> list[str]:
    """How to play the hub from another shell: the topics HA and a real Zigbee2MQTT use."""
    login = f"-h {broker.host} -p {broker.port} -u {broker.username} -P '{broker.password}'"
    bed = json.dumps({"occupancy": False, "battery": 100})
    return [
        f"mosquitto_pub {login} -t {hub.plug_topic}/set -m OFF",
        f"mosquitto_pub {login} -r -t {hub.bed_topic} -m '{bed}'",
        f"kill -9 {pid}   (the hub dies: the broker publishes its will on {hub.bridge_state_topic})"
        if pid is not None
        else "",
    ]


# --- talking to Home Assistant ------------------------------------------------------------------


class HomeAssistant:
    """A client of Home Assistant's REST and websocket API, as the frontend uses them."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        """Talk to the instance on 127.0.0.1:port."""
        self.session = session
        self.base = f"http://127.0.0.1:{port}"
        # The frontend's client id: HA only hands auth codes to a client on its own origin.
        self.client_id = f"{self.base}/"
        self.token: str | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ws_id = 0

    async def wait_for_api(self, process: subprocess.Popen[bytes]) -> None:
        """Poll the API until it answers.

        It asks /auth/providers, the first call of the login page, rather than /api/: without
        a token /api/ answers 401, which HA counts as a failed login and announces with a
        "Login attempt failed" notification in the UI.
        """
        async with deadline(API_TIMEOUT_S, "Home Assistant's API to answer"):
            while True:
                if process.poll() is not None:
                    raise DemoError(f"Home Assistant exited with code {process.returncode}")
                try:
                    # Any answer will do: before onboarding it is 400 "onboarding_required".
                    async with self.session.get(f"{self.base}/auth/providers"):
                        return
                except aiohttp.ClientError, OSError:
                    pass
                await asyncio.sleep(0.1)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        *,
        ok: tuple[int, ...] = (200,),
    ) -> Any:
        """Call the REST API; return the decoded JSON (None for no body)."""
        async with self.session.request(
            method, f"{self.base}{path}", json=payload, headers=self._headers()
        ) as response:
            text = await response.text()
            if response.status not in ok:
                raise DemoError(f"{method} {path} answered {response.status}: {text[:500]}")
            return json.loads(text) if text else None

    async def exchange_code(self, code: str) -> None:
        """Turn an auth code (from onboarding or a login) into an access token."""
        form = {"grant_type": "authorization_code", "code": code, "client_id": self.client_id}
        async with self.session.post(f"{self.base}/auth/token", data=form) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                raise DemoError(f"/auth/token answered {response.status}: {body}")
        self.token = body["access_token"]

    async def login(self, account: Account) -> None:
        """Log in with username and password through the login flow the frontend uses."""
        start = {
            "client_id": self.client_id,
            "handler": ["homeassistant", None],
            "redirect_uri": f"{self.base}/?auth_callback=1",
        }
        flow = await self.request("POST", "/auth/login_flow", start)
        step = {
            "client_id": self.client_id,
            "username": account.username,
            "password": account.password,
        }
        result = await self.request("POST", f"/auth/login_flow/{flow['flow_id']}", step)
        if result.get("type") != "create_entry":
            raise DemoError(
                f"cannot log in as {account.username!r} ({result.get('errors')}): the demo "
                "config and its credentials.json do not belong together; delete both to start "
                "afresh"
            )
        await self.exchange_code(result["result"])

    async def ws(self, command: str, **data: Any) -> Any:
        """Send one websocket command and return its result."""
        if self._ws is None:
            self._ws = await self.session.ws_connect(f"{self.base}/api/websocket")
            await self._ws.receive_json()  # auth_required
            await self._ws.send_json({"type": "auth", "access_token": self.token})
            reply = await self._ws.receive_json()
            if reply.get("type") != "auth_ok":
                raise DemoError(f"websocket authentication failed: {reply}")
        self._ws_id += 1
        await self._ws.send_json({"id": self._ws_id, "type": command, **data})
        while True:
            reply = await self._ws.receive_json()
            if reply.get("id") == self._ws_id and reply.get("type") == "result":
                break
        if not reply.get("success"):
            raise DemoError(f"websocket {command} failed: {reply.get('error')}")
        return reply.get("result")

    async def close(self) -> None:
        """Close the websocket, if one was opened."""
        if self._ws is not None:
            await self._ws.close()
            self._ws = None


@contextlib.asynccontextmanager
async def deadline(seconds: float, what: str) -> AsyncIterator[None]:
    """Bound a wait: every wait of the demo ends, with a message saying what did not happen."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise DemoError(f"timed out after {seconds:.0f} s waiting for {what}") from None


async def poll[T](what: str, probe: Callable[[], Awaitable[T | None]], seconds: float) -> T:
    """Call `probe` until it returns something other than None, for at most `seconds`."""
    async with deadline(seconds, what):
        while True:
            if (result := await probe()) is not None:
                return result
            await asyncio.sleep(0.2)


# --- bootstrap: onboarding, users, the demo home ------------------------------------------------


async def onboard(ha: HomeAssistant, paths: Paths, accounts: dict[str, Account]) -> None:
    """Create the owner and finish onboarding as the frontend would; or log in as the owner."""
    async with ha.session.get(f"{ha.base}/api/onboarding") as response:
        # The onboarding views exist only until onboarding is complete.
        steps = (
            {item["step"]: item["done"] for item in await response.json()}
            if response.status == 200
            else None
        )
    if steps is not None and not steps.get("user", True):
        admin = accounts.get("admin") or Account(ADMIN[0], new_password())
        accounts["admin"] = admin
        # Saved before the owner exists, so a crash in between cannot lose the password.
        save_credentials(paths.credentials, accounts)
        created = await ha.request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": ha.client_id,
                "name": ADMIN[1],
                "username": admin.username,
                "password": admin.password,
                "language": "en",
            },
        )
        await ha.exchange_code(created["auth_code"])
    else:
        if "admin" not in accounts:
            raise DemoError(
                f"{paths.config} is already onboarded but {paths.credentials} is missing: "
                "delete the config dir to start afresh"
            )
        await ha.login(accounts["admin"])
    if steps is None:
        return
    # The same order as the frontend's onboarding pages.
    if not steps.get("core_config", True):
        await ha.request("POST", "/api/onboarding/core_config", {})
    if not steps.get("analytics", True):
        await ha.request("POST", "/api/onboarding/analytics", {})
    if not steps.get("integration", True):
        await ha.request(
            "POST",
            "/api/onboarding/integration",
            {"client_id": ha.client_id, "redirect_uri": f"{ha.base}/?auth_callback=1"},
        )


async def wait_until_running(ha: HomeAssistant) -> dict[str, Any]:
    """Wait for Home Assistant to finish starting; return its /api/config."""

    async def running() -> dict[str, Any] | None:
        config = await ha.request("GET", "/api/config")
        return config if config.get("state") == "RUNNING" else None

    return await poll("Home Assistant to finish starting", running, READY_TIMEOUT_S)


async def check_frontend_can_load(ha: HomeAssistant) -> None:
    """Make the websocket calls the frontend cannot start without.

    An API that answers is not yet a UI that loads: `get_services`, for one, imports every base
    platform, and fails (leaving the browser on "Loading…") when one of them lacks a requirement.
    """
    for command in ("get_services", "get_panels", "frontend/get_themes"):
        try:
            await ha.ws(command)
        except DemoError as err:
            raise DemoError(
                f"the frontend would not load: {err} (Home Assistant's log says why)"
            ) from err


async def ensure_operator(ha: HomeAssistant, paths: Paths, accounts: dict[str, Account]) -> str:
    """Create the operator (a non-admin user) unless it exists; return its user id."""
    users = await ha.ws("config/auth/list")
    existing = next((u for u in users if u.get("username") == OPERATOR[0]), None)
    if existing is not None:
        if "operator" not in accounts:
            # The user exists but its password was lost: set a new one, as an owner can.
            accounts["operator"] = Account(OPERATOR[0], new_password())
            save_credentials(paths.credentials, accounts)
            await ha.ws(
                "config/auth_provider/homeassistant/admin_change_password",
                user_id=existing["id"],
                password=accounts["operator"].password,
            )
        return str(existing["id"])
    operator = accounts.get("operator") or Account(OPERATOR[0], new_password())
    accounts["operator"] = operator
    save_credentials(paths.credentials, accounts)
    # The same three calls as Settings → People → Add person with "Allow login".
    created = await ha.ws("config/auth/create", name=OPERATOR[1], group_ids=[USERS_GROUP])
    user_id = str(created["user"]["id"])
    await ha.ws(
        "config/auth_provider/homeassistant/create",
        user_id=user_id,
        username=operator.username,
        password=operator.password,
    )
    await ha.ws("person/create", name=OPERATOR[1], user_id=user_id)
    return user_id


def agreed_times(now: datetime) -> list[str]:
    """Three agreed times: the first a few minutes from now, the others well after it."""
    first = (now + FIRST_SLOT_AHEAD).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return [(first + index * TIMES_APART).strftime("%H:%M") for index in range(3)]


async def find_home(ha: HomeAssistant) -> dict[str, Any] | None:
    """Return the demo home's config entry, if an earlier start added it."""
    entries = await ha.request("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
    return next((e for e in entries if e.get("title") == HOME_NAME), None)


async def add_home(
    ha: HomeAssistant, paths: Paths, operator_id: str, time_zone: str, equipment: dict[str, str]
) -> tuple[str, list[str]]:
    """Add the demo home through the integration's config flow; return (entry id, times).

    The equipment step is given the entities that MQTT discovery made from the hub, as an
    installer picks them.
    """
    times = agreed_times(datetime.now(ZoneInfo(time_zone)))
    answers: dict[str, dict[str, Any]] = {
        "camera": {"name": HOME_NAME, "stream_url": str(paths.video)},
        "schedule": {
            "times": times,
            "view_seconds": 30,
            "slot_minutes": SLOT_MINUTES,
            "follow_up_minutes": FOLLOW_UP_MINUTES,
            "follow_ups": 1,
        },
        "equipment": {**equipment, "min_power_w": 1.0},
        "operators": {"operators": [operator_id]},
        "consent": {"consent": True},
    }
    result = await ha.request(
        "POST",
        "/api/config/config_entries/flow",
        {"handler": DOMAIN, "show_advanced_options": False},
    )
    answered: set[str] = set()
    while result.get("type") == "form":
        step = result["step_id"]
        if result.get("errors"):
            raise DemoError(f"the config flow refused step {step!r}: {result['errors']}")
        if step not in answers or step in answered:
            raise DemoError(f"the config flow asked for an unexpected step {step!r}: {result}")
        answered.add(step)
        result = await ha.request(
            "POST", f"/api/config/config_entries/flow/{result['flow_id']}", answers[step]
        )
    if result.get("type") != "create_entry":
        raise DemoError(f"the config flow ended without a home: {result}")
    return str(result["result"]["entry_id"]), times


async def place_in_area(ha: HomeAssistant, device_ids: list[str]) -> None:
    """Put the new home and the hub's devices in the bedroom, so the Overview shows them together.

    Done once, when the home is added: a person may move them elsewhere afterwards.
    """
    areas = await ha.ws("config/area_registry/list")
    area = next((a for a in areas if a.get("name", "").casefold() == AREA_NAME.casefold()), None)
    if area is None:
        return
    for device_id in device_ids:
        await ha.ws("config/device_registry/update", device_id=device_id, area_id=area["area_id"])


async def ensure_mqtt(
    ha: HomeAssistant, paths: Paths, broker: Broker, accounts: dict[str, Account]
) -> str:
    """Set up Home Assistant's MQTT integration against the demo's broker; say what was done.

    Through the MQTT config flow, as an installer does in Settings (which also tries the login).
    A later start keeps the entry while the broker is where it was; if the broker had to move
    to another port, the entry is reconfigured through the same flow.
    """
    answers = {
        "broker": broker.host,
        "port": broker.port,
        # amqtt speaks MQTT 3.1.1 only; Home Assistant's default is 5.
        "protocol": "5" if broker.kind == "mosquitto" else "3.1.1",
        "username": broker.username,
        "password": broker.password,
        "other_settings": {"set_client_cert": False, "set_ca_cert": "off", "transport": "tcp"},
    }
    mqtt = accounts["mqtt"]
    entries = await ha.request("GET", "/api/config/config_entries/entry?domain=mqtt")
    if entries and mqtt.port == broker.port:
        done = "kept"
    else:
        start: dict[str, Any] = {"handler": "mqtt", "show_advanced_options": False}
        if entries:
            start["entry_id"] = entries[0]["entry_id"]  # a reconfigure flow
        result = await ha.request("POST", "/api/config/config_entries/flow", start)
        if result.get("type") == "form" and result.get("step_id") == "broker":
            result = await ha.request(
                "POST", f"/api/config/config_entries/flow/{result['flow_id']}", answers
            )
        accepted = result.get("type") == "create_entry" or (
            result.get("type") == "abort" and result.get("reason") == "reconfigure_successful"
        )
        if not accepted:
            raise DemoError(
                "Home Assistant's MQTT config flow did not accept the demo's broker: "
                f"{result.get('errors') or result}"
            )
        mqtt.port = broker.port
        save_credentials(paths.credentials, accounts)
        done = "reconfigured" if entries else "added"

    async def loaded() -> dict[str, Any] | None:
        entries = await ha.request("GET", "/api/config/config_entries/entry?domain=mqtt")
        entry = entries[0] if entries else None
        if entry is not None and entry.get("state") in ("setup_error", "failed_unload"):
            raise DemoError(f"the MQTT integration is {entry['state']}: {entry.get('reason')}")
        return entry if entry is not None and entry.get("state") == "loaded" else None

    await poll("the MQTT integration to load", loaded, READY_TIMEOUT_S)
    return done


@dataclass
class Equipment:
    """The home's equipment entities that MQTT discovery made from the hub."""

    entities: dict[str, str]  # equipment option -> entity id
    device_ids: list[str]
    states: dict[str, str]  # entity id -> state


async def hub_equipment(ha: HomeAssistant, hub: Hub) -> Equipment | None:
    """The entities Home Assistant made from the hub's discovery, once each has a state.

    Found in the entity registry by their discovery unique ids (platform `mqtt`), whatever
    entity ids they got.
    """
    registry = await ha.ws("config/entity_registry/list")
    by_unique_id = {e["unique_id"]: e for e in registry if e.get("platform") == "mqtt"}
    entities: dict[str, str] = {}
    device_ids: list[str] = []
    states: dict[str, str] = {}
    for key, unique_id in hub.unique_ids().items():
        entity = by_unique_id.get(unique_id)
        if entity is None:
            return None
        entity_id = str(entity["entity_id"])
        state = await ha.request("GET", f"/api/states/{entity_id}", ok=(200, 404))
        if state is None or state.get("state") in (None, "unknown", "unavailable"):
            return None
        entities[key] = entity_id
        states[entity_id] = str(state["state"])
        if entity.get("device_id") and entity["device_id"] not in device_ids:
            device_ids.append(str(entity["device_id"]))
    return Equipment(entities, device_ids, states)


async def refuse_stand_ins(ha: HomeAssistant) -> None:
    """Stop with advice if the config dir comes from the demo of before the hub simulator.

    That demo's home watched template stand-ins that no longer exist, so it would be at fault
    forever.
    """
    registry = await ha.ws("config/entity_registry/list")
    if any(
        e.get("platform") == "template" and e.get("unique_id") == f"{DOMAIN}_demo_plug"
        for e in registry
    ):
        raise DemoError(
            "this demo config was made by an earlier demo whose equipment were template"
            " stand-ins; the demo now runs its equipment through MQTT: delete the demo's"
            " directory (.demo) to start afresh"
        )


async def find_device(ha: HomeAssistant, entry_id: str) -> dict[str, Any] | None:
    """Return the demo home's device from the device registry, once the entry made it."""
    devices = await ha.ws("config/device_registry/list")
    return next(
        (
            d
            for d in devices
            if entry_id in d.get("config_entries", []) and d.get("manufacturer") == MANUFACTURER
        ),
        None,
    )


async def home_states(ha: HomeAssistant, entry_id: str) -> dict[str, dict[str, Any]] | None:
    """Return the home's sensor states once its status has one (next supervision if known).

    The entities are found by unique id (`<entry_id>_<key>`), as the public contract names
    them, whatever entity ids the registry gave them.
    """
    entities = await ha.ws("config/entity_registry/list")
    keys = ("status", "next_supervision", "equipment")
    wanted = {f"{entry_id}_{key}": key for key in keys}
    found = {
        wanted[e["unique_id"]]: e["entity_id"]
        for e in entities
        if e.get("platform") == DOMAIN and e.get("unique_id") in wanted
    }
    states: dict[str, dict[str, Any]] = {}
    for key, entity_id in found.items():
        state = await ha.request("GET", f"/api/states/{entity_id}", ok=(200, 404))
        if state is not None and state.get("state") not in (None, "unknown", "unavailable"):
            states[key] = state
    return states if "status" in states else None


@dataclass
class Demo:
    """What the closing print tells the person."""

    url: str
    accounts: dict[str, Account]
    device_id: str
    entry_id: str
    states: dict[str, dict[str, Any]]
    equipment: Equipment
    mqtt_entry: str
    times: list[str]
    time_zone: str
    home_added_now: bool
    failed_components: list[str]


async def bootstrap(
    ha: HomeAssistant, paths: Paths, accounts: dict[str, Account], hub: HubProcess
) -> Demo:
    """Onboard, create the users, MQTT and the demo home (each only if missing), and verify."""
    await onboard(ha, paths, accounts)
    config = await wait_until_running(ha)
    missing = [c for c in REQUIRED_COMPONENTS if c not in config.get("components", [])]
    if missing:
        raise DemoError(f"Home Assistant did not set up {', '.join(missing)}")
    await check_frontend_can_load(ha)
    await refuse_stand_ins(ha)
    operator_id = await ensure_operator(ha, paths, accounts)
    mqtt_entry = await ensure_mqtt(ha, paths, hub.broker, accounts)

    async def discovered() -> Equipment | None:
        return await hub_equipment(ha, hub.hub)

    equipment = await poll(
        f"Home Assistant to discover the hub's plug, power, bed and connectivity entities"
        f" (MQTT discovery; the hub's output is in {paths.hub_log})",
        discovered,
        READY_TIMEOUT_S,
    )

    times: list[str] = []
    existing = await find_home(ha)
    if existing is None:
        entry_id, times = await add_home(
            ha, paths, operator_id, str(config["time_zone"]), equipment.entities
        )
    else:
        entry_id = str(existing["entry_id"])

    async def loaded() -> dict[str, Any] | None:
        entry = await find_home(ha)
        if entry is None:
            raise DemoError(f"{HOME_NAME}'s config entry disappeared")
        if entry.get("state") in ("setup_error", "not_loaded", "failed_unload"):
            raise DemoError(
                f"{HOME_NAME} is not running: its config entry is {entry['state']}"
                f" ({entry.get('reason') or 'no reason given'}); {paths.log} tells why"
            )
        return entry if entry.get("state") == "loaded" else None

    async def device() -> dict[str, Any] | None:
        return await find_device(ha, entry_id)

    async def healthy() -> dict[str, dict[str, Any]] | None:
        # The equipment sensor off: the home reads the hub's entities and finds no fault.
        states = await home_states(ha, entry_id)
        equipment = (states or {}).get("equipment")
        return states if equipment is not None and equipment["state"] == "off" else None

    await poll(f"{HOME_NAME}'s config entry to load", loaded, READY_TIMEOUT_S)
    found = await poll(f"the device of {HOME_NAME}", device, READY_TIMEOUT_S)
    if existing is None:
        await place_in_area(ha, [str(found["id"]), *equipment.device_ids])
    home = await poll(f"{HOME_NAME}'s sensors, with no equipment fault", healthy, READY_TIMEOUT_S)
    return Demo(
        url=f"{ha.base}/",
        accounts=accounts,
        device_id=str(found["id"]),
        entry_id=entry_id,
        states=home,
        equipment=equipment,
        mqtt_entry=mqtt_entry,
        times=times,
        time_zone=str(config["time_zone"]),
        home_added_now=existing is None,
        failed_components=failed_components(paths.log),
    )


def failed_components(log: Path) -> list[str]:
    """Integrations that Home Assistant logged as failed (e.g. a requirement .venv lacks)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return sorted(set(re.findall(r"Setup failed for '([\w.]+)'", text)))


def local_clock(iso: str, time_zone: str) -> str:
    """Show a timestamp state as the local clock time a person reads."""
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(iso).astimezone(ZoneInfo(time_zone)).strftime("%H:%M")
    return iso


def report(
    demo: Demo, timings: Timings, paths: Paths, hub: HubProcess, broker_line: str, *, check: bool
) -> None:
    """Print where the demo is, how to log in, what is simulated and how to play a fault."""
    admin, operator = demo.accounts["admin"], demo.accounts["operator"]
    broker = hub.broker
    status = demo.states["status"]
    lines = [
        "",
        f"Trygghetskamera demo {'checked' if check else 'running'}: {demo.url}",
        f"  admin:        {admin.username} / {admin.password}",
        f"  operator:     {operator.username} / {operator.password}",
        f"  demo home:    {HOME_NAME}, device id: {demo.device_id}"
        + (" (added now)" if demo.home_added_now else ""),
        f"  status:       {status['entity_id']} = {status['state']}",
    ]
    if demo.times:
        lines.append(
            f"  agreed times: {', '.join(demo.times)} ({demo.time_zone}), "
            f"each slot open {SLOT_MINUTES} min"
        )
    if upcoming := demo.states.get("next_supervision"):
        lines.append(
            f"  next slot:    {local_clock(upcoming['state'], demo.time_zone)} ({demo.time_zone})"
        )
    if equipment := demo.states.get("equipment"):
        faults = equipment.get("attributes", {}).get("faults") or []
        lines.append(
            f"  faults:       {equipment['entity_id']} = {equipment['state']}"
            + (f" ({', '.join(faults)})" if faults else " (none)")
        )
    lines += [
        "  simulated:    the camera (a looped video), the home's Zigbee2MQTT hub and its devices",
        f"  camera:       {paths.video} (looped)",
        f"  MQTT broker:  {broker_line.removeprefix('MQTT broker: ')}",
        f"                user {broker.username} (password in the credentials file);"
        f" Home Assistant's MQTT entry {demo.mqtt_entry}; log {broker.log_path}",
        f"  home hub:     simulated Zigbee2MQTT {HUB_ID!r}, pid {hub.pid}, base topic"
        f" {hub.hub.base_topic}; output in {paths.hub_log}",
        "  equipment:    from MQTT discovery, in the home's equipment step"
        + (f" and the {AREA_NAME} area" if demo.home_added_now else "")
        + ":",
    ]
    for key, entity_id in demo.equipment.entities.items():
        role = EQUIPMENT_ROLES.get(key, key)
        lines.append(
            f"                {role + ':':<11} {entity_id} = {demo.equipment.states[entity_id]}"
        )
    if not check:
        lines.append(
            "  play a fault: type here: plug off | plug on | power 0.3 | bed empty |"
            " bed occupied | hub kill | hub start"
        )
    lines.append(
        ("  from a shell: " if not check else "  from a shell (while it runs): ")
        + (
            ""
            if shutil.which("mosquitto_pub")
            else "(mosquitto_pub: apt-get install mosquitto-clients)"
        )
    )
    lines += [
        f"                {example}"
        for example in shell_examples(broker, hub.hub, hub.pid)
        if example
    ]
    lines += [
        f"  log:          {paths.log}",
        f"  credentials:  {paths.credentials}",
        f"  start took:   {timings.summary()}",
    ]
    if demo.failed_components:
        lines.append(
            f"  note:         Home Assistant could not set up {', '.join(demo.failed_components)}"
            " (see the log); the demo does not use them"
        )
    print("\n".join(lines), flush=True)


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help="Home Assistant config dir (default .demo/config); credentials.json goes beside it",
    )
    parser.add_argument(
        "--port", type=int, default=8123, help="HTTP port on 127.0.0.1 (0: any free port)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="start, set up and verify the demo, then stop Home Assistant and exit",
    )
    return parser.parse_args(argv)


async def check_operator_login(session: aiohttp.ClientSession, port: int, demo: Demo) -> None:
    """Log in as the operator with the printed password; it must be an ordinary user."""
    operator = HomeAssistant(session, port)
    try:
        await operator.login(demo.accounts["operator"])
        user = await operator.ws("auth/current_user")
    finally:
        await operator.close()
    if user.get("is_admin") or user.get("is_owner"):
        raise DemoError(f"the operator {user.get('name')!r} is an administrator")


async def check_plug_round_trip(ha: HomeAssistant, plug: str) -> None:
    """Switch the plug off and on from Home Assistant: through the broker to the hub and back.

    Home Assistant publishes on the plug's `set` topic, the hub switches and publishes its new
    state, and the entity follows; back on at once, well inside the fault's debounce.
    """
    for service, wanted in (("turn_off", "off"), ("turn_on", "on")):
        await ha.request("POST", f"/api/services/switch/{service}", {"entity_id": plug})

        async def switched(wanted: str = wanted) -> str | None:
            state = await ha.request("GET", f"/api/states/{plug}")
            return wanted if state.get("state") == wanted else None

        await poll(f"{plug} to turn {wanted} through the hub", switched, READY_TIMEOUT_S)


async def bring_up(
    hass: Hass,
    port: int,
    timings: Timings,
    *,
    bootstrap_demo: bool,
    accounts: dict[str, Account] | None = None,
    hub: HubProcess | None = None,
    check: bool = False,
) -> Demo | None:
    """Wait for the API to answer, then (unless only restarting) bootstrap and verify."""
    assert hass.process is not None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        ha = HomeAssistant(session, port)
        await ha.wait_for_api(hass.process)
        timings.api_answered = time.monotonic()
        if not bootstrap_demo:
            return None
        assert accounts is not None
        assert hub is not None
        try:
            demo = await bootstrap(ha, hass.paths, accounts, hub)
            timings.ready = time.monotonic()
            if check:
                await check_plug_round_trip(ha, demo.equipment.entities["plug_entity"])
        finally:
            await ha.close()
        if check:
            await check_operator_login(session, port, demo)
    return demo


def serve(hass: Hass, port: int, timings: Timings, hub: HubProcess) -> int:
    """Stay in the foreground; restart HA when it asks to be; return its exit code."""
    print("Press Ctrl-C to stop.", flush=True)
    if sys.stdin is not None and sys.stdin.isatty():
        threading.Thread(target=read_commands, args=(hub,), name="commands", daemon=True).start()
    while True:
        assert hass.process is not None
        code = hass.process.wait()
        if code != RESTART_EXIT_CODE:
            print(f"Home Assistant exited with code {code}")
            return code
        # Under a supervisor or container, something restarts HA when it exits with this
        # code (Settings → ⋮ → Restart, e.g. after editing the integration): here, we do.
        # The broker and the hub keep running meanwhile, as they would on their own hosts.
        print("Home Assistant asked to be restarted; starting it again", flush=True)
        timings.hass_started = time.monotonic()
        hass.start()
        asyncio.run(bring_up(hass, port, timings, bootstrap_demo=False))
        took = timings.api_answered - timings.hass_started
        print(f"Home Assistant is back after {took:.1f} s", flush=True)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (from a service manager, CI or `kill`) stops the demo as Ctrl-C does."""
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    """Start the demo; see the module docstring."""
    timings = Timings()
    args = parse_args(argv)
    paths = Paths(args.config.resolve())
    port = free_port() if args.port == 0 else args.port
    ensure_port_free(port)

    paths.config.mkdir(parents=True, exist_ok=True)
    link_integration(paths.config)
    write_configuration(paths.config)
    write_http_config(paths.config, port)
    timings.video_generated = ensure_video(paths.video)
    accounts = load_credentials(paths.credentials)

    signal.signal(signal.SIGTERM, _interrupt)
    # The broker and the home hub first, as in a municipality: they run before and beside
    # Home Assistant, whose MQTT integration then connects at once.
    broker, broker_line = start_broker(paths, accounts)
    print(f"demo: {broker_line}", flush=True)
    hub = HubProcess(paths, broker)
    hass = Hass(paths)
    try:
        hub.start()
        timings.hass_started = time.monotonic()
        hass.start()
        demo = asyncio.run(
            bring_up(
                hass,
                port,
                timings,
                bootstrap_demo=True,
                accounts=accounts,
                hub=hub,
                check=args.check,
            )
        )
        assert demo is not None
        report(demo, timings, paths, hub, broker_line, check=args.check)
        if args.check:
            return 0
        return serve(hass, port, timings, hub)
    except DemoError as err:
        print(f"\ndemo: {err}\n--- the end of {paths.console} ---\n{tail(paths.console)}")
        return 1
    except KeyboardInterrupt:
        print("\nstopping Home Assistant…", flush=True)
        return 0
    finally:
        code = hass.stop()
        if code is not None:
            print(f"Home Assistant stopped (exit code {code})", flush=True)
        hub.stop()
        broker.stop()
        print(f"hub and {broker.kind} stopped", flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except DemoError as err:
        print(f"demo: {err}", file=sys.stderr)
        sys.exit(1)
