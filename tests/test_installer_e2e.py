"""The installer's path in Home Assistant's own config-flow dialogs, in a real browser.

Home Assistant runs as a subprocess (as `scripts/demo` starts it) with one home already added;
headless Chromium, driven by `tests/e2e/installer.mjs` through playwright-core, logs in as an
administrator and adds a second home through *Settings → Devices & services → Add integration*,
typing every kind of bad input into the dialog's forms and reading the translated message the
dialog shows; then edits the new home's agreed times (*Configure*) and points it at another
camera (*Reconfigure*). Once as an English administrator and once as a Swedish one (profile
language Svenska). The cameras are live MJPEG streams (`simulators/camera.py`) served from this
process; the bed sensors are template entities. A few screenshots of the dialog are written to
`docs/screens/installer-*.png`, where the README and docs/operations.md show them.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
import json
from pathlib import Path
import shutil
import sys
from typing import Any

import aiohttp
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import demo  # noqa: E402
from demo.config import OPERATOR  # noqa: E402

from simulators.camera import MjpegServer  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT = REPO / "node_modules" / "playwright-core"
SCRIPT = REPO / "tests" / "e2e" / "installer.mjs"
SCREENS = REPO / "docs" / "screens"
CAMERA_SIZE = (320, 240)
ADMIN_GROUP = "system-admin"
OPERATOR_NAME = OPERATOR[1]
SWEDISH_ADMIN = ("tekniker", "Svensk tekniker")
# Two walks of about a minute each on an idle machine; generous for a loaded one.
BROWSER_TIMEOUT_S = 600.0
# Shaped like a Swedish personal identity number (the tax agency's test number).
PERSONAL_NUMBER = "19121212-1212"
# The first home's bed sensor, and one for each new home (template entities: no hub runs here).
BED_NAMES = {"first": "First bed", "en": "Bed 0907", "sv": "Bed 0908"}
BEDS = {key: "binary_sensor." + name.lower().replace(" ", "_") for key, name in BED_NAMES.items()}
TEMPLATE_BEDS = "template:\n  - binary_sensor:\n" + "".join(
    f"""      - name: {name}
        unique_id: {BEDS[key].split(".")[1]}
        device_class: occupancy
        state: "on"
"""
    for key, name in BED_NAMES.items()
)


def require_browser() -> str:
    """Fail (never skip) with a clear message when the browser tooling is missing."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (Debian package chromium)")
    node = shutil.which("node")
    if node is None:
        missing.append("node (Node.js >= 20)")
    if not PLAYWRIGHT.exists():
        missing.append(f"{PLAYWRIGHT} (npm playwright-core)")
    if missing or node is None:
        pytest.fail(f"the installer's e2e test needs {', '.join(missing)}: run scripts/setup")
    return node


async def add_first_home(ha: demo.HomeAssistant, camera_url: str, operator_id: str) -> str:
    """The home already there: its camera and bed sensor are what the installer must not reuse."""
    answers: dict[str, dict[str, Any]] = {
        "camera": {"name": demo.HOME_NAME, "stream_url": camera_url},
        "schedule": {"times": ["22:30"]},
        "equipment": {"bed_entity": BEDS["first"]},
        "operators": {"operators": [operator_id]},
        "consent": {"consent": True},
    }
    result = await ha.request("POST", "/api/config/config_entries/flow", {"handler": demo.DOMAIN})
    while result.get("type") == "form":
        assert not result.get("errors"), result
        result = await ha.request(
            "POST",
            f"/api/config/config_entries/flow/{result['flow_id']}",
            answers[result["step_id"]],
        )
    assert result.get("type") == "create_entry", result
    return str(result["result"]["entry_id"])


async def create_swedish_admin(
    session: aiohttp.ClientSession, ha: demo.HomeAssistant, port: int
) -> demo.Account:
    """An administrator whose profile language is Svenska (set as the profile page sets it)."""
    account = demo.Account(SWEDISH_ADMIN[0], demo.new_password())
    created = await ha.ws("config/auth/create", name=SWEDISH_ADMIN[1], group_ids=[ADMIN_GROUP])
    await ha.ws(
        "config/auth_provider/homeassistant/create",
        user_id=created["user"]["id"],
        username=account.username,
        password=account.password,
    )
    own = demo.HomeAssistant(session, port)
    await own.login(account)
    # The profile's language picker stores this in the user's own frontend data.
    await own.ws(
        "frontend/set_user_data",
        key="language",
        value={"language": "sv", "number_format": "language", "time_format": "language"},
    )
    await own.close()
    return account


@pytest.fixture
def cameras(socket_enabled: None) -> Iterator[list[MjpegServer]]:
    """Three live cameras: the first home's, the new home's, and the one it is moved to."""
    with (
        MjpegServer(live=True, size=CAMERA_SIZE) as first,
        MjpegServer(live=True, size=CAMERA_SIZE) as second,
        MjpegServer(live=True, size=CAMERA_SIZE) as third,
    ):
        yield [first, second, third]


@pytest.fixture
async def running_hass(
    tmp_path: Path, socket_enabled: None
) -> AsyncIterator[tuple[demo.Hass, int]]:
    """A real Home Assistant on a free port, stopped afterwards."""
    paths = demo.Paths(tmp_path / "config")
    paths.config.mkdir(parents=True)
    port = demo.free_port()
    demo.link_integration(paths.config)
    demo.write_configuration(paths.config)
    with (paths.config / "configuration.yaml").open("a") as configuration:
        configuration.write(TEMPLATE_BEDS)
    demo.write_http_config(paths.config, port)
    hass = demo.Hass(paths)
    hass.start()
    try:
        yield hass, port
    finally:
        await asyncio.to_thread(hass.stop)


async def prepare(
    hass: demo.Hass, port: int, cameras: list[MjpegServer], session: aiohttp.ClientSession
) -> dict[str, Any]:
    """Onboard, add the first home, create the Swedish admin; return the browser's job."""
    assert hass.process is not None
    ha = demo.HomeAssistant(session, port)
    await ha.wait_for_api(hass.process)
    accounts: dict[str, demo.Account] = {}
    await demo.onboard(ha, hass.paths, accounts)
    await demo.wait_until_running(ha)
    await demo.check_frontend_can_load(ha)
    operator_id = await demo.ensure_operator(ha, hass.paths, accounts)
    await add_first_home(ha, cameras[0].url, operator_id)
    swedish = await create_swedish_admin(session, ha, port)
    await ha.close()
    admin = accounts["admin"]
    return {
        "base": f"http://127.0.0.1:{port}",
        "chromium": str(CHROMIUM),
        "screens": str(SCREENS),
        "domain": demo.DOMAIN,
        "integrationName": "Trygghetskamera",
        "operatorName": OPERATOR_NAME,
        "personalNumber": PERSONAL_NUMBER,
        "firstCamera": cameras[0].url,
        # The same camera written differently: with credentials and a `/./` in its path.
        "firstCameraWrittenDifferently": cameras[0]
        .url.replace("http://", "http://someone:secret@")
        .rstrip("/")
        + "/./",
        "beds": BEDS,
        "bedNames": BED_NAMES,
        "walks": [
            {
                "language": "en",
                "locale": "en-US",
                "account": {"username": admin.username, "password": admin.password},
                "home": "Lgh 0907",
                "camera": f"{cameras[1].url}?home=0907",
                "movedCamera": f"{cameras[2].url}?home=0907",
                "bed": BEDS["en"],
                "bedName": BED_NAMES["en"],
                "times": "22:30, 1:30 and 04:30",
                "newTimes": "23:00, 03:00",
                "shots": ["camera-in-use", "impossible-time", "options"],
            },
            {
                "language": "sv",
                "locale": "sv-SE",
                "account": {"username": swedish.username, "password": swedish.password},
                "home": "Lgh 0908",
                "camera": f"{cameras[1].url}?home=0908",
                "movedCamera": f"{cameras[2].url}?home=0908",
                "bed": BEDS["sv"],
                "bedName": BED_NAMES["sv"],
                "times": "22:30, 1:30 och 04:30",
                "newTimes": "23:15 och 3:15",
                "shots": ["camera-in-use", "bed-shared", "reconfigured"],
            },
        ],
    }


def translations(language: str) -> dict[str, Any]:
    """The integration's strings in `language`, as the frontend is given them."""
    path = REPO / "custom_components" / demo.DOMAIN / "translations" / f"{language}.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def message(text: str, **placeholders: str) -> str:
    """A message with its placeholders filled in, as the dialog shows it."""
    for key, value in placeholders.items():
        text = text.replace("{" + key + "}", value)
    return text


async def stored_camera_and_times(ha: demo.HomeAssistant, entry_id: str) -> tuple[str, list[str]]:
    """The home's stream and agreed times as stored: the defaults of fresh reconfigure and
    options flows (which are then closed), as Home Assistant hands them to its dialogs."""
    flows = "/api/config/config_entries"
    options = await ha.request("POST", f"{flows}/options/flow", {"handler": entry_id})
    await ha.request("DELETE", f"{flows}/options/flow/{options['flow_id']}")
    # An entry id makes it a reconfigure flow, as the entry's ⋮ → Reconfigure starts it.
    camera = await ha.request(
        "POST", f"{flows}/flow", {"handler": demo.DOMAIN, "entry_id": entry_id}
    )
    await ha.request("DELETE", f"{flows}/flow/{camera['flow_id']}")
    defaults = {
        field["name"]: field.get("default")
        for result in (options, camera)
        for field in result["data_schema"]
    }
    return str(defaults["stream_url"]), list(defaults["times"])


async def test_installer_adds_a_home_in_home_assistants_dialogs(
    running_hass: tuple[demo.Hass, int],
    cameras: list[MjpegServer],
) -> None:
    """Every bad input refused in the dialog with its translated message; then a valid home,
    its times changed (Configure) and its camera changed (Reconfigure); in English and Swedish."""
    node = require_browser()
    hass, port = running_hass
    SCREENS.mkdir(parents=True, exist_ok=True)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        job = await prepare(hass, port, cameras, session)
        process = await asyncio.create_subprocess_exec(
            node,
            str(SCRIPT),
            json.dumps(job),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(BROWSER_TIMEOUT_S):
                out, err = await process.communicate()
        except TimeoutError:
            process.kill()
            await process.wait()
            pytest.fail(f"the browser did not finish within {BROWSER_TIMEOUT_S:.0f} s")
        text = out.decode()
        assert process.returncode == 0, f"{text}\n{err.decode()}\n{demo.tail(hass.paths.log)}"
        seen = {line["step"]: line for line in map(json.loads, text.splitlines())}

        ha = demo.HomeAssistant(session, port)
        admin = job["walks"][0]["account"]
        await ha.login(demo.Account(admin["username"], admin["password"]))
        entries = {e["title"]: e for e in await ha.ws("config_entries/get", domain=demo.DOMAIN)}
        devices = await ha.ws("config/device_registry/list")
        stored = {
            walk["home"]: await stored_camera_and_times(ha, entries[walk["home"]]["entry_id"])
            for walk in job["walks"]
        }
        await ha.close()

    for walk in job["walks"]:
        check_walk(walk, seen, entries, devices, stored)
    # Each device name typed in Home Assistant's last step was taken back, and never logged.
    log = hass.paths.log.read_text(encoding="utf-8")
    assert log.count("given a name like a personal identity number") == len(job["walks"])
    assert PERSONAL_NUMBER not in log


def check_walk(
    walk: dict[str, Any],
    seen: dict[str, dict[str, Any]],
    entries: dict[str, dict[str, Any]],
    devices: list[dict[str, Any]],
    stored: dict[str, tuple[str, list[str]]],
) -> None:
    """One administrator's walk: what each answer was and what the dialog said."""
    language = walk["language"]
    strings = translations(language)

    def shown(case: str) -> dict[str, Any]:
        return dict(seen[f"{language}:{case}"])

    def refused(
        case: str, step: str, field: str, key: str, flow: str = "config", **placeholders: str
    ) -> None:
        answer = shown(case)
        assert answer["type"] == "form", answer
        assert answer["step_id"] == step, answer
        assert answer["errors"] == {field: key}, answer
        text = strings[flow]["error"][key]
        assert answer["alerts"] == [message(text, **placeholders)], answer

    def went_on(case: str, step: str, flow: str = "config") -> None:
        answer = shown(case)
        assert (answer["step_id"], answer["errors"]) == (step, {}), answer
        assert answer["title"] == strings[flow]["step"][step]["title"], answer

    # Adding a home: each bad input refused on its own step, in the user's language.
    refused("personal_number", "camera", "name", "personal_number")
    refused("file", "camera", "stream_url", "local_file")
    refused("camera_in_use", "camera", "stream_url", "camera_in_use", home=demo.HOME_NAME)
    went_on("camera", "schedule")
    refused("impossible_time", "schedule", "times", "impossible_time", time="25:00")
    refused("overlapping", "schedule", "times", "overlapping_slots", first="22:30", second="22:45")
    went_on("schedule", "equipment")
    refused("bed_shared", "equipment", "bed_entity", "bed_entity_shared", home=demo.HOME_NAME)
    went_on("equipment", "operators")
    refused(
        "retention", "operators", "audit_retention_months", "retention_range", low="1", high="120"
    )
    went_on("operators", "consent")
    assert shown("consent")["type"] == "create_entry", shown("consent")
    entry = entries[walk["home"]]
    assert entry["state"] == "loaded", entry
    # The device name typed in Home Assistant's last step was taken back at once (the log
    # says so, checked below: without that, an unsaved name would pass here too).
    (device,) = [
        d
        for d in devices
        if entry["entry_id"] in (d.get("config_entries") or [d.get("primary_config_entry")])
    ]
    assert device["name"] == walk["home"], device
    assert device["name_by_user"] is None, device

    # Configure: the stored times shown normalised; an overlap refused; new times saved.
    opened = shown("options_opened")
    assert opened["title"] == strings["options"]["step"]["schedule"]["title"], opened
    assert opened["times"] == ["22:30", "01:30", "04:30"], opened
    refused(
        "options_overlapping",
        "schedule",
        "times",
        "overlapping_slots",
        "options",
        first="23:00",
        second="23:10",
    )
    went_on("options_schedule", "equipment", "options")
    went_on("options_equipment", "operators", "options")
    went_on("options_operators", "view", "options")
    assert shown("options_view")["type"] == "create_entry", shown("options_view")
    camera, times = stored[walk["home"]]
    assert times == {"en": ["23:00", "03:00"], "sv": ["23:15", "03:15"]}[language], times

    # Reconfigure: the first home's camera refused naming it; another camera accepted.
    refused("reconfigure_in_use", "reconfigure", "stream_url", "camera_in_use", home=demo.HOME_NAME)
    moved = shown("reconfigure")
    assert (moved["type"], moved["reason"]) == ("abort", "reconfigure_successful"), moved
    assert strings["config"]["abort"]["reconfigure_successful"] in moved["text"], moved
    assert camera == walk["movedCamera"], camera

    # The sidebar is the server's (English); the header follows the user when they differ.
    assert shown("sidebar")["title"] == "Supervision"
    assert shown("panel")["header"] == {"en": "Supervision", "sv": "Tillsyn"}[language]
