"""What the demo is and where it keeps it: its settings, the config dir, the credentials."""

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import json
import os
from pathlib import Path
import secrets
import socket
import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REPO = Path(__file__).resolve().parents[2]

DOMAIN = "trygghetskamera"
INTEGRATION_DIR = REPO / "custom_components" / DOMAIN
DEFAULT_CONFIG = REPO / ".demo" / "config"

HOME_NAME = "Demo 1203"
MANUFACTURER = "Trygghetskamera"
ADMIN = ("admin", "Demo admin")
OPERATOR = ("operator", "Demo night operator")
# HA's built-in group for ordinary (non-admin) users.
USERS_GROUP = "system-users"

# The demo home's camera: a simulated network camera (simulators/camera.py) serving a generated
# bedroom at night as MJPEG over HTTP, with a password, on loopback; the home's stream URL.
CAMERA_USER = "kamera"
CAMERA_READY_TIMEOUT_S = 60.0

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

# Home Assistant's API answered 122 s after its start on a 2-core machine under a load average of
# 14 (25 s unloaded): the waits are bounds for a hang, not estimates.
API_TIMEOUT_S = 300.0
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
# Home Assistant exits with this code when a user asks it to restart (Settings → ⋮ → Restart).
RESTART_EXIT_CODE = 100

CONFIGURATION_YAML = """\
# Written by scripts/demo on every start: edit scripts/demo/config.py, not this file.
# A minimal configuration (no default_config): it starts in seconds and loads only integrations
# whose requirements .venv already has. The HTTP server's address is not here: Home Assistant
# keeps it in .storage/http (see scripts/demo/config.py).
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


class PortTaken(DemoError):
    """Home Assistant could not listen on its port: something took it after the demo chose it."""


# What Home Assistant prints when its HTTP server cannot bind (it then restarts in recovery mode).
HTTP_BIND_FAILED = "Failed to create HTTP server at port"


@dataclass
class Paths:
    """Where the demo keeps its things."""

    config: Path

    @property
    def credentials(self) -> Path:
        """Credentials sit beside the config dir: `.demo/credentials.json` by default."""
        return self.config.parent / "credentials.json"

    @property
    def camera_log(self) -> Path:
        """What the camera simulator printed: `.demo/camera.log`."""
        return self.config.parent / "camera.log"

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
    camera_ready: float = 0.0

    def summary(self) -> str:
        """One line for the closing print."""
        return (
            f"camera serving {self.camera_ready - self.began:.1f} s, API answering"
            f" {self.api_answered - self.hass_started:.1f} s after the hass process started;"
            f" demo ready {self.ready - self.began:.1f} s after this script began"
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


def ephemeral_ports() -> range:
    """The ports the kernel hands out to outgoing connections (and to a bind on port 0)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="utf-8")
        low, high = (int(number) for number in text.split())
    except OSError, ValueError:
        return range(32768, 61000)  # Linux's default
    return range(low, high + 1)


def free_port() -> int:
    """A free loopback port for Home Assistant, outside the ephemeral range.

    Home Assistant binds it tens of seconds after it is chosen (after the camera, the broker,
    the hub and its own start). A port from the ephemeral range (what a bind on port 0 gives)
    may meanwhile become the local end of any outgoing connection on the machine, another
    program's client of its own broker say; Home Assistant then fails to bind, restarts in
    recovery mode and falls back to its default, every interface on port 8123 (seen in 1 of
    20 starts on a busy machine). No outgoing connection takes a port outside that range.
    """
    ephemeral = ephemeral_ports()
    candidates = [
        port for port in range(20000, 65536) if not ephemeral.start <= port < ephemeral.stop
    ]
    for port in secrets.SystemRandom().sample(candidates, min(50, len(candidates))):
        if port_is_free(port):
            return port
    # Nothing free outside the range (or no such ports here): as the kernel chooses.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether Home Assistant could listen on 127.0.0.1:port now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As Home Assistant's server does: connections of a previous run lingering in
        # TIME_WAIT do not make the port busy, a listening socket does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


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
