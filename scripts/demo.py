"""Start a real Home Assistant with trygghetskamera and one demo home, without camera hardware.

Run it through `scripts/develop` (which bootstraps `.venv` first). Everything it makes lives in
`.demo/` (gitignored): the Home Assistant configuration, a generated H.264 "bedroom at night"
video that stands in for the camera, and the demo users' credentials.

The demo is set up the way an installer would do it, through Home Assistant's own HTTP and
websocket API: onboarding creates the admin, the admin creates an operator, and the demo home
is added with the integration's real config flow. Later starts reuse all of it.

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
import signal
import socket
import subprocess
import sys
import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp

REPO = Path(__file__).resolve().parent.parent
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

# Entities of the demo equipment (configuration.yaml below); the config flow is given these.
PLUG = "switch.demo_plug"
POWER = "sensor.demo_plug_power"
BED = "binary_sensor.demo_bed"
ROUTER = "binary_sensor.demo_router"
# The helpers behind them, which a person flips to play a fault.
HELPERS = (
    "input_boolean.demo_plug_relay",
    "input_number.demo_plug_load",
    "input_boolean.demo_bed_occupied",
    "input_boolean.demo_router_online",
)
# Onboarding creates this area; the demo puts the home and its equipment in it.
AREA_NAME = "Bedroom"

# Integrations the demo cannot do without: it stops with an error unless HA set them all up.
REQUIRED_COMPONENTS = (
    "frontend",
    "config",
    "onboarding",
    "person",
    "template",
    "input_boolean",
    "input_number",
)

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

# The demo equipment. The helpers are what a person flips in the UI (they start healthy on every
# start); the template entities are what the demo home watches, with the device classes that
# real plugs, power meters, bed sensors and routers report.
input_boolean:
  demo_plug_relay:
    name: Demo plug relay
    icon: mdi:power-socket-eu
    initial: true
  demo_bed_occupied:
    name: Demo bed occupied
    icon: mdi:bed
    initial: true
  demo_router_online:
    name: Demo router online
    icon: mdi:router-wireless
    initial: true

input_number:
  demo_plug_load:
    name: Demo plug load
    icon: mdi:flash
    min: 0
    max: 20
    step: 0.1
    initial: 4.5
    unit_of_measurement: W
    mode: slider

template:
  - switch:
      - name: Demo plug
        unique_id: {domain}_demo_plug
        icon: mdi:power-socket-eu
        state: "{{{{ is_state('input_boolean.demo_plug_relay', 'on') }}}}"
        turn_on:
          - action: input_boolean.turn_on
            target:
              entity_id: input_boolean.demo_plug_relay
        turn_off:
          - action: input_boolean.turn_off
            target:
              entity_id: input_boolean.demo_plug_relay
    sensor:
      - name: Demo plug power
        unique_id: {domain}_demo_plug_power
        device_class: power
        state_class: measurement
        unit_of_measurement: W
        # A switched-off plug draws nothing, whatever the load slider says.
        state: >-
          {{{{ states('input_number.demo_plug_load') | float(0)
              if is_state('input_boolean.demo_plug_relay', 'on') else 0 }}}}
    binary_sensor:
      - name: Demo bed
        unique_id: {domain}_demo_bed
        device_class: occupancy
        state: "{{{{ is_state('input_boolean.demo_bed_occupied', 'on') }}}}"
      - name: Demo router
        unique_id: {domain}_demo_router
        device_class: connectivity
        state: "{{{{ is_state('input_boolean.demo_router_online', 'on') }}}}"
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
    """A demo user's login."""

    username: str
    password: str


def load_credentials(path: Path) -> dict[str, Account]:
    """Read the demo users' logins from earlier starts, if any."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise DemoError(f"cannot read {path}: {err}") from err
    return {role: Account(item["username"], item["password"]) for role, item in raw.items()}


def save_credentials(path: Path, accounts: dict[str, Account]) -> None:
    """Keep the logins for the next start."""
    data = {role: {"username": a.username, "password": a.password} for role, a in accounts.items()}
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
    ha: HomeAssistant, paths: Paths, operator_id: str, time_zone: str
) -> tuple[str, list[str]]:
    """Add the demo home through the integration's config flow; return (entry id, times)."""
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
        "equipment": {
            "plug_entity": PLUG,
            "power_entity": POWER,
            "min_power_w": 1.0,
            "bed_entity": BED,
            "connectivity_entity": ROUTER,
        },
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


async def place_in_area(ha: HomeAssistant, device_id: str) -> None:
    """Put the new home and its equipment in the bedroom, so the Overview shows them together.

    Done once, when the home is added: a person may move them elsewhere afterwards.
    """
    areas = await ha.ws("config/area_registry/list")
    area = next((a for a in areas if a.get("name", "").casefold() == AREA_NAME.casefold()), None)
    if area is None:
        return
    await ha.ws("config/device_registry/update", device_id=device_id, area_id=area["area_id"])
    for entity_id in (PLUG, POWER, BED, ROUTER, *HELPERS):
        await ha.ws("config/entity_registry/update", entity_id=entity_id, area_id=area["area_id"])


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
    wanted = {f"{entry_id}_{key}": key for key in ("status", "next_supervision")}
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
    states: dict[str, dict[str, Any]]
    times: list[str]
    time_zone: str
    home_added_now: bool
    failed_components: list[str]


async def bootstrap(ha: HomeAssistant, paths: Paths) -> Demo:
    """Onboard, create the users and the demo home (each only if missing), and verify."""
    accounts = load_credentials(paths.credentials)
    await onboard(ha, paths, accounts)
    config = await wait_until_running(ha)
    missing = [c for c in REQUIRED_COMPONENTS if c not in config.get("components", [])]
    if missing:
        raise DemoError(f"Home Assistant did not set up {', '.join(missing)}")
    await check_frontend_can_load(ha)
    operator_id = await ensure_operator(ha, paths, accounts)

    times: list[str] = []
    existing = await find_home(ha)
    if existing is None:
        entry_id, times = await add_home(ha, paths, operator_id, str(config["time_zone"]))
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

    async def states() -> dict[str, dict[str, Any]] | None:
        return await home_states(ha, entry_id)

    await poll(f"{HOME_NAME}'s config entry to load", loaded, READY_TIMEOUT_S)
    found = await poll(f"the device of {HOME_NAME}", device, READY_TIMEOUT_S)
    if existing is None:
        await place_in_area(ha, str(found["id"]))
    home = await poll(f"the states of {HOME_NAME}'s sensors", states, READY_TIMEOUT_S)
    return Demo(
        url=f"{ha.base}/",
        accounts=accounts,
        device_id=str(found["id"]),
        states=home,
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


def report(demo: Demo, timings: Timings, paths: Paths, *, check: bool) -> None:
    """Print where the demo is and how to log in."""
    admin, operator = demo.accounts["admin"], demo.accounts["operator"]
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
    lines += [
        f"  camera:       {paths.video} (looped)",
        f"  equipment:    {PLUG}, {POWER}, {BED}, {ROUTER}",
        f"                (in the {AREA_NAME} area; flip them with {', '.join(HELPERS[:2])},",
        f"                {', '.join(HELPERS[2:])})",
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


async def bring_up(
    hass: Hass, port: int, timings: Timings, *, bootstrap_demo: bool, check: bool = False
) -> Demo | None:
    """Wait for the API to answer, then (unless only restarting) bootstrap and verify."""
    assert hass.process is not None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        ha = HomeAssistant(session, port)
        await ha.wait_for_api(hass.process)
        timings.api_answered = time.monotonic()
        if not bootstrap_demo:
            return None
        try:
            demo = await bootstrap(ha, hass.paths)
        finally:
            await ha.close()
        timings.ready = time.monotonic()
        if check:
            await check_operator_login(session, port, demo)
    return demo


def serve(hass: Hass, port: int, timings: Timings) -> int:
    """Stay in the foreground; restart HA when it asks to be; return its exit code."""
    print("Press Ctrl-C to stop.", flush=True)
    while True:
        assert hass.process is not None
        code = hass.process.wait()
        if code != RESTART_EXIT_CODE:
            print(f"Home Assistant exited with code {code}")
            return code
        # Under a supervisor or container, something restarts HA when it exits with this
        # code (Settings → ⋮ → Restart, e.g. after editing the integration): here, we do.
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

    signal.signal(signal.SIGTERM, _interrupt)
    hass = Hass(paths)
    timings.hass_started = time.monotonic()
    hass.start()
    try:
        demo = asyncio.run(bring_up(hass, port, timings, bootstrap_demo=True, check=args.check))
        assert demo is not None
        report(demo, timings, paths, check=args.check)
        if args.check:
            return 0
        return serve(hass, port, timings)
    except DemoError as err:
        print(f"\ndemo: {err}\n--- the end of {paths.console} ---\n{tail(paths.console)}")
        return 1
    except KeyboardInterrupt:
        print("\nstopping Home Assistant…", flush=True)
        return 0
    finally:
        code = hass.stop()
        print(f"Home Assistant stopped (exit code {code})", flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except DemoError as err:
        print(f"demo: {err}", file=sys.stderr)
        sys.exit(1)
