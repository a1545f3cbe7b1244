"""The integration installs and runs on a stock Home Assistant, as a user's would.

A virtual environment of its own holds only `homeassistant` at the harness's release, installed
with HA's own constraints, plus the requirements of the integrations HA always loads (the frontend
and its company, pinned in requirements_test.txt) so that its start does not download them;
never PyAV or numpy (HA installs whatever else its default integrations need, as for a user).
The integration is copied into `config/custom_components/` and `hass` starts **without**
`--skip-pip`: Home Assistant installs the manifest's requirements itself, under its
`package_constraints.txt`. The owner is onboarded and a home is
added through the REST config flow against a real RTSP camera (GStreamer), and the entry must be
loaded.

Nothing here is a mock. The environment is kept under `.tools/stock-ha/`, keyed on the versions
it holds, so a warm run only starts Home Assistant; PyAV is removed from it before every run, so
Home Assistant installs it every time. Needs PyPI (as CI has).
"""

from collections.abc import Iterator
import contextlib
import fcntl
import hashlib
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

from homeassistant.const import __version__ as HA_VERSION
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
import pytest

from .ha_constraints import parse_constraints
from .media_sources import RtspServer, free_port

ROOT = Path(__file__).resolve().parent.parent
COMPONENT = ROOT / "custom_components" / "trygghetskamera"
CACHE = ROOT / ".tools" / "stock-ha"
UV = Path(sys.executable).with_name("uv")
# What Home Assistant always loads needs these (see requirements_test.txt); a user's HA would
# download them at its first start. Not PyAV nor numpy: those are the integration's, for HA to
# install.
PREINSTALLED = (
    "home-assistant-frontend",
    "gazetteer-matcher",
    "gTTS",
    "ha-ffmpeg",
    "hassil",
    "home-assistant-intents",
    "infrared-protocols",
    "mutagen",
    "rf-protocols",
    "pymicro-vad",
    "pyspeex-noise",
)
# Removed before every run, for Home Assistant to install again. Not numpy: HA's own camera
# integration brings it (through PyTurboJPEG) on a stock installation before any home is added.
REINSTALLED_BY_HA = "av"
BUILD_TIMEOUT_S = 1800
API_TIMEOUT_S = 300
# Adding the first home makes HA download and install PyAV and numpy before the flow answers.
FLOW_TIMEOUT_S = 600
STOP_TIMEOUT_S = 60
OWNER = ("Ägare", "owner", "stock-install-test-password")
CONFIGURATION_YAML = """\
homeassistant:
  name: Stock install
  time_zone: Europe/Stockholm
  country: SE
  unit_system: metric
http:
  server_host: 127.0.0.1
  server_port: {port}
logger:
  default: warning
  logs:
    homeassistant.util.package: info
    custom_components.trygghetskamera: info
"""

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("socket_enabled")]


def _pins() -> dict[str, str]:
    """requirements_test.txt's pins by canonical name."""
    pins = {}
    for raw in (ROOT / "requirements_test.txt").read_text(encoding="utf-8").splitlines():
        if line := raw.split("#", 1)[0].strip():
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = line
    return pins


def _run(command: list[str | Path], **kwargs: Any) -> None:
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, **kwargs
    )
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")


def _build(venv: Path, requirements: list[str]) -> None:
    """A fresh environment: homeassistant, then what HA always loads, under HA's constraints."""
    env = os.environ.copy()
    # Wheels missing for this Python are built against its headers (as scripts/setup does).
    if (headers := ROOT / ".tools" / "python3.14" / "usr" / "include").is_dir():
        env["CPPFLAGS"] = f"-I{headers} {env.get('CPPFLAGS', '')}".strip()
    python = venv / "bin" / "python"
    _run([UV, "venv", "--quiet", "-p", sys._base_executable, venv], env=env)
    install = [UV, "pip", "install", "--quiet", "--python", python]
    _run([*install, f"homeassistant=={HA_VERSION}"], env=env, timeout=BUILD_TIMEOUT_S)
    constraints = next(venv.glob("lib/python*/site-packages/homeassistant/package_constraints.txt"))
    _run([*install, "--constraint", constraints, *requirements], env=env, timeout=BUILD_TIMEOUT_S)


@pytest.fixture(name="stock_venv")
def stock_venv_fixture() -> Iterator[Path]:
    """The cached stock environment, without PyAV."""
    pins = _pins()
    requirements = [pins[canonicalize_name(name)] for name in PREINSTALLED]
    key = hashlib.sha256(json.dumps([HA_VERSION, sys.version, requirements]).encode()).hexdigest()[
        :16
    ]
    venv = CACHE / f"homeassistant-{HA_VERSION}-{key}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".complete").is_file():
            shutil.rmtree(venv, ignore_errors=True)
            _build(venv, requirements)
            (venv / ".complete").touch()
        python = venv / "bin" / "python"
        _run([UV, "pip", "uninstall", "--quiet", "--python", python, REINSTALLED_BY_HA])
        assert not _installed(python, REINSTALLED_BY_HA)
        yield venv


def _installed(python: Path, distribution: str) -> str | None:
    """The version of `distribution` installed in that environment, or None."""
    script = f"from importlib.metadata import version; print(version({distribution!r}))"
    result = subprocess.run(
        [python, "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


class Api:
    """Home Assistant's REST API, as the frontend calls it."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.client_id = f"{self.base}/"
        self.token: str | None = None

    def call(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        *,
        form: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        data = None
        if payload is not None:
            data = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(
            f"{self.base}{path}", data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{method} {path}: {err.code} {err.read()[:500]!r}") from None
        return json.loads(body) if body else None

    def wait(self, hass: subprocess.Popen[bytes], log: Path) -> None:
        """Until the API answers (before onboarding any answer will do)."""
        deadline = time.monotonic() + API_TIMEOUT_S
        while True:
            if hass.poll() is not None:
                raise AssertionError(f"hass exited with {hass.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{self.base}/auth/providers", timeout=5):
                    return
            except urllib.error.HTTPError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no API after {API_TIMEOUT_S} s:\n{_tail(log)}") from None
            # A process's port cannot be awaited from here: poll it, briefly.
            time.sleep(0.2)

    def onboard(self) -> None:
        """Create the owner and finish onboarding, step by step as the frontend does."""
        name, username, password = OWNER
        created = self.call(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": self.client_id,
                "name": name,
                "username": username,
                "password": password,
                "language": "en",
            },
        )
        token = self.call(
            "POST",
            "/auth/token",
            form={
                "grant_type": "authorization_code",
                "code": created["auth_code"],
                "client_id": self.client_id,
            },
        )
        self.token = token["access_token"]
        # Not the core_config step: it adds the weather and radio integrations, which would
        # download their requirements and then reach for the internet.
        self.call("POST", "/api/onboarding/analytics", {})
        self.call(
            "POST",
            "/api/onboarding/integration",
            {"client_id": self.client_id, "redirect_uri": f"{self.base}/?auth_callback=1"},
        )


def _tail(log: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


@contextlib.contextmanager
def _hass(venv: Path, config: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`hass` of the stock environment, without --skip-pip; stopped with one SIGTERM."""
    with (config / "console.log").open("wb") as console:
        process = subprocess.Popen(
            [venv / "bin" / "hass", "--config", config, "--log-no-color"],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            cwd=config,
            env={k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")},
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _answer(step: dict[str, Any], camera_url: str) -> dict[str, Any]:
    """What an installer enters at each step of adding a home."""
    match step["step_id"]:
        case "camera" | "user":
            return {"name": "Lgh 1203", "stream_url": camera_url}
        case "schedule":
            return {"times": ["22:30", "01:30"]}
        case "operators":
            (field,) = (f for f in step["data_schema"] if f["name"] == "operators")
            owner = next(
                option["value"]
                for option in field["selector"]["select"]["options"]
                if option["label"] == OWNER[0]
            )
            return {"operators": [owner]}
        case "consent":
            return {"consent": True}
        case _:
            # Every other step (equipment, view) has usable defaults.
            return {}


def test_a_stock_home_assistant_installs_the_requirements_and_adds_a_home(
    stock_venv: Path, tmp_path: Path
) -> None:
    python = stock_venv / "bin" / "python"
    config = tmp_path / "config"
    shutil.copytree(
        COMPONENT,
        config / "custom_components" / COMPONENT.name,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    port = free_port()
    (config / "configuration.yaml").write_text(CONFIGURATION_YAML.format(port=port))
    api = Api(port)
    log = config / "home-assistant.log"
    with RtspServer() as camera, _hass(stock_venv, config) as hass:
        api.wait(hass, config / "console.log")
        api.onboard()
        step = api.call(
            "POST",
            "/api/config/config_entries/flow",
            {"handler": "trygghetskamera", "show_advanced_options": False},
            timeout=FLOW_TIMEOUT_S,
        )
        for _ in range(10):
            if step["type"] != "form":
                break
            assert not step.get("errors"), (step, _tail(log))
            step = api.call(
                "POST",
                f"/api/config/config_entries/flow/{step['flow_id']}",
                _answer(step, camera.url),
                timeout=FLOW_TIMEOUT_S,
            )
        assert step["type"] == "create_entry", (step, _tail(log))
        entries = api.call("GET", "/api/config/config_entries/entry?domain=trygghetskamera")
        assert [(entry["title"], entry["state"]) for entry in entries] == [
            ("Lgh 1203", "loaded")
        ], _tail(log)
        states = api.call("GET", "/api/states")
        assert any(state["entity_id"].endswith("lgh_1203_status") for state in states), [
            state["entity_id"] for state in states
        ]
    # Home Assistant installed PyAV itself, at what both the manifest and its constraints allow.
    manifest = json.loads((COMPONENT / "manifest.json").read_text())
    av = next(line for line in manifest["requirements"] if line.startswith("av"))
    text = log.read_text()
    assert f"Attempting install of {av}" in text
    # Home Assistant's own complaints (no ffmpeg binary here, ...) are not ours.
    ours = [line for line in text.splitlines() if "ERROR" in line and "trygghetskamera" in line]
    assert ours == []
    for line in manifest["requirements"]:
        requirement = Requirement(line)
        assert requirement.specifier.contains(_installed(python, requirement.name) or "0")
    constraints = next(stock_venv.glob("lib/python*/site-packages/homeassistant/"))
    pinned = parse_constraints((constraints / "package_constraints.txt").read_text())
    for name in ("av", "numpy"):
        version = _installed(python, name)
        assert version is not None, name
        assert pinned[name].contains(version), (name, version, pinned[name])
